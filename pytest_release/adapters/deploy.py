"""Runs the user's deploy script (Phase 3 and the rollback of Phase 6) and streams its output.

The script runs in its own session and process group, so a hung deploy can be stopped with
everything it started, and the terminal's Ctrl-C reaches only pytest, which then decides. Output
is read in chunks from one merged stdout+stderr pipe, cut into lines, redacted, timestamped and
handed to the caller line by line while the script runs, so the report on disk grows with the
deploy and a crash loses nothing that was printed.

Timeouts use the real monotonic clock rather than the plugin's `Clock`: a subprocess runs in
real time whatever clock the release is given.
"""

from __future__ import annotations

import codecs
import collections
import datetime as dt
import errno
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from pytest_release.core.redact import Redactor
from pytest_release.report.document import open_new_or_own

__all__ = [
    "Outcome",
    "OutputLog",
    "ScriptResult",
    "format_timestamp",
    "interrupted_result",
    "run_script",
]

Outcome = Literal["succeeded", "failed", "hung", "timed-out", "interrupted", "not-started"]

_CHUNK = 1 << 16
_DRAIN_QUIET = 1.0  # after the script exits: stop once output has been quiet this long...
_DRAIN_MAX = 5.0  # ...or this long after the exit, whatever a leftover process keeps printing
_AFTER_KILL_QUIET = 0.5
_REAP_AFTER_KILL = 5.0
_POLL = 0.02


@dataclass(frozen=True)
class ScriptResult:
    """What happened to one run of a script. `argv`, `error` and `process_snapshot` are
    redacted: the result is meant to be written into the report as is."""

    argv: tuple[str, ...]
    exit_code: int | None
    outcome: Outcome
    started: dt.datetime
    finished: dt.datetime
    lines: int
    bytes: int
    process_snapshot: str | None = None
    error: str | None = None
    notes: tuple[str, ...] = field(default=())
    """Things worth knowing that are not failures, e.g. a background process kept the output
    pipe open after the script exited."""

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


def interrupted_result(exc: BaseException) -> ScriptResult | None:
    """The partial result attached to an exception that interrupted `run_script`, if any.

    `run_script` re-raises the original exception (a KeyboardInterrupt must stay one), so the
    record of what ran until then travels on it as the ``script_result`` attribute."""
    result = getattr(exc, "script_result", None)
    return result if isinstance(result, ScriptResult) else None


