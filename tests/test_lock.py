"""The per-environment release lock (pytest_release/lock.py), against a real file system and real
processes: who holds it, when it is refused, when a stale one is taken over, and that racing
processes never both win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_release.adapters import lock as lockmod
from pytest_release.adapters.lock import LockBusy, LockHolder, acquire, holder_is_gone

HOST = "test-host"


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(directory: Path, env: str, **fields: object) -> Path:
    holder = {"env": env, "version": "v7", "pid": os.getpid(), "host": HOST, "since": "2026-11-26T03:19:05+00:00",
              "token": "abc", "process_start": lockmod.process_start(os.getpid()), "boot_id": lockmod.boot_id()}
    holder.update(fields)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{env}.lock"
    path.write_text(json.dumps(holder))
    return path


def test_the_lock_file_names_its_holder_and_is_removed_on_release(tmp_path: Path) -> None:
    held = acquire(tmp_path / "locks", "staging", "v2", host=HOST)
    path = tmp_path / "locks" / "staging.lock"
    data = json.loads(path.read_text())
    assert (data["env"], data["version"], data["pid"], data["host"]) == ("staging", "v2", os.getpid(), HOST)
    assert data["since"].endswith("+00:00") and data["process_start"] == lockmod.process_start(os.getpid())
    assert held.taken_over is None and held.takeover_note() is None
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    assert held.release() is True
    assert not path.exists()
    assert held.release() is False  # idempotent


def test_a_second_release_of_the_same_environment_is_refused_naming_the_holder(tmp_path: Path) -> None:
    held = acquire(tmp_path, "staging", "v2", host=HOST)
    with pytest.raises(LockBusy) as refused:
        acquire(tmp_path, "staging", "v3", host=HOST)
    message = str(refused.value)
    assert "another release of staging is running" in message
    assert f"v2 by pid {os.getpid()} on host {HOST} since " in message and " UTC" in message
    assert str(tmp_path / "staging.lock") in message and "wait for it to finish" in message
    assert refused.value.holder is not None and refused.value.holder.version == "v2"
    assert json.loads((tmp_path / "staging.lock").read_text())["version"] == "v2"  # untouched
    held.release()
    acquire(tmp_path, "staging", "v3", host=HOST).release()  # free again


def test_different_environments_are_held_side_by_side(tmp_path: Path) -> None:
    staging = acquire(tmp_path, "staging", "v2", host=HOST)
    production = acquire(tmp_path, "production", "v2", host=HOST)
    assert {p.name for p in tmp_path.glob("*.lock")} == {"staging.lock", "production.lock"}
    staging.release()
    production.release()


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    pid = dead_pid()
    write_lock(tmp_path, "staging", pid=pid, process_start=None)
    held = acquire(tmp_path, "staging", "v3", host=HOST)
    assert held.taken_over is not None and held.taken_over.pid == pid
    note = held.takeover_note()
    assert note is not None and f"v7 by pid {pid} on host {HOST}" in note and "gone" in note
    assert json.loads((tmp_path / "staging.lock").read_text())["pid"] == os.getpid()
    held.release()


def test_a_reused_pid_or_a_reboot_makes_a_lock_stale(tmp_path: Path) -> None:
    me = lockmod.process_start(os.getpid())
    assert me is not None
    reused = LockHolder("staging", "v7", os.getpid(), HOST, "2026-11-26T03:19:05+00:00", "t", me + 1, lockmod.boot_id())
    rebooted = LockHolder("staging", "v7", os.getpid(), HOST, "2026-11-26T03:19:05+00:00", "t", me, "another-boot")
    alive = LockHolder("staging", "v7", os.getpid(), HOST, "2026-11-26T03:19:05+00:00", "t", me, lockmod.boot_id())
    assert holder_is_gone(reused, HOST) and holder_is_gone(rebooted, HOST)
    assert not holder_is_gone(alive, HOST)


def test_a_lock_held_on_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = write_lock(tmp_path, "production", pid=dead_pid(), host="build-9")
    before = path.read_bytes()
    with pytest.raises(LockBusy) as refused:
        acquire(tmp_path, "production", "v3", host=HOST)
    message = str(refused.value)
    assert "on host build-9" in message and "never taken over" in message
    assert f"remove {path} and start again" in message
    assert path.read_bytes() == before


def test_an_unreadable_lock_is_left_alone_and_explained(tmp_path: Path) -> None:
    path = tmp_path / "staging.lock"
    path.write_text("not json at all")
    with pytest.raises(LockBusy) as refused:
        acquire(tmp_path, "staging", "v3", host=HOST)
    assert "cannot be read" in str(refused.value) and "remove that file" in str(refused.value)
    assert path.read_text() == "not json at all"


def test_release_leaves_a_lock_that_is_no_longer_its_own(tmp_path: Path) -> None:
    held = acquire(tmp_path, "staging", "v2", host=HOST)
    path = write_lock(tmp_path, "staging", token="someone-else")
    assert held.release() is False
    assert json.loads(path.read_text())["token"] == "someone-else"


CONTENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_release.adapters.lock import LockBusy, acquire

    sys.stdin.readline()  # the start signal: every contender is running by now
    try:
        acquire(Path(sys.argv[1]), "staging", "v-" + sys.argv[2], host=sys.argv[3])
        print("won", flush=True)
    except LockBusy:
        print("busy", flush=True)
    sys.stdin.readline()  # hold on until the test has heard from everyone
    """
)


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_racing_processes_never_both_win(tmp_path: Path, stale: bool) -> None:
    if stale:
        write_lock(tmp_path, "staging", pid=dead_pid(), process_start=None)
    root = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(tmp_path), str(n), HOST], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": root},
        )
        for n in range(8)
    ]
    try:
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = [proc.stdout.readline().strip() for proc in procs]
    finally:
        for proc in procs:
            proc.communicate("done\n", timeout=30)
    assert sorted(answers) == ["busy"] * 7 + ["won"]
    winner = answers.index("won")
    assert json.loads((tmp_path / "staging.lock").read_text())["version"] == f"v-{winner}"


