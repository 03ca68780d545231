"""The blue-green switch: users move from the live side to the idle side in one step.

Phase 3 deployed the new version to the idle side (`deploy.sh ... --strategy blue-green`), which
changes nothing users see, so the release has not touched the live system yet. Phase 4 smoke-
tested the idle side at its own address (`smoke.preview_url`). A failure up to there is Aborted:
the live side was never changed and still serves the old version. The switch
(`deploy.sh ... --strategy blue-green --switch`) is the moment users are affected: from then on a
failure rolls back (`deploy.sh --rollback`, which points the users back at the old side)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_release.core.release import Phase

if TYPE_CHECKING:
    from pytest_release.context import ReleaseContext


def switch(ctx: "ReleaseContext") -> None:
    __tracebackhide__ = True
    version = ctx.invocation.version
    section = ctx.section(Phase.WATCH)
    section.text(f"**Blue-green switch:** the idle side runs {version} and passed its smoke test; users are switched to it now.")
    ctx.say(f"blue-green: switching users to {version} (the idle side passed its smoke test)")
    ctx.state.touch_live_system(ctx.clock.now())  # from here on, stopping means rolling back
    argv = ctx.deploy_argv("--version", version, "--strategy", "blue-green", "--switch")
    result = ctx.run_deploy_script(argv, section, ctx.report, "_deploy_switch.log", label="blue-green switch")
    if result.ok:
        section.text(f"Users are on {version}; the old side stays up, idle, for a fast switch back.")
        ctx.say(f"blue-green: users are on {version}")
        ctx.flush()
        return
    if result.outcome == "hung":
        pytest.fail("blue-green switch: Deploy hung — manual investigation required")
    why = f"exit code {result.exit_code}" if result.exit_code else (result.error or result.outcome)
    pytest.fail(f"blue-green switch failure: {why}")
