"""Rolling back: run `deploy.sh --rollback TARGET`, then prove the old version serves again.

Reached from phase 6, or from the end of the session when a release was cut short after it
touched the live system (-x, Ctrl-C, SIGTERM). It runs once: a rollback that fails is reported as
Rollback-Failed for a person to take over, never retried and never followed by another deploy."""

from __future__ import annotations

import signal
import threading

from pytest_release.adapters.smoke import SmokeRunner
from pytest_release.context import ReleaseContext
from pytest_release.core.judge import WatchDecision
from pytest_release.metrics.window import HealthCheck, WatchWindow
from pytest_release.report.document import MarkdownReport, timestamp

UNKNOWN_STATE = (
    "The system is in an unknown state and needs a person: nothing further was deployed "
    "and nothing will be retried. Check what is serving before anything else."
)


class _signals_noted:
    """Ctrl-C and SIGTERM during the rollback are noted, not obeyed: half a rollback is the worst
    state to leave a system in (SIGKILL still ends everything, and the report already says
    "rollback started"). Only the main thread can set handlers; elsewhere this does nothing."""

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx
        self.saved: dict[int, object] = {}

    def _note(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        self.ctx.say(f"signal {name} received during the rollback: finishing the rollback first")
        self.ctx.state.incomplete.append(f"{name} received during the rollback")

    def __enter__(self) -> "_signals_noted":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.saved[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def roll_back(ctx: ReleaseContext, why: str) -> tuple[bool, str]:
    state = ctx.state
    target = ctx.choices.rollback_target
    state.start_rollback(ctx.clock.now())
    summary = ctx.report.section("rollback", "Rollback")
    summary.started = ctx.clock.now()
    summary.text(f"Rollback started {timestamp(summary.started)}: {why}")
    ctx.say(f"rolling back {ctx.invocation.version} -> {target or '?'} in {ctx.env.name}: {why}")
    ctx.pytest_config.hook.pytest_release_notify(release=ctx, event="rolling-back", detail=why)
    ctx.flush()
    with _signals_noted(ctx):
        try:
            ok, detail = _run(ctx, target, why)
        except Exception as exc:  # whatever breaks, the verdict must still be written
            ok, detail = False, f"the rollback stopped on an error: {type(exc).__name__}: {exc}"
    state.finish_rollback(ok, detail)
    summary.finished = ctx.clock.now()
    summary.status = "succeeded" if ok else "FAILED"
    summary.text(f"Result: {'succeeded' if ok else 'FAILED'}: {detail}. Details: `{ctx.paths.rollback_report.name}`.")
    if not ok:
        summary.text(UNKNOWN_STATE)
    if ctx.rollback_report is not None:
        ctx.rollback_report.extra["result"] = f"Succeeded: {detail}" if ok else f"FAILED: {detail}. {UNKNOWN_STATE}"
    ctx.flush()
    ctx.say(f"rollback {'succeeded' if ok else 'FAILED'}: {detail}")
    return ok, detail


def _run(ctx: ReleaseContext, target: str | None, why: str) -> tuple[bool, str]:
    if not target:
        return False, "no rollback target is known, so nothing could be rolled back"
    report = MarkdownReport(ctx.paths.rollback_report, "rollback-report.md.j2", ctx.redactor.redact)
    ctx.rollback_report = report
    report.extra.update(env=ctx.env.name, version=ctx.invocation.version, target=target)
    report.header.update(
        {
            "Environment": ctx.env.name,
            "Released version": ctx.invocation.version,
            "Rollback target": target,
            "Reason": why,
            "Release report": ctx.paths.report.name,
        }
    )
    script = report.section("script", "Rollback script")
    script.started = ctx.clock.now()
    result = ctx.run_deploy_script(ctx.deploy_argv("--rollback", target), script, report, "_rollback.log")
    script.finished = ctx.clock.now()
    script.status = "passed" if result.ok else "failed"
    if not result.ok:
        return False, f"the rollback script {result.outcome} (exit code {result.exit_code})" + (
            f": {result.error}" if result.error else ""
        )

    if ctx.env.smoke.endpoints:
        smoke = report.section("smoke", "Smoke test of the rolled-back version")
        smoke.started = ctx.clock.now()
        runner = SmokeRunner(
            ctx.env.smoke.base_url or "", ctx.env.smoke.endpoints,
            concurrency=ctx.env.smoke.concurrency, request_timeout=ctx.env.smoke.request_timeout,
        )
        try:
            results = runner.run_all(timeout=ctx.env.smoke.budget)
        finally:
            runner.close()
        smoke.table(
            ["Case", "Request", "Status", "Result", "Time"],
            [[r.name, f"{r.method} {r.path}", r.status, "passed" if r.ok else f"FAILED: {r.problem}", f"{r.elapsed:.2f}s"] for r in results],
        )
        smoke.finished = ctx.clock.now()
        failed = [r for r in results if not r.ok]
        smoke.status = "failed" if failed else "passed"
        ctx.flush()
        if failed:
            return False, f"{target} was deployed but its smoke test failed: {failed[0].name}: {failed[0].problem}"

    watch = report.section("watch", "Short watch window on the rolled-back version")
    watch.started = ctx.clock.now()
    rows = watch.table(["T+", "Status", "Readings"])
    provider = ctx.metrics()
    window = WatchWindow(
        provider=provider,
        policy=ctx.policy(),
        baseline=ctx.choices.baseline,
        clock=ctx.clock,
        duration=ctx.env.watch.rollback_duration,
        interval=min(ctx.env.watch.interval, ctx.env.watch.rollback_duration),
        historical=ctx.historical_metrics,
        traffic=ctx.traffic(),
        health=health_check_for(ctx),
        on_poll=lambda poll, decision, remaining: (
            rows.rows.append([f"{poll.elapsed:.0f}s", decision.status.value, format_readings(decision)]),
            ctx.flush(),
        ),
        on_soft=lambda decision: ("continue", 0.0),
    )
    outcome = window.run()
    watch.finished = ctx.clock.now()
    watch.status = "passed" if outcome.passed else "failed"
    ctx.flush()
    if not outcome.passed:
        return False, f"{target} was deployed but the short watch window failed: {outcome.trigger}"
    return True, f"{target} is serving again (smoke passed, watched {ctx.env.watch.rollback_duration:g}s without a hard breach)"


def health_check_for(ctx: ReleaseContext) -> HealthCheck | None:
    if not ctx.env.watch.health_check or not ctx.config.health_script.exists():
        return None
    return HealthCheck(
        [str(ctx.config.health_script), "--env", ctx.env.name], cwd=ctx.config.root,
        env=ctx.script_env(), timeout=ctx.env.watch.health_timeout,
    )


def format_readings(decision: WatchDecision) -> str:
    parts = []
    for r in decision.readings:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}x"
        value = "no data" if r.value is None else f"{r.value:.4g}"
        parts.append(f"{r.metric} {value} ({ratio}, {r.classification.value})")
    return "; ".join(parts)


