"""The Prometheus provider against a real Prometheus holding backfilled, deterministic traffic,
and against a tiny local HTTP server where the test needs to see what was sent."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.prometheus import (
    MetricsQueryError,
    PrometheusProvider,
    instant_value,
)
from pytest_release.metrics.promql import (
    STANDARD_METRICS,
    MetricNames,
    default_queries,
    render,
    window_literal,
)
from pytest_release.metrics.scrape import histogram_quantile
from tests.support.prometheus_server import (
    DEFAULT_BUCKETS,
    PrometheusFactory,
    PrometheusServer,
    free_port,
    p99_shape,
    scenario_openmetrics,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
MINUTES = 20
BASE_P99 = 0.2


def at(minute: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minute)


def queries(selector: str) -> dict[str, str]:
    return default_queries(MetricNames(selector=selector))


@pytest.fixture(scope="module")
def scenario_server(module_prometheus_factory: PrometheusFactory) -> PrometheusServer:
    """One Prometheus, three services: `demo` (10 rps; p99 1.7x from minute 5; 30% errors from
    minute 7), `late` (no samples for the first 4 minutes), `lazy` (clean, and its 5xx series
    was never created)."""
    demo = scenario_openmetrics(
        START, MINUTES, rps=10,
        error_ratio_at=lambda m: 0.3 if m >= 7 else 0.0,
        latency_at=lambda m: BASE_P99 * 1.7 if m >= 5 else BASE_P99,
        cpu_at=lambda m: 0.25,
    )
    late = scenario_openmetrics(START, MINUTES, rps=4, job="late", present_at=lambda m: m >= 4)
    lazy = scenario_openmetrics(START, MINUTES, rps=2, job="lazy", error_series_from_start=False)
    return module_prometheus_factory(backfill=[demo, late, lazy])


@pytest.fixture
def demo(scenario_server: PrometheusServer) -> Iterator[PrometheusProvider]:
    with PrometheusProvider(scenario_server.url, queries('job="demo"'), timeout=5) as provider:
        yield provider


def test_clean_period_reads_the_scenario(demo: PrometheusProvider) -> None:
    values = demo.sample(at(4), 60)
    assert list(values) == list(STANDARD_METRICS)
    assert values["error_rate"] == 0.0
    assert values["request_rate"] == pytest.approx(10.0)
    assert values["requests"] == pytest.approx(600.0)
    assert values["p99_latency"] == pytest.approx(BASE_P99)
    assert values["saturation"] == pytest.approx(0.25)
    assert demo.last_error is None


def test_degraded_periods(demo: PrometheusProvider) -> None:
    slow = demo.sample(at(6), 60)
    assert slow["p99_latency"] == pytest.approx(BASE_P99 * 1.7)
    assert slow["error_rate"] == 0.0

    failing = demo.sample(at(9), 60)
    assert failing["error_rate"] == pytest.approx(0.3)
    assert failing["request_rate"] == pytest.approx(10.0)


def test_window_is_rendered_into_the_queries(demo: PrometheusProvider) -> None:
    # A 5-minute window ending at 9:00 holds 2 errored minutes out of 5.
    assert demo.sample(at(9), 300)["error_rate"] == pytest.approx(0.3 * 2 / 5)
    assert demo.sample(at(9), 300)["requests"] == pytest.approx(3000.0)


def test_past_the_data_is_none(demo: PrometheusProvider) -> None:
    assert demo.sample(at(MINUTES + 6), 60) == dict.fromkeys(STANDARD_METRICS)
    assert demo.last_error is None  # no data is not an error


def test_no_samples_yet_is_none_then_data(scenario_server: PrometheusServer) -> None:
    with PrometheusProvider(scenario_server.url, queries('job="late"')) as late:
        assert late.sample(at(3), 60) == dict.fromkeys(STANDARD_METRICS)
        assert late.sample(at(6), 60)["request_rate"] == pytest.approx(4.0)


def test_missing_error_series_reads_as_zero_errors(scenario_server: PrometheusServer) -> None:
    with PrometheusProvider(scenario_server.url, queries('job="lazy"')) as lazy:
        assert scenario_server.query('http_requests_total{job="lazy",status="500"}', at(10))["data"]["result"] == []
        assert lazy.sample(at(10), 60)["error_rate"] == 0.0


def test_several_series_give_the_worst_and_scalars_and_nan(scenario_server: PrometheusServer) -> None:
    custom = {
        "per_status": 'sum by (status) (rate(http_requests_total{job="demo"}[$window]))',
        "scalar": 'scalar(sum(rate(http_requests_total{job="demo"}[$window])))',
        "nan": "vector(0) / vector(0)",
        "empty": 'rate(no_such_metric{job="demo"}[$window])',
    }
    with PrometheusProvider(scenario_server.url, custom) as provider:
        values = provider.sample(at(9), 60)
    assert values["per_status"] == pytest.approx(7.0)  # 200s: 10 * 0.7, worse than 3 for 500s
    assert values["scalar"] == pytest.approx(10.0)
    assert values["nan"] is None
    assert values["empty"] is None


def test_range_sampling(demo: PrometheusProvider) -> None:
    series = demo.sample_range(at(2), at(10), step=60, window=60)
    assert set(series) == set(STANDARD_METRICS)
    errors = series["error_rate"]
    assert [t for t, _ in errors] == [at(m).timestamp() for m in range(2, 11)]
    assert [v for _, v in errors] == pytest.approx([0.0] * 6 + [0.3] * 3)
    p99 = dict(series["p99_latency"])
    assert p99[at(4).timestamp()] == pytest.approx(BASE_P99)
    assert p99[at(7).timestamp()] == pytest.approx(BASE_P99 * 1.7)
    tail = demo.sample_range(at(MINUTES - 1), at(MINUTES + 2), step=60, window=60)["request_rate"]
    assert [v for _, v in tail] == [pytest.approx(10.0), pytest.approx(10.0), None, None]


def test_generated_histograms_agree_with_prometheus_and_ours(scenario_server: PrometheusServer) -> None:
    """The generator's shapes, our histogram_quantile and Prometheus's agree."""
    bounds = [*DEFAULT_BUCKETS, float("inf")]
    for p99 in (0.004, 0.05, 0.2, 0.34, 0.0999, 3.0, 9.99):
        shape = p99_shape(p99, bounds)
        cumulative = {b: sum(f for i, f in shape.items() if i <= n) for n, b in enumerate(bounds)}
        assert histogram_quantile(0.99, cumulative) == pytest.approx(max(p99, 0.99 * bounds[0]))
    prometheus_p99 = scenario_server.query(
        'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="demo"}[1m])))', at(12)
    )["data"]["result"]
    assert float(prometheus_p99[0]["value"][1]) == pytest.approx(BASE_P99 * 1.7)


def test_bad_promql_raises_naming_the_metric(scenario_server: PrometheusServer) -> None:
    broken = {**queries('job="demo"'), "queue_depth": "sum(rate(queue_depth[$window]"}
    with PrometheusProvider(scenario_server.url, broken) as provider:
        with pytest.raises(MetricsQueryError) as raised:
            provider.sample(at(9), 60)
    assert raised.value.metric == "queue_depth"
    assert "queue_depth" in str(raised.value) and "parse error" in str(raised.value)
    assert "sum(rate(queue_depth[60s]" in str(raised.value)


def test_execution_error_raises(scenario_server: PrometheusServer) -> None:
    many_to_many = {"join": 'http_requests_total{job="demo"} + on() http_requests_total{job="demo"}'}
    with PrometheusProvider(scenario_server.url, many_to_many) as provider:
        with pytest.raises(MetricsQueryError, match="join"):
            provider.sample(at(9), 60)


def test_check_reachable_passes_against_real_prometheus(demo: PrometheusProvider) -> None:
    demo.check_reachable()


def test_unreachable_fails_fast_and_samples_none() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with PrometheusProvider(url, queries(""), timeout=10) as provider:
        began = time.monotonic()
        with pytest.raises(MetricsUnavailable, match=f"Prometheus at {url} is unreachable: .*refused"):
            provider.check_reachable()
        # Guards against the client's default retries (about 6 s); a refusal on loopback takes ms.
        assert time.monotonic() - began < 1.0
        began = time.monotonic()
        assert provider.sample(at(9), 60) == dict.fromkeys(STANDARD_METRICS)
        assert time.monotonic() - began < 1.0
        assert provider.last_error is not None and url in provider.last_error
        with pytest.raises(MetricsUnavailable):
            provider.sample_range(at(1), at(2), 60, 60)


def test_killed_mid_window_gives_none(prometheus_factory: PrometheusFactory) -> None:
    server = prometheus_factory(backfill=scenario_openmetrics(START, 6))
    with PrometheusProvider(server.url, queries('job="demo"')) as provider:
        assert provider.sample(at(5), 60)["request_rate"] == pytest.approx(10.0)
        server.kill()
        assert provider.sample(at(5), 60) == dict.fromkeys(STANDARD_METRICS)
        with pytest.raises(MetricsUnavailable, match="unreachable"):
            provider.check_reachable()


def test_scraping_prometheus_sees_a_live_service(prometheus_factory: PrometheusFactory) -> None:
    """start_prometheus(scrape_targets=...) scrapes a real prometheus_client endpoint every second
    (the first sample lands about 5 s after start, when target discovery first runs)."""
    registry = CollectorRegistry()
    Counter("http_requests", "Requests", ["status"], registry=registry).labels("200").inc(5)
    httpd, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        server = prometheus_factory(scrape_targets=[f"127.0.0.1:{httpd.server_address[1]}"])
        live = {"up": 'up{job="demo"}', "seen": 'sum(http_requests_total{job="demo"})'}
        with PrometheusProvider(server.url, live) as provider:
            deadline = time.monotonic() + 20
            values = provider.sample(dt.datetime.now(dt.timezone.utc), 60)
            while values != {"up": 1.0, "seen": 5.0} and time.monotonic() < deadline:
                time.sleep(0.2)
                values = provider.sample(dt.datetime.now(dt.timezone.utc), 60)
        assert values == {"up": 1.0, "seen": 5.0}, server.log_tail()
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- what goes over the wire: a tiny Prometheus-speaking server ------------------------------


class FakePrometheus:
    """Records each request and answers with the configured status and JSON body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: dict[str, Any] = {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "0.5"]}]},
        }
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                fake.requests.append({"path": parts.path, "params": params, "headers": dict(self.headers)})
                payload = json.dumps(fake.answer(parts.path, params)).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, path: str, params: dict[str, list[str]]) -> dict[str, Any]:
        """The configured body, except for the provider's own probes, answered as Prometheus
        2.42 does: build-info with its version, `vector(time())` with the evaluation time, the
        freshness query with every series' newest sample at the evaluation time (fresh)."""
        if path == "/api/v1/status/buildinfo" and self.status == 200:
            return {"status": "success", "data": {"version": "2.42.0", "revision": "", "branch": "debian/sid", "goVersion": "go1.19.8"}}
        query = params.get("query", [""])[0]
        if self.status != 200 or "time()" not in query:
            return self.body
        when = float(params.get("time", [time.time()])[0])
        probes = ["now"] + [str(i) for i in range(query.count("timestamp("))]
        result = [{"metric": {"probe": p} if p != "now" or "probe" in query else {}, "value": [when, repr(when)]} for p in probes]
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    try:
        yield server
    finally:
        server.close()


