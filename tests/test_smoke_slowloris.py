"""Issue 16, point 8: `smoke.request_timeout` bounds the whole request (connect, headers and
body), not each read. Against a real slowloris server on 127.0.0.1 that answers every read in
time (one header line a second, or one body byte a second) and never finishes."""

from __future__ import annotations

import socketserver
import threading
import time

import pytest
import requests

from pytest_release.adapters.bounded_http import BoundedAdapter, deadline
from pytest_release.adapters.smoke import SmokeRunner
from pytest_release.config import SmokeEndpoint

TIMEOUT = 2.0
MARGIN = 1.0  # the timer, the socket shutdown and the thread hand-over: well under a second here


@pytest.fixture
def slowloris():
    """http://127.0.0.1:PORT: /headers sends a header line a second, /body a body byte a second
    (after complete headers), /fast answers at once; each for up to a minute."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1]
            try:
                if path == b"/fast":
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                    return
                if path == b"/headers":
                    self.request.sendall(b"HTTP/1.1 200 OK\r\n")
                    for n in range(60):
                        if stop.wait(1.0):
                            return
                        self.request.sendall(b"X-Slow-%d: still here\r\n" % n)
                if path == b"/body":
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n")
                    for _ in range(60):
                        if stop.wait(1.0):
                            return
                        self.request.sendall(b"x")
            except OSError:
                return  # the client gave up

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/headers", "/body"])
def test_a_slowloris_case_fails_within_the_request_timeout(slowloris, path):
    runner = SmokeRunner(slowloris, [SmokeEndpoint("slow", path), SmokeEndpoint("fast", "/fast")],
                         concurrency=2, request_timeout=TIMEOUT)
    started = time.monotonic()
    try:
        slow = runner.result("slow", timeout=30)
        fast = runner.result("fast", timeout=30)
    finally:
        runner.close()
    took = time.monotonic() - started
    print(f"slowloris {path}: failed after {slow.elapsed:.2f}s with request_timeout {TIMEOUT:g}s")
    assert not slow.ok and slow.status is None
    assert slow.problem == "no complete answer within 2s (connect, headers and body; smoke.request_timeout)"
    assert TIMEOUT - 0.1 <= slow.elapsed < TIMEOUT + MARGIN and took < TIMEOUT + MARGIN
    assert fast.ok and fast.problem is None  # the deadline of one case does not touch another's


def test_the_deadline_does_not_cut_a_request_that_ends_in_time(slowloris):
    with requests.Session() as session:
        session.mount("http://", BoundedAdapter())
        for _ in range(3):  # the pooled connection is reused across deadlines
            with deadline(TIMEOUT) as limit:
                assert session.get(f"{slowloris}/fast", timeout=TIMEOUT).json() == {}
            assert not limit.expired
