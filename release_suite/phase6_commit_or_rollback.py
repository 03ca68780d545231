"""Phase 6: commit a clean release, or roll back and prove the old version serves again.

Then the records outside the live system, as the verdict demands: tracker tickets (Released, or
back to Ready for Release), the release tag, the cycle or incident retrospective. A record that
cannot be made leaves the verdict as it is but fails the second check, so CI shows the release
as incomplete, and a leftover entry says what a person must finish."""

import pytest

from pytest_release.phases import commit, rollback


def test_commit_or_rollback(release):
    if release.state.needs_rollback():
        ok, detail = rollback.roll_back(release)
        commit.bookkeeping(release)
        if not ok:
            pytest.fail(f"rollback failed: {detail} — the system is in an unknown state and needs a person")
    elif release.state.may_commit():
        commit.commit(release)
    else:
        release.section_note("Aborted", "the live system was not touched; nothing to commit or roll back.")
        commit.bookkeeping(release)


def test_bookkeeping_complete(release):
    book = commit.bookkeeping(release)
    if book.problems:
        where = "; leftover: " + ", ".join(str(p) for p in book.leftovers) if book.leftovers else ""
        pytest.fail(f"release incomplete: {'; '.join(book.problems)}{where}")
