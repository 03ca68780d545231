"""Clocks. Watch windows last an hour in life and a second in tests, so nothing else in the
plugin reads the time or sleeps: it asks the clock it was given."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current wall time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for elapsed times)."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""


class RealClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimulatedClock:
    """A clock whose `sleep` returns at once and moves time forward.

    Tests and backtests use it to run an hour-long watch window in a moment; `start` pins the
    wall time, so queries against backfilled Prometheus data land on the scenario's samples."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._start = start.astimezone(dt.timezone.utc)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._start + dt.timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += max(0.0, seconds)

    advance = sleep
