"""Evidence-aware error_rate (core.evidence): a ratio breach stands only when the request and
error counts since the change show "new rate >= factor x baseline" at the watch confidence.

Pure judge tests on exact counts, the window end, the history the evidence needs (the live
window == judging the whole list each time), equal-time polls, the config keys, scipy imported
only when needed, and the labelled histories on a real Prometheus: decisions at high traffic
are today's, poll by poll."""

from __future__ import annotations

import datetime as dt
import math
import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pytest_release.backtest import BacktestRange, run_backtest
from pytest_release.clock import SimulatedClock
from pytest_release.config import ConfigError, load_config
from pytest_release.core.evidence import counts, needed
from pytest_release.core.judge import DEFAULT_RULES, Classification, Poll, Status, WatchPolicy, judge
from pytest_release.core.timeline import WindowJudge, judge_end, judge_timeline
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.window import watch_policy
from tests.support.histories import HISTORIES, T0, every_openmetrics
from tests.support.prometheus_server import PrometheusFactory, PrometheusServer

RULE = DEFAULT_RULES["error_rate"]
POLICY = WatchPolicy(rules=(RULE,))  # the defaults: evidence on, confidence 0.99
POINT = WatchPolicy(rules=(replace(RULE, evidence=False),))  # today's point rule


def polls(*pairs: tuple[int, int], start: int = 1) -> list[Poll]:
    """One poll a minute from T+`start`m, each (errors, requests)."""
    return [
        Poll(elapsed=60.0 * (start + i), values={"error_rate": k / n if n else None}, requests=float(n))
        for i, (k, n) in enumerate(pairs)
    ]


def reading(decision):
    return next(r for r in decision.readings if r.metric == "error_rate")


# --- a lone error, a sustained 2x ----------------------------------------------------------------


def test_a_lone_error_at_low_traffic_is_inconclusive_and_says_its_counts():
    window = polls((0, 20), (0, 20), (0, 20), (1, 20))
    d = judge(POLICY, {"error_rate": 0.01}, window)
    r = reading(d)
    assert r.classification is Classification.INCONCLUSIVE
    assert d.status is Status.OK and d.reasons == () and d.trigger is None  # never a finding
    assert r.ratio == pytest.approx(5.0) and r.threshold == 2.0
    assert "1 error in 20 requests this poll" in r.explanation
    assert "1 error in 20 since T+4m" in r.explanation
    assert f"of the {needed(0.99):.2f} needed to show error_rate >= 2.0x the baseline 1% at 99% confidence" in r.explanation
    assert "binomial likelihood ratio of 2% against 1%" in r.explanation
    assert r.evidence.errors == 1 and r.evidence.requests == 20 and not r.evidence.shown
    # Today's point rule: the same poll is a rollback.
    assert judge(POINT, {"error_rate": 0.01}, window).status is Status.HARD


def test_a_sustained_2x_at_low_traffic_is_hard_at_the_poll_the_evidence_reaches():
    """30 requests a poll, 3 errors (10%) against a 5% baseline: each poll adds
    3 ln 2 + 27 ln(0.9/0.95) = 0.62 to the 2x score, which reaches ln 99 = 4.6 at the 8th poll."""
    per_poll = 3 * math.log(2) + 27 * math.log(0.9 / 0.95)
    first = math.ceil(needed(0.99) / per_poll)
    assert first == 8
    steps = judge_timeline(POLICY, {"error_rate": 0.05}, polls(*[(3, 30)] * 10))
    classes = [reading(s.decision).classification for s in steps]
    assert classes[: first - 1] == [Classification.INCONCLUSIVE] * (first - 1)
    assert steps[first - 1].decision.status is Status.HARD
    trigger = steps[first - 1].decision.trigger
    assert trigger == "error_rate breached 2.0x baseline at T+8m"
    why = steps[first - 1].decision.reasons[0]
    assert "3 errors in 30 requests this poll; 24 errors in 240 since T+1m" in why
    assert f"evidence {per_poll * first:.2f} >= the 4.60 needed: it shows error_rate >= 2.0x the baseline 5%" in why


