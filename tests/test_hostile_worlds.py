"""Unlucky and hostile worlds around a real release of the demo: a deploy script that lies, a
report that cannot be written after the live change, a full disk, signals that come twice.
Each case ends in a verified state or in a loud "needs a person", and the exit status is the
verdict's."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest


ROOT_ONLY = "mounting a small tmpfs (a really full or read-only disk) needs root"


# --- what serves is verified ------------------------------------------------------------------
def test_a_deploy_that_exits_0_without_deploying_rolls_back(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_LIE", "1")
    result = demo_release.run("v2")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: *deploy.sh reported success but v1 serves, not v2*"])
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert "**Not serving:** deploy.sh reported success but v1 serves, not v2." in report
    result.stdout.fnmatch_lines(["*phase4_smoke_test.py::test_smoke* SKIPPED*"])


def test_a_rollback_that_exits_0_without_rolling_back_is_rollback_failed(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_ROLLBACK_LIE", "1")
    result = demo_release.run("v3-bad")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["*rollback FAILED: the rollback script reported success but v3-bad serves, not v1*"])
    assert demo_release.demo.version() == "v3-bad"


def test_a_standalone_rollback_that_changes_nothing_is_rollback_failed(demo_release, monkeypatch):
    demo = demo_release.demo
    assert demo.run("deploy.sh", "--env", "local", "--version", "v2").returncode == 0
    monkeypatch.setenv("DEMO_ROLLBACK_LIE", "1")
    result = demo_release.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--release-config={demo_release.config}", "--release-env=local",
        "--release-rollback-only", "--release-rollback-to=v1", timeout=120,
    )
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["*the rollback script reported success but v2 serves, not v1*"])
    assert demo.version() == "v2"


def test_an_explicit_rollback_target_that_does_not_serve_is_an_open_risk(demo_release):
    result = demo_release.run("v2", "--release-rollback-to=v0")
    assert result.ret == 0, result.stdout.str()
    report = demo_release.report()
    assert "--release-rollback-to=v0, but v1 serves local now: a rollback would not restore it" in report


# --- signals that come twice: the exit status is the verdict's -----------------------------------
PAUSING_DEPLOY = """#!/usr/bin/env bash
# The demo's deploy script, held at the start of a deploy (not a rollback) until $GO_FILE exists;
# --rollback and everything else pass straight through.
if [[ " $* " == *" --version "* && -n "${GO_FILE:-}" ]]; then
    echo "deploy: waiting for the go"
    while [[ ! -e "$GO_FILE" ]]; do sleep 0.05; done
