"""A steady request rate for quiet environments: no requests, no signal to judge.

Paced by the release's clock, so under a simulated clock an interval's requests are sent at once
and the clock moves on; under the real one they are spread over the interval."""

from __future__ import annotations

import concurrent.futures as futures
import itertools
import threading

import requests

from pytest_release.clock import Clock, RealClock
from pytest_release.config import TrafficSettings


class TrafficGenerator:
    """On the real clock the load runs in the background from the first `run` until `close`, so
    it does not pause while the watch scrapes or runs the health check (a pause would read as a
    drop in request rate). On a simulated clock each `run` sends its share at once."""

    def __init__(self, base_url: str, settings: TrafficSettings, clock: Clock, workers: int = 8) -> None:
        self._urls = itertools.cycle([base_url.rstrip("/") + p for p in settings.paths])
        self._settings = settings
        self._clock = clock
        self._session = requests.Session()
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="traffic")
        self.sent = 0
        self.failed = 0
        self._background: threading.Thread | None = None
        self._stop = threading.Event()

    def run(self, seconds: float) -> None:
        """Let `seconds` pass with the configured load on the service."""
        if isinstance(self._clock, RealClock):
            if self._background is None:
                self._background = threading.Thread(target=self._run_forever, name="traffic", daemon=True)
                self._background.start()
            self._clock.sleep(seconds)
            return
        self._burst(seconds)

    def _run_forever(self) -> None:
        gap = 1.0 / self._settings.rate
        next_at = self._clock.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one, next(self._urls))
            next_at += gap
            delay = next_at - self._clock.monotonic()
            if delay < -1.0:  # fell far behind (a slow service): don't try to catch up in a burst
                next_at = self._clock.monotonic()
            elif delay > 0:
                self._stop.wait(delay)

    def _burst(self, seconds: float) -> None:
        count = max(1, round(self._settings.rate * seconds))
        gap = seconds / count
        start = self._clock.monotonic()
        pending = []
        for index in range(count):
            self._clock.sleep(start + index * gap - self._clock.monotonic())
            pending.append(self._pool.submit(self._one, next(self._urls)))
        futures.wait(pending)
        self._clock.sleep(start + seconds - self._clock.monotonic())

    def _one(self, url: str) -> None:
        try:
            self._session.get(url, timeout=self._settings.timeout)
        except requests.RequestException:
            self.failed += 1
        self.sent += 1

    def close(self) -> None:
        self._stop.set()
        if self._background is not None:
            self._background.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._session.close()
