"""A canary step judged against the stable version at the same time (`canary.baseline: stable`).

Before/after comparisons blame the release for the world: time-of-day traffic, a downstream
outage or a cache warming change both versions, not only the new one. With a selector for each
version, every poll of a canary step reads both over the same interval (a `PairedPoll`) and this
module judges it in three comparisons, each by `core.judge.judge` itself (one rule at a time, so
the judge's rules are used, never re-implemented):

* canary vs stable: the canary's value against the stable version's value of the same poll, as
  the baseline (with the rule's floor, factors and min_requests). A breach decides as a breach
  does against the pre-release baseline: hard rolls back from the step, soft escalates.
* canary vs pre-release and stable vs pre-release: the recorded baseline. When the canary is no
  worse than the stable version but breaches the pre-release baseline, the world moved: with the
  stable version breaching it too, "not the release: both versions degraded", a soft finding
  (escalated, never a rollback blamed on the release, never a silent pass); with the stable
  version within it, a soft finding as well (the canary is worse than before: not a pass).
* The stable version has no usable data (no traffic on it, too few requests, the backend did not
  answer) while the canary has: the canary is judged against the pre-release baseline as today
  (a hard breach there still rolls back) and the poll carries a soft finding, "no pass": a step
  never passes on a comparison it could not make.

Only metrics computed from the requests themselves (`needs_traffic`: error rate, p99 latency)
compare across versions; a request rate is a share of the traffic and a saturation is a process
metric, so those rules (when a step judges them) stay against the pre-release baseline. A poll
where the canary has no data is judged against the pre-release baseline too: the judge's no-data
rules (since when, how long, too little traffic) are about the canary's own data. Health (the
health-check script, a health query) is judged once per poll, as the watch window does.

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from pytest_release.core.judge import (
    Classification,
    MetricReading,
    MetricRule,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    format_elapsed,
    has_data,
    judge,
    ratio_words,
)
from pytest_release.core.timeline import Step, asking, judge_end
from pytest_release.core.words import _fmt_num

__all__ = [
    "BOTH_DEGRADED",
    "CanaryVsStable",
    "PairedDecision",
    "PairedPoll",
    "SideBySide",
    "compare",
]

#: The words of the escalation when both versions breach the pre-release baseline alike.
BOTH_DEGRADED = "not the release: both versions degraded"

VS_STABLE = "canary vs stable"
VS_PRE_RELEASE = "canary vs pre-release baseline"


@dataclass(frozen=True)
class PairedPoll(Poll):
    """A canary poll (the inherited fields) with the stable version's poll over the same
    interval; `stable` None: the stable version's metrics were not read."""

    stable: Poll | None = None


@dataclass(frozen=True)
class SideBySide:
    """One metric in one poll, both series and the baseline side by side, and what decided."""

    metric: str
    canary: float | None
    stable: float | None
    pre_release: float | None
    vs_stable: float | None  # times worse than the stable version (None: not compared)
    canary_vs_pre: float | None  # times worse than the pre-release baseline
    stable_vs_pre: float | None
    comparison: str  # VS_STABLE or VS_PRE_RELEASE: the one that decided
    outcome: str  # ok, soft, hard, no-data, or BOTH_DEGRADED
    words: str  # why, in a few words


@dataclass(frozen=True)
class PairedDecision(WatchDecision):
    """A WatchDecision (what the window acts on) with both series, per metric."""

    side_by_side: tuple[SideBySide, ...] = ()
    stable_requests: float | None = None
    stable_error: str | None = None


@dataclass(frozen=True)
class _Part:
    """One rule's (or health's) share of the decision."""

    reading: MetricReading | None
    status: Status
    reasons: tuple[str, ...]
    trigger: str | None
    trigger_metric: str | None
    soft_keys: tuple[str, ...]
    row: SideBySide | None = None
    health_failures: int = 0


def _plain(poll: Poll, *, health: bool) -> Poll:
    return Poll(
        elapsed=poll.elapsed, values=dict(poll.values or {}), requests=poll.requests,
        health_ok=poll.health_ok if health else None, error=poll.error, missing=poll.missing, coverage=poll.coverage,
        alerts=poll.alerts if health else None,  # alerts, like health, are judged once per poll
    )


def _stable_of(poll: Poll) -> Poll:
    stable = getattr(poll, "stable", None)
    if stable is None:
        return Poll(elapsed=poll.elapsed, values={}, error="the stable version's metrics were not read")
    return Poll(
        elapsed=poll.elapsed, values=dict(stable.values or {}), requests=stable.requests, error=stable.error,
        missing=stable.missing, coverage=stable.coverage,
    )


