"""The fixtures of release mode, registered only when a release runs (see session.py)."""

from __future__ import annotations

import pytest

from pytest_release.context import ReleaseContext

CONTEXT_KEY = pytest.StashKey[ReleaseContext]()


@pytest.fixture(scope="session")
def release(request: pytest.FixtureRequest) -> ReleaseContext:
    """The release in progress: its state, report, config and the steps the phases take."""
    return request.config.stash[CONTEXT_KEY]
