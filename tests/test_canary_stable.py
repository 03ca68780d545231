"""A canary step judged against the stable version at the same time (`canary.baseline: stable`):
the pure comparison (core.canary_compare, every branch), the config keys, the demo router's
shared-dependency fault, and real canary releases of the demo behind its router (local-lb): a
fault of the shared dependency escalates "not the release: both versions degraded" (where the
pre-release comparison blames and rolls back the release), a fault of the canary alone rolls
back from the step naming canary vs stable, a stable side without data never passes."""

from __future__ import annotations

import re
import textwrap

import pytest
import requests

from pytest_release.config import ConfigError, load_config
from pytest_release.core.canary_compare import (
    BOTH_DEGRADED,
    CanaryVsStable,
    PairedDecision,
    PairedPoll,
    compare,
)
from pytest_release.core.alerts import Alert, AlertPolicy, AlertsSeen
from pytest_release.core.judge import DEFAULT_RULES, Poll, Status, WatchPolicy
from pytest_release.report.canary import summary
from tests.test_canary_bluegreen import edit_lb, junit_cases

QUALITY = (DEFAULT_RULES["error_rate"], DEFAULT_RULES["p99_latency"])
POLICY = WatchPolicy(rules=QUALITY, min_requests=5, no_data_after=12, interval=4)
PRE = {"error_rate": 0.0, "p99_latency": 0.02}
HEALTHY = {"error_rate": 0.0, "p99_latency": 0.02}


def paired(t: float, canary: dict, stable: dict | None, *, requests: float = 20, stable_requests: float = 380,
           stable_error: str | None = None, health_ok: bool | None = None) -> PairedPoll:
    side = None if stable is None else Poll(elapsed=t, values=stable, requests=stable_requests, error=stable_error)
    return PairedPoll(elapsed=t, values=canary, requests=requests, health_ok=health_ok, stable=side)


def decide(*polls: PairedPoll, policy: WatchPolicy = POLICY) -> PairedDecision:
    return compare(policy, PRE, list(polls), canary_series="v2", stable_series="v1")


# --- the pure comparison ------------------------------------------------------------------------
def test_a_healthy_canary_beside_a_healthy_stable_version_is_ok_and_shows_both_series():
    d = decide(paired(4, HEALTHY, {"error_rate": 0.0, "p99_latency": 0.021}))
    assert d.status is Status.OK and d.reasons == () and d.trigger is None
    error, p99 = d.side_by_side
    assert (error.metric, error.canary, error.stable, error.pre_release, error.comparison, error.outcome) == (
        "error_rate", 0.0, 0.0, 0.0, "canary vs stable", "ok")
    assert p99.stable == 0.021 and p99.vs_stable == pytest.approx(0.02 / 0.05) and d.stable_requests == 380


def test_the_canary_regressing_against_the_stable_version_is_hard_and_names_canary_vs_stable():
    d = decide(paired(8, {"error_rate": 0.3, "p99_latency": 0.02}, {"error_rate": 0.0, "p99_latency": 0.02}))
    assert d.status is Status.HARD and d.trigger_metric == "error_rate"
    assert d.trigger == "canary vs stable: error_rate breached 30.0x the stable version at T+8s (v2 0.3, v1 0)"
    assert d.side_by_side[0].outcome == "hard" and d.side_by_side[0].vs_stable == pytest.approx(30)
    assert any("canary vs stable" in r for r in d.reasons)


def test_a_soft_regression_against_the_stable_version_escalates_once():
    # stable 0.1 (10x the pre-release baseline), canary 0.16: 1.6x the stable version, soft; 320
    # errors in 2000 requests show it (core.evidence), 3 in 20 would not
    poll = paired(4, {"error_rate": 0.16, "p99_latency": 0.02}, {"error_rate": 0.1, "p99_latency": 0.02}, requests=2000)
    d = decide(poll)
    assert d.status is Status.SOFT and d.trigger is None and d.soft_keys == ("vs-stable:error_rate",)
    judge = CanaryVsStable(POLICY, PRE, canary_series="v2", stable_series="v1")
    first = judge.step(poll, final=False)
    assert first.ask and first.asked_about == ("vs-stable:error_rate",)
    judge.accept(first.asked_about)
    again = judge.step(paired(8, {"error_rate": 0.16, "p99_latency": 0.02}, {"error_rate": 0.1, "p99_latency": 0.02}, requests=2000), final=False)
    assert again.decision.status is Status.SOFT and not again.ask


