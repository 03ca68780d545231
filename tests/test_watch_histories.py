"""One judge, two drivers: every labelled history (tests/support/histories.py) replayed against a
real Prometheus both ways, as a live watch window on the simulated clock and as a backtest, on
the defaults (a release.yaml that names the metrics' job and nothing else). The decision
timelines must be identical, and each must end as the history's label says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_release.backtest import BacktestRange, run_backtest, timeline_json, timeline_lines
from pytest_release.clock import SimulatedClock
from pytest_release.config import load_config
from pytest_release.core.judge import Status
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.window import SoftAnswer, WatchWindow, measure_baseline, watch_policy
from tests.support.histories import BY_NAME, HEALTH_QUERY, HISTORIES, T0, every_openmetrics
from tests.support.prometheus_server import PrometheusFactory, PrometheusServer
from tests.support.run_histories import default_config


@pytest.fixture(scope="module")
def histories_prometheus(module_prometheus_factory: PrometheusFactory) -> PrometheusServer:
    return module_prometheus_factory(backfill=every_openmetrics())


def environment(tmp_path: Path, server: PrometheusServer, name: str):
    history = BY_NAME[name]
    query = HEALTH_QUERY.replace("$job", name) if history.health else ""
    return load_config(default_config(tmp_path, server.url, name, query)).environment("staging")


def live(env, config_dir: Path):
    """The live window, on a simulated clock at the deploy; every question answered continue."""
    clock = SimulatedClock(start=T0)
    provider = make_provider(env, config_path=config_dir, clock=clock)
    asked = []

    def on_soft(decision):
        asked.append(decision.elapsed)
        return SoftAnswer("continue", 0.0, "test")

    try:
        w = env.watch
        baseline = measure_baseline(provider, clock, w.baseline, historical=True, traffic=None)
        window = WatchWindow(
            provider=provider, policy=watch_policy(w), baseline=baseline, clock=clock, duration=w.duration,
            interval=w.interval, historical=True, on_soft=on_soft,
        )
        return window.run(), asked
    finally:
        provider.close()


def backtest(env, config_dir: Path):
    provider = make_provider(env, config_path=config_dir, clock=SimulatedClock(start=T0))
    try:
        rng = BacktestRange(T0, T0 + dt.timedelta(seconds=env.watch.duration))
        return run_backtest(provider, watch_policy(env.watch), rng, interval=env.watch.interval, baseline_seconds=env.watch.baseline)
    finally:
        provider.close()


def shape(step):
    d = step.decision
    return (step.poll.elapsed, d.status.value, d.reasons, d.trigger, step.ask, step.asked_about, step.final)


@pytest.mark.parametrize("name", [h.name for h in HISTORIES])
def test_live_and_backtest_decide_every_history_alike_and_as_labelled(histories_prometheus, tmp_path, name):
    history = BY_NAME[name]
    env = environment(tmp_path, histories_prometheus, name)
    outcome, asked = live(env, tmp_path)
    timeline = backtest(env, tmp_path)
    live_steps = [shape(s) for s in outcome.steps]
    back_steps = [shape(e.step) for e in timeline.entries]
    assert live_steps == back_steps[: len(live_steps)]  # the live window stops at the first hard breach
    assert [s[0] for s in live_steps if s[4]] == asked  # asked exactly where the timeline says
    if history.label == "Rolled-Back":
        assert outcome.status == "hard-breach" and history.trigger in outcome.trigger, outcome.trigger
        assert timeline.rollback is not None and timeline.rollback.decision.trigger == outcome.trigger
    elif history.label == "Escalated":
        assert outcome.passed and asked, (outcome.status, outcome.trigger)
        assert timeline.rollback is None and timeline.first_escalation is not None
    else:
        assert outcome.passed and not asked
        assert {e.decision.status for e in timeline.entries} == {Status.OK}
    assert "inf" not in "\n".join(timeline_lines(timeline)).replace("infinite", "")


def test_an_idle_window_is_not_released_and_says_traffic_is_the_remedy(histories_prometheus, tmp_path):
    outcome, _ = live(environment(tmp_path, histories_prometheus, "idle"), tmp_path)
    assert outcome.status == "hard-breach"
    assert outcome.trigger.startswith("too little traffic to judge error_rate since the window started (3m without data; 0.3")
    assert "requests in the last 1m" in outcome.trigger and "under min_requests 10 per poll" in outcome.trigger
    assert "`traffic:` (the built-in load generator)" in outcome.trigger
    assert "observability" not in outcome.trigger


def test_traffic_loss_is_named_and_blames_no_metric(histories_prometheus, tmp_path):
    outcome, _ = live(environment(tmp_path, histories_prometheus, "traffic-loss"), tmp_path)
    assert outcome.status == "hard-breach"
    assert outcome.trigger == "traffic lost at T+1m: request_rate 0.005, 0.05% of the baseline 10"
    readings = {r.metric: r for r in outcome.decisions[-1].readings}
    assert readings["saturation"].classification.value == "ok"  # its samples exist: not blamed
    assert readings["error_rate"].cause == "traffic"


def test_a_gap_mid_window_is_asked_about_once_and_says_since_when(histories_prometheus, tmp_path):
    outcome, asked = live(environment(tmp_path, histories_prometheus, "gap-mid"), tmp_path)
    assert outcome.passed and asked == [420.0]  # T+7m, not again at T+8m
    assert "soft breach at T+7m: no data for p99_latency since T+6m (no sample; 1m so far, hard after 3m without data)" in outcome.decisions[6].reasons


def test_the_backtest_json_says_where_a_persons_answer_would_differ(histories_prometheus, tmp_path):
    data = timeline_json(backtest(environment(tmp_path, histories_prometheus, "absent-end"), tmp_path))
    last = data["polls"][-1]["decision"]
    assert last["final"] and last["status"] == "soft" and last["ask"] and last["assumed_answer"] == "continue"
    assert "end:p99_latency" in last["asked_about"]
    assert any("the window ended while p99_latency had no data" in r for r in last["reasons"])
    assert data["summary"]["questions"] == 2  # T+14m (no data since T+13m) and the end at T+15m
    assert "B would have rolled back at that poll" in data["person"]
    assert data["policy"]["min_requests"] == 10.0


def test_health_from_promql_is_soft_once_and_hard_twice_in_a_row(histories_prometheus, tmp_path):
    blip, asked = live(environment(tmp_path, histories_prometheus, "health-blip"), tmp_path)
    assert blip.passed and asked == [300.0]
    assert blip.decisions[4].reasons == (
        'soft breach at T+5m: health check failed once (a single-interval blip) at T+5m (health query '
        'probe_success{job="health-blip"} = 0); hard at 2 in a row',
    )
    down, _ = live(environment(tmp_path, histories_prometheus, "health-down"), tmp_path)
    assert down.status == "hard-breach"
    assert down.trigger == 'health check failed 2 intervals in a row at T+8m (health query probe_success{job="health-down"} = 0)'
    timeline = timeline_json(backtest(environment(tmp_path, histories_prometheus, "health-down"), tmp_path))
    assert timeline["summary"]["rollback"]["trigger"] == down.trigger
    assert timeline["policy"]["health_query"] == 'probe_success{job="health-down"}'