def _value(poll: Poll, metric: str) -> float | None:
    raw = (poll.values or {}).get(metric)
    return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def _breached(reading: MetricReading) -> bool:
    return reading.classification in (Classification.SOFT, Classification.HARD)


def _part(decision: WatchDecision, row: SideBySide | None, prefix: str = "") -> _Part:
    """A single-rule decision as it stands, its soft keys namespaced by `prefix`."""
    return _Part(
        decision.readings[0] if decision.readings else None, decision.status, decision.reasons, decision.trigger,
        decision.trigger_metric, tuple(prefix + key for key in decision.soft_keys), row, decision.health_failures,
    )


def _ratio(reading: MetricReading) -> float | None:
    return reading.ratio if reading.classification is not Classification.NO_DATA else None


def _judge_rule(
    policy: WatchPolicy, rule: MetricRule, baseline: Mapping[str, float | None], polls: Sequence[Poll],
    canary_series: str, stable_series: str,
) -> _Part:
    one = dataclasses.replace(policy, rules=(rule,), health_metric=None, health_query="", alerts=None)
    name = rule.name
    canary_hist = [_plain(p, health=False) for p in polls]
    stable_hist = [_stable_of(p) for p in polls]
    last, stable = canary_hist[-1], stable_hist[-1]
    at = format_elapsed(last.elapsed)
    vs_pre = judge(one, baseline, canary_hist)
    stable_pre = judge(one, baseline, stable_hist)
    cp, sp = vs_pre.readings[0], stable_pre.readings[0]
    pre = cp.baseline

    def row(vs_stable: float | None, comparison: str, outcome: str, words: str) -> SideBySide:
        return SideBySide(
            name, _value(last, name), _value(stable, name), pre, vs_stable, _ratio(cp), _ratio(sp), comparison, outcome, words,
        )

    if not rule.needs_traffic or not has_data(one, rule, last):
        # Not comparable across versions, or the canary has no data: the pre-release judge as today.
        why = "not comparable across versions" if not rule.needs_traffic else "the canary has no data"
        return _part(vs_pre, row(None, VS_PRE_RELEASE, cp.classification.value, why))
    if not has_data(one, rule, stable):
        # Fail closed: judged against the pre-release baseline, and never a pass.
        why = sp.detail or "no usable sample"
        if stable.error:
            why = stable.error
        words = (
            f"no pass for {name}: {stable_series} has no data to compare {canary_series} with ({why});"
            f" the canary was judged against the pre-release baseline instead"
        )
        status = Status.worst((vs_pre.status, Status.SOFT))
        reading = dataclasses.replace(cp, explanation=f"{cp.explanation} ({words})")
        return _Part(
            reading, status, vs_pre.reasons + (f"soft breach at {at}: {words}",), vs_pre.trigger, vs_pre.trigger_metric,
            vs_pre.soft_keys + (f"stable-no-data:{name}",), row(None, VS_PRE_RELEASE, "no stable data", words),
        )
    # Both have data: the stable version's value of this very poll is the baseline.
    stable_value = _value(stable, name)
    vs_stable = judge(one, {name: stable_value}, [last])
    cs = vs_stable.readings[0]
    series = f"against {stable_series}, same interval"
    if _breached(cs):
        explanation = f"{series}: {cs.explanation}"
        reading = dataclasses.replace(cs, explanation=explanation)
        reasons = (f"{vs_stable.status.value} breach at {at}: {VS_STABLE}, {explanation}",)
        trigger = None
        if vs_stable.status is Status.HARD:
            trigger = (
                f"{VS_STABLE}: {name} breached {ratio_words(cs)} the stable version at {at}"
                f" ({canary_series} {_fmt_num(cs.value)}, {stable_series} {_fmt_num(stable_value)})"
            )
        words = f"{ratio_words(cs)} the stable version: {cs.classification.value}"
        return _Part(
            reading, vs_stable.status, reasons, trigger, name if trigger else None,
            tuple(f"vs-stable:{k}" for k in vs_stable.soft_keys),
            row(cs.ratio, VS_STABLE, cs.classification.value, words),
        )
    if cs.classification is Classification.INCONCLUSIVE:
        # Worse than the stable version by this poll's ratio, not yet by its counts: no finding and
        # no pass (core.evidence). A canary shown hard against the pre-release baseline while the
        # stable version is not degraded still rolls back: that evidence is the canary's alone.
        if vs_pre.status is Status.HARD and not _breached(sp):
            return _part(vs_pre, row(cs.ratio, VS_PRE_RELEASE, "hard", f"{ratio_words(cp)} the pre-release baseline, shown; the stable version is not degraded"))
        reading = dataclasses.replace(cs, explanation=f"{series}: {cs.explanation}")
        words = f"{ratio_words(cs)} the stable version by this poll's ratio: inconclusive"
        return _Part(reading, Status.OK, (), None, None, (), row(cs.ratio, VS_STABLE, "inconclusive", words))
    if not _breached(cp):
        words = f"{ratio_words(cs)} the stable version, {ratio_words(cp)} the pre-release baseline: ok"
        reading = dataclasses.replace(cs, explanation=f"{series}: {cs.explanation}")
        return _Part(reading, Status.OK, (), None, None, (), row(cs.ratio, VS_STABLE, "ok", words))
    numbers = (
        f"{name} {canary_series} {_fmt_num(cs.value)} ({ratio_words(cp)} the pre-release baseline),"
        f" {stable_series} {_fmt_num(stable_value)} ({ratio_words(sp)} the pre-release baseline {_fmt_num(pre)});"
        f" canary vs stable {ratio_words(cs)}, within the rule"
    )
    if _breached(sp):
        words, outcome, key = f"{BOTH_DEGRADED}: {numbers}", BOTH_DEGRADED, f"both-degraded:{name}"
    else:
        words = (
            f"{name} of the canary breaches the pre-release baseline while the stable version does not, but the"
            f" canary is within the rule of the stable version: {numbers}; not a pass"
        )
        outcome, key = "soft", f"pre-release:{name}"
    reading = dataclasses.replace(cp, classification=Classification.SOFT, explanation=words)
    return _Part(reading, Status.SOFT, (f"soft breach at {at}: {words}",), None, None, (key,), row(cs.ratio, VS_STABLE, outcome, words))


