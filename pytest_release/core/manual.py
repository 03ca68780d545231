"""The manual strategy's rules: the operator's answer and the checklist, read from text.

Some environments cannot be deployed by a script (one-off VMs, regulated hosts). Phase 3 then
does not run deploy.sh: it writes the operator's checklist into the report, waits for the
operator's word (`done` or `failed`, typed at the terminal or given as
`--release-manual-result` in CI) and records it verbatim. `done` goes on to smoke and watch;
`failed` is a rollback trigger, because the operator has touched the live system.

The checklist comes from `environments.<env>.manual.checklist` in release.yaml or, when that is
absent, from the list under the environment's heading in the deployment procedures document."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_release.core.prose import prose_lines

OPTION = "--release-manual-result"
ANSWERS = ("done", "failed")



@dataclass(frozen=True)
class ManualAnswer:
    result: str  # "done" or "failed"
    text: str  # what the operator wrote, verbatim

    @property
    def failed(self) -> bool:
        return self.result == "failed"


_ANSWER = re.compile(r"\s*(done|failed)\b(.*)", re.IGNORECASE | re.DOTALL)


def parse_answer(text: str) -> ManualAnswer | None:
    """`done` or `failed`, optionally followed by what happened (`failed: step 3 timed out`).
    None for anything else."""
    match = _ANSWER.fullmatch(text)  # \b: "doneish" or "failedover" is not an answer
    if match is None:
        return None
    return ManualAnswer(match.group(1).lower(), text.strip())


# --- the checklist ---------------------------------------------------------------------------
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*\S)\s*$")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")


def _names(heading: str, env: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(env)}(?![A-Za-z0-9_-])", heading, re.IGNORECASE) is not None


def checklist_from_procedures(markdown: str, env: str) -> list[str]:
    """The steps listed under the first heading that names `env` (`## Staging`, `### local:
    manual steps`), down to the next heading of the same or a higher level.

    Top-level bullet or numbered items are the steps; nested items and indented continuation
    lines belong to the step above them. Checkboxes (`- [ ] ...`) are dropped from the text."""
    steps: list[str] = []
    level: int | None = None
    base_indent: int | None = None
    for line in prose_lines(markdown):
        heading = _HEADING.match(line)
        if heading:
            depth = len(heading.group(1))
            if level is not None and depth <= level:
                if steps:
                    break
                level = None
            if level is None and _names(heading.group(2), env):
                level, base_indent = depth, None
            continue
        if level is None or not line.strip():
            continue
        item = _ITEM.match(line)
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if item:
            text = _CHECKBOX.sub("", item.group(2)).strip()
            if base_indent is None:
                base_indent = indent
            if indent <= base_indent:
                steps.append(text)
            elif steps:
                steps[-1] += f"; {text}"
        elif steps and indent > (base_indent or 0):
            steps[-1] += f" {line.strip()}"
    return [s for s in steps if s]
