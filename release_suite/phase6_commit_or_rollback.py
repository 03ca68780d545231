"""Phase 6: commit a clean release, or roll back and prove the old version serves again."""

import pytest


def test_commit_or_rollback(release):
    if release.state.needs_rollback():
        ok, detail = release.roll_back()
        if not ok:
            pytest.fail(f"rollback failed: {detail} — the system is in an unknown state and needs a person")
    elif release.state.may_commit():
        release.commit()
    else:
        release.section_note("Aborted", "the live system was not touched; nothing to commit or roll back.")
