"""Phase 4: every public endpoint answers, a read and a write each, within the phase budget."""

import pytest


def test_smoke(release, smoke_case):
    result = release.smoke_result(smoke_case)
    if not result.ok:
        pytest.fail(f"smoke test failure: {result.name}: {result.problem}")
