"""The backtest: `pytest --release-env=ENV --release-backtest=START..END` judges historical
metrics from a real Prometheus (the replay scenarios, backfilled) as if a release had started at
START, deploys nothing, prints the decision timeline and writes it as JSON. Bad ranges are usage
errors. The range-query path gives exactly the decisions of one instant query per poll."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release.backtest import (
    BacktestError,
    BacktestRange,
    judge_timeline,
    parse_range,
    run_backtest,
    timeline_json,
)
from pytest_release.core.judge import DEFAULT_RULES, MetricRule, Poll, WatchPolicy, judge
from pytest_release.core.timeline import judge_end
from pytest_release.metrics.prometheus import PrometheusProvider
from pytest_release.metrics.promql import MetricNames, default_queries
from tests.support.prometheus_server import free_port
from tests.support.replay import T0

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
WINDOW = f"{T0.isoformat()}..{(T0 + dt.timedelta(minutes=15)).isoformat()}"
POLICY = WatchPolicy(rules=tuple(DEFAULT_RULES.values()))  # the runbook's


def backtest(replay, env: str, *extra: str, window: str = WINDOW):
    return replay.pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--release-env={env}", f"--release-backtest={window}", *extra, timeout=120)


# --- through pytest ---------------------------------------------------------------------------


def test_a_backtest_prints_when_and_why_a_rollback_would_have_fired(replay):
    replay.environment("spike", "spike")
    result = backtest(replay, "spike", "--release-backtest-json=out/timeline.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*release backtest*",
        "backtest of spike (staging) as if a release had started at 2026-01-01 01:00:00 UTC, until 2026-01-01 01:15:00 UTC",
        "  15 polls, one every 1m (range queries)*",
        "  baseline over the 5m before the start: error_rate 0, request_rate 10, p99_latency 0.2, saturation 0.25, requests 3000",
        "  T+1m..T+6m       ok (6 polls)",
        "  T+7m             01:07:00 ROLLBACK would fire: error_rate 0.3 vs 0.01 = 30.00x hard*",
        "  T+8m..T+15m      ok (8 polls)",
        "decision: a rollback would have fired at T+7m (2026-01-01 01:07:00 UTC): error_rate breached 30.0x baseline at T+7m "
        "(error_rate 0.3 is 30.0x the floor 0.01 (baseline 0); hard at 2.0x; samples T+5m 0, T+6m 0, T+7m 0.3)",
        "timeline written to */out/timeline.json",
    ])
    assert replay.deploy_calls() == [] and not replay.release_dir.exists()  # nothing deployed, no report

    timeline = json.loads((replay.path / "out" / "timeline.json").read_text())
    assert timeline["schema"] == "pytest-release/backtest/1"
    assert (timeline["env"], timeline["start"], timeline["interval_seconds"], timeline["method"]) == (
        "spike", T0.isoformat(), 60.0, "range",
    )
    assert timeline["baseline"]["error_rate"] == 0.0
    polls = timeline["polls"]
    assert [p["elapsed"] for p in polls] == [f"T+{m}m" for m in range(1, 16)]
    assert polls[0]["time"] == (T0 + dt.timedelta(minutes=1)).isoformat()
    breach = polls[6]
    assert breach["metrics"]["error_rate"] == {
        "value": pytest.approx(0.3), "baseline": 0.0, "compared_with": 0.01, "ratio": pytest.approx(30.0),
        "classification": "hard", "threshold": 2.0, "explanation": "error_rate 0.3 is 30.0x the floor 0.01 (baseline 0); hard at 2.0x",
        # 180 errors in 600 requests: this poll alone shows >= 2x (core.evidence), so the words are today's.
        "evidence": {"errors": 180, "requests": 600, "since": "T+7m", "since_errors": 180, "since_requests": 600,
                     "score": pytest.approx(121, abs=1), "needed": pytest.approx(4.59512), "factor": 2.0,
                     "confidence": 0.99, "baseline": 0.01, "exact_p": pytest.approx(0, abs=1e-12), "shown": True},
    }
    assert breach["decision"]["action"] == "rollback" and breach["decision"]["trigger"] == "error_rate breached 30.0x baseline at T+7m"
    assert [p["decision"]["after_rollback"] for p in polls] == [False] * 7 + [True] * 8
    assert {p["decision"]["action"] for p in polls[7:]} == {"continue"}
    assert timeline["summary"]["rollback"]["elapsed"] == "T+7m"
    assert (timeline["summary"]["ok"], timeline["summary"]["hard"]) == (14, 1)


def test_a_drift_shows_as_escalations_and_no_rollback(replay):
    replay.environment("drift", "drift")
    result = backtest(replay, "drift")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "  T+1m..T+5m       ok (5 polls)",
        "  T+6m             01:06:00 ESCALATE (soft breach: a person is asked; assumed continue): *p99_latency 0.34 vs 0.2 = 1.70x soft*",
        "  T+7m             01:07:00 soft (already answered: not asked again): *p99_latency 0.34 vs 0.2 = 1.70x soft*",
        "decision: no hard breach: the release would have passed the watch window after escalation",
        "first escalation at T+6m (2026-01-01 01:06:00 UTC): soft breach at T+6m: p99_latency 0.34 is 1.7x the baseline 0.2*",
    ])
    # A person is asked once about the drift; the next nine polls are the same finding.
    assert result.stdout.str().count("ESCALATE (soft breach") == 1
    assert result.stdout.str().count("soft (already answered: not asked again)") == 9


def test_a_scrape_gap_shows_as_a_no_data_rollback(replay):
    replay.environment("gap", "gap")
    result = backtest(replay, "gap")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "  T+1m..T+2m       ok, but no data yet for error_rate, p99_latency, request_rate, saturation (2 polls)",
        "  T+3m             01:03:00 ROLLBACK would fire: error_rate no data yet; *",
        "decision: a rollback would have fired at T+3m *: no data for error_rate since the window started (3m without data; no sample)*",
    ])


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("2026-01-01T01:00Z", "*expected START..END in ISO 8601*"),
        ("2026-01-01T01:00Z..yesterday", "*END 'yesterday' is not an ISO 8601 time*"),
        ("2026-01-01T01:15Z..2026-01-01T01:00Z", "*END (2026-01-01T01:00:00+00:00) must be after START*"),
        ("2026-01-01T01:00Z..2026-01-01T01:00:30Z", "*shorter than one poll interval (60s, watch.interval)*"),
        ("2026-01-01T01:00Z..2999-01-01T00:00Z", "*END (2999-01-01T00:00:00+00:00) is in the future*"),
    ],
    ids=["no-range", "bad-end", "reversed", "too-short", "future"],
)
def test_a_bad_range_is_a_usage_error(replay, window, message):
    replay.environment("spike", "spike")
    result = backtest(replay, "spike", "--release-backtest-json=t.json", window=window)
    assert result.ret == 4, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: --release-backtest{message}"])
    assert not (replay.path / "t.json").exists()


def test_a_backtest_needs_an_environment_with_history(replay):
    replay.environment("spike", "spike")
    config = replay.path / "release.yaml"
    config.write_text(config.read_text().replace("provider: prometheus", "provider: scrape"))
    result = backtest(replay, "spike")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-backtest needs metrics history: environment spike reads metrics.provider scrape*"])
    result = replay.pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--release-backtest={WINDOW}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-backtest needs --release-env=ENV*"])
    result = replay.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-backtest-json=x.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-backtest-json needs --release-backtest=START..END*"])


def test_an_unreachable_backend_fails_the_backtest_and_says_so(replay):
    replay.environment("blind", "spike", url=f"http://127.0.0.1:{free_port()}")
    result = backtest(replay, "blind")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["backtest failed: Prometheus at http://127.0.0.1:* is unreachable: [[]Errno 111[]] Connection refused"])


# --- the range path against one instant query per poll ----------------------------------------------


@pytest.mark.parametrize("job", ["spike", "drift", "gap", "clean"])
def test_range_queries_give_the_decisions_of_instant_queries(scenario_prometheus, job):
    rng = parse_range(WINDOW, interval=60, now=NOW)
    queries = default_queries(MetricNames(selector=f'job="{job}"'))
    with PrometheusProvider(scenario_prometheus.url, queries, timeout=5) as provider:
        by_range = timeline_json(run_backtest(provider, POLICY, rng, interval=60, baseline_seconds=300, method="range"))
        by_instant = timeline_json(run_backtest(provider, POLICY, rng, interval=60, baseline_seconds=300, method="instant"))
    assert by_range.pop("method") == "range" and by_instant.pop("method") == "instant"
    assert by_range == by_instant
    assert len(by_range["polls"]) == 15


# --- pure parts ------------------------------------------------------------------------------------


def test_parse_range_accepts_iso_8601_forms():
    rng = parse_range("2026-01-01T02:00+02:00..2026-01-01T01:00:00Z", interval=60, now=NOW)
    assert rng == BacktestRange(dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone.utc))
    naive = parse_range("2026-01-01 00:00..2026-01-02", interval=60, now=NOW)
    assert naive.start.tzinfo == dt.timezone.utc and naive.end == dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    with pytest.raises(BacktestError, match="START '' is empty|START is empty"):
        parse_range("..2026-01-01", interval=60, now=NOW)


values = st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.0, 1.0, 2.0, 5.0]))
health = st.one_of(st.none(), st.booleans())


@settings(max_examples=80, derandomize=True, database=None, deadline=None)
@given(st.lists(st.tuples(values, values, health, st.sampled_from([None, 0.0, 1.0])), min_size=1, max_size=40))
def test_the_trimmed_history_decides_exactly_like_the_whole_history(samples):
    """The backtest keeps only the history a decision can still depend on (linear time); its
    decisions equal judging the whole list each time, health streaks and the end included."""
    policy = WatchPolicy(
        rules=(MetricRule("a", floor=0.5), MetricRule("b", direction="down")), no_data_after=180, health_metric="up",
    )
    baseline = {"a": 1.0, "b": 2.0}
    polls = [
        (T0 + dt.timedelta(minutes=i + 1), Poll(60.0 * (i + 1), {"a": a, "b": b, "up": up}, health_ok=ok))
        for i, (a, b, ok, up) in enumerate(samples)
    ]
    trimmed = [e.decision for e in judge_timeline(policy, baseline, polls)]
    whole = [judge(policy, baseline, [p for _, p in polls[: i + 1]]) for i in range(len(polls))]
    whole[-1] = judge_end(whole[-1])
    assert trimmed == whole
