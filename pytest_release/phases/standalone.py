"""Standalone rollback: `pytest --release-env=ENV --release-rollback-only --release-rollback-to=VERSION`.

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

import os
from pathlib import Path

import pytest

import release_suite
from pytest_release.context import Paths, ReleaseContext
from pytest_release.core.release import Phase, Verdict
from pytest_release.report.document import (
    MarkdownReport,
    claim_new_file,
    file_stamp,
    timestamp,
)

SUITE_FILE = Path(release_suite.__file__).resolve().parent / "standalone_rollback.py"
UNKNOWN_VERSION = "unknown"
_NOT_WITH = {
    "release_strategy": "--release-strategy",
    "release_skip_watch": "--release-skip-watch",
    "release_manual_result": "--release-manual-result",
}


def check_options(config: pytest.Config) -> str:
    """Validate the standalone mode's options; returns the version being replaced (or 'unknown'
    until the run discovers it)."""
    if config.getoption("release_rollback_to") is None:
        raise pytest.UsageError("--release-rollback-only needs --release-rollback-to=VERSION: the version to roll back to")
    for dest, option in _NOT_WITH.items():
        if config.getoption(dest, None):
            raise pytest.UsageError(f"{option} does not apply to --release-rollback-only (a standalone rollback deploys nothing new)")
    return config.getoption("release_version") or UNKNOWN_VERSION


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
        self.report = MarkdownReport(report_path, "release-report.md.j2", self.redactor.redact)
        self.report.extra.update(env=self.invocation.env, version=self.invocation.version, standalone=True, target=target)
        self.update_header()
        self.report.flush()
        self.say(f"standalone rollback report: {report_path}")

    def _discover_serving(self) -> None:
        import dataclasses

        import requests

        from pytest_release.options import InvocationError, check_version

        url = self.env.current_version_url
        self.serving_source = "unknown (no current_version.url configured)"
        if not url:
            return
        try:
            response = requests.get(url, timeout=self.env.smoke.request_timeout)
            response.raise_for_status()
            body = response.json()
            value = body.get(self.env.current_version_field) if isinstance(body, dict) else None
            version = check_version(value, f"the version reported by {url}") if isinstance(value, str) else None
        except (requests.RequestException, ValueError, InvocationError) as exc:
            self.serving_source = f"unknown ({url} did not answer: {type(exc).__name__})"
            return
        if version is None:
            self.serving_source = f"unknown ({url} has no field {self.env.current_version_field!r})"
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
        ok, detail = self.roll_back()
        if not ok:
            pytest.fail(f"rollback failed: {detail} — the system is in an unknown state and needs a person")

    def _precondition_problem(self) -> str | None:
        from pytest_release.metrics import MetricsUnavailable

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
    import socket

    return socket.gethostname()