def test_bearer_token_and_headers_are_sent(fake: FakePrometheus) -> None:
    provider = PrometheusProvider(fake.url, {"m": "up[$window]"}, bearer_token="s3cret-token", headers={"X-Scope-OrgID": "team-a"})
    with provider:
        assert provider.sample(at(9), 90) == {"m": 0.5}
    sent = fake.requests[-1]
    assert sent["path"] == "/api/v1/query"
    assert sent["headers"]["Authorization"] == "Bearer s3cret-token"
    assert sent["headers"]["X-Scope-OrgID"] == "team-a"
    assert sent["params"]["query"] == ["up[90s]"]
    assert float(sent["params"]["time"][0]) == at(9).timestamp()


def test_basic_auth_is_sent(fake: FakePrometheus) -> None:
    with PrometheusProvider(fake.url, {"m": "up"}, basic_auth=("alice", "pw")) as provider:
        provider.check_reachable()
    assert fake.requests[0]["headers"]["Authorization"] == "Basic YWxpY2U6cHc="
    assert fake.requests[0]["params"]["query"] == ["vector(1)"]


def test_unauthorised_names_credentials_without_leaking_them(fake: FakePrometheus) -> None:
    fake.status, fake.body = 401, {"status": "error", "error": "bad token s3cret-token"}
    with PrometheusProvider(fake.url, {"m": "up"}, bearer_token="s3cret-token") as provider:
        with pytest.raises(MetricsUnavailable) as raised:
            provider.check_reachable()
        assert str(raised.value) == f"Prometheus at {fake.url} answered 401: check credentials"
        assert provider.sample(at(9), 60) == {"m": None}
        assert "s3cret" not in (provider.last_error or "") and "401" in (provider.last_error or "")


