"""Change windows, blackouts, freezes (with time zones and DST), approvals with four-eyes, and the
restrictions.md convention for performance evidence. Pure: times are passed in."""

from __future__ import annotations

import datetime as dt
import textwrap
from zoneinfo import ZoneInfo

import pytest

from pytest_release.config import ConfigError, load_config
from pytest_release.core.restrictions import (
    ApprovalPolicy,
    ChangeCalendar,
    Freeze,
    WeeklySpan,
    check_approvals,
    parse_clock,
    parse_days,
    parse_moment,
    perf_required_by,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def office_hours(tz: str = "Europe/Berlin") -> ChangeCalendar:
    return ChangeCalendar(tz, windows=(WeeklySpan(parse_days("mon-thu"), parse_clock("09:00"), parse_clock("16:00")),))


# --- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, days",
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        (["sat", "Sunday"], {5, 6}),
        ("weekdays", {0, 1, 2, 3, 4}),
        ("weekends", {5, 6}),
        ("daily", set(range(7))),
        ("fri-mon", {4, 5, 6, 0}),  # a range may wrap around the week
        ("mon,wed", {0, 2}),
    ],
)
def test_days(value, days):
    assert parse_days(value) == frozenset(days)


@pytest.mark.parametrize("value", ["funday", "mon-xyz", 3, []])
def test_bad_days_say_what_is_expected(value):
    with pytest.raises(ValueError, match="day"):
        parse_days(value)


def test_times_of_day_quoted_or_as_yaml_reads_them_unquoted():
    assert parse_clock("09:00") == 540 and parse_clock("9:30") == 570
    assert parse_clock(960) == 960  # YAML 1.1 reads an unquoted 16:00 as 960 (base 60)
    assert parse_clock("24:00", end=True) == 1440
    for bad in ("24:00", "25:00", "12:60", "noon", 9, True):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_freeze_dates_are_whole_days_in_the_calendar_time_zone():
    assert parse_moment(dt.date(2026, 12, 20), "Europe/Berlin") == dt.datetime(2026, 12, 20, tzinfo=BERLIN)
    assert parse_moment("2026-12-24", "Europe/Berlin", end=True) == dt.datetime(2026, 12, 25, tzinfo=BERLIN)  # inclusive
    assert parse_moment("2026-12-20 18:00", "UTC") == utc(2026, 12, 20, 18)
    assert parse_moment("2026-12-20T18:00:00+02:00", "UTC") == utc(2026, 12, 20, 16)
    with pytest.raises(ValueError, match="expected a date"):
        parse_moment("next friday", "UTC")


# --- windows, blackouts, freezes -------------------------------------------------------------
def test_inside_a_window_is_open_and_outside_says_when_it_opens_next():
    calendar = office_hours()
    assert calendar.decide(utc(2026, 1, 5, 9)).open  # Monday 10:00 in Berlin (CET, UTC+1)
    closed = calendar.decide(utc(2026, 1, 8, 15, 30))  # Thursday 16:30 in Berlin
    assert not closed.open
    assert closed.reasons == ("outside the change windows (Mon-Thu 09:00-16:00 Europe/Berlin)",)
    assert closed.next_opening == utc(2026, 1, 12, 8)  # Monday 09:00 CET
    assert closed.next_opening_text("Europe/Berlin") == "Mon 2026-01-12 09:00 CET (2026-01-12 08:00 UTC)"


def test_the_next_opening_respects_daylight_saving_time():
    # Saturday 2026-03-28: Berlin moves to CEST (UTC+2) on Sunday the 29th.
    closed = office_hours().decide(utc(2026, 3, 28, 12))
    assert closed.next_opening == utc(2026, 3, 30, 7)  # Monday 09:00 CEST
    assert closed.next_opening_text("Europe/Berlin").startswith("Mon 2026-03-30 09:00 CEST")


def test_a_window_is_judged_in_its_own_time_zone():
    now = utc(2026, 1, 5, 14)  # Monday: 15:00 in Berlin, 09:00 in New York
    assert office_hours("Europe/Berlin").decide(now).open
    assert office_hours("America/New_York").decide(now).open
    assert not office_hours("Asia/Tokyo").decide(now).open  # 23:00 in Tokyo


