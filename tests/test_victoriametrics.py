"""VictoriaMetrics for real, beside Prometheus: both hold the suite's replay scenarios (Prometheus
backfilled with promtool, VictoriaMetrics through /api/v1/import/prometheus with ms timestamps),
and the provider must judge the same on both: the same backtest decisions, a scrape gap as no data,
range points matched to polls whatever grid the backend answers on, and never a sample from
before the change. VictoriaMetrics runs with its default flags (-search.latencyOffset 30s)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import requests

from pytest_release.backtest import parse_range, run_backtest
from pytest_release.clock import RealClock
from pytest_release.config import DEFAULT_RULES
from pytest_release.core.judge import WatchPolicy
from pytest_release.metrics import WAITING, MetricsUnavailable
from pytest_release.metrics.prometheus import PrometheusProvider
from pytest_release.metrics.promql import MetricNames, default_queries
from tests.support.prometheus_server import module_prometheus_factory  # noqa: F401 (fixture)
from tests.support.replay import DATA_START, T0, scenarios
from tests.support.victoria_server import module_victoria_factory  # noqa: F401 (fixture)

POLICY = WatchPolicy(rules=tuple(DEFAULT_RULES.values()))  # the runbook's (issue11: DEFAULT_RULES holds MetricRule)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)  # "now" for parse_range: after the scenarios


@pytest.fixture(scope="module")
def backends(module_prometheus_factory, module_victoria_factory):  # noqa: F811
    """{"prometheus": url, "victoriametrics": url}, both holding every scenario."""
    texts = list(scenarios().values())
    prometheus = module_prometheus_factory(backfill=texts)
    victoria = module_victoria_factory()
    for text in texts:
        victoria.import_openmetrics(text)
    return {"prometheus": prometheus.url, "victoriametrics": victoria.url}


def provider(url: str, job: str, **kwargs) -> PrometheusProvider:
    return PrometheusProvider(url, default_queries(MetricNames(selector=f'job="{job}"')), timeout=10, **kwargs)


def decisions(timeline) -> list[tuple]:
    """What the judge decided at each poll, without the floating-point noise of the values."""
    return [
        (e.time, e.decision.status.value, e.decision.trigger, tuple((r.metric, r.classification.value) for r in e.decision.readings))
        for e in timeline.entries
    ]


def values(timeline) -> list[dict]:
    return [dict(e.poll.values) for e in timeline.entries]


def close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12))
        for x, y in ((a[k], b[k]) for k in a)
    )


# --- the flavour and its settings ---------------------------------------------------------


def test_the_flavour_is_detected_from_build_info(backends):
    vm_buildinfo = requests.get(f"{backends['victoriametrics']}/api/v1/status/buildinfo", timeout=5).json()
    assert vm_buildinfo == {"status": "success", "data": {}}  # what 1.79 answers: the detection's premise
    with provider(backends["victoriametrics"], "clean") as vm, provider(backends["prometheus"], "clean") as prom:
        assert vm.backend.flavor == "prometheus" and vm.backend.detected_by == "default"  # nothing asked yet
        vm.check_reachable()
        prom.check_reachable()
        assert vm.backend.flavor == "victoriametrics" and dict(vm.backend.query_params) == {"nocache": "1"}
        assert prom.backend.flavor == "prometheus" and prom.backend.version.startswith("2.")
        assert vm.settings_line() == f"metrics: victoriametrics (build-info); query parameters nocache=1 at {backends['victoriametrics']}; stale after the poll's window"
        assert prom.settings_line().startswith(f"metrics: prometheus {prom.backend.version} (build-info); query parameters none at ")


def test_a_configured_flavour_and_query_params_go_on_every_query(backends):
    with provider(backends["victoriametrics"], "clean", flavor="victoriametrics", query_params={"extra_label": "job=clean"}) as vm:
        assert vm.backend.detected_by == "configured"
        assert dict(vm.backend.query_params) == {"nocache": "1", "extra_label": "job=clean"}
        sent: list[str] = []
        vm._session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.url))
        vm.sample(T0 + dt.timedelta(minutes=2), 60)
    assert sent and all("nocache=1" in url and "extra_label=job%3Dclean" in url for url in sent)


def test_victoria_with_default_flags_is_refused_without_nocache_with_the_exact_fix(backends):
    with provider(backends["victoriametrics"], "clean", query_params={"nocache": ""}) as vm:
        with pytest.raises(MetricsUnavailable) as refused:
            vm.check_reachable()
        message = str(refused.value)
        assert "does not answer with fresh data" in message
        assert "-search.latencyOffset=0s" in message and 'metrics.query_params.nocache: "1"' in message
        # During a watch it is no data with that reason, never the version of 30 s ago.
        samples = vm.sample(RealClock().now(), 60)
        assert set(samples.values()) == {None}
        assert all("answered as of +" in why and "latencyOffset" in why for why in samples.missing_reasons.values())
    with provider(backends["victoriametrics"], "clean") as vm:
        vm.check_reachable()  # the default settings: accepted
        assert abs(vm.evaluation_shift()) < 1.0


# --- the same decisions on both -----------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 7], ids=["on-the-grid", "start-off-the-grid"])
@pytest.mark.parametrize("job", ["spike", "drift", "gap", "clean"])
def test_the_replay_scenarios_give_the_same_backtest_decisions_on_both(backends, job, offset):
    start = T0 + dt.timedelta(seconds=offset)
    rng = parse_range(f"{start.isoformat()}..{(T0 + dt.timedelta(minutes=15)).isoformat()}", interval=60, now=NOW)
    timelines = {}
    for name, url in backends.items():
        with provider(url, job) as p:
            for method in ("range", "instant"):
                timelines[name, method] = run_backtest(p, POLICY, rng, interval=60, baseline_seconds=300, method=method)
    reference = timelines["prometheus", "range"]
    assert reference.rollback is not None if job in ("spike", "gap") else reference.rollback is None
    for key, timeline in timelines.items():
        assert decisions(timeline) == decisions(reference), key
    for name in backends:  # each backend's range path reads exactly what its instant queries read
        by_range, by_instant = timelines[name, "range"], timelines[name, "instant"]
        assert close(by_range.baseline, by_instant.baseline)
        assert all(close(a, b) for a, b in zip(values(by_range), values(by_instant))), name
    # Between the backends, the one documented difference: increase_prometheus does not
    # extrapolate to the window's edges, so counts and rates read (samples' span / window) lower:
    # 45/60 of Prometheus' with 15 s samples in a 60 s window, 285/300 for the 5-minute baseline.
    vm, prom = timelines["victoriametrics", "range"], reference
    assert_scaled(vm.baseline, prom.baseline, 285 / 300)
    for a, b in zip(values(vm), values(prom)):
        assert_scaled(a, b, 45 / 60)


def assert_scaled(vm: dict, prom: dict, factor: float) -> None:
    for metric in prom:
        expected = prom[metric]
        if metric in ("request_rate", "saturation", "requests") and expected is not None:
            expected *= factor
        got = vm[metric]
        assert (got is None) == (expected is None), (metric, got, expected)
        if got is not None:
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (metric, got, expected)


def test_range_points_are_matched_by_window_when_victoria_aligns_them_to_the_step(backends):
    start = DATA_START + dt.timedelta(seconds=307)  # off the 60 s grid
    end = start + dt.timedelta(minutes=70)  # 71 points: more than 50, so VictoriaMetrics aligns them
    query = 'sum(rate(http_requests_total{job="clean"}[60s]))'
    raw = requests.get(
        f"{backends['victoriametrics']}/api/v1/query_range",
        params={"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": "60"}, timeout=10,
    ).json()["data"]["result"][0]["values"]
    assert all(ts % 60 == 0 for ts, _ in raw)  # aligned to the step, not to START: the hazard is real
    rng = parse_range(f"{start.isoformat()}..{end.isoformat()}", interval=60, now=NOW)
    uncached = {"query_params": {"nocache": ""}, "flavor": "victoriametrics"}  # as without nocache=1
    with provider(backends["victoriametrics"], "clean", **uncached) as vm, provider(backends["prometheus"], "clean") as prom:
        by_vm = vm.sample_range(start, end, 60, 60)["request_rate"]
        by_prom = prom.sample_range(start, end, 60, 60)["request_rate"]
        timeline = run_backtest(vm, POLICY, rng, interval=60, baseline_seconds=300)
    assert [t for t, _ in by_vm] == [t for t, _ in by_prom] == [round(start.timestamp()) + 60 * k for k in range(71)]
    assert all(v is not None and math.isclose(v, 10.0) for _, v in by_prom)
    assert all(v is not None and math.isclose(v, 7.5) for _, v in by_vm)  # 45 s of samples in 60 s: not extrapolated
    assert timeline.rollback is None and {e.decision.status.value for e in timeline.entries} == {"ok"}  # a clean history


# --- a scrape gap, and the change --------------------------------------------------------


def test_a_scrape_gap_is_no_data_on_both(backends):
    """The gap scenario has no samples after T0 until T0+4m."""
    at = T0 + dt.timedelta(minutes=2)
    for name, url in backends.items():
        with provider(url, "gap") as p:
            samples = p.sample(at, 60)
            ranged = p.sample_range(at - dt.timedelta(minutes=1), at, 60, 60)
        assert samples["request_rate"] is None and samples["requests"] is None, name
        assert samples.missing_reasons["request_rate"] in ("newest sample 120s old", "no sample within the backend's lookback"), (name, samples.missing_reasons)
        assert [v for _, v in ranged["request_rate"]] == [None, None], name


@pytest.mark.parametrize("flavor", ["prometheus", "victoriametrics"])
def test_samples_older_than_the_change_never_judge(backends, flavor):
    with provider(backends[flavor], "clean") as p:
        waiting = p.sample(T0 + dt.timedelta(seconds=0.5), 60, not_before=T0)
        assert set(waiting.values()) == {None} and all(why.startswith(WAITING) for why in waiting.missing_reasons.values())

        first = p.sample(T0 + dt.timedelta(seconds=45), 60, not_before=T0)
        assert first["request_rate"] is not None and math.isclose(first["request_rate"], 10.0 if flavor == "prometheus" else 10 * 30 / 45)
        for metric, (since, newest) in first.coverage.items():
            assert since >= T0, (metric, since)  # the window was clipped to the change
            assert newest <= T0 + dt.timedelta(seconds=45)

    with provider(backends[flavor], "gap") as p:  # the newest sample (T0) is older than the change (T0+10s)
        blind = p.sample(T0 + dt.timedelta(seconds=70), 60, not_before=T0 + dt.timedelta(seconds=10))
    assert blind["request_rate"] is None
    assert blind.missing_reasons["request_rate"].startswith("no sample since the change ended")