def test_point_hard_with_only_soft_evidence_is_soft():
    """Six polls at 1.5x (15 errors in 200) show >= 1.5x; a last poll at 2x with 20 requests does
    not show >= 2x: soft, asked about, never a rollback."""
    window = polls(*[(15, 200)] * 6, (2, 20))
    d = judge(POLICY, {"error_rate": 0.05}, window)
    r = reading(d)
    assert r.classification is Classification.SOFT and d.status is Status.SOFT and d.soft_keys == ("error_rate",)
    assert r.threshold == 1.5 and "hard at 2.0x by this poll's ratio" in r.explanation
    assert "evidence 7.22 >= the 4.60 needed: it shows error_rate >= 1.5x the baseline 5%" in r.explanation
    assert r.explanation.count(">= 1.5x") == 1  # said once
    assert judge(POINT, {"error_rate": 0.05}, window).status is Status.HARD


def test_a_high_traffic_breach_keeps_todays_words():
    window = polls((0, 600), (180, 600))  # 30% errors at 10 requests/s
    new, old = judge(POLICY, {"error_rate": 0.0}, window), judge(POINT, {"error_rate": 0.0}, window)
    assert (new.status, new.reasons, new.trigger) == (old.status, old.reasons, old.trigger)
    assert reading(new).evidence.alone and reading(new).evidence.errors == 180


def test_without_a_request_count_the_ratio_decides():
    """Fail closed: no count, no test, and the point rule's breach stands."""
    window = [Poll(elapsed=60.0, values={"error_rate": 0.05}, requests=None)]
    d = judge(POLICY, {"error_rate": 0.01}, window)
    assert d.status is Status.HARD and "the evidence test cannot run (no request count): the ratio decides" in d.reasons[0]


def test_counts_round_prometheus_extrapolation_and_refuse_non_shares():
    rule = RULE
    assert counts(rule, Poll(60.0, {"error_rate": 0.0497}, requests=20.1)) == (1, 20)
    assert counts(rule, Poll(60.0, {"error_rate": 1.5}, requests=20.0)) is None
    assert counts(rule, Poll(60.0, {"error_rate": 0.1}, requests=0.0)) is None
    assert counts(rule, Poll(60.0, {"error_rate": float("nan")}, requests=20.0)) is None


# --- the end of the window ---------------------------------------------------------------------


def test_a_window_ending_inconclusive_after_conclusive_polls_is_soft():
    steps = judge_timeline(POLICY, {"error_rate": 0.01}, polls((0, 20), (0, 20), (1, 20)))
    end = steps[-1]
    assert end.final and end.decision.status is Status.SOFT and end.ask
    assert "end:error_rate" in end.asked_about
    reason = end.decision.reasons[-1]
    assert reason.startswith("soft breach at T+3m: the window ended while error_rate was inconclusive (1 error in 20 requests")
    assert "99% confidence" in reason and reason.endswith("the release has not been shown healthy")


def test_a_window_never_conclusive_ends_hard():
    steps = judge_timeline(POLICY, {"error_rate": 0.01}, polls(*[(1, 20)] * 4))
    assert [s.decision.status for s in steps[:-1]] == [Status.OK] * 3
    end = steps[-1].decision
    assert end.status is Status.HARD and end.trigger_metric == "error_rate"
    assert end.trigger.startswith("error_rate was inconclusive during the whole window (to T+4m; 1 error in 20 requests this poll; 4 errors in 80 since T+1m")
    assert "`traffic:`" in end.trigger


def test_judge_end_leaves_a_conclusive_window_alone():
    d = judge(POLICY, {"error_rate": 0.01}, polls((0, 20), (0, 20)))
    assert judge_end(d) == d


# --- one judge: the trimmed history, equal times ---------------------------------------------------


def _shape(d):
    return (d.status, d.reasons, d.trigger, d.soft_keys, tuple((r.classification, r.explanation, r.evidence) for r in d.readings))