def compare(
    policy: WatchPolicy,
    baseline: Mapping[str, float | None],
    polls: Sequence[Poll],
    *,
    canary_series: str = "the canary",
    stable_series: str = "the stable version",
) -> PairedDecision:
    """Judge the LAST poll of a canary step (its `stable` the stable version's poll over the
    same interval) as the module docstring says; earlier polls only for the judge's history
    rules (no data since when, health failures in a row)."""
    if not polls:
        return PairedDecision(status=Status.OK, readings=(), reasons=(), trigger=None)
    parts = [_judge_rule(policy, rule, baseline, polls, canary_series, stable_series) for rule in policy.rules]
    health = judge(dataclasses.replace(policy, rules=()), {}, [_plain(p, health=True) for p in polls])
    parts.append(_part(health, None))
    status = Status.worst(p.status for p in parts)
    hard = next((p for p in parts if p.trigger is not None), None)
    last_stable = _stable_of(polls[-1])
    return PairedDecision(
        status=status,
        readings=tuple(p.reading for p in parts if p.reading is not None),
        reasons=tuple(reason for p in parts for reason in p.reasons),
        trigger=hard.trigger if hard else None,
        elapsed=polls[-1].elapsed,
        health_failures=health.health_failures,
        trigger_metric=hard.trigger_metric if hard else None,
        soft_keys=tuple(key for p in parts for key in p.soft_keys),
        side_by_side=tuple(p.row for p in parts if p.row is not None),
        stable_requests=last_stable.requests,
        stable_error=last_stable.error,
    )


@dataclass
class CanaryVsStable:
    """The judge of one canary step against the stable version, fed one poll at a time: what
    `core.timeline.WindowJudge` is for the pre-release baseline (the end-of-window rule, asking
    about each finding once), so the watch window's loop drives either."""

    policy: WatchPolicy
    baseline: Mapping[str, float | None]
    canary_series: str = "the canary"
    stable_series: str = "the stable version"
    history: list[Poll] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)

    def step(self, poll: Poll, *, final: bool) -> Step:
        self.history.append(poll)
        decision: WatchDecision = compare(
            self.policy, self.baseline, self.history, canary_series=self.canary_series, stable_series=self.stable_series,
        )
        if final:
            decision = judge_end(decision)
        return asking(poll, decision, final, self.accepted)

    def accept(self, keys: Iterable[str]) -> None:
        """A person answered "continue" or "extend": these findings are not asked about again."""
        self.accepted.update(keys)
