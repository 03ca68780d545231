"""The watch keys of release.yaml: only overrides are read; every default is the judge's own
(core.judge.DEFAULT_RULES, WatchPolicy); bad values name the file and the key path."""

from __future__ import annotations

import pytest
import yaml

from pytest_release.config import ConfigError, load_config
from pytest_release.core.judge import DEFAULT_MIN_REQUESTS, DEFAULT_RULES, HEALTH_METRIC, WatchPolicy
from pytest_release.metrics.window import watch_policy


def env(tmp_path, watch=None, metrics=None):
    metrics = {"provider": "prometheus", "url": "http://127.0.0.1:9", **(metrics or {})}
    config = {"environments": {"staging": {"kind": "staging", "metrics": metrics, **({"watch": watch} if watch is not None else {})}}}
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path).environment("staging")


def test_with_only_metric_names_the_policy_is_the_judges_defaults(tmp_path):
    policy = watch_policy(env(tmp_path).watch)
    assert policy.rules == tuple(DEFAULT_RULES.values())
    defaults = WatchPolicy(rules=())
    assert (policy.no_data_after, policy.min_requests, policy.health_failures_hard) == (
        defaults.no_data_after, defaults.min_requests, defaults.health_failures_hard,
    )
    assert policy.min_requests == DEFAULT_MIN_REQUESTS == 10
    assert policy.health_metric is None
    rate = next(r for r in policy.rules if r.name == "request_rate")
    assert rate.lost == 0.1 and rate.direction == "down"
    assert [r.name for r in policy.rules if r.needs_traffic] == ["error_rate", "p99_latency"]


def test_overrides_change_only_what_they_name(tmp_path):
    watch = {"min_requests": 0, "rules": {"request_rate": {"lost": 0.25}, "error_rate": {"hard": None}, "queue": {"hard": 3}}}
    policy = watch_policy(env(tmp_path, watch, {"queries": {"queue": "max(queue_depth)"}}).watch)
    rules = {r.name: r for r in policy.rules}
    assert rules["request_rate"].lost == 0.25 and rules["request_rate"].soft == 1.5
    assert rules["error_rate"].hard is None and rules["error_rate"].floor == 0.01 and rules["error_rate"].needs_traffic
    assert (rules["queue"].direction, rules["queue"].soft, rules["queue"].hard, rules["queue"].floor) == ("up", 1.5, 3.0, 0.0)
    assert policy.min_requests == 0


def test_a_health_query_becomes_the_health_metric_read_as_min(tmp_path):
    e = env(tmp_path, {"health_query": 'up{job="api"}'})
    assert e.metrics.queries[HEALTH_METRIC] == 'min(up{job="api"})'
    policy = watch_policy(e.watch)
    assert policy.health_metric == HEALTH_METRIC and policy.health_query == 'up{job="api"}'
    assert HEALTH_METRIC not in {r.name for r in policy.rules}  # health is not a judged ratio


@pytest.mark.parametrize(
    ("watch", "metrics", "where", "what"),
    [
        ({"rules": {"request_rate": {"lost": 1.5}}}, {}, "watch.rules.request_rate.lost", "fraction of the baseline"),
        ({"rules": {"error_rate": {"lost": 0.1}}}, {}, "watch.rules.error_rate.lost", "lower-is-worse"),
        ({"rules": {"error_rate": {"needs_traffic": "yes"}}}, {}, "watch.rules.error_rate.needs_traffic", "true or false"),
        ({"min_requests": -1}, {}, "watch.min_requests", ">= 0"),
        ({"health_query": 'up{job="api"}'}, {"provider": "scrape"}, "watch.health_query", "needs metrics.provider prometheus"),
        ({"health_query": "up"}, {"queries": {"health": "vector(1)"}}, "metrics.queries.health", "reserved for watch.health_query"),
    ],
    ids=["lost-above-1", "lost-on-up", "needs-traffic-not-bool", "min-requests-negative", "health-query-scrape", "health-name-taken"],
)
def test_bad_watch_values_name_the_file_and_key(tmp_path, watch, metrics, where, what):
    with pytest.raises(ConfigError) as info:
        env(tmp_path, watch, metrics)
    message = str(info.value)
    assert str(tmp_path / "release.yaml") in message and where in message and what in message, message