@pytest.mark.parametrize("seed", range(12))
def test_the_window_judge_decides_as_judging_the_whole_list(seed):
    """Random low-traffic windows (some polls at equal times, some without a count): the live
    window's judge, which keeps only the history the evidence needs, decides every poll as
    judging the whole list each time does."""
    rng = random.Random(seed)
    p0 = rng.choice([0.0, 0.01, 0.05])
    true = p0 * rng.choice([1, 1.5, 2, 3]) or 0.02
    window, t = [], 0.0
    for _ in range(40):
        t += 0.0 if window and rng.random() < 0.1 else 60.0
        n = rng.choice([0, 5, 12, 20, 30, 60, 200])
        k = sum(rng.random() < true for _ in range(n))
        window.append(Poll(elapsed=t, values={"error_rate": k / n if n else None}, requests=None if rng.random() < 0.05 else float(n)))
    base = {"error_rate": p0}
    live = WindowJudge(POLICY, base)
    for i, poll in enumerate(window):
        step = live.step(poll, final=False)
        assert _shape(step.decision) == _shape(judge(POLICY, base, window[: i + 1])), i
    assert len(live.history) <= len(window)


def test_the_history_kept_is_short_at_high_traffic():
    live = WindowJudge(POLICY, {"error_rate": 0.01})
    for poll in polls(*[(6, 600)] * 50):
        live.step(poll, final=False)
    assert len(live.history) <= 2


def test_equal_time_polls_merge_their_counts_whatever_the_order():
    a = Poll(120.0, {"error_rate": 0.05}, requests=20.0)
    b = Poll(120.0, {"error_rate": 0.0}, requests=40.0)
    first = polls((0, 20))
    one, two = judge(POLICY, {"error_rate": 0.01}, first + [a, b]), judge(POLICY, {"error_rate": 0.01}, first + [b, a])
    assert _shape(one) == _shape(two)
    # Worst-first: the worst ratio with the most requests, 0.05 x 40 = 2 errors in 40.
    assert reading(one).evidence.errors == 2 and reading(one).evidence.requests == 40


# --- the config ------------------------------------------------------------------------------


def _config(tmp_path: Path, watch: str) -> Path:
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(f"""\
        environments:
          staging:
            watch: {watch}
        """))
    return path


@pytest.mark.parametrize(("watch", "where", "says"), [
    ("{confidence: 0.5}", "environments.staging.watch.confidence", "between 0.5 and 1"),
    ("{confidence: 1}", "environments.staging.watch.confidence", "between 0.5 and 1"),
    ("{confidence: 95}", "environments.staging.watch.confidence", "between 0.5 and 1"),
    ("{confidence: .nan}", "environments.staging.watch.confidence", "finite number"),
    ("{confidence: high}", "environments.staging.watch.confidence", "expected a number"),
    ("{rules: {error_rate: {evidence: 1}}}", "environments.staging.watch.rules.error_rate.evidence", "true or false"),
    ("{rules: {error_rate: {evidence: 'yes please'}}}", "environments.staging.watch.rules.error_rate.evidence", "true or false"),
    ("{rules: {request_rate: {evidence: true}}}", "environments.staging.watch.rules.request_rate.evidence", "direction 'up'"),
])
def test_bad_evidence_settings_are_refused_naming_the_key(tmp_path, watch, where, says):
    with pytest.raises(ConfigError) as excinfo:
        load_config(_config(tmp_path, watch), environ={})
    text = str(excinfo.value)
    assert f"release.yaml:3: {where}: " in text and says in text, text


def test_evidence_false_restores_the_point_rule_and_confidence_is_read(tmp_path):
    policy = watch_policy(load_config(_config(tmp_path, "{confidence: 0.95, rules: {error_rate: {evidence: false}}}"), environ={}).environment("staging").watch)
    assert policy.confidence == 0.95 and not next(r for r in policy.rules if r.name == "error_rate").evidence
    lone = polls((0, 20), (1, 20))
    assert judge(policy, {"error_rate": 0.01}, lone).status is Status.HARD
    defaults = watch_policy(load_config(_config(tmp_path, "{}"), environ={}).environment("staging").watch)
    assert defaults.confidence == 0.99 and next(r for r in defaults.rules if r.name == "error_rate").evidence


