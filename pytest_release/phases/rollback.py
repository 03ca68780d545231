"""Rolling back: run `deploy.sh --rollback TARGET`, then prove the old version serves again.

Reached from phase 6, or from the end of the session when a release was cut short after it
touched the live system (-x, Ctrl-C, SIGTERM). It runs once: a rollback that fails is reported as
Rollback-Failed for a person to take over, never retried and never followed by another deploy.

Standalone rollback. Standalone rollback: `pytest --release-env=ENV --release-rollback-only --release-rollback-to=VERSION`.

The runbook's standalone mode, for re-running a rollback against a chosen version (after a
Rollback-Failed, or to take a version out of service by hand). It runs exactly what a release's
rollback runs, `deploy.sh --rollback VERSION` then a smoke test and the short watch window, as the
only check of the session (`release_suite/standalone_rollback.py`), with its own pair of reports:
`standalone-rollback_<target>_<env>_<stamp>.md` (verdict, reason chain, self-verification) and
`rollback_<replaced>_<env>_<stamp>.md` (the rollback's details, as after any release).

Exit status: 0 when the target serves again and passed its verification (the verdict is
Rolled-Back: what was asked for happened, so a pipeline's rollback job is green), 12
Rollback-Failed, 11 when a precondition failed and nothing was run, 4 bad usage."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Callable

import pytest

from pytest_release.adapters.smoke import SmokeRunner
from pytest_release.context import Paths, ReleaseContext, ServingUnknown
from pytest_release.core.alerts import AlertsSeen, pre_existing_words
from pytest_release.core.judge import WatchDecision, WatchPolicy
from pytest_release.core.release import Phase, Verdict
from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.window import WatchWindow
from pytest_release.options import UNKNOWN_VERSION
from pytest_release.report.document import (
    Section,
    claim_new_file,
    file_stamp,
    timestamp,
)

UNKNOWN_STATE = (
    "The system is in an unknown state and needs a person: nothing further was deployed "
    "and nothing will be retried. Check what is serving before anything else."
)


def roll_back(ctx: ReleaseContext) -> tuple[bool, str]:
    """Roll back for the first trigger (or the interrupt that cut the session short)."""
    chain = ctx.state.triggers or [f"session interrupted: {ctx.state.interrupted}"]
    return _roll_back(ctx, chain[0])


def _roll_back(ctx: ReleaseContext, why: str) -> tuple[bool, str]:
    state = ctx.state
    target = ctx.choices.rollback_target
    state.start_rollback(ctx.clock.now())
    summary = ctx.report.section("rollback", "Rollback")
    summary.started = ctx.clock.now()
    summary.text(f"Rollback started {timestamp(summary.started)}: {why}")
    ctx.say(f"rolling back {ctx.invocation.version} -> {target or '?'} in {ctx.env.name}: {why}")
    ctx.pytest_config.hook.pytest_release_notify(release=ctx, event="rolling-back", detail=why)
    ctx.flush()
    with ctx.interrupts.hold():
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
    report = ctx.new_report(ctx.paths.rollback_report, "rollback-report.md.j2")
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
    problem = ctx.serving_problem(target, "the rollback script")
    if problem:
        script.text(f"**Not serving:** {problem}.")
        return False, problem

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
    policy, alerts = _verification_alerts(ctx, watch)
    window = WatchWindow(
        provider=provider,
        policy=policy,
        baseline=ctx.choices.baseline,
        clock=ctx.clock,
        duration=ctx.env.watch.rollback_duration,
        interval=min(ctx.env.watch.interval, ctx.env.watch.rollback_duration),
        historical=ctx.historical_metrics,
        traffic=ctx.traffic(),
        health=ctx.health_check(),
        on_poll=lambda poll, decision, remaining: (
            rows.rows.append([f"{poll.elapsed:.0f}s", decision.status.value, format_readings(decision)]),
            ctx.flush(),
        ),
        on_soft=lambda decision: ("continue", 0.0),
        alerts=alerts,
    )
    outcome = window.run()
    watch.finished = ctx.clock.now()
    watch.status = "passed" if outcome.passed else "failed"
    ctx.flush()
    if not outcome.passed:
        return False, f"{target} was deployed but the short watch window failed: {outcome.trigger}"
    return True, f"{target} is serving again (smoke passed, watched {ctx.env.watch.rollback_duration:g}s without a hard breach)"


def _verification_alerts(ctx: ReleaseContext, section: Section) -> tuple[WatchPolicy, Callable[[], AlertsSeen] | None]:
    """The verification watch reads the alerts too. An alert the bad release raised may take its
    own resolve time to clear, so the alerts firing as the verification starts join the
    pre-change set (named in the rollback report): only a new alert, or one getting worse, fails
    the verification."""
    policy, source = ctx.policy(), ctx.alerts()
    if source is None or policy.alerts is None:
        return policy, None
    now = source.read()
    if now.error:
        return policy, source.read  # unknown now: judged as unknown, poll by poll
    section.text("**Alerts:** " + pre_existing_words(policy.alerts, now.firing).replace("before the release", "as the verification began"))
    before = policy.alerts.before + tuple(a for a in now.firing if a not in policy.alerts.before)
    return dataclasses.replace(policy, alerts=dataclasses.replace(policy.alerts, before=before)), source.read


def format_readings(decision: WatchDecision) -> str:
    parts = []
    for r in decision.readings:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}x"
        value = "no data" if r.value is None else f"{r.value:.4g}"
        parts.append(f"{r.metric} {value} ({ratio}, {r.classification.value})")
    return "; ".join(parts)


# --- standalone rollback (--release-rollback-only) ------------------------------------------
def claim_paths(release_dir: Path, target: str, replaced: str, env: str, stamp: str) -> tuple[Path, Path]:
    """Create the standalone report exclusively, with a suffix its rollback report shares."""
    def detail(suffix: str) -> Path:
        return release_dir / f"rollback_{replaced}_{env}_{stamp}{suffix}.md"

    main, suffix = claim_new_file(
        release_dir, f"standalone-rollback_{target}_{env}_{stamp}", taken=lambda suffix: detail(suffix).exists()
    )
    return main, detail(suffix)


class StandaloneRollbackContext(ReleaseContext):
    """The release context of a standalone rollback: no new version, one phase, its own report."""

    serving_source = "--release-version"

    def open_report(self) -> None:
        if self.invocation.version == UNKNOWN_VERSION:
            self._discover_serving()
        target = self.invocation.rollback_to or UNKNOWN_VERSION
        report_path, rollback_path = claim_paths(
            self.config.release_dir, target, self.invocation.version, self.invocation.env, file_stamp(self.started_at)
        )
        self.paths = Paths(report_path, rollback_path)
        self.report = self.new_report(report_path, "release-report.md.j2")
        self.report.extra.update(env=self.invocation.env, version=self.invocation.version, standalone=True, target=target)
        self.update_header()
        self.report.flush()
        self.say(f"standalone rollback report: {report_path}")

    def _discover_serving(self) -> None:
        url = self.env.current_version_url
        self.serving_source = "unknown (no current_version.url configured)"
        if not url:
            return
        try:
            version = self.serving_version(url)
        except ServingUnknown as exc:
            self.serving_source = f"unknown ({exc.short})"
            return
        if version == self.invocation.rollback_to:
            self.serving_source = f"currently deployed, from {url} (already the target)"
        else:
            self.serving_source = f"currently deployed, from {url}"
        self.invocation = dataclasses.replace(self.invocation, version=version)
        self.state.version = version

    def update_header(self) -> None:
        self.report.header.clear()
        self.report.header.update(
            {
                "Mode": "standalone rollback (--release-rollback-only)",
                "Environment": f"{self.env.name} ({self.env.kind})",
                "Rollback target": f"{self.choices.rollback_target} (--release-rollback-to)",
                "Serving before": f"{self.invocation.version} ({self.serving_source})",
                "Config": str(self.config.path),
                "Release dir": str(self.config.release_dir),
                "Started": timestamp(self.started_at),
                "Host": _hostname(),
            }
        )

    def __repr__(self) -> str:
        return f"<standalone rollback of {self.invocation.env} to {self.invocation.rollback_to}>"

    # --- the run -------------------------------------------------------------------------------
    def run_standalone_rollback(self) -> None:
        """Check what a rollback needs, then run it; fails the check unless the target serves again."""
        section = self.section(Phase.COMMIT)
        target = self.choices.rollback_target
        problem = self._precondition_problem()
        if problem:
            self.state.abort(problem)
            section.text(f"**Not started:** {problem}. Nothing was run against {self.env.name}.")
            self.flush()
            pytest.fail(problem)
        section.text(f"Rolling {self.env.name} back to **{target}** with `deploy.sh --env {self.env.name} --rollback {target}`, "
                     "then a smoke test and the short watch window on it.")
        self.state.touch_live_system(self.clock.now())
        self.state.trigger_rollback(f"standalone rollback of {self.env.name} to {target} requested (--release-rollback-only)")
        ok, detail = roll_back(self)
        if not ok:
            pytest.fail(f"rollback failed: {detail} — the system is in an unknown state and needs a person")

    def _precondition_problem(self) -> str | None:
        script = self.config.deploy_script
        if not script.is_file() or not os.access(script, os.X_OK):
            return f"deploy script missing or not executable: {script}"
        if "--rollback" not in script.read_text(encoding="utf-8", errors="replace"):
            return f"deploy-script defect: {script} does not handle --rollback"
        try:
            self.metrics().check_reachable()
        except MetricsUnavailable as exc:
            return f"observability backend unreachable: {exc} (the rollback could not be verified)"
        except pytest.UsageError as exc:
            return str(exc)
        return None

    # --- phase 6 hooks of the base class -------------------------------------------------------
    def commit_standalone(self) -> bool:
        return True

    def commit_phases(self) -> tuple[Phase, ...]:
        return (Phase.COMMIT,)

    def commit_exit_code(self, verdict: Verdict) -> int:
        return 0 if verdict is Verdict.ROLLED_BACK else verdict.exit_code


def _hostname() -> str:

    return socket.gethostname()
