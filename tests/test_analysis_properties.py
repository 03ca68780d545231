"""Properties of the watch-window judge that must hold for every input, not just the examples:
worse numbers never give a better decision, rule order never changes the verdict, units don't
matter, and nothing a metrics backend can send makes the judge raise."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_release.core.judge import (
    Classification,
    MetricRule,
    Poll,
    Status,
    WatchPolicy,
    format_elapsed,
    judge,
    summarize,
)

# Deterministic (same examples every run, no example database) and small enough to stay fast.
FAST = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NAMES = ("error_rate", "request_rate", "p99_latency", "saturation")
NASTY = (0.0, -0.0, math.nan, math.inf, -math.inf, -1.0, 1e308, -1e308, 5e-324, 1e-300)

finite_nonneg = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)
# What a backend or a broken config can hand the judge: every float, None, huge ints, junk.
wild = st.one_of(
    st.none(),
    any_float,
    st.sampled_from(NASTY),
    finite_nonneg,
    st.integers(min_value=-(10**400), max_value=10**400),
    st.just("n/a"),
)
# Round numbers around the default factors, so that breaches (several at once) are common.
ROUND = (0.0, 0.5, 1.0, 1.49, 1.5, 2.0, 3.0, 10.0, 100.0)
# The typed inputs: floats (NaN, infinities and negatives included) or None.
sample = st.one_of(
    st.none(), st.sampled_from(NASTY), st.sampled_from(ROUND), finite_nonneg, any_float
)


@st.composite
def rules_for(draw, name: str) -> MetricRule:
    soft = draw(
        st.one_of(
            st.none(), st.sampled_from([1.5, 1.2, 1 + 1e-12]), st.floats(1, 5, exclude_min=True)
        )
    )
    delta = draw(
        st.one_of(st.none(), st.sampled_from([0.5, 1.5]), st.floats(0, 10, exclude_min=True))
    )
    hard = None if delta is None else (soft or 1.0) + delta
    if hard is not None and not hard > (soft or 1.0):
        hard = None  # the delta vanished in rounding
    floor = draw(st.one_of(st.just(0.0), st.sampled_from([0.01, 1.0]), st.floats(0, 100)))
    direction = draw(st.sampled_from(["up", "down"]))
    return MetricRule(name, direction=direction, soft=soft, hard=hard, floor=floor)


@st.composite
def policies(draw, min_rules: int = 0) -> WatchPolicy:
    names = draw(
        st.lists(st.sampled_from(NAMES), unique=True, min_size=min_rules, max_size=len(NAMES))
    )
    return WatchPolicy(
        rules=tuple(draw(rules_for(n)) for n in names),
        no_data_after=draw(
            st.one_of(st.sampled_from([0.0, 60.0, 180.0, math.inf]), st.floats(0, 1000))
        ),
        min_requests=draw(st.one_of(st.sampled_from([0.0, 10.0]), st.floats(0, 1000))),
        health_failures_hard=draw(st.integers(1, 4)),
    )


# Usable readings, with the edges (0, +inf) and round multiples of the baselines common.
plausible = st.one_of(
    st.none(),
    st.sampled_from((math.inf, 0.0, math.nan, -1.0)),
    st.sampled_from(ROUND),
    finite_nonneg,
)


# For the order test: values mostly round multiples of round baselines, so that several
# metrics breach at once and their order is visible.
breachy = st.one_of(st.sampled_from(ROUND), plausible)
round_baseline = st.one_of(st.sampled_from((1.0, 0.5, 10.0)), plausible)


def baselines(values=sample, complete: bool = False):
    if complete:
        return st.fixed_dictionaries({n: values for n in NAMES})
    return st.dictionaries(st.sampled_from(NAMES), values, max_size=len(NAMES))


@st.composite
def poll_series(
    draw, values=sample, ordered: bool = True, complete: bool = False, min_polls: int = 0
) -> list[Poll]:
    count = draw(st.integers(min_polls, 6))
    if ordered:
        steps = draw(st.lists(st.floats(0, 120), min_size=count, max_size=count))
        times = [sum(steps[: i + 1]) for i in range(count)]
    else:
        times = draw(st.lists(any_float, min_size=count, max_size=count))
    return [
        Poll(
            elapsed=t,
            values=draw(
                baselines(values, complete)
                if complete
                else st.dictionaries(st.sampled_from(NAMES + ("other",)), values, max_size=5)
            ),
            requests=draw(st.one_of(st.none(), st.sampled_from(NASTY), finite_nonneg)),
            health_ok=draw(st.one_of(st.none(), st.booleans())),
        )
        for t in times
    ]


def usable(v) -> float | None:
    """A value the judge can use: a float that is neither NaN nor negative (+inf included)."""
    if v is None or math.isnan(v) or v < 0:
        return None
    return v


def classification_rank(c: Classification) -> int:
    return {Classification.OK: 0, Classification.SOFT: 1, Classification.HARD: 2}[c]


def check_consistent(policy: WatchPolicy, polls: list[Poll], decision) -> None:
    """What every decision must satisfy, whatever the input."""
    assert isinstance(decision.status, Status)
    assert (decision.trigger is not None) == (decision.status is Status.HARD)
    assert (decision.reasons == ()) == (decision.status is Status.OK)
    if not polls:
        assert decision.readings == ()
    else:
        assert [r.metric for r in decision.readings] == [r.name for r in policy.rules]
    for r in decision.readings:
        assert isinstance(r.explanation, str) and r.explanation
        if r.classification is Classification.NO_DATA:
            assert r.ratio is None and r.no_data_since is not None
        if r.classification in (Classification.SOFT, Classification.HARD):
            assert decision.status.rank >= classification_rank(r.classification)
    line = summarize(decision)
    assert line.endswith(f"status {decision.status.value}")
    assert "\n" not in line


# --- nothing crashes ----------------------------------------------------------------------------


@FAST
@given(policy=policies(), baseline=baselines(wild), polls=poll_series(wild, ordered=False))
def test_no_input_crashes_the_judge(policy, baseline, polls):
    check_consistent(policy, polls, judge(policy, baseline, polls))


@FAST
@given(policy=policies(), baseline=baselines(), polls=poll_series())
def test_decisions_are_consistent(policy, baseline, polls):
    decision = judge(policy, baseline, polls)
    check_consistent(policy, polls, decision)
    assert judge(policy, baseline, polls) == decision  # no hidden state


@FAST
@given(seconds=st.one_of(any_float, st.integers(-(10**400), 10**400), st.none()))
def test_format_elapsed_never_crashes(seconds):
    text = format_elapsed(seconds)
    assert text.startswith(("T+", "T-"))


# --- worse never looks better -------------------------------------------------------------------


@FAST
@given(
    policy=policies(min_rules=1),
    baseline=baselines(plausible, complete=True),
    polls=poll_series(plausible, complete=True, min_polls=1),
    others=st.lists(
        st.one_of(st.sampled_from(ROUND + (math.inf,)), st.floats(min_value=0, allow_nan=False)),
        min_size=len(NAMES),
        max_size=len(NAMES),
    ),
    fail_health=st.booleans(),
)
def test_worse_metrics_never_give_a_better_decision(policy, baseline, polls, others, fail_health):
    """Raising a higher-is-worse value or lowering a lower-is-worse one (towards any other
    value, +inf and 0 included), or failing the health check, never lowers the status."""
    last = polls[-1]
    worse_values = dict(last.values)
    for rule in policy.rules:
        value = usable(last.values.get(rule.name))
        if value is None:
            continue  # no data stays no data: that is history, not a worse reading
        other = others[NAMES.index(rule.name)]
        worse_values[rule.name] = max(value, other) if rule.direction == "up" else min(value, other)
    worse_health = False if fail_health else last.health_ok
    worse = polls[:-1] + [Poll(last.elapsed, worse_values, last.requests, worse_health)]

    before = judge(policy, baseline, polls)
    after = judge(policy, baseline, worse)
    assert after.status.rank >= before.status.rank
    for b, a in zip(before.readings, after.readings):
        if b.classification is not Classification.NO_DATA:
            assert classification_rank(a.classification) >= classification_rank(b.classification)


@FAST
@given(
    policy=policies(),
    level=st.one_of(st.sampled_from(ROUND), finite_nonneg),
    elapsed=st.floats(0, 3600),
)
def test_a_value_equal_to_its_baseline_never_breaches(policy, level, elapsed):
    values = {r.name: level for r in policy.rules}
    decision = judge(policy, values, [Poll(elapsed, values)])
    assert all(r.classification is Classification.OK for r in decision.readings)
    assert decision.status is Status.OK


# --- order and units don't matter ---------------------------------------------------------------


@FAST
@given(
    policy=policies(min_rules=2),
    baseline=baselines(round_baseline, complete=True),
    polls=poll_series(breachy, complete=True, min_polls=1),
    data=st.data(),
)
def test_rule_order_does_not_change_the_decision(policy, baseline, polls, data):
    """Only the wording order (and so which of several hard findings is the trigger) may follow
    the configured rule order; the verdict and the findings themselves may not."""
    a = judge(policy, baseline, polls)
    for order in (tuple(reversed(policy.rules)), tuple(data.draw(st.permutations(policy.rules)))):
        reordered = WatchPolicy(
            order, policy.no_data_after, policy.min_requests, policy.health_failures_hard
        )
        b = judge(reordered, baseline, polls)
        assert a.status is b.status
        assert sorted(a.reasons) == sorted(b.reasons)
        assert {r.metric: r for r in a.readings} == {r.metric: r for r in b.readings}
        assert (a.trigger is None) == (b.trigger is None)


@FAST
@given(
    policy=policies(),
    baseline=baselines(st.one_of(st.none(), st.just(0.0), st.floats(1e-6, 1e6))),
    polls=poll_series(st.one_of(st.none(), st.just(0.0), st.just(math.nan), st.floats(1e-6, 1e6))),
    power=st.integers(-20, 20),
)
def test_units_do_not_matter(policy, baseline, polls, power):
    """Latency in ms or s, rates per second or per minute: scaling every value, baseline and
    floor by the same factor (a power of two, so the arithmetic is exact) changes nothing."""
    k = 2.0**power
    scale = lambda v: None if v is None else v * k  # noqa: E731
    scaled_policy = WatchPolicy(
        tuple(MetricRule(r.name, r.direction, r.soft, r.hard, r.floor * k) for r in policy.rules),
        policy.no_data_after,
        policy.min_requests,
        policy.health_failures_hard,
    )
    scaled_polls = [
        Poll(p.elapsed, {n: scale(v) for n, v in p.values.items()}, p.requests, p.health_ok)
        for p in polls
    ]
    a = judge(policy, baseline, polls)
    b = judge(scaled_policy, {n: scale(v) for n, v in baseline.items()}, scaled_polls)
    assert a.status is b.status
    assert [r.classification for r in a.readings] == [r.classification for r in b.readings]
    assert [r.ratio for r in a.readings] == [r.ratio for r in b.readings]


@FAST
@given(
    value=st.floats(1e-9, 1e9),
    base=st.floats(1e-9, 1e9),
    soft=st.floats(1, 5, exclude_min=True),
    delta=st.floats(0.01, 10),
)
def test_down_is_up_mirrored(value, base, soft, delta):
    """A drop from `base` to `value` is judged exactly like a rise from `value` to `base`."""
    up = MetricRule("m", "up", soft, soft + delta)
    down = MetricRule("m", "down", soft, soft + delta)
    a = judge(WatchPolicy((up,)), {"m": value}, [Poll(60, {"m": base})])
    b = judge(WatchPolicy((down,)), {"m": base}, [Poll(60, {"m": value})])
    assert a.readings[0].ratio == b.readings[0].ratio
    assert a.status is b.status


# --- time ---------------------------------------------------------------------------------------


@FAST
@given(
    policy=policies(),
    baseline=baselines(),
    polls=poll_series().filter(bool),
    later=st.floats(0, 3600),
)
def test_silence_never_gets_better_with_time(policy, baseline, polls, later):
    """Another poll without any data, later on, is never better than the one before it for
    the metric rules (health aside: a silent poll runs no health check)."""
    no_health = [Poll(p.elapsed, p.values, p.requests, None) for p in polls[:-1]]
    silent_now = no_health + [Poll(polls[-1].elapsed, {})]
    silent_later = silent_now + [Poll(polls[-1].elapsed + later, {})]
    a = judge(policy, baseline, silent_now)
    b = judge(policy, baseline, silent_later)
    assert b.status.rank >= a.status.rank


# --- equal samples -------------------------------------------------------------------------------


@FAST
@given(
    policy=policies(min_rules=1),
    baseline=baselines(round_baseline, complete=True),
    polls=poll_series(breachy, min_polls=1),
    data=st.data(),
)
def test_a_decision_never_depends_on_the_order_of_equal_samples(policy, baseline, polls, data):
    """Samples for the same instant (a backend answering twice, a duplicated scrape) may arrive
    in any order: duplicate some polls at their own time with other values and health, shuffle
    each set of equal-time polls, and the decision is the same."""
    groups = []
    for poll in polls:
        twins = data.draw(
            st.lists(
                st.builds(
                    Poll,
                    elapsed=st.just(poll.elapsed),
                    values=st.dictionaries(st.sampled_from(NAMES), breachy, max_size=len(NAMES)),
                    requests=st.one_of(st.none(), finite_nonneg),
                    health_ok=st.one_of(st.none(), st.booleans()),
                ),
                max_size=2,
            )
        )
        groups.append([poll, *twins])
    in_order = [p for group in groups for p in group]
    shuffled = [p for group in groups for p in data.draw(st.permutations(group))]
    a, b = judge(policy, baseline, in_order), judge(policy, baseline, shuffled)
    assert (a.status, a.trigger, a.reasons, a.readings, a.health_failures) == (
        b.status, b.trigger, b.reasons, b.readings, b.health_failures,
    )
    check_consistent(policy, in_order, a)


@FAST
@given(policy=policies(min_rules=1), baseline=baselines(), polls=poll_series(min_polls=1))
def test_equal_samples_are_merged_worst_first(policy, baseline, polls):
    """A poll repeated at its own time with every metric worse is judged as the worse one."""
    last = polls[-1]
    worse = {
        r.name: (math.inf if r.direction == "up" else 0.0) for r in policy.rules
    }
    twin = Poll(last.elapsed, worse, last.requests, last.health_ok)
    merged = judge(policy, baseline, polls + [twin])
    alone = judge(policy, baseline, polls[:-1] + [twin])
    assert merged.status is alone.status
    assert [r.classification for r in merged.readings] == [r.classification for r in alone.readings]
