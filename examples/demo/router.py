"""The demo's load balancer: a small HTTP router on loopback in front of two instances of the
service, blue and green, so a release can run as a canary or as blue-green for real.

- The main listener (the environment's address) sends each request to one instance by weight:
  95/5 during a 5% canary, 100/0 when one side is live. Smooth weighted round-robin makes the
  shares exact (5% is every 20th request), so a test can count what a canary served.
- The preview listener sends everything to the `preview` instance: the idle side of a blue-green
  release, or the canary. Smoke tests reach the new version there before users do.
- `GET /metrics` on the main listener is the router's own: every user request it routed, by path,
  method, status, slot and version (as a load balancer reports per target), plus its process.
  Preview requests are not counted: they are the release's own, not users'.
- `GET /_router` on either listener answers the routing state and its history: for each routing
  (generation), the weights, the versions, and how many user requests each slot served.
- A fault of the shared dependency (`router.py set --fault errors=0.4,delay=0.2`, or
  `scripts/fault.sh`): a share of EVERY version's user requests fails with 503 ("shared
  dependency unavailable") and every user request waits `delay` seconds longer, the same share
  on each slot (every 5th of each slot's requests at 0.2), as when a database both versions
  use fails. It hurts the stable version and the canary alike: the canary-vs-stable comparison
  sees no difference, the pre-release baseline sees both degraded. `--fault ""` clears it.

The routing lives in a JSON state file that `scripts/deploy.sh` rewrites (atomically, via
`router.py set`); the router notices within 50 ms, and `set --wait` returns once it has.

Usage:
  python router.py serve --port P --preview-port Q --state FILE [--host 127.0.0.1]
  python router.py set --state FILE [--primary SLOT] [--preview SLOT] [--weights blue=95,green=5]
                       [--slot blue=PORT:VERSION ...] [--fault errors=0.4,delay=0.2] [--wait URL]
  python router.py get --state FILE FIELD     (primary | preview | weight:SLOT)
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

SLOTS = ("blue", "green")
KNOWN_PATHS = ("/health", "/version", "/items")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
UPSTREAM_TIMEOUT = 60.0  # longer than the slowest demo answer (30 s)
MAX_BODY_BYTES = 64 * 1024
FAULT_KEYS = ("errors", "delay")  # a share of user requests failed; seconds added to each
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"}


@dataclass(frozen=True)
class Routing:
    """One routing: who gets the users' traffic and in which shares, who gets the preview."""

    generation: int = 0
    primary: str | None = None
    preview: str | None = None
    weights: dict[str, int] = field(default_factory=dict)
    slots: dict[str, tuple[int, str]] = field(default_factory=dict)  # slot -> (port, version)
    fault: dict[str, float] = field(default_factory=dict)  # the shared dependency's fault: errors, delay

    @classmethod
    def parse(cls, data: Any) -> "Routing":
        """A routing from the state file's JSON; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the state is not a JSON object")
        slots = {}
        for name, spec in (data.get("slots") or {}).items():
            if name not in SLOTS or not isinstance(spec, dict):
                raise ValueError(f"unknown slot {name!r}")
            port, version = spec.get("port"), spec.get("version")
            if not isinstance(port, int) or not 0 < port < 65536 or not isinstance(version, str):
                raise ValueError(f"slot {name}: needs a port and a version")
            slots[name] = (port, version)
        weights = {}
        for name, weight in (data.get("weights") or {}).items():
            if name not in SLOTS or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise ValueError(f"weight of {name!r} must be 0-100")
            weights[name] = weight
        for key in ("primary", "preview"):
            if data.get(key) not in (None, "", *SLOTS):
                raise ValueError(f"{key} must be blue or green")
        return cls(
            generation=int(data.get("generation", 0)), primary=data.get("primary") or None,
            preview=data.get("preview") or None, weights=weights, slots=slots, fault=parse_fault(data.get("fault")),
        )

    def routed(self) -> dict[str, int]:
        """The slots that take user traffic: a weight above 0 and an instance to send it to."""
        return {s: w for s, w in self.weights.items() if w > 0 and s in self.slots}


def parse_fault(raw: Any) -> dict[str, float]:
    """The fault of the state file: {"errors": share 0..1, "delay": seconds 0..10}; ValueError."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise ValueError("fault must be an object like {\"errors\": 0.4}")
    fault = {}
    for key, value in raw.items():
        if key not in FAULT_KEYS:
            raise ValueError(f"fault: unknown key {key!r} (errors, delay)")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"fault.{key} must be a number")
        high = 1.0 if key == "errors" else 10.0
        if not 0 <= value <= high:
            raise ValueError(f"fault.{key} must be from 0 to {high:g}, got {value}")
        fault[key] = float(value)
    return fault


def fault_spec(text: str) -> dict[str, float]:
    """`errors=0.4,delay=0.2` (`errors=40%` too) for `set --fault`; "" clears the fault."""
    fault: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, _, value = part.partition("=")
        percent = value.endswith("%")
        try:
            number = float(value.rstrip("%")) / (100 if percent else 1)
        except ValueError:
            raise ValueError(f"--fault: {part!r} is not KEY=NUMBER") from None
        fault[key.strip()] = number
    return parse_fault(fault)


