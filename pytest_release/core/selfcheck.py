"""The runbook's self-verification checklist, evaluated when the release ends.

The release says what it did; this module checks it against what is on disk and in the state,
so a report that claims "Released" while the tag, the tickets or the report itself are missing
is caught by the tool rather than by the next operator. Facts in, checklist out; the facts are
gathered from the state and the disk by pytest_release.phases.commit.selfcheck."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class CheckItem:
    ok: bool
    text: str

    def __iter__(self):  # the template unpacks (ok, text)
        return iter((self.ok, self.text))


@dataclass(frozen=True)
class PhaseFacts:
    number: int
    title: str
    ran: bool  # at least one check of the phase was recorded
    has_section: bool
    started: bool
    finished: bool


@dataclass(frozen=True)
class Facts:
    verdict: str  # a Verdict's value
    report_name: str
    report_text: str | None  # the report as it is on disk; None when it is missing
    phases: Sequence[PhaseFacts]
    live_touched: bool
    rollback_started: bool
    rollback_report_name: str
    rollback_report_exists: bool
    skipped_without_reason: Sequence[str]  # names of skipped checks that give no reason
    phases_not_run_reason: str | None  # the first reason in the chain, when a phase did not run
    standalone: bool = False
    # bookkeeping, as phase 6 recorded it
    ticket_target: str | None = None  # the status tickets had to reach; None: no move demanded
    tracker_configured: bool = False
    tickets_moved: Sequence[str] = ()
    tickets_failed: Sequence[str] = ()
    tickets_attempted: bool = False
    tag_demanded: bool = False
    tag_ok: bool = True  # created, or legitimately not made (see tag_note)
    tag_created: bool = False
    tag_note: str = ""
    retrospectives_demanded: Sequence[str] = ()
    retrospectives_written: Sequence[str] = ()
    incomplete: Sequence[str] = field(default_factory=tuple)
    notifications: Sequence[tuple[bool, str]] = ()  # (delivered, line) per notification and annotation sent


RELEASED = ("Released", "Released-with-override")


def evaluate(f: Facts) -> list[CheckItem]:
    """The checklist for this verdict, each item with whether it holds."""
    items = [_report_item(f), _phases_item(f)]
    if f.verdict in RELEASED:
        items.append(_tickets_item(f))
        items.append(CheckItem(f.tag_ok, f"git tag: {f.tag_note}"))
    elif f.verdict == "Rolled-Back" or f.verdict == "Rollback-Failed":
        items.append(
            CheckItem(
                f.rollback_report_exists,
                f"rollback report {f.rollback_report_name} exists" if f.rollback_report_exists
                else f"rollback report {f.rollback_report_name} is missing",
            )
        )
        if not f.standalone:
            items.append(_tickets_item(f))
    elif f.verdict == "Aborted":
        items.append(
            CheckItem(
                not f.live_touched and not f.rollback_started,
                "no live-system change was attempted" if not f.live_touched
                else "the live system WAS touched although the verdict is Aborted",
            )
        )
        moved = bool(f.tickets_moved or f.tickets_attempted)
        items.append(CheckItem(not moved, "no tracker ticket was moved" if not moved else "tracker tickets were moved on an Aborted release"))
        items.append(CheckItem(not f.tag_created, "no release tag was created" if not f.tag_created else "a release tag was created on an Aborted release"))
    for kind in f.retrospectives_demanded:
        written = kind in f.retrospectives_written
        items.append(CheckItem(written, f"{kind} retrospective " + ("recorded" if written else "NOT recorded")))
    items.append(_skips_item(f))
    if f.notifications:
        lost = [text for ok, text in f.notifications if not ok]
        items.append(CheckItem(not lost, "notifications and annotations NOT delivered: " + "; ".join(lost) if lost
                               else f"notifications and annotations: all {len(f.notifications)} delivered"))
    return items


def failed(items: Sequence[CheckItem]) -> list[CheckItem]:
    return [i for i in items if not i.ok]


def _report_item(f: Facts) -> CheckItem:
    if f.report_text is None:
        return CheckItem(False, f"release report {f.report_name} is missing")
    has_verdict = "## Verdict" in f.report_text and f"**{f.verdict}**" in f.report_text
    if not has_verdict:
        return CheckItem(False, f"release report {f.report_name} exists but does not record the verdict {f.verdict}")
    return CheckItem(True, f"release report {f.report_name} exists with the verdict {f.verdict}")


def _phases_item(f: Facts) -> CheckItem:
    ran = [p for p in f.phases if p.ran]
    bad = [p for p in ran if not (p.has_section and p.started and p.finished)]
    if bad:
        names = ", ".join(f"{p.number}. {p.title}" for p in bad)
        return CheckItem(False, f"phases without a timestamped section: {names}")
    return CheckItem(True, f"every phase that ran ({len(ran)}) has a section with start and finish times")


def _tickets_item(f: Facts) -> CheckItem:
    if f.ticket_target is None:
        if f.verdict == "Rollback-Failed":
            return CheckItem(not f.tickets_moved, "tracker tickets left where they were (the system is in an unknown state)")
        return CheckItem(True, "no tracker ticket had to move")
    if not f.tracker_configured:
        return CheckItem(True, f"tracker tickets: no tracker configured (nothing moved to {f.ticket_target})")
    if f.tickets_failed:
        return CheckItem(False, f"tracker tickets NOT moved to {f.ticket_target}: {', '.join(f.tickets_failed)}")
    if not f.tickets_moved:
        return CheckItem(True, f"tracker tickets: none in scope (nothing to move to {f.ticket_target})")
    return CheckItem(True, f"tracker tickets in {f.ticket_target}: {', '.join(f.tickets_moved)}")


def _skips_item(f: Facts) -> CheckItem:
    if f.skipped_without_reason:
        return CheckItem(False, "checks skipped without a recorded reason: " + ", ".join(f.skipped_without_reason))
    not_run = [p for p in f.phases if not p.ran]
    if not_run and not f.phases_not_run_reason:
        names = ", ".join(f"{p.number}. {p.title}" for p in not_run)
        return CheckItem(False, f"phases did not run and no reason is recorded: {names}")
    if not_run:
        return CheckItem(True, f"phases that did not run ({len(not_run)}) have a recorded reason: {f.phases_not_run_reason}")
    return CheckItem(True, "no phase was skipped without a recorded reason")
