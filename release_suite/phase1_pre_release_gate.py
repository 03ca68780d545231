"""Phase 1: refuse to start a release the system is not ready for.

Every check runs (so every blocking issue is listed at once, each its own test result); the last
one presents the runbook's PRE-RELEASE GATE summary and takes its A/B/C answer. Nothing here
touches the live system: a failure means Aborted. The checks' evidence and findings go into the
report's phase 1 section (pytest_release.phases.gate gathers them; pytest_release.core.gate judges)."""

from __future__ import annotations

import os

import pytest

from pytest_release.metrics import MetricsUnavailable
from pytest_release.phases import gate, smoke
from pytest_release.phases.gate import gate_run

LAST_IN_PHASE = ("test_gate_decision",)  # after the project's own gate checks, too


def test_previous_release_finished(release):
    """The last release of this environment has a verdict; one cut off after touching the live system blocks."""
    gate_run(release).check_previous_release()


def test_acceptance_criteria_met(release):
    """Every criterion met, each with a passing test in the latest JUnit report (critical ones: all)."""
    gate_run(release).check_acceptance()


def test_performance_evidence(release):
    """When restrictions.md or the config requires it: a perf_*.md newer than the last release."""
    gate_run(release).check_performance()


def test_change_summary(release):
    """git log since the last release tag (or the root commit), by component and kind."""
    gate_run(release).check_changes()


def test_deploy_script_supports_rollback(release):
    script = release.config.deploy_script
    if not script.is_file():
        pytest.fail(f"deploy script missing: {script} (produce it with the deploy step first; the release never improvises one)")
    if not os.access(script, os.X_OK):
        pytest.fail(f"deploy script is not executable: {script} (chmod +x)")
    if "--rollback" not in script.read_text(encoding="utf-8", errors="replace"):
        pytest.fail(f"deploy-script defect: {script} does not handle --rollback, so no rollback path exists")
    release.section_note("Deploy script", f"`{script}` exists and handles `--rollback`.")


def test_health_check_script_exists(release):
    script = release.config.health_script
    if not release.env.watch.health_check:
        release.section_note("Health check", "disabled for this environment (watch.health_check: false)")
        return
    if not script.is_file() or not os.access(script, os.X_OK):
        pytest.fail(f"health-check script missing or not executable: {script}")
    release.section_note("Health check", f"`{script}` exists.")


def test_rollback_target_known(release):
    choices = release.choices
    if choices.rollback_target is None:
        choices.rollback_target = gate.discover_current_version(release)
        env = release.env
        choices.rollback_target_source = (
            f"currently deployed, from {env.current_version_url}" if env.current_version_source == "url"
            else f"the last Released report for {env.name}"
        )
    if choices.rollback_target == release.invocation.version:
        pytest.fail(f"{release.invocation.version} is already the version serving {release.env.name}: nothing to release")
    release.state.rollback_target = choices.rollback_target
    gate.note_rollback_target_not_serving(release)  # an explicit target that is not what serves: an open risk
    release.update_header()
    release.section_note("Rollback plan", f"roll back to **{choices.rollback_target}** ({choices.rollback_target_source}) with `deploy.sh --env {release.env.name} --rollback {choices.rollback_target}`.")


def test_rollback_images_in_registry(release):
    """The images of the new version and of the rollback target are pullable (when a registry is configured)."""
    gate_run(release).check_rollback_images()


def test_observability_reachable(release):
    try:
        release.metrics().check_reachable()
    except MetricsUnavailable as exc:
        pytest.fail(f"observability backend unreachable: {exc} (a blind release is not started)")
    release.update_header()  # the backend's flavour and the query settings in effect
    release.section_note("Observability", f"{release.env.metrics.provider} at {release.env.metrics.url} answers ({release.metrics_settings()}).")


def test_alerts_before_release(release):
    """watch.alerts: the alerts already firing before the change (not counted unless they get worse)."""
    gate.read_alerts_before(release)


def test_smoke_tests_exist(release):
    cases = smoke.case_names(release)
    if not cases:
        pytest.fail(f"smoke tests missing for {release.env.name}: configure smoke.endpoints or mark tests with @pytest.mark.release_phase('smoke')")
    release.section_note("Smoke tests", f"{len(cases)} case(s): {', '.join(cases)}")


def test_change_window_open(release):
    """Inside a change window, outside blackouts and freezes (in the configured time zone)."""
    gate_run(release).check_change_window()


def test_approvals(release):
    """The required approvals, four-eyes: the releaser cannot approve, approvers are distinct."""
    gate_run(release).check_approvals()


def test_tracker_tickets_ready(release):
    """No ticket in scope still In Progress or Code Review (move-and-deploy is not allowed)."""
    gate_run(release).check_tracker()


def test_release_dir_writable(release):
    """The reports can be written, with room to spare: a full disk stops the release here."""
    gate.check_release_dir(release)


def test_gate_decision(release):
    """A) proceed, B) abort, C) exclude a ticket and assemble again; the answer goes into the report."""
    gate.decide(release)
