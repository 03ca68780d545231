"""The release report: a Markdown file that grows phase by phase.

JUnit XML exists only once the session ends; this file must tell the next operator what
happened even after `kill -9`. So it is re-rendered from the whole model after every change that
matters and swapped into place atomically: a reader sees the previous version or the next, never
half of one. Everything rendered passes through the redactor last."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import jinja2

from pytest_release.core.release import Phase

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pytest_release.report", "templates"),
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def file_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d-%H%M")


def claim_new_file(directory: Path, stem: str, taken: Callable[[str], bool] = lambda suffix: False) -> tuple[Path, str]:
    """Create `<stem>.md`, else `<stem>-2.md`, ... exclusively: reports, retrospectives and
    leftovers are never overwritten, so a retry in the same minute is visible beside the first.

    Returns the created (empty) file and the suffix used ("" or "-N"), so companion files can
    share it; `taken(suffix)` can reject a suffix whose companions already exist."""
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        if taken(suffix):
            continue
        path = directory / f"{stem}{suffix}.md"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path, suffix
    raise RuntimeError(f"{directory}: no free file name for {stem}")


def claim_report_paths(release_dir: Path, version: str, env: str, moment: dt.datetime) -> tuple[Path, Path]:
    """The release report (created now) and its rollback report's name (created if one runs)."""
    stamp = file_stamp(moment)
    path, suffix = claim_new_file(release_dir, f"release_{version}_{env}_{stamp}")
    return path, release_dir / f"rollback_{version}_{env}_{stamp}{suffix}.md"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old file or the new one, never half.

    The temporary file comes from mkstemp in the same directory (an unpredictable name, created
    exclusively), so a symbolic link planted under a predictable name such as `.report.md.tmp`
    is never written through; `os.replace` swaps the name itself and never follows a link at
    `path` either (a link there is replaced by the new file, its target untouched)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_new_or_own(path: Path, *, append: bool = True) -> int:
    """Open `path` for writing without ever following a link: created exclusively
    (O_CREAT|O_EXCL|O_NOFOLLOW), or, when it already exists, reopened only if it is a plain file
    with a single name (O_NOFOLLOW refuses a symbolic link; a second hard link is refused too).
    Returns the file descriptor; raises OSError naming the path and why otherwise."""
    flags = os.O_WRONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if append else 0)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    try:  # O_NONBLOCK: a planted FIFO must not hang the release before fstat can refuse it
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"{path} is a symbolic link: refusing to write through it") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise OSError(exc.errno, f"{path} is not a regular file: refusing to write to it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"a file with {info.st_nlink} hard links"
        raise OSError(errno.EPERM, f"{path} is {what}: refusing to write to it")
    os.set_blocking(fd, True)
    return fd


def md_cell(value: Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


_TEMPLATES.filters["cell"] = md_cell


@dataclass
class Block:
    kind: str  # "text" | "list" | "table" | "code"
    text: str = ""
    items: Sequence[str] = ()
    headers: Sequence[str] = ()
    rows: list[Sequence[Any]] = field(default_factory=list)
    lines: Callable[[], Sequence[str]] | None = None
    title: str = ""

    def code_lines(self) -> list[str]:
        lines = list(self.lines()) if self.lines else []
        # A line of backticks inside the output must not close the fence early.
        return [re.sub(r"^(\s*)```", r"\1'''", line) for line in lines]


@dataclass
class Section:
    title: str
    status: str = "running"
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    blocks: list[Block] = field(default_factory=list)

    def text(self, text: str) -> None:
        self.blocks.append(Block("text", text=text))

    def bullets(self, items: Iterable[str], title: str = "") -> None:
        self.blocks.append(Block("list", items=list(items), title=title))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]] = (), title: str = "") -> Block:
        block = Block("table", headers=list(headers), rows=[list(r) for r in rows], title=title)
        self.blocks.append(block)
        return block

    def code(self, lines: Callable[[], Sequence[str]], title: str = "") -> Block:
        block = Block("code", lines=lines, title=title)
        self.blocks.append(block)
        return block


class MarkdownReport:
    """One Markdown file rendered from a template and a model that the release fills in."""

    def __init__(
        self,
        path: Path,
        template: str,
        redact: Callable[[str], str],
        monotonic: Callable[[], float] = time.monotonic,
        on_write_error: Callable[[Path, OSError], None] | None = None,
    ) -> None:
        self.path = path
        # Once the live system has changed, a report that cannot be written (a full disk, a
        # read-only mount) must not stop the rollback: the owner is told and the release goes on.
        self.on_write_error = on_write_error
        self.template = template
        self.redact = redact
        self.header: dict[str, Any] = {}
        self.sections: dict[str, Section] = {}
        self.extra: dict[str, Any] = {}
        self.extra_sections: list[tuple[str, str]] = []  # (title, markdown) from user hooks
        self._monotonic = monotonic
        self._last_flush = float("-inf")
        self.lock = threading.RLock()  # held while the model changes from a streaming thread

    def section(self, key: str, title: str | None = None) -> Section:
        if key not in self.sections:
            self.sections[key] = Section(title or key)
        return self.sections[key]

    def phase(self, phase: Phase) -> Section:
        return self.section(phase.value, f"Phase {phase.number}: {phase.title}")

    def render(self) -> str:
        text = _TEMPLATES.get_template(self.template).render(
            header=self.header,
            sections=list(self.sections.values()),
            extra=self.extra,
            extra_sections=self.extra_sections,
            timestamp=timestamp,
        )
        return self.redact(text)

    def flush(self, throttle: float = 0.0) -> None:
        """Write the report now, or at most once per `throttle` seconds while output streams."""
        with self.lock:
            now = self._monotonic()
            if throttle and now - self._last_flush < throttle:
                return
            self._last_flush = now
            try:
                write_atomically(self.path, self.render())
            except OSError as exc:
                if self.on_write_error is None:
                    raise
                self.on_write_error(self.path, exc)


class Autoflush:
    """Writes a report every `interval` seconds while a step streams into it, so the last line
    a hung script printed is on disk even though no next line comes to trigger a write."""

    def __init__(self, report: MarkdownReport, interval: float = 0.5) -> None:
        self._report = report
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="report-autoflush", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._report.flush()

    def __enter__(self) -> "Autoflush":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._report.flush()
