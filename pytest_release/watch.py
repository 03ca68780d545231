"""The watch window's loop: poll, judge, record, and stop at the first hard breach.

The decisions are `analysis.judge`'s; this module only gathers what it needs (metrics, the health
script's answer) at the pace of the release's clock, and hands each poll to whoever records it."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .analysis import Poll, Status, WatchDecision, WatchPolicy, judge
from .clock import Clock
from .metrics import MetricsProvider
from .traffic import TrafficGenerator

SoftAnswer = tuple[str, float]  # ("continue" | "rollback" | "extend", seconds to extend by)


@dataclass
class WatchOutcome:
    status: str  # "passed" | "hard-breach" | "rollback-chosen"
    trigger: str | None
    polls: list[Poll] = field(default_factory=list)
    decisions: list[WatchDecision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


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


def measure_baseline(
    provider: MetricsProvider, clock: Clock, seconds: float, *, historical: bool, traffic: TrafficGenerator | None
) -> dict[str, float | None]:
    """The metrics of the version being replaced, over `seconds` ending now.

    A historical backend (Prometheus) answers about the past at once; a live scrape has to watch
    for the whole baseline window."""
    if historical:
        return dict(provider.sample(clock.now(), seconds))
    provider.sample(clock.now(), seconds)  # primes the counters
    _wait(clock, seconds, traffic)
    return dict(provider.sample(clock.now(), seconds))


def _wait(clock: Clock, seconds: float, traffic: TrafficGenerator | None) -> None:
    if traffic is not None:
        traffic.run(seconds)
    else:
        clock.sleep(seconds)


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
        on_soft: Callable[[WatchDecision], SoftAnswer] = lambda decision: ("rollback", 0.0),
    ) -> None:
        self.provider, self.policy, self.baseline, self.clock = provider, policy, dict(baseline), clock
        self.duration, self.interval, self.historical = duration, interval, historical
        self.traffic, self.health, self.on_poll, self.on_soft = traffic, health, on_poll, on_soft

    def run(self) -> WatchOutcome:
        outcome = WatchOutcome("passed", None)
        if not self.historical:
            self.provider.sample(self.clock.now(), self.interval)  # prime on the new version
        start = self.clock.monotonic()
        end = start + self.duration
        accepted: set[str] = set()
        while self.clock.monotonic() < end - 1e-9:
            step = min(self.interval, end - self.clock.monotonic())
            _wait(self.clock, step, self.traffic)
            elapsed = self.clock.monotonic() - start
            values = dict(self.provider.sample(self.clock.now(), max(step, self.interval)))
            healthy = self.health() if self.health else None
            poll = Poll(elapsed=elapsed, values=values, requests=values.get("requests"), health_ok=healthy)
            outcome.polls.append(poll)
            decision = judge(self.policy, self.baseline, outcome.polls)
            outcome.decisions.append(decision)
            self.on_poll(poll, decision, max(0.0, end - self.clock.monotonic()))
            if decision.status is Status.HARD:
                outcome.status, outcome.trigger = "hard-breach", decision.trigger
                return outcome
            if decision.status is Status.SOFT:
                findings = frozenset(decision.reasons)
                soft_metrics = {r.metric for r in decision.readings if r.classification.value == "soft"}
                if not soft_metrics or not soft_metrics <= accepted or healthy is False:
                    action, extra = self.on_soft(decision)
                    if action == "rollback":
                        outcome.status = "rollback-chosen"
                        outcome.trigger = "soft breach treated as hard: " + "; ".join(findings)
                        return outcome
                    if action == "extend":
                        end += extra
                        outcome.notes.append(f"window extended by {extra:g}s at T+{elapsed:.0f}s")
                    else:
                        outcome.notes.append(f"drift accepted at T+{elapsed:.0f}s: " + "; ".join(decision.reasons))
                    accepted |= soft_metrics
        return outcome
