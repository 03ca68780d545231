"""The processes of a session that outlived the one that started it.

The deploy script runs in a session of its own (see adapters/deploy.py). When the release that
started it is killed, the script and whatever it started in that session run on; this module
finds them in /proc so the lock can refuse to let the next release deploy over them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Orphan", "session_members"]


@dataclass(frozen=True)
class Orphan:
    """A live process of a dead holder's deploy session."""

    pid: int
    command: str
    age_seconds: float | None

    def describe(self) -> str:
        age = "for an unknown time" if self.age_seconds is None else f"for {_duration(self.age_seconds)}"
        return f"pid {self.pid} `{self.command}` (running {age})"


def session_members(sid: int, not_before: int | None, fallback_command: str = "?", *, group: int | None = None) -> list[Orphan]:
    """The live processes of session `sid` or process group `group` (default: `sid`), oldest
    first. A process that started before `not_before` (clock ticks since boot: when the session
    leader started) is not of that session, whose id was reused, and is left out. Without /proc, signal 0 to the
    process group is all there is to ask."""
    group = sid if group is None else group
    if not os.path.isdir("/proc"):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [Orphan(sid, fallback_command, None)]
    found: list[tuple[int, Orphan]] = []
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = _uptime()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat_fields(int(entry))
        if stat is None:
            continue
        state, pgid, session, started = stat
        if (session != sid and pgid != group) or state in ("Z", "X"):
            continue
        if not_before is not None and started < not_before:
            continue
        age = None if uptime is None else max(0.0, uptime - started / ticks)
        found.append((started, Orphan(int(entry), _cmdline(int(entry)), age)))
    return [orphan for _, orphan in sorted(found, key=lambda pair: pair[0])]


def _stat_fields(pid: int) -> tuple[str, int, int, int] | None:
    """(state, pgid, session id, start ticks) of `pid` from /proc/PID/stat; None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        fields = data[data.rfind(b")") + 2:].split()
        return fields[0].decode(), int(fields[2]), int(fields[3]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    return (text[:200] + " …") if len(text) > 200 else (text or "?")


def _uptime() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
