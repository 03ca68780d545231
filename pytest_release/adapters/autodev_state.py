"""Project mode: the release's outcome and the next step in `<root>/_docs/_autodev_state.md`.

Where a project keeps that file (autodev's state), the release records, between two marker
lines, what it released, the verdict, the report and what comes next: after Released the
retrospective; after Rolled-Back, Rollback-Failed or Aborted the user owns the next step and
nothing is chained. Everything outside the markers is left as it is, the file is replaced
atomically, and a project without the file is left alone (the file is never created)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = Path("_docs") / "_autodev_state.md"
BEGIN = "<!-- pytest-release:begin (rewritten by every release; edit outside these markers) -->"
END = "<!-- pytest-release:end -->"
RELEASED = ("Released", "Released-with-override")


@dataclass(frozen=True)
class Outcome:
    kind: str  # "Release" or "Standalone rollback"
    env: str
    version: str
    verdict: str
    reason: str
    finished: str  # a timestamp
    report: str  # relative to the project root where possible
    retrospective: str = ""  # the retrospective written, if any


def next_step(outcome: Outcome) -> tuple[str, str]:
    """(next step, chained) for the verdict."""
    if outcome.verdict in RELEASED:
        where = f" ({outcome.retrospective})" if outcome.retrospective else ""
        return f"retrospective: review the cycle retrospective{where}, then the next feature cycle", "yes: the retrospective follows this release"
    return (
        f"the user decides: {outcome.verdict} ({outcome.reason}); fix the cause, then release again",
        "no: nothing is chained after a release that did not ship",
    )


def render(outcome: Outcome) -> str:
    step, chained = next_step(outcome)
    rows = [
        ("Last release", f"{outcome.kind} of {outcome.version} to {outcome.env}"),
        ("Verdict", outcome.verdict),
        ("Finished", outcome.finished),
        ("Report", f"`{outcome.report}`"),
        ("Next step", step),
        ("Chained", chained),
    ]
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    table = "\n".join(f"| {name} | {cell(value)} |" for name, value in rows)
    return f"{BEGIN}\n## Release\n\n| | |\n|---|---|\n{table}\n{END}\n"


def update(root: Path, outcome: Outcome) -> Path | None:
    """Record `outcome` in the project's state file; None (and nothing written) when there is none."""
    path = root / STATE_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    block = render(outcome)
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END):].lstrip("\n")
    else:
        text = text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text else "") + block
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".autodev_state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
