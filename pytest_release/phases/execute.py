"""Phase 3's steps: the baseline, then deploy.sh (or, with the manual strategy, a person).

From the moment the deploy script starts, stopping means rolling back. With the manual strategy
phase 3 does not run deploy.sh: it writes the operator's checklist into the report, waits for the
operator's word (`done` or `failed`, typed at the terminal or given as `--release-manual-result`
in CI) and records it verbatim; `failed` is a rollback trigger, because the operator has touched
the live system. The checklist comes from `environments.<env>.manual.checklist` or from the
environment's heading in the deployment procedures document (core.manual)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_release.context import ReleaseContext, ServingUnknown
from pytest_release.core import strategy as plan
from pytest_release.core.manual import (
    OPTION,
    ManualAnswer,
    checklist_from_procedures,
    parse_answer,
)
from pytest_release.core.release import Phase
from pytest_release.metrics import window
from pytest_release.report.document import timestamp

DEPLOY_HUNG = "Deploy hung — manual investigation required"


def measure_baseline(ctx: ReleaseContext) -> None:
    """What the serving version looks like before the deploy: what every poll is compared with."""
    w = ctx.env.watch
    ctx.say(f"measuring the baseline of the serving version for {w.baseline:g}s")
    baseline = window.measure_baseline(ctx.metrics(), ctx.clock, w.baseline, historical=ctx.historical_metrics, traffic=ctx.traffic())
    ctx.choices.baseline = baseline
    ctx.section(Phase.EXECUTE).table(
        ["Metric", "Baseline"],
        [[name, "no data" if value is None else f"{value:.6g}"] for name, value in sorted(baseline.items())],
        title=f"Baseline over {w.baseline:g}s before the deploy",
    )
    ctx.flush()


def require_live_go_ahead(ctx: ReleaseContext) -> None:
    """A release that an earlier check stopped deploys nothing (and needs no baseline)."""
    if not ctx.state.may_touch_live_system():
        pytest.skip("not touching the live system: an earlier check did not pass")


# --- the manual strategy ---------------------------------------------------------------------
def resolve_checklist(ctx: ReleaseContext) -> tuple[list[str], str]:
    """The steps and where they came from; pytest.fail (before anything is touched) when neither
    source has any."""
    env = ctx.env
    if env.manual.checklist:
        return list(env.manual.checklist), f"`environments.{env.name}.manual.checklist` in {Path(ctx.config.path).name}"
    doc = ctx.config.deployment_procedures
    if doc is not None and doc.is_file():
        steps = checklist_from_procedures(doc.read_text(encoding="utf-8", errors="replace"), env.name)
        if steps:
            return steps, f"the list under the {env.name} heading of `{doc}`"
        where = f"{doc} has no list under a heading naming {env.name}"
    else:
        where = f"{doc} does not exist"
    pytest.fail(
        f"the manual strategy needs the operator's checklist: set environments.{env.name}.manual.checklist "
        f"in {ctx.config.path} or list the steps under a heading for {env.name} in the deployment "
        f"procedures ({where})"
    )


# --- phase 3 with the manual strategy -----------------------------------------------------
def run_manual_steps(ctx: ReleaseContext) -> ManualAnswer:
    """Show the checklist, get the operator's answer, record it verbatim; fail the check on
    `failed` (a rollback trigger) and when `done` cannot be confirmed against the serving version."""
    steps, source = resolve_checklist(ctx)
    section = ctx.section(Phase.EXECUTE)
    version, env = ctx.invocation.version, ctx.env.name
    numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))
    section.text(f"Manual strategy: deploy.sh is not run. The operator deploys {version} to {env} by these steps (from {source}):")
    section.text(numbered)
    ctx.flush()
    ctx.say(f"manual deploy of {version} to {env}: the operator's steps:\n" + "\n".join(f"  {i}. {s}" for i, s in enumerate(steps, 1)))

    given = ctx.invocation.manual_result
    if given is not None:
        answer, by = parse_answer(given), OPTION
        if answer is None:  # validated in plugin.py already; kept for direct callers
            pytest.fail(f"{OPTION}={given!r}: expected done or failed")
    elif ctx.asker.interactive():
        _touch(ctx, "the operator is carrying out the manual steps")
        answer, by = _ask(ctx), "a person at the terminal"
        if answer is None:
            pytest.fail("manual deploy failure: no answer from the operator (end of input); the steps may be half done")
    else:
        pytest.fail(
            f"the manual strategy needs the operator's answer and nobody can be asked here: pass {OPTION}=done "
            f"once the steps are carried out, or {OPTION}=failed"
        )
    assert answer is not None
    _touch(ctx, f"the operator reports: {answer.result}")
    section.code(lambda: answer.text.splitlines() or [""], title=f"Operator's report, verbatim (by {by}, {timestamp(ctx.clock.now())})")
    ctx.flush()
    ctx.say(f"manual deploy reported {answer.result} by {by}")
    if answer.failed:
        pytest.fail(f"manual deploy failure, reported by {by}: {answer.text}")
    _confirm_version(ctx)
    return answer


def _touch(ctx: ReleaseContext, detail: str) -> None:
    first = ctx.state.live_touched_at is None
    ctx.state.touch_live_system(ctx.clock.now())
    if first:
        ctx.pytest_config.hook.pytest_release_notify(release=ctx, event="started", detail=detail)


def _ask(ctx: ReleaseContext) -> ManualAnswer | None:
    while True:
        text = ctx.asker.text(
            "Carry out the steps above, then type 'done' or 'failed' (anything after it is recorded, "
            "e.g. 'failed: step 3 timed out'):"
        )
        if text is None:
            return None
        answer = parse_answer(text)
        if answer is not None:
            return answer
        ctx.say(f"{text!r} is neither 'done' nor 'failed'")


def _confirm_version(ctx: ReleaseContext) -> None:
    """`done` is the operator's word; where the environment reports its version, check it."""
    url = ctx.env.current_version_url
    section = ctx.section(Phase.EXECUTE)
    if not url:
        section.text("The serving version could not be confirmed (no `current_version.url` for this environment).")
        ctx.flush()
        return

    wanted = ctx.invocation.version
    try:
        serving: str | None = ctx.serving_version()
    except ServingUnknown as exc:
        pytest.fail(f"manual deploy failure: the operator reported done, but the serving version could not be read ({exc})")
    if serving != wanted:
        pytest.fail(f"manual deploy failure: the operator reported done, but {url} reports {serving!r}, not {wanted}")
    section.text(f"Confirmed: {url} reports {wanted}.")
    ctx.flush()


def verify_serving(ctx: ReleaseContext) -> None:
    """After deploy.sh exits 0, the new version must be what serves, wherever that can be told
    (core.strategy.serves_everyone): a script that exits 0 without deploying is a rollback trigger."""
    args = plan.first_deploy_args(ctx.choices.strategy, [s.weight for s in ctx.env.canary.steps])
    if not plan.serves_everyone(ctx.choices.strategy, args):
        return  # a canary's first step or a blue-green idle side: checked when users are all on it
    problem = ctx.serving_problem(ctx.invocation.version, "deploy.sh")
    if problem:
        ctx.section(Phase.EXECUTE).text(f"**Not serving:** {problem}.")
        ctx.flush()
        pytest.fail(problem)
