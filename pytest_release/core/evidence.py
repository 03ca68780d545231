"""The evidence behind a ratio rule at low traffic: whether the request and error counts since the
change show "new rate >= factor x baseline rate" at the policy's confidence.

A rule with `evidence: true` (error_rate by default) is a proportion of the poll's requests, so
each poll gives counts: n = Poll.requests (the same window as the ratio) and k = value x n, both
rounded to whole requests (Prometheus' increase() extrapolates). For each factor f of the rule
(soft, hard) a one-sided CUSUM of the binomial log-likelihood ratio accumulates over the polls:

    llr_t = log P(k_t; n_t, f*p0) - log P(k_t; n_t, p0)      S_t = max(0, S_{t-1} + llr_t)

with p0 the effective baseline (floor included). A point breach at f stands when S_t >= h, where
h = ln(c / (1 - c)) for the confidence c (default 0.99: h = ln 99 = 4.6): the counts are at
least c/(1-c) times likelier under "f x the baseline" than under "the baseline", i.e. Wald's
sequential bound ln((1-beta)/alpha) with alpha = beta = 1 - c. (0.99 rather than 0.95: over a
30-poll window the CUSUM restarts often, and at 0.95 benchmarks/evidence.py rolls back 10-20% of
healthy releases at 0.5-5 requests/s; at 0.99 at most a few percent, detecting a 2x about as often.) Why a likelihood ratio and not a
test against H0 "p <= f*p0": a true f x regression sits on that null's boundary and never
rejects it; the ratio of f*p0 against p0 does grow with it, and accumulates over polls, so a
sustained 2x at low traffic is shown within a few polls while a lone error is not. The reset at
0 (CUSUM) keeps healthy polls from banking credit against a later regression.

The likelihood ratio of f*p0 against p0 credits each error only ln(f), so a large jump at low
traffic (6 errors in 20 requests against 1%) would wait for more polls; each poll's own counts
are therefore also tested exactly (one-sided binomial test of "rate <= f*p0", p <= 1 - c), and
either shows the breach.

The judge (core.judge) classifies the poll by its own ratio first; only a soft or hard point
reading comes here (`gate`). Hard is checked first; a point-hard poll with only soft evidence is
soft; without enough evidence the reading is INCONCLUSIVE (never a pass, never a finding:
core.timeline.judge_end treats a window that ends so as the no-data rule does).

Pure: no I/O, no clock. scipy.stats is imported inside `_log_likelihood_ratios` only (the one
function that needs it), so a test run that never judges a window does not pay for importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from pytest_release.core.readings import _elapsed, _Finding, _has_data, _lookup, _requests, _sample
from pytest_release.core.watch_model import Classification, MetricReading, MetricRule, Poll, Status, WatchPolicy
from pytest_release.core.words import _fmt_factor, _fmt_num, _fmt_percent, format_elapsed

__all__ = ["Evidence", "above_limit_p", "counts", "gate", "keep_from", "needed", "words"]


@dataclass(frozen=True)
class Evidence:
    """The evidence test of one reading, for its words and for judge_end."""

    factor: float  # the factor tested ("new rate >= factor x baseline")
    score: float  # S: the accumulated log-likelihood ratio for `factor`
    needed: float  # h: the score that shows it at `confidence`
    confidence: float
    baseline: float  # p0: the effective baseline rate
    errors: int  # this poll
    requests: int
    since: float | None  # T+ of the first poll the score rests on (None: the score is 0)
    since_errors: int
    since_requests: int
    conclusive_before: bool  # an earlier poll of the window had a conclusive reading
    soft_score: float | None = None  # a point-hard poll: the score for the soft factor too
    soft_factor: float | None = None
    alone: bool = False  # this poll's counts alone show it (high traffic: today's words)
    exact_p: float = 1.0  # this poll's exact p-value of "rate <= factor x baseline" (one-sided)

    @property
    def shown(self) -> bool:
        return _shown(self.score, self.exact_p, self.needed, self.confidence)


def needed(confidence: float) -> float:
    """h for a confidence c: ln(c / (1 - c)) (ln 99 = 4.6 at 0.99, ln 19 = 2.94 at 0.95)."""
    return math.log(confidence / (1.0 - confidence))


def counts(rule: MetricRule, poll: Poll) -> tuple[int, int] | None:
    """(errors, requests) of `poll` for a proportion rule; None when it has no usable count (no
    value, no request count, no requests, or a value that is not a share of the requests)."""
    value, _ = _sample(_lookup(poll.values, rule.name))
    requests = _requests(poll)
    if value is None or requests is None or not math.isfinite(requests) or value > 1.0:
        return None
    n = int(round(requests))
    if n <= 0:
        return None
    return min(n, int(round(value * requests))), n


def _binom():  # type: ignore[no-untyped-def]
    """scipy.stats.binom. Deferred: importing scipy costs ~1 s, and only a judged window with an
    evidence rule needs it (tests/test_architecture.py lists this exception)."""
    from scipy.stats import binom

    return binom


def above_limit_p(errors: int, requests: int, limit: float) -> float:
    """The one-sided exact binomial p-value of `errors` in `requests` under "the rate is at most
    `limit`": P(X >= errors). Small means the counts show the rate above the limit."""
    if errors <= 0 or limit >= 1.0:
        return 1.0
    if limit <= 0.0:
        return 0.0
    return float(_binom().sf(errors - 1, requests, limit))