# --- the deploy script's session (issue 16, point 2) ---------------------------------------------
def _session_leader(*argv: str) -> subprocess.Popen[bytes]:
    """A real process in a session of its own, as run_script starts the deploy script."""
    return subprocess.Popen(list(argv), start_new_session=True, stdin=subprocess.DEVNULL)


def test_the_holder_records_the_deploy_scripts_session_and_clears_it(tmp_path: Path) -> None:
    held = acquire(tmp_path, "staging", "v2", host=HOST)
    script = _session_leader("sleep", "30")
    try:
        held.record_deploy(script.pid, "scripts/deploy.sh --env staging --version v2")
        data = json.loads((tmp_path / "staging.lock").read_text())
        assert data["deploy_session"] == data["deploy_group"] == script.pid
        assert data["deploy_start"] == lockmod.process_start(script.pid)
        assert data["deploy_command"] == "scripts/deploy.sh --env staging --version v2" and data["deploy_since"].endswith("+00:00")
        assert data["token"] == held.holder.token  # still this release's lock
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        held.clear_deploy()
        data = json.loads((tmp_path / "staging.lock").read_text())
        assert data["deploy_session"] is None and data["deploy_group"] is None and data["deploy_command"] is None
    finally:
        script.kill()
        script.wait()
        held.release()


def test_a_dead_holders_lock_is_not_taken_over_while_its_deploy_session_lives(tmp_path: Path) -> None:
    orphan = _session_leader("sleep", "300")
    try:
        start = lockmod.process_start(orphan.pid)
        write_lock(tmp_path, "staging", pid=dead_pid(), process_start=None, deploy_session=orphan.pid,
                   deploy_start=start, deploy_command="scripts/deploy.sh --env staging --version v7",
                   deploy_since="2026-11-26T03:19:07+00:00")
        before = (tmp_path / "staging.lock").read_text()
        with pytest.raises(LockBusy) as refused:
            acquire(tmp_path, "staging", "v8", host=HOST)
        message = str(refused.value)
        assert f"its deploy script still runs: pid {orphan.pid} `sleep 300` (running for " in message
        assert f"in session {orphan.pid}" in message and "since 2026-11-26 03:19:07 UTC" in message
        assert f"kill -TERM -- -{orphan.pid}" in message and "would deploy over it" in message
        assert (tmp_path / "staging.lock").read_text() == before  # nothing changed
    finally:
        orphan.kill()
        orphan.wait()
    held = acquire(tmp_path, "staging", "v8", host=HOST)  # the orphan has ended: taken over
    assert held.taken_over is not None and held.taken_over.deploy_session == orphan.pid
    assert "nor does any process of its deploy script" in (held.takeover_note() or "")
    held.release()


def test_a_child_left_in_the_deploy_session_also_keeps_the_lock(tmp_path: Path) -> None:
    # The script itself has exited; a process it started in the background (same session) runs on.
    script = _session_leader("sh", "-c", "sleep 300 & echo $!")
    script.wait()
    members = lockmod.orphans(LockHolder("staging", "v7", dead_pid(), HOST, "2026-11-26T03:19:05+00:00",
                                         deploy_session=script.pid, deploy_start=None))
    try:
        assert [m.command for m in members] == ["sleep 300"] and members[0].pid != script.pid
        assert members[0].age_seconds is not None and members[0].age_seconds < 60
    finally:
        for member in members:
            os.kill(member.pid, 9)


def test_a_reused_session_id_is_not_an_orphan(tmp_path: Path) -> None:
    other = _session_leader("sleep", "300")
    try:
        start = lockmod.process_start(other.pid)
        assert start is not None
        # The recorded deploy started after this process: the id now names another session.
        holder = LockHolder("staging", "v7", dead_pid(), HOST, "2026-11-26T03:19:05+00:00",
                            deploy_session=other.pid, deploy_start=start + 1)
        assert lockmod.orphans(holder) == []
        rebooted = LockHolder("staging", "v7", dead_pid(), HOST, "2026-11-26T03:19:05+00:00", boot_id="another-boot",
                              deploy_session=other.pid, deploy_start=start)
        assert lockmod.orphans(rebooted) == []
    finally:
        other.kill()
        other.wait()


def test_a_planted_link_at_the_takeover_guard_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / ".staging.lock.takeover").symlink_to(target)
    write_lock(tmp_path, "staging", pid=dead_pid(), process_start=None)
    with pytest.raises(LockBusy, match=r"\.staging\.lock\.takeover: it is a symbolic link, which is never followed"):
        acquire(tmp_path, "staging", "v8", host=HOST)
    assert target.read_text() == "keep"
