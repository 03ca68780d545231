"""The watch-window judge, rule by rule and boundary by boundary (runbook Phase 5)."""

from __future__ import annotations

import math

import pytest

from pytest_release.core.judge import (
    Classification,
    MetricRule,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    evidence,
    format_elapsed,
    judge,
    summarize,
)
from pytest_release.core.timeline import judge_end

NAN = math.nan
INF = math.inf

ERROR_RATE = MetricRule("error_rate", soft=1.5, hard=2.0, needs_traffic=True)
P99 = MetricRule("p99_latency", soft=1.5, hard=3.0, needs_traffic=True)
REQUEST_RATE = MetricRule("request_rate", direction="down", soft=1.5, hard=2.0)


def one(rule: MetricRule, value, baseline, elapsed: float = 60.0, **policy) -> WatchDecision:
    """Judge a single poll of a single metric."""
    return judge(
        WatchPolicy(rules=(rule,), **policy),
        {rule.name: baseline},
        [Poll(elapsed, {rule.name: value})],
    )


def reading(decision: WatchDecision, metric: str | None = None):
    if metric is None:
        (r,) = decision.readings
        return r
    return next(r for r in decision.readings if r.metric == metric)


# --- Status ------------------------------------------------------------------------------------


def test_status_is_ordered_ok_soft_hard():
    assert Status.OK < Status.SOFT < Status.HARD
    assert Status.HARD > Status.SOFT >= Status.SOFT > Status.OK
    assert [s.rank for s in (Status.OK, Status.SOFT, Status.HARD)] == [0, 1, 2]
    assert max([Status.SOFT, Status.HARD, Status.OK]) is Status.HARD
    assert Status.worst([Status.OK, Status.SOFT]) is Status.SOFT
    assert Status.worst([]) is Status.OK


def test_status_does_not_compare_with_other_types():
    with pytest.raises(TypeError):
        Status.OK < 1  # noqa: B015


# --- ratio thresholds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, Classification.OK),
        (1.0, Classification.OK),
        (1.49, Classification.OK),
        (1.5, Classification.SOFT),
        (1.99, Classification.SOFT),
        (2.0, Classification.HARD),
        (31.0, Classification.HARD),
    ],
)
def test_error_rate_boundaries(value, expected):
    d = one(ERROR_RATE, value, 1.0)
    assert reading(d).classification is expected
    assert d.status is Status(expected.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.29, Classification.OK),
        (0.3, Classification.SOFT),
        (0.599, Classification.SOFT),
        (0.6, Classification.HARD),
    ],
)
def test_p99_latency_is_hard_at_3x(value, expected):
    assert reading(one(P99, value, 0.2)).classification is expected


def test_a_ratio_that_is_exactly_the_threshold_in_decimal_reaches_it_despite_float_rounding():
    assert 0.3 / 0.2 < 1.5  # the float quotient falls just short ...
    r = reading(one(ERROR_RATE, 0.3, 0.2))
    assert r.classification is Classification.SOFT  # ... but 1.5x is a soft breach
    assert "1.5x" in r.explanation


def test_an_ok_ratio_is_never_printed_as_reaching_its_threshold():
    r = reading(one(ERROR_RATE, 0.01499, 0.01))
    assert r.classification is Classification.OK
    assert "1.499x" in r.explanation
    assert "1.5x the" not in r.explanation


def test_reading_carries_the_arithmetic():
    r = reading(one(ERROR_RATE, 0.31, 0.01))
    assert (r.metric, r.value, r.baseline, r.effective_baseline) == ("error_rate", 0.31, 0.01, 0.01)
    assert r.ratio == pytest.approx(31.0)
    assert r.threshold == 2.0
    assert r.no_data_since is None
    assert r.explanation == "error_rate 0.31 is 31.0x the baseline 0.01; hard at 2.0x"


@pytest.mark.parametrize(("value", "threshold"), [(3.0, 2.0), (1.6, 1.5), (1.0, 1.5)])
def test_threshold_is_the_crossed_factor_or_the_nearest_one(value, threshold):
    assert reading(one(ERROR_RATE, value, 1.0)).threshold == threshold


def test_a_metric_without_hard_factor_never_hard_breaches():
    rule = MetricRule("saturation", soft=1.5, hard=None)
    r = reading(one(rule, 100.0, 1.0))
    assert r.classification is Classification.SOFT
    assert r.threshold == 1.5
    assert "never hard" in r.explanation


