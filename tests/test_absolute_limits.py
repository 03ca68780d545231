"""Absolute limits beside the relative rules (`watch.rules.<metric>.max` / `.min`): an SLO is hard
or soft by its own `limit` setting, the worse of the two classifications wins, the limit is named
in the reason and the report, and a backtest replays it like any other rule."""

from __future__ import annotations

import pytest
import yaml

from pytest_release.config import ConfigError, load_config
from pytest_release.core.judge import Classification, MetricRule, Poll, Status, WatchPolicy, judge
from pytest_release.core.watch_model import DEFAULT_RULES
from pytest_release.metrics.window import watch_policy
from tests.support.replay import T0

P99 = DEFAULT_RULES["p99_latency"]  # soft 1.5x, hard 3x, needs traffic
RATE = DEFAULT_RULES["request_rate"]  # lower is worse


def one(rule: MetricRule, value, baseline, *, requests: float = 600):
    decision = judge(WatchPolicy(rules=(rule,)), {rule.name: baseline}, [Poll(60.0, {rule.name: value}, requests=requests)])
    (reading,) = decision.readings
    return decision, reading


# --- the judge --------------------------------------------------------------------------------


def test_a_value_over_a_hard_max_rolls_back_though_the_ratio_is_fine():
    rule = MetricRule(**{**P99.__dict__, "max": 0.3})
    decision, reading = one(rule, 0.31, 0.25)  # 1.24x: fine by the ratio
    assert decision.status is Status.HARD and reading.classification is Classification.HARD
    assert reading.threshold == 0.3
    assert decision.trigger == "p99_latency 0.31 above its limit 0.3 (hard) at T+1m"
    assert "1.24x the baseline 0.25" in reading.explanation and "above its limit 0.3 (hard)" in reading.explanation


def test_at_the_limit_is_within_it():
    rule = MetricRule(**{**P99.__dict__, "max": 0.3})
    decision, reading = one(rule, 0.3, 0.25)
    assert decision.status is Status.OK
    assert "within its limit (max 0.3, hard)" in reading.explanation


def test_a_soft_limit_escalates_once_under_its_own_key():
    rule = MetricRule(**{**P99.__dict__, "max": 0.3, "limit": "soft"})
    decision, reading = one(rule, 0.4, 0.3)  # 1.33x: fine by the ratio
    assert decision.status is Status.SOFT and decision.soft_keys == ("limit:p99_latency",)
    assert reading.threshold == 0.3 and decision.trigger is None


@pytest.mark.parametrize(
    ("limit", "value", "expected", "threshold"),
    [
        ("soft", 0.8, Classification.HARD, 3.0),  # 4x the baseline: the ratio's hard wins over a soft limit
        ("hard", 0.34, Classification.HARD, 0.3),  # 1.7x (soft by ratio): the hard limit wins
        ("soft", 0.34, Classification.SOFT, 1.5),  # both soft: the ratio's reading is kept
    ],
)
def test_the_worse_classification_wins(limit, value, expected, threshold):
    rule = MetricRule(**{**P99.__dict__, "max": 0.3, "limit": limit})
    _, reading = one(rule, value, 0.2)
    assert (reading.classification, reading.threshold) == (expected, threshold)
    assert "above its limit 0.3" in reading.explanation  # the limit is explained even when the ratio decided


def test_a_limit_judges_without_a_baseline():
    rule = MetricRule(**{**P99.__dict__, "max": 0.3, "floor": 0.0})
    decision, reading = one(rule, 0.5, None)
    assert reading.ratio is None and decision.status is Status.HARD
    assert "no baseline" in reading.explanation and "above its limit 0.3" in reading.explanation


def test_a_request_rate_under_its_min_breaches():
    rule = MetricRule(**{**RATE.__dict__, "min": 5.0, "lost": None})
    decision, reading = one(rule, 4.0, 4.5)  # 1.13x below the baseline: fine by the ratio
    assert decision.status is Status.HARD and reading.threshold == 5.0
    assert decision.trigger == "request_rate 4 below its limit 5 (hard) at T+1m"
    assert one(rule, 5.0, 4.5)[0].status is Status.OK


def test_too_little_traffic_is_no_data_whatever_the_limit():
    rule = MetricRule(**{**P99.__dict__, "max": 0.3})
    decision, reading = one(rule, 2.0, 0.2, requests=3)
    assert reading.classification is Classification.NO_DATA and decision.status is not Status.HARD


ERRORS = DEFAULT_RULES["error_rate"]  # a share of the requests: evidence on


def test_one_error_in_twenty_requests_is_not_shown_to_be_over_a_1_percent_limit():
    rule = MetricRule(**{**ERRORS.__dict__, "max": 0.01})
    decision, reading = one(rule, 0.05, 0.04, requests=20)  # 1.25x a 4% baseline: fine by the ratio
    assert decision.status is Status.OK and reading.classification is Classification.OK
    assert "error_rate 0.05 is above its limit 0.01 (hard) by this poll's value, but 1 error in 20 requests this poll" in reading.explanation
    assert "do not show a rate above 0.01 at 99% confidence (one-sided exact binomial test, p = 0.18)" in reading.explanation


