"""Phase 5's steps: watch the live system against the baseline for the window.

Every poll is recorded (a table row, a terminal line, the charts); a hard breach ends the window
at once and rolls back, a soft one is escalated (continue, roll back, extend the window)."""

from __future__ import annotations

from pytest_release.context import ReleaseContext
from pytest_release.core.release import Phase
from pytest_release.metrics.window import WatchOutcome, WatchWindow
from pytest_release.report.watch import WatchRecorder, duration_words


def skipped_by_override(ctx: ReleaseContext) -> WatchOutcome | None:
    """The watch window is mandatory; `--release-skip-watch` (which needs
    --release-override-reason) skips it, and the verdict becomes Released-with-override."""
    section = ctx.section(Phase.WATCH)
    if ctx.invocation.skip_watch:
        reason = ctx.invocation.override_reason or ""
        section.status = "skipped by override"
        section.text(
            f"**The watch window was SKIPPED by override.** Reason given: {reason}. The verdict is "
            "Released-with-override and an incident retrospective is written."
        )
        ctx.state.override(f"watch window skipped (--release-skip-watch): {reason}")
        ctx.say(f"watch window SKIPPED by override: {reason}")
        ctx.flush()
        return WatchOutcome("skipped", None, notes=[f"skipped by override: {reason}"])
    return None


def run_window(ctx: ReleaseContext) -> WatchOutcome:
    """Poll the metrics against the baseline for the window, recording every poll; a hard
    breach ends it at once, a soft one is escalated (ReleaseContext.escalate)."""
    w = ctx.env.watch
    section = ctx.section(Phase.WATCH)
    policy = ctx.policy()
    recorder = WatchRecorder(
        section=section, policy=policy, baseline=ctx.choices.baseline, duration=w.duration, interval=w.interval,
        chart_path=lambda metric: ctx.paths.side_file(f"_{metric}.svg"), say=ctx.say, flush=ctx.flush,
        now=ctx.clock.now, baseline_seconds=w.baseline,
    )
    ctx.say(f"watching {ctx.env.name} for {duration_words(w.duration)} (a poll every {duration_words(w.interval)})")
    ctx.flush()
    window = WatchWindow(
        provider=ctx.metrics(), policy=policy, baseline=ctx.choices.baseline, clock=ctx.clock,
        duration=w.duration, interval=w.interval, historical=ctx.historical_metrics, traffic=ctx.traffic(),
        health=ctx.health_check(), on_poll=recorder.on_poll,
        on_soft=lambda decision: ctx.escalate(decision, section),
        alerts=(source.read if (source := ctx.alerts()) else None),
    )
    outcome = window.run()
    if outcome.notes:
        section.bullets(outcome.notes, title="Notes")
    if outcome.extended_by:
        section.text(f"The window was extended by {duration_words(outcome.extended_by)} to {duration_words(window.total)}.")
    ctx.flush()
    return outcome