def test_both_versions_degraded_alike_escalate_as_not_the_release_never_hard():
    d = decide(paired(4, {"error_rate": 0.4, "p99_latency": 0.02}, {"error_rate": 0.4, "p99_latency": 0.02}))
    assert d.status is Status.SOFT and d.trigger is None  # 40x the pre-release baseline, yet never a rollback
    assert d.soft_keys == ("both-degraded:error_rate",)
    (reason,) = d.reasons
    assert f"{BOTH_DEGRADED}: error_rate v2 0.4 (40.0x the pre-release baseline), v1 0.4 (40.0x the pre-release baseline 0)" in reason
    row = d.side_by_side[0]
    assert (row.canary, row.stable, row.pre_release, row.outcome) == (0.4, 0.4, 0.0, BOTH_DEGRADED)
    assert row.vs_stable == pytest.approx(1.0) and row.canary_vs_pre == row.stable_vs_pre == pytest.approx(40)


def test_the_canary_over_the_pre_release_baseline_but_not_the_stable_version_is_not_a_pass():
    # stable 0.011 (1.1x the floor: within), canary 0.016 (1.6x the floor: soft, shown by 320 errors
    # in 20000 requests; 1.45x the stable: within)
    d = decide(paired(4, {"error_rate": 0.016, "p99_latency": 0.02}, {"error_rate": 0.011, "p99_latency": 0.02}, requests=20000))
    assert d.status is Status.SOFT and d.soft_keys == ("pre-release:error_rate",)
    assert BOTH_DEGRADED not in d.reasons[0] and "not a pass" in d.reasons[0]


@pytest.mark.parametrize(
    ("stable", "kwargs", "why"),
    [
        (None, {}, "the stable version's metrics were not read"),
        ({"error_rate": 0.0, "p99_latency": 0.0}, {"stable_requests": 0}, "0 requests in the last 4s"),
        ({"error_rate": None, "p99_latency": None}, {}, "no sample"),
        ({"error_rate": 0.0, "p99_latency": 0.02}, {"stable_requests": 3}, "3 requests in the last 4s"),
        ({}, {"stable_error": "Prometheus timed out"}, "Prometheus timed out"),
    ],
    ids=["not-read", "no-traffic", "no-series", "too-few-requests", "backend-gap"],
)
def test_a_stable_side_without_data_never_passes(stable, kwargs, why):
    d = decide(paired(4, HEALTHY, stable, **kwargs))
    assert d.status is Status.SOFT and d.trigger is None
    assert d.soft_keys == ("stable-no-data:error_rate", "stable-no-data:p99_latency")
    assert all("no pass for" in r and why in r for r in d.reasons), d.reasons
    assert d.side_by_side[0].comparison == "canary vs pre-release baseline"


def test_without_stable_data_a_canary_breaching_the_pre_release_baseline_still_rolls_back():
    d = decide(paired(4, {"error_rate": 0.3, "p99_latency": 0.02}, None))
    assert d.status is Status.HARD and d.trigger == "error_rate breached 30.0x baseline at T+4s"
    assert "stable-no-data:error_rate" in d.soft_keys


def test_a_canary_without_data_follows_the_judges_no_data_rules():
    quiet = {"error_rate": 0.0, "p99_latency": 0.0}  # and 0 requests: too little traffic
    first = decide(paired(4, quiet, HEALTHY, requests=0))
    assert first.status is Status.OK and first.side_by_side[0].comparison == "canary vs pre-release baseline"
    late = decide(paired(4, quiet, HEALTHY, requests=0), paired(8, quiet, HEALTHY, requests=0), paired(12, quiet, HEALTHY, requests=0))
    assert late.status is Status.HARD and "too little traffic to judge error_rate" in late.trigger
    judge = CanaryVsStable(POLICY, PRE)
    end = judge.step(paired(4, quiet, HEALTHY, requests=0), final=True)  # a step never passes blind
    assert end.decision.status is Status.HARD


