"""Whole watch windows replayed against a real Prometheus holding backfilled scenarios.

A replay is a real release (the plugin in a pytest subprocess, every phase) of a tiny project:
its deploy script only records how it was called, its health script says healthy, its smoke test
reads a small real HTTP service on loopback, and its metrics come from a private Prometheus
loaded with OpenMetrics written by `scenario_openmetrics`. The release runs on a `SimulatedClock`
that starts at the scenario's deploy time, so the baseline is the backfilled history before it
and every poll queries the scenario at its own instant: a 15-minute window takes a second or two.

Timeline of every scenario (minutes since DATA_START): history from minute 0, the deploy at
minute 15 (T0), the window after it. `window(m)` turns minutes since DATA_START into T+ minutes.

Use the `replay` fixture (import it, with the fixtures it needs, into the test module)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.support.prometheus_server import (
    PrometheusFactory,
    PrometheusServer,
    scenario_openmetrics,
)
from tests.support.release_runs import ReleaseReports

DATA_START = dt.datetime(2026, 1, 1, 0, 45, tzinfo=dt.timezone.utc)
DEPLOY_MINUTE = 15  # T0: the deploy happens 15 minutes into the recorded history
T0 = DATA_START + dt.timedelta(minutes=DEPLOY_MINUTE)
DATA_MINUTES = 100  # enough for a 60-minute window, an extension and a rollback's short window
BASE_P99 = 0.2


def window(minute: float) -> float:
    """Minutes since the deploy (T+), from minutes since DATA_START."""
    return minute - DEPLOY_MINUTE


def scenarios() -> dict[str, str]:
    """job name -> OpenMetrics text. Every job serves 10 requests/s with a p99 of 0.2 s unless
    its scenario says otherwise."""
    return {
        "clean": scenario_openmetrics(DATA_START, DATA_MINUTES, job="clean"),
        # Errors during the 7th minute of the window (T+6m..T+7m): the poll at T+7m is the first
        # that can see them, and the minute after is clean again (so the rollback verifies).
        "spike": scenario_openmetrics(
            DATA_START, DATA_MINUTES, job="spike", error_ratio_at=lambda m: 0.3 if 6 <= window(m) < 7 else 0.0
        ),
        # p99 1.7x the baseline from T+5m on: soft (1.5x), never hard (3x).
        "drift": scenario_openmetrics(
            DATA_START, DATA_MINUTES, job="drift", latency_at=lambda m: BASE_P99 * 1.7 if window(m) >= 5 else BASE_P99
        ),
        # Nothing scraped for the first 4 minutes after the deploy.
        "gap": scenario_openmetrics(DATA_START, DATA_MINUTES, job="gap", present_at=lambda m: not 0 < window(m) < 4),
        # One request every 200 s, before and after the deploy: too little traffic to judge.
        "idle": scenario_openmetrics(DATA_START, DATA_MINUTES, job="idle", rps=0.005),
        # 10 requests/s, almost none in the first minute after the deploy (traffic lost), back
        # from T+1m (so the rolled-back version's short window sees traffic again).
        "lossy": scenario_openmetrics(DATA_START, DATA_MINUTES, job="lossy", rps=lambda m: 0.005 if 0 <= window(m) < 1 else 10.0),
    }


DEPLOY_SCRIPT = """\
#!/bin/sh
# A stand-in deploy script: it changes nothing and records how it was called.
#   deploy.sh --env ENV --version VERSION --strategy STRATEGY
#   deploy.sh --env ENV --rollback VERSION
echo "$*" >> "$(dirname "$0")/../deploy-calls.log"
echo "deploy.sh: $*"
"""

HEALTH_SCRIPT = """\
#!/bin/sh
# Healthy unless a test drops a file named `unhealthy` into the project.
if [ -e "$(dirname "$0")/../unhealthy" ]; then
    echo unhealthy
    exit 1
fi
echo healthy
exit 0
"""

# The pre-release gate's evidence (docs/acceptance-criteria.md): one criterion, met, and the
# test report that proves it.
ACCEPTANCE = """\
| ID   | Criterion                 | Status | Critical | Tests                                |
|------|---------------------------|--------|----------|--------------------------------------|
| AC-1 | The service answers reads | met    | yes      | tests/test_service.py::test_answers |
"""

JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1">
<testcase classname="tests.test_service" name="test_answers" time="0.1" />
</testsuite></testsuites>
"""

CONFTEST = """\
import datetime as dt
import os
import signal

from pytest_release.clock import SimulatedClock

START = dt.datetime.fromisoformat({start!r})
KILL = {kill!r}  # (seconds after the deploy, pid): SIGKILL that process when the clock passes it


class ReplayClock(SimulatedClock):
    \"\"\"The scenario's time. Killing Prometheus from here happens at a simulated instant,
    between two polls, the way a crash happens between two polls in life.\"\"\"

    def sleep(self, seconds):
        global KILL
        super().sleep(seconds)
        if KILL is not None and self.monotonic() >= KILL[0]:
            os.kill(KILL[1], signal.SIGKILL)
            KILL = None


def pytest_release_make_clock(config):
    return ReplayClock(start=START)
"""


