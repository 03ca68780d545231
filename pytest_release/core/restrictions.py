"""When a release may start and who must approve it: change windows, blackouts, freezes, approvals.

Pure: times are passed in (aware datetimes), nothing is read or written. Weekly windows and
blackouts are judged in the calendar's time zone (zoneinfo), so "Mon-Thu 09:00-16:00
Europe/Berlin" means Berlin office hours in winter and in summer alike; dated freezes are
absolute periods. A closed calendar says when it next opens, so an Aborted release can tell the
person when to come back."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pytest_release.core.prose import prose_lines

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{name: (i,) for i, name in enumerate(DAYS)},
    **{full: (i,) for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
    "weekdays": tuple(range(5)),
    "weekends": (5, 6),
    "daily": tuple(range(7)),
    "all": tuple(range(7)),
}
_SEARCH_DAYS = 400  # how far ahead the next opening is looked for


# --- parsing (config.py calls these; a ValueError message is shown with the key path) ---------
def parse_days(value: Any) -> frozenset[int]:
    """`[mon, tue]`, `mon-fri`, `weekdays`, `weekends`, `daily` -> weekday numbers (Monday 0)."""
    items = value if isinstance(value, list) else [value]
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected day names like mon, tue or mon-fri, got {item!r}")
        for part in item.split(","):
            part = part.strip().lower()
            if "-" in part:
                first, _, last = part.partition("-")
                if first not in DAYS or last not in DAYS:
                    raise ValueError(f"expected a day range like mon-fri, got {part!r}")
                a, b = DAYS.index(first), DAYS.index(last)
                days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
            elif part in _DAY_ALIASES:
                days.update(_DAY_ALIASES[part])
            else:
                raise ValueError(f"unknown day {part!r} (expected mon..sun, weekdays, weekends or daily)")
    if not days:
        raise ValueError("at least one day is required")
    return frozenset(days)


def parse_clock(value: Any, *, end: bool = False) -> int:
    """'09:00' -> minutes after midnight; '24:00' is allowed as an end.

    YAML 1.1 reads an unquoted 16:00 as the base-60 number 960, which is the same count of
    minutes, so both spellings work."""
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value <= 1440:
        minutes = value
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)):
        hours, mins = int(m.group(1)), int(m.group(2))
        if mins > 59 or hours > 24 or (hours == 24 and mins):
            raise ValueError(f"not a time of day: {value!r}")
        minutes = hours * 60 + mins
    else:
        raise ValueError(f"expected a time of day like '09:00' (quoted), got {value!r}")
    if minutes == 1440 and not end:
        raise ValueError("24:00 can only end a period")
    return minutes


def parse_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an IANA time zone like 'Europe/Berlin' or 'UTC', got {value!r}")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name like 'Europe/Berlin')") from None
    return value.strip()


def parse_moment(value: Any, tz: str, *, end: bool = False) -> dt.datetime:
    """A freeze boundary: a date (a whole day: an end date is inclusive) or a date and time."""
    zone = ZoneInfo(tz)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected a date like 2026-12-20 or a date and time like '2026-12-20 18:00', got {text!r}") from None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    raise ValueError(f"expected a date like 2026-12-20 or a date and time like '2026-12-20 18:00', got {value!r}")


# --- the calendar --------------------------------------------------------------------------
@dataclass(frozen=True)
class WeeklySpan:
    """Some days of the week from `start` to `end` (minutes after midnight, local time).

    An end at or before the start runs past midnight: fri 22:00-06:00 is Friday night until
    Saturday 06:00."""

    days: frozenset[int]
    start: int
    end: int
    reason: str = ""

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("a period cannot start and end at the same time (use 00:00-24:00 for a whole day)")

    def contains(self, local: dt.datetime) -> bool:
        day, minute = local.weekday(), local.hour * 60 + local.minute
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)

    def describe(self) -> str:
        return f"{_describe_days(self.days)} {_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class Freeze:
    start: dt.datetime
    end: dt.datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a freeze must end after it starts ({self.start.isoformat()} .. {self.end.isoformat()})")

    def contains(self, moment: dt.datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class CalendarDecision:
    open: bool
    reasons: tuple[str, ...]  # why it is closed (empty when open)
    next_opening: dt.datetime | None  # None when open, or no opening within the search horizon

    def next_opening_text(self, tz: str) -> str:
        if self.next_opening is None:
            return f"no opening in the next {_SEARCH_DAYS} days"
        local = self.next_opening.astimezone(ZoneInfo(tz))
        utc = self.next_opening.astimezone(dt.timezone.utc)
        text = local.strftime("%a %Y-%m-%d %H:%M ") + (local.tzname() or tz)
        if tz != "UTC":
            text += f" ({utc.strftime('%Y-%m-%d %H:%M')} UTC)"
        return text


@dataclass(frozen=True)
class ChangeCalendar:
    """When releases may start. No windows means any time; blackouts and freezes always win."""

    timezone: str = "UTC"
    windows: tuple[WeeklySpan, ...] = ()
    blackouts: tuple[WeeklySpan, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.windows or self.blackouts or self.freezes)

    def _closed_because(self, moment: dt.datetime) -> list[str]:
        local = moment.astimezone(ZoneInfo(self.timezone))
        reasons = []
        if self.windows and not any(w.contains(local) for w in self.windows):
            allowed = ", ".join(w.describe() for w in self.windows)
            reasons.append(f"outside the change windows ({allowed} {self.timezone})")
        for b in self.blackouts:
            if b.contains(local):
                reasons.append(f"blackout {b.describe()} {self.timezone}" + (f": {b.reason}" if b.reason else ""))
        for f in self.freezes:
            if f.contains(moment):
                span = f"{_local(f.start, self.timezone)} to {_local(f.end, self.timezone)}"
                reasons.append(f"change freeze {span}" + (f": {f.reason}" if f.reason else ""))
        return reasons

    def decide(self, now: dt.datetime) -> CalendarDecision:
        if now.tzinfo is None:
            raise ValueError("the calendar needs an aware datetime")
        reasons = self._closed_because(now)
        if not reasons:
            return CalendarDecision(True, (), None)
        return CalendarDecision(False, tuple(reasons), self.next_opening(now))

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """The first moment at or after `now` when a release may start.

        Openings happen only at boundaries: a window starting, a blackout or a freeze ending (or
        midnight, when a day joins a window's days). So only those instants are tried, in order."""
        for candidate in self._boundaries(now):
            if not self._closed_because(candidate):
                return candidate
        return None

    def _boundaries(self, now: dt.datetime) -> Iterable[dt.datetime]:
        zone = ZoneInfo(self.timezone)
        horizon = now + dt.timedelta(days=_SEARCH_DAYS)
        instants = {f.end for f in self.freezes if now < f.end <= horizon}
        minutes = {0} | {w.start for w in self.windows} | {b.end % 1440 for b in self.blackouts}
        first_day = now.astimezone(zone).date()
        for offset in range(_SEARCH_DAYS + 1):
            day = first_day + dt.timedelta(days=offset)
            for minute in minutes:
                local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone)
                moment = local.astimezone(dt.timezone.utc)
                if now < moment <= horizon:
                    instants.add(moment)
        return sorted(instants)


