"""Phase 6, path A and the end of every release: commit a clean release, then what a verdict
demands besides the live system (tracker tickets, the release tag, the retrospective), and the
final rendering of the report with the runbook's self-verification checklist.

Path B (the rollback and its verification) is pytest_release.phases.rollback."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_release.context import ReleaseContext
from pytest_release.core.release import Phase, Verdict
from pytest_release.phases.commit import bookkeeping as books
from pytest_release.phases.commit import selfcheck
from pytest_release.phases.commit.bookkeeping import Bookkeeping
from pytest_release.report.document import timestamp

BOOKKEEPING = pytest.StashKey[Bookkeeping]()


def finish(ctx: ReleaseContext, hook: Any) -> Verdict:
    """Render the verdict into the report for the last time and return it.

    Phase 6's bookkeeping runs here when phase 6 did not get to it (a rollback started from
    the end of a cut-short session); then the runbook's self-verification checklist is
    evaluated against what is on disk and rendered into the same report."""
    book = bookkeeping(ctx)
    verdict = ctx.state.verdict()
    chain = ctx.state.reason_chain()
    summary = books.summary_rows(ctx, ctx.commit_phases())
    ctx.report.extra.update(
        verdict=verdict.value,
        headline_reason="" if verdict in (Verdict.RELEASED, Verdict.RELEASED_WITH_OVERRIDE) else chain[0],
        exit_code=ctx.commit_exit_code(verdict),
        finished=timestamp(ctx.clock.now()),
        reason_chain=chain,
        summary=summary,
    )
    context: dict[str, Any] = {"sections": [], "verdict": verdict.value, "reasons": list(chain), "summary": [dict(r) for r in summary]}
    hook.pytest_release_report_context(release=ctx, context=context)
    sections = []
    for entry in context.get("sections") or []:
        if isinstance(entry, (tuple, list)) and len(entry) == 2:
            sections.append((str(entry[0]), str(entry[1])))
        else:
            ctx.say(f"pytest_release_report_context: ignored a section that is not a (title, markdown) pair: {entry!r:.80}")
    ctx.report.extra_sections = sections
    ctx.flush()  # the verdict is on disk before the checklist looks for it
    facts = selfcheck.gather(ctx, book, ctx.commit_phases(), standalone=ctx.commit_standalone())
    ctx.report.extra["self_check"] = [tuple(item) for item in selfcheck.evaluate(facts)]
    ctx.flush()
    return verdict


def bookkeeping(ctx: ReleaseContext) -> Bookkeeping:
    """Tracker moves, the release tag and retrospectives, as the verdict demands: once per
    session (phase 6 calls it; `finish` calls it when phase 6 did not run)."""
    book = ctx.stash.get(BOOKKEEPING, None)
    if book is not None:
        return book
    book = ctx.stash[BOOKKEEPING] = books.begin(ctx, standalone=ctx.commit_standalone())
    commit_section = ctx.report.sections.get(Phase.COMMIT.value)
    if commit_section is not None and commit_section.started is not None:
        section = commit_section
    else:
        section = ctx.report.section("bookkeeping", "Tracker, tag and retrospective (after the session was cut short)")
        section.started = ctx.clock.now()
    try:
        books.settle(ctx, book)
    finally:
        section.bullets(book.lines(), title="Tracker, tag and retrospective" if section is commit_section else "")
        if section is not commit_section:
            section.finished = ctx.clock.now()
            section.status = "incomplete" if book.problems else "done"
        ctx.flush()
    return book


def commit(ctx: ReleaseContext) -> None:
    """Path A: record Released, then move the tickets, tag and record the cycle retrospective."""
    ctx.state.commit()
    ctx.section(Phase.COMMIT).text(f"**Released** {ctx.invocation.version} to {ctx.env.name}.")
    ctx.flush()
    bookkeeping(ctx)
