"""Leftover entries: work the release could not finish and a person must pick up.

The runbook's rule: when something outside the release fails (the tracker refuses a move, smoke
tests are missing for a production target), the release stops and leaves a short Markdown note
under `_docs/_process_leftovers/` saying what failed and what to do. The note outlives the
terminal and the CI log; the next person finds it in the repository."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Callable

from pytest_release.report.document import claim_new_file, write_atomically

LEFTOVERS_DIR = Path("_docs") / "_process_leftovers"


def _slug(topic: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")
    return slug[:60].rstrip("-") or "leftover"


def write_leftover(
    root: Path,
    topic: str,
    text: str,
    *,
    now: dt.datetime | None = None,
    redact: Callable[[str], str] | None = None,
) -> Path:
    """Write `<root>/_docs/_process_leftovers/<UTC stamp>_<topic slug>.md`; returns its path.

    `root` is the project root (the directory of release.yaml). A file is never overwritten: a
    second leftover on the same topic in the same second gets `-2`, `-3`... `redact` is applied
    to the whole note (pass the release's redactor so no secret lands in the repository)."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    folder = Path(root) / LEFTOVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    body = (
        f"# Leftover: {topic.strip()}\n\n"
        f"_Written by pytest-release at {moment.strftime('%Y-%m-%d %H:%M:%S UTC')}._\n\n"
        f"{text.strip()}\n"
    )
    if redact is not None:
        body = redact(body)
    path, _ = claim_new_file(folder, f"{moment.strftime('%Y-%m-%d-%H%M%S')}_{_slug(topic)}")
    write_atomically(path, body)  # never through a link swapped in for the claimed name
    return path