def test_server_errors_during_sampling_are_no_data(fake: FakePrometheus) -> None:
    fake.status, fake.body = 503, {"status": "error", "errorType": "unavailable", "error": "overloaded"}
    with PrometheusProvider(fake.url, {"a": "up", "b": "up"}) as provider:
        assert provider.sample(at(9), 60) == {"a": None, "b": None}
        assert "503" in (provider.last_error or "") and "overloaded" in (provider.last_error or "")
    assert len([r for r in fake.requests if r["path"] == "/api/v1/query"]) == 1  # gave up on the first failure, no retries


def test_not_prometheus_is_unavailable(fake: FakePrometheus) -> None:
    fake.body = {"hello": "world"}
    with PrometheusProvider(fake.url, {"m": "up"}) as provider:
        with pytest.raises(MetricsUnavailable, match="not a Prometheus"):
            provider.check_reachable()


def test_silent_server_times_out_quickly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with PrometheusProvider(url, {"m": "up"}, timeout=0.3) as provider:
            began = time.monotonic()
            assert provider.sample(at(9), 60) == {"m": None}
            assert time.monotonic() - began < 1.0
            assert provider.last_error == f"Prometheus at {url} did not answer within 0.3 s"


def test_one_kind_of_credentials() -> None:
    with pytest.raises(ValueError, match="not both"):
        PrometheusProvider("http://127.0.0.1:9090", {}, bearer_token="t", basic_auth=("u", "p"))


