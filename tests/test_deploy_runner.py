"""run_script against real scripts in real process groups: streaming, exit codes, hangs,
timeouts, redaction, leftover processes and interrupts. Nothing is mocked; timeouts are small."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_release.adapters.deploy import (
    OutputLog,
    ScriptResult,
    interrupted_result,
    run_script,
)
from pytest_release.core.redact import Redactor

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def script(tmp_path: Path, body: str, name: str = "deploy.sh") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def text_of(lines: list[str]) -> list[str]:
    """The lines without their timestamps (checking each has one)."""
    for line in lines:
        assert STAMP.match(line), line
    return [STAMP.sub("", line, count=1) for line in lines]


def live_members(group: int) -> list[int]:
    """Processes that are not zombies and belong to process group or session `group`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        state, pgid, sid = fields[0], int(fields[2]), int(fields[3])
        if (pgid == group or sid == group) and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups a test started: killed at teardown whatever the test's outcome."""
    started: list[int] = []
    yield started
    for group in started:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in live_members(group):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# A script that ignores SIGTERM (and so does everything it starts) and leaves a grandchild
# in its group: only SIGKILL of the whole group clears it.
STUBBORN = """\
trap '' TERM
sleep 1000 &
echo "pid $$ child $!"
while :; do sleep 0.1; done
"""


def pids_from(line: str) -> tuple[int, int]:
    match = re.search(r"pid (\d+) child (\d+)", line)
    assert match, line
    return int(match.group(1)), int(match.group(2))


def test_lines_stream_in_order_with_timestamps_while_the_script_runs(tmp_path: Path) -> None:
    flag = tmp_path / "callback-saw-first-line"
    path = script(tmp_path, """\
echo first
for i in $(seq 1 200); do [ -e "$1" ] && break; sleep 0.02; done
[ -e "$1" ] || { echo "the callback did not run before the script ended"; exit 7; }
echo second
echo third >&2
""")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line.endswith(" first"):
            flag.touch()

    result = run_script([path, flag], cwd=tmp_path, env=ENV, on_line=on_line, idle_timeout=10)

    assert text_of(lines) == ["first", "second", "third"]
    assert result.ok and result.outcome == "succeeded" and result.exit_code == 0
    assert result.lines == 3 and result.bytes == len("first\nsecond\nthird\n")
    assert result.error is None and result.process_snapshot is None
    assert result.argv == (str(path), str(flag))
    assert result.started <= result.finished
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)


def test_timestamps_come_from_the_given_clock_in_utc(tmp_path: Path) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    fixed = dt.datetime(2026, 11, 26, 4, 4, 5, 123999, tzinfo=paris)
    lines: list[str] = []
    result = run_script([script(tmp_path, "echo hi\n")], cwd=tmp_path, env=ENV,
                        on_line=lines.append, now=lambda: fixed)
    assert lines == ["2026-11-26T03:04:05.123Z hi"]
    assert result.started == result.finished == fixed


