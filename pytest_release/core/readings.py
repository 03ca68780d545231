"""What one poll says about one metric: a usable sample or why there is none, the traffic it
rests on, the baseline it is compared with. Shared by the judge, the health rule and the
explanations. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pytest_release.core.watch_model import MetricRule, Poll, Status, WatchPolicy
from pytest_release.core.words import _as_float, _fmt_duration, _fmt_num

def _lookup(mapping: Any, key: str) -> Any:
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except Exception:
        return None


def _sample(raw: object) -> tuple[float | None, str | None]:
    """(usable value, None) or (None, why it is no data)."""
    if raw is None:
        return None, "no sample"
    value = _as_float(raw)
    if value is None:
        return None, f"value {raw!r} is not a number"
    if math.isnan(value):
        return None, "value is NaN"
    if value < 0:
        if math.isinf(value):
            return None, "value is -inf"
        return None, f"value {_fmt_num(value)} is negative (a counter reset?)"
    return value + 0.0, None  # + 0.0 turns -0.0 into 0.0


def _clean_baseline(raw: object) -> float | None:
    value = _as_float(raw)
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value + 0.0


def _effective_baseline(baseline: float | None, floor: float) -> float | None:
    if baseline is None:
        return floor if floor > 0 else None
    return max(baseline, floor)


def _requests(poll: Poll) -> float | None:
    r = _as_float(poll.requests)
    if r is None or math.isnan(r) or r < 0:
        return None  # unknown (or a reset counter): min_requests does not apply
    return r


def _low_traffic(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    """Too few requests to judge a metric computed from them. No requests at all is always too
    few, whatever min_requests says: a ratio or quantile of nothing is no data, never 0."""
    if not rule.needs_traffic:
        return False  # a request-rate drop or a CPU reading is exactly what to see at low traffic
    requests = _requests(poll)
    return requests is not None and (requests == 0 or requests < policy.min_requests)


def _has_data(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    value, _ = _sample(_lookup(poll.values, rule.name))
    return value is not None and not _low_traffic(policy, rule, poll)


def has_data(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    """Whether `poll` has a usable sample of `rule`'s metric (with enough traffic to judge it)."""
    return _has_data(policy, rule, poll)


def traffic_words(policy: WatchPolicy, requests: float | None) -> str:
    """ "0 requests in the last 1m", "0.3 requests in the last 1m (0.005/s)"."""
    span = _fmt_duration(policy.interval)
    if requests is None:
        return f"an unknown number of requests in the last {span}"
    if requests == 0:
        return f"0 requests in the last {span}"
    per_second = f" ({_fmt_num(requests / policy.interval)}/s)" if policy.interval > 0 else ""
    return f"{_fmt_num(requests)} requests in the last {span}{per_second}"


def _elapsed(poll: Poll) -> float:
    e = _as_float(poll.elapsed)
    return math.nan if e is None else e


def _same_time(a: Poll, b: Poll) -> bool:
    ea, eb = _elapsed(a), _elapsed(b)
    return ea == eb  # False for NaN: an unknown time is never "the same" as another


@dataclass(frozen=True)
class _Finding:
    status: Status
    reason: str
    trigger: str
    metric: str = ""
    key: str = ""  # for a soft finding: what a person is asked about (see WatchDecision.soft_keys)