def test_secret_in_url_is_redacted() -> None:
    url = f"http://bob:hunter2@127.0.0.1:{free_port()}"
    with PrometheusProvider(url, {"m": "up"}) as provider:
        with pytest.raises(MetricsUnavailable) as raised:
            provider.check_reachable()
    assert "hunter2" not in str(raised.value) and "***@127.0.0.1" in str(raised.value)


# --- pure pieces -----------------------------------------------------------------------------


def test_render_and_window_literal() -> None:
    assert window_literal(60) == "60s"
    assert window_literal(59.6) == "60s"
    assert window_literal(0.2) == "1s"
    assert render("rate(x{$selector}[$window])", 300, 'job="a"') == 'rate(x{job="a"}[300s])'
    assert render("rate(x{${selector}}[${window}]) + $other", 30) == "rate(x{}[30s]) + $other"


def test_default_queries_use_names_and_selector() -> None:
    names = MetricNames(
        requests_total="api_calls_total", status_label="code", error_status_regex="5..|429",
        duration_histogram="api_latency_seconds", selector='job="api", env="prod"',
    )
    q = default_queries(names)
    assert set(q) == set(STANDARD_METRICS)
    assert 'api_calls_total{code=~"5..|429", job="api", env="prod"}' in q["error_rate"]
    assert "or vector(0)" in q["error_rate"]
    assert 'api_latency_seconds_bucket{job="api", env="prod"}[$window]' in q["p99_latency"]
    assert q["saturation"] == 'rate(process_cpu_seconds_total{job="api", env="prod"}[$window])'
    assert q["requests"] == 'sum(increase(api_calls_total{job="api", env="prod"}[$window]))'


def test_instant_value_shapes() -> None:
    assert instant_value([]) is None
    assert instant_value([1767225600, "2.5"]) == 2.5
    assert instant_value([1767225600, "NaN"]) is None
    assert instant_value([{"metric": {}, "value": [0, "1"]}, {"metric": {}, "value": [0, "3"]}]) == 3.0
    assert instant_value([{"metric": {}, "value": [0, "NaN"]}]) is None
    assert instant_value([{"metric": {}, "value": [0, "+Inf"]}]) == float("inf")


# --- from release.yaml: the provider and the metrics it judges ------------------------------------


def _environment(tmp_path, metrics: str, watch: str = "") -> Any:
    from pytest_release.config import load_config

    path = tmp_path / "release.yaml"
    path.write_text(f"environments:\n  prod:\n    metrics:\n{metrics}\n    watch:\n      duration: 15m\n{watch}")
    return load_config(path).environment("prod")