def test_the_policy_refuses_a_confidence_outside_its_range():
    for bad in (0.5, 1.0, float("nan"), True):
        with pytest.raises(ValueError, match="confidence must be a number between 0.5 and 1"):
            WatchPolicy(rules=(RULE,), confidence=bad)


# --- scipy, lazily ----------------------------------------------------------------------------


def test_scipy_is_imported_only_when_a_breach_is_tested():
    code = textwrap.dedent("""\
        import sys
        import pytest_release.plugin, pytest_release.core.timeline, pytest_release.backtest
        from pytest_release.core.judge import DEFAULT_RULES, Poll, WatchPolicy, judge
        policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"],))
        judge(policy, {"error_rate": 0.01}, [Poll(60.0, {"error_rate": 0.0}, requests=20.0)])
        print("scipy" in sys.modules)
        judge(policy, {"error_rate": 0.01}, [Poll(60.0, {"error_rate": 0.05}, requests=20.0)])
        print("scipy" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


# --- the labelled histories, on a real Prometheus ------------------------------------------------


@pytest.fixture(scope="module")
def histories_prometheus(module_prometheus_factory: PrometheusFactory) -> PrometheusServer:
    return module_prometheus_factory(backfill=every_openmetrics())


def _timeline(tmp_path: Path, server: PrometheusServer, job: str, **rules):
    env = {"kind": "staging", "metrics": {"provider": "prometheus", "url": server.url, "names": {"selector": f'job="{job}"'}}}
    if rules:
        env["watch"] = {"rules": rules}
    path = tmp_path / f"release-{job}-{bool(rules)}.yaml"
    path.write_text(yaml.safe_dump({"environments": {"staging": env}}))
    e = load_config(path).environment("staging")
    provider = make_provider(e, config_path=tmp_path, clock=SimulatedClock(start=T0))
    try:
        rng = BacktestRange(T0, T0 + dt.timedelta(seconds=e.watch.duration))
        return run_backtest(provider, watch_policy(e.watch), rng, interval=e.watch.interval, baseline_seconds=e.watch.baseline)
    finally:
        provider.close()


@pytest.mark.parametrize("name", [h.name for h in HISTORIES if not h.health])
def test_high_traffic_histories_decide_as_the_point_rule_poll_by_poll(histories_prometheus, tmp_path, name):
    new = _timeline(tmp_path, histories_prometheus, name)
    old = _timeline(tmp_path, histories_prometheus, name, error_rate={"evidence": False})
    shape = [(e.poll.elapsed, e.decision.status, e.decision.reasons, e.decision.trigger, e.ask) for e in new.entries]
    assert shape == [(e.poll.elapsed, e.decision.status, e.decision.reasons, e.decision.trigger, e.ask) for e in old.entries]
    assert not any(r.classification is Classification.INCONCLUSIVE for e in new.entries for r in e.decision.readings)


def test_a_large_jump_at_low_traffic_is_shown_by_its_own_poll():
    # 6 errors in 20 requests against the 1% floor: the likelihood ratio of 2% against 1% scores
    # only 4.0 of the 4.6 needed, but the poll's exact test of "rate <= 2%" has p = 1.9e-06.
    policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"],), min_requests=10)
    decision = judge(policy, {"error_rate": 0.0}, [Poll(60.0, {"error_rate": 0.3}, requests=20)])
    assert decision.status is Status.HARD
    (reading,) = decision.readings
    assert reading.evidence.score < reading.evidence.needed
    assert "this poll alone shows it (one-sided exact binomial test of error_rate <= 2.0x the baseline: p = 1.9e-06)" in reading.explanation
    # one error in twenty is still not evidence: p = 0.33
    lone = judge(policy, {"error_rate": 0.0}, [Poll(60.0, {"error_rate": 0.05}, requests=20)])
    assert lone.readings[0].classification is Classification.INCONCLUSIVE and "p = 0.33" in lone.readings[0].explanation