def test_a_metric_without_soft_factor_goes_straight_from_ok_to_hard():
    rule = MetricRule("error_rate", soft=None, hard=2.0)
    assert reading(one(rule, 1.9, 1.0)).classification is Classification.OK
    assert reading(one(rule, 1.9, 1.0)).threshold == 2.0
    assert reading(one(rule, 2.0, 1.0)).classification is Classification.HARD


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("baseline", [0.0, 0.01, 7.0])
def test_a_value_equal_to_its_baseline_never_breaches_however_low_the_factors(direction, baseline):
    rule = MetricRule("m", direction=direction, soft=1 + 1e-12, hard=1 + 2e-12)
    r = reading(one(rule, baseline, baseline))
    assert r.ratio == 1.0
    assert r.classification is Classification.OK


def test_a_metric_without_factors_is_recorded_only():
    rule = MetricRule("queue_depth", soft=None, hard=None)
    d = one(rule, INF, 1.0)
    assert d.status is Status.OK
    assert reading(d).threshold is None


# --- floors and missing baselines --------------------------------------------------------------


def test_floor_stops_a_tiny_baseline_from_turning_a_few_errors_into_a_breach():
    bare = MetricRule("error_rate")
    floored = MetricRule("error_rate", floor=0.01)
    assert reading(one(bare, 0.012, 0.001)).classification is Classification.HARD
    r = reading(one(floored, 0.012, 0.001))
    assert r.classification is Classification.OK
    assert r.baseline == 0.001
    assert r.effective_baseline == 0.01
    assert r.ratio == pytest.approx(1.2)
    assert "floor 0.01" in r.explanation


def test_floor_still_breaches_when_the_value_is_high_enough():
    r = reading(one(MetricRule("error_rate", floor=0.01), 0.015, 0.0))
    assert r.classification is Classification.SOFT
    assert r.effective_baseline == 0.01


def test_floor_below_the_baseline_changes_nothing():
    r = reading(one(MetricRule("error_rate", floor=0.01), 0.2, 0.1))
    assert r.effective_baseline == 0.1
    assert r.classification is Classification.HARD


def test_floor_stands_in_for_a_missing_baseline():
    r = reading(one(MetricRule("error_rate", floor=0.01), 0.02, None))
    assert r.baseline is None
    assert r.effective_baseline == 0.01
    assert r.classification is Classification.HARD


def test_zero_baseline_and_zero_value_is_unchanged():
    r = reading(one(ERROR_RATE, 0.0, 0.0))
    assert r.ratio == 1.0
    assert r.classification is Classification.OK


@pytest.mark.parametrize("baseline", [0.0, None, NAN, -1.0, INF, "n/a"])
def test_without_a_usable_baseline_a_value_cannot_be_compared(baseline):
    d = one(ERROR_RATE, 5.0, baseline)
    r = reading(d)
    assert r.ratio is None
    assert r.classification is Classification.OK
    assert "no baseline" in r.explanation
    assert d.status is Status.OK


def test_missing_baseline_key_is_no_baseline():
    d = judge(WatchPolicy(rules=(ERROR_RATE,)), {}, [Poll(60, {"error_rate": 5.0})])
    assert reading(d).ratio is None
    assert d.status is Status.OK


@pytest.mark.parametrize("baseline", [0.0, None, 0.01])
def test_infinite_value_is_the_worst_possible_reading(baseline):
    d = one(ERROR_RATE, INF, baseline)
    assert reading(d).classification is Classification.HARD
    assert d.trigger is not None and d.trigger.startswith(
        "error_rate breached baseline without bound"
    )


def test_infinite_value_without_hard_factor_is_soft():
    assert (
        reading(one(MetricRule("saturation", hard=None), INF, 1.0)).classification
        is Classification.SOFT
    )


# --- direction "down" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (200.0, Classification.OK),
        (100.0, Classification.OK),
        (67.2, Classification.OK),  # 1.488x below
        (66.0, Classification.SOFT),  # 1.515x below
        (50.0, Classification.HARD),  # exactly 2x below
        (0.0, Classification.HARD),  # traffic gone
        (INF, Classification.OK),
    ],
)
def test_request_rate_dropping_is_worse(value, expected):
    assert reading(one(REQUEST_RATE, value, 100.0)).classification is expected


def test_down_ratio_is_baseline_over_value():
    r = reading(one(REQUEST_RATE, 25.0, 100.0))
    assert r.ratio == 4.0
    assert "4.0x below the baseline 100" in r.explanation


def test_down_trigger_says_below():
    d = one(REQUEST_RATE, 50.0, 100.0, elapsed=300)
    assert d.trigger == "request_rate breached 2.0x below baseline at T+5m"


