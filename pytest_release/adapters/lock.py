"""One release per environment at a time: a lock file per environment.

Two releases of the same environment at once would deploy over each other and each judge the
other's version in its watch window. So before a release claims its report it takes
`<lock_dir>/<env>.lock`: a small JSON file naming the holder (pid, host, version, since when).

The file appears atomically with its content: it is written to a temporary name and hard-linked
into place, and the link fails if a lock is already there (the O_EXCL guarantee, which also holds
on NFS), so a reader never sees half a lock. A lock whose holder is gone on this host (a crash, a
`kill -9`, a reboot) is taken over; a lock held on another host is never taken over, because from
here nobody can tell whether that release still runs.

A `kill -9` of pytest does not stop the deploy script: it runs in a session of its own. So once
the script starts, the holder records that session (its id, which is also the script's pid and
process group, and when the script started) in the lock, and clears it when the script is done.
A dead holder's lock is taken over only when no process of that session is alive any more;
while one is, the next release is refused, naming the orphan's pid, command and age, because
deploying over a deploy that still runs is the overlap the lock exists to prevent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import json
import os
import secrets
import socket
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

from pytest_release.adapters.sessions import Orphan, session_members

__all__ = ["EnvLock", "LockBusy", "LockHolder", "Orphan", "acquire", "holder_is_gone", "orphans"]

_ATTEMPTS = 5
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class LockHolder:
    """Who holds an environment's lock. `process_start` (clock ticks since boot, from /proc) and
    `boot_id` tell a reused pid or a rebooted machine from the process that took the lock."""

    env: str
    version: str
    pid: int
    host: str
    since: str  # ISO 8601 UTC
    token: str = ""
    process_start: int | None = None
    boot_id: str | None = None
    deploy_session: int | None = None  # the running deploy script's session id (= its pid)
    deploy_group: int | None = None  # its process group (= its pid too: it is started with setsid)
    deploy_start: int | None = None  # its process start, clock ticks since boot (tells a reused id)
    deploy_command: str | None = None  # as shown in the report (redacted)
    deploy_since: str | None = None  # ISO 8601 UTC

    def describe(self) -> str:
        return f"{self.version} by pid {self.pid} on host {self.host} since {_readable(self.since)}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "LockHolder":
        """Raises ValueError for anything that is not a lock this module wrote."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            holder = cls(
                env=str(data["env"]), version=str(data["version"]), pid=int(data["pid"]),
                host=str(data["host"]), since=str(data["since"]), token=str(data.get("token", "")),
                process_start=None if data.get("process_start") is None else int(data["process_start"]),
                boot_id=None if data.get("boot_id") is None else str(data["boot_id"]),
                deploy_session=_optional_int(data.get("deploy_session")),
                deploy_group=_optional_int(data.get("deploy_group")),
                deploy_start=_optional_int(data.get("deploy_start")),
                deploy_command=None if data.get("deploy_command") is None else str(data["deploy_command"]),
                deploy_since=None if data.get("deploy_since") is None else str(data["deploy_since"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"missing or bad field: {exc}") from None
        if holder.pid <= 0:
            raise ValueError(f"bad pid {holder.pid}")
        return holder


class LockBusy(Exception):
    """Another release holds the environment (or its lock cannot be read). The message names the
    holder and, where a person must act, says what to do."""

    def __init__(self, message: str, path: Path, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.path = path
        self.holder = holder


@dataclass
class EnvLock:
    """A held lock. `taken_over` is the holder whose stale lock this one replaced, if any."""

    path: Path
    holder: LockHolder
    taken_over: LockHolder | None = None
    released: bool = False

    def release(self) -> bool:
        """Remove the lock file if it is still this holder's; idempotent. False when the file
        was gone or belonged to someone else (then it is left alone)."""
        if self.released:
            return False
        self.released = True
        try:
            current = LockHolder.from_json(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if current.token != self.holder.token:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True

    def record_deploy(self, pid: int, command: str) -> None:
        """The deploy script runs as `pid` (its own session): say so in the lock file, so that a
        release that finds this holder dead does not deploy while the script still runs.
        Raises OSError when the lock cannot be rewritten (the caller says so in the report)."""
        try:
            session, group = os.getsid(pid), os.getpgid(pid)
        except OSError:  # already gone (and reaped): what run_script started it as
            session = group = pid
        self._rewrite(dataclasses.replace(
            self.holder, deploy_session=session, deploy_group=group, deploy_start=process_start(pid),
            deploy_command=command, deploy_since=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        ))

    def clear_deploy(self) -> None:
        """The deploy script has ended (or its group was stopped): nothing of it to wait for."""
        if self.holder.deploy_session is not None:
            self._rewrite(dataclasses.replace(
                self.holder, deploy_session=None, deploy_group=None, deploy_start=None, deploy_command=None,
                deploy_since=None))

    def _rewrite(self, holder: LockHolder) -> None:
        """Replace the lock file's content atomically, if it is still this holder's."""
        if self.released:
            return
        raw = _read(self.path)
        try:
            current = LockHolder.from_json(raw) if raw else None
        except ValueError:
            current = None
        if current is None or current.token != self.holder.token:
            raise OSError(errno.EPERM, f"{self.path} is no longer this release's lock")
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            # No fsync: the record must outlive this process (the page cache does), not a power
            # cut, which ends the deploy script too; a deploy's start is not held up by the disk.
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o644)
                handle.write(holder.to_json().encode())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.holder = holder

    def takeover_note(self) -> str | None:
        old = self.taken_over
        if old is None:
            return None
        return (
            f"took over the lock of {self.holder.env} left by a release that is gone: {old.describe()} "
            f"(the process no longer runs on this host, nor does any process of its deploy script). "
            f"That release may have stopped half-way: phase 1 reads its report and says where it was cut off."
        )


def lock_path(lock_dir: Path, env: str) -> Path:
    return Path(lock_dir) / f"{env}.lock"


def acquire(lock_dir: Path, env: str, version: str, *, host: str | None = None, pid: int | None = None) -> EnvLock:
    """Take the lock of `env` for a release of `version`, or raise LockBusy naming the holder."""
    path = lock_path(lock_dir, env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LockBusy(f"cannot create the release lock directory {path.parent}: {exc.strerror or exc}", path, None) from None
    pid = os.getpid() if pid is None else pid
    mine = LockHolder(
        env=env, version=version, pid=pid, host=host or socket.gethostname(),
        since=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        token=secrets.token_hex(8), process_start=process_start(pid), boot_id=boot_id(),
    )
    for _ in range(_ATTEMPTS):
        if _create(path, mine):
            return EnvLock(path, mine)
        raw = _read(path)
        if raw is None:
            continue  # released between our attempt and the read: try again
        try:
            current = LockHolder.from_json(raw)
        except ValueError as exc:
            raise LockBusy(
                f"the release lock {path} exists but cannot be read ({exc}): if no release of {env} is "
                f"running, remove that file and start again",
                path, None,
            ) from None
        if not holder_is_gone(current, mine.host):
            raise LockBusy(busy_message(current, path, mine.host), path, current)
        left = orphans(current)
        if left:
            raise LockBusy(orphan_message(current, left, path), path, current)
        with _takeover_guard(path):
            if _read(path) != raw:
                continue  # someone else took it over or it was released: look again
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if _create(path, mine):
                return EnvLock(path, mine, taken_over=current)
    raise LockBusy(f"could not take the release lock {path}: other releases of {env} keep taking it", path, None)


def busy_message(holder: LockHolder, path: Path, this_host: str) -> str:
    text = f"another release of {holder.env} is running: {holder.describe()} (lock {path})."
    if holder.host != this_host:
        return (
            f"{text} It is held on another host, so it is never taken over from here: if no release "
            f"of {holder.env} is running on {holder.host}, remove {path} and start again."
        )
    return f"{text} One release per environment at a time: wait for it to finish."


def orphans(holder: LockHolder) -> list[Orphan]:
    """The live processes of `holder`'s recorded deploy session, oldest first; none when no
    deploy was recorded or the machine rebooted since."""
    if holder.deploy_session is None:
        return []
    current_boot = boot_id()
    if holder.boot_id and current_boot and holder.boot_id != current_boot:
        return []
    return session_members(holder.deploy_session, holder.deploy_start, holder.deploy_command or "?",
                           group=holder.deploy_group)


def orphan_message(holder: LockHolder, left: Sequence[Orphan], path: Path) -> str:
    since = f" since {_readable(holder.deploy_since)}" if holder.deploy_since else ""
    more = f" and {len(left) - 1} more process(es) of its session" if len(left) > 1 else ""
    return (
        f"the release of {holder.version} to {holder.env} that held the lock {path} is gone (pid "
        f"{holder.pid}), but its deploy script still runs: {left[0].describe()}{more}, in session "
        f"{holder.deploy_session}, deploying{since}. A release now would deploy over it. Wait for it "
        f"to end, or stop it (`kill -TERM -- -{holder.deploy_session}`) once you know what it is "
        f"doing; then start again: phase 1 will say where the interrupted release was cut off."
    )


def holder_is_gone(holder: LockHolder, this_host: str) -> bool:
    """True only when `holder` certainly no longer runs: on this host, and its process is gone
    (or the pid now belongs to another process, or the machine rebooted since)."""
    if holder.host != this_host:
        return False
    current_boot = boot_id()
    if holder.boot_id and current_boot and holder.boot_id != current_boot:
        return True
    if not _pid_alive(holder.pid):
        return True
    if holder.process_start is not None:
        now_start = process_start(holder.pid)
        if now_start is not None and now_start != holder.process_start:
            return True  # the pid was reused by another process
    return False


def process_start(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); None without /proc."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        return int(data[data.rfind(b")") + 2:].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes()
        return state[state.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create(path: Path, holder: LockHolder) -> bool:
    """Make `path` hold `holder`, atomically, unless it exists. False when it exists."""
    try:
        return _link_into_place(path, holder)
    except OSError as exc:
        raise LockBusy(f"cannot write the release lock {path}: {exc.strerror or exc}", path, None) from None


def _link_into_place(path: Path, holder: LockHolder) -> bool:
    tmp = path.with_name(f".{path.name}.{holder.pid}.{holder.token}.tmp")
    data = holder.to_json().encode()
    try:  # exclusive and never through a link, like every file the release creates
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
        # A file system without hard links: O_EXCL creation, the content written right after.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _takeover_guard(path: Path) -> Iterator[None]:
    """Serialise takeovers of one stale lock on this host, so that two releases that both found
    it stale cannot both remove and replace it (the second would remove the first's new lock)."""
    guard = path.with_name(f".{path.name}.takeover")
    try:
        fd = os.open(guard, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)  # a planted link is refused (ELOOP)
    except OSError as exc:
        why = "it is a symbolic link, which is never followed" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise LockBusy(f"cannot take over the stale release lock {path}: {guard}: {why}; remove it and start again",
                       path, None) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _readable(iso: str) -> str:
    try:
        return dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso
