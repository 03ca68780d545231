"""Earlier releases, as their reports on disk tell them.

The release dir is the audit trail: `release_<version>_<env>_<YYYY-MM-DD-HHmm>[-N].md`, each with
a `# Release <version> to <env>` heading and, once finished, a `## Verdict` section. Phase 1
reads it to find the version serving now (the last Released one) and when the last release
happened (performance evidence must be newer)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_STAMP = re.compile(r"_(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(?:-(\d+))?\.md$")
_HEADING = re.compile(r"^# Release (\S+) to (\S+)\s*$", re.M)
_VERDICT = re.compile(r"^## Verdict\s*\n+\*\*([A-Za-z-]+)\*\*", re.M)


@dataclass(frozen=True)
class PastRelease:
    path: Path
    version: str
    env: str
    verdict: str | None  # None: unfinished (in progress, or cut short by kill -9)
    started: dt.datetime  # from the file name, to the minute (UTC)

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
        yield PastRelease(path, heading.group(1), env, verdict.group(1) if verdict else None, started)


def last_released(release_dir: Path, env: str, *, exclude: Path | None = None) -> PastRelease | None:
    return next((r for r in past_releases(release_dir, env, exclude=exclude) if r.released), None)