class Balancer:
    """Smooth weighted round-robin over the current routing, and the history of what each
    routing's slots served. One lock: picks are microseconds."""

    def __init__(self) -> None:
        self.routing = Routing()
        self._current: dict[str, int] = {}
        self._fault_due: dict[str, float] = {}  # per slot: the share of a failure accrued so far
        self.history: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def apply(self, routing: Routing) -> None:
        with self.lock:
            self.routing = routing
            self._current = {}
            self._fault_due = {}
            self.history.append(
                {
                    "generation": routing.generation,
                    "weights": dict(routing.weights),
                    "versions": {s: v for s, (_, v) in routing.slots.items()},
                    "served": {s: 0 for s in SLOTS},
                    "preview_served": {s: 0 for s in SLOTS},
                    "failed_by_fault": {s: 0 for s in SLOTS},
                    "fault": dict(routing.fault),
                }
            )

    def faulty(self, slot: str) -> bool:
        """Whether the shared dependency fails this request of `slot`: exactly the fault's share
        of each slot's requests (every 5th at 0.2), so every version is hurt alike."""
        with self.lock:
            share = self.routing.fault.get("errors", 0.0)
            if share <= 0:
                return False
            due = self._fault_due.get(slot, 0.0) + share
            failed = due >= 1.0 - 1e-9
            self._fault_due[slot] = due - 1.0 if failed else due
            if failed and self.history:
                self.history[-1]["failed_by_fault"][slot] += 1
            return failed

    def pick(self) -> tuple[str, int, str] | None:
        """The slot for the next user request: (slot, port, version), or None if none is routed."""
        with self.lock:
            routed = self.routing.routed()
            if not routed:
                return None
            total = sum(routed.values())
            for slot, weight in routed.items():
                self._current[slot] = self._current.get(slot, 0) + weight
            chosen = max(routed, key=lambda s: (self._current[s], s))
            self._current[chosen] -= total
            port, version = self.routing.slots[chosen]
            if self.history:
                self.history[-1]["served"][chosen] += 1
            return chosen, port, version

    def preview(self) -> tuple[str, int, str] | None:
        with self.lock:
            slot = self.routing.preview
            if slot is None or slot not in self.routing.slots:
                return None
            port, version = self.routing.slots[slot]
            if self.history:
                self.history[-1]["preview_served"][slot] += 1
            return slot, port, version

    def describe(self) -> dict[str, Any]:
        with self.lock:
            r = self.routing
            return {
                "generation": r.generation, "primary": r.primary, "preview": r.preview, "weights": r.weights,
                "slots": {s: {"port": p, "version": v} for s, (p, v) in r.slots.items()},
                "fault": dict(r.fault),
                "history": [json.loads(json.dumps(h)) for h in self.history],
            }


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "demo_http_requests_total", "User requests routed, by path, method, status and the instance that answered.",
            ["path", "method", "status", "slot", "version"], registry=self.registry,
        )
        self.duration = Histogram(
            "demo_http_request_duration_seconds", "Time to answer a routed user request.",
            ["path", "slot", "version"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )


class StateWatcher(threading.Thread):
    """Applies the state file whenever it is replaced (deploy.sh writes it atomically)."""

    def __init__(self, path: Path, balancer: Balancer) -> None:
        super().__init__(name="state-watcher", daemon=True)
        self.path, self.balancer = path, balancer
        self._seen: tuple[int, int, int] | None = None
        self.stop = threading.Event()

    def load_once(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        self._seen = key
        try:
            routing = Routing.parse(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"router: ignoring {self.path}: {exc}", flush=True)
            return
        self.balancer.apply(routing)
        print(f"router: generation {routing.generation}: weights {routing.weights}, preview {routing.preview}", flush=True)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.load_once()


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-router"
    protocol_version = "HTTP/1.1"
    balancer: Balancer
    metrics: Metrics
    preview_listener: bool

    def log_message(self, format: str, *args: object) -> None:
        """Every user request is in the metrics; the log keeps routing changes only."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        body = self._read_body()
        if path == "/_router" and method == "GET":
            self._send(HTTPStatus.OK, json.dumps(self.balancer.describe()).encode(), "application/json")
            return
        if path == "/metrics" and method == "GET" and not self.preview_listener:
            self._send(HTTPStatus.OK, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
            return
        target = self.balancer.preview() if self.preview_listener else self.balancer.pick()
        if target is None:
            what = "no preview instance" if self.preview_listener else "no instance takes traffic"
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, json.dumps({"error": what}).encode(), "application/json")
            return
        slot, port, version = target
        started = time.perf_counter()
        if not self.preview_listener and self.balancer.faulty(slot):
            status, headers = HTTPStatus.SERVICE_UNAVAILABLE, {"content-type": "application/json"}
            payload = json.dumps({"error": "shared dependency unavailable (demo fault: router.py set --fault)"}).encode()
        else:
            status, headers, payload = self._forward(method, port, body)
        delay = 0.0 if self.preview_listener else self.balancer.routing.fault.get("delay", 0.0)
        if delay > 0:
            time.sleep(delay)
        self._send(status, payload, headers.get("content-type", "application/json"), method == "HEAD")
        if not self.preview_listener:
            label = path if path in KNOWN_PATHS else "other"
            self.metrics.requests.labels(path=label, method=method, status=str(int(status)), slot=slot, version=version).inc()
            self.metrics.duration.labels(path=label, slot=slot, version=version).observe(time.perf_counter() - started)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""

    def _forward(self, method: str, port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.request(method, self.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, payload
        except (OSError, http.client.HTTPException) as exc:
            error = json.dumps({"error": f"upstream 127.0.0.1:{port} failed: {exc}"}).encode()
            return HTTPStatus.BAD_GATEWAY, {"content-type": "application/json"}, error
        finally:
            connection.close()

    def _send(self, status: int, payload: bytes, content_type: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head:
            self.wfile.write(payload)


class RouterServer(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def make_servers(host: str, port: int, preview_port: int, balancer: Balancer, metrics: Metrics) -> list[RouterServer]:
    servers = []
    for listener_port, preview in ((port, False), (preview_port, True)):
        handler = type("RouterHandler", (Handler,), {"balancer": balancer, "metrics": metrics, "preview_listener": preview})
        servers.append(RouterServer((host, listener_port), handler))
    return servers


def loopback_host(value: str) -> str:
    try:
        if value == "localhost" or ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a loopback address; the demo binds loopback only")


def serve(args: argparse.Namespace) -> int:
    balancer, metrics = Balancer(), Metrics()
    watcher = StateWatcher(Path(args.state), balancer)
    watcher.load_once()
    servers = make_servers(args.host, args.port, args.preview_port, balancer, metrics)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True) for s in servers]
    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watcher.start()
    for thread in threads:
        thread.start()
    print(f"demo router listening on http://{args.host}:{args.port} (preview on port {args.preview_port})", flush=True)
    while not done.wait(0.2):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()
    print("demo router stopped", flush=True)
    return 0


# --- the state file, for deploy.sh --------------------------------------------------------------
def read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Atomically: the router never reads half a file."""
    Routing.parse(data)  # refuse to write what the router would ignore
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".router-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def set_state(args: argparse.Namespace) -> int:
    path = Path(args.state)
    data = read_state(path)
    if args.primary is not None:
        data["primary"] = args.primary or None
    if args.preview is not None:
        data["preview"] = args.preview or None
    if args.weights is not None:
        data["weights"] = {s: int(w) for s, _, w in (p.partition("=") for p in args.weights.split(",") if p)}
    slots = dict(data.get("slots") or {})
    for spec in args.slot or ():
        name, _, rest = spec.partition("=")
        if not rest:
            slots.pop(name, None)
            continue
        port, _, version = rest.partition(":")
        slots[name] = {"port": int(port), "version": version}
    data["slots"] = slots
    if args.fault is not None:
        try:
            fault = fault_spec(args.fault)
        except ValueError as exc:
            print(f"router.py set: {exc}", file=sys.stderr)
            return 2
        if fault:
            data["fault"] = fault
        else:
            data.pop("fault", None)
    data["generation"] = int(data.get("generation", 0)) + 1
    try:
        write_state(path, data)
    except ValueError as exc:
        print(f"router.py set: {exc}", file=sys.stderr)
        return 2
    if args.wait:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(args.wait, timeout=1) as answer:
                    if json.load(answer).get("generation") == data["generation"]:
                        return 0
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        print(f"router.py set: the router at {args.wait} did not apply generation {data['generation']} within 10 s", file=sys.stderr)
        return 1
    return 0


def get_state(args: argparse.Namespace) -> int:
    data = read_state(Path(args.state))
    name, _, slot = args.field.partition(":")
    if name == "weight":
        print((data.get("weights") or {}).get(slot, 0))
    elif name in ("primary", "preview"):
        print(data.get(name) or "")
    else:
        print(f"router.py get: unknown field {args.field!r}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pytest-release demo router")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--preview-port", type=int, required=True)
    run.add_argument("--state", required=True)
    run.add_argument("--host", type=loopback_host, default="127.0.0.1")
    put = commands.add_parser("set")
    put.add_argument("--state", required=True)
    put.add_argument("--primary", choices=("", *SLOTS))
    put.add_argument("--preview", choices=("", *SLOTS))
    put.add_argument("--weights")
    put.add_argument("--slot", action="append")
    put.add_argument("--fault", help="the shared dependency's fault: errors=SHARE (0.4 or 40%%),delay=SECONDS; '' clears it")
    put.add_argument("--wait")
    get = commands.add_parser("get")
    get.add_argument("--state", required=True)
    get.add_argument("field")
    args = parser.parse_args(argv)
    return {"serve": serve, "set": set_state, "get": get_state}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