def test_down_value_zero_with_positive_baseline_is_infinitely_worse():
    r = reading(one(REQUEST_RATE, 0.0, 100.0))
    assert r.ratio == INF
    assert r.explanation == "request_rate 0 is none at all, against the baseline 100; hard at 2.0x"
    assert "inf" not in summarize(one(REQUEST_RATE, 0.0, 100.0))


def test_down_with_zero_baseline_cannot_drop():
    assert reading(one(REQUEST_RATE, 0.0, 0.0)).ratio == 1.0
    assert reading(one(REQUEST_RATE, 5.0, 0.0)).classification is Classification.OK


def test_down_without_baseline_is_not_judged():
    r = reading(one(REQUEST_RATE, 0.0, None))
    assert r.ratio is None
    assert r.classification is Classification.OK


def test_down_floor_is_a_noise_level_not_a_source_of_breaches():
    rule = MetricRule("request_rate", direction="down", floor=10.0)
    quiet = reading(one(rule, 1.0, 5.0))  # 5/s -> 1/s, both under the 10/s floor: noise
    assert quiet.effective_baseline == 10.0
    assert quiet.ratio == 1.0
    assert quiet.classification is Classification.OK
    assert "counting the value as the floor" in quiet.explanation
    gone = reading(one(rule, 0.0, 100.0))  # 100/s -> 0: 10x below, measured against the floor
    assert gone.ratio == 10.0
    assert gone.classification is Classification.HARD
    assert reading(one(rule, 20.0, 100.0)).ratio == 5.0  # above the floor: plain baseline / value


# --- values that are no data --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "no sample"),
        (NAN, "NaN"),
        (-INF, "-inf"),
        (-3.0, "counter reset"),
        ("abc", "not a number"),
    ],
)
def test_unusable_values_are_no_data(value, why):
    d = one(ERROR_RATE, value, 0.01)
    r = reading(d)
    assert r.classification is Classification.NO_DATA
    assert r.value is None
    assert r.ratio is None
    assert why in r.explanation
    assert d.status is Status.OK  # not yet: the metric has been silent for one minute only


def test_metric_missing_from_the_poll_is_no_data():
    d = judge(WatchPolicy(rules=(ERROR_RATE,)), {"error_rate": 0.01}, [Poll(0, {"other": 1.0})])
    assert reading(d).classification is Classification.NO_DATA


def test_negative_zero_is_zero():
    r = reading(one(ERROR_RATE, -0.0, 0.01))
    assert r.classification is Classification.OK
    assert r.ratio == 0.0


# --- min_requests -------------------------------------------------------------------------------


def test_too_little_traffic_makes_up_metrics_no_data_not_a_pass():
    policy = WatchPolicy(rules=(ERROR_RATE, REQUEST_RATE), min_requests=100)
    d = judge(
        policy,
        {"error_rate": 0.01, "request_rate": 100.0},
        [Poll(60, {"error_rate": 0.5, "request_rate": 120.0}, requests=5)],
    )
    err = reading(d, "error_rate")
    assert err.classification is Classification.NO_DATA
    assert err.value == 0.5
    assert "5 requests in the last 1m (0.0833333/s), under min_requests 100 per poll" in err.explanation
    assert (
        reading(d, "request_rate").classification is Classification.OK
    )  # "down" metrics still judged
    assert d.status is Status.OK


def test_low_traffic_does_not_hide_a_request_rate_drop():
    policy = WatchPolicy(rules=(REQUEST_RATE,), min_requests=100)
    d = judge(policy, {"request_rate": 100.0}, [Poll(60, {"request_rate": 1.0}, requests=5)])
    assert d.status is Status.HARD


@pytest.mark.parametrize("requests", [None, 100, 1000, NAN, -5.0])
def test_enough_or_unknown_traffic_is_judged(requests):
    policy = WatchPolicy(rules=(ERROR_RATE,), min_requests=100)
    d = judge(policy, {"error_rate": 0.01}, [Poll(60, {"error_rate": 0.5}, requests=requests)])
    assert reading(d).classification is Classification.HARD


def test_low_traffic_counts_toward_no_data_after():
    policy = WatchPolicy(rules=(ERROR_RATE,), min_requests=100)
    polls = [Poll(t, {"error_rate": 0.01}, requests=3) for t in (0, 60, 120, 180)]
    d = judge(policy, {"error_rate": 0.01}, polls)
    assert d.status is Status.HARD
    assert d.trigger == (
        "too little traffic to judge error_rate since the window started (3m without data; 3 requests in the"
        " last 1m (0.05/s), under min_requests 100 per poll; an environment without users needs `traffic:`"
        " (the built-in load generator) to be judged)"
    )
    assert "observability" not in d.trigger  # the traffic is missing, not the metrics


