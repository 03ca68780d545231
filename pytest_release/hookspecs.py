"""Hooks that users implement in a conftest.py or plugin (added in `pytest_addhooks`).

Every hook receives `release`, the release in progress (`pytest_release.context.ReleaseContext`:
`release.state`, `release.invocation`, `release.env`, `release.paths.report`...); an
implementation may take any subset of a hook's arguments, as with every pytest hook.

A user hook that raises is reported (terminal and report) and otherwise ignored: a broken
notifier must not roll back a good release or hide a bad one. See docs/hooks.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_release.core.events import NOTIFY_EVENTS

if TYPE_CHECKING:
    from pytest_release.clock import Clock
    from pytest_release.context import ReleaseContext
    from pytest_release.core.release import Phase, Verdict

__all__ = ["NOTIFY_EVENTS"]  # the events of `pytest_release_notify` (core/events.py)


@pytest.hookspec(firstresult=True)
def pytest_release_make_clock(config: pytest.Config) -> "Clock | None":
    """Return the clock the release runs on (first non-None wins).

    Tests and simulations return a `pytest_release.clock.SimulatedClock` so a watch window of an
    hour passes in moments; a real release never implements this hook."""


@pytest.hookspec
def pytest_release_phase_finished(release: "ReleaseContext", phase: "Phase", status: str) -> None:
    """A phase finished: called once per phase that started, in run order.

    `phase` is a `pytest_release.release.Phase` (`phase.value` is gate, strategy, execute, smoke,
    watch or commit; `phase.title` its name in the report); `status` is passed, failed or
    skipped. The phase's section in the report is complete and on disk when this is called."""


@pytest.hookspec
def pytest_release_verdict(release: "ReleaseContext", verdict: "Verdict", reasons: "list[str]") -> None:
    """The release reached its verdict; called once, at the end of the session.

    `verdict` is a `pytest_release.release.Verdict` (`verdict.value`: Released,
    Released-with-override, Rolled-Back, Aborted, Rollback-Failed; `verdict.exit_code`);
    `reasons` is the reason chain, first cause first. The report is final and on disk."""


@pytest.hookspec
def pytest_release_report_context(release: "ReleaseContext", context: "dict[str, Any]") -> None:
    """Change the report before it is rendered for the last time.

    `context["sections"]` is a list of (title, markdown) pairs rendered after the phases, before
    the verdict: append yours. Read-only keys: `context["verdict"]` (the verdict's name),
    `context["reasons"]` (the reason chain) and `context["summary"]` (the summary table's rows).
    What you add passes through the same secret redaction as the rest of the report."""


@pytest.hookspec
def pytest_release_notify(release: "ReleaseContext", event: str, detail: str) -> None:
    """The release changed state. Called once per change, never once per poll.

    `event` is one of `NOTIFY_EVENTS`: asked (a person is asked a question at the terminal; once
    per question), started (the deploy script is about to change the live system), rolling-back (a rollback begins), and exactly one final event: released,
    rolled-back, aborted or rollback-failed. `detail` is one line (redacted): what is being
    deployed, why the rollback runs, or the verdict's headline."""


@pytest.hookspec
def pytest_release_decision(release: "ReleaseContext", phase: "Phase", decision: str, by: str) -> None:
    """A question of the release was answered: the pre-release gate's A/B/C, the strategy, a soft
    breach (continue, roll back, extend). Called once per answer, as it is recorded in the report.

    `decision` is one line (redacted) saying what was decided; `by` who or what decided it (a
    person at the terminal, an option, the environment's config, or "nobody could be asked")."""