def format_timestamp(moment: dt.datetime) -> str:
    """``2026-11-26T03:04:05.123Z``: UTC with milliseconds, sortable, one width."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OutputLog:
    """Bounded record of a script's output: keeps the first `head` lines and the last `tail`
    lines (each line already timestamped + redacted), counts what was left out, and appends EVERY
    line to an optional side file (flushed per line) so a crash leaves the full log on disk.

    Lines longer than `max_line_chars` are shortened in memory, with a marker; the side file
    keeps them whole. Use it as a context manager, or call `close`, to close the side file."""

    def __init__(
        self,
        head: int = 200,
        tail: int = 800,
        side_file: Path | None = None,
        max_line_chars: int = 4000,
    ) -> None:
        if head < 0 or tail < 0 or max_line_chars < 1:
            raise ValueError("head and tail must be >= 0 and max_line_chars >= 1")
        self._head_size = head
        self._head: list[str] = []
        self._tail: collections.deque[str] = collections.deque(maxlen=tail)
        self._max_line_chars = max_line_chars
        self.side_file = Path(side_file) if side_file is not None else None
        self._side: IO[str] | None = None
        self.side_problem: str | None = None
        """Why the side file is not written (a planted link, no permission): shown as the first
        line of the output block. The deploy goes on: the report keeps the head and the tail."""
        if self.side_file is not None:
            try:
                # Never through a link: a planted release_..._deploy.log symlink is refused.
                fd = open_new_or_own(self.side_file)
                # Line buffered: every complete line reaches the kernel before `add` returns.
                self._side = open(fd, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115 - closed in close()
            except OSError as exc:
                self.side_problem = (f"the full output is not kept in {self.side_file.name}: "
                                     f"{exc.strerror or exc}; this report keeps its first and last lines")
                self.side_file = None
        self.total = 0

    @property
    def omitted(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def add(self, line: str) -> None:
        self.total += 1
        if self._side is not None:
            try:
                self._side.write(line + "\n")
            except OSError as exc:  # a full disk or a vanished directory must not stop the deploy
                self.side_problem = f"writing {self.side_file.name if self.side_file else 'the side log'} failed: {exc.strerror or exc}"
                self._close_side()
        if len(line) > self._max_line_chars:
            cut = len(line) - self._max_line_chars
            line = f"{line[: self._max_line_chars]} … [{cut} more characters]"
        if len(self._head) < self._head_size:
            self._head.append(line)
        elif self._tail.maxlen:
            self._tail.append(line)

    def render_lines(self) -> list[str]:
        lines = [f"[pytest-release] {self.side_problem}"] if self.side_problem else []
        lines += self._head
        if self.omitted:
            where = f" (see {self.side_file.name})" if self.side_file is not None else ""
            lines.append(f"… {self.omitted} lines left out{where} …")
        lines.extend(self._tail)
        return lines

    def close(self) -> None:
        self._close_side()

    def _close_side(self) -> None:
        if self._side is not None:
            side, self._side = self._side, None
            try:
                side.close()
            except OSError:
                pass

    def __enter__(self) -> OutputLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def run_script(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    idle_timeout: float | None = 300.0,
    total_timeout: float | None = None,
    kill_grace: float = 5.0,
    redactor: Redactor | None = None,
    now: Callable[[], dt.datetime] = _utc_now,
    max_line_chars: int = 4000,
    on_start: Callable[[int], None] | None = None,
) -> ScriptResult:
    """Run `argv` (never through a shell) in `cwd` with exactly `env`, and pass every line of
    its merged stdout and stderr, redacted and prefixed with a UTC timestamp, to `on_line` as it
    arrives.

    No output for `idle_timeout` seconds means the script hung, and running past
    `total_timeout` means it timed out: either way the processes of its group are listed, sent
    SIGTERM, given `kill_grace` seconds, then SIGKILL. A script that exits normally is not
    killed, nor is anything it left running. A partial line longer than 4 × `max_line_chars`
    is passed on in pieces, so memory stays bounded whatever the script prints.

    An exception from `on_line` or a KeyboardInterrupt stops the group the same way and is
    re-raised, with the partial result attached (see `interrupted_result`). A script that cannot
    be started gives outcome "not-started" and says why; it never raises.

    `on_start(pid)` is called once the script runs, before its first line is read: `pid` is also
    its process group and session id (it is started with setsid), which the release lock records
    so that a later release can tell whether anything of this deploy still runs. An exception
    from it stops the group like one from `on_line`."""
    for name, limit in (("idle_timeout", idle_timeout), ("total_timeout", total_timeout)):
        if limit is not None and not limit > 0:
            raise ValueError(f"{name} must be a positive number of seconds or None, got {limit!r}")
    redactor = redactor if redactor is not None else Redactor()
    args = tuple(os.fspath(a) for a in argv)
    shown_argv = tuple(redactor.redact(a) for a in args)
    started = now()
    cwd = Path(cwd)

    def not_started(reason: str) -> ScriptResult:
        return ScriptResult(shown_argv, None, "not-started", started, now(), 0, 0,
                            error=redactor.redact(reason))

    reason = _why_not_startable(args, cwd, env)
    if reason:
        return not_started(reason)
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            shell=False,
        )
    except (OSError, ValueError, TypeError) as exc:
        return not_started(_explain_start_failure(args, cwd, exc))

    run: _Run | None = None
    try:
        if on_start is not None:  # before the idle clock starts: recording it must not eat into it
            on_start(proc.pid)
        run = _Run(proc, on_line, redactor, now, max_line_chars * 4)
        outcome = run.wait(idle_timeout, total_timeout)
    except BaseException as exc:
        try:
            _stop_group(proc, kill_grace)
        finally:
            if run is not None:
                run.close()
            elif proc.stdout is not None:
                proc.stdout.close()
        if run is not None:
            reason = f"stopped by {type(exc).__name__}; its process group was terminated"
            try:
                exc.script_result = run.result(  # type: ignore[attr-defined]
                    shown_argv, started, "interrupted", reason)
            except AttributeError:
                pass
        raise

    snapshot = None
    error = None
    if outcome in ("hung", "timed-out"):
        snapshot = redactor.redact(_process_snapshot(proc.pid))
        try:
            _stop_group(proc, kill_grace, pump=run.pump)
            run.drain(_AFTER_KILL_QUIET, _DRAIN_MAX)
        finally:
            run.close()
        if outcome == "hung":
            error = (f"no output for {idle_timeout:g} s: the script looks hung; "
                     f"its process group was stopped (SIGTERM, SIGKILL after {kill_grace:g} s)")
        else:
            error = (f"still running after the total timeout of {total_timeout:g} s; "
                     f"its process group was stopped (SIGTERM, SIGKILL after {kill_grace:g} s)")
    else:
        run.close()
        code = proc.returncode
        if code != 0:
            outcome = "failed"
            error = (f"killed by {_signal_name(-code)}" if code is not None and code < 0
                     else f"exited with status {code}")
    return run.result(shown_argv, started, outcome, error, snapshot)


class _Run:
    """The reading side of one running script: pipe, decoder, partial line, counters."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        on_line: Callable[[str], None],
        redactor: Redactor,
        now: Callable[[], dt.datetime],
        piece_chars: int,
    ) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.fd: int | None = proc.stdout.fileno()
        self.on_line = on_line
        self.redactor = redactor
        self.now = now
        self.piece_chars = max(1, piece_chars)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""
        self.pending_stamp = ""
        self.lines = 0
        self.bytes = 0
        self.notes: list[str] = []
        self.last_output = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ, "out")
        self.pidfd: int | None = None
        try:
            self.pidfd = os.pidfd_open(proc.pid)  # readable once the script has exited
            self.selector.register(self.pidfd, selectors.EVENT_READ, "exit")
        except (AttributeError, OSError):
            self.pidfd = None

    # -- reading -------------------------------------------------------------------------

    def _read(self, timeout: float | None) -> None:
        """Wait up to `timeout` for output or the script's exit, and handle what came."""
        if self.fd is None and self.pidfd is None:
            if timeout:
                time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            if key.data == "exit":
                self.selector.unregister(key.fd)
                os.close(key.fd)
                self.pidfd = None
                continue
            try:
                chunk = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fd)
                self.fd = None
                continue
            self.bytes += len(chunk)
            self.last_output = time.monotonic()
            self._feed(self.decoder.decode(chunk))

    def _feed(self, text: str) -> None:
        if not text:
            return
        stamp = format_timestamp(self.now()) + " "
        if not self.pending:
            self.pending_stamp = stamp
        buf = self.pending + text
        if "\r" in buf:
            buf = buf.replace("\r\n", "\n")
        end = buf.rfind("\n")
        if end < 0:
            self.pending = buf
            self._flush_long_pending()
            return
        # A line is stamped with the time its first byte arrived: the pending partial line's
        # stamp for the first, this read's for the others.
        first_stamp = self.pending_stamp
        block, self.pending = buf[:end], buf[end + 1:]
        self.pending_stamp = stamp
        # Secrets never contain a newline: one search over the block clears all its lines.
        clean = not self.redactor.changes(block)
        on_line, limit = self.on_line, self.piece_chars
        for index, line in enumerate(block.split("\n")):
            line_stamp = stamp if index else first_stamp
            if len(line) > limit:
                self._emit_line(line, line_stamp)
                continue
            self.lines += 1
            on_line(line_stamp + (line if clean else self.redactor.redact(line)))
        self._flush_long_pending()

    def _emit_line(self, line: str, stamp: str) -> None:
        """Emit one complete line, in pieces if it is over-long."""
        while len(line) > self.piece_chars:
            cut = self.redactor.safe_cut(line, self.piece_chars)
            self._emit(line[:cut], stamp)
            line = line[cut:]
        self._emit(line, stamp)

    def _emit(self, piece: str, stamp: str) -> None:
        self.lines += 1
        self.on_line(stamp + self.redactor.redact(piece))

    def _flush_long_pending(self) -> None:
        """Pass on the front of a partial line that has grown too long to keep waiting for."""
        while len(self.pending) > self.piece_chars:
            cut = self.redactor.safe_cut(self.pending, self.piece_chars)
            if cut + self.redactor.longest > len(self.pending) and cut < 2 * self.piece_chars:
                return  # a secret may still be arriving across the cut
            piece, self.pending = self.pending[:cut], self.pending[cut:]
            self._emit(piece, self.pending_stamp)

    def _flush_partial(self) -> None:
        tail = self.pending + self.decoder.decode(b"", final=True)
        self.pending = ""
        if tail:
            self._emit_line(tail, self.pending_stamp or format_timestamp(self.now()) + " ")

    # -- life cycle ----------------------------------------------------------------------

    def wait(self, idle_timeout: float | None, total_timeout: float | None) -> Outcome:
        """Read until the script has exited and its output is drained, or a timeout fires."""
        start = time.monotonic()
        while True:
            clock = time.monotonic()
            if self.proc.poll() is not None:
                self.drain(_DRAIN_QUIET, _DRAIN_MAX, exited_at=clock)
                return "succeeded"
            if total_timeout is not None and clock - start >= total_timeout:
                return "timed-out"
            if idle_timeout is not None and clock - self.last_output >= idle_timeout:
                return "hung"
            deadline = float("inf")
            if total_timeout is not None:
                deadline = start + total_timeout
            if idle_timeout is not None:
                deadline = min(deadline, self.last_output + idle_timeout)
            if self.pidfd is None:
                deadline = min(deadline, clock + _POLL)  # no exit notification: poll
            self._read(None if deadline == float("inf") else max(0.0, deadline - clock))

    def drain(self, quiet: float, longest: float, exited_at: float | None = None) -> None:
        """Read what is left after the script is gone: up to EOF, but stop once output has been
        quiet for `quiet` s or `longest` s have passed, so that a process that inherited the
        pipe (a service started in the background) cannot keep the release waiting."""
        exited_at = time.monotonic() if exited_at is None else exited_at
        while self.fd is not None:
            clock = time.monotonic()
            deadline = min(max(self.last_output, exited_at) + quiet, exited_at + longest)
            if clock >= deadline:
                self._abandon_pipe()
                break
            self._read(deadline - clock)
        self._flush_partial()

    def _abandon_pipe(self) -> None:
        """Leave the pipe to a thread that reads and discards until EOF: closing it would kill
        the leftover process with SIGPIPE at its next write, and not reading would block it."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        self.selector.unregister(fd)
        self.notes.append(
            "a process started by the script still holds its output open; its later output is "
            "not recorded. Redirect a background service's output (e.g. `svc >svc.log 2>&1 &`)."
        )
        threading.Thread(target=_discard_until_eof, args=(os.dup(fd),), daemon=True,
                         name=f"pytest-release-drain-{self.proc.pid}").start()

    def pump(self, timeout: float) -> None:
        """Read and pass on output for up to `timeout` s, if the pipe is still open."""
        if self.fd is not None:
            self._read(timeout)
        else:
            time.sleep(timeout)

    def close(self) -> None:
        for fd in (self.fd, self.pidfd):
            if fd is not None:
                try:
                    self.selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.fd = None
        self.selector.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def result(
        self,
        argv: tuple[str, ...],
        started: dt.datetime,
        outcome: Outcome,
        error: str | None,
        snapshot: str | None = None,
    ) -> ScriptResult:
        return ScriptResult(
            argv=argv,
            exit_code=self.proc.returncode,
            outcome=outcome,
            started=started,
            finished=self.now(),
            lines=self.lines,
            bytes=self.bytes,
            process_snapshot=snapshot,
            error=self.redactor.redact(error) if error else None,
            notes=tuple(self.notes),
        )


def _discard_until_eof(fd: int) -> None:
    try:
        while os.read(fd, _CHUNK):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


# -- the process group ---------------------------------------------------------------------


def _stop_group(
    proc: subprocess.Popen[bytes], grace: float, pump: Callable[[float], None] | None = None
) -> None:
    """SIGTERM the script's process group and session, wait up to `grace` s (passing output on
    through `pump` meanwhile, so a cleanup trap's messages are recorded), then SIGKILL whatever
    is left and reap the script."""
    group = proc.pid
    try:
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + max(0.0, grace)
        while _group_alive(proc) and (left := deadline - time.monotonic()) > 0:
            if pump is not None:
                pump(min(_POLL, left))
            else:
                time.sleep(min(_POLL, left))
    finally:
        # Also on a second Ctrl-C during the grace period: nothing may outlive the release.
        if _group_alive(proc):
            _signal_group(group, signal.SIGKILL)
            deadline = time.monotonic() + _REAP_AFTER_KILL
            while _group_alive(proc) and time.monotonic() < deadline:
                time.sleep(_POLL / 4)
        try:
            proc.wait(timeout=_REAP_AFTER_KILL)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILLed, cannot happen
            pass


def _proc_stat(pid: int) -> tuple[int, int, int, str] | None:
    """(ppid, pgid, sid, state) of `pid` from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode()
    except (IndexError, ValueError):
        return None


