"""Phase 4: every public endpoint answers, a read and a write each, within the phase budget.

Blue-green smoke-tests the idle side before any user is switched to it, so a failure here is
Aborted there (the live side never changed); after any other deploy it rolls back."""

import pytest

from pytest_release.phases import smoke


def test_smoke(release, smoke_case):
    result = smoke.result(release, smoke_case)
    if not result.ok:
        where = " on the idle side, before the switch" if release.choices.strategy == "blue-green" else ""
        pytest.fail(f"smoke test failure{where}: {result.name}: {result.problem}")