def test_credentials_come_from_the_environment_variables_the_config_names(fake: FakePrometheus, tmp_path) -> None:
    from pytest_release.clock import SimulatedClock
    from pytest_release.metrics.factory import make_provider

    env = _environment(tmp_path, f"      url: {fake.url}\n      bearer_token_env: PROM_TOKEN\n      queries: {{queue_depth: 'max(q)'}}")
    with make_provider(env, config_path=tmp_path / "release.yaml", clock=SimulatedClock(), environ={"PROM_TOKEN": "t0ken"}) as provider:
        values = provider.sample(at(9), 60)
    assert set(values) == {*STANDARD_METRICS, "queue_depth"}
    assert {r["headers"]["Authorization"] for r in fake.requests} == {"Bearer t0ken"}
    assert "max(q)" in [r["params"]["query"][0] for r in fake.requests if r["path"] == "/api/v1/query"]


def test_an_added_query_is_judged_with_the_default_rule(tmp_path) -> None:
    env = _environment(tmp_path, "      url: http://127.0.0.1:9\n      queries: {queue_depth: 'max(queue_depth{$selector})'}")
    rule = next(r for r in env.watch.rules if r.name == "queue_depth")
    assert (rule.direction, rule.soft, rule.hard, rule.floor) == ("up", 1.5, None, 0.0)
    tuned = _environment(
        tmp_path, "      url: http://127.0.0.1:9\n      queries: {queue_depth: 'max(q)'}",
        "      rules:\n        queue_depth: {soft: 2, hard: 4, floor: 1}\n",
    )
    assert [(r.soft, r.hard, r.floor) for r in tuned.watch.rules if r.name == "queue_depth"] == [(2.0, 4.0, 1.0)]
    off = _environment(
        tmp_path, "      url: http://127.0.0.1:9\n      queries: {queue_depth: 'max(q)'}",
        "      rules:\n        queue_depth: {enabled: false}\n",
    )
    assert "queue_depth" not in [r.name for r in off.watch.rules]


def test_a_rule_without_a_query_is_a_config_error(tmp_path) -> None:
    from pytest_release.config import ConfigError

    with pytest.raises(ConfigError, match=r"environments\.prod\.watch\.rules\.queue_depth: no query measures 'queue_depth': add metrics\.queries\.queue_depth"):
        _environment(tmp_path, "      url: http://127.0.0.1:9", "      rules:\n        queue_depth: {soft: 2}\n")
    with pytest.raises(ConfigError, match=r"environments\.prod\.metrics\.queries: queries are PromQL: they need metrics\.provider prometheus"):
        _environment(tmp_path, "      provider: scrape\n      url: http://127.0.0.1:9/metrics\n      queries: {queue_depth: 'q'}")
    with pytest.raises(ConfigError, match=r"watch\.rules\.queue_depth: the scrape provider cannot measure 'queue_depth'"):
        _environment(tmp_path, "      provider: scrape\n      url: http://127.0.0.1:9/metrics", "      rules:\n        queue_depth: {soft: 2}\n")


# --- freshness, flavours, alignment (issue 12) --------------------------------------------------

from pytest_release.metrics import WAITING, Samples  # noqa: E402
from pytest_release.metrics.alignment import points_by_poll  # noqa: E402
from pytest_release.metrics.backends import flavor_from_buildinfo, settings_for, version_from_vm_metrics  # noqa: E402
from pytest_release.metrics.promql import freshness_query, prometheus_counters_in_metricsql, series_selectors  # noqa: E402


def test_series_selectors_are_what_a_query_reads_under_its_window() -> None:
    queries = default_queries(MetricNames(selector='job="demo"'))
    assert series_selectors(render(queries["error_rate"], 60)) == ('http_requests_total{status=~"5..", job="demo"}', 'http_requests_total{job="demo"}')
    assert series_selectors(render(queries["p99_latency"], 60)) == ('http_request_duration_seconds_bucket{job="demo"}',)
    assert series_selectors('sum(rate(foo[5m])) / sum(rate(bar{path="/a[b]"}[5m]))') == ("foo", 'bar{path="/a[b]"}')
    assert series_selectors("max_over_time(rate(x[1m])[5m:1m])") == ("x",)
    assert series_selectors('max(node_load1{job="n"})') == ('node_load1{job="n"}',)  # a gauge: no range
    assert series_selectors("vector(1)") == ()


def test_the_freshness_query_asks_the_evaluation_time_and_each_selectors_newest_sample() -> None:
    assert freshness_query(["a{}", "b"]) == (
        'label_replace(vector(time()), "probe", "now", "", "") or '
        'label_replace(max(timestamp(a{})), "probe", "0", "", "") or '
        'label_replace(max(timestamp(b)), "probe", "1", "", "")'
    )


