"""The embedded demo, for real: its service on loopback and the deploy/health scripts around it.

Every deploy here runs with captured output, so a service that kept the script's stdout open
would hang the run until the script timeout: these tests also pin the detached start.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.demo import DemoProject, service_running

TOKEN = "demo-3f9c2a7b51e04d8a"


def nothing_started(demo: DemoProject) -> bool:
    return demo.pid() is None and demo.version() is None


def test_deploy_replaces_the_running_version(demo_project: DemoProject) -> None:
    first = demo_project.deploy("v1")
    assert "starting v1 on 127.0.0.1:" in first.stdout
    assert "v1 is serving" in first.stdout
    assert demo_project.version() == "v1"
    old_pid = demo_project.pid()
    assert old_pid is not None and service_running(old_pid)

    second = demo_project.deploy("v2", "--strategy", "canary", "--canary-weight", "5%")
    assert "canary weight 5%" in second.stdout
    assert f"stopping v1 (pid {old_pid})" in second.stdout
    assert demo_project.version() == "v2"
    assert demo_project.get("/health").json() == {"status": "ok", "version": "v2"}
    new_pid = demo_project.pid()
    assert new_pid != old_pid and service_running(new_pid)
    assert not service_running(old_pid)


def test_rollback_restores_the_given_version(demo_project: DemoProject) -> None:
    demo_project.deploy("v2")
    # The product reads the script to confirm it supports rollback.
    assert "--rollback)" in (demo_project.path / "scripts" / "deploy.sh").read_text()

    result = demo_project.run("deploy.sh", "--env", "test", "--rollback", "v1", DEMO_DEPLOY_FAIL="1")

    assert result.returncode == 0, result.stderr
    assert "rolling back test to v1" in result.stdout
    assert demo_project.version() == "v1"


def test_stop_stops_the_service_and_is_idempotent(demo_project: DemoProject) -> None:
    demo_project.deploy("v1")
    pid = demo_project.pid()

    assert "stopping v1" in demo_project.stop().stdout

    assert demo_project.version() is None
    assert not service_running(pid)
    assert not demo_project.pid_file.exists()
    assert "demo service v1 stopped" in (demo_project.path / ".demo-state" / "service.log").read_text()
    assert "no demo service running" in demo_project.stop().stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--bogus"],
        ["--env", "test"],
        ["--env", "test", "--version"],
        ["--version", "v1"],
        ["--env", "test", "--version", "v1", "--rollback", "v0"],
        ["--env", "test", "--version", "v1", "--strategy", "yolo"],
        ["--env", "test", "--version", "v1", "--canary-weight", "5"],
        ["--env", "test", "--version", "v1", "--strategy", "canary", "--canary-weight", "500"],
        ["--env", "../prod", "--version", "v1"],
    ],
    ids=repr,
)
def test_bad_arguments_exit_2_with_usage(demo_project: DemoProject, args: list[str]) -> None:
    result = demo_project.run("deploy.sh", *args)

    assert result.returncode == 2
    assert "usage: deploy.sh" in result.stderr
    assert nothing_started(demo_project)


@pytest.mark.parametrize(
    "version",
    ["v1;touch pwned", "$(touch pwned)", "`touch pwned`", "../v1", "-v1", "v1\nv2", "v 1", "", "v" * 129],
    ids=repr,
)
@pytest.mark.parametrize("flag", ["--version", "--rollback"])
def test_hostile_version_strings_exit_2_and_start_nothing(
    demo_project: DemoProject, flag: str, version: str
) -> None:
    result = demo_project.run("deploy.sh", "--env", "test", flag, version)

    assert result.returncode == 2
    assert nothing_started(demo_project)
    assert not (demo_project.path / "pwned").exists()
    assert not (demo_project.path / "scripts" / "pwned").exists()


def test_longest_allowed_version_deploys(demo_project: DemoProject) -> None:
    version = "v" + "1.2_3+4-5" * 14 + "x" * 1
    assert len(version) == 128
    demo_project.deploy(version)
    assert demo_project.version() == version


def test_forced_deploy_failure_exits_3_and_leaves_the_running_version(demo_project: DemoProject) -> None:
    demo_project.deploy("v1")
    pid = demo_project.pid()

    result = demo_project.run("deploy.sh", "--env", "test", "--version", "v2", DEMO_DEPLOY_FAIL="1")

    assert result.returncode == 3
    assert "DEMO_DEPLOY_FAIL" in result.stderr
    assert demo_project.version() == "v1"
    assert demo_project.pid() == pid


@pytest.mark.timeout(30)
def test_forced_hang_prints_then_blocks_without_touching_the_service(demo_project: DemoProject) -> None:
    demo_project.deploy("v1")
    hung = subprocess.Popen(
        [str(demo_project.path / "scripts" / "deploy.sh"), "--env", "test", "--version", "v2"],
        env=demo_project.script_env(DEMO_DEPLOY_HANG="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert "deploying v2" in hung.stdout.readline()
        assert "DEMO_DEPLOY_HANG" in hung.stdout.readline()
        with pytest.raises(subprocess.TimeoutExpired):
            hung.wait(timeout=0.5)
        assert demo_project.version() == "v1"
    finally:
        os.killpg(hung.pid, signal.SIGKILL)
        hung.wait(timeout=5)
        hung.stdout.close()


def test_token_is_printed_only_when_leak_is_asked_for(demo_project: DemoProject) -> None:
    quiet = demo_project.deploy("v1", DEMO_API_TOKEN=TOKEN, DEMO_REGION="loopback-1")
    assert TOKEN not in quiet.stdout + quiet.stderr
    assert "DEMO_API_TOKEN is set" in quiet.stdout

    leaky = demo_project.deploy("v2", DEMO_API_TOKEN=TOKEN, DEMO_DEPLOY_LEAK="1")
    assert f"token={TOKEN}" in leaky.stdout


def test_env_files_name_the_deploy_keys() -> None:
    from tests.support.demo import DEMO_SOURCE

    example = (DEMO_SOURCE / ".env.example").read_text().split()
    real = dict(line.split("=", 1) for line in (DEMO_SOURCE / ".env").read_text().split())
    assert example == ["DEMO_API_TOKEN=", "DEMO_REGION="]
    assert real == {"DEMO_API_TOKEN": TOKEN, "DEMO_REGION": "loopback-1"}


def test_a_version_that_cannot_start_fails_the_deploy_with_its_log(demo_project: DemoProject) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", demo_project.port))
        squatter.listen()
        result = demo_project.run("deploy.sh", "--env", "test", "--version", "v1")

    assert result.returncode == 1
    assert "did not come up" in result.stderr
    assert "Address already in use" in result.stderr
    assert demo_project.pid() is None


def test_health_check_exit_codes(demo_project: DemoProject) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        result = demo_project.run("health-check.sh", "--env", "test")
        assert len(result.stdout.splitlines()) == 1, result.stdout
        return result

    assert check().returncode == 1  # nothing running
    demo_project.deploy("v1")
    assert check().returncode == 0
    demo_project.deploy("v9-unhealthy")
    down = check()
    assert down.returncode == 1
    assert "503" in down.stdout
    assert demo_project.run("health-check.sh", "--nope").returncode == 2


def test_items_api_contract(demo_project: DemoProject) -> None:
    demo_project.deploy("v1")

    created = demo_project.post("/items", {"name": "widget"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "name": "widget", "version": "v1"}
    assert demo_project.get("/items").json() == {"items": [{"id": 1, "name": "widget"}], "version": "v1"}

    for bad in (b"not json", b'{"nom": "x"}', b'{"name": 3}', b'{"name": ""}', b"[]", b""):
        answer = requests.post(demo_project.url + "/items", data=bad, timeout=5)
        assert answer.status_code == 400
        assert "error" in answer.json()
    assert demo_project.get("/nope").status_code == 404


def test_bad_version_is_healthy_for_20_requests_then_regresses(demo_project: DemoProject) -> None:
    demo_project.deploy("v3-bad")  # its readiness check of /version is counted request 1

    healthy = [demo_project.get("/items") for _ in range(19)]
    assert [r.status_code for r in healthy] == [200] * 19
    assert statistics.median(r.elapsed.total_seconds() for r in healthy) < 0.1

    regressed = [demo_project.get("/items") for _ in range(10)]
    assert [r.status_code for r in regressed] == [500, 500, 200, 200, 200] * 2
    assert all(r.elapsed.total_seconds() >= 0.15 for r in regressed)
    assert demo_project.get("/health").status_code == 200

    samples = scrape(demo_project)
    assert samples[("demo_http_requests_total", ("GET", "/items", "500"))] == 4
    assert samples[("demo_http_requests_total", ("GET", "/items", "200"))] == 25


def test_broken_version_fails_writes_but_serves_reads(demo_project: DemoProject) -> None:
    demo_project.deploy("v4-broken")

    assert demo_project.post("/items", {"name": "widget"}).status_code == 500
    assert demo_project.get("/items").status_code == 200
    assert demo_project.get("/health").status_code == 200


def test_slow_version_times_out_reads(demo_project: DemoProject) -> None:
    demo_project.deploy("v5-slow")

    with pytest.raises(requests.Timeout):
        demo_project.get("/items", timeout=0.5)
    assert demo_project.get("/health").status_code == 200


def test_metrics_are_exposed_and_do_not_count_scrapes(demo_project: DemoProject) -> None:
    demo_project.deploy("v1")
    for _ in range(3):
        demo_project.get("/items")
    demo_project.post("/items", {"name": "a"})
    demo_project.post("/items", {"name": "b"})
    requests.post(demo_project.url + "/items", data=b"junk", timeout=5)

    answer = demo_project.get("/metrics")
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples = scrape(demo_project)

    assert samples[("demo_http_requests_total", ("GET", "/version", "200"))] == 1  # the deploy's check
    assert samples[("demo_http_requests_total", ("GET", "/items", "200"))] == 3
    assert samples[("demo_http_requests_total", ("POST", "/items", "201"))] == 2
    assert samples[("demo_http_requests_total", ("POST", "/items", "400"))] == 1
    assert samples[("demo_http_request_duration_seconds_count", ("/items",))] == 6
    assert samples[("demo_http_request_duration_seconds_bucket", ("5.0", "/items"))] == 6
    assert samples[("demo_queue_depth", ())] == 2
    assert ("process_cpu_seconds_total", ()) in samples
    assert ("process_resident_memory_bytes", ()) in samples
    assert not [key for key in samples if "/metrics" in key[1]]
    assert not [key for key in samples if key[0].endswith("_created")]


def test_service_refuses_to_bind_beyond_loopback() -> None:
    from tests.support.demo import DEMO_SOURCE

    result = subprocess.run(
        [sys.executable, str(DEMO_SOURCE / "service.py"), "--version", "v1", "--port", "1", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


def scrape(demo: DemoProject) -> dict[tuple[str, tuple[str, ...]], float]:
    """Sample name and sorted label values -> value, from the live /metrics."""
    text = demo.get("/metrics").text
    return {
        (sample.name, tuple(value for _, value in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
