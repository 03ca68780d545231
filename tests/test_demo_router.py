"""The demo's router (examples/demo/router.py) and the deploy script's router topology, for real:
two instances behind a router on loopback, traffic split by weight for a canary, one side live
for blue-green, the preview listener reaching only the new version, and every request counted
per instance."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.demo import DEMO_SOURCE, DemoProject, service_running


def load_router():
    spec = importlib.util.spec_from_file_location("demo_router", DEMO_SOURCE / "router.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


router = load_router()


# --- the pure parts -----------------------------------------------------------------------------
def routing(weights, preview=None):
    return router.Routing(generation=1, primary="blue", preview=preview, weights=weights,
                          slots={"blue": (1001, "v1"), "green": (1002, "v2")})


@pytest.mark.parametrize("blue, green", [(95, 5), (75, 25), (50, 50), (0, 100)])
def test_weighted_round_robin_gives_exact_shares(blue, green):
    balancer = router.Balancer()
    balancer.apply(routing({"blue": blue, "green": green}))
    picks = [balancer.pick()[0] for _ in range(200)]
    assert picks.count("green") == 2 * green and picks.count("blue") == 2 * blue
    if green == 5:  # spread out, not bunched: every 20th request
        assert [i for i, p in enumerate(picks) if p == "green"] == list(range(picks.index("green"), 200, 20))
    assert balancer.describe()["history"][-1]["served"] == {"blue": 2 * blue, "green": 2 * green}


def test_nothing_routed_and_preview():
    balancer = router.Balancer()
    assert balancer.pick() is None and balancer.preview() is None
    balancer.apply(routing({"blue": 100, "green": 0}, preview="green"))
    assert balancer.preview() == ("green", 1002, "v2")
    assert balancer.describe()["history"][-1]["preview_served"] == {"blue": 0, "green": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"slots": {"red": {"port": 1, "version": "v1"}}}, "unknown slot 'red'"),
        ({"slots": {"blue": {"port": 0, "version": "v1"}}}, "slot blue: needs a port and a version"),
        ({"weights": {"blue": 101}}, "weight of 'blue' must be 0-100"),
        ({"primary": "purple"}, "primary must be blue or green"),
    ],
)
def test_a_bad_state_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        router.Routing.parse(data)


# --- the router in front of real instances ------------------------------------------------------
def versions_seen(demo: DemoProject, n: int, url: str | None = None) -> list[str]:
    with requests.Session() as session:
        return [session.get((url or demo.url) + "/version", timeout=5).json()["version"] for _ in range(n)]


def deploy(demo: DemoProject, *args: str) -> subprocess.CompletedProcess[str]:
    result = demo.run("deploy.sh", "--env", "test-lb", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_running_service_moves_behind_the_router_and_a_canary_gets_its_share(demo_project):
    demo = demo_project
    demo.deploy("v1")  # the single-process topology first
    moved = deploy(demo, "--version", "v1")
    assert "moving v1 behind a router" in moved.stdout and "v1 already takes all traffic" in moved.stdout
    assert demo.version() == "v1" and demo.pid() is None  # the router answers on DEMO_PORT now

    canary = deploy(demo, "--version", "v2", "--strategy", "canary", "--canary-weight", "5")
    assert "routing: blue (v1) 95%, green (v2) 5%; preview: green" in canary.stdout
    assert versions_seen(demo, 100).count("v2") == 5
    assert set(versions_seen(demo, 5, demo.preview_url)) == {"v2"}  # the canary's own address

    deploy(demo, "--version", "v2", "--strategy", "canary", "--canary-weight", "50")
    assert versions_seen(demo, 100).count("v2") == 50
    promoted = deploy(demo, "--version", "v2", "--strategy", "canary", "--canary-weight", "100")
    assert "routing: green (v2) 100%, blue (v1) 0%; preview: blue" in promoted.stdout
    assert set(versions_seen(demo, 20)) == {"v2"}

    state = demo.router()
    assert [h["weights"]["green"] for h in state["history"]] == [0, 5, 50, 100]
    assert state["history"][1]["served"] == {"blue": 95, "green": 5}  # what each instance served, counted
    families = {f.name: f for f in text_string_to_metric_families(demo.get("/metrics").text)}
    by_version = {}
    for sample in families["demo_http_requests"].samples:
        if sample.name == "demo_http_requests_total":
            by_version[sample.labels["version"]] = by_version.get(sample.labels["version"], 0) + sample.value
    # every user request through the main listener, by the version that answered it (one
    # demo.version() call, then 100 at 95/5, 100 at 50/50 and 20 at 0/100); preview ones are not users'
    assert by_version == {"v1": 1 + 95 + 50, "v2": 5 + 50 + 20}


def test_blue_green_deploys_to_the_idle_side_then_switches_and_rolls_back(demo_project):
    demo = demo_project
    deploy(demo, "--version", "v1")
    idle = deploy(demo, "--version", "v2", "--strategy", "blue-green")
    assert "v2 is on the idle side (green" in idle.stdout
    assert set(versions_seen(demo, 10)) == {"v1"}  # users untouched
    assert set(versions_seen(demo, 3, demo.preview_url)) == {"v2"}

    deploy(demo, "--version", "v2", "--strategy", "blue-green", "--switch")
    assert set(versions_seen(demo, 10)) == {"v2"}
    assert set(versions_seen(demo, 3, demo.preview_url)) == {"v1"}  # the old side, idle, still up

    rolled = deploy(demo, "--rollback", "v1")
    assert "routing: blue (v1) 100%, green (v2) 0%" in rolled.stdout
    assert set(versions_seen(demo, 10)) == {"v1"}

    missing = demo.run("deploy.sh", "--env", "test-lb", "--version", "v9", "--strategy", "blue-green", "--switch")
    assert missing.returncode == 1 and "no side runs v9" in missing.stderr
    assert set(versions_seen(demo, 5)) == {"v1"}


def test_rollback_to_a_version_no_side_runs_starts_it_first(demo_project):
    demo = demo_project
    deploy(demo, "--version", "v2")
    deploy(demo, "--version", "v3", "--strategy", "canary", "--canary-weight", "100")
    rolled = deploy(demo, "--rollback", "v1")
    assert "starting v1 on" in rolled.stdout
    assert set(versions_seen(demo, 10)) == {"v1"}


def test_stop_ends_the_router_and_both_sides(demo_project):
    demo = demo_project
    deploy(demo, "--version", "v1")
    deploy(demo, "--version", "v2", "--strategy", "blue-green")
    state_dir = demo.path / ".demo-state"
    pids = {name: int((state_dir / f"{name}.pid").read_text()) for name in ("router", "blue", "green")}
    stopped = demo.stop()
    assert "stopping router" in stopped.stdout
    assert not service_running(pids["router"], b"router.py")
    assert not any(service_running(pids[side]) for side in ("blue", "green"))
    assert demo.version() is None
    assert not (state_dir / "router.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "v2", "--switch"], "--switch needs --version and --strategy blue-green"),
        (["--version", "v2", "--strategy", "canary", "--switch"], "--switch needs --version and --strategy blue-green"),
        (["--rollback", "v1", "--switch"], "--switch needs --version and --strategy blue-green"),
    ],
)
def test_bad_router_arguments_exit_2(demo_project, args, message):
    result = demo_project.run("deploy.sh", "--env", "test-lb", *args)
    assert result.returncode == 2 and message in result.stderr
    assert demo_project.version() is None


def test_a_canary_behind_the_router_needs_its_weight(demo_project):
    deploy(demo_project, "--version", "v1")
    result = demo_project.run("deploy.sh", "--env", "test-lb", "--version", "v2", "--strategy", "canary")
    assert result.returncode == 2 and "--strategy canary needs --canary-weight behind the router" in result.stderr
    assert set(versions_seen(demo_project, 5)) == {"v1"}