def test_a_poll_without_requests_has_no_error_rate_or_latency_even_with_min_requests_0():
    policy = WatchPolicy(rules=(ERROR_RATE, P99, MetricRule("saturation", hard=None)), min_requests=0)
    d = judge(policy, {"error_rate": 0.0, "p99_latency": 0.2, "saturation": 0.3},
              [Poll(60, {"error_rate": 0.0, "p99_latency": 0.0, "saturation": 0.3}, requests=0.0)])
    assert [r.classification for r in d.readings] == [Classification.NO_DATA, Classification.NO_DATA, Classification.OK]
    assert reading(d, "error_rate").detail == "0 requests in the last 1m"
    assert "error_rate not judged: 0 requests in the last 1m" in summarize(d)


def test_the_default_min_requests_is_10_per_poll():
    assert WatchPolicy(rules=()).min_requests == 10
    policy = WatchPolicy(rules=(ERROR_RATE,))
    assert reading(judge(policy, {"error_rate": 0.0}, [Poll(60, {"error_rate": 0.0}, requests=9)])).classification is Classification.NO_DATA
    assert reading(judge(policy, {"error_rate": 0.0}, [Poll(60, {"error_rate": 0.0}, requests=10)])).classification is Classification.OK


def test_an_idle_window_is_hard_at_no_data_after_and_names_the_traffic_generator():
    polls = [Poll(t, {"error_rate": 0.0}, requests=0.3) for t in (60, 120, 180)]
    d = judge(WatchPolicy(rules=(ERROR_RATE,)), {"error_rate": 0.0}, polls)
    assert d.status is Status.HARD
    assert "too little traffic to judge error_rate" in d.trigger and "0.3 requests in the last 1m (0.005/s)" in d.trigger
    assert "`traffic:`" in d.trigger


def test_traffic_lost_is_a_hard_breach_of_its_own():
    rate = MetricRule("request_rate", direction="down", soft=1.5, hard=None, lost=0.1)
    policy = WatchPolicy(rules=(ERROR_RATE, rate, MetricRule("saturation", hard=None)))
    baseline = {"error_rate": 0.0, "request_rate": 10.0, "saturation": 0.25}
    d = judge(policy, baseline, [Poll(60, {"error_rate": 0.0, "request_rate": 0.005, "saturation": 0.25}, requests=0.3)])
    assert d.status is Status.HARD and d.trigger_metric == "request_rate"
    assert d.trigger == "traffic lost at T+1m: request_rate 0.005, 0.05% of the baseline 10"
    assert reading(d, "saturation").classification is Classification.OK  # its samples exist: not blamed
    assert reading(d, "error_rate").cause == "traffic"
    # Falling past the soft factor only (1.67x below, 60% of the baseline) stays soft.
    soft = judge(policy, baseline, [Poll(60, {"error_rate": 0.0, "request_rate": 6.0, "saturation": 0.25}, requests=360)])
    assert soft.status is Status.SOFT and "traffic lost" not in " ".join(soft.reasons)
    # Exactly 10% is not lost; a zero or missing baseline had no traffic to lose.
    assert judge(policy, baseline, [Poll(60, {"error_rate": 0.0, "request_rate": 1.0, "saturation": 0.25}, requests=60)]).trigger is None
    assert judge(policy, {**baseline, "request_rate": 0.0}, [Poll(60, {"request_rate": 0.0, "error_rate": 0.0, "saturation": 0.25})]).trigger is None


def test_lost_is_for_lower_is_worse_metrics_and_a_fraction():
    with pytest.raises(ValueError, match="lost applies to a lower-is-worse metric"):
        MetricRule("error_rate", lost=0.1)
    with pytest.raises(ValueError, match="lost must be a fraction"):
        MetricRule("request_rate", direction="down", lost=1.5)


# --- no data over time --------------------------------------------------------------------------


def silent(*elapsed: float) -> list[Poll]:
    return [Poll(t, {}) for t in elapsed]


def test_no_data_from_the_start_is_ok_until_no_data_after():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    d = judge(policy, {"error_rate": 0.01}, silent(0, 60, 120, 179))
    assert d.status is Status.OK
    assert d.reasons == ()
    assert reading(d).no_data_since == 0.0


