"""The `release` fixture, registered only when a release runs (see session.py), and the stash
keys release mode shares between its hooks."""

from __future__ import annotations

import pytest

from pytest_release.config import Config
from pytest_release.context import ReleaseContext
from pytest_release.core.release import Phase
from pytest_release.options import Invocation

CONTEXT_KEY = pytest.StashKey[ReleaseContext]()  # on the pytest config, from sessionstart
PHASE_KEY = pytest.StashKey[Phase]()  # on each collected item: the phase it belongs to
INVOCATION_KEY = pytest.StashKey[Invocation]()  # on the pytest config: the options, read once
RELEASE_CONFIG_KEY = pytest.StashKey[Config]()  # on the pytest config: release.yaml, loaded once


@pytest.fixture(scope="session")
def release(request: pytest.FixtureRequest) -> ReleaseContext:
    """The release in progress: its state, report, config and the steps the phases take."""
    return request.config.stash[CONTEXT_KEY]
