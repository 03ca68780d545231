"""Phase 4's steps (and the smoke plan checked in phase 2): every public endpoint, a read and a
write each, within the phase budget.

Every configured case starts at once (`smoke.concurrency` at a time) when the first case's
result is asked for; each case is its own pytest item, so each gets its own result. The phase
budget (5 minutes by default) is shared: a case's pytest-timeout is what remains of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_release.adapters.leftovers import write_leftover
from pytest_release.adapters.smoke import SmokeBudget, SmokeRunner
from pytest_release.context import ReleaseContext
from pytest_release.core import judge as analysis
from pytest_release.core.release import Phase
from pytest_release.core.smoke_plan import (
    leftover_missing,
    leftover_unsafe,
    review,
    target,
)
from pytest_release.report.document import Block


@dataclass
class SmokeState:
    """What phase 4 keeps between its items."""

    runner: SmokeRunner | None = None
    table: Block | None = None
    budget: SmokeBudget | None = None
    idle_side_noted: bool = False
    leftovers: dict[str, Path] = field(default_factory=dict)  # topic -> the entry written

    @property
    def rows(self) -> list[Any]:
        assert self.table is not None, "the smoke table is made with the runner"
        return self.table.rows


SMOKE_STATE = pytest.StashKey[SmokeState]()


def _state(ctx: ReleaseContext) -> SmokeState:
    state = ctx.stash.get(SMOKE_STATE, None)
    if state is None:
        state = ctx.stash[SMOKE_STATE] = SmokeState()
    return state


def case_names(ctx: ReleaseContext) -> list[str]:
    return [e.name for e in ctx.env.smoke.endpoints] + list(ctx.smoke_user_cases)


def result(ctx: ReleaseContext, name: str) -> Any:
    """One configured smoke case's result. Every case starts (concurrently) on the first call;
    pytest-timeout interrupts the wait when the phase budget runs out."""
    smoke = ctx.env.smoke
    state = _state(ctx)
    runner = state.runner
    if runner is None:
        url, why = target(smoke, ctx.choices.strategy)
        runner = state.runner = SmokeRunner(url, smoke.endpoints, concurrency=smoke.concurrency, request_timeout=smoke.request_timeout)
        section = ctx.section(Phase.SMOKE)
        section.text(
            f"{len(smoke.endpoints)} configured case(s) against {url} ({why}), {smoke.concurrency} at a time, "
            f"within the phase budget of {analysis.format_elapsed(smoke.budget)[2:]}."
        )
        state.table = section.table(["Case", "Request", "Status", "Result", "Time"])
    endpoint = runner.endpoints[name]
    try:
        result = runner.result(name)
    except pytest.fail.Exception as exc:  # pytest-timeout: the phase budget ran out during this wait
        state.rows.append([name, f"{endpoint.method} {endpoint.path}", "", "FAILED: the phase budget ran out", ""])
        stop(ctx)
        ctx.flush()
        pytest.fail(f"Timeout: the smoke phase budget of {analysis.format_elapsed(smoke.budget)[2:]} ran out waiting for {name} ({exc})")
    state.rows.append(
        [result.name, f"{result.method} {result.path}", result.status, "passed" if result.ok else f"FAILED: {result.problem}", f"{result.elapsed:.2f}s"]
    )
    if not result.ok and ctx.choices.strategy == "blue-green" and ctx.state.live_touched_at is None:
        _note_idle_side(ctx)
    if runner.all_handed_out:
        stop(ctx)
    ctx.flush()
    return result


def _note_idle_side(ctx: ReleaseContext) -> None:
    """Blue-green, a smoke failure before the switch: say once what serves whom."""
    state = _state(ctx)
    if state.idle_side_noted:
        return
    state.idle_side_noted = True
    text = (
        f"The idle side runs {ctx.invocation.version} and failed its smoke test before the switch: users were never "
        f"switched and stay on {ctx.choices.rollback_target or 'the live side'}; nothing needs rolling back. "
        "The idle side keeps the failed version for investigation until the next deploy replaces it."
    )
    ctx.section(Phase.SMOKE).text(f"**Blue-green, before the switch:** {text}")
    ctx.say(f"blue-green: {text}")


def stop(ctx: ReleaseContext) -> None:
    runner = _state(ctx).runner
    if runner is not None:
        runner.close()


def apply_budget(ctx: ReleaseContext, item: pytest.Item) -> None:
    """Give a smoke item's pytest-timeout (signal method) what is left of the phase budget,
    or its own timeout marker's value if that is shorter. The budget starts with the first."""
    state = _state(ctx)
    if state.budget is None:
        state.budget = SmokeBudget(ctx.env.smoke.budget)
    budget = state.budget
    own = item.get_closest_marker("timeout")
    value = (own.args[0] if own.args else own.kwargs.get("timeout")) if own is not None else None
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        seconds = None  # pytest-timeout reports a bad marker itself
    item.add_marker(pytest.mark.timeout(budget.timeout_for(seconds), method="signal"), append=False)


