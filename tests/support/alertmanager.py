"""A real alerting stack for the tests: an exporter the test controls, a private Prometheus
evaluating real alerting rules over it (every second, `for: 0s`), and a private Alertmanager
(Debian package prometheus-alertmanager) receiving from that Prometheus.

`alerting_stack` (module scope) starts all three on free loopback ports and stops them at
teardown; `stack.set(level)` changes what the exporter serves, `stack.wait_firing(...)` /
`stack.wait_quiet()` wait (with a deadline) until Alertmanager and ALERTS show the state. A
missing binary fails the test; it never skips."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.support.prometheus_server import PrometheusServer, _running, _wait_ready, free_port

ALERTMANAGER_HINT = "install the Debian package prometheus-alertmanager (apt-get install prometheus-alertmanager)"
DEADLINE_S = 30.0

#: The rules: one alert name whose severity depends on the level (warning at 1, critical at 2:
#: "gets worse" is a real severity rise of the same alert), one critical alert of its own, one
#: with a severity the default map does not name, one without a severity label, and one of
#: another service (outside the selector).
RULES = """\
groups:
  - name: orders
    interval: 1s
    rules:
      - alert: OrdersLatencyHigh
        expr: orders_test_level{service="orders",signal="latency"} == 1
        for: 0s
        labels: {severity: warning}
        annotations: {summary: "orders answers slowly"}
      - alert: OrdersLatencyHigh
        expr: orders_test_level{service="orders",signal="latency"} >= 2
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "orders answers far too slowly"}
      - alert: OrdersDown
        expr: orders_test_level{service="orders",signal="down"} > 0
        for: 0s
        labels: {severity: critical}
      - alert: OrdersOdd
        expr: orders_test_level{service="orders",signal="odd"} > 0
        for: 0s
        labels: {severity: info}
      - alert: OrdersUnlabelled
        expr: orders_test_level{service="orders",signal="bare"} > 0
        for: 0s
      - alert: BillingDown
        expr: orders_test_level{service="billing",signal="down"} > 0
        for: 0s
        labels: {severity: critical}
"""

SIGNALS = (("orders", "latency"), ("orders", "down"), ("orders", "odd"), ("orders", "bare"), ("billing", "down"))


class _Exporter(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ExporterHandler)
        self.levels: dict[tuple[str, str], float] = {s: 0.0 for s in SIGNALS}

    def text(self) -> str:
        lines = ["# HELP orders_test_level What the test wants the alerting rules to see.", "# TYPE orders_test_level gauge"]
        for (service, signal), value in sorted(self.levels.items()):
            lines.append(f'orders_test_level{{service="{service}",signal="{signal}"}} {value:g}')
        return "\n".join(lines) + "\n"


class _ExporterHandler(http.server.BaseHTTPRequestHandler):
    server: _Exporter

    def do_GET(self) -> None:  # noqa: N802
        body = self.server.text().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        """POST /set?down=1&latency=2: a release run in a subprocess changes the levels (its conftest)."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        for key, values in query.items():
            service, signal = ("billing", key[len("billing_"):]) if key.startswith("billing_") else ("orders", key)
            self.server.levels[(service, signal)] = float(values[-1])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


#: A conftest for a release run in a subprocess: the simulated clock, and, after phase 3
#: (execute), the exporter levels in ALERTS_AFTER_DEPLOY ("down=1") set, then a wait (real
#: time, with a deadline) until Alertmanager shows ALERTS_EXPECT ("OrdersDown:critical,...")
#: firing, so the watch window that follows on the simulated clock sees the alert the deploy
#: "caused".
RELEASE_CONFTEST = """
import os, time
import requests
from pytest_release.clock import SimulatedClock

def pytest_release_make_clock(config):
    return SimulatedClock()

def pytest_release_phase_finished(release, phase, status):
    plan = os.environ.get("ALERTS_AFTER_DEPLOY")
    if phase.value != "execute" or not plan:
        return
    requests.post(os.environ["ALERTS_EXPORTER"] + "/set?" + plan.replace(",", "&"), timeout=5)
    expect = {tuple(x.split(":")) for x in os.environ["ALERTS_EXPECT"].split(",")}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alerts = requests.get(os.environ["ALERTS_AM"] + "/api/v2/alerts", timeout=5).json()
        if {(a["labels"]["alertname"], a["labels"].get("severity", "")) for a in alerts} == expect:
            return
        time.sleep(0.1)
    raise AssertionError("the alerts did not fire after the deploy: %r" % (alerts,))
"""