@dataclass
class ReplayProject(ReleaseReports):
    pytester: pytest.Pytester
    prometheus: PrometheusServer
    service_url: str
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.pytester.path

    @property
    def release_dir(self) -> Path:
        return self.path / "_docs" / "04_release"

    def environment(self, name: str, job: str, *, kind: str = "staging", url: str | None = None, **watch: Any) -> None:
        """Add environment `name` reading job `job`; `watch` adds or overrides watch settings."""
        settings = {"interval": "1m", "baseline": "5m", "rollback_duration": "2m", **watch}
        self.environments[name] = {
            "kind": kind,
            "auto_proceed": True,
            "smoke": {"base_url": self.service_url, "endpoints": [{"name": "home", "path": "/"}]},
            "metrics": {
                "provider": "prometheus",
                "url": url or self.prometheus.url,
                "timeout": "5s",
                "names": {"selector": f'job="{job}"'},
            },
            "watch": settings,
        }
        config = {
            "release_dir": "_docs/04_release",
            "gate": {"changes": {"required": False}},  # a project outside git: no change summary
            "environments": self.environments,
        }
        (self.path / "release.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def kill_prometheus_at(self, seconds_after_deploy: float) -> None:
        self._conftest(kill=(seconds_after_deploy, self.prometheus.process.pid))

    def _conftest(self, kill: tuple[float, int] | None = None) -> None:
        (self.path / "conftest.py").write_text(CONFTEST.format(start=T0.isoformat(), kill=kill))

    def args(self, env: str, *extra: str, version: str = "v2") -> list[str]:
        return ["-p", "no:cacheprovider", f"--release-env={env}", f"--release-version={version}", "--release-rollback-to=v1", *extra]

    def run(self, env: str, *extra: str, version: str = "v2", timeout: float = 120) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*self.args(env, *extra, version=version), timeout=timeout)

    def deploy_calls(self) -> list[str]:
        log = self.path / "deploy-calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def watch_section(self) -> str:
        report = self.report()
        start = report.index("## Phase 5: Watch Window")
        end = report.index("\n## ", start + 1)
        return report[start:end]


def poll_rows(section: str) -> list[str]:
    """The T+ column of the watch section's poll table, in order."""
    return [line.split("|")[1].strip() for line in section.splitlines() if re.match(r"\| T\+\d", line)]


def make_project(pytester: pytest.Pytester, prometheus: PrometheusServer, service_url: str) -> ReplayProject:
    scripts = pytester.path / "scripts"
    scripts.mkdir()
    for name, text in (("deploy.sh", DEPLOY_SCRIPT), ("health-check.sh", HEALTH_SCRIPT)):
        script = scripts / name
        script.write_text(text)
        script.chmod(0o755)
    for relative, text in (("_docs/00_problem/acceptance_criteria.md", ACCEPTANCE), ("_docs/06_metrics/junit.xml", JUNIT)):
        target = pytester.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    project = ReplayProject(pytester, prometheus, service_url)
    project._conftest()
    return project


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def replay_service() -> Iterator[str]:
    """The service the smoke test reads: a real HTTP server on loopback answering 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def scenario_prometheus(module_prometheus_factory: PrometheusFactory) -> PrometheusServer:
    """One Prometheus holding every scenario, one job each (started once per test module)."""
    return module_prometheus_factory(backfill=list(scenarios().values()))


@pytest.fixture
def replay(
    pytester: pytest.Pytester, scenario_prometheus: PrometheusServer, replay_service: str, monkeypatch: pytest.MonkeyPatch
) -> ReplayProject:
    monkeypatch.delenv("CI", raising=False)
    return make_project(pytester, scenario_prometheus, replay_service)


@pytest.fixture
def own_prometheus_replay(
    pytester: pytest.Pytester, prometheus_factory: PrometheusFactory, replay_service: str, monkeypatch: pytest.MonkeyPatch
) -> ReplayProject:
    """A replay with a Prometheus of its own (holding the clean scenario), for tests that kill it."""
    monkeypatch.delenv("CI", raising=False)
    server = prometheus_factory(backfill=scenarios()["clean"])
    return make_project(pytester, server, service_url=replay_service)


__all__ = [
    "BASE_P99", "DATA_START", "DEPLOY_MINUTE", "ReplayProject", "T0", "make_project", "own_prometheus_replay",
    "poll_rows", "replay", "replay_service", "scenario_prometheus", "scenarios", "window",
]