def test_counter_functions_get_prometheus_semantics_on_victoriametrics() -> None:
    query = render(default_queries(MetricNames())["error_rate"], 30)
    assert prometheus_counters_in_metricsql(query) == (
        '(sum((increase_prometheus(http_requests_total{status=~"5.."}[30s]) / 30)) or vector(0)) '
        "/ sum((increase_prometheus(http_requests_total{}[30s]) / 30))"
    )
    assert prometheus_counters_in_metricsql("sum(increase(x[60s])) + irate(y[5s])") == "sum(increase_prometheus(x[60s])) + irate(y[5s])"


def test_range_points_match_polls_by_window() -> None:
    aligned = [(600.0, 1.0), (660.0, 2.0), (720.0, None), (780.0, 4.0)]  # on the step grid, polls off it
    assert points_by_poll(aligned, [607.0, 667.0, 727.0, 787.0, 847.0], 60) == [(607.0, 1.0), (667.0, 2.0), (727.0, None), (787.0, 4.0), (847.0, None)]
    assert points_by_poll([(607.0, 1.0)], [607.0], 60) == [(607.0, 1.0)]  # exact, as Prometheus answers
    assert points_by_poll([(608.0, 1.0)], [607.0], 60) == [(607.0, None)]  # never a point after the poll


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"status": "success", "data": {"version": "2.42.0+ds", "revision": "", "goVersion": "go1.19.8"}}, ("prometheus", "2.42.0+ds")),
        (200, {"status": "success", "data": {}}, ("victoriametrics", None)),  # VictoriaMetrics 1.79, observed
        (200, {"status": "success", "data": {"version": "0.34.1", "revision": "x", "goVersion": "go1.21"}}, ("thanos", "0.34.1")),
        (200, {"status": "success", "data": {"application": "Grafana Mimir", "version": "2.11.0"}}, ("mimir", "2.11.0")),
        (404, None, (None, None)),
        (200, {"status": "error"}, (None, None)),
    ],
    ids=["prometheus", "victoriametrics-1.79", "thanos", "mimir", "absent", "error"],
)
def test_the_flavour_from_build_info(status, body, expected) -> None:
    assert flavor_from_buildinfo(status, body) == expected


def test_victoriametrics_own_metrics_name_it() -> None:
    assert version_from_vm_metrics('vm_app_version{version="", short_version=""} 1\n') == ""
    assert version_from_vm_metrics('vm_app_version{version="victoria-metrics-20220802", short_version="v1.79.5"} 1') == "v1.79.5"
    assert version_from_vm_metrics("prometheus_build_info 1") is None


def test_the_users_settings_win_over_the_flavours() -> None:
    assert settings_for("victoriametrics", {}, {}) == ({"nocache": "1"}, {})
    assert settings_for("victoriametrics", {"nocache": ""}, {}) == ({}, {})
    assert settings_for("thanos", {"max_source_resolution": "0s"}, {}) == ({"partial_response": "false", "dedup": "true", "max_source_resolution": "0s"}, {})
    assert settings_for("mimir", {}, {"X-Scope-OrgID": "team-a"}) == ({}, {"Cache-Control": "no-store", "X-Scope-OrgID": "team-a"})


def test_samples_are_a_mapping_with_reasons_and_coverage() -> None:
    samples = Samples.missing(["a", "b"], WAITING)
    assert samples == {"a": None, "b": None} and samples.missing_reasons == {"a": WAITING, "b": WAITING}
    assert samples.newest() is None and samples.oldest() is None


class StaleFake(FakePrometheus):
    """Answers like a Prometheus whose newest samples are `age` seconds older than asked, or
    (with `shift`) that evaluates `shift` seconds before the asked time."""

    age = 0.0
    shift = 0.0

    def answer(self, path, params):
        query = params.get("query", [""])[0]
        if "probe" in query:
            when = float(params["time"][0])
            result = [{"metric": {"probe": "now"}, "value": [when, repr(when - self.shift)]}]
            result += [{"metric": {"probe": str(i)}, "value": [when, repr(when - self.age)]} for i in range(query.count("timestamp("))]
            return {"status": "success", "data": {"resultType": "vector", "result": result}}
        return super().answer(path, params)


@pytest.fixture
def stale() -> Iterator[StaleFake]:
    server = StaleFake()
    try:
        yield server
    finally:
        server.close()