fi
exec "$(dirname "$0")/deploy-real.sh" "$@"
"""


@pytest.fixture
def paused_deploy(demo_release, tmp_path, monkeypatch):
    scripts = demo_release.demo.path / "scripts"
    (scripts / "deploy.sh").rename(scripts / "deploy-real.sh")
    (scripts / "deploy.sh").write_text(PAUSING_DEPLOY)
    (scripts / "deploy.sh").chmod(0o755)
    go = tmp_path / "go"
    monkeypatch.setenv("GO_FILE", str(go))
    return go


def _second_signal_after(proc: subprocess.Popen, seconds: float) -> None:
    """Wait `seconds` for the release (it must still be running), then signal it again."""
    if seconds:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=seconds)


@pytest.mark.parametrize("first, second, offset", [
    (signal.SIGTERM, signal.SIGTERM, 0.0),
    (signal.SIGTERM, signal.SIGTERM, 0.05),
    (signal.SIGTERM, signal.SIGTERM, 0.3),
    (signal.SIGINT, signal.SIGTERM, 0.1),
    (signal.SIGTERM, signal.SIGINT, 1.0),
], ids=["TERM-TERM-0s", "TERM-TERM-0.05s", "TERM-TERM-0.3s", "INT-TERM-0.1s", "TERM-INT-1s"])
def test_two_signals_during_the_deploy_end_in_the_verdict_s_exit_status(demo_release, paused_deploy, first, second, offset):
    demo_release.use_real_clock()
    demo_release.edit_config(r"^      baseline: 4s", "      baseline: 1s")
    demo_release.edit_config(r"^      rollback_duration: 6s", "      rollback_duration: 2s")
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("deploy: waiting for the go")
        proc.send_signal(first)
        _second_signal_after(proc, offset)
        proc.send_signal(second)
        out = proc.stdout.read()
        proc.wait(timeout=120)
        serving = demo_release.demo.version()
    finally:
        proc.kill()
    assert proc.returncode == 10, out
    assert "exit status: 10" in out and "rollback succeeded" in out
    assert serving == "v1"
    assert "**Rolled-Back**" in demo_release.report()


def test_two_signals_during_the_watch_window_end_in_the_verdict_s_exit_status(demo_release):
    demo_release.use_real_clock()
    demo_release.edit_config(r"^      duration: 20s", "      duration: 5m")
    demo_release.edit_config(r"^      baseline: 4s", "      baseline: 1s")
    demo_release.edit_config(r"^      rollback_duration: 6s", "      rollback_duration: 2s")
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("| T+2s |")
        proc.send_signal(signal.SIGTERM)
        _second_signal_after(proc, 0.2)
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 10, out
    assert "received again" in out
    assert demo_release.demo.version() == "v1"


# --- the report cannot be written after the live change --------------------------------------------
@pytest.fixture
def small_release_dir(demo_release):
    """The demo's release dir on its own 4 MiB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip(ROOT_ONLY)
    release_dir = demo_release.release_dir
    release_dir.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(release_dir)], capture_output=True, text=True)
    assert mounted.returncode == 0, f"{ROOT_ONLY}: {mounted.stderr}"
    yield release_dir
    subprocess.run(["mount", "-o", "remount,rw", str(release_dir)], capture_output=True)
    subprocess.run(["umount", "-l", str(release_dir)], capture_output=True)


def _fill(directory: Path, leave: int) -> None:
    stats = os.statvfs(directory)
    room = stats.f_bavail * stats.f_frsize - leave
    with open(directory / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, room))


def test_a_release_dir_without_room_aborts_before_anything_is_touched(demo_release, small_release_dir):
    # The 4 MiB tmpfs is itself less than the 16 MiB a release needs.
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["*the release dir * has * KiB free, less than the 16 MiB a release needs*"])
    assert demo_release.demo.version() == "v1"
    assert "deploying v2" not in result.stdout.str()


def _report_write_failure_mid_deploy(demo_release, go: Path, break_the_dir) -> tuple[subprocess.Popen, str, str | None]:
    proc = demo_release.popen("v3-bad")
    try:
        demo_release.wait_for_report("deploy: waiting for the go")
        break_the_dir()
        go.write_text("go")
        out = proc.stdout.read()
        proc.wait(timeout=120)
        serving = demo_release.demo.version()
    finally:
        proc.kill()
    return proc, out, serving


def _assert_rolled_back_blind(proc: subprocess.Popen, out: str, serving: str | None) -> None:
    assert "INTERNALERROR" not in out, out
    assert proc.returncode == 10, out
    assert "REPORT NOT WRITTEN" in out
    assert "Rolled-Back: the release report could not be written" in out
    assert "rollback succeeded: v1 is serving again" in out
    assert "exit status: 10" in out
    assert serving == "v1"


def test_a_release_dir_made_read_only_mid_deploy_still_rolls_back(demo_release, paused_deploy):
    """Root ignores permissions, so the directory is made immutable (chattr +i): no file can be
    created or replaced in it, as on a read-only mount or for a user without write permission."""
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs root")
    release_dir = demo_release.release_dir
    try:
        proc, out, serving = _report_write_failure_mid_deploy(
            demo_release, paused_deploy, lambda: subprocess.run(["chattr", "+i", str(release_dir)], check=True))
    finally:
        subprocess.run(["chattr", "-i", str(release_dir)], capture_output=True)
    _assert_rolled_back_blind(proc, out, serving)


def test_a_full_disk_mid_deploy_still_rolls_back(demo_release, paused_deploy, small_release_dir):
    # Room for the gate's 16 MiB: a 64 MiB mount, filled once the deploy started.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_release_dir)], check=True)
    proc, out, serving = _report_write_failure_mid_deploy(demo_release, paused_deploy, lambda: _fill(small_release_dir, leave=0))
    _assert_rolled_back_blind(proc, out, serving)