def test_a_blackout_inside_a_window_wins_and_reopens_at_its_end():
    calendar = ChangeCalendar(
        "UTC",
        windows=(WeeklySpan(parse_days("daily"), 0, 1440),),
        blackouts=(WeeklySpan(parse_days("fri"), parse_clock("12:00"), parse_clock("24:00", end=True), "no Friday afternoon deploys"),),
    )
    closed = calendar.decide(utc(2026, 1, 9, 13))  # Friday
    assert closed.reasons == ("blackout Fri 12:00-24:00 UTC: no Friday afternoon deploys",)
    assert closed.next_opening == utc(2026, 1, 10)
    assert calendar.decide(utc(2026, 1, 9, 11, 59)).open


def test_an_overnight_span_runs_past_midnight():
    night = WeeklySpan(parse_days("fri"), parse_clock("22:00"), parse_clock("06:00"))
    assert night.contains(dt.datetime(2026, 1, 9, 23, 0))  # Friday night
    assert night.contains(dt.datetime(2026, 1, 10, 5, 59))  # Saturday early morning
    assert not night.contains(dt.datetime(2026, 1, 10, 6, 0))
    assert not night.contains(dt.datetime(2026, 1, 8, 23, 0))  # Thursday night
    calendar = ChangeCalendar("UTC", windows=(night,))
    assert calendar.decide(utc(2026, 1, 10, 12)).next_opening == utc(2026, 1, 16, 22)


def test_a_freeze_closes_even_an_open_window_until_it_ends():
    calendar = ChangeCalendar(
        "Europe/Berlin",
        windows=office_hours().windows,
        freezes=(Freeze(parse_moment("2025-12-20", "Europe/Berlin"), parse_moment("2026-01-06", "Europe/Berlin", end=True), "year-end"),),
    )
    closed = calendar.decide(utc(2026, 1, 5, 10))  # Monday, inside office hours
    assert closed.reasons == ("change freeze 2025-12-20 00:00 to 2026-01-07 00:00: year-end",)
    assert closed.next_opening == utc(2026, 1, 7, 8)  # the freeze ends at midnight; the window opens at 09:00
    assert calendar.decide(utc(2026, 1, 7, 8)).open


def test_a_calendar_that_never_opens_says_so():
    calendar = ChangeCalendar("UTC", blackouts=(WeeklySpan(parse_days("daily"), 0, 1440),))
    closed = calendar.decide(utc(2026, 1, 1))
    assert not closed.open and closed.next_opening is None
    assert closed.next_opening_text("UTC") == "no opening in the next 400 days"


def test_an_empty_calendar_is_always_open():
    assert ChangeCalendar().empty and ChangeCalendar().decide(utc(2026, 1, 1)).open
    with pytest.raises(ValueError, match="aware"):
        ChangeCalendar().decide(dt.datetime(2026, 1, 1))


def test_bad_spans_and_freezes_are_refused():
    with pytest.raises(ValueError, match="cannot start and end at the same time"):
        WeeklySpan(frozenset({0}), 600, 600)
    with pytest.raises(ValueError, match="must end after it starts"):
        Freeze(utc(2026, 1, 2), utc(2026, 1, 1))


# --- config ----------------------------------------------------------------------------------
def write_config(tmp_path, gate: str):
    path = tmp_path / "release.yaml"
    path.write_text("environments:\n  prod:\n    gate:\n" + textwrap.indent(textwrap.dedent(gate), "      "))
    return path


def test_change_windows_and_approvals_from_release_yaml(tmp_path):
    config = load_config(write_config(tmp_path, """
        change_windows:
          timezone: Europe/Berlin
          open: [{days: mon-thu, from: '09:00', to: 16:00}]
          blackouts: [{days: [fri], from: '12:00', to: '24:00', reason: weekend}]
          freezes: [{from: 2026-12-20, to: 2027-01-02, reason: year-end}]
        approvals: {required: 2, four_eyes: true, approvers: [bob, carol, dave]}
    """))
    gate = config.environment("prod").gate
    calendar = gate.change_windows
    assert calendar.timezone == "Europe/Berlin"
    assert calendar.windows == (WeeklySpan(frozenset({0, 1, 2, 3}), 540, 960),)
    assert calendar.blackouts[0].reason == "weekend" and calendar.blackouts[0].end == 1440
    assert calendar.freezes[0].end == dt.datetime(2027, 1, 3, tzinfo=BERLIN)
    assert gate.approvals == ApprovalPolicy(required=2, four_eyes=True, approvers=("bob", "carol", "dave"))