def test_no_data_from_the_start_is_hard_at_no_data_after():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    d = judge(policy, {"error_rate": 0.01}, silent(0, 60, 120, 180))
    assert d.status is Status.HARD
    assert reading(d).classification is Classification.NO_DATA
    assert (
        d.trigger
        == "no data for error_rate since the window started (3m without data; no sample): observability is itself broken"
    )
    assert d.reasons == ("hard breach at T+3m: " + d.trigger,)
    # Before the first data, no data is not yet a finding (data can take a while to flow).
    assert judge(policy, {"error_rate": 0.01}, silent(0, 60, 120)).status is Status.OK


def test_no_data_counts_from_elapsed_zero_even_for_a_single_late_poll():
    d = judge(WatchPolicy(rules=(ERROR_RATE,)), {}, silent(200))
    assert d.status is Status.HARD


def test_no_data_mid_window_counts_from_the_last_poll_with_data():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    data = [Poll(t, {"error_rate": 0.01}) for t in (0, 60, 120)]
    # Once data has flowed, a poll without it is a soft finding at once, saying since when.
    soft = judge(policy, {"error_rate": 0.01}, data + silent(180))
    assert soft.status is Status.SOFT and soft.soft_keys == ("no-data:error_rate",)
    assert soft.reasons == (
        "soft breach at T+3m: no data for error_rate since T+2m (no sample; 1m so far, hard after 3m without data)",
    )
    assert "error_rate no data since T+2m" in summarize(soft)
    assert judge(policy, {"error_rate": 0.01}, data + silent(180, 240, 299)).status is Status.SOFT
    d = judge(policy, {"error_rate": 0.01}, data + silent(180, 240, 300))
    assert d.status is Status.HARD
    assert reading(d).no_data_since == 120
    assert (
        d.trigger
        == "no data for error_rate since T+2m (3m without data; no sample): observability is itself broken"
    )


def test_data_coming_back_clears_the_no_data_breach():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    polls = silent(0, 60, 120, 180, 240) + [Poll(300, {"error_rate": 0.01})]
    d = judge(policy, {"error_rate": 0.01}, polls)
    assert d.status is Status.OK
    assert reading(d).classification is Classification.OK


def test_no_data_after_is_configurable_and_can_be_disabled():
    base = {"error_rate": 0.01}
    assert (
        judge(WatchPolicy(rules=(ERROR_RATE,), no_data_after=60), base, silent(0, 60)).status
        is Status.HARD
    )
    never = WatchPolicy(rules=(ERROR_RATE,), no_data_after=INF)
    d = judge(never, base, silent(0, 3600, 36000))
    assert d.status is Status.OK
    assert "disabled" in reading(d).explanation


def test_no_data_breach_is_per_metric():
    policy = WatchPolicy(rules=(ERROR_RATE, P99))
    polls = [Poll(t, {"p99_latency": 0.2}) for t in (0, 60, 120, 180)]
    d = judge(policy, {"error_rate": 0.01, "p99_latency": 0.2}, polls)
    assert d.status is Status.HARD
    assert len(d.reasons) == 1
    assert "error_rate" in d.reasons[0]
    assert reading(d, "p99_latency").classification is Classification.OK


def test_counter_reset_values_count_as_no_data_over_time():
    policy = WatchPolicy(rules=(ERROR_RATE,), no_data_after=120)
    polls = [Poll(0, {"error_rate": 0.01})] + [Poll(t, {"error_rate": -1.0}) for t in (60, 120)]
    assert judge(policy, {"error_rate": 0.01}, polls).status is Status.HARD


# --- health checks ------------------------------------------------------------------------------


def health(*results: bool | None, step: float = 60) -> list[Poll]:
    return [Poll(i * step, {}, health_ok=ok) for i, ok in enumerate(results, start=1)]


NO_METRICS = WatchPolicy(rules=())


def test_single_failed_health_check_is_a_soft_blip():
    d = judge(NO_METRICS, {}, health(True, True, False))
    assert d.status is Status.SOFT
    assert d.trigger is None
    assert d.health_failures == 1
    assert "blip" in d.reasons[0]


def test_two_failed_health_checks_in_a_row_are_hard():
    d = judge(NO_METRICS, {}, health(True, True, False, False))
    assert d.status is Status.HARD
    assert d.trigger == "health check failed 2 intervals in a row at T+4m"
    assert d.health_failures == 2


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ((False, True), Status.OK),
        ((False, True, False), Status.SOFT),
        ((None, None), Status.OK),
        ((False, None, False), Status.HARD),  # a poll without a check neither passes nor fails
        ((False, None), Status.SOFT),
        ((True, None), Status.OK),
    ],
)
def test_health_streaks(results, expected):
    assert judge(NO_METRICS, {}, health(*results)).status is expected