@dataclass
class AlertingStack:
    prometheus: PrometheusServer
    alertmanager_url: str
    alertmanager: subprocess.Popen[bytes] = field(repr=False)
    exporter: _Exporter = field(repr=False)
    home: Path

    def set(self, **levels: float) -> None:
        """`set(latency=2, down=0, billing_down=1)`: what the exporter serves from now on."""
        for key, value in levels.items():
            service, signal = ("billing", key[len("billing_"):]) if key.startswith("billing_") else ("orders", key)
            assert (service, signal) in self.exporter.levels, key
            self.exporter.levels[(service, signal)] = float(value)

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.exporter.server_address[1]}"

    def reset(self) -> None:
        for key in self.exporter.levels:
            self.exporter.levels[key] = 0.0

    def am_alerts(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.alertmanager_url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()

    def prom_alerts(self) -> list[dict[str, Any]]:
        body = requests.get(f"{self.prometheus.url}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}'}, timeout=5).json()
        return body["data"]["result"]

    def firing(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(alertname, severity) pairs firing in Alertmanager and in ALERTS."""
        am = {(a["labels"]["alertname"], a["labels"].get("severity", "")) for a in self.am_alerts()}
        prom = {(s["metric"]["alertname"], s["metric"].get("severity", "")) for s in self.prom_alerts()}
        return am, prom

    def wait_for(self, expected: set[tuple[str, str]], what: str = "") -> None:
        """Until exactly `expected` ((alertname, severity) pairs) fire in both Alertmanager and ALERTS."""
        deadline = time.monotonic() + DEADLINE_S
        seen: Any = None
        while time.monotonic() < deadline:
            seen = self.firing()
            if seen[0] == expected and seen[1] == expected:
                return
            time.sleep(0.1)
        pytest.fail(f"alerts did not reach {sorted(expected)} {what} within {DEADLINE_S:g} s: Alertmanager {sorted(seen[0])}, ALERTS {sorted(seen[1])}", pytrace=False)


def _alertmanager_binary() -> str:
    path = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if path is None:
        pytest.fail(f"`prometheus-alertmanager` is not on PATH: {ALERTMANAGER_HINT}", pytrace=False)
    return path


def start_alertmanager(home: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = _alertmanager_binary()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "alertmanager.yml"
    # A minimal config: one receiver that sends nowhere; the API is what the tests read.
    config.write_text("route:\n  receiver: nowhere\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: nowhere\n")
    for attempt in range(3):
        port = free_port()
        log = home / f"alertmanager-{port}.log"
        argv = [
            binary, f"--config.file={config}", f"--storage.path={home / f'data-{port}'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn",
        ]
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _running.add(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url, process
            except requests.RequestException:
                pass
            time.sleep(0.05)
        process.kill()
        process.wait()
        _running.discard(process)
        if "address already in use" not in log.read_text(errors="replace") or attempt == 2:
            pytest.fail(f"Alertmanager did not start:\n{log.read_text(errors='replace')[-2000:]}", pytrace=False)
    raise AssertionError("unreachable")


def start_rule_prometheus(home: Path, target: str, alertmanager: str) -> PrometheusServer:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("`prometheus` is not on PATH: install the Debian package prometheus", pytrace=False)
    rules = home / "rules.yml"
    rules.write_text(RULES)
    config_file = home / "prometheus.yml"
    config_file.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{str(rules)!r}]\n"
        "alerting:\n  alertmanagers:\n    - static_configs:\n"
        f"        - targets: [{alertmanager.split('://', 1)[1]!r}]\n"
        "scrape_configs:\n  - job_name: orders\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: [{target!r}]\n"
    )
    for attempt in range(3):
        port = free_port()
        data_dir = home / f"prometheus-{port}"
        data_dir.mkdir(parents=True)
        log_file = home / f"prometheus-{port}.log"
        argv = [
            binary, f"--config.file={config_file}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
        ]
        with open(log_file, "wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _running.add(process)
        server = PrometheusServer(f"http://127.0.0.1:{port}", port, data_dir, config_file, log_file, process)
        failure = _wait_ready(server)
        if failure is None:
            return server
        server.kill()
        if "address already in use" not in server.log_tail(50) or attempt == 2:
            pytest.fail(f"Prometheus did not start: {failure}\n{server.log_tail()}", pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def alerting_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    home = tmp_path_factory.mktemp("alerting")
    exporter = _Exporter()
    thread = threading.Thread(target=exporter.serve_forever, daemon=True)
    thread.start()
    am_url, am = start_alertmanager(home / "alertmanager")
    prometheus = None
    try:
        prometheus = start_rule_prometheus(home, f"127.0.0.1:{exporter.server_address[1]}", am_url)
        stack = AlertingStack(prometheus, am_url, am, exporter, home)
        stack.wait_for(set(), "at start")
        yield stack
    finally:
        if prometheus is not None:
            prometheus.stop()
        if am.poll() is None:
            am.terminate()
            try:
                am.wait(10)
            except subprocess.TimeoutExpired:
                am.kill()
                am.wait()
        _running.discard(am)
        exporter.shutdown()
        exporter.server_close()


@pytest.fixture
def alerts(alerting_stack: AlertingStack) -> Iterator[AlertingStack]:
    """The module's stack with every signal at 0 and no alert firing, before and after the test."""
    alerting_stack.reset()
    alerting_stack.wait_for(set(), "before the test")
    yield alerting_stack
    alerting_stack.reset()
