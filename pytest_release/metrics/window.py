"""The watch window's loop: poll, judge, record, and stop at the first hard breach.

The decisions are `core.timeline.WindowJudge`'s, the same the backtest drives (one judge, two
drivers): the end-of-window rule, when a person is asked, asking about each finding once. This
module only gathers what the judge needs (metrics, the health script's answer) at the pace of
the release's clock, hands each poll to whoever records it, and carries out the answers.
Polls land on a fixed grid (start + k * interval), so slow queries or a slow health check do not
make the window drift on the real clock."""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import subprocess
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, Union

from pytest_release.adapters.alerts import alert_policy
from pytest_release.adapters.traffic import TrafficGenerator
from pytest_release.clock import Clock
from pytest_release.core.judge import (
    HEALTH_METRIC,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    evidence,
    format_elapsed,
)
from pytest_release.core.alerts import Alert, AlertsSeen
from pytest_release.core.timeline import Step, WindowJudge
from pytest_release.metrics import MetricsProvider, MetricsUnavailable, judged_reasons

if TYPE_CHECKING:
    from pytest_release.config import WatchSettings

_EPSILON = 1e-9


@dataclass(frozen=True)
class SoftAnswer:
    """What to do about a soft breach, and who or what said so (for the report)."""

    action: str  # "continue" | "rollback" | "extend"
    seconds: float = 0.0  # how much longer, for "extend"
    by: str = ""


SoftHandler = Callable[[WatchDecision], Union[SoftAnswer, "tuple[str, float]"]]


@dataclass
class WatchOutcome:
    status: str  # "passed" | "skipped" | "hard-breach" | "rollback-chosen"
    trigger: str | None
    polls: list[Poll] = field(default_factory=list)
    decisions: list[WatchDecision] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)  # the decision timeline, as the backtest has it
    notes: list[str] = field(default_factory=list)
    evidence: str = ""  # the numbers behind the trigger: value, baseline, threshold, samples
    extended_by: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "skipped")

    @property
    def message(self) -> str:
        """The failure message: the trigger in the runbook's words, then the evidence."""
        if self.trigger is None:
            return "watch window failed"
        if self.evidence and self.evidence not in self.trigger:
            return f"{self.trigger}: {self.evidence}"
        return self.trigger