def _log_likelihood_ratios(ks: Sequence[int], ns: Sequence[int], p0: float, p1: float) -> list[float]:
    """log Binom(k; n, p1) - log Binom(k; n, p0) per poll, exact (scipy handles p1 = 1 and
    k = 0 or n without special cases here)."""
    binom = _binom()
    if not ks:
        return []
    llr = binom.logpmf(ks, ns, p1) - binom.logpmf(ks, ns, p0)
    return [float(x) for x in llr]


@dataclass(frozen=True)
class _Path:
    """Per merged poll: the score after it, the T+ its run started and the run's counts."""

    scores: tuple[float, ...]
    starts: tuple[float | None, ...]
    run_counts: tuple[tuple[int, int], ...]
    zero: tuple[bool, ...]  # the score is 0 after this poll
    llrs: tuple[float, ...]  # this poll's own log-likelihood ratio (0 without counts)


def _path(rule: MetricRule, polls: Sequence[Poll], p0: float, factor: float) -> _Path:
    per_poll = [counts(rule, p) for p in polls]
    usable = [c for c in per_poll if c is not None]
    p1 = min(factor * p0, 1.0)
    llrs = iter(_log_likelihood_ratios([c[0] for c in usable], [c[1] for c in usable], p0, p1))
    score, start, run = 0.0, None, (0, 0)
    scores, starts, runs, zero, own = [], [], [], [], []
    for poll, c in zip(polls, per_poll):
        llr = 0.0
        if c is not None:
            llr = next(llrs)
            score = max(0.0, score + llr) if not math.isnan(llr) else score
            if score <= 0.0:
                score, start, run = 0.0, None, (0, 0)
            else:
                if start is None:
                    start, run = _elapsed(poll), (0, 0)
                run = (run[0] + c[0], run[1] + c[1])
        scores.append(score)
        starts.append(start)
        runs.append(run)
        zero.append(score <= 0.0)
        own.append(llr)
    return _Path(tuple(scores), tuple(starts), tuple(runs), tuple(zero), tuple(own))


def _factors(rule: MetricRule) -> tuple[float, ...]:
    return tuple(f for f in (rule.soft, rule.hard) if f is not None)


def _testable(p0: float | None) -> bool:
    return p0 is not None and 0.0 < p0 < 1.0


def _exact(own: tuple[int, int] | None, p0: float, factor: float) -> float:
    """This poll's own one-sided exact binomial p-value of "rate <= factor x p0" (1.0 without
    counts): what catches a large jump at once, which the likelihood ratio of factor x p0 against
    p0 under-weights (20 errors in 40 requests score only ln(factor) per error)."""
    return 1.0 if own is None else above_limit_p(own[0], own[1], min(factor * p0, 1.0))


def _shown(score: float, exact_p: float, h: float, confidence: float) -> bool:
    return score >= h or exact_p <= 1.0 - confidence


