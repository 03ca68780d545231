"""Phase 5, before the watch window: users move to the new version the way the strategy says.

Canary. A canary release, step by step: more traffic on the new version, then a short judgement.

Phase 3 deploys the first step (`deploy.sh ... --strategy canary --canary-weight 5`) and phase 4
smoke-tests the canary. Then each step is its own pytest item in phase 5, before the full watch
window: the first judges the first step; each later one moves more traffic
(`--canary-weight 25`) and judges that, except the last (100%), which the full window judges. A
breach fails that item, which is a rollback trigger like any failure after the deploy: the
release rolls back from that step, having exposed users to that step's share only.

A step is judged by the watch window's judge against the baseline recorded before the deploy,
for `canary.step_analysis`. With `canary.selector` (label matchers such as
`version="{version}"`) the metrics are the new version's own, so a bad 5% canary is not diluted
by the 95% still on the old version; request rate (a share of the total) and saturation (a
process metric) are then left out unless `canary.rules` names them. With `canary.baseline:
stable` (the default when `canary.stable_selector` is set too), every poll of a step also reads
the stable version's own metrics over the same interval (metrics.paired) and the canary is judged
against them (core.canary_compare): the canary alone worse rolls back as any breach; both
versions degraded alike escalates as "not the release"; a stable side without data never passes.

Blue-green. The blue-green switch: users move from the live side to the idle side in one step.

Phase 3 deployed the new version to the idle side (`deploy.sh ... --strategy blue-green`), which
changes nothing users see, so the release has not touched the live system yet. Phase 4 smoke-
tested the idle side at its own address (`smoke.preview_url`). A failure up to there is Aborted:
the live side was never changed and still serves the old version. The switch
(`deploy.sh ... --strategy blue-green --switch`) is the moment users are affected: from then on a
failure rolls back (`deploy.sh --rollback`, which points the users back at the old side)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_release.config import CanarySettings
from pytest_release.context import ReleaseContext
from pytest_release.core.canary_compare import PairedDecision
from pytest_release.core.judge import (
    Poll,
    WatchDecision,
    WatchPolicy,
    format_elapsed,
    summarize,
)
from pytest_release.core.release import Phase
from pytest_release.metrics import MetricsProvider
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.paired import PairedWatchWindow
from pytest_release.metrics.promql import render_selector
from pytest_release.metrics.window import SoftAnswer, WatchWindow
from pytest_release.report.canary import add_poll, findings, side_by_side_table
from pytest_release.report.canary import summary as paired_summary
from pytest_release.report.document import Block
from pytest_release.report.watch import metric_cell

QUALITY_RULES = ("error_rate", "p99_latency")


@dataclass(frozen=True)
class CanaryStepPlan:
    number: int  # 1-based
    count: int
    weight: int
    analysis: float | None  # seconds judged after the step; None for the last (the full window follows)

    @property
    def id(self) -> str:
        return f"{self.weight}%"

    @property
    def title(self) -> str:
        return f"canary step {self.number}/{self.count} ({self.weight}%)"


def plan(settings: CanarySettings) -> list[CanaryStepPlan]:
    steps = settings.steps
    return [
        CanaryStepPlan(i + 1, len(steps), s.weight, None if i == len(steps) - 1 else s.analysis)
        for i, s in enumerate(steps)
    ]


def step_policy(policy: WatchPolicy, settings: CanarySettings) -> WatchPolicy:
    """The watch policy, narrowed to the rules that judge a step."""
    if settings.rules is not None:
        names: tuple[str, ...] = settings.rules
    elif settings.selector.strip():
        names = QUALITY_RULES
    else:
        names = tuple(r.name for r in policy.rules)
    rules = tuple(r for r in policy.rules if r.name in names)
    min_requests = policy.min_requests if settings.min_requests is None else settings.min_requests
    return dataclasses.replace(policy, rules=rules, min_requests=min_requests)


def step_selector(settings: CanarySettings, version: str) -> str:
    return settings.selector.replace("{version}", version).strip()


def stable_selector(settings: CanarySettings, stable: str) -> str:
    """The stable version's series: `canary.stable_selector` with {stable} (the version the
    release replaces: the rollback target) and {version} (the new one) replaced."""
    return settings.stable_selector.replace("{stable}", stable).strip()


def step_interval(settings: CanarySettings, watch_interval: float, analysis: float) -> float:
    return min(settings.interval or watch_interval, analysis)


def step_provider(ctx: ReleaseContext, selector: str | None = None) -> tuple[MetricsProvider, bool]:
    """The metrics a step is judged on: the new version's own (the environment's metrics narrowed
    by the selector, custom queries' `$selector` included), else the environment's; or, given a
    `selector`, the series it matches (the stable version's). Returns the provider and whether
    the caller must close it."""
    if selector is None:
        selector = step_selector(ctx.env.canary, ctx.invocation.version)
    if not selector:
        return ctx.metrics(), False
    settings = ctx.env.metrics
    combined = ", ".join(part for part in (settings.names.get("selector", "").strip(), selector) if part)
    narrowed = dataclasses.replace(
        settings,
        names={**settings.names, "selector": combined},
        queries={name: render_selector(query, combined) for name, query in settings.queries.items()},
    )
    env = dataclasses.replace(ctx.env, metrics=narrowed)
    return make_provider(env, config_path=ctx.config.path, clock=ctx.clock), True


def progress_block(ctx: ReleaseContext, steps: list[CanaryStepPlan]) -> Block:
    """The table of every step's state at the top of phase 5, updated as the steps run."""
    block = getattr(ctx, "_canary_progress", None)
    if block is None:
        section = ctx.section(Phase.WATCH)
        block = section.table(
            ["Step", "Traffic on the new version", "Analysis", "Result"],
            [[f"{s.number}/{s.count}", f"{s.weight}%", _analysis_words(s), "pending"] for s in steps],
            title=f"Canary progress ({ctx.invocation.version})",
        )
        block.rows[0][3] = "deployed in phase 3"
        ctx.stash[CANARY_PROGRESS] = block
    return block


def _analysis_words(step: CanaryStepPlan) -> str:
    return "the full watch window" if step.analysis is None else format_elapsed(step.analysis)[2:]


def canary_step(ctx: ReleaseContext, step: CanaryStepPlan) -> None:
    """One canary step (its traffic, then its analysis); nothing for other strategies."""
    if ctx.choices.strategy == "canary":
        run_step(ctx, step)


def run_step(ctx: ReleaseContext, step: CanaryStepPlan) -> None:
    """One canary step: move the traffic (except the first, deployed in phase 3), then judge it.
    Fails the calling item (a rollback trigger) on a deploy failure or a breach."""
    __tracebackhide__ = True  # the failure message says it all
    steps = plan(ctx.env.canary)
    progress = progress_block(ctx, steps)
    row = progress.rows[step.number - 1]
    section = ctx.section(Phase.WATCH)
    version = ctx.invocation.version
    if step.number > 1:
        row[3] = "deploying"
        ctx.say(f"{step.title}: moving {step.weight}% of the traffic to {version}")
        section.text(f"**{step.title.capitalize()}:** {step.weight}% of the traffic on {version}.")
        result = ctx.deploy(
            ["--canary-weight", str(step.weight)], section=section,
            log_suffix=f"_deploy_canary-{step.weight}.log", label=f"{step.title}",
        )
        if not result.ok:
            row[3] = "FAILED: deploy script"
            ctx.flush()
            if result.outcome == "hung":
                pytest.fail(f"{step.title}: Deploy hung — manual investigation required")
            why = f"exit code {result.exit_code}" if result.exit_code else (result.error or result.outcome)
            pytest.fail(f"{step.title}: deploy script failure: {why}")
        problem = ctx.serving_problem(version, f"deploy.sh at {step.weight}%") if step.weight == 100 else None
        if problem:
            row[3] = "FAILED: not serving"
            ctx.flush()
            pytest.fail(f"{step.title}: {problem}")
    if step.analysis is None:
        row[3] = "deployed; judged by the full watch window"
        section.text(f"{step.title.capitalize()}: all traffic on {version}; the full watch window follows.")
        ctx.say(f"{step.title}: all traffic on {version}; the full watch window follows")
        ctx.flush()
        return
    row[3] = "analysing"
    outcome = analyse(ctx, step, section)
    if outcome.passed:
        row[3] = "passed" + (f" ({'; '.join(outcome.notes)})" if outcome.notes else "")
        nxt = steps[step.number] if step.number < len(steps) else None
        ctx.say(f"{step.title}: passed" + (f"; next {nxt.weight}%" if nxt else ""))
        ctx.flush()
        return
    row[3] = f"BREACH: {outcome.message}"
    ctx.flush()
    pytest.fail(f"{step.title}: {outcome.message}")


def stable_side(ctx: ReleaseContext) -> tuple[str, str] | None:
    """(the stable version, its selector) when a step is judged against it (`canary.baseline:
    stable`), else None. The stable version is the one the release replaces: the rollback target
    (what `current_version` served in phase 1, or --release-rollback-to)."""
    settings = ctx.env.canary
    stable = ctx.choices.rollback_target
    if settings.baseline != "stable" or not stable:
        return None
    return stable, stable_selector(settings, stable)


def analyse(ctx: ReleaseContext, step: CanaryStepPlan, section: Any) -> Any:
    """The short judgement after a step: the watch window's loop and judge, for step.analysis;
    with `canary.baseline: stable`, each poll the canary against the stable version over the
    same interval (core.canary_compare)."""
    assert step.analysis is not None
    settings = ctx.env.canary
    policy = step_policy(ctx.policy(), settings)
    interval = step_interval(settings, ctx.env.watch.interval, step.analysis)
    version = ctx.invocation.version
    selector = step_selector(settings, version)
    stable = stable_side(ctx)
    judged = ", ".join(r.name for r in policy.rules) or "health only"
    whose = f"the new version's own metrics ({selector})" if selector else "the environment's metrics"
    against = "against the baseline recorded before the deploy"
    if stable:
        against = (
            f"against the stable version {stable[0]} ({stable[1]}) over the same interval, each poll"
            " (`canary.baseline: stable`; a request rate or saturation rule, not comparable across versions,"
            " against the baseline recorded before the deploy); both versions against that baseline too,"
            " so a degradation of both escalates as not the release's"
        )
    elif settings.baseline == "stable":
        against += " (`canary.baseline: stable`, but the stable version is unknown: no rollback target)"
    section.text(
        f"Analysis of {step.title}: {format_elapsed(step.analysis)[2:]}, a poll every {format_elapsed(interval)[2:]}, "
        f"{judged} of {whose} {against}."
    )
    if stable:
        rows = side_by_side_table(
            section, f"{step.title.capitalize()}: canary vs stable, per poll", f"{version} ({selector})", f"{stable[0]} ({stable[1]})",
        )
    else:
        rows = section.table(["T+", "Status", *[r.name for r in policy.rules]], title=f"{step.title.capitalize()}: polls")
    ctx.say(f"{step.title}: analysing for {format_elapsed(step.analysis)[2:]} ({judged}{' vs the stable version' if stable else ''})")
    ctx.flush()
    paired: list[PairedDecision] = []

    def on_poll(poll: Poll, decision: WatchDecision, remaining: float) -> None:
        if isinstance(decision, PairedDecision):
            paired.append(decision)
            add_poll(rows, poll, decision)
        else:
            cells = {r.metric: metric_cell(r) for r in decision.readings}
            rows.rows.append([format_elapsed(poll.elapsed), decision.status.value, *[cells.get(r.name, "") for r in policy.rules]])
        line = paired_summary(decision) if isinstance(decision, PairedDecision) else summarize(decision)
        ctx.say(f"canary {step.weight}% {format_elapsed(poll.elapsed)}, {remaining:.0f}s left: {line}")
        ctx.flush()

    def on_soft(decision: WatchDecision) -> SoftAnswer:
        return ctx.escalate(decision, section)

    provider, own = step_provider(ctx)
    stable_provider = step_provider(ctx, stable[1])[0] if stable else None
    try:
        common: dict[str, Any] = dict(
            provider=provider, policy=policy, baseline=ctx.choices.baseline, clock=ctx.clock,
            duration=step.analysis, interval=interval, historical=ctx.historical_metrics, traffic=ctx.traffic(),
            health=ctx.health_check(), on_poll=on_poll, on_soft=on_soft,
            alerts=(source.read if (source := ctx.alerts()) else None),
        )
        if stable and stable_provider is not None:
            window: WatchWindow = PairedWatchWindow(
                stable_provider=stable_provider, canary_series=f"the canary {version}", stable_series=f"the stable {stable[0]}", **common,
            )
        else:
            window = WatchWindow(**common)
        outcome = window.run()
    finally:
        if own:
            provider.close()
        if stable_provider is not None:
            stable_provider.close()
    if paired and findings(paired):
        section.bullets(findings(paired), title=f"{step.title.capitalize()}: findings (canary vs stable)")
    if outcome.notes:
        section.bullets(outcome.notes, title=f"{step.title.capitalize()}: notes")
    status = "passed" if outcome.passed else f"**breach**: {outcome.message}"
    section.text(f"{step.title.capitalize()}: {status}.")
    ctx.flush()
    return outcome


CANARY_PROGRESS = pytest.StashKey[Block]()


# --- blue-green ------------------------------------------------------------------------------
def switch(ctx: ReleaseContext) -> None:
    """Blue-green: switch users to the idle side, which passed its smoke test; nothing for other strategies."""
    __tracebackhide__ = True
    if ctx.choices.strategy != "blue-green":
        return
    version = ctx.invocation.version
    section = ctx.section(Phase.WATCH)
    section.text(f"**Blue-green switch:** the idle side runs {version} and passed its smoke test; users are switched to it now.")
    ctx.say(f"blue-green: switching users to {version} (the idle side passed its smoke test)")
    ctx.state.touch_live_system(ctx.clock.now())  # from here on, stopping means rolling back
    argv = ctx.deploy_argv("--version", version, "--strategy", "blue-green", "--switch")
    result = ctx.run_deploy_script(argv, section, ctx.report, "_deploy_switch.log", label="blue-green switch")
    problem = ctx.serving_problem(version, "the blue-green switch") if result.ok else None
    if problem:
        section.text(f"**Not serving:** {problem}.")
        ctx.flush()
        pytest.fail(f"blue-green switch: {problem}")
    if result.ok:
        section.text(f"Users are on {version}; the old side stays up, idle, for a fast switch back.")
        ctx.say(f"blue-green: users are on {version}")
        ctx.flush()
        return
    if result.outcome == "hung":
        pytest.fail("blue-green switch: Deploy hung — manual investigation required")
    why = f"exit code {result.exit_code}" if result.exit_code else (result.error or result.outcome)
    pytest.fail(f"blue-green switch failure: {why}")
