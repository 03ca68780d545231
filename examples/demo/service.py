"""The demo service that pytest-release deploys, smoke-tests and watches on one laptop.

A small JSON API on loopback with Prometheus metrics. Its version string selects a
deterministic behaviour, so every release outcome can be rehearsed for real:

- contains ``bad``: healthy for its first 20 counted requests (a smoke test passes), then a
  latent regression that only the metrics show: 2 of every 5 ``/items`` requests answer 500
  and every ``/items`` request takes 0.15 s longer. ``/health`` stays 200.
- contains ``broken``: ``POST /items`` always answers 500 (a smoke test's write fails).
- contains ``slow``: ``GET /items`` takes 30 s (smoke tests time out).
- contains ``unhealthy``: ``/health`` answers 503.
- anything else: healthy.

"Counted" requests are all requests except ``GET /metrics``: scraping must not change what
the scraper observes.

Usage: python service.py --version V --port P [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

HEALTHY_REQUESTS_BEFORE_REGRESSION = 20
REGRESSION_EXTRA_SECONDS = 0.15
SLOW_READ_SECONDS = 30.0
STEADY_QUEUE_DEPTH = 2
MAX_BODY_BYTES = 64 * 1024
KNOWN_PATHS = ("/health", "/version", "/items", "/metrics")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """A private registry, so only this service's series (and its process's) are exposed."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: scrapers compute rates from the counters
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "demo_http_requests_total",
            "HTTP requests answered, by path, method and status.",
            ["path", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "demo_http_request_duration_seconds",
            "Time spent answering an HTTP request.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "demo_queue_depth", "Jobs waiting in the work queue.", registry=self.registry
        )
        self.queue_depth.set(STEADY_QUEUE_DEPTH)


@dataclass
class ServiceState:
    """Everything the handlers share; one lock guards the counters and the item list."""

    version: str
    metrics: Metrics = field(default_factory=Metrics)
    items: list[dict] = field(default_factory=list)
    counted_requests: int = 0
    regressed_items_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def latent_regression(self) -> bool:
        return "bad" in self.version

    @property
    def broken_writes(self) -> bool:
        return "broken" in self.version

    @property
    def slow_reads(self) -> bool:
        return "slow" in self.version

    @property
    def unhealthy(self) -> bool:
        return "unhealthy" in self.version

    def count_request(self, path: str) -> tuple[bool, bool]:
        """Count one request; return (fail it, slow it) under the latent regression."""
        with self.lock:
            self.counted_requests += 1
            if not self.latent_regression or path != "/items":
                return False, False
            if self.counted_requests <= HEALTHY_REQUESTS_BEFORE_REGRESSION:
                return False, False
            n = self.regressed_items_requests
            self.regressed_items_requests += 1
            return n % 5 in (0, 1), True


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-service"
    state: ServiceState  # set on the subclass made by make_server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: object) -> None:
        """Requests are visible in the metrics; keep the log to start/stop lines."""

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics" and method == "GET":
            self._send(HTTPStatus.OK, generate_latest(self.state.metrics.registry), CONTENT_TYPE_LATEST)
            return
        started = time.perf_counter()
        label = path if path in KNOWN_PATHS else "other"
        # Read the body before anything can fail: closing a socket with unread input resets it,
        # and the client would see a connection error instead of our answer.
        body = self._read_body() if method == "POST" else b""
        fail, slow = self.state.count_request(path)
        if slow:
            time.sleep(REGRESSION_EXTRA_SECONDS)
        if fail:
            status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error", "version": self.state.version}
        else:
            status, answer = self._route(method, path, body)
        try:
            self._send_json(status, answer)
        finally:
            metrics = self.state.metrics
            metrics.requests.labels(path=label, method=method, status=str(int(status))).inc()
            metrics.duration.labels(path=label).observe(time.perf_counter() - started)

    def _route(self, method: str, path: str, body: bytes | None) -> tuple[HTTPStatus, dict]:
        state = self.state
        version = state.version
        if path == "/health" and method == "GET":
            if state.unhealthy:
                return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unhealthy", "version": version}
            return HTTPStatus.OK, {"status": "ok", "version": version}
        if path == "/version" and method == "GET":
            return HTTPStatus.OK, {"version": version}
        if path == "/items" and method == "GET":
            if state.slow_reads:
                time.sleep(SLOW_READ_SECONDS)
            with state.lock:
                items = list(state.items)
            return HTTPStatus.OK, {"items": items, "version": version}
        if path == "/items" and method == "POST":
            name, error = parse_item_name(body)
            if error:
                return HTTPStatus.BAD_REQUEST, {"error": error, "version": version}
            if state.broken_writes:
                return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "write failed", "version": version}
            with state.lock:
                item = {"id": len(state.items) + 1, "name": name}
                state.items.append(item)
            return HTTPStatus.CREATED, {**item, "version": version}
        if path in KNOWN_PATHS:
            return HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} not allowed on {path}", "version": version}
        return HTTPStatus.NOT_FOUND, {"error": f"no such path: {path}", "version": version}

    def _read_body(self) -> bytes | None:
        """The request body, or None when its length is missing, bad or over the limit."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length <= 0 or length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length)

    def _send_json(self, status: HTTPStatus, body: dict) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: HTTPStatus, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def parse_item_name(body: bytes | None) -> tuple[str, str]:
    """The item name from a JSON body, or an error message saying what was wrong."""
    if not body:
        return "", f'expected a JSON body like {{"name": "..."}} of at most {MAX_BODY_BYTES} bytes'
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", "body is not valid JSON"
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        return "", '"name" must be a non-empty string'
    return name, ""


class DemoServer(ThreadingHTTPServer):
    # socketserver's default listen backlog of 5 drops connections under a burst of concurrent
    # clients, and each dropped SYN costs the client a one-second retransmit.
    request_queue_size = 128


def make_server(version: str, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("DemoHandler", (Handler,), {"state": ServiceState(version=version)})
    server = DemoServer((host, port), handler)
    server.daemon_threads = True  # a 30 s slow read must not delay shutdown
    return server


def loopback_host(value: str) -> str:
    try:
        if value == "localhost" or ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a loopback address; the demo binds loopback only")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pytest-release demo service")
    parser.add_argument("--version", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1")
    args = parser.parse_args(argv)

    server = make_server(args.version, args.host, args.port)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"demo service {args.version} listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    print(f"demo service {args.version} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
