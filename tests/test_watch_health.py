"""The health-check script as the watch window runs it: exit status, timeout, no survivors."""

from __future__ import annotations

import os
import time

from pytest_release.metrics.window import HealthCheck


def script(tmp_path, body: str):
    path = tmp_path / "health-check.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_exit_zero_is_healthy_anything_else_is_not(tmp_path):
    assert HealthCheck([str(script(tmp_path, "exit 0"))], cwd=tmp_path, env=dict(os.environ), timeout=5)() is True
    assert HealthCheck([str(script(tmp_path, "exit 3"))], cwd=tmp_path, env=dict(os.environ), timeout=5)() is False


def test_a_missing_script_is_unhealthy_not_an_error(tmp_path):
    assert HealthCheck([str(tmp_path / "nope.sh")], cwd=tmp_path, env=dict(os.environ), timeout=5)() is False


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_hanging_check_times_out_as_unhealthy_and_leaves_no_process(tmp_path):
    pids = tmp_path / "pids"
    check = script(tmp_path, f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait")
    started = time.monotonic()
    assert HealthCheck([str(check)], cwd=tmp_path, env=dict(os.environ), timeout=0.5)() is False
    assert time.monotonic() - started < 5
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2  # the script and its child
    assert not [pid for pid in recorded if _alive(pid)], "a process of the health check survived its timeout"
