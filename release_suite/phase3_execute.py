"""Phase 3: run scripts/deploy.sh. From the moment it starts, stopping means rolling back."""

from __future__ import annotations

import pytest

from pytest_release.envfile import check_env_file
from pytest_release.metrics import MetricsUnavailable


def test_env_file_is_complete(release):
    example = release.config.env_example
    if not example.exists():
        release.section_note("Environment file", f"no {example.name}: nothing to check")
        return
    _, problems = check_env_file(release.config.env_file, example)
    if problems:
        listed = "; ".join(str(p) for p in problems)
        pytest.fail(f"{release.config.env_file.name} is not ready: {listed}")
    release.section_note("Environment file", f"every key of {example.name} is set in {release.config.env_file.name}.")


def test_baseline_recorded(release):
    try:
        release.measure_baseline()
    except MetricsUnavailable as exc:
        pytest.fail(f"cannot measure the baseline: {exc}")


def test_deploy_script_succeeds(release):
    release.require_live_go_ahead()
    result = release.deploy()
    if result.outcome == "hung":
        pytest.fail("Deploy hung — manual investigation required")
    if not result.ok:
        reason = f"exit code {result.exit_code}" if result.exit_code is not None else (result.error or result.outcome)
        pytest.fail(f"deploy script failure: {reason}")
