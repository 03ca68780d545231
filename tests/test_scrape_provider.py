"""The scrape provider against a real prometheus_client exposition served on 127.0.0.1, and
the exposition parser and quantile arithmetic it rests on."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from pytest_release.clock import SimulatedClock
from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.promql import STANDARD_METRICS, MetricNames
from pytest_release.metrics.scrape import (
    Sample,
    ScrapeProvider,
    counter_increase,
    equality_matchers,
    histogram_quantile,
    parse_exposition,
)
from tests.support.prometheus_server import free_port

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NONE = dict.fromkeys(STANDARD_METRICS)
_start_times = itertools.count(1_700_000_000)


class Service:
    """A service's metrics, served by prometheus_client's own encoders. `restart()` starts a
    new "process": a fresh registry (counters from zero) and a new process start time."""

    def __init__(self) -> None:
        self.status = 200
        self.restart()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                body = encoder(service.registry) if service.status == 200 else b"down\n"
                self.send_response(service.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def restart(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "Requests", ["handler", "status"], registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds", "Latency", ["handler"], buckets=(0.1, 0.2, 0.4, 0.8), registry=self.registry
        )
        self.cpu = Counter("process_cpu_seconds", "CPU", registry=self.registry)
        self.queue = Gauge("queue_depth", "Queue", ["queue"], registry=self.registry)
        Gauge("process_start_time_seconds", "Start", registry=self.registry).set(next(_start_times))

    def serve(self, ok: int = 0, errors: int = 0, handler: str = "/api", status: str = "500") -> None:
        if ok:
            self.requests.labels(handler, "200").inc(ok)
        if errors:
            self.requests.labels(handler, status).inc(errors)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[Service]:
    svc = Service()
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def provider(service: Service, clock: SimulatedClock) -> Iterator[ScrapeProvider]:
    with ScrapeProvider(service.url, MetricNames(), clock=clock, timeout=2) as scrape:
        yield scrape


def test_first_sample_primes_then_deltas(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=1000, errors=1000)  # history before the window: must not count
    assert provider.sample(NOW, 60) == NONE
    service.serve(ok=90, errors=10)
    service.cpu.inc(2.5)
    clock.advance(10)
    values = provider.sample(clock.now(), 60)
    assert list(values) == list(STANDARD_METRICS)
    assert values["requests"] == 100
    assert values["request_rate"] == pytest.approx(10.0)
    assert values["error_rate"] == pytest.approx(0.1)
    assert values["saturation"] == pytest.approx(0.25)
    assert values["p99_latency"] is None  # no observations in the window


def test_quiet_interval(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=5)
    provider.sample(NOW, 60)
    clock.advance(60)
    values = provider.sample(clock.now(), 60)
    assert values["requests"] == 0
    assert values["request_rate"] == 0.0
    assert values["error_rate"] is None  # no traffic: no ratio


def test_p99_interpolates_inside_the_bucket_of_the_deltas(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    for _ in range(500):
        service.latency.labels("/api").observe(0.7)  # before priming: ignored
    provider.sample(NOW, 60)
    observe = service.latency.labels("/api").observe
    for value, times in ((0.05, 50), (0.15, 45), (0.3, 5)):
        for _ in range(times):
            observe(value)
    clock.advance(60)
    # cumulative: 0.1 -> 50, 0.2 -> 95, 0.4 -> 100; rank 99 falls 4/5 into (0.2, 0.4]
    assert provider.sample(clock.now(), 60)["p99_latency"] == pytest.approx(0.36)


def test_p99_sums_buckets_across_series(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    provider.sample(NOW, 60)
    for _ in range(99):
        service.latency.labels("/a").observe(0.05)
    service.latency.labels("/b").observe(0.5)  # 1 of 100 in (0.4, 0.8]
    clock.advance(60)
    # rank 99 is the last of the first bucket: 0 + 0.1 * 99/99
    assert provider.sample(clock.now(), 60)["p99_latency"] == pytest.approx(0.1)


def test_counter_reset_counts_from_zero(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=100)
    provider.sample(NOW, 60)
    service.restart()
    service.serve(ok=30, errors=3)
    clock.advance(10)
    values = provider.sample(clock.now(), 60)
    assert values["requests"] == 33
    assert values["error_rate"] == pytest.approx(3 / 33)


def test_restart_with_higher_counters_is_detected_by_start_time(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=10)
    provider.sample(NOW, 60)
    service.restart()
    service.serve(ok=50)  # higher than before: only the start time tells a restart
    clock.advance(10)
    assert provider.sample(clock.now(), 60)["requests"] == 50


def test_series_born_between_scrapes_count_from_zero(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=10)
    provider.sample(NOW, 60)
    service.serve(ok=6, errors=4)  # the first 500 creates its series now
    clock.advance(10)
    assert provider.sample(clock.now(), 60)["error_rate"] == pytest.approx(0.4)


def test_selector_filters_on_simple_equality_only(service: Service, clock: SimulatedClock) -> None:
    names = MetricNames(selector='job="demo", handler="/api", status!="404"')
    with ScrapeProvider(service.url, names, clock=clock) as scrape:
        scrape.sample(NOW, 60)
        service.serve(ok=8, errors=2, handler="/api")
        service.serve(ok=100, handler="/health")
        clock.advance(10)
        values = scrape.sample(clock.now(), 60)
    assert values["requests"] == 10  # job= is a target label, ignored; != ignored; handler= filters
    assert values["error_rate"] == pytest.approx(0.2)


def test_error_regex_and_status_label(service: Service, clock: SimulatedClock) -> None:
    names = MetricNames(error_status_regex="5..|429")
    with ScrapeProvider(service.url, names, clock=clock) as scrape:
        scrape.sample(NOW, 60)
        service.serve(ok=6, errors=2, status="429")
        service.serve(errors=1, status="404")
        service.serve(errors=1, status="503")
        clock.advance(10)
        assert scrape.sample(clock.now(), 60)["error_rate"] == pytest.approx(0.3)


def test_gauge_saturation(service: Service, clock: SimulatedClock) -> None:
    with ScrapeProvider(service.url, MetricNames(saturation="queue_depth{$selector}"), clock=clock) as scrape:
        service.queue.labels("a").set(3)
        service.queue.labels("b").set(7)
        scrape.sample(NOW, 60)
        clock.advance(10)
        assert scrape.sample(clock.now(), 60)["saturation"] == 7


def test_unevaluable_saturation_is_none(service: Service, clock: SimulatedClock) -> None:
    with ScrapeProvider(service.url, MetricNames(saturation="max(a) / max(b)"), clock=clock) as scrape:
        scrape.sample(NOW, 60)
        clock.advance(10)
        assert scrape.sample(clock.now(), 60)["saturation"] is None


def test_absent_metrics_are_none(service: Service, clock: SimulatedClock) -> None:
    names = MetricNames(requests_total="nope_total", duration_histogram="nope_seconds", saturation="rate(nope_total[$window])")
    with ScrapeProvider(service.url, names, clock=clock) as scrape:
        scrape.sample(NOW, 60)
        service.serve(ok=10)
        clock.advance(10)
        assert scrape.sample(clock.now(), 60) == NONE


def test_unreachable_endpoint(clock: SimulatedClock) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with ScrapeProvider(url, MetricNames(), clock=clock) as scrape:
        with pytest.raises(MetricsUnavailable, match=f"metrics endpoint {url} is unreachable: .*refused"):
            scrape.check_reachable()
        assert scrape.sample(NOW, 60) == NONE
        assert scrape.last_error is not None and url in scrape.last_error


def test_failure_mid_window_gives_none_then_reprimes(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    provider.check_reachable()
    provider.sample(NOW, 60)
    service.status = 503
    service.serve(ok=100)
    clock.advance(10)
    assert provider.sample(clock.now(), 60) == NONE
    with pytest.raises(MetricsUnavailable, match="answered 503"):
        provider.check_reachable()
    service.status = 200
    clock.advance(10)
    assert provider.sample(clock.now(), 60) == NONE  # re-primes: the outage's traffic is not a window
    service.serve(ok=20)
    clock.advance(10)
    values = provider.sample(clock.now(), 60)
    assert values["requests"] == 20 and values["request_rate"] == pytest.approx(2.0)
    assert provider.last_error is None


def test_stopped_server(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    provider.sample(NOW, 60)
    service.close()
    clock.advance(10)
    assert provider.sample(clock.now(), 60) == NONE


# --- parser ------------------------------------------------------------------------------------

EDGE_CASES = r"""# HELP http_requests_total Requests, with a "quote" in help
# TYPE http_requests_total counter
http_requests_total{path="/a\"b",msg="line1\nline2",win="C:\\dir"} 3
spaced { a = "1" , b="2", } 4
empty{} 5
braces{v="}{#,= "} 6
inf_value +Inf
neg_inf -Inf
not_a_number NaN
with_ts 7 1767225600000
with_float_ts 8 1767225600.5
with_exemplar_bucket{le="0.5"} 9 # {trace_id="abc"} 0.4 1767225600.1
sci 1.5e+06
this is junk
bad_value{a="1"} twelve
unterminated{a="1} 1
missing_value{a="1"}
too_many 1 2 3
9starts_with_digit 1
bad_label{1a="x"} 1
underscore_number 1_000
# EOF
after_eof 1
"""


def test_parser_edge_cases() -> None:
    parsed = {s.name: s for s in parse_exposition(EDGE_CASES)}
    assert set(parsed) == {
        "http_requests_total", "spaced", "empty", "braces", "inf_value", "neg_inf", "not_a_number",
        "with_ts", "with_float_ts", "with_exemplar_bucket", "sci",
    }
    assert parsed["http_requests_total"].labels == {"path": '/a"b', "msg": "line1\nline2", "win": "C:\\dir"}
    assert parsed["spaced"] == Sample("spaced", {"a": "1", "b": "2"}, 4.0)
    assert parsed["empty"].labels == {}
    assert parsed["braces"].labels == {"v": "}{#,= "}
    assert parsed["inf_value"].value == math.inf and parsed["neg_inf"].value == -math.inf
    assert math.isnan(parsed["not_a_number"].value)
    assert parsed["with_ts"].timestamp == 1767225600000 and parsed["with_float_ts"].timestamp == 1767225600.5
    assert parsed["with_exemplar_bucket"] == Sample("with_exemplar_bucket", {"le": "0.5"}, 9.0)
    assert parsed["sci"].value == 1.5e6


@pytest.mark.parametrize("accept", ["text/plain", "application/openmetrics-text;version=1.0.0"])
def test_parser_reads_prometheus_client_output(accept: str) -> None:
    service = Service()
    try:
        service.serve(ok=3, errors=1)
        service.latency.labels("/api").observe(0.15)
        encoder, _ = choose_encoder(accept)
        samples = parse_exposition(encoder(service.registry).decode())
    finally:
        service.close()
    by_key = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert by_key[("http_requests_total", (("handler", "/api"), ("status", "500")))] == 1
    assert by_key[("http_request_duration_seconds_bucket", (("handler", "/api"), ("le", "0.2")))] == 1
    assert by_key[("http_request_duration_seconds_bucket", (("handler", "/api"), ("le", "+Inf")))] == 1


# --- arithmetic --------------------------------------------------------------------------------


def test_histogram_quantile_semantics() -> None:
    inf = math.inf
    assert histogram_quantile(0.99, {0.1: 50, 0.2: 95, 0.4: 100, inf: 100}) == pytest.approx(0.36)
    assert histogram_quantile(0.5, {1.0: 10, inf: 10}) == pytest.approx(0.5)  # from 0 in the first bucket
    assert histogram_quantile(0.99, {0.1: 1, 0.2: 1, inf: 10}) == 0.2  # rank in +Inf: highest finite bound
    assert math.isnan(histogram_quantile(0.99, {0.1: 1, 0.2: 2}))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.99, {0.1: 0, inf: 0}))  # no observations
    assert math.isnan(histogram_quantile(0.99, {inf: 5}))  # a single bucket
    assert histogram_quantile(0.5, {0.1: 6, 0.2: 4, inf: 10}) == pytest.approx(0.0833333)  # non-monotonic fixed up
    assert histogram_quantile(-1, {inf: 1}) == -inf and histogram_quantile(2, {inf: 1}) == inf


def test_counter_increase() -> None:
    a, b, c = (("s", "a"),), (("s", "b"),), (("s", "c"),)
    assert counter_increase({a: 5, b: 10}, {a: 8, b: 4, c: 2}) == {a: 3, b: 4, c: 2}


def test_equality_matchers() -> None:
    assert equality_matchers('job="demo", instance="x:1", env="prod", code=~"5..", a!="b", q="say \\"hi\\""') == {
        "env": "prod",
        "q": 'say "hi"',
    }
    assert equality_matchers("") == {}


def test_a_difference_reaching_back_before_the_change_is_waiting_not_data(service: Service, provider: ScrapeProvider, clock: SimulatedClock) -> None:
    service.serve(ok=100, errors=100)  # the old version's traffic, scraped before the change
    provider.sample(clock.now(), 10)
    clock.advance(5)
    change = clock.now()
    service.serve(ok=50)
    clock.advance(5)
    mixed = provider.sample(clock.now(), 10, not_before=change)
    assert set(mixed.values()) == {None}
    assert set(mixed.missing_reasons.values()) == {"waiting for data newer than the change"}
    service.serve(ok=40)
    clock.advance(10)
    fresh = provider.sample(clock.now(), 10, not_before=change)
    assert fresh["requests"] == 40 and fresh["error_rate"] == 0.0
    assert fresh.coverage["requests"] == (change + dt.timedelta(seconds=5), clock.now())
    assert fresh.missing_reasons == {"p99_latency": "not in the exposition, or no traffic"}
