"""A watch window as a sequence of decisions: one judge, two drivers.

`core.judge.judge` decides one poll. This module turns a sequence of polls into the window's
decision timeline: the end-of-window rule (`judge_end`), the points where a person would be
asked about a soft finding, and asking about each finding once. The live loop
(metrics.window.WatchWindow, poll by poll on the release's clock) and the backtest (a day of
recorded polls at once) both drive the same `WindowJudge`, so a backtest decides every poll
exactly as a live window would; only a person's answer can differ, and the backtest says where.

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from pytest_release.core import evidence
from pytest_release.core.judge import (
    Classification,
    MetricReading,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    _merge_equal_times,
    format_elapsed,
    has_data,
    judge,
    point_classification,
)
from pytest_release.core.readings import _clean_baseline, _effective_baseline, _lookup, _same_time

__all__ = ["Step", "asking", "WindowJudge", "judge_end", "judge_timeline", "needed_history"]


def judge_end(decision: WatchDecision) -> WatchDecision:
    """The last poll's decision, seen as the end of the window. A window cannot pass on a metric
    that has no data now:

    * no data at any poll of the window (a window shorter than `no_data_after` that never saw a
      sample, or never enough traffic to judge it): a hard breach, as in the first minutes of
      any window;
    * data earlier, none since: the release has not been shown healthy, a soft breach (the
      runbook's "no data: escalate": extend the window, accept, or roll back).

    An INCONCLUSIVE reading (a ratio breach the counts do not yet show, core.evidence) ends the
    same way: hard when no poll of the window was conclusive for that metric, soft otherwise.

    A hard decision, or one with data for every metric, is returned unchanged."""
    if decision.status is Status.HARD:
        return decision
    blind = [r for r in decision.readings if r.classification is Classification.NO_DATA]
    unsure = [r for r in decision.readings if r.classification is Classification.INCONCLUSIVE]
    if not blind and not unsure:
        return decision
    at = format_elapsed(decision.elapsed if decision.elapsed is not None else math.nan)
    never = [r for r in blind if not r.had_data]
    never_sure = [r for r in unsure if not (r.evidence is not None and r.evidence.conclusive_before)]
    if never or never_sure:
        def words(metric: str, cause: str | None, detail: str) -> str:
            if cause == "inconclusive":
                return (
                    f"{metric} was inconclusive during the whole window (to {at}; {detail}): too few"
                    " requests to show the release healthy or not; an environment with few users needs"
                    " `traffic:` (the built-in load generator) or a longer window"
                )
            if cause == "traffic":
                return (
                    f"too little traffic to judge {metric} during the whole window (to {at}; {detail}):"
                    " an environment without users needs `traffic:` (the built-in load generator)"
                )
            return f"no data for {metric} during the whole window (to {at}; {detail}): observability is itself broken"

        causes = [(r.metric, r.cause, r.detail) for r in never]
        causes += [(r.metric, "inconclusive", _evidence_words(r)) for r in never_sure]
        first = causes[0]
        reasons = tuple(f"hard breach at {at}: {words(*c)}" for c in causes)
        return replace(
            decision, status=Status.HARD, reasons=decision.reasons + reasons,
            trigger=words(*first), trigger_metric=first[0], soft_keys=(),
        )
    reasons = tuple(
        f"soft breach at {at}: the window ended while {r.metric} had no data ({r.detail};"
        f" none since {format_elapsed(r.no_data_since or 0.0)}): the release has not been shown healthy"
        for r in blind
    ) + tuple(
        f"soft breach at {at}: the window ended while {r.metric} was inconclusive ({_evidence_words(r)}):"
        " the release has not been shown healthy"
        for r in unsure
    )
    keys = tuple(f"end:{r.metric}" for r in blind + unsure)
    return replace(decision, status=Status.SOFT, reasons=decision.reasons + reasons, soft_keys=decision.soft_keys + keys)


@dataclass(frozen=True)
class Step:
    """One poll's place in the timeline."""

    poll: Poll
    decision: WatchDecision
    final: bool  # the last poll of the window (as it stood then): judged by `judge_end`
    ask: bool  # a live window asks a person here (a soft finding not asked about before)
    asked_about: tuple[str, ...] = ()  # the finding keys the question is about

    @property
    def action(self) -> str:
        """What a live window does at this poll: continue, escalate (ask) or rollback."""
        if self.decision.status is Status.HARD:
            return "rollback"
        return "escalate" if self.ask else "continue"


def asking(poll: Poll, decision: WatchDecision, final: bool, accepted: set[str]) -> Step:
    """The step a decision makes: a person is asked about each soft finding not accepted before."""
    if decision.status is not Status.SOFT:
        return Step(poll, decision, final, ask=False)
    new = tuple(key for key in decision.soft_keys if key not in accepted)
    return Step(poll, decision, final, ask=bool(new), asked_about=new)


@dataclass
class WindowJudge:
    """The judge of one window, fed one poll at a time. Keeps only the history the judge can
    still look at, so a day of polls is judged in linear time, with decisions identical to
    judging the whole list each time."""

    policy: WatchPolicy
    baseline: Mapping[str, float | None]
    history: list[Poll] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)

    def step(self, poll: Poll, *, final: bool) -> Step:
        self.history.append(poll)
        decision = judge(self.policy, self.baseline, self.history)
        if final:
            decision = judge_end(decision)
        self.history = needed_history(self.policy, self.history, self.baseline)
        return asking(poll, decision, final, self.accepted)

    def accept(self, keys: Iterable[str]) -> None:
        """A person answered "continue" or "extend": these findings are not asked about again."""
        self.accepted.update(keys)


