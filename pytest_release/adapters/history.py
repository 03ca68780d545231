"""Earlier releases, as their reports on disk tell them.

The release dir is the audit trail: `release_<version>_<env>_<YYYY-MM-DD-HHmm>[-N].md`, each with
a `# Release <version> to <env>` heading, one `## Phase N: Title` section per phase it reached
and, once finished, a `## Verdict` section. Phase 1 reads it to find the version serving now
(the last Released one), when the last release happened (performance evidence must be newer),
and whether the previous release was cut off (kill -9, a power cut) and in which phase."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_STAMP = re.compile(r"_(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(?:-(\d+))?\.md$")
_HEADING = re.compile(r"^# Release (\S+) to (\S+)\s*$", re.M)
_VERDICT = re.compile(r"^## Verdict\s*\n+\*\*([A-Za-z-]+)\*\*", re.M)
_PHASE = re.compile(r"^## Phase (\d+): (.+?)\s*$", re.M)


@dataclass(frozen=True)
class PastRelease:
    path: Path
    version: str
    env: str
    verdict: str | None  # None: unfinished (in progress, or cut short by kill -9)
    started: dt.datetime  # from the file name, to the minute (UTC)
    phases: tuple[tuple[int, str], ...] = ()  # (number, title) of each phase section, in order

    @property
    def last_phase(self) -> tuple[int, str] | None:
        """The furthest phase the report reached: for an unfinished one, where it was cut off."""
        return max(self.phases) if self.phases else None

    @property
    def released(self) -> bool:
        return self.verdict in ("Released", "Released-with-override")


def past_releases(release_dir: Path, env: str, *, exclude: Path | None = None) -> Iterator[PastRelease]:
    """This environment's release reports, newest first, each read only when it is reached;
    `exclude` is the report being written."""
    named = []
    for path in Path(release_dir).glob(f"release_*_{env}_*.md"):
        match = _STAMP.search(path.name)
        if not match or (exclude is not None and path.resolve() == Path(exclude).resolve()):
            continue
        y, mo, d, h, mi, attempt = match.groups()
        started = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), tzinfo=dt.timezone.utc)
        named.append((started, int(attempt or 1), path))
    for started, _, path in sorted(named, reverse=True):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        heading = _HEADING.search(text)
        if not heading or heading.group(2) != env:
            continue  # another environment whose name ends like this one
        verdict = _VERDICT.search(text)
        phases = tuple((int(number), title) for number, title in _PHASE.findall(text))
        yield PastRelease(path, heading.group(1), env, verdict.group(1) if verdict else None, started, phases)


def last_released(release_dir: Path, env: str, *, exclude: Path | None = None) -> PastRelease | None:
    return next((r for r in past_releases(release_dir, env, exclude=exclude) if r.released), None)


def interrupted_release(release_dir: Path, env: str, *, exclude: Path | None = None) -> PastRelease | None:
    """The newest release of `env` that was cut off (its report has no verdict), unless a
    release that finished after it ended somewhere known (Released, Rolled-Back,
    Rollback-Failed: the gate reads those itself). Aborted releases touched nothing, so they
    are looked past: a release refused because an orphaned deploy still ran does not hide the
    release that left the orphan behind."""
    for past in past_releases(release_dir, env, exclude=exclude):
        if past.verdict is None:
            return past
        if past.verdict != "Aborted":
            return None
    return None


_ANY_STAMP = re.compile(r"^release_.+_(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(?:-\d+)?\.md$")
_SECTION = re.compile(r"^## (.+)\n\n_Started (.+?) · finished (.+?) · \*\*(.+?)\*\*_", re.M)
_STARTED_ROW = re.compile(r"^\| Started \| (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC \|", re.M)
_FINISHED = re.compile(r"^Exit status \d+\. Finished (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC\.", re.M)


@dataclass(frozen=True)
class ReportSection:
    title: str
    started: dt.datetime | None
    finished: dt.datetime | None
    status: str


@dataclass(frozen=True)
class ReportTimeline:
    """What a release report (of any environment) tells about its release's times, for readers
    of the history that have no release record (releases made before records existed)."""

    path: Path
    version: str
    env: str
    verdict: str | None
    started: dt.datetime
    finished: dt.datetime | None
    sections: tuple[ReportSection, ...]

    def section(self, title: str) -> ReportSection | None:
        return next((s for s in self.sections if s.title == title), None)


def _report_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.strip().removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None  # "—": not started or not finished


def report_paths(release_dir: Path) -> list[tuple[dt.datetime, Path]]:
    """Every release report's path under `release_dir` with its file-name stamp, oldest first."""
    found = []
    for path in Path(release_dir).glob("release_*.md"):
        match = _ANY_STAMP.match(path.name)
        if match:
            y, mo, d, h, mi = (int(g) for g in match.groups())
            found.append((dt.datetime(y, mo, d, h, mi, tzinfo=dt.timezone.utc), path.name, path))
    return [(stamp, path) for stamp, _, path in sorted(found)]


def report_timeline(path: Path, stamp: dt.datetime) -> ReportTimeline | None:
    """One report's timeline; None for a file that cannot be read or is not a release report."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    heading = _HEADING.search(text)
    if not heading:
        return None
    verdict = _VERDICT.search(text)
    started = _STARTED_ROW.search(text)
    finished = _FINISHED.search(text)
    sections = tuple(
        ReportSection(m.group(1).strip(), _report_time(m.group(2)), _report_time(m.group(3)), m.group(4))
        for m in _SECTION.finditer(text)
    )
    return ReportTimeline(
        path=path, version=heading.group(1), env=heading.group(2), verdict=verdict.group(1) if verdict else None,
        started=(_report_time(started.group(1)) if started else None) or stamp,
        finished=_report_time(finished.group(1)) if finished else None, sections=sections,
    )


def report_timelines(release_dir: Path) -> Iterator[ReportTimeline]:
    """Every release report under `release_dir`, oldest first; a file that is not one is skipped."""
    for stamp, path in report_paths(release_dir):
        timeline = report_timeline(path, stamp)
        if timeline is not None:
            yield timeline
