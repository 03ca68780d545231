"""Phase 5: watch the live system against the baseline; a hard breach rolls back at once."""

import pytest


def test_watch_window(release):
    outcome = release.watch()
    if not outcome.passed:
        pytest.fail(outcome.trigger or "watch window failed")
