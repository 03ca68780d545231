"""The watch-window judge (runbook Phase 5): one poll's metric samples against the pre-release
baseline and the policy's thresholds -> ok, soft breach or hard breach, with the reasons in words.

Pure on purpose: no I/O, no clock, no pytest. The watch phase owns the polling loop and the
clock; this module owns the decision, so every rule is testable with plain numbers and a
backtest can replay a recorded window through exactly the code that decides a live one.

Conventions the rest of the plugin relies on:

* A *ratio* always means "how many times worse than the baseline": value / baseline for a
  higher-is-worse metric ("up"), baseline / value for a lower-is-worse one ("down", e.g. request
  rate dropping). So 2.0 is twice as bad whichever way the metric points.
* A ratio within a relative 1e-9 of a threshold counts as reaching it, so 0.3 against a
  baseline of 0.2 is a 1.5x soft breach even though the float quotient 0.3 / 0.2 is
  1.4999999999999998.
* Only the last poll is judged; earlier polls matter only for the rules that need history (how
  long a metric has had no data, how many health checks failed in a row).
* The judge never raises on numbers: NaN, -inf and negative values (counter resets) are "no
  data"; +inf is the worst possible reading of a higher-is-worse metric (for a lower-is-worse
  metric it is merely very high, ratio 0); a missing, negative or non-finite baseline is
  "no baseline".
* Floor: the effective baseline is max(baseline, floor), so a zero or tiny baseline cannot turn
  one error into a breach. For a lower-is-worse metric the value is also raised to the floor
  (ratio = max(baseline, floor) / max(value, floor)): movements under the floor are noise either
  way. With floor 0, a lower-is-worse value of 0 against a positive baseline is infinitely worse.
* No baseline: if the effective baseline (max(baseline, floor)) is 0 or unknown, a value of 0
  is 1.0x (unchanged) and any other finite value cannot be compared and is classified OK with
  the explanation "no baseline". Give a metric a `floor` if a rise from nothing must count.
* No data before a metric's first data in the window is not a finding until it has lasted
  `no_data_after` (data can take a minute to flow); once data has flowed, a poll without it is
  a soft finding. Either, lasting `no_data_after`, is hard. The reason says what happened: too
  little traffic, the backend not answering, or the metric absent; "observability is itself
  broken" only for the last two.
* Traffic: a metric computed from requests (`needs_traffic`: error rate, p99 latency) is no data
  in a poll with no requests, or fewer than `min_requests` (default 10 per poll): too little
  traffic to judge is never a pass. A lower-is-worse metric with `lost` (request_rate: 0.1)
  under that fraction of a baseline that had traffic is a hard breach of its own, "traffic lost".
* Health: from the health-check script (Poll.health_ok) and, with `health_metric`, a PromQL
  query's value in the poll (> 0 healthy; 0 or no series failed; not checked when the backend
  did not answer). A poll without any check neither passes nor fails; the streak counts
  failures among the checks that ran, newest first.
* Equal times: consecutive polls with the same `elapsed` are one observation (a backend that
  answers twice for one instant, duplicated scrapes). They are merged worst-first: the worst
  usable value per metric, the most requests, a failed health check if any failed. So the order
  in which equal samples arrive never changes a decision.
* Evidence: a rule with `evidence` (error_rate) is a share of the poll's requests; after the
  ratio classifies the poll, a soft or hard reading stands only when the counts since the change
  show it at the policy's `confidence` (core.evidence, `_gate`); otherwise it is INCONCLUSIVE:
  no finding, not a pass, data for the no-data clock.
* A window that ends while a metric has no data has not shown the release to be healthy:
  `core.timeline.judge_end` turns that into a soft breach (escalate: extend, accept or roll back).
* Numbers are never printed as `inf`: an unbounded ratio is said in words ("none at all").
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from pytest_release.core import evidence as _evidence
from pytest_release.core.explain import evidence, no_data_words, ratio_words, summarize
from pytest_release.core.limits import apply_limit
from pytest_release.core.health import _health_ok, _health_streak, _judge_health, health_reading
from pytest_release.core.readings import (
    _clean_baseline,
    _effective_baseline,
    _elapsed,
    _Finding,
    _has_data,
    _lookup,
    _low_traffic,
    _requests,
    _same_time,
    _sample,
    has_data,
    traffic_words,
)
from pytest_release.core.watch_model import (
    _REL_TOL,
    DEFAULT_HEALTH_FAILURES_HARD,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_NO_DATA_AFTER,
    DEFAULT_RULES,
    HEALTH_METRIC,
    Classification,
    MetricReading,
    MetricRule,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    default_rule,
)
from pytest_release.core.alerts import alert_findings, merge_seen
from pytest_release.core.words import _fmt_duration, _fmt_factor, _fmt_num, _fmt_percent, _fmt_ratio, format_elapsed

__all__ = [
    "Classification",
    "MetricReading",
    "MetricRule",
    "Poll",
    "Status",
    "WatchDecision",
    "WatchPolicy",
    "evidence",
    "format_elapsed",
    "has_data",
    "health_reading",
    "judge",
    "no_data_words",
    "ratio_words",
    "summarize",
    "traffic_words",
    "DEFAULT_HEALTH_FAILURES_HARD",
    "DEFAULT_MIN_REQUESTS",
    "DEFAULT_NO_DATA_AFTER",
    "DEFAULT_RULES",
    "HEALTH_METRIC",
    "default_rule",
]


def _ratio(rule: MetricRule, value: float, eb: float | None) -> float | None:
    """How many times worse than the baseline; None when there is nothing to compare with."""
    if rule.direction == "up":
        if math.isinf(value):
            return math.inf
        if not eb:
            return 1.0 if value == 0 else None
        return value / eb
    if eb is None:
        return None
    # The floor is a noise level for both sides: a lower-is-worse value under it counts as the
    # floor, or a floor would *create* breaches (baseline 0.5/s, floor 1/s, value 0.5/s -> 2x).
    value = max(value, rule.floor)
    if value == 0:
        return 1.0 if eb == 0 else math.inf
    return eb / value


def _reaches(ratio: float, factor: float | None) -> bool:
    return factor is not None and ratio >= factor * (1 - _REL_TOL)


def _classify(rule: MetricRule, ratio: float | None) -> tuple[Classification, float | None]:
    nearest = rule.soft if rule.soft is not None else rule.hard
    if ratio is None or ratio <= 1.0:
        # No worse than the baseline never breaches, however close to 1 a factor is set (the
        # rounding tolerance below must not turn "unchanged" into a breach).
        return Classification.OK, nearest
    if _reaches(ratio, rule.hard):
        return Classification.HARD, rule.hard
    if _reaches(ratio, rule.soft):
        return Classification.SOFT, rule.soft
    return Classification.OK, nearest


def _baseline_words(rule: MetricRule, baseline: float | None, eb: float | None) -> str:
    if eb is None:
        return "no baseline"
    if baseline is None or baseline < rule.floor:
        return f"the floor {_fmt_num(rule.floor)} (baseline {_fmt_num(baseline)})"
    if rule.floor > 0:
        return f"the baseline {_fmt_num(baseline)} (floor {_fmt_num(rule.floor)})"
    return f"the baseline {_fmt_num(baseline)}"


def _verdict_words(rule: MetricRule, classification: Classification) -> str:
    if classification is Classification.HARD:
        return f"hard at {_fmt_factor(rule.hard)}"  # type: ignore[arg-type]
    if classification is Classification.SOFT:
        hard = f", hard at {_fmt_factor(rule.hard)}" if rule.hard is not None else ", never hard"
        return f"soft at {_fmt_factor(rule.soft)}{hard}"  # type: ignore[arg-type]
    if rule.soft is not None:
        return f"ok below soft {_fmt_factor(rule.soft)}"
    if rule.hard is not None:
        return f"ok below hard {_fmt_factor(rule.hard)}"
    return "ok (no thresholds: recorded only)"


def _unreached(rule: MetricRule, classification: Classification) -> float | None:
    if classification is Classification.SOFT:
        return rule.hard
    if classification is Classification.OK:
        return rule.soft if rule.soft is not None else rule.hard
    return None


def _lost(rule: MetricRule, value: float, baseline: float | None) -> bool:
    """Under `rule.lost` of a baseline that had traffic (the raw baseline: a floor is no traffic)."""
    return rule.lost is not None and baseline is not None and baseline > 0 and value < rule.lost * baseline


def _judge_lost(rule: MetricRule, value: float, baseline: float, eb: float | None, at: str) -> tuple[MetricReading, _Finding]:
    name = rule.name
    share = value / baseline
    explanation = (
        f"{name} {_fmt_num(value)} is {_fmt_percent(share)} of the baseline {_fmt_num(baseline)}: traffic lost"
        f" (hard under {_fmt_percent(rule.lost or 0)} of the baseline)"
    )
    reading = MetricReading(
        metric=name, value=value, baseline=baseline, effective_baseline=eb, ratio=_ratio(rule, value, eb),
        classification=Classification.HARD, threshold=rule.lost, explanation=explanation,
    )
    trigger = f"traffic lost at {at}: {name} {_fmt_num(value)}, {_fmt_percent(share)} of the baseline {_fmt_num(baseline)}"
    return reading, _Finding(Status.HARD, f"hard breach at {at}: {explanation}", trigger, name)


def _judge_value(
    rule: MetricRule, value: float, baseline: float | None, eb: float | None, at: str
) -> tuple[MetricReading, _Finding | None]:
    if _lost(rule, value, baseline):
        assert baseline is not None
        return _judge_lost(rule, value, baseline, eb, at)
    ratio = _ratio(rule, value, eb)
    classification, threshold = _classify(rule, ratio)
    name = rule.name
    if ratio is None:
        explanation = (
            f"{name} {_fmt_num(value)} has no baseline to compare with"
            f" (baseline {_fmt_num(baseline)}, no floor); not judged"
        )
    else:
        shown = _fmt_ratio(ratio, _unreached(rule, classification))
        where = _baseline_words(rule, baseline, eb)
        if eb is None:
            size = "unchanged (1.0x): 0 with no baseline"
        elif math.isinf(value):
            size = f"beyond any finite value, against {where}"
        elif math.isinf(ratio):
            size = f"none at all, against {where}"
        elif rule.direction == "up":
            size = f"{shown}x {where}"
        elif value < rule.floor:
            size = f"{shown}x below {where}, counting the value as the floor"
        else:
            size = f"{shown}x below {where}"
        explanation = f"{name} {_fmt_num(value)} is {size}; {_verdict_words(rule, classification)}"
    reading = MetricReading(
        metric=name,
        value=value,
        baseline=baseline,
        effective_baseline=eb,
        ratio=ratio,
        classification=classification,
        threshold=threshold,
        explanation=explanation,
    )
    if classification not in (Classification.SOFT, Classification.HARD):
        return reading, None
    status = Status(classification.value)
    assert ratio is not None
    if math.isinf(ratio):
        trigger = (
            f"{name} breached baseline without bound (value {_fmt_num(value)},"
            f" baseline {_fmt_num(eb)}) at {at}"
        )
    else:
        below = "" if rule.direction == "up" else " below"
        trigger = f"{name} breached {_fmt_ratio(ratio)}x{below} baseline at {at}"
    return reading, _Finding(status, f"{status.value} breach at {at}: {explanation}", trigger, name, key=name)


_TRAFFIC_REMEDY = (
    "an environment without users needs `traffic:` (the built-in load generator) to be judged"
)


def _judge_no_data(
    policy: WatchPolicy,
    rule: MetricRule,
    polls: Sequence[Poll],
    value: float | None,
    why: str,
    cause: str,
    baseline: float | None,
    eb: float | None,
) -> tuple[MetricReading, _Finding | None]:
    """No usable value now. Before the metric's first data in the window this is no finding until
    it has lasted `no_data_after` (data may take a while to flow); once data has flowed, any
    poll without it is a soft finding; lasting `no_data_after`, either is hard."""
    last = polls[-1]
    since, had_data = 0.0, False
    for poll in reversed(polls[:-1]):
        if _has_data(policy, rule, poll):
            since, had_data = _elapsed(poll), True
            break
    gap = _elapsed(last) - since
    breached = gap >= policy.no_data_after  # False for a NaN gap
    name = rule.name
    if math.isinf(policy.no_data_after):
        limit = "no-data breach disabled"
    else:
        limit = f"hard after {_fmt_duration(policy.no_data_after)} without data"
    at = format_elapsed(_elapsed(last))
    when = f"since {format_elapsed(since)}" if had_data else "since the window started"
    explanation = f"{name} has no data ({why}); none {when}, {_fmt_duration(gap)} so far, {limit}"
    reading = MetricReading(
        metric=name,
        value=value,
        baseline=baseline,
        effective_baseline=eb,
        ratio=None,
        classification=Classification.NO_DATA,
        threshold=None,
        explanation=explanation,
        no_data_since=since,
        had_data=had_data,
        cause=cause,
        detail=why,
    )
    if not breached and not had_data:
        return reading, None
    if cause == "traffic":
        what = f"too little traffic to judge {name} {when}"
        detail = f"{why}; {_TRAFFIC_REMEDY}"
    elif cause == "backend":
        what = f"no data for {name} {when}: the metrics backend did not answer"
        detail = why
    else:
        what = f"no data for {name} {when}"
        detail = why
    if not breached:
        reason = f"soft breach at {at}: {what} ({detail}; {_fmt_duration(gap)} so far, {limit})"
        return reading, _Finding(Status.SOFT, reason, what, name, key=f"no-data:{name}")
    broken = "" if cause == "traffic" else ": observability is itself broken"
    trigger = f"{what} ({_fmt_duration(gap)} without data; {detail}){broken}"
    return reading, _Finding(Status.HARD, f"hard breach at {at}: {trigger}", trigger, name)


def _judge_metric(
    policy: WatchPolicy, rule: MetricRule, raw_baseline: object, polls: Sequence[Poll]
) -> tuple[MetricReading, _Finding | None]:
    last = polls[-1]
    baseline = _clean_baseline(raw_baseline)
    eb = _effective_baseline(baseline, rule.floor)
    value, why = _sample(_lookup(last.values, rule.name))
    if value is None:
        error = last.error if isinstance(last.error, str) and last.error else None
        if error is not None and why == "no sample":
            return _judge_no_data(policy, rule, polls, None, error, "backend", baseline, eb)
        told = _lookup(last.missing, rule.name)
        if why == "no sample" and isinstance(told, str) and told:
            why = told
        return _judge_no_data(policy, rule, polls, None, why or "no sample", "absent", baseline, eb)
    if _low_traffic(policy, rule, last):
        why = f"{traffic_words(policy, _requests(last))}, under min_requests {_fmt_num(policy.min_requests)} per poll"
        if _requests(last) == 0:
            why = traffic_words(policy, 0.0)
        return _judge_no_data(policy, rule, polls, value, why, "traffic", baseline, eb)
    at = format_elapsed(_elapsed(last))
    reading, finding = _judge_value(rule, value, baseline, eb, at)
    reading, finding = _gate(policy, rule, polls, eb, reading, finding)
    return apply_limit(policy, rule, last, value, reading, finding, at)


def point_classification(rule: MetricRule, value: float, eb: float | None) -> Classification:
    """What the ratio of `value` alone says (the point rule, before any evidence test)."""
    return _classify(rule, _ratio(rule, value, eb))[0]


def _gate(
    policy: WatchPolicy, rule: MetricRule, polls: Sequence[Poll], eb: float | None,
    reading: MetricReading, finding: _Finding | None,
) -> tuple[MetricReading, _Finding | None]:
    """A rule with `evidence`: a soft or hard ratio stands only where the counts show it."""
    if not rule.evidence:
        return reading, finding
    return _evidence.gate(policy, rule, polls, eb, reading, finding, lambda v: point_classification(rule, v, eb))


# --- the judge -------------------------------------------------------------------------------


def judge(
    policy: WatchPolicy, baseline: Mapping[str, float | None], polls: Sequence[Poll]
) -> WatchDecision:
    """Judge the LAST poll in `polls`, using the earlier ones only for the rules that need
    history (no-data duration, consecutive health failures).

    Findings are ordered metric breaches (in `policy.rules` order), then no-data breaches (same
    order), then health; `trigger` is the first hard one, worded for the rollback verdict.
    """
    polls = _merge_equal_times(policy, tuple(polls))
    if not polls:
        return WatchDecision(status=Status.OK, readings=(), reasons=(), trigger=None)
    at = format_elapsed(_elapsed(polls[-1]))
    readings: list[MetricReading] = []
    metric_findings: list[_Finding] = []
    no_data_findings: list[_Finding] = []
    for rule in policy.rules:
        reading, finding = _judge_metric(policy, rule, _lookup(baseline, rule.name), polls)
        readings.append(reading)
        if finding is not None:
            if reading.classification is Classification.NO_DATA:
                no_data_findings.append(finding)
            else:
                metric_findings.append(finding)
    streak, failed_at, words, started = _health_streak(policy, polls)
    health = _judge_health(policy, streak, failed_at, words, at, started)
    findings = metric_findings + no_data_findings + ([health] if health else [])
    alerts = alert_findings(policy.alerts, polls, policy.no_data_after)  # watch.alerts (core.alerts)
    findings += [_Finding(a.status, a.reason, a.trigger, "alerts", key=a.key or "") for a in alerts]
    status = Status.worst(f.status for f in findings)
    first_hard = next((f for f in findings if f.status is Status.HARD), None)
    return WatchDecision(
        status=status,
        readings=tuple(readings),
        reasons=tuple(f.reason for f in findings),
        trigger=first_hard.trigger if first_hard else None,
        elapsed=_elapsed(polls[-1]),
        health_failures=streak,
        trigger_metric=first_hard.metric if first_hard else None,
        soft_keys=tuple(f.key for f in findings if f.status is Status.SOFT and f.key),
    )


# --- equal times -----------------------------------------------------------------------------


def _merge_equal_times(policy: WatchPolicy, polls: tuple[Poll, ...]) -> tuple[Poll, ...]:
    """Consecutive polls at the same time, merged worst-first (see the module docstring)."""
    if len(polls) < 2 or all(not _same_time(a, b) for a, b in zip(polls, polls[1:])):
        return polls
    merged: list[Poll] = []
    group: list[Poll] = [polls[0]]
    for poll in polls[1:]:
        if _same_time(group[-1], poll):
            group.append(poll)
        else:
            merged.append(_merge(policy, group))
            group = [poll]
    merged.append(_merge(policy, group))
    return tuple(merged)


def _merge(policy: WatchPolicy, group: list[Poll]) -> Poll:
    if len(group) == 1:
        return group[0]
    values: dict[str, object] = {}
    for rule in policy.rules:
        raws = [_lookup(p.values, rule.name) for p in group]
        usable = [v for v in (_sample(r)[0] for r in raws) if v is not None]
        if usable:
            values[rule.name] = max(usable) if rule.direction == "up" else min(usable)
        else:  # no usable sample: keep one that explains why, the same whatever the order
            values[rule.name] = min((r for r in raws), key=_no_data_order)
    if policy.health_metric is not None:  # the worst health reading: 0 or no series beats 1
        raws = [_lookup(p.values, policy.health_metric) for p in group]
        usable = [v for v in (_sample(r)[0] for r in raws) if v is not None]
        values[policy.health_metric] = min(usable) if len(usable) == len(raws) else None
    counts = [r for r in (_requests(p) for p in group) if r is not None]
    health = [h for h in (_health_ok(p) for p in group) if h is not None]
    errors = sorted(p.error for p in group if isinstance(p.error, str) and p.error)
    missing: dict[str, str] = {}
    for p in group:
        for metric, why in sorted(dict(p.missing or {}).items()):
            missing.setdefault(metric, why)
    return Poll(
        missing=missing or None,
        elapsed=_elapsed(group[0]),
        values=values,  # type: ignore[arg-type]
        requests=max(counts) if counts else None,
        health_ok=(all(health) if health else None),
        error=errors[0] if errors else None,
        alerts=merge_seen([p.alerts for p in group]),
    )


def _no_data_order(raw: object) -> tuple[int, str]:
    """A total order over unusable samples, so the one kept does not depend on arrival order."""
    return (0 if raw is None else 1, repr(raw))
