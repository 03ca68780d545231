"""Range-query points matched to poll times by window, not by exact timestamp.

A range query answers points on its own grid: Prometheus at start + k*step (start as sent, in
whole seconds), VictoriaMetrics aligned down to a multiple of the step when it answers more than
50 points from its cache. Looking points up by exact timestamp then finds nothing when START is
off the step grid, and a clean history reads as no data. Here a poll at time p takes the newest
point in (p - step, p]: the point whose window ends closest before the poll, never after it
(that would judge data the poll could not have seen)."""

from __future__ import annotations

import bisect
from typing import Iterable, Sequence

#: Tolerance for float timestamps (the APIs answer milliseconds).
_SLACK = 0.001


def points_by_poll(
    points: Iterable[tuple[float, float | None]], polls: Sequence[float], step: float
) -> list[tuple[float, float | None]]:
    """(poll time, value) for every poll time in `polls` (epoch seconds): the value of the newest
    point p with poll - step < p <= poll, None when no point falls in that window.

    Used by PrometheusProvider.sample_range, so the backtest can look its polls up by their own
    time whatever grid the backend answered on."""
    ordered = sorted((float(ts), value) for ts, value in points)
    stamps = [ts for ts, _ in ordered]
    matched: list[tuple[float, float | None]] = []
    for poll in polls:
        index = bisect.bisect_right(stamps, poll + _SLACK) - 1
        value = None
        while index >= 0 and stamps[index] > poll - step + _SLACK:
            if ordered[index][1] is not None:
                value = ordered[index][1]
                break
            index -= 1
        matched.append((poll, value))
    return matched