class HealthCheck:
    """Runs the project's health-check script; exit 0 within the timeout means healthy."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> None:
        self.argv, self.cwd, self.env, self.timeout = list(argv), cwd, dict(env), timeout

    def __call__(self) -> bool:
        try:
            proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError:
            return False
        try:
            return proc.wait(timeout=self.timeout) == 0
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            return False


def watch_policy(settings: "WatchSettings", alerts_before: Sequence[Alert] = ()) -> WatchPolicy:
    """The judge's policy from an environment's `watch:` settings: each rule is the judge's
    default for its metric with release.yaml's overrides on top; with `watch.alerts`, the alert
    policy and the alerts that were firing before the change (`alerts_before`)."""
    rules = tuple(r.rule for r in settings.rules)
    return WatchPolicy(
        rules=rules, no_data_after=settings.no_data_after, min_requests=settings.min_requests,
        health_failures_hard=settings.health_failures_hard, interval=settings.interval,
        health_metric=HEALTH_METRIC if settings.health_query else None, health_query=settings.health_query,
        alerts=alert_policy(settings.alerts, tuple(alerts_before)) if settings.alerts is not None else None,
        confidence=settings.confidence,
    )


def measure_baseline(
    provider: MetricsProvider, clock: Clock, seconds: float, *, historical: bool, traffic: TrafficGenerator | None
) -> dict[str, float | None]:
    """The metrics of the version being replaced, over `seconds` ending now.

    A historical backend (Prometheus) answers about the past at once, unless a built-in load is
    configured (a quiet environment has no past traffic to read): then, as with a live scrape,
    the load runs for the baseline window first. A backend that cannot answer raises
    MetricsUnavailable: a release must not start blind."""
    if historical and traffic is None:
        return _checked(provider, provider.sample(clock.now(), seconds))
    if not historical:
        _checked(provider, provider.sample(clock.now(), seconds))  # primes the counters
    _wait(clock, seconds, traffic)
    return _checked(provider, provider.sample(clock.now(), seconds))


def _checked(provider: MetricsProvider, values: Mapping[str, float | None]) -> dict[str, float | None]:
    error = getattr(provider, "last_error", None)
    if error:
        raise MetricsUnavailable(error)
    return dict(values)


def _wait(clock: Clock, seconds: float, traffic: TrafficGenerator | None) -> None:
    if seconds <= 0:
        return
    if traffic is not None:
        traffic.run(seconds)
    else:
        clock.sleep(seconds)


def _as_answer(raw: SoftAnswer | tuple[str, float]) -> SoftAnswer:
    if isinstance(raw, SoftAnswer):
        return raw
    action, seconds = raw
    return SoftAnswer(action, seconds)


class WatchWindow:
    def __init__(
        self,
        *,
        provider: MetricsProvider,
        policy: WatchPolicy,
        baseline: Mapping[str, float | None],
        clock: Clock,
        duration: float,
        interval: float,
        historical: bool,
        traffic: TrafficGenerator | None = None,
        health: Callable[[], bool] | None = None,
        on_poll: Callable[[Poll, WatchDecision, float], None] = lambda poll, decision, remaining: None,
        on_soft: SoftHandler = lambda decision: SoftAnswer("rollback", 0.0, "no handler"),
        not_before: dt.datetime | None = None,
        window_judge: Callable[[WatchPolicy, Mapping[str, float | None]], WindowJudge] = WindowJudge,
        alerts: Callable[[], AlertsSeen] | None = None,
    ) -> None:
        self.provider, self.policy, self.baseline, self.clock = provider, policy, dict(baseline), clock
        # The end of the change being judged (deploy, traffic step, rollback): no sample older
        # judges it. Default: when the window starts, which is after the change.
        self.not_before = not_before
        self.duration, self.interval, self.historical = duration, interval, historical
        self.traffic, self.health, self.on_poll, self.on_soft = traffic, health, on_poll, on_soft
        self.alerts = alerts  # watch.alerts: read every poll (AlertSource.read); None: not read
        self.total = duration  # grows when a soft breach is answered with "extend"
        self._not_before: dt.datetime | None = None  # set as the window starts
        # Who judges the polls: WindowJudge (against `baseline`), or a canary step's judge
        # against the stable version (core.canary_compare.CanaryVsStable), same interface.
        self.window_judge = window_judge

    def run(self) -> WatchOutcome:
        outcome = WatchOutcome("passed", None)
        self._not_before = self.not_before or self.clock.now()
        if not self.historical:
            self.provider.sample(self.clock.now(), self.interval)  # prime on the new version
        start = self.clock.monotonic()
        end = start + self.duration
        window = self.window_judge(dataclasses.replace(self.policy, interval=self.interval), self.baseline)
        k = 0
        while self.clock.monotonic() < end - _EPSILON:
            now = self.clock.monotonic()
            k = max(k + 1, math.floor((now - start) / self.interval + _EPSILON) + 1)
            due = min(start + k * self.interval, end)
            _wait(self.clock, due - now, self.traffic)
            elapsed = self.clock.monotonic() - start
            poll = self._poll(elapsed)
            outcome.polls.append(poll)
            remaining = max(0.0, end - self.clock.monotonic())
            step = window.step(poll, final=remaining <= _EPSILON)
            decision = step.decision
            outcome.decisions.append(decision)
            outcome.steps.append(step)
            self.on_poll(poll, decision, remaining)
            if decision.status is Status.HARD:
                outcome.status, outcome.trigger = "hard-breach", decision.trigger
                outcome.evidence = evidence(decision, outcome.polls)
                return outcome
            if not step.ask:
                continue  # OK, or soft findings a person has already answered
            answer = _as_answer(self.on_soft(decision))
            at = format_elapsed(elapsed)
            by = f" ({answer.by})" if answer.by else ""
            if answer.action == "rollback":
                outcome.status = "rollback-chosen"
                outcome.evidence = evidence(decision, outcome.polls) or "; ".join(decision.reasons)
                outcome.trigger = f"soft breach at {at} treated as hard{by}"
                return outcome
            window.accept(step.asked_about)
            if answer.action == "extend":
                end += answer.seconds
                self.total += answer.seconds
                outcome.extended_by += answer.seconds
                outcome.notes.append(f"window extended by {_duration(answer.seconds)} at {at}{by}: " + "; ".join(decision.reasons))
            else:
                outcome.notes.append(f"drift accepted at {at}{by}: " + "; ".join(decision.reasons))
        return outcome

    def _poll(self, elapsed: float) -> Poll:
        """One poll: the metrics at this instant (with the reason the whole poll has no values,
        when the provider gives one: `judged_reasons`, as the backtest's polls have them; and the
        data range each value rests on, for the report) and the health script's answer."""
        sampled = self.provider.sample(self.clock.now(), self.interval, self._not_before)  # a Samples: reasons and coverage
        missing = judged_reasons(sampled) or {}
        coverage = dict(getattr(sampled, "coverage", None) or {})
        values = dict(sampled)
        error = getattr(self.provider, "last_error", None)
        healthy = self.health() if self.health else None
        return Poll(
            elapsed=elapsed, values=values, requests=values.get("requests"), health_ok=healthy, error=error,
            missing=missing or None, coverage=coverage or None, alerts=self.alerts() if self.alerts else None,
        )


def _duration(seconds: float) -> str:
    return format_elapsed(seconds)[2:]