def check_budget(ctx: ReleaseContext) -> None:
    budget = _state(ctx).budget
    if budget is not None and budget.exhausted():
        stop(ctx)
        pytest.fail(f"Timeout: the smoke phase budget of {analysis.format_elapsed(budget.seconds)[2:]} ran out before this case started")


def _leftover(ctx: ReleaseContext, topic: str, text: str) -> Path:
    """A leftover entry (once per topic per release) under _docs/_process_leftovers/."""
    written = _state(ctx).leftovers
    if topic not in written:
        written[topic] = write_leftover(ctx.config.root, topic, text, now=ctx.clock.now(), redact=ctx.redactor.redact)
        ctx.say(f"leftover entry: {written[topic]}")
    return written[topic]


def note_missing(ctx: ReleaseContext) -> None:
    """No smoke case at all for this environment: the leftover entry is written as the session
    starts, since the gate (phase 1) then stops the release before phase 2 could."""
    if case_names(ctx) or ctx.commit_standalone():
        return
    path = _leftover(ctx, f"smoke tests missing for {ctx.env.name}", leftover_missing(ctx.env.name, ctx.env.kind))
    ctx.section(Phase.GATE).text(f"**Smoke tests missing** for {ctx.env.name}: leftover entry `{path}`.")
    ctx.flush()


def check_plan(ctx: ReleaseContext) -> None:
    """Phase 2, before anything is deployed: smoke cases exist, production writes are safe, the
    catalogue covers every endpoint's read and write (a warning or, with coverage: fail, a stop)."""
    __tracebackhide__ = True
    env, smoke = ctx.env, ctx.env.smoke
    if not case_names(ctx):
        path = _leftover(ctx, f"smoke tests missing for {env.name}", leftover_missing(env.name, env.kind))
        pytest.fail(f"smoke tests missing for {env.name}: Aborted before anything was deployed; leftover entry {path}")
    plan = review(smoke, strategy=ctx.choices.strategy, production=env.production)
    section = ctx.section(Phase.STRATEGY)
    account = smoke.test_account.name if smoke.test_account else "none"
    own = len(ctx.smoke_user_cases)
    section.table(
        ["Smoke plan", ""],
        [
            ["Target", f"{plan.target} ({plan.target_why})" if smoke.endpoints else "the project's own tests decide"],
            ["Cases", f"{len(smoke.endpoints)} configured, {own} of the project's own (release_phase('smoke'))"],
            ["Concurrency", smoke.concurrency],
            ["Phase budget", analysis.format_elapsed(smoke.budget)[2:]],
            ["Test account", account],
        ],
    )
    if plan.notes:
        section.bullets(plan.notes, title="Smoke notes")
        for note in plan.notes:
            ctx.say(f"smoke: {note}")
    problems = []
    if plan.gaps:
        section.bullets(plan.gaps, title=f"Smoke coverage gaps (smoke.coverage: {smoke.coverage})")
        for gap in plan.gaps:
            ctx.say(f"smoke coverage {'gap' if smoke.coverage == 'fail' else 'warning'}: {gap}")
        if smoke.coverage == "fail":
            problems.append("smoke coverage incomplete: " + "; ".join(plan.gaps))
    if plan.unsafe:
        section.bullets(plan.unsafe, title="Unsafe production smoke writes")
        path = _leftover(ctx, f"unsafe production smoke tests for {env.name}", leftover_unsafe(env.name, plan.unsafe))
        problems.append(
            "production smoke tests would write without a test account or test-data marker: "
            + "; ".join(plan.unsafe) + f"; leftover entry {path}"
        )
    ctx.flush()
    if problems:
        pytest.fail("; ".join(problems))