def _members(group: int) -> Iterator[tuple[int, int, int, str]]:
    """Live (pid, ppid, pgid, state) of processes in process group or session `group`.

    Zombies are left out: they are dead, and in a container whose PID 1 does not reap orphans
    they stay in the table forever."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat and (stat[1] == group or stat[2] == group) and stat[3] not in ("Z", "X"):
            yield int(entry), stat[0], stat[1], stat[3]


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reap the script itself as soon as it exits
    if os.path.isdir("/proc"):
        return any(True for _ in _members(proc.pid))
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _signal_group(group: int, sig: signal.Signals) -> None:
    """Signal process group `group`, and any process of the script's session that moved to a
    group of its own (a script with job control puts background jobs in their own groups)."""
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid, _ppid, pgid, _state in list(_members(group)):
        if pgid != group:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _process_snapshot(group: int) -> str:
    """What the script's session is running: ``ps`` as a forest, else the same from /proc."""
    try:
        done = subprocess.run(
            ["ps", "-ww", "-o", "pid,ppid,pgid,etime,args", "--forest", "-s", str(group)],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=5,
            env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        text = done.stdout.decode("utf-8", "replace").rstrip()
        if done.returncode == 0 and text:
            return text
    except (OSError, subprocess.SubprocessError):
        pass
    return _proc_forest(group)


def _proc_forest(group: int) -> str:
    members = {pid: (ppid, pgid) for pid, ppid, pgid, _state in _members(group)}
    if not members:
        return f"(no process left in group {group})"
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, _pgid) in members.items():
        children[ppid if ppid in members else 0].append(pid)
    out = ["  PID  PPID  PGID ARGS"]

    def walk(pid: int, depth: int) -> None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            args = "?"
        ppid, pgid = members[pid]
        out.append(f"{pid:5d} {ppid:5d} {pgid:5d} {'  ' * depth}{args}")
        for child in sorted(children.get(pid, [])):
            walk(child, depth + 1)

    for root in sorted(children[0]):
        walk(root, 0)
    return "\n".join(out)