def test_rules_that_do_not_compare_across_versions_stay_against_the_pre_release_baseline():
    policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"], DEFAULT_RULES["request_rate"]), min_requests=5, interval=4)
    d = compare(policy, {"error_rate": 0.0, "request_rate": 50.0}, [paired(4, {"error_rate": 0.0, "request_rate": 2.5}, {"error_rate": 0.0, "request_rate": 47.5})])
    # a 5% share is 1/19 of the stable version's rate: compared across versions it would read "traffic lost"
    assert d.side_by_side[1].comparison == "canary vs pre-release baseline"
    assert d.status is Status.HARD and "traffic lost" in d.trigger  # against the pre-release baseline, as today


def test_health_is_judged_once_per_poll_as_the_watch_window_does():
    policy = WatchPolicy(rules=QUALITY, min_requests=5, interval=4, health_failures_hard=2)
    polls = [paired(t, HEALTHY, HEALTHY, health_ok=False) for t in (4, 8)]
    d = compare(policy, PRE, polls)
    assert d.status is Status.HARD and d.trigger_metric == "health" and d.health_failures == 2


def test_a_canary_worse_than_the_stable_version_by_its_ratio_only_is_inconclusive_never_a_pass():
    # 1 error in 20 requests against a stable version without errors: 5x by the ratio, no evidence
    d = decide(paired(4, {"error_rate": 0.05, "p99_latency": 0.02}, HEALTHY))
    assert d.status is Status.OK and d.reasons == ()  # no finding ...
    assert d.readings[0].classification.value == "inconclusive"  # ... and no pass
    assert d.side_by_side[0].outcome == "inconclusive"


def test_a_firing_alert_in_a_canary_step_is_judged_once_per_poll():
    critical = Alert.of({"alertname": "OrdersDown", "service": "orders", "severity": "critical"}, since="2026-12-02T00:34:49Z")
    policy = WatchPolicy(rules=QUALITY, min_requests=5, interval=4, alerts=AlertPolicy())
    poll = PairedPoll(elapsed=4, values=HEALTHY, requests=20, stable=Poll(elapsed=4, values=HEALTHY, requests=380),
                      alerts=AlertsSeen(firing=(critical,)))
    d = compare(policy, PRE, [poll])
    assert d.status is Status.HARD and d.trigger.startswith('alert OrdersDown{service="orders"} firing (severity critical: hard')
    assert sum("OrdersDown" in reason for reason in d.reasons) == 1  # not once per rule


# --- config --------------------------------------------------------------------------------------
def canary_config(tmp_path, body: str):
    path = tmp_path / "release.yaml"
    path.write_text("environments:\n  prod:\n    strategies: [canary]\n    canary:\n" + textwrap.indent(textwrap.dedent(body), "      "))
    return path


BOTH = "selector: 'version=\"{version}\"'\nstable_selector: 'version=\"{stable}\"'\n"


