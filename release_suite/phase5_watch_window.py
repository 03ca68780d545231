"""Phase 5: watch the live system against the baseline; a hard breach rolls back at once, a soft
one is escalated (continue, roll back, or extend the window)."""

import pytest


def test_watch_window(release):
    outcome = release.watch()
    if not outcome.passed:
        pytest.fail(outcome.message)
