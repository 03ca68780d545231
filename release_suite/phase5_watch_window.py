"""Phase 5: watch the live system against the baseline. The window is mandatory: only an
override with a reason skips it (Released-with-override). A hard breach rolls back at once; a soft
one is escalated: continue, roll back, or extend the window."""

import pytest

from pytest_release.phases import watch


def test_watch_window(release):
    outcome = watch.skipped_by_override(release) or watch.run_window(release)
    if not outcome.passed:
        pytest.fail(outcome.message)
