"""The smoke phase at scale: 200 endpoints on a local server that answers each in 100 ms, run by
the smoke phase's runner (pytest_release.smoke.SmokeRunner) with its default concurrency and
then one at a time, in the same run. Prints both times, the ratio, and what is left of the
default 5-minute phase budget.

    python benchmarks/smoke_scale.py [--endpoints 200] [--delay 0.1] [--concurrency N]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pytest_release.adapters.smoke import SmokeRunner
from pytest_release.config import SmokeEndpoint, SmokeSettings


def serve(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(delay)  # the endpoint's own work
            body = json.dumps({"path": self.path, "ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def run(url: str, endpoints: list[SmokeEndpoint], concurrency: int) -> float:
    runner = SmokeRunner(url, endpoints, concurrency=concurrency, request_timeout=30)
    started = time.perf_counter()
    try:
        results = runner.run_all()
    finally:
        runner.close()
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} smoke cases failed, e.g. {failed[0]}")
    return elapsed


def main() -> None:
    defaults = SmokeSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each endpoint takes to answer")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="the concurrent run's (default: smoke.concurrency's default)")
    args = parser.parse_args()
    server = serve(args.delay)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    endpoints = [SmokeEndpoint(f"case-{i}", f"/e/{i}", expect_fields=("ok",)) for i in range(args.endpoints)]
    try:
        run(url, endpoints[:5], 1)  # warm-up: imports, the first connections
        concurrent = run(url, endpoints, args.concurrency)
        serial = run(url, endpoints, 1)
    finally:
        server.shutdown()
        server.server_close()
    budget = defaults.budget
    print(f"{args.endpoints} smoke cases, each answered in {args.delay * 1000:.0f} ms, phase budget {budget:.0f} s")
    print(f"concurrency {args.concurrency:>2} (default): {concurrent:7.2f} s  ({concurrent / budget:.1%} of the budget)")
    print(f"concurrency  1 (serial) : {serial:7.2f} s  ({serial / budget:.1%} of the budget)")
    print(f"ratio serial / concurrent: {serial / concurrent:.2f}x (ideal {min(args.concurrency, args.endpoints)}x)")


if __name__ == "__main__":
    main()