def judge_timeline(
    policy: WatchPolicy, baseline: Mapping[str, float | None], polls: Sequence[Poll], *, final_index: int | None = None
) -> list[Step]:
    """Every poll of a window as the live window judges it, every question answered "continue"
    (a person's answer is the one thing a recorded window cannot know). `final_index` is the
    poll where the window ends (default: the last); polls after it are judged as if the window
    had been extended."""
    window = WindowJudge(policy, baseline)
    end = len(polls) - 1 if final_index is None else final_index
    steps = []
    for index, poll in enumerate(polls):
        step = window.step(poll, final=index == end)
        if step.ask:
            window.accept(step.asked_about)
        steps.append(step)
    return steps


def _evidence_words(r: MetricReading) -> str:
    return evidence.words(r.metric, r.evidence) if r.evidence is not None else r.explanation


def _evidence_keep(policy: WatchPolicy, baseline: Mapping[str, float | None] | None, history: list[Poll]) -> int:
    """Where the evidence scores of `evidence` rules need the history from (core.evidence.keep_from),
    as an index into the raw `history`. The last group of equal-time polls is not settled (a later
    poll at the same time merges into it) and is always kept whole."""
    rules = [r for r in policy.rules if r.evidence]
    if not rules or not history:
        return len(history)
    if baseline is None:
        return 0  # no baseline given: keep everything (always correct)
    starts = [0] + [i for i in range(1, len(history)) if not _same_time(history[i - 1], history[i])]
    merged = _merge_equal_times(policy, tuple(history))
    settled = merged[:-1]
    keep = len(merged) - 1
    for rule in rules:
        eb = _effective_baseline(_clean_baseline(_lookup(baseline, rule.name)), rule.floor)
        keep = min(keep, evidence.keep_from(policy, rule, settled, eb, lambda v, rule=rule, eb=eb: point_classification(rule, v, eb)))
    return starts[keep]


def needed_history(
    policy: WatchPolicy, history: list[Poll], baseline: Mapping[str, float | None] | None = None
) -> list[Poll]:
    """The suffix of `history` that can still change a later decision: back to the newest poll
    with data of each metric (for "no data since"), back to the newest passed health check
    (for the failure streak), and, for a rule with `evidence`, back to where its scores were last
    0 (core.evidence.keep_from). Without `baseline` an evidence rule keeps the whole history."""
    keep = min(len(history) - 1, _evidence_keep(policy, baseline, history))
    for rule in policy.rules:
        for index in range(len(history) - 1, -1, -1):
            if has_data(policy, rule, history[index]):
                keep = min(keep, index)
                break
        else:
            return history  # never had data: the judge needs the whole window ("since T+0")
    if policy.alerts is not None and any(p.alerts is not None for p in history):
        # "alerts unknown since": back to the newest poll that read them
        known = [i for i, p in enumerate(history) if p.alerts is not None and not p.alerts.error]
        if not known:
            return history
        keep = min(keep, known[-1])
    checked = [i for i, p in enumerate(history) if _health_checked(policy, p)]
    if checked:
        passed = [i for i in checked if _health_passed(policy, history[i])]
        keep = min(keep, passed[-1] if passed else checked[0])
    return history[keep:]


def _health_checked(policy: WatchPolicy, poll: Poll) -> bool:
    return poll.health_ok is not None or (policy.health_metric is not None and not poll.error)


def _health_passed(policy: WatchPolicy, poll: Poll) -> bool:
    # Conservative: only a poll whose every check ran and passed ends a streak for sure.
    script_ok = poll.health_ok is None or bool(poll.health_ok)
    if policy.health_metric is None:
        return poll.health_ok is not None and script_ok
    raw = poll.values.get(policy.health_metric) if poll.values else None
    try:
        value = float(raw) if raw is not None else math.nan
    except (TypeError, ValueError):
        value = math.nan
    return script_ok and not poll.error and value > 0