def test_a_limit_shown_by_the_counts_breaches_though_the_baseline_was_as_bad():
    rule = MetricRule(**{**ERRORS.__dict__, "max": 0.01})
    decision, reading = one(rule, 0.035, 0.03, requests=6000)  # 210 errors: far over 1%, 1.17x the baseline
    assert decision.status is Status.HARD and reading.threshold == 0.01
    assert decision.trigger == "error_rate 0.035 above its limit 0.01 (hard) at T+1m"
    assert "210 errors in 6000 requests this poll show a rate above 0.01 at 99% confidence" in reading.explanation


def test_without_a_request_count_the_value_decides_the_limit():
    rule = MetricRule(**{**ERRORS.__dict__, "max": 0.01})
    decision = judge(WatchPolicy(rules=(rule,), min_requests=0), {"error_rate": 0.03}, [Poll(60.0, {"error_rate": 0.035})])
    assert decision.status is Status.HARD


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max": -1.0}, "max must be a finite number >= 0"),
        ({"max": float("inf")}, "max must be a finite number >= 0"),
        ({"min": 1.0}, "min applies to a metric where lower is worse"),
        ({"limit": "maybe"}, "limit must be 'hard' (roll back) or 'soft' (escalate)"),
    ],
)
def test_a_rule_refuses_a_limit_that_cannot_mean_anything(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MetricRule(**{**P99.__dict__, **changes})


# --- release.yaml -----------------------------------------------------------------------------


def env(tmp_path, rules):
    config = {"environments": {"staging": {"kind": "staging", "metrics": {"provider": "prometheus", "url": "http://127.0.0.1:9"}, "watch": {"rules": rules}}}}
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path).environment("staging")


def test_limits_are_read_in_the_metric_s_units(tmp_path):
    policy = watch_policy(env(tmp_path, {"p99_latency": {"max": "300ms"}, "error_rate": {"max": "1%", "limit": "soft"}, "request_rate": {"min": 5}}).watch)
    rules = {r.name: r for r in policy.rules}
    assert (rules["p99_latency"].max, rules["p99_latency"].limit) == (0.3, "hard")  # hard unless told
    assert (rules["error_rate"].max, rules["error_rate"].limit) == (0.01, "soft")
    assert rules["request_rate"].min == 5.0 and rules["saturation"].max is None


@pytest.mark.parametrize(
    ("rules", "where", "what"),
    [
        ({"p99_latency": {"max": "fast"}}, "watch.rules.p99_latency.max", "a time like '300ms'"),
        ({"p99_latency": {"max": -2}}, "watch.rules.p99_latency.max", "cannot be negative"),
        ({"p99_latency": {"min": 1}}, "watch.rules.p99_latency.min", "lower is worse"),
        ({"request_rate": {"max": 100}}, "watch.rules.request_rate.max", "higher is worse"),
        ({"error_rate": {"max": "1%", "limit": "critical"}}, "watch.rules.error_rate.limit", "'hard' (roll back) or 'soft'"),
    ],
)
def test_a_bad_limit_names_the_key(tmp_path, rules, where, what):
    with pytest.raises(ConfigError) as info:
        env(tmp_path, rules)
    assert where in str(info.value) and what in str(info.value)


# --- a real release and a backtest against a real Prometheus -----------------------------------


def test_a_p99_over_its_slo_rolls_back_a_release_the_ratio_would_only_escalate(replay):
    # The drift scenario: p99 0.34 s (1.7x the 0.2 s baseline, soft by ratio) from T+5m, and it
    # stays there: the rolled-back version is held to the same SLO and fails it too.
    replay.environment("drift", "drift", rules={"p99_latency": {"max": "300ms"}})
    result = replay.run("drift")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Rollback-Failed: p99_latency 0.34 above its limit 0.3 (hard) at T+6m*",
        "  then: rollback FAILED: v1 was deployed but the short watch window failed: p99_latency 0.34 above its limit 0.3 (hard) at T+1m",
    ])
    assert replay.deploy_calls() == ["--env drift --version v2 --strategy all-at-once", "--env drift --rollback v1"]
    section = replay.watch_section()
    assert "| Limit |" in section and "max 0.3 (hard)" in section


def test_a_backtest_replays_the_limit(replay):
    replay.environment("drift", "drift", rules={"p99_latency": {"max": "300ms", "limit": "hard"}})
    window = f"{T0.isoformat()}..{(T0.replace(minute=T0.minute + 15)).isoformat()}"
    result = replay.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-env=drift", f"--release-backtest={window}", timeout=120)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "  T+1m..T+5m       ok (5 polls)",
        "  T+6m             01:06:00 ROLLBACK would fire: *p99_latency 0.34 vs 0.2 = 1.70x hard*",
        "decision: a rollback would have fired at T+6m *: p99_latency 0.34 above its limit 0.3 (hard) at T+6m*",
    ])
