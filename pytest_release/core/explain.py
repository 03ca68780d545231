"""A decision in words: the evidence behind it, the terminal's one-line summary, no data and
unbounded ratios said plainly. Pure."""

from __future__ import annotations

import math
from typing import Sequence

from pytest_release.core.readings import _elapsed, _lookup, _same_time, _sample
from pytest_release.core.watch_model import Classification, MetricReading, Poll, Status, WatchDecision
from pytest_release.core.words import _fmt_num, _fmt_ratio, format_elapsed

def _recent_samples(polls: Sequence[Poll], metric: str, count: int) -> str:
    shown = []
    for poll in polls[-count:]:
        value, _ = _sample(_lookup(poll.values, metric))
        shown.append(f"{format_elapsed(_elapsed(poll))} {'no data' if value is None else _fmt_num(value)}")
    return ", ".join(shown)


def evidence(decision: WatchDecision, polls: Sequence[Poll], samples: int = 3) -> str:
    """The numbers behind a decision, in one line: for a hard breach its metric's value,
    baseline and threshold with the last `samples` samples; for a soft one every soft metric's.
    Empty for an OK decision."""
    if decision.status is Status.OK:
        return ""
    readings = {r.metric: r for r in decision.readings}
    if decision.status is Status.HARD:
        metrics = [decision.trigger_metric] if decision.trigger_metric else []
    else:
        metrics = [r.metric for r in decision.readings if r.classification is Classification.SOFT]
        if decision.health_failures:
            metrics.append("health")
    merged = _merge_equal_times_loose(polls)
    parts = []
    for metric in metrics:
        if metric == "health":
            n = decision.health_failures
            parts.append(f"health check failed {n} poll{'s' if n != 1 else ''} in a row")
            continue
        r = readings.get(metric or "")
        if r is None:
            continue
        part = r.explanation
        if r.classification is not Classification.NO_DATA:
            part += f"; samples {_recent_samples(merged, r.metric, samples)}"
        parts.append(part)
    return "; ".join(parts)


def _merge_equal_times_loose(polls: Sequence[Poll]) -> tuple[Poll, ...]:
    """Polls for display: the last of each run at the same time (no policy needed)."""
    out: list[Poll] = []
    for poll in polls:
        if out and _same_time(out[-1], poll):
            out[-1] = poll
        else:
            out.append(poll)
    return tuple(out)


def no_data_words(r: MetricReading) -> str:
    """A NO_DATA reading in a few words: "no data since T+7m", "no data yet", "not judged:
    0 requests in the last 1m"."""
    if r.cause == "traffic":
        return f"not judged: {r.detail}"
    if r.had_data and r.no_data_since is not None:
        return f"no data since {format_elapsed(r.no_data_since)}"
    return "no data yet"


def ratio_words(r: MetricReading, below: float | None = None) -> str:
    """A reading's ratio: "1.70x"; in words where a number would be infinite."""
    if r.ratio is None:
        return "no baseline"
    if math.isinf(r.ratio):
        if r.value is not None and math.isinf(r.value):
            return "beyond any finite value"
        return "none at all"
    return f"{_fmt_ratio(r.ratio, below)}x"


def summarize(decision: WatchDecision) -> str:
    """One line for the terminal while the window runs, e.g.
    "error_rate 1.02x · p99_latency 0.97x · status ok". Ratios are "times worse than baseline"
    for every metric, lower-is-worse ones included; no data says since when."""
    parts = []
    for r in decision.readings:
        if r.classification is Classification.NO_DATA:
            parts.append(f"{r.metric} {no_data_words(r)}")
        elif r.ratio is None:
            parts.append(f"{r.metric} no baseline")
        else:
            mark = (
                f" {r.classification.value}"
                if r.classification in (Classification.SOFT, Classification.HARD, Classification.INCONCLUSIVE)
                else ""
            )
            below = r.threshold if r.classification is Classification.OK else None
            if math.isinf(r.ratio):
                shown = f"{_fmt_num(r.value)} ({ratio_words(r)}, baseline {_fmt_num(r.baseline)})"
            else:
                shown = ratio_words(r, below)
            parts.append(f"{r.metric} {shown}{mark}")
    if decision.health_failures:
        parts.append(f"health failed x{decision.health_failures}")
    parts.append(f"status {decision.status.value}")
    return " · ".join(parts)
