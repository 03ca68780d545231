"""Phase 1: refuse to start a release the system is not ready for.

Every check runs (so every blocking issue is listed at once); the last one presents the gate
decision. Nothing here touches the live system: a failure means Aborted."""

from __future__ import annotations

import os

import pytest
import requests

from pytest_release.metrics import MetricsUnavailable


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
        url = release.env.current_version_url
        if not url:
            pytest.fail(
                "no rollback target: pass --release-rollback-to=VERSION or configure "
                f"environments.{release.env.name}.current_version.url to discover the deployed version"
            )
        choices.rollback_target = release.discover_current_version(url)
        choices.rollback_target_source = f"currently deployed, from {url}"
    if choices.rollback_target == release.invocation.version:
        pytest.fail(f"{release.invocation.version} is already the version serving {release.env.name}: nothing to release")
    release.state.rollback_target = choices.rollback_target
    release.update_header()
    release.section_note("Rollback plan", f"roll back to **{choices.rollback_target}** ({choices.rollback_target_source}) with `deploy.sh --env {release.env.name} --rollback {choices.rollback_target}`.")


def test_observability_reachable(release):
    try:
        release.metrics().check_reachable()
    except MetricsUnavailable as exc:
        pytest.fail(f"observability backend unreachable: {exc} (a blind release is not started)")
    release.section_note("Observability", f"{release.env.metrics.provider} at {release.env.metrics.url} answers.")


def test_smoke_tests_exist(release):
    cases = release.smoke_case_names()
    if not cases:
        pytest.fail(f"smoke tests missing for {release.env.name}: configure smoke.endpoints or mark tests with @pytest.mark.release_phase('smoke')")
    release.section_note("Smoke tests", f"{len(cases)} case(s): {', '.join(cases)}")


def test_gate_decision(release):
    blocking = release.state.abort_reasons
    if blocking:
        pytest.skip("blocking issues above")
    release.decide_gate()