def test_health_failures_hard_is_configurable():
    three = WatchPolicy(rules=(), health_failures_hard=3)
    assert judge(three, {}, health(False, False)).status is Status.SOFT
    assert judge(three, {}, health(False, False, False)).status is Status.HARD
    once = WatchPolicy(rules=(), health_failures_hard=1)
    d = judge(once, {}, health(True, False))
    assert d.status is Status.HARD
    assert d.trigger == "health check failed once at T+2m"


# --- the decision as a whole --------------------------------------------------------------------


def test_empty_polls_are_ok_with_nothing_to_say():
    d = judge(WatchPolicy(rules=(ERROR_RATE,)), {"error_rate": 0.01}, [])
    assert d == WatchDecision(status=Status.OK, readings=(), reasons=(), trigger=None)


def test_no_rules_and_healthy_is_ok():
    d = judge(NO_METRICS, {}, [Poll(60, {"error_rate": 99.0}, health_ok=True)])
    assert (d.status, d.readings, d.reasons, d.trigger) == (Status.OK, (), (), None)


def test_only_the_last_poll_is_judged():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    polls = [Poll(60, {"error_rate": 1.0}), Poll(120, {"error_rate": 0.01})]
    assert judge(policy, {"error_rate": 0.01}, polls).status is Status.OK


def test_status_is_the_worst_finding_and_soft_has_no_trigger():
    policy = WatchPolicy(rules=(ERROR_RATE, P99))
    d = judge(
        policy,
        {"error_rate": 0.01, "p99_latency": 0.2},
        [Poll(60, {"error_rate": 0.016, "p99_latency": 0.2})],
    )
    assert d.status is Status.SOFT
    assert d.trigger is None
    assert d.reasons == (
        "soft breach at T+1m: error_rate 0.016 is 1.6x the baseline 0.01; soft at 1.5x, hard at 2.0x",
    )


def test_runbook_trigger_for_a_metric_breach():
    d = judge(
        WatchPolicy(rules=(ERROR_RATE,)), {"error_rate": 0.01}, [Poll(450, {"error_rate": 0.31})]
    )
    assert d.trigger == "error_rate breached 31.0x baseline at T+7m30s"
    assert d.elapsed == 450


def test_trigger_follows_rule_order_then_no_data_then_health():
    base = {"error_rate": 0.01, "p99_latency": 0.2, "saturation": 0.5}
    sat = MetricRule("saturation")
    polls = [
        Poll(0, {"error_rate": 0.05, "p99_latency": 1.0}, health_ok=False),
        Poll(180, {"error_rate": 0.05, "p99_latency": 1.0}, health_ok=False),
    ]
    d = judge(WatchPolicy(rules=(ERROR_RATE, P99, sat)), base, polls)
    assert d.status is Status.HARD
    assert d.trigger == "error_rate breached 5.0x baseline at T+3m"
    assert [r.split(": ")[1].split(" ")[0] for r in d.reasons] == [
        "error_rate",
        "p99_latency",
        "no",
        "health",
    ]
    d = judge(WatchPolicy(rules=(P99, ERROR_RATE, sat)), base, polls)
    assert d.trigger == "p99_latency breached 5.0x baseline at T+3m"
    d = judge(WatchPolicy(rules=(sat,)), base, polls)
    assert d.trigger.startswith("no data for saturation")


def test_every_reason_names_metric_value_baseline_ratio_threshold_and_time():
    d = judge(WatchPolicy(rules=(P99,)), {"p99_latency": 0.2}, [Poll(420, {"p99_latency": 0.8})])
    (reason,) = d.reasons
    for part in ("T+7m", "p99_latency", "0.8", "0.2", "4.0x", "3.0x"):
        assert part in reason


def test_readings_follow_rule_order_and_ignore_unknown_metrics():
    policy = WatchPolicy(rules=(P99, ERROR_RATE))
    d = judge(policy, {}, [Poll(0, {"error_rate": 0.0, "p99_latency": 0.0, "cpu": 5.0})])
    assert [r.metric for r in d.readings] == ["p99_latency", "error_rate"]


# --- formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "T+0s"),
        (45, "T+45s"),
        (59.4, "T+59s"),
        (59.6, "T+1m"),
        (60, "T+1m"),
        (420, "T+7m"),
        (450, "T+7m30s"),
        (3600, "T+60m"),
        (-30, "T-30s"),
        (NAN, "T+?"),
        (INF, "T+unbounded"),
        (None, "T+?"),
    ],
)
def test_format_elapsed(seconds, text):
    assert format_elapsed(seconds) == text