def _gated(
    point: Classification, rule: MetricRule, scores: dict[float, float], h: float,
    exact: dict[float, float] | None = None, confidence: float = 0.99,
) -> Classification:
    """The reading a point classification becomes with the scores after the same poll (and, with
    `exact`, that poll's own exact p-values per factor)."""
    def shown(factor: float) -> bool:
        return _shown(scores[factor], (exact or {}).get(factor, 1.0), h, confidence)

    if point is Classification.HARD and rule.hard is not None and shown(rule.hard):
        return Classification.HARD
    if point in (Classification.HARD, Classification.SOFT) and rule.soft is not None and shown(rule.soft):
        return Classification.SOFT
    if point in (Classification.HARD, Classification.SOFT):
        return Classification.INCONCLUSIVE
    return point


def _conclusive(
    policy: WatchPolicy, rule: MetricRule, polls: Sequence[Poll], paths: dict[float, _Path],
    classify: Callable[[float], Classification], h: float, p0: float,
) -> list[bool]:
    out = []
    for i, poll in enumerate(polls):
        if not _has_data(policy, rule, poll):
            out.append(False)
            continue
        value, _ = _sample(_lookup(poll.values, rule.name))
        point = classify(value)  # type: ignore[arg-type]
        own = counts(rule, poll)
        if point in (Classification.SOFT, Classification.HARD) and own is not None:
            exact = {f: _exact(own, p0, f) for f in paths}
            point = _gated(point, rule, {f: p.scores[i] for f, p in paths.items()}, h, exact, policy.confidence)
        out.append(point is not Classification.INCONCLUSIVE)
    return out


def gate(
    policy: WatchPolicy, rule: MetricRule, polls: Sequence[Poll], p0: float | None,
    reading: MetricReading, finding: _Finding | None, classify: Callable[[float], Classification],
) -> tuple[MetricReading, _Finding | None]:
    """The point reading of the last poll, kept only where the evidence since the change shows it.
    `polls` are the judge's (merged) polls; `classify` is the point rule for a value."""
    point = reading.classification
    if point not in (Classification.SOFT, Classification.HARD) or finding is None:
        return reading, finding
    last = polls[-1]
    own = counts(rule, last)
    if own is None or not _testable(p0):
        why = "no request count" if own is None else "no baseline rate between 0 and 1"
        note = f"; the evidence test cannot run ({why}): the ratio decides"
        return replace(reading, explanation=reading.explanation + note), replace(finding, reason=finding.reason + note)
    assert p0 is not None
    h = needed(policy.confidence)
    paths = {f: _path(rule, polls, p0, f) for f in _factors(rule)}
    scores = {f: p.scores[-1] for f, p in paths.items()}
    exact = {f: _exact(own, p0, f) for f in paths}
    gated = _gated(point, rule, scores, h, exact, policy.confidence)
    factor = {Classification.HARD: rule.hard, Classification.SOFT: rule.soft}.get(gated)
    tested = factor if factor is not None else (rule.hard if point is Classification.HARD else rule.soft)
    assert tested is not None
    path = paths[tested]
    # A point-hard poll left inconclusive: say how far the soft factor got too (when it is shown,
    # the soft factor is the one tested and its words already say so).
    soft_score = scores[rule.soft] if point is Classification.HARD and gated is Classification.INCONCLUSIVE and rule.soft is not None else None
    ev = Evidence(
        factor=tested, score=scores[tested], needed=h, confidence=policy.confidence, baseline=p0,
        errors=own[0], requests=own[1], since=path.starts[-1], since_errors=path.run_counts[-1][0],
        since_requests=path.run_counts[-1][1],
        conclusive_before=any(_conclusive(policy, rule, polls[:-1], {f: _cut(p, len(polls) - 1) for f, p in paths.items()}, classify, h, p0)),
        soft_score=soft_score, soft_factor=rule.soft if soft_score is not None else None, exact_p=exact[tested],
    )
    text = f"{reading.explanation}; {words(rule.name, ev)}"
    at = format_elapsed(_elapsed(last))
    if gated is Classification.INCONCLUSIVE:
        return replace(reading, classification=gated, threshold=tested, explanation=text, evidence=ev), None
    if gated is point:
        if path.llrs[-1] >= h:
            # This poll's counts alone show it (high traffic): today's words, unchanged.
            return replace(reading, evidence=replace(ev, alone=True)), finding
        return replace(reading, explanation=text, evidence=ev), replace(finding, reason=f"{finding.reason}; {words(rule.name, ev)}")
    # Point-hard with only soft evidence: a soft finding.
    text = f"{reading.explanation} by this poll's ratio; {words(rule.name, ev)}"
    reading = replace(reading, classification=gated, threshold=rule.soft, explanation=text, evidence=ev)
    return reading, _Finding(Status.SOFT, f"soft breach at {at}: {text}", finding.trigger, rule.name, key=rule.name)