# --- approvals -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalPolicy:
    required: int = 0
    four_eyes: bool = True
    approvers: tuple[str, ...] = ()  # who may approve; empty means anyone


@dataclass(frozen=True)
class ApprovalDecision:
    ok: bool
    approved_by: tuple[str, ...]  # the approvals that count
    problems: tuple[str, ...]


def check_approvals(policy: ApprovalPolicy, releaser: str, given: Sequence[str]) -> ApprovalDecision:
    """Count the approvals that hold under the policy; say what is missing or not allowed.

    Names compare case-insensitively. With four-eyes, the releaser's own approval does not
    count and naming one approver twice is refused, not silently merged."""
    problems: list[str] = []
    allowed = {a.casefold() for a in policy.approvers}
    counted: list[str] = []
    seen: set[str] = set()
    for name in given:
        key = name.casefold()
        if key in seen:
            if policy.four_eyes:
                problems.append(f"{name} is named twice: four-eyes needs distinct approvers")
            continue
        seen.add(key)
        if policy.four_eyes and key == releaser.casefold():
            problems.append(f"{name} is releasing this version and cannot approve it (four-eyes)")
            continue
        if allowed and key not in allowed:
            problems.append(f"{name} is not an approver here (approvers: {', '.join(policy.approvers)})")
            continue
        counted.append(name)
    if len(counted) < policy.required:
        have = f"{len(counted)} valid" if given else "none"
        problems.insert(0, f"{policy.required} approval(s) required, {have} given")
    return ApprovalDecision(ok=len(counted) >= policy.required and not problems, approved_by=tuple(counted), problems=tuple(problems))


# --- restrictions.md -----------------------------------------------------------------------
_PERF_LINE = re.compile(
    r"^[\s>*+-]*(?:\*\*|__)?\s*perf(?:ormance)?[ _-]evidence\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<value>[a-z -]+?)\s*(?:\*\*|__)?\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def perf_required_by(text: str) -> bool | None:
    """What `_docs/00_problem/restrictions.md` says about performance evidence.

    The convention is one line, outside code fences: `Performance evidence: required` (or
    `not required` / `optional`), optionally as a list item or in bold. None when it says nothing."""
    answer: bool | None = None
    for line in prose_lines(text):
        match = _PERF_LINE.match(line)
        if match:
            value = match.group("value").strip().lower()
            if value in ("required", "yes", "mandatory"):
                answer = True
            elif value in ("not required", "optional", "no", "none"):
                answer = False
    return answer


# --- formatting ----------------------------------------------------------------------------
def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if len(ordered) == 7:
        return "daily"
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{DAYS[ordered[0]].title()}-{DAYS[ordered[-1]].title()}"
    return ",".join(DAYS[d].title() for d in ordered)


def _local(moment: dt.datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
