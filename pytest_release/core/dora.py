"""The four DORA figures from the release history, per environment and calendar month (UTC).

Pure: facts about past releases in (what records and reports on disk say, gathered by stats.py),
figures out. The definitions, with the choices a history forces:

- Deployment frequency: releases that reached Released (or Released-with-override) in the
  month, and that count per week of the month (of the days elapsed, for the month of `now`).
- Lead time for changes: for every commit a Released release shipped, Released time minus the
  commit's time; the month's median (and 90th percentile) over those commits. Only release
  records carry commit times: a release without them is counted in `without_commit_times`.
- Change failure rate: Rolled-Back and Rollback-Failed among the releases that touched the live
  system (an Aborted release never did and is left out). Fail closed: a release that touched the
  live system and never reached a verdict (cut short by kill -9, a lost machine) counts as a
  failure, since nobody can say it is serving well.
- Time to restore: from the first hard breach (the first rollback trigger) to the end of a
  verified rollback; the month's median. A Rollback-Failed release was not restored by the
  release: it is counted in `not_restored`, never as a short time.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

RELEASED = ("Released", "Released-with-override")
FAILED = ("Rolled-Back", "Rollback-Failed")


@dataclass(frozen=True)
class ReleaseFacts:
    env: str
    version: str
    started: dt.datetime
    verdict: str | None  # None: no verdict on disk (in progress, or cut short)
    touched_live: bool | None  # None: cannot tell
    finished: dt.datetime | None = None
    commit_times: tuple[dt.datetime, ...] | None = None  # None: not known (a report, no git)
    failure_at: dt.datetime | None = None  # the first rollback trigger
    restored_at: dt.datetime | None = None  # the end of a verified rollback
    source: str = "record"  # "record" | "report"

    @property
    def released(self) -> bool:
        return self.verdict in RELEASED

    @property
    def failed(self) -> bool:
        """A change failure; fail closed for a release that touched the live system and has no verdict."""
        return self.verdict in FAILED or (self.verdict is None and self.touched_live is not False)


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, their median and 90th percentile (None when there are none)."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Spread":
        values = sorted(seconds)
        return cls(len(values), percentile(values, 50), percentile(values, 90))


@dataclass(frozen=True)
class MonthFigures:
    env: str
    month: str  # "2026-03"
    releases: int  # every attempt, Aborted included
    deployments: int  # attempts that touched the live system (or may have)
    released: int
    per_week: float
    lead_time: Spread
    without_commit_times: int
    failures: int
    unfinished: int
    change_failure_rate: float | None
    time_to_restore: Spread
    not_restored: int
    sources: dict[str, int] = field(default_factory=dict)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def month_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m")


def weeks_in(month: str, now: dt.datetime) -> float:
    year, number = (int(part) for part in month.split("-"))
    days = calendar.monthrange(year, number)[1]
    now = now.astimezone(dt.timezone.utc)
    if (now.year, now.month) == (year, number):
        days = max(now.day - 1 + (now.hour * 3600 + now.minute * 60 + now.second) / 86400, 1.0)
    return days / 7


def figures(releases: Iterable[ReleaseFacts], *, now: dt.datetime, since: dt.datetime | None = None, env: str | None = None) -> list[MonthFigures]:
    """One MonthFigures per (environment, month) with at least one release, in that order."""
    groups: dict[tuple[str, str], list[ReleaseFacts]] = {}
    for facts in releases:
        if env is not None and facts.env != env:
            continue
        if since is not None and facts.started < since:
            continue
        groups.setdefault((facts.env, month_of(facts.started)), []).append(facts)
    return [_month(name, month, group, now) for (name, month), group in sorted(groups.items())]


def _month(env: str, month: str, group: list[ReleaseFacts], now: dt.datetime) -> MonthFigures:
    deployed = [f for f in group if f.touched_live is not False]
    released = [f for f in group if f.released]
    lead: list[float] = []
    without = 0
    for facts in released:
        if not facts.commit_times or facts.finished is None:
            without += 1
            continue
        lead += [max((facts.finished - t).total_seconds(), 0.0) for t in facts.commit_times]
    failures = [f for f in deployed if f.failed]
    restore = [
        (f.restored_at - f.failure_at).total_seconds()
        for f in failures
        if f.verdict == "Rolled-Back" and f.failure_at is not None and f.restored_at is not None
    ]
    sources: dict[str, int] = {}
    for facts in group:
        sources[facts.source] = sources.get(facts.source, 0) + 1
    return MonthFigures(
        env=env, month=month, releases=len(group), deployments=len(deployed), released=len(released),
        per_week=len(released) / weeks_in(month, now), lead_time=Spread.of(lead), without_commit_times=without,
        failures=len(failures), unfinished=sum(1 for f in deployed if f.verdict is None),
        change_failure_rate=len(failures) / len(deployed) if deployed else None,
        time_to_restore=Spread.of(restore), not_restored=sum(1 for f in failures if f.verdict != "Rolled-Back"),
        sources=sources,
    )


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
