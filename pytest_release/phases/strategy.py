"""Phase 2's steps: recommend a strategy from the change's risk, take the choice, record both.

The recommendation (breaking changes lean to canary or blue-green, a restriction may force manual,
an environment may support one strategy only) is pure (core.strategy); this module gathers its
signals, asks or takes the answer, and writes both into the report."""

from __future__ import annotations

import pytest

from pytest_release.adapters.git import ChangeSummary
from pytest_release.context import ReleaseContext
from pytest_release.core import strategy as plan
from pytest_release.core.release import Phase


def select(ctx: ReleaseContext) -> None:
    """Phase 2: a recommendation with its reasons, then the choice (A/B/C/D by a person at a
    terminal; --release-strategy or the environment's default in CI); both are recorded."""
    __tracebackhide__ = True
    env, c = ctx.env, ctx.choices
    found = signals(ctx)
    rec = plan.recommend(found)
    asked = plan.needs_question(ctx.invocation.strategy, env.strategies)
    menu = plan.menu(env.strategies, rec.strategy) if asked else {}
    lines = plan.summary_lines(found, rec, menu)
    section = ctx.section(Phase.STRATEGY)
    section.code(lambda: lines, title="Recommendation")
    ctx.say("\n".join(lines))
    ctx.flush()
    answer = ctx.asker.choose("Choose the deployment strategy:", menu) if asked else None
    choice = plan.choose(
        option=ctx.invocation.strategy, supported=env.strategies, default=env.default_strategy, env=env.name,
        answer=answer, asked=asked,
    )
    c.strategy, c.strategy_by = choice.strategy, f"{choice.by}; recommended {rec.strategy or 'none'}"
    section.table(
        ["Recommended", "Chosen", "Chosen by", "Supported here"],
        [[rec.strategy or "none", c.strategy, choice.by, ", ".join(env.strategies)]],
    )
    section.bullets(rec.reasons, title="Why this recommendation")
    if rec.strategy and c.strategy != rec.strategy:
        section.text(f"Chosen against the recommendation ({rec.strategy}).")
    ctx.say(f"strategy: {c.strategy} (chosen by {choice.by}; recommended {rec.strategy or 'none'})")
    ctx.pytest_config.hook.pytest_release_decision(release=ctx, phase=Phase.STRATEGY, decision=f"strategy {c.strategy} (recommended {rec.strategy or 'none'})", by=choice.by)
    ctx.update_header()
    ctx.flush()
    if c.strategy not in env.strategies:
        pytest.fail(f"strategy {c.strategy} is not supported by {env.name} (supported: {', '.join(env.strategies)})")
    if rec.forced and c.strategy != "manual":
        why = rec.conflict or rec.reasons[0]
        if not ctx.invocation.override_reason:
            pytest.fail(f"{why}; {c.strategy} was chosen ({choice.by}): choose manual, or pass --release-override-reason")
        ctx.state.override(f"strategy {c.strategy} instead of the manual release restrictions require: {ctx.invocation.override_reason}")
        section.text(f"**Override:** {c.strategy} instead of manual ({why}). Reason given: {ctx.invocation.override_reason}")
        ctx.flush()
    try:
        script_text = ctx.config.deploy_script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        script_text = None  # phase 1 reports a missing script
    defect = plan.script_defect(c.strategy, script_text) if script_text is not None else None
    if defect:
        pytest.fail(f"deploy-script defect: {ctx.config.deploy_script} {defect}")


def signals(ctx: ReleaseContext) -> plan.Signals:
    """What the recommendation rests on: the change summary's breaking changes, a restriction
    that forces manual, the environment's strategies."""
    summary, error = change_summary(ctx)
    breaking = None
    if summary is not None:
        breaking = tuple(f"{c.subject} ({c.sha[:8]})" for c in summary.of_kind("breaking"))
    return plan.Signals(
        env=ctx.env.name, supported=ctx.env.strategies, default=ctx.env.default_strategy, breaking=breaking,
        commits=len(summary.commits) if summary is not None else 0, since=getattr(summary, "base", None),
        summary_error=error, manual_required=manual_restriction(ctx),
    )


def change_summary(ctx: ReleaseContext) -> tuple[ChangeSummary | None, str | None]:
    """The commits since the last release, as the gate read them (ReleaseContext.changes: read
    once, through the tag pattern)."""
    return ctx.changes()


def manual_restriction(ctx: ReleaseContext) -> str | None:
    """The line of restrictions.md that forces a manual release here (see strategy.py)."""
    relative = getattr(getattr(ctx.env, "gate", None), "restrictions", None) or "_docs/00_problem/restrictions.md"
    try:
        text = (ctx.config.root / relative).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return plan.manual_required_by(text, ctx.env.name, ctx.env.kind)
