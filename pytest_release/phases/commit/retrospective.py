"""Retrospective entries: the runbook's hand-over from a release to the team's retrospective.

A Released release closes a cycle (`cycle`); a Rolled-Back, Rollback-Failed or
Released-with-override one is an incident (`incident`): the reason chain is what the retrospective
starts from. Each entry is its own Markdown file under `<release_dir>/retrospectives/`, named like
the release report and never overwritten."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from pytest_release.report.document import (
    claim_new_file,
    file_stamp,
    timestamp,
    write_atomically,
)

if TYPE_CHECKING:
    from pytest_release.context import ReleaseContext

KINDS = {"cycle": "Cycle-end retrospective", "incident": "Incident retrospective"}

_QUESTIONS = {
    "incident": (
        "What happened, in order, and when was it first visible (see the reason chain and the watch-window table)?",
        "Why did the checks before the deploy not catch it?",
        "If a gate was overridden or the watch window skipped: what made the override necessary, and how is it avoided next time?",
        "Actions (each with an owner and a date):",
    ),
    "cycle": (
        "What went well in this release cycle?",
        "What slowed the release down or needed a person?",
        "Which thresholds, smoke tests or gates should change?",
        "Actions (each with an owner and a date):",
    ),
}


def retrospective_dir(ctx: "ReleaseContext") -> Path:
    return ctx.config.release_dir / "retrospectives"


def claim_path(directory: Path, kind: str, version: str, env: str, stamp: str) -> Path:
    """Create `<kind>_<version>_<env>_<stamp>[-N].md` exclusively."""
    return claim_new_file(directory, f"{kind}_{version}_{env}_{stamp}")[0]


def render(ctx: "ReleaseContext", kind: str, reasons: Sequence[str], path: Path) -> str:
    state = ctx.state
    verdict = state.verdict().value
    rows = [
        ("Verdict", verdict),
        ("Environment", f"{ctx.env.name} ({ctx.env.kind})"),
        ("Version", ctx.invocation.version),
        ("Rollback target", ctx.choices.rollback_target or "unknown"),
        ("Strategy", ctx.choices.strategy),
        ("Release started", timestamp(ctx.started_at)),
        ("Written", timestamp(ctx.clock.now())),
        ("Release report", _link(ctx.paths.report, path)),
    ]
    if ctx.paths.rollback_report.exists():
        rows.append(("Rollback report", _link(ctx.paths.rollback_report, path)))
    lines = [f"# {KINDS[kind]}: {ctx.invocation.version} to {ctx.env.name}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {str(value).replace('|', '/')} |" for key, value in rows]
    lines += ["", "## Reason chain", ""]
    lines += [f"{i}. {reason}" for i, reason in enumerate(reasons or ["(none recorded)"], 1)]
    if state.overrides:
        lines += ["", "## Overrides", "", *(f"- {o}" for o in state.overrides)]
    lines += ["", "## For the retrospective", "", *(f"- {q}" for q in _QUESTIONS[kind]), ""]
    return "\n".join(lines)


def _link(target: Path, entry: Path) -> str:
    relative = os.path.relpath(target, entry.parent)
    return f"[{target.name}]({relative})"


def write_retrospective(ctx: "ReleaseContext", kind: str, reasons: Sequence[str]) -> Path:
    """Write a retrospective entry of `kind` ("cycle" or "incident") with the reason chain and
    return its path. Redacted like the report; raises OSError when it cannot be written."""
    if kind not in KINDS:
        raise ValueError(f"unknown retrospective kind {kind!r} (known: {', '.join(KINDS)})")
    directory = retrospective_dir(ctx)
    path = claim_path(directory, kind, ctx.invocation.version, ctx.env.name, file_stamp(ctx.started_at))
    write_atomically(path, ctx.redactor.redact(render(ctx, kind, list(reasons), path)))
    ctx.say(f"{KINDS[kind].lower()} written: {path}")
    return path
