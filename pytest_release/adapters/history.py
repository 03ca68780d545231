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
