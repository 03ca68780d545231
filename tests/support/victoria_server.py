"""A private, real VictoriaMetrics (Debian package `victoria-metrics`, 1.79) for the test suite.

Started with its defaults except where a test must say otherwise: `-httpListenAddr` on a free
loopback port, its data in a temp dir, `-retentionPeriod=100y` (the scenarios are old), and
`-promscrape.config` when it scrapes. In particular `-search.latencyOffset` keeps its default
(30 s): the product must cope with VictoriaMetrics as a user installs it.

Two ways to get data in, as for Prometheus:
- import: `import_openmetrics(text)` posts the same OpenMetrics the Prometheus backfill uses to
  `/api/v1/import/prometheus`, with the timestamps turned into milliseconds (that API's unit),
  then `/internal/force_flush` so the samples are searchable at once.
- scraping: `start_victoria(tmp, scrape_targets=[...])` scrapes every second.

`victoria_factory` / `module_victoria_factory` start servers and stop them at teardown. A
missing binary fails the test; it never skips."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest
import requests

import shutil

from tests.support.prometheus_server import _running, free_port

INSTALL_HINT = "install the Debian package victoria-metrics (apt-get install victoria-metrics)"
READY_DEADLINE_S = 15.0
_SAMPLE = re.compile(r"^(?P<series>[a-zA-Z_:][^ ]*(?:\{.*\})?) (?P<value>\S+) (?P<ts>\S+)$")


@dataclass
class VictoriaServer:
    url: str
    port: int
    data_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _running.discard(self.process)

    def kill(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        _running.discard(self.process)

    def import_openmetrics(self, text: str) -> int:
        """Import OpenMetrics text with timestamps in seconds (the Prometheus backfill's input)
        through `/api/v1/import/prometheus` (timestamps in ms); returns the samples sent."""
        lines = prometheus_text_ms(text)
        answer = requests.post(f"{self.url}/api/v1/import/prometheus", data="\n".join(lines).encode() + b"\n", timeout=60)
        if answer.status_code not in (200, 204):
            pytest.fail(f"VictoriaMetrics refused the import: {answer.status_code} {answer.text[:300]}", pytrace=False)
        self.flush()
        return len(lines)

    def flush(self) -> None:
        requests.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()

    def query(self, promql: str, at: float | None = None, **params: Any) -> dict[str, Any]:
        sent: dict[str, Any] = {"query": promql, **params}
        if at is not None:
            sent["time"] = at
        return requests.get(f"{self.url}/api/v1/query", params=sent, timeout=5).json()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> VictoriaServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def prometheus_text_ms(openmetrics: str) -> list[str]:
    """Sample lines of `openmetrics` (timestamps in seconds, `# TYPE`/`# EOF` lines) as Prometheus
    text-format lines with integer millisecond timestamps; comments dropped."""
    out: list[str] = []
    for line in openmetrics.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a timestamped sample line: {line!r}")
        millis = round(float(match["ts"]) * 1000)
        out.append(f"{match['series']} {match['value']} {millis}")
    return out


def require_victoria() -> str:
    path = shutil.which("victoria-metrics")
    if path is None:
        pytest.fail(f"`victoria-metrics` is not on PATH: {INSTALL_HINT}", pytrace=False)
    return path


def start_victoria(
    tmp_path: Path, scrape_targets: Sequence[str] = (), scrape_interval: str = "1s", *, job: str = "demo", extra_args: Sequence[str] = ()
) -> VictoriaServer:
    binary = require_victoria()
    for attempt in range(3):
        port = free_port()
        home = Path(tmp_path) / f"victoria-{port}"
        data_dir = home / "data"
        data_dir.mkdir(parents=True)
        argv = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data_dir}", "-retentionPeriod=100y", *extra_args]
        if scrape_targets:
            config = home / "scrape.yml"
            quoted = ", ".join(f'"{t}"' for t in scrape_targets)
            config.write_text(
                f"global:\n  scrape_interval: {scrape_interval}\nscrape_configs:\n  - job_name: {job}\n"
                f"    scrape_interval: {scrape_interval}\n    static_configs:\n      - targets: [{quoted}]\n"
            )
            argv.append(f"-promscrape.config={config}")
        log_file = home / "victoria.log"
        with open(log_file, "wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _running.add(process)
        server = VictoriaServer(f"http://127.0.0.1:{port}", port, data_dir, log_file, process)
        failure = _wait_healthy(server)
        if failure is None:
            return server
        server.kill()
        if "address already in use" not in server.log_tail(50) or attempt == 2:
            pytest.fail(f"VictoriaMetrics did not start: {failure}\n{server.log_tail()}", pytrace=False)
    raise AssertionError("unreachable")


def _wait_healthy(server: VictoriaServer) -> str | None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if not server.running:
            return f"it exited with status {server.process.returncode}"
        try:
            if requests.get(f"{server.url}/health", timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return f"/health did not answer 200 within {READY_DEADLINE_S:g} s"


class VictoriaFactory:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[VictoriaServer] = []

    def __call__(self, scrape_targets: Sequence[str] = (), scrape_interval: str = "1s", **kwargs: Any) -> VictoriaServer:
        server = start_victoria(self.base, scrape_targets, scrape_interval, **kwargs)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def victoria_factory(tmp_path: Path) -> Iterator[VictoriaFactory]:
    factory = VictoriaFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def module_victoria_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaFactory]:
    factory = VictoriaFactory(tmp_path_factory.mktemp("victoria"))
    try:
        yield factory
    finally:
        factory.stop_all()


__all__ = [
    "INSTALL_HINT", "VictoriaFactory", "VictoriaServer", "module_victoria_factory", "prometheus_text_ms", "require_victoria",
    "start_victoria", "victoria_factory",
]