def test_a_stale_answer_is_no_data_with_its_age(stale: StaleFake) -> None:
    stale.age = 30
    with PrometheusProvider(stale.url, {"m": "sum(rate(up{job='x'}[$window]))"}) as provider:
        samples = provider.sample(at(9), 15)
        assert samples == {"m": None} and samples.missing_reasons == {"m": "newest sample 30s old"}
        assert provider.sample(at(9), 60) == {"m": 0.5}  # 30 s old is fresh for a 60 s window
        with PrometheusProvider(stale.url, {"m": "up{job='x'}"}, max_sample_age=20) as strict:
            assert strict.sample(at(9), 60).missing_reasons == {"m": "newest sample 30s old"}


def test_a_shifted_evaluation_is_no_data_with_the_fix(stale: StaleFake) -> None:
    stale.shift = 30
    with PrometheusProvider(stale.url, {"m": "up{job='x'}"}, flavor="victoriametrics") as provider:
        samples = provider.sample(at(9), 60)
    assert samples == {"m": None}
    assert samples.missing_reasons["m"].startswith("the backend answered as of +30s from the poll: VictoriaMetrics answers")


def test_the_first_windows_after_a_change_are_clipped_to_it(stale: StaleFake) -> None:
    change = at(9) - dt.timedelta(seconds=20)
    with PrometheusProvider(stale.url, {"m": "sum(rate(up{job='x'}[$window]))"}) as provider:
        samples = provider.sample(at(9), 60, not_before=change)
        assert stale.requests[-1]["params"]["query"] == ["sum(rate(up{job='x'}[20s]))"]
        assert samples.coverage["m"] == (change, at(9))
        waiting = provider.sample(change + dt.timedelta(seconds=0.5), 60, not_before=change)
        assert waiting == {"m": None} and waiting.missing_reasons["m"].startswith(WAITING)
    stale.age = 25  # the newest sample is 5 s older than the change
    with PrometheusProvider(stale.url, {"m": "sum(rate(up{job='x'}[$window]))"}) as provider:
        blind = provider.sample(at(9), 60, not_before=change)
    assert blind.missing_reasons == {"m": "no sample since the change ended (newest sample 25s old)"}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("      flavor: influx", r"metrics\.flavor: expected one of auto, prometheus, victoriametrics, thanos, mimir, got 'influx'"),
        ("      query_params: [nocache]", r"metrics\.query_params: expected a mapping of names to values"),
        ("      query_params: {nocache: [1]}", r"metrics\.query_params\.nocache: expected a single value"),
        ("      headers: {X-Org: {a: b}}", r"metrics\.headers\.X-Org: expected a single value"),
        ("      max_sample_age: soon", r"metrics\.max_sample_age"),
    ],
    ids=["flavor", "params-list", "param-list", "header-map", "age"],
)
def test_bad_backend_settings_are_config_errors_naming_the_key(tmp_path, yaml_text, message) -> None:
    from pytest_release.config import ConfigError

    with pytest.raises(ConfigError, match=rf"environments\.prod\.{message}"):
        _environment(tmp_path, f"      url: http://127.0.0.1:9\n{yaml_text}")


def test_backend_settings_are_for_a_query_api_only(tmp_path) -> None:
    from pytest_release.config import ConfigError

    with pytest.raises(ConfigError, match=r"environments\.prod\.metrics\.query_params: applies to a Prometheus-compatible API only"):
        _environment(tmp_path, "      provider: scrape\n      url: http://127.0.0.1:9/metrics\n      query_params: {nocache: 1}")


def test_backend_settings_reach_the_provider(tmp_path) -> None:
    from pytest_release.clock import SimulatedClock
    from pytest_release.metrics.factory import make_provider

    env = _environment(tmp_path, "      url: http://127.0.0.1:9\n      flavor: thanos\n      query_params: {nocache: 1, dedup: false}\n      headers: {X-Scope-OrgID: team-a}\n      max_sample_age: 90s")
    assert dict(env.metrics.query_params) == {"nocache": "1", "dedup": "false"} and env.metrics.max_sample_age == 90
    with make_provider(env, config_path=tmp_path / "release.yaml", clock=SimulatedClock()) as provider:
        assert provider.backend.describe() == "thanos (configured); query parameters dedup=false, nocache=1, partial_response=false; headers X-Scope-OrgID"
        assert provider.max_sample_age == 90
