"""The README's first command, run as a new user would: the demo ends with v2 Released, v3-bad
Rolled-Back to v2 and v2 serving, in under two minutes; and its exit status says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def test_the_demo_command_releases_v2_and_rolls_v3_bad_back(demo_project):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "PYTEST_"))}
    env.update(demo_project.env, VENV=sys.prefix)  # this interpreter has the package and the demo extras
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(demo_project.path / "run-demo.sh")], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=300,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "v2: Released (exit 0)" in out
    assert "v3-bad: Rolled-Back (exit 10)" in out
    assert "now serving: v2" in out
    assert elapsed < 120, f"the demo took {elapsed:.0f}s"
    assert demo_project.version() is None  # it stops the service it started


def test_the_demo_command_fails_when_the_demo_does_not_end_as_expected(demo_project):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "PYTEST_"))}
    env.update(demo_project.env, VENV=sys.prefix, DEMO_ROLLBACK_FAIL="1")  # v3-bad ends Rollback-Failed (12)
    result = subprocess.run(
        ["bash", str(demo_project.path / "run-demo.sh")], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "v3-bad: Rollback-Failed (exit 12)" in result.stdout
    assert "the demo did not end as expected" in result.stderr
