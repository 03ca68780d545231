"""Metrics providers: where the watch window reads the live system's health from.

Every provider answers `sample(at, window, not_before)` with one value per configured metric
name (None when the backend had no data for it), so the judge never knows the source. The
answer is a `Samples`: a plain mapping for the judge, which also says why each missing value is
missing and which stretch of time each value rests on, so a poll never passes off the replaced
version's samples as the new version's."""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping, Protocol

#: Why a value is None when the change has just happened and no window fits after it yet.
WAITING = "waiting for data newer than the change"


class MetricsUnavailable(Exception):
    """The backend could not be asked at all (unreachable, refused, bad credentials), or it
    answers in a way that cannot judge fresh data (the message says the fix)."""


class Samples(dict):  # type: ignore[type-arg]
    """metric -> value (None: no usable data), with two more facts per metric.

    `missing_reasons[metric]`: why the value is None, in words ("newest sample 30s old",
    "no sample since the deploy ended", "waiting for data newer than the change").
    `coverage[metric]`: (first, last) moment the value rests on, from the data itself: the start
    of the range the query read (never before the change) and the newest sample's time.

    A dict subclass so everything that reads plain mappings keeps working; `dict(samples)` drops
    the two extras, so carry the object itself."""

    def __init__(
        self,
        values: Mapping[str, float | None] | Iterable[tuple[str, float | None]] = (),
        *,
        missing_reasons: Mapping[str, str] | None = None,
        coverage: Mapping[str, tuple[dt.datetime, dt.datetime]] | None = None,
    ) -> None:
        super().__init__(values)
        self.missing_reasons: dict[str, str] = dict(missing_reasons or {})
        self.coverage: dict[str, tuple[dt.datetime, dt.datetime]] = dict(coverage or {})
        # Set by `missing`: the one reason the whole poll has no values (the backend answered
        # as of another time, no window fits after the change yet, the backend failed).
        self.poll_reason: str | None = None

    @classmethod
    def missing(cls, metrics: Iterable[str], reason: str) -> Samples:
        """Every metric None for the same reason."""
        names = list(metrics)
        samples = cls(dict.fromkeys(names), missing_reasons=dict.fromkeys(names, reason))
        samples.poll_reason = reason
        return samples

    def newest(self) -> dt.datetime | None:
        """The newest sample time any value rests on (None without coverage)."""
        ends = [end for _, end in self.coverage.values()]
        return max(ends) if ends else None

    def oldest(self) -> dt.datetime | None:
        """The earliest moment any value reaches back to (None without coverage)."""
        starts = [start for start, _ in self.coverage.values()]
        return min(starts) if starts else None


def judged_reasons(values: Mapping[str, float | None]) -> dict[str, str] | None:
    """The missing reasons a poll hands the judge (`Poll.missing`), the same from every driver.

    Only a reason about the poll as a whole (`Samples.missing`: the backend answered as of
    another time, no window fits after the change yet, the backend failed) is something the
    judge could not tell from the data: it is named in the no-data words. A metric's own
    absence (a scrape gap, a stale newest sample, an empty result) is "no sample" to the judge,
    because that is all a backtest's range points can say (they are None where the data is
    stale or absent, with no reason), and a live window must decide every history exactly as
    the backtest does (core.timeline). The per-metric reasons stay on the Samples for the
    provider's callers and tests."""
    reason = getattr(values, "poll_reason", None)
    if not reason:
        return None
    return {metric: reason for metric, value in values.items() if value is None}


class MetricsProvider(Protocol):
    def check_reachable(self) -> None:
        """Raise MetricsUnavailable with a message naming the backend when it cannot answer,
        or cannot answer with fresh data (then the message says the fix)."""

    def sample(self, at: dt.datetime, window: float, not_before: dt.datetime | None = None) -> Samples:
        """Each metric's value over the `window` seconds that end at `at`, reading no sample
        older than `not_before` (the end of the deploy or rollback being judged)."""

    def close(self) -> None:
        """Release connections and background work."""
