"""Hooks that users implement in a conftest.py or plugin (added in `pytest_addhooks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .clock import Clock
    from .context import ReleaseContext
    from .release import Phase, Verdict


@pytest.hookspec(firstresult=True)
def pytest_release_make_clock(config: pytest.Config) -> "Clock | None":
    """Return the clock the release runs on (first non-None wins).

    Tests and simulations return a `pytest_release.clock.SimulatedClock` so a watch window of an
    hour passes in moments; a real release never implements this hook."""


@pytest.hookspec
def pytest_release_phase_finished(release: "ReleaseContext", phase: "Phase", status: str) -> None:
    """A phase finished (`status` is passed, failed or skipped)."""


@pytest.hookspec
def pytest_release_verdict(release: "ReleaseContext", verdict: "Verdict", reasons: "list[str]") -> None:
    """The release reached its verdict; the report is final when this is called."""


@pytest.hookspec
def pytest_release_report_context(release: "ReleaseContext", context: "dict[str, Any]") -> None:
    """Change the report before it is rendered for the last time.

    `context["sections"]` is a list of (title, markdown) pairs appended after the phases; add yours."""


@pytest.hookspec
def pytest_release_notify(release: "ReleaseContext", event: str, detail: str) -> None:
    """The release changed state: `event` is started, rolling-back, rolled-back, released,
    aborted or rollback-failed. Called once per change, never once per poll."""
