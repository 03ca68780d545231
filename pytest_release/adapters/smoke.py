"""Smoke cases: each configured endpoint called once against the version now serving.

Cases run concurrently (the phase has a budget of minutes, an endpoint catalogue can be long);
each pytest item then reports its own case, so every case is its own result everywhere. The
budget belongs to the whole phase: `SmokeBudget` starts with the phase's first item, and each
item's pytest-timeout timer is set to what is left of it."""

from __future__ import annotations

import concurrent.futures as futures
import time
from dataclasses import dataclass
from typing import Sequence

import requests

from pytest_release.adapters.bounded_http import BoundedAdapter, deadline
from pytest_release.config import SmokeEndpoint


_READ_BACKSTOP = 1.0
_CUT = "no complete answer within {timeout:g}s (connect, headers and body; smoke.request_timeout)"


@dataclass(frozen=True)
class SmokeResult:
    name: str
    method: str
    path: str
    ok: bool
    status: int | None
    elapsed: float
    problem: str | None


def run_case(session: requests.Session, base_url: str, endpoint: SmokeEndpoint, timeout: float) -> SmokeResult:
    url = base_url.rstrip("/") + endpoint.path
    started = time.monotonic()

    def result(ok: bool, status: int | None, problem: str | None) -> SmokeResult:
        return SmokeResult(endpoint.name, endpoint.method, endpoint.path, ok, status, time.monotonic() - started, problem)

    # The deadline bounds the whole request (connect, headers, body), so a server that trickles
    # its answer cannot hold the case past it; the connect timeout is the same, and the per-read
    # timeout is only a backstop a little later, so a stalled server meets the deadline first.
    with deadline(timeout) as limit:
        try:
            response = session.request(
                endpoint.method, url, json=endpoint.json, headers=dict(endpoint.headers),
                timeout=(timeout, timeout + _READ_BACKSTOP), allow_redirects=False,
            )
        except requests.RequestException as exc:
            if limit.expired:
                return result(False, None, _CUT.format(timeout=timeout))
            if isinstance(exc, requests.Timeout):
                return result(False, None, f"no answer within {timeout:g}s")
            return result(False, None, f"request failed: {type(exc).__name__}: {exc}")
        if limit.expired:  # cut mid-headers, http.client may take the end of the stream for their end
            return result(False, None, _CUT.format(timeout=timeout))
    if response.status_code != endpoint.status:
        return result(False, response.status_code, f"expected status {endpoint.status}, got {response.status_code}")
    if endpoint.expect_fields:
        try:
            body = response.json()
        except ValueError:
            return result(False, response.status_code, "expected a JSON answer")
        missing = [f for f in endpoint.expect_fields if not _has_field(body, f)]
        if missing:
            return result(False, response.status_code, f"JSON answer lacks {', '.join(missing)}")
    return result(True, response.status_code, None)


def _has_field(body: object, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(body, dict) or part not in body:
            return False
        body = body[part]
    return True


class SmokeRunner:
    """Starts every case on first demand, hands each result to the item that asks for it."""

    def __init__(self, base_url: str, endpoints: Sequence[SmokeEndpoint], *, concurrency: int, request_timeout: float) -> None:
        self.base_url = base_url
        self.endpoints = {e.name: e for e in endpoints}
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self._pool: futures.ThreadPoolExecutor | None = None
        self._futures: dict[str, futures.Future[SmokeResult]] = {}
        self._session = requests.Session()
        # requests keeps at most 10 connections per host: a larger pool would queue for them.
        adapter = BoundedAdapter(pool_connections=1, pool_maxsize=max(10, concurrency))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self.handed_out: set[str] = set()
        self.closed = False

    def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = futures.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="smoke")
        for name, endpoint in self.endpoints.items():
            self._futures[name] = self._pool.submit(run_case, self._session, self.base_url, endpoint, self.request_timeout)

    def result(self, name: str, timeout: float | None = None) -> SmokeResult:
        self.start()
        result = self._futures[name].result(timeout=timeout)
        self.handed_out.add(name)
        return result

    @property
    def all_handed_out(self) -> bool:
        return self.handed_out >= set(self.endpoints)

    def run_all(self, timeout: float | None = None) -> list[SmokeResult]:
        """Every case (used to verify a rollback, where one verdict covers them all)."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        for name, future in self._futures.items():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results.append(future.result(timeout=remaining))
            except futures.TimeoutError:
                endpoint = self.endpoints[name]
                results.append(SmokeResult(name, endpoint.method, endpoint.path, False, None, timeout or 0.0, "smoke budget exhausted"))
        return results

    def close(self) -> None:
        """Cases not started are cancelled; a request in flight ends within its request timeout."""
        if self.closed:
            return
        self.closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()


class SmokeBudget:
    """The smoke phase's time budget, on the machine's clock: pytest-timeout enforces it in real
    seconds, and the HTTP requests take real seconds whatever clock the release runs on."""

    #: Less than this left counts as nothing left: a timer that fires between pytest's own steps
    #: (not inside a test's setup, call or teardown) would be an internal error, not a failure.
    MARGIN = 0.5

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def exhausted(self) -> bool:
        return self.remaining() <= self.MARGIN

    def timeout_for(self, own: float | None) -> float:
        """The pytest-timeout for the next item: what is left, or the item's own timeout if
        shorter; 0 (no timer) once exhausted, when the item fails at its setup instead."""
        if self.exhausted():
            return 0.0
        left = self.remaining()
        return min(own, left) if own and own > 0 else left
