"""Absolute limits beside the relative rules: an SLO such as "p99 under 300 ms" or "at least
5 requests/s", stated in release.yaml as `watch.rules.<metric>.max` / `.min`.

A relative rule asks "how much worse than before the release?"; a limit asks "is it acceptable
at all?". Both judge every poll and the worse classification wins, so a team's SLO holds even
when the baseline was already bad (a ratio of 1.0x against a slow baseline is no excuse) or
missing. Being *at* the limit is within it: "p99 under 300 ms" read as "at most 300 ms".

A rule with `evidence` (error_rate: a share of the requests) is held to its limit only where the
poll's own counts show it: the one-sided exact binomial test of "rate <= limit" at the policy's
confidence, so one error in twenty requests is not "over 1%". The limit is a statement about now,
so the test rests on this poll alone (the ratio's evidence accumulates; core.evidence).

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pytest_release.core.evidence import above_limit_p, counts
from pytest_release.core.readings import _Finding
from pytest_release.core.watch_model import Classification, MetricReading, MetricRule, Poll, Status, WatchPolicy
from pytest_release.core.words import _fmt_num

_RANK = {Classification.OK: 0, Classification.INCONCLUSIVE: 0, Classification.NO_DATA: 0, Classification.SOFT: 1, Classification.HARD: 2}


@dataclass(frozen=True)
class LimitBreach:
    """A value beyond one of its rule's absolute limits."""

    classification: Classification  # HARD or SOFT: the rule's `limit` setting
    limit: float
    words: str  # "above its limit 0.3 (hard)"


def breached_limit(rule: MetricRule, value: float) -> LimitBreach | None:
    """The absolute limit `value` is beyond, if any; None when within every limit."""
    severity = Classification.HARD if rule.limit == "hard" else Classification.SOFT
    if rule.max is not None and value > rule.max:
        return LimitBreach(severity, rule.max, f"above its limit {_fmt_num(rule.max)} ({rule.limit})")
    if rule.min is not None and value < rule.min:
        return LimitBreach(severity, rule.min, f"below its limit {_fmt_num(rule.min)} ({rule.limit})")
    return None


def limit_words(rule: MetricRule) -> str:
    """The limits a rule has, for a reading within them: "within its limit 0.3"; "" without."""
    parts = [f"max {_fmt_num(rule.max)}" if rule.max is not None else "", f"min {_fmt_num(rule.min)}" if rule.min is not None else ""]
    shown = ", ".join(p for p in parts if p)
    return f"within its limit ({shown}, {rule.limit})" if shown else ""


def apply_limit(
    policy: WatchPolicy, rule: MetricRule, poll: Poll, value: float,
    reading: MetricReading, finding: _Finding | None, at: str,
) -> tuple[MetricReading, _Finding | None]:
    """The ratio's reading of `value` (after its evidence test), with the rule's absolute limit
    beside it: the worse of the two stands, and the reading's words name the limit either way."""
    beyond = breached_limit(rule, value)
    if beyond is None:
        within = limit_words(rule)
        return (replace(reading, explanation=f"{reading.explanation}; {within}") if within else reading), finding
    said = f"{rule.name} {_fmt_num(value)} is {beyond.words}"
    test = _limit_test(policy, rule, poll, beyond.limit)
    if test is not None and not test[0]:
        note = f"; {said} by this poll's value, but {test[1]}"
        return replace(reading, explanation=reading.explanation + note), (
            replace(finding, reason=finding.reason + note) if finding is not None else None
        )
    note = f"; {said}" + (f" ({test[1]})" if test is not None else "")
    explanation = reading.explanation + note
    if _RANK[beyond.classification] <= _RANK[reading.classification]:
        return replace(reading, explanation=explanation), (replace(finding, reason=finding.reason + note) if finding is not None else None)
    status = Status(beyond.classification.value)
    reading = replace(reading, classification=beyond.classification, threshold=beyond.limit, explanation=explanation)
    trigger = f"{rule.name} {_fmt_num(value)} {beyond.words} at {at}"
    return reading, _Finding(status, f"{status.value} breach at {at}: {explanation}", trigger, rule.name, key=f"limit:{rule.name}")


def _limit_test(policy: WatchPolicy, rule: MetricRule, poll: Poll, limit: float) -> tuple[bool, str] | None:
    """(shown, words) of the exact test of this poll's counts against `limit`; None where no test
    applies (not a share of the requests, or no request count: the value decides)."""
    if not rule.evidence:
        return None
    seen = counts(rule, poll)
    if seen is None:
        return None
    errors, requests = seen
    p = above_limit_p(errors, requests, limit)
    shown = p <= 1.0 - policy.confidence
    confidence = f"{_fmt_num(round(policy.confidence * 100, 4))}%"
    verb = "show" if shown else "do not show"
    noun = "error" if errors == 1 else "errors"
    return shown, (
        f"{errors} {noun} in {requests} requests this poll {verb} a rate above {_fmt_num(limit)} at {confidence}"
        f" confidence (one-sided exact binomial test, p = {p:.2g})"
    )