def test_non_zero_exit_fails_with_the_status(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_script([script(tmp_path, "echo deploying\nexit 3\n")], cwd=tmp_path, env=ENV,
                        on_line=lines.append)
    assert result.outcome == "failed" and not result.ok
    assert result.exit_code == 3
    assert result.error == "exited with status 3"
    assert text_of(lines) == ["deploying"]


def test_a_script_killed_by_a_signal_fails_naming_it(tmp_path: Path) -> None:
    result = run_script([script(tmp_path, "kill -SEGV $$\n")], cwd=tmp_path, env=ENV,
                        on_line=lambda line: None)
    assert result.outcome == "failed"
    assert result.exit_code == -signal.SIGSEGV
    assert result.error == "killed by SIGSEGV"


def test_argv_is_passed_as_is_never_through_a_shell(tmp_path: Path) -> None:
    path = script(tmp_path, "printf '<%s>\\n' \"$@\"\n")
    lines: list[str] = []
    run_script([path, "$(touch pwned)", "a b;c", "*"], cwd=tmp_path, env=ENV, on_line=lines.append)
    assert text_of(lines) == ["<$(touch pwned)>", "<a b;c>", "<*>"]
    assert not (tmp_path / "pwned").exists()


def test_env_is_exactly_the_given_mapping_and_stdin_is_empty(tmp_path: Path) -> None:
    lines: list[str] = []
    env = {"ONLY": "this", "PATH": ENV["PATH"]}
    result = run_script(["/usr/bin/env"], cwd=tmp_path, env=env, on_line=lines.append)
    assert result.ok
    assert sorted(text_of(lines)) == sorted(f"{k}={v}" for k, v in env.items())

    lines.clear()
    # `cat` would wait forever on an inherited terminal; with /dev/null it ends at once.
    result = run_script([script(tmp_path, "cat\necho after-cat\n")], cwd=tmp_path, env=ENV,
                        on_line=lines.append, idle_timeout=5)
    assert result.ok and text_of(lines) == ["after-cat"]


def test_the_script_leads_its_own_session_and_process_group(tmp_path: Path) -> None:
    lines: list[str] = []
    code = "import os; print(os.getpid() == os.getpgid(0) == os.getsid(0), os.getpgid(0) != %d)"
    run_script([sys.executable, "-c", code % os.getpgid(0)], cwd=tmp_path, env=ENV,
               on_line=lines.append)
    assert text_of(lines) == ["True True"]


def test_crlf_and_invalid_utf8_and_a_last_line_without_newline(tmp_path: Path) -> None:
    lines: list[str] = []
    run_script([script(tmp_path, "printf 'dos\\r\\nbad \\377 byte\\nlast'\n")], cwd=tmp_path,
               env=ENV, on_line=lines.append)
    assert text_of(lines) == ["dos", "bad \ufffd byte", "last"]


def test_a_hung_script_is_snapshotted_and_its_whole_group_killed(
    tmp_path: Path, groups: list[int]
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    path = script(tmp_path, STUBBORN)
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        groups.append(pids_from(line)[0])

    begun = time.monotonic()
    result = run_script([path, "--token", secret], cwd=tmp_path, env=ENV, on_line=on_line,
                        idle_timeout=1, kill_grace=0.5, redactor=Redactor([secret]))
    took = time.monotonic() - begun

    group, grandchild = pids_from(lines[0])
    assert result.outcome == "hung" and not result.ok
    assert result.exit_code == -signal.SIGKILL  # SIGTERM was ignored
    assert "no output for 1 s" in (result.error or "")
    assert result.process_snapshot is not None
    assert "sleep 1000" in result.process_snapshot and str(grandchild) in result.process_snapshot
    assert secret not in result.process_snapshot and "--token ***" in result.process_snapshot
    assert result.argv == (str(path), "--token", "***")
    assert live_members(group) == [] and not alive(grandchild)
    assert 1.4 <= took < 6


def test_output_during_the_grace_period_is_still_recorded(tmp_path: Path, groups: list[int]) -> None:
    path = script(tmp_path, """\
trap 'echo "SIGTERM received, cleaning up"; exit 0' TERM
echo "pid $$ child 0"
while :; do sleep 0.05; done
""")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if "pid" in line:
            groups.append(pids_from(line)[0])

    result = run_script([path], cwd=tmp_path, env=ENV, on_line=on_line, idle_timeout=0.5,
                        kill_grace=3)
    assert result.outcome == "hung"
    assert result.exit_code == 0  # it left on SIGTERM by itself
    assert text_of(lines)[-1] == "SIGTERM received, cleaning up"


def test_a_script_over_its_total_time_is_timed_out(tmp_path: Path, groups: list[int]) -> None:
    path = script(tmp_path, 'echo "pid $$ child 0"\nwhile :; do echo tick; sleep 0.1; done\n')
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if "pid" in line:
            groups.append(pids_from(line)[0])

    result = run_script([path], cwd=tmp_path, env=ENV, on_line=on_line, idle_timeout=5,
                        total_timeout=1, kill_grace=0.5)
    assert result.outcome == "timed-out"
    assert "total timeout of 1 s" in (result.error or "")
    assert result.exit_code == -signal.SIGTERM
    assert result.process_snapshot and "deploy.sh" in result.process_snapshot
    assert text_of(lines).count("tick") >= 5
    assert live_members(groups[0]) == []


def test_secrets_are_redacted_inside_longer_words_on_stdout_and_stderr(tmp_path: Path) -> None:
    dotenv = {"DB_PASSWORD": "hunter2hunter2", "REGION": "eu-west-1"}
    environ = {"GITHUB_TOKEN": "ghp_abcdefgh12345678", "HOME": "/home/me"}
    path = script(tmp_path, """\
echo "connecting with password=hunter2hunter2;region=eu-west-1"
echo "auth failed for ghp_abcdefgh12345678 (xhunter2hunter2x)" >&2
printf 'split across reads: gh'; sleep 0.3; printf 'p_abcdefgh12345678 done\\n'
echo "home is /home/me"
""")
    lines: list[str] = []
    result = run_script([path], cwd=tmp_path, env=ENV, on_line=lines.append,
                        redactor=Redactor.from_environment(dotenv, environ))
    assert result.ok
    assert text_of(lines) == [
        "connecting with password=***;region=***",
        "auth failed for *** (x***x)",
        "split across reads: *** done",
        "home is /home/me",
    ]


def test_a_background_process_holding_the_pipe_does_not_block_and_is_not_killed(
    tmp_path: Path, groups: list[int]
) -> None:
    # A service started with `&` inherits stdout and keeps the pipe open after the script exits.
    path = script(tmp_path, """\
(echo "service starting"; sleep 30) &
echo "pid $$ child $!"
echo deployed
""")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if "pid" in line:
            groups.append(pids_from(line)[0])

    begun = time.monotonic()
    result = run_script([path], cwd=tmp_path, env=ENV, on_line=on_line, idle_timeout=20)
    took = time.monotonic() - begun

    assert result.ok
    assert took < 4
    _, service = pids_from(next(line for line in lines if "pid" in line))
    assert set(text_of(lines)) == {f"pid {groups[0]} child {service}", "deployed", "service starting"}
    assert result.notes and "still holds its output open" in result.notes[0]
    assert alive(service), "a normal exit must not kill what the script left running"


def test_huge_output_keeps_the_log_bounded_and_the_side_file_complete(tmp_path: Path) -> None:
    count = 200_000
    code = (
        "import sys\n"
        f"sys.stdout.write(''.join(f'line {{i:06d}} ' + 'x' * 80 + '\\n' for i in range({count})))"
    )
    side = tmp_path / "deploy-output.log"
    with OutputLog(head=10, tail=20, side_file=side) as log:
        result = run_script([sys.executable, "-c", code], cwd=tmp_path, env=ENV, on_line=log.add)
    assert result.ok and result.lines == count == log.total
    assert result.bytes == count * 93
    rendered = log.render_lines()
    assert len(rendered) == 10 + 1 + 20
    assert log.omitted == count - 30
    assert rendered[10] == f"… {count - 30} lines left out (see deploy-output.log) …"
    assert text_of(rendered[:1]) == ["line 000000 " + "x" * 80]
    assert text_of(rendered[-1:]) == [f"line {count - 1:06d} " + "x" * 80]
    with side.open(encoding="utf-8") as f:
        on_disk = f.read().splitlines()
    assert len(on_disk) == count
    assert text_of([on_disk[0], on_disk[123_456], on_disk[-1]]) == [
        "line 000000 " + "x" * 80, "line 123456 " + "x" * 80, f"line {count - 1:06d} " + "x" * 80,
    ]


def test_an_endless_line_is_passed_on_in_pieces_without_splitting_a_secret(tmp_path: Path) -> None:
    secret = "SECRET-0123456789"
    # 4 × max_line_chars = 400 characters per piece; the secret straddles the first cut.
    body = "a" * 395 + secret + "b" * 1000
    path = script(tmp_path, f"printf '%s' '{body}'\nsleep 0.2\nprintf '%s\\n' 'cc'\n")
    lines: list[str] = []
    result = run_script([path], cwd=tmp_path, env=ENV, on_line=lines.append,
                        redactor=Redactor([secret]), max_line_chars=100)
    pieces = text_of(lines)
    assert "".join(pieces) == "a" * 395 + "***" + "b" * 1000 + "cc"
    assert all(len(piece) <= 400 + len(secret) for piece in pieces)
    assert len(pieces) >= 4
    assert result.lines == len(pieces)


def _file(directory: Path, text: str, mode: int) -> Path:
    path = directory / "deploy.sh"
    path.write_text(text)
    path.chmod(mode)
    return path


def _directory(directory: Path) -> Path:
    (directory / "dir.sh").mkdir()
    return directory / "dir.sh"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: d / "missing.sh", "deploy script not found: {path}"),
        (lambda d: _file(d, "#!/bin/sh\necho hi\n", 0o644), "deploy script {path} is not executable"),
        (_directory, "deploy script {path} is a directory"),
        (lambda d: _file(d, "#!/no/such/interpreter\necho hi\n", 0o755),
         "cannot run {path}: its interpreter '/no/such/interpreter' (#! line) was not found"),
        (lambda d: _file(d, "echo hi\n", 0o755), "cannot run {path}: not a program and no #! line"),
    ],
    ids=["missing", "not-executable", "directory", "bad-interpreter", "no-shebang"],
)
def test_a_script_that_cannot_start_is_not_started_never_an_exception(
    tmp_path: Path, setup, expected: str
) -> None:
    path = setup(tmp_path)
    result = run_script([path, "--rollback"], cwd=tmp_path, env=ENV, on_line=lambda line: None)
    assert result.outcome == "not-started" and not result.ok
    assert result.exit_code is None and result.lines == 0
    assert result.error is not None and result.error.startswith(expected.format(path=path))


