"""Phase 3: run scripts/deploy.sh. From the moment it starts, stopping means rolling back.

With the manual strategy a person deploys instead: the checklist and their answer go into the
report, and `failed` rolls back like a failed script."""

from __future__ import annotations

import pytest

from pytest_release.adapters.envfile import check_env_file
from pytest_release.metrics import MetricsUnavailable
from pytest_release.phases import execute
from pytest_release.phases.execute import DEPLOY_HUNG


def test_env_file_is_complete(release):
    example = release.config.env_example
    if not example.exists():
        release.section_note("Environment file", f"no {example.name}: nothing to check")
        return
    _, problems = check_env_file(release.config.env_file, example)
    if problems:  # each problem names a key or a file, never a value
        listed = "; ".join(str(p) for p in problems)
        pytest.fail(f"{release.config.env_file.name} is not ready: {listed}")
    release.section_note("Environment file", f"every key of {example.name} is set in {release.config.env_file.name}.")


def test_baseline_recorded(release):
    execute.require_live_go_ahead(release)  # a release that will not deploy needs no baseline
    try:
        execute.measure_baseline(release)
    except MetricsUnavailable as exc:
        pytest.fail(f"cannot measure the baseline: {exc}")


def test_deploy_script_succeeds(release):
    execute.require_live_go_ahead(release)
    if release.choices.strategy == "manual":
        execute.run_manual_steps(release)
        return
    result = release.deploy()
    if result.outcome == "hung":
        pytest.fail(DEPLOY_HUNG)
    if result.outcome == "timed-out":
        pytest.fail(f"deploy script failure: timed out ({result.error})")
    if not result.ok:
        if result.exit_code is not None and result.exit_code > 0:
            pytest.fail(f"deploy script failure: exit code {result.exit_code}")
        pytest.fail(f"deploy script failure: {result.error or result.outcome}")
    execute.verify_serving(release)  # a script that exits 0 without deploying is caught here
