"""Metrics providers: where the watch window reads the live system's health from.

Every provider answers `sample(at, window)` with one value per configured metric name
(None when the backend had no data for it), so the judge in `analysis` never knows the source."""

from __future__ import annotations

import datetime as dt
from typing import Mapping, Protocol


class MetricsUnavailable(Exception):
    """The backend could not be asked at all (unreachable, refused, bad credentials)."""


class MetricsProvider(Protocol):
    def check_reachable(self) -> None:
        """Raise MetricsUnavailable with a message naming the backend when it cannot answer."""

    def sample(self, at: dt.datetime, window: float) -> Mapping[str, float | None]:
        """Each metric's value over the `window` seconds that end at `at`."""

    def close(self) -> None:
        """Release connections and background work."""