@pytest.mark.parametrize(
    "gate, message",
    [
        ("change_windows: {timezone: Mars/Olympus}\n", "gate.change_windows.timezone: unknown time zone 'Mars/Olympus'"),
        ("change_windows: {open: [{days: mon, from: '09:00'}]}\n", r"gate.change_windows.open\[0\]: days, from and to are required"),
        ("change_windows: {open: [{days: someday, from: '09:00', to: '10:00'}]}\n", r"gate.change_windows.open\[0\].days: unknown day 'someday'"),
        ("change_windows: {blackouts: [{days: fri, from: 'noon', to: '24:00'}]}\n", r"gate.change_windows.blackouts\[0\].from: expected a time of day"),
        ("change_windows: {freezes: [{from: 2026-12-24, to: 2026-12-20}]}\n", r"gate.change_windows.freezes\[0\]: a freeze must end after it starts"),
        ("change_windows: {open: [{days: mon, from: '09:00', to: '10:00', every: week}]}\n", r"gate.change_windows.open\[0\].every: unknown key \(known keys: days, from, reason, to\)"),
        ("approvals: {required: -1}\n", "gate.approvals.required: must be 0 or more"),
        ("approvals: {requred: 2}\n", "gate.approvals.requred: unknown key .did you mean 'required'"),
    ],
)
def test_bad_restrictions_config_names_the_key(tmp_path, gate, message):
    with pytest.raises(ConfigError, match=r"release.yaml:\d+: environments.prod." + message):
        load_config(write_config(tmp_path, gate))


# --- approvals -------------------------------------------------------------------------------
def test_enough_distinct_approvers_other_than_the_releaser():
    decision = check_approvals(ApprovalPolicy(required=2), "alice", ["bob", "carol"])
    assert decision.ok and decision.approved_by == ("bob", "carol") and decision.problems == ()


def test_the_releaser_cannot_approve_under_four_eyes_whatever_the_case():
    decision = check_approvals(ApprovalPolicy(required=1), "alice", ["ALICE"])
    assert not decision.ok
    assert decision.problems == (
        "1 approval(s) required, 0 valid given",
        "ALICE is releasing this version and cannot approve it (four-eyes)",
    )


def test_without_four_eyes_the_releaser_counts_and_repeats_are_merged():
    decision = check_approvals(ApprovalPolicy(required=2, four_eyes=False), "alice", ["alice", "bob", "Bob"])
    assert decision.ok and decision.approved_by == ("alice", "bob")


def test_a_repeated_approver_is_refused_under_four_eyes():
    decision = check_approvals(ApprovalPolicy(required=2), "alice", ["bob", "bob"])
    assert not decision.ok and "bob is named twice: four-eyes needs distinct approvers" in decision.problems


def test_only_listed_approvers_count_when_a_list_is_given():
    decision = check_approvals(ApprovalPolicy(required=1, approvers=("bob",)), "alice", ["mallory", "Bob"])
    assert not decision.ok  # Bob counts, but mallory's approval is refused, and that is said
    assert decision.approved_by == ("Bob",)
    assert decision.problems == ("mallory is not an approver here (approvers: bob)",)


def test_none_given():
    decision = check_approvals(ApprovalPolicy(required=1), "alice", [])
    assert not decision.ok and decision.problems == ("1 approval(s) required, none given",)


# --- restrictions.md -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, required",
    [
        ("Performance evidence: required\n", True),
        ("- **Performance evidence: required**\n", True),
        ("* perf evidence: Mandatory.\n", True),
        ("Performance evidence: not required\n", False),
        ("Performance evidence: optional\n", False),
        ("# Restrictions\n\nNo deploys on Fridays.\n", None),
        ("```\nPerformance evidence: required\n```\n", None),  # an example in a code fence
        ("We need performance evidence: required by ITAR? no.\n", None),  # prose is not the convention
    ],
)
def test_restrictions_md_convention_for_performance_evidence(text, required):
    assert perf_required_by(text) is required