@pytest.mark.parametrize(
    ("body", "baseline"),
    [
        (BOTH, "stable"),  # both selectors: the default is the comparison at the same time
        ("selector: 'version=\"{version}\"'\n", "pre-release"),  # one side only: today's
        ("step_analysis: 1m\n", "pre-release"),
        (BOTH + "baseline: pre-release\n", "pre-release"),
    ],
)
def test_canary_baseline_defaults_to_stable_when_both_selectors_are_set(tmp_path, body, baseline):
    assert load_config(canary_config(tmp_path, body)).environment("prod").canary.baseline == baseline


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("baseline: stable\nselector: 'version=\"{version}\"'\n",
         r"release\.yaml:\d+: environments\.prod\.canary\.baseline: 'stable' needs canary\.selector and canary\.stable_selector"),
        ("baseline: stable\n", r"environments\.prod\.canary\.baseline: 'stable' needs"),
        (BOTH + "baseline: yesterday\n", r"environments\.prod\.canary\.baseline: expected 'stable' or 'pre-release', got 'yesterday'"),
        ("selector: 'version=\"{version}\"'\nstable_selector: [v1]\n", r"environments\.prod\.canary\.stable_selector: expected"),
        (BOTH + "stable_selectr: x\n", r"canary\.stable_selectr: unknown key"),
    ],
)
def test_bad_canary_baseline_names_the_key(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_config(canary_config(tmp_path, body))


def test_a_bad_canary_baseline_changes_nothing(demo_release):
    """A usage error before anything runs: v1 still serves, no report, no deploy."""
    result = demo_release.demo.run("deploy.sh", "--env", "local-lb", "--version", "v1")
    assert result.returncode == 0, result.stdout + result.stderr
    edit_lb(demo_release, r"^      stable_selector: .*$", "      baseline: stable")
    generation = demo_release.demo.router()["generation"]
    run = demo_release.run("v2", "--release-env=local-lb")
    assert run.ret == 4, run.stdout.str()
    run.stderr.fnmatch_lines(["*canary.baseline: 'stable' needs canary.selector and canary.stable_selector*"])
    assert demo_release.demo.router()["generation"] == generation and demo_release.demo.version() == "v1"
    assert not demo_release.reports()


# --- the demo router's shared-dependency fault ---------------------------------------------------
def test_the_router_fault_fails_the_same_share_of_every_versions_requests(demo_release):
    demo = demo_release.demo
    assert demo.run("deploy.sh", "--env", "local-lb", "--version", "v1").returncode == 0
    assert demo.run("deploy.sh", "--env", "local-lb", "--version", "v2", "--strategy", "canary", "--canary-weight", "50").returncode == 0
    bad = demo.run("fault.sh", "--errors", "140")
    assert bad.returncode == 2 and "fault.errors must be from 0 to 1" in bad.stderr
    assert demo.router()["fault"] == {}  # refused: nothing changed
    on = demo.run("fault.sh", "--errors", "25")
    assert on.returncode == 0, on.stdout + on.stderr
    statuses = [requests.get(demo.url + "/items", timeout=5).status_code for _ in range(40)]
    assert statuses.count(503) == 10  # exactly 25%: every 4th of each side's requests
    latest = demo.router()["history"][-1]
    assert latest["fault"] == {"errors": 0.25} and latest["failed_by_fault"] == {"blue": 5, "green": 5}
    assert requests.get(demo.preview_url + "/items", timeout=5).status_code == 200  # the release's own checks pass
    assert demo.run("fault.sh", "--clear").returncode == 0
    assert {requests.get(demo.url + "/items", timeout=5).status_code for _ in range(8)} == {200}


# --- real canary releases on local-lb ------------------------------------------------------------
FAULT_CONFTEST = """
import subprocess
from pytest_release.clock import SimulatedClock


def pytest_release_make_clock(config):
    return SimulatedClock()


def fault(release, *args):
    script = release.config.path.parent / "scripts" / "fault.sh"
    done = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def pytest_release_phase_finished(release, phase, status):
    if phase.value == "execute":  # the baseline is recorded, the canary deployed: the dependency fails
        fault(release, "--errors", "40")


def pytest_release_decision(release, phase, decision, by):
    if decision.startswith("soft breach: C) extend"):  # while the window is extended, it recovers
        fault(release, "--clear")


def pytest_release_notify(release, event, detail):
    if event == "rolling-back":  # so that the rollback's own verification sees the dependency healthy
        fault(release, "--clear")
"""


@pytest.fixture
def lb_fault_release(demo_release):
    """v1 behind the router; the release's conftest injects the shared fault after phase 3."""
    result = demo_release.demo.run("deploy.sh", "--env", "local-lb", "--version", "v1")
    assert result.returncode == 0, result.stdout + result.stderr
    edit_lb(demo_release, r"^      duration: 20s", "      duration: 6s")
    edit_lb(demo_release, r"^      steps: \[5, 25, 50, 100\]", "      steps: [5, 50, 100]")
    edit_lb(demo_release, r"^      step_analysis: 12s", "      step_analysis: 8s")
    demo_release.pytester.makeconftest(FAULT_CONFTEST)
    return demo_release


def faulty_routings(demo) -> list[dict]:
    return [h for h in demo.router()["history"] if h["fault"]]


def test_a_shared_fault_escalates_as_not_the_release_and_the_release_goes_on(lb_fault_release):
    result = lb_fault_release.run("v2", "--release-env=local-lb", "--release-on-soft-breach=extend:8s", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        f"*canary 5% T+4s, 4s left: error_rate 0.* vs stable 0.* (*x) {BOTH_DEGRADED} · p99_latency * ok · status soft",
        "*soft breach answered: C) extend the window by 8s (by --release-on-soft-breach=extend:8s)",
        "*canary step 1/3 (5%): passed; next 50%",
        "Released",
    ])
    report = lb_fault_release.report()
    # 40% of each version's requests (the router fails exactly that share of each, up to the one
    # request a poll's edge can cut): ~40x the pre-release baseline each, ~1.0x one another
    assert re.search(
        rf"soft breach at T\+4s: {BOTH_DEGRADED}: error_rate the canary v2 0\.\d+ \(\d\d\.\d+x the pre-release baseline\),"
        r" the stable v1 0\.\d+ \(\d\d\.\d+x the pre-release baseline 0\); canary vs stable (0\.9|1\.)\d*x, within the rule", report)
    row = re.search(r"^\| T\+4s \| soft \| error_rate \| (.*)$", report, re.M).group(1)  # both series, side by side
    assert re.match(r"0\.\d+ \([01]\.\d\dx stable, \d\d\.\d\dx pre-release\), 1\d req \| 0\.\d+ \(\d\d\.\d\dx pre-release\), 19\d req \| 0 \| canary vs stable \|", row), row
    assert f"**{BOTH_DEGRADED}**" in row
    assert junit_cases(lb_fault_release.pytester)["test_canary_step[5%]"] == "passed"
    (routing,) = faulty_routings(lb_fault_release.demo)  # the fault hurt both versions, alike
    assert routing["failed_by_fault"]["blue"] > 0 and routing["failed_by_fault"]["green"] > 0
    assert lb_fault_release.demo.version() == "v2"