# -- starting ------------------------------------------------------------------------------


def _why_not_startable(args: tuple[str, ...], cwd: Path, env: Mapping[str, str]) -> str | None:
    if not args or not args[0]:
        return "no script to run: the command is empty"
    if not cwd.is_dir():
        return f"cannot run {args[0]}: working directory {cwd} does not exist"
    program = args[0]
    if "/" not in program:
        return None  # looked up on the PATH of `env` by the OS; failures explained later
    path = Path(program) if os.path.isabs(program) else cwd / program
    if not path.exists():
        return f"deploy script not found: {path}"
    if path.is_dir():
        return f"deploy script {path} is a directory, not a script"
    if not os.access(path, os.X_OK):
        return f"deploy script {path} is not executable (run `chmod +x {program}`)"
    return None


def _explain_start_failure(args: tuple[str, ...], cwd: Path, exc: Exception) -> str:
    program = args[0]
    path = Path(program) if os.path.isabs(program) or "/" not in program else cwd / program
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOENT and "/" in program and path.exists():
            interpreter = _shebang(path)
            what = f"its interpreter {interpreter!r} (#! line)" if interpreter else "its interpreter"
            return f"cannot run {path}: {what} was not found"
        if exc.errno == errno.ENOENT:
            here = f"; to run the file in {cwd}, write ./{program}" if (cwd / program).exists() else ""
            return f"deploy script not found: {program} is not on the PATH given to the script{here}"
        if exc.errno == errno.ENOEXEC:
            return f"cannot run {path}: not a program and no #! line (start it with `#!/usr/bin/env bash`)"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"cannot run {path}: permission denied"
        return f"cannot run {path}: {exc.strerror or exc}"
    return f"cannot run {program}: {exc}"


def _shebang(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    return first[2:].decode("utf-8", "replace").strip() or None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
