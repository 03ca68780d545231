"""The runbook's health rule: one failing interval is a soft blip, `health_failures_hard` in a
row (default 2) a hard breach. Health comes from the health-check script (Poll.health_ok) and,
with a PromQL health query, from its value in the poll. Pure."""

from __future__ import annotations

import math
from typing import Sequence

from pytest_release.core.readings import _Finding, _elapsed, _lookup, _sample
from pytest_release.core.watch_model import Poll, Status, WatchPolicy
from pytest_release.core.words import _fmt_num, format_elapsed

def health_reading(policy: WatchPolicy, poll: Poll) -> tuple[bool | None, str]:
    """Healthy, failed or not checked (None), and in words why, from the health-check script
    (poll.health_ok) and the PromQL health query (the policy's health metric) together: failed
    if either failed. A query with no series is a failure (the target vanished); a backend that
    did not answer is no check at all (the no-data rules already blame the backend)."""
    script: bool | None = None
    if poll.health_ok is not None:
        try:
            script = bool(poll.health_ok)
        except Exception:
            script = None
    query: bool | None = None
    words = ""
    if policy.health_metric is not None and not (isinstance(poll.error, str) and poll.error):
        raw = _lookup(poll.values, policy.health_metric)
        value, _ = _sample(raw) if raw is not None else (None, None)
        shown = policy.health_query or policy.health_metric
        if value is None:
            query, words = False, f"health query {shown} returned no series"
        else:
            query = value > 0
            words = f"health query {shown} = {_fmt_num(value)}"
    checks = [c for c in (script, query) if c is not None]
    if not checks:
        return None, ""
    if script is False and policy.health_metric is not None:
        words = "health-check script failed" + (f"; {words}" if query is False else "")
    return all(checks), words


def _health_ok(poll: Poll) -> bool | None:
    if poll.health_ok is None:
        return None
    try:
        return bool(poll.health_ok)
    except Exception:
        return None


def _health_streak(policy: WatchPolicy, polls: Sequence[Poll]) -> tuple[int, float, str, float]:
    """Failed health checks in a row, newest first, skipping polls where no check ran; the T+ of
    the newest failure, the words of the first failure of the streak and its T+."""
    streak = 0
    newest_failure = oldest_failure = math.nan
    first_words = ""
    for poll in reversed(polls):
        ok, words = health_reading(policy, poll)
        if ok is None:
            continue
        if ok:
            break
        if streak == 0:
            newest_failure = _elapsed(poll)
        oldest_failure, first_words = _elapsed(poll), words
        streak += 1
    return streak, newest_failure, first_words, oldest_failure


def _judge_health(
    policy: WatchPolicy, streak: int, failed_at: float, words: str, at: str, started: float
) -> _Finding | None:
    if streak == 0:
        return None
    n = policy.health_failures_hard
    when = format_elapsed(failed_at)
    how = f" ({words})" if words else ""
    if streak >= n:
        runs = "once" if streak == 1 else f"{streak} intervals in a row"
        trigger = f"health check failed {runs} at {when}{how}"
        return _Finding(
            Status.HARD, f"hard breach at {at}: {trigger} (hard at {n} in a row)", trigger, "health"
        )
    runs = "once (a single-interval blip)" if streak == 1 else f"{streak} intervals in a row"
    reason = f"soft breach at {at}: health check failed {runs} at {when}{how}; hard at {n} in a row"
    return _Finding(Status.SOFT, reason, f"health check failed {runs} at {when}", "health", key=f"health@{format_elapsed(started)}")
