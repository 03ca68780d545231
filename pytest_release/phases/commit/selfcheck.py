"""The self-verification checklist's facts, gathered from the state, the report and the disk
(the rules are core.selfcheck's)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pytest_release.context import ReleaseContext
from pytest_release.core.release import Outcome
from pytest_release.core.selfcheck import Facts, PhaseFacts, evaluate, failed
from pytest_release.phases.commit.bookkeeping import Bookkeeping

__all__ = ["evaluate", "failed", "gather"]


def gather(ctx: ReleaseContext, bookkeeping: Bookkeeping | None, phases: Sequence[object], standalone: bool = False) -> Facts:
    """The facts for `evaluate`, read from the state, the report model and the disk."""

    state = ctx.state
    report_path: Path = ctx.paths.report
    try:
        report_text: str | None = report_path.read_text(encoding="utf-8")
    except OSError:
        report_text = None
    phase_facts = []
    for phase in phases:
        section = ctx.report.sections.get(phase.value)  # type: ignore[attr-defined]
        ran = any(c.phase is phase for c in state.checks)
        phase_facts.append(
            PhaseFacts(
                number=phase.number, title=phase.title, ran=ran,  # type: ignore[attr-defined]
                has_section=section is not None,
                started=bool(section and section.started), finished=bool(section and section.finished),
            )
        )
    skipped = [c.name for c in state.checks if c.outcome is Outcome.SKIPPED and not c.message.strip()]
    reasons = list(state.abort_reasons) + list(state.triggers) + ([state.interrupted] if state.interrupted else [])
    b = bookkeeping
    return Facts(
        verdict=state.verdict().value,
        report_name=report_path.name,
        report_text=report_text,
        phases=phase_facts,
        live_touched=state.live_touched_at is not None,
        rollback_started=state.rollback_started_at is not None,
        rollback_report_name=ctx.paths.rollback_report.name,
        rollback_report_exists=ctx.paths.rollback_report.exists(),
        skipped_without_reason=skipped,
        phases_not_run_reason=reasons[0] if reasons else None,
        standalone=standalone,
        ticket_target=b.ticket_target if b else None,
        tracker_configured=b.tracker_configured if b else False,
        tickets_moved=tuple(m.key for m in b.tickets if m.ok) if b else (),
        tickets_failed=tuple(m.key for m in b.tickets if not m.ok) if b else (),
        tickets_attempted=bool(b and b.tickets),
        tag_demanded=bool(b and b.tag_demanded),
        tag_ok=bool(b.tag_ok) if b else True,
        tag_created=bool(b and b.tag_created),
        tag_note=b.tag_note if b else "not evaluated",
        retrospectives_demanded=tuple(b.retrospectives_demanded) if b else (),
        retrospectives_written=tuple(b.retrospectives_written) if b else (),
        incomplete=tuple(state.incomplete),
        notifications=tuple(ctx.report.extra.get("notifications") or ()),
    )