def test_relative_paths_resolve_against_cwd_and_path_lookups_use_the_given_env(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    script(tmp_path / "scripts", "echo relative\n")
    lines: list[str] = []
    assert run_script(["scripts/deploy.sh"], cwd=tmp_path, env=ENV, on_line=lines.append).ok
    assert text_of(lines) == ["relative"]

    missing = run_script(["no-such-deploy-tool"], cwd=tmp_path, env=ENV, on_line=lines.append)
    assert missing.outcome == "not-started"
    assert missing.error == "deploy script not found: no-such-deploy-tool is not on the PATH given to the script"
    (tmp_path / "deploy.sh").write_text("#!/bin/sh\n")
    bare = run_script(["deploy.sh"], cwd=tmp_path, env=ENV, on_line=lines.append)
    assert bare.error and bare.error.endswith(f"to run the file in {tmp_path}, write ./deploy.sh")
    gone = run_script(["scripts/deploy.sh"], cwd=tmp_path / "nowhere", env=ENV, on_line=lines.append)
    assert gone.outcome == "not-started" and gone.error and "does not exist" in gone.error
    empty = run_script([], cwd=tmp_path, env=ENV, on_line=lines.append)
    assert empty.outcome == "not-started"
    with pytest.raises(ValueError, match="idle_timeout must be a positive number"):
        run_script(["scripts/deploy.sh"], cwd=tmp_path, env=ENV, on_line=lines.append, idle_timeout=0)


def test_without_pidfd_the_exit_is_noticed_by_polling(
    tmp_path: Path, groups: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python < 3.9 or Linux < 5.3 has no pidfd_open: the runner polls for the exit instead.
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    path = script(tmp_path, 'sleep 30 &\necho "pid $$ child $!"\nsleep 0.2\nexit 4\n')
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        groups.append(pids_from(line)[0])

    result = run_script([path], cwd=tmp_path, env=ENV, on_line=on_line, idle_timeout=10)
    assert result.outcome == "failed" and result.exit_code == 4
    assert result.notes  # the sleep kept the pipe open


def test_the_proc_snapshot_lists_the_group_as_a_forest(tmp_path: Path, groups: list[int]) -> None:
    from pytest_release.adapters.deploy import _proc_forest

    path = script(tmp_path, 'sleep 1000 &\necho "pid $$ child $!"\nwait\n')
    proc = subprocess.Popen([path], stdout=subprocess.PIPE, text=True, start_new_session=True)
    groups.append(proc.pid)
    try:
        group, child = pids_from(proc.stdout.readline())
        for _ in range(200):  # the forked child may not have exec'd sleep yet
            if Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep"):
                break
            time.sleep(0.01)
        forest = _proc_forest(group).splitlines()
        assert forest[0].split() == ["PID", "PPID", "PGID", "ARGS"]
        assert forest[1].split()[:3] == [str(group), str(os.getpid()), str(group)]
        assert forest[2].split() == [str(child), str(group), str(group), "sleep", "1000"]
        assert forest[2].index("sleep") > forest[1].index("/")  # indented under its parent
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    for _ in range(200):  # SIGKILL is delivered asynchronously
        if not live_members(group):
            break
        time.sleep(0.01)
    assert _proc_forest(group) == f"(no process left in group {group})"


@pytest.mark.parametrize("exception", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_stops_the_whole_group_and_propagates(
    tmp_path: Path, groups: list[int], exception: type[BaseException]
) -> None:
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        groups.append(pids_from(line)[0])
        raise exception("stop")

    begun = time.monotonic()
    with pytest.raises(exception) as raised:
        run_script([script(tmp_path, STUBBORN)], cwd=tmp_path, env=ENV, on_line=on_line,
                   idle_timeout=30, kill_grace=0.5)
    took = time.monotonic() - begun

    group, grandchild = pids_from(seen[0])
    assert live_members(group) == [] and not alive(grandchild)
    assert not alive(group), "the script itself must be reaped, not left a zombie"
    assert took < 5
    partial = interrupted_result(raised.value)
    assert isinstance(partial, ScriptResult)
    assert partial.outcome == "interrupted" and partial.exit_code == -signal.SIGKILL


def test_output_log_keeps_everything_when_small_and_marks_long_lines(tmp_path: Path) -> None:
    log = OutputLog(head=2, tail=3, max_line_chars=10)
    for i in range(4):
        log.add(f"l{i}")
    assert log.render_lines() == ["l0", "l1", "l2", "l3"] and log.omitted == 0
    log.add("x" * 25)
    assert log.render_lines()[-1] == "x" * 10 + " … [15 more characters]"
    log.add("l5")
    assert log.omitted == 1 and log.total == 6
    assert log.render_lines()[2] == "… 1 lines left out …"
    log.close()

    side = tmp_path / "side.log"
    with OutputLog(head=0, tail=0, side_file=side, max_line_chars=5) as log:
        log.add("0123456789")
        assert side.read_text() == "0123456789\n"  # on disk before the log is closed
    assert log.render_lines() == ["… 1 lines left out (see side.log) …"]


# --- on_start (issue 16, point 2) and a side file that fails mid-run --------------------------------
def test_on_start_gets_the_scripts_pid_which_is_its_session_and_group(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int]] = []

    def on_start(pid: int) -> None:
        seen.append((pid, os.getsid(pid), os.getpgid(pid)))  # it runs: the kernel can tell

    lines: list[str] = []
    result = run_script([sys.executable, "-c", "import os; print(os.getpid())"], cwd=tmp_path, env=ENV,
                        on_line=lines.append, on_start=on_start)
    assert result.ok and len(seen) == 1
    pid, sid, pgid = seen[0]
    assert pid == sid == pgid == int(text_of(lines)[0])


def test_an_exception_from_on_start_stops_the_group_and_propagates(tmp_path: Path, groups: list[int]) -> None:
    started: list[int] = []

    def on_start(pid: int) -> None:
        started.append(pid)
        groups.append(pid)
        raise RuntimeError("the lock could not be written")

    with pytest.raises(RuntimeError, match="the lock could not be written"):
        run_script([str(script(tmp_path, STUBBORN))], cwd=tmp_path, env=ENV, on_line=lambda line: None,
                   on_start=on_start, kill_grace=0.2)
    assert started and live_members(started[0]) == []


def test_a_side_file_that_cannot_be_written_mid_run_does_not_stop_the_output(tmp_path: Path) -> None:
    full = Path("/dev/full")  # every write fails with ENOSPC, as on a full disk (Linux)
    log = OutputLog(head=10, tail=10, side_file=tmp_path / "deploy.log")
    log._side = open(full, "w", buffering=1)  # the side file's disk fills up after it was opened
    for n in range(3):
        log.add(f"line {n}")
    log.close()
    lines = log.render_lines()
    assert lines[0] == "[pytest-release] writing deploy.log failed: No space left on device"
    assert lines[1:] == ["line 0", "line 1", "line 2"]
