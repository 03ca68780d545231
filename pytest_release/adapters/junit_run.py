"""Which JUnit files make up the latest test run.

A run is the newest JUnit file matched by `gate.test_reports` and every other matched JUnit
file written within `RUN_GAP` of the one written just after it (a chain back in time, by
modification time). That reads whole:

- a Maven or Gradle multi-module build: one folder of `TEST-*.xml` per module, each file
  written as its class finishes, so consecutive files are seconds or minutes apart;
- a CI run split into jobs (a matrix, shards): the release job downloads every job's report,
  so they all arrive together.

An earlier run left beside them (yesterday's files) is more than `RUN_GAP` older and is not
read. Files that are XML but not JUnit (coverage.xml, failsafe-summary.xml, a checkstyle
report) are passed over with a note instead of being taken for a broken report; a file whose
root element cannot even be read (empty, truncated, a DOCTYPE) stays in the run, so reading it
fails loudly rather than an older run quietly taking its place.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

__all__ = ["RUN_GAP", "TestRun", "latest_report", "latest_run", "root_element"]

RUN_GAP = 30 * 60  # seconds between two files of the same run, at most
_JUNIT_ROOTS = frozenset({"testsuites", "testsuite"})
_PEEK = 64 * 1024


@dataclass(frozen=True)
class TestRun:
    """The files of the latest run, newest first, and the matched files that were passed over."""

    __test__ = False

    files: tuple[Path, ...]
    passed_over: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files)


def _matches(pattern_or_paths: str | Sequence[str], root: Path) -> list[tuple[int, str]]:
    """(mtime in ns, path) of every regular file matching any of the globs, newest first."""
    patterns = [pattern_or_paths] if isinstance(pattern_or_paths, str) else list(pattern_or_paths)
    found: dict[str, int] = {}
    for pattern in patterns:
        for match in glob.glob(os.path.join(glob.escape(os.fspath(root)), pattern), recursive=True):
            try:
                stat = os.stat(match)
            except OSError:
                continue
            if os.path.isfile(match):
                found[os.path.normpath(match)] = stat.st_mtime_ns
    return sorted(((mtime, path) for path, mtime in found.items()), reverse=True)


def latest_report(pattern_or_paths: str | Sequence[str], root: Path) -> Path | None:
    """The most recently modified file matching any of the globs (relative to `root`)."""
    matches = _matches(pattern_or_paths, root)
    return Path(matches[0][1]) if matches else None


def latest_run(pattern_or_paths: str | Sequence[str], root: Path, gap: float = RUN_GAP) -> TestRun:
    """The JUnit files of the newest run among the files matching the globs (see the module)."""
    files: list[Path] = []
    notes: list[str] = []
    previous: int | None = None
    for mtime, name in _matches(pattern_or_paths, root):
        if previous is not None and previous - mtime > gap * 1e9:
            break
        path = Path(name)
        element = root_element(path)
        if element is not None and element not in _JUNIT_ROOTS:
            notes.append(f"{_shown(path, root)} is not a JUnit report (root element <{element}>): passed over")
            continue
        files.append(path)
        previous = mtime
    return TestRun(tuple(files), tuple(notes))


class _Found(Exception):
    """The root element was seen: stop reading."""


def root_element(path: Path) -> str | None:
    """The name of the file's root element, or None when it cannot be told (not XML, empty,
    truncated before the root, a DOCTYPE): such a file is left for the reader to refuse."""
    found: list[str] = []

    def start(tag: str, _attrs: object) -> None:
        found.append(tag)
        raise _Found

    def refuse(*_: object) -> None:
        raise expat.ExpatError("DOCTYPE")

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.StartElementHandler = start
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(_PEEK):
                parser.Parse(chunk, False)
    except _Found:
        return found[0]
    except (OSError, expat.ExpatError):
        return None
    return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
