"""Issue 16, point 2: a release killed with `kill -9` mid-deploy leaves its deploy script running
in a session of its own. The next release must not deploy over it, and once it has ended, the
gate must say that the previous release was cut off after touching the live system.

Everything is real: the demo service, its deploy script, two pytest subprocesses and `kill -9`."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal


def wait_until_gone(pid: int, timeout: float = 30) -> None:
    """Block until `pid` has exited (a pidfd turns readable), without polling or sleeping."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"pid {pid} still runs after {timeout}s"
    finally:
        os.close(fd)


def test_kill_9_mid_deploy_then_the_orphan_blocks_and_the_gate_names_the_cut_off_release(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_HANG", "1")  # deploy.sh execs a `sleep` that never ends
    lock_file = demo_release.release_dir / ".locks" / "local.lock"
    first = demo_release.popen("v2")
    orphan = None
    try:
        demo_release.wait_for_report("DEMO_DEPLOY_HANG=1: waiting")
        holder = json.loads(lock_file.read_text())
        orphan = holder["deploy_session"]
        assert holder["pid"] == first.pid and orphan not in (None, first.pid)
        assert holder["deploy_command"].endswith("deploy.sh --env local --version v2 --strategy all-at-once")
        first.kill()  # kill -9: no rollback, no verdict, the lock left behind
        first.wait(timeout=10)
        monkeypatch.delenv("DEMO_DEPLOY_HANG")

        # The orphaned deploy still runs: the next release is refused before it touches anything.
        second = demo_release.run("v3")
        out = second.stdout.str()
        assert second.ret == 11, out
        second.stdout.fnmatch_lines([
            f"*Aborted: the release of v2 to local that held the lock * is gone (pid {first.pid}), but its deploy "
            f"script still runs: pid {orphan} `sleep 2147483647` (running for *s), in session {orphan}*",
        ])
        assert "phase1_pre_release_gate.py" not in out  # nothing ran
        assert json.loads(lock_file.read_text())["pid"] == first.pid  # the dead holder's lock is left as it was
        assert demo_release.demo.version() == "v1"

        os.kill(orphan, signal.SIGKILL)  # the orphan ends (a person stopped it, or it finished)
        wait_until_gone(orphan)
    finally:
        first.kill()
        if orphan is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(orphan, signal.SIGKILL)  # only the orphan's session: the demo's v1 serves on

    # Now the lock is taken over, but the gate finds the cut-off report and blocks.
    cut_off = [p.name for p in demo_release.reports() if p.name.startswith("release_v2_")]
    third = demo_release.run("v2")
    out = third.stdout.str()
    assert third.ret == 11, out
    assert "phase1_pre_release_gate.py::test_previous_release_finished FAILED" in out
    assert f"the previous release v2 ({cut_off[0]}) was cut off in phase 3 (Execute), after touching the live system" in out
    assert "Check what serves, then start again with --release-override-reason" in out
    assert demo_release.demo.version() == "v1"

    # A person checked what serves and says so: the release proceeds, with the override recorded.
    fourth = demo_release.run("v2", "--release-override-reason=checked by hand: v1 serves, the v2 deploy never began")
    out = fourth.stdout.str()
    assert fourth.ret == 0, out
    assert "phase1_pre_release_gate.py::test_previous_release_finished PASSED" in out
    assert demo_release.demo.version() == "v2"
    report = [p for p in demo_release.reports() if p.name.startswith("release_v2_") and p.name not in cut_off]
    text = max(report, key=lambda p: p.stat().st_mtime_ns).read_text()
    assert "(overridden: checked by hand: v1 serves, the v2 deploy never began)" in text
    assert "**Released-with-override**" in text