def test_the_same_shared_fault_judged_against_the_pre_release_baseline_blames_the_release(lb_fault_release):
    """Today's comparison, for contrast: the dependency's fault rolls the healthy canary back."""
    edit_lb(lb_fault_release, r"^      stable_selector: .*$", "      baseline: pre-release")
    result = lb_fault_release.run("v2", "--release-env=local-lb", "--release-on-soft-breach=extend:8s")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: canary step 1/3 (5%): error_rate breached 40.0x baseline at T+4s*"])
    assert BOTH_DEGRADED not in lb_fault_release.report()


def test_a_shared_fault_answered_rollback_rolls_back_by_that_answer_not_as_the_releases_breach(lb_fault_release):
    result = lb_fault_release.run("v2", "--release-env=local-lb", "--release-on-soft-breach=rollback")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Rolled-Back: canary step 1/3 (5%): soft breach at T+4s treated as hard (answered rollback by --release-on-soft-breach=rollback)*"
        f"{BOTH_DEGRADED}*",
    ])
    assert "canary vs stable: error_rate breached" not in result.stdout.str()
    assert lb_fault_release.demo.version() == "v1"


def test_a_stable_side_without_data_escalates_and_never_passes(lb_fault_release):
    lb_fault_release.pytester.makeconftest(FAULT_CONFTEST.replace('fault(release, "--errors", "40")', "pass"))
    edit_lb(lb_fault_release, r"^      stable_selector: .*$", "      stable_selector: 'version=\"{stable}-retired\"'")
    result = lb_fault_release.run("v2", "--release-env=local-lb", "--release-on-soft-breach=rollback")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: canary step 1/3 (5%): soft breach at T+4s treated as hard*no pass for error_rate*"])
    report = lb_fault_release.report()
    assert "no pass for error_rate: the stable v1 has no data to compare the canary v2 with" in report
    assert lb_fault_release.demo.version() == "v1"


def test_the_terminal_line_of_a_paired_poll_names_both_series():
    both = decide(paired(4, {"error_rate": 0.4, "p99_latency": 0.02}, {"error_rate": 0.4, "p99_latency": 0.02}))
    assert summary(both) == f"error_rate 0.4 vs stable 0.4 (1.00x) {BOTH_DEGRADED} · p99_latency 0.02 vs stable 0.02 (0.40x) ok · status soft"
    blind = decide(paired(4, HEALTHY, None))
    assert summary(blind) == "error_rate 0 (0.00x pre-release) no stable data · p99_latency 0.02 (0.40x pre-release) no stable data · status soft"
