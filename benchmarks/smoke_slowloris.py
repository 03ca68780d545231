"""How long a slowloris smoke target holds a case: a server on 127.0.0.1 that sends one header
line a second for `--lines` seconds. Run by the smoke runner (whole-request deadline) and, as
the baseline in the same run, by plain `requests` with the same timeout (a per-read timeout,
which every header line resets). Prints both times, the configured timeout and the ratio.

    python benchmarks/smoke_slowloris.py [--timeout 2] [--lines 12]
"""

from __future__ import annotations

import argparse
import socketserver
import threading
import time

import requests

from pytest_release.adapters.smoke import SmokeRunner
from pytest_release.config import SmokeEndpoint


def serve(lines: int) -> socketserver.ThreadingTCPServer:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
            try:
                self.request.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(lines):
                    time.sleep(1.0)
                    self.request.sendall(b"X-Slow-%d: still here\r\n" % n)
                self.request.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:
                return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--lines", type=int, default=12)
    args = parser.parse_args()
    server = serve(args.lines)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    runner = SmokeRunner(url, [SmokeEndpoint("slow", "/")], concurrency=1, request_timeout=args.timeout)
    try:
        bounded = runner.result("slow")
    finally:
        runner.close()

    started = time.monotonic()
    try:
        requests.get(url, timeout=args.timeout)
        plain_outcome = "answered"
    except requests.RequestException as exc:
        plain_outcome = type(exc).__name__
    plain = time.monotonic() - started
    server.shutdown()

    print(f"slowloris server: one header line a second for {args.lines} s; request_timeout {args.timeout:g} s")
    print(f"smoke runner (whole-request deadline): {bounded.elapsed:6.2f} s  -> {bounded.problem}")
    print(f"plain requests (per-read timeout):     {plain:6.2f} s  -> {plain_outcome}")
    print(f"ratio plain / bounded: {plain / bounded.elapsed:.1f}x; bounded overshoot {bounded.elapsed - args.timeout:+.3f} s")


if __name__ == "__main__":
    main()