def _cut(path: _Path, n: int) -> _Path:
    return _Path(path.scores[:n], path.starts[:n], path.run_counts[:n], path.zero[:n], path.llrs[:n])


def keep_from(
    policy: WatchPolicy, rule: MetricRule, polls: Sequence[Poll], p0: float | None,
    classify: Callable[[float], Classification],
) -> int:
    """The index of the first of `polls` (merged) a later decision can still depend on: back to
    the last reset of every score before the newest conclusive poll (so that poll stays
    conclusive when the scores are recomputed from there), or before the last poll when none was
    conclusive. Recomputed from a later start a score is never higher and meets the true one at
    its first reset, so keeping from just after a reset gives the same scores."""
    if not polls or not _testable(p0):
        return len(polls)
    assert p0 is not None
    h = needed(policy.confidence)
    paths = {f: _path(rule, polls, p0, f) for f in _factors(rule)}
    if not paths:
        return len(polls)
    conclusive = _conclusive(policy, rule, polls, paths, classify, h, p0)
    newest = max((i for i, c in enumerate(conclusive) if c), default=None)
    # Resets before the newest conclusive poll; with none, any reset (nothing conclusive to keep).
    limit = len(polls) if newest is None else newest
    keep = len(polls)
    for path in paths.values():
        last_zero = max((i for i in range(limit) if path.zero[i]), default=-1)
        keep = min(keep, last_zero + 1)
    return keep


def words(metric: str, ev: Evidence) -> str:
    """ "1 error in 20 requests this poll; 3 errors in 140 since T+2m; evidence 0.50 of the 4.60
    needed to show error_rate >= 2.0x the baseline 1% at 99% confidence (...)"."""
    def errors(k: int) -> str:
        return f"{k} error{'s' if k != 1 else ''}"

    this = f"{errors(ev.errors)} in {ev.requests} requests this poll"
    if ev.since is None:
        run = "no evidence carried from earlier polls"
    else:
        run = f"{errors(ev.since_errors)} in {ev.since_requests} since {format_elapsed(ev.since)}"
    by_score = ev.score >= ev.needed
    score = (
        f"evidence {_fmt_score(ev.score)} >= the {_fmt_score(ev.needed)} needed: it shows" if by_score
        else f"evidence {_fmt_score(ev.score)} of the {_fmt_score(ev.needed)} needed to show"
    )
    text = (
        f"{this}; {run}; {score} {metric} >= {_fmt_factor(ev.factor)} the baseline"
        f" {_fmt_percent(ev.baseline)} at {_fmt_confidence(ev.confidence)} confidence"
        f" (binomial likelihood ratio of {_fmt_percent(min(ev.factor * ev.baseline, 1.0))} against"
        f" {_fmt_percent(ev.baseline)}, accumulated over the polls)"
    )
    alone = "shows it" if ev.exact_p <= 1.0 - ev.confidence else "does not show it"
    text += f"; this poll alone {alone} (one-sided exact binomial test of {metric} <= {_fmt_factor(ev.factor)} the baseline: p = {ev.exact_p:.2g})"
    if ev.soft_score is not None and ev.soft_factor is not None:
        shown = "shown" if ev.soft_score >= ev.needed else "not shown"
        text += f"; >= {_fmt_factor(ev.soft_factor)}: evidence {_fmt_score(ev.soft_score)}, {shown}"
    return text


def _fmt_score(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _fmt_confidence(c: float) -> str:
    return f"{_fmt_num(round(c * 100, 4))}%"