def test_summarize_is_one_terminal_line():
    policy = WatchPolicy(rules=(ERROR_RATE, P99))
    d = judge(
        policy,
        {"error_rate": 0.01, "p99_latency": 1.0},
        [Poll(60, {"error_rate": 0.0102, "p99_latency": 0.97})],
    )
    assert summarize(d) == "error_rate 1.02x · p99_latency 0.97x · status ok"


def test_summarize_marks_breaches_no_data_and_health():
    policy = WatchPolicy(rules=(ERROR_RATE, P99, MetricRule("saturation")))
    d = judge(
        policy,
        {"error_rate": 0.01, "p99_latency": 1.0},
        [Poll(60, {"error_rate": 0.02, "saturation": 3.0}, health_ok=False)],
    )
    assert summarize(d) == (
        "error_rate 2.0x hard · p99_latency no data yet · saturation no baseline · health failed x1 · status hard"
    )


def test_summarize_of_nothing():
    assert summarize(judge(NO_METRICS, {}, [])) == "status ok"


# --- configuration errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty"),
        ({"direction": "sideways"}, "direction must be 'up'"),
        ({"soft": 1.0}, "soft factor must be a number greater than 1"),
        ({"soft": 0.5, "hard": None}, "soft factor"),
        ({"hard": 0.9, "soft": None}, "hard factor must be a number greater than 1"),
        ({"soft": NAN}, "soft factor"),
        ({"hard": "2"}, "hard factor"),
        ({"soft": True}, "soft factor"),
        ({"soft": 2.0, "hard": 2.0}, "must be below the hard factor"),
        ({"soft": 3.0, "hard": 2.0}, "must be below the hard factor"),
        ({"floor": -0.1}, "floor must be a finite number >= 0"),
        ({"floor": NAN}, "floor"),
        ({"floor": INF}, "floor"),
    ],
)
def test_bad_metric_rules_are_refused_with_a_clear_message(kwargs, message):
    args = {"name": "error_rate", **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        MetricRule(**args)
    if args["name"]:
        assert "'error_rate'" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rules": (ERROR_RATE, MetricRule("error_rate", hard=3.0))}, "more than one rule"),
        ({"rules": ("error_rate",)}, "must be a MetricRule"),
        ({"rules": 5}, "sequence of MetricRule"),
        ({"no_data_after": -1}, "no_data_after"),
        ({"no_data_after": NAN}, "no_data_after"),
        ({"min_requests": -1}, "min_requests"),
        ({"min_requests": INF}, "min_requests"),
        ({"health_failures_hard": 0}, "health_failures_hard"),
        ({"health_failures_hard": 1.5}, "health_failures_hard"),
        ({"health_failures_hard": True}, "health_failures_hard"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(kwargs, message):
    args = {"rules": (ERROR_RATE,), **kwargs}
    with pytest.raises(ValueError, match=message):
        WatchPolicy(**args)


def test_valid_configuration_edges_are_accepted():
    assert MetricRule("x", soft=None, hard=None).hard is None
    assert MetricRule("x", soft=1.01, hard=INF).hard == INF
    assert MetricRule("x", floor=0).floor == 0
    policy = WatchPolicy(rules=[ERROR_RATE], no_data_after=0, health_failures_hard=1)
    assert policy.rules == (ERROR_RATE,)  # a list is frozen into a tuple
    assert WatchPolicy(rules=()).rules == ()


# --- why there is no data, equal times, the end of a window, the evidence ----------------------


def test_a_backend_error_is_named_as_the_cause_of_no_data():
    error = "Prometheus at http://127.0.0.1:9 is unreachable: [Errno 111] Connection refused"
    policy = WatchPolicy(rules=(ERROR_RATE,), no_data_after=120)
    polls = [Poll(60, {"error_rate": 1.0}), Poll(120, {}, error=error), Poll(180, {"error_rate": None}, error=error)]
    d = judge(policy, {"error_rate": 1.0}, polls)
    assert d.status is Status.HARD and d.trigger_metric == "error_rate"
    assert reading(d).explanation == (
        f"error_rate has no data ({error}); none since T+1m, 2m so far, hard after 2m without data"
    )
    assert d.trigger == f"no data for error_rate since T+1m: the metrics backend did not answer (2m without data; {error}): observability is itself broken"


def test_polls_at_the_same_time_are_one_observation_judged_worst_first():
    policy = WatchPolicy(rules=(ERROR_RATE, REQUEST_RATE))
    baseline = {"error_rate": 1.0, "request_rate": 10.0}
    twins = [Poll(60, {"error_rate": 3.0, "request_rate": 10.0}), Poll(60, {"error_rate": 1.0, "request_rate": 4.0})]
    for polls in (twins, twins[::-1]):
        d = judge(policy, baseline, polls)
        assert [(r.metric, r.value) for r in d.readings] == [("error_rate", 3.0), ("request_rate", 4.0)]
        assert d.status is Status.HARD and d.trigger == "error_rate breached 3.0x baseline at T+1m"


def test_one_failed_check_among_equal_time_polls_counts_as_failed():
    policy = WatchPolicy(rules=(), health_failures_hard=2)
    polls = [Poll(60, {}, health_ok=False), Poll(120, {}, health_ok=True), Poll(120, {}, health_ok=False)]
    assert judge(policy, {}, polls).status is Status.HARD
    assert judge(policy, {}, [polls[0], polls[2], polls[1]]).status is Status.HARD


def test_a_window_cannot_end_on_a_metric_without_data():
    policy = WatchPolicy(rules=(ERROR_RATE, P99), no_data_after=180)
    baseline = {"error_rate": 1.0, "p99_latency": 1.0}
    quiet_end = [Poll(60, {"error_rate": 1.0, "p99_latency": 1.0}), Poll(120, {"error_rate": 1.0})]
    last = judge(policy, baseline, quiet_end)
    assert last.status is Status.SOFT  # data had flowed: a poll without it is a soft finding
    end = judge_end(last)
    assert end.status is Status.SOFT and end.trigger is None
    assert end.reasons[-1] == (
        "soft breach at T+2m: the window ended while p99_latency had no data (no sample; none since T+1m): "
        "the release has not been shown healthy"
    )
    assert end.soft_keys == ("no-data:p99_latency", "end:p99_latency")


def test_a_window_that_never_saw_data_ends_in_a_hard_breach():
    policy = WatchPolicy(rules=(ERROR_RATE,), no_data_after=180)
    end = judge_end(judge(policy, {"error_rate": 1.0}, [Poll(60, {}), Poll(120, {})]))
    assert end.status is Status.HARD and end.trigger_metric == "error_rate"
    assert end.trigger == "no data for error_rate during the whole window (to T+2m; no sample): observability is itself broken"


def test_judge_end_leaves_complete_and_hard_decisions_alone():
    policy = WatchPolicy(rules=(ERROR_RATE,))
    ok = judge(policy, {"error_rate": 1.0}, [Poll(60, {"error_rate": 1.0})])
    hard = judge(policy, {"error_rate": 1.0}, [Poll(60, {"error_rate": 5.0})])
    assert judge_end(ok) is ok and judge_end(hard) is hard


def test_evidence_names_value_baseline_threshold_and_samples():
    baseline = {"error_rate": 0.0, "p99_latency": 0.2}
    rule = MetricRule("error_rate", soft=1.5, hard=2.0, floor=0.01)
    policy = WatchPolicy(rules=(rule, P99))
    polls = [Poll(60.0 * m, {"error_rate": e, "p99_latency": 0.2}) for m, e in ((1, 0.0), (2, None), (3, 0.0), (4, 0.3))]
    d = judge(policy, baseline, polls)
    assert d.trigger_metric == "error_rate"
    assert evidence(d, polls) == (
        "error_rate 0.3 is 30.0x the floor 0.01 (baseline 0); hard at 2.0x; samples T+2m no data, T+3m 0, T+4m 0.3"
    )
    soft = judge(policy, baseline, [Poll(60, {"error_rate": 0.0, "p99_latency": 0.34})])
    assert evidence(soft, [Poll(60, {"error_rate": 0.0, "p99_latency": 0.34})]) == (
        "p99_latency 0.34 is 1.7x the baseline 0.2; soft at 1.5x, hard at 3.0x; samples T+1m 0.34"
    )
    assert evidence(judge(policy, baseline, polls[:1]), polls[:1]) == ""


def test_evidence_of_a_health_breach_counts_the_failures():
    policy = WatchPolicy(rules=(), health_failures_hard=2)
    polls = [Poll(60, {}, health_ok=False), Poll(120, {}, health_ok=False)]
    d = judge(policy, {}, polls)
    assert d.trigger_metric == "health"
    assert evidence(d, polls) == "health check failed 2 polls in a row"
