"""The manual strategy: a person deploys by hand, the release records and verifies.

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
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_release.core.prose import prose_lines
from pytest_release.core.release import Phase
from pytest_release.report.document import timestamp

if TYPE_CHECKING:
    from pytest_release.context import ReleaseContext

OPTION = "--release-manual-result"
ANSWERS = ("done", "failed")

__all__ = ["ANSWERS", "ManualAnswer", "OPTION", "checklist_from_procedures", "parse_answer", "run_manual_steps"]


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


def resolve_checklist(ctx: "ReleaseContext") -> tuple[list[str], str]:
    """The steps and where they came from; pytest.fail (before anything is touched) when neither
    source has any."""
    env = ctx.env
    if env.manual.checklist:
        return list(env.manual.checklist), f"`environments.{env.name}.manual.checklist` in {Path(ctx.config.path).name}"
    doc = ctx.config.deployment_procedures
    if doc is not None and doc.is_file():
        steps = checklist_from_procedures(doc.read_text(encoding="utf-8", errors="replace"), env.name)
        if steps:
            return steps, f"the list under the {env.name} heading of `{doc}`"
        where = f"{doc} has no list under a heading naming {env.name}"
    else:
        where = f"{doc} does not exist"
    pytest.fail(
        f"the manual strategy needs the operator's checklist: set environments.{env.name}.manual.checklist "
        f"in {ctx.config.path} or list the steps under a heading for {env.name} in the deployment "
        f"procedures ({where})"
    )


# --- phase 3 with the manual strategy -----------------------------------------------------
def run_manual_steps(ctx: "ReleaseContext") -> ManualAnswer:
    """Show the checklist, get the operator's answer, record it verbatim; fail the check on
    `failed` (a rollback trigger) and when `done` cannot be confirmed against the serving version."""
    steps, source = resolve_checklist(ctx)
    section = ctx.section(Phase.EXECUTE)
    version, env = ctx.invocation.version, ctx.env.name
    numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))
    section.text(f"Manual strategy: deploy.sh is not run. The operator deploys {version} to {env} by these steps (from {source}):")
    section.text(numbered)
    ctx.flush()
    ctx.say(f"manual deploy of {version} to {env}: the operator's steps:\n" + "\n".join(f"  {i}. {s}" for i, s in enumerate(steps, 1)))

    given = ctx.pytest_config.getoption("release_manual_result", None)
    if given is not None:
        answer, by = parse_answer(given), OPTION
        if answer is None:  # validated in plugin.py already; kept for direct callers
            pytest.fail(f"{OPTION}={given!r}: expected done or failed")
    elif ctx.asker.interactive():
        _touch(ctx, "the operator is carrying out the manual steps")
        answer, by = _ask(ctx), "a person at the terminal"
        if answer is None:
            pytest.fail("manual deploy failure: no answer from the operator (end of input); the steps may be half done")
    else:
        pytest.fail(
            f"the manual strategy needs the operator's answer and nobody can be asked here: pass {OPTION}=done "
            f"once the steps are carried out, or {OPTION}=failed"
        )
    assert answer is not None
    _touch(ctx, f"the operator reports: {answer.result}")
    section.code(lambda: answer.text.splitlines() or [""], title=f"Operator's report, verbatim (by {by}, {timestamp(ctx.clock.now())})")
    ctx.flush()
    ctx.say(f"manual deploy reported {answer.result} by {by}")
    if answer.failed:
        pytest.fail(f"manual deploy failure, reported by {by}: {answer.text}")
    _confirm_version(ctx)
    return answer


def _touch(ctx: "ReleaseContext", detail: str) -> None:
    first = ctx.state.live_touched_at is None
    ctx.state.touch_live_system(ctx.clock.now())
    if first:
        ctx.pytest_config.hook.pytest_release_notify(release=ctx, event="started", detail=detail)


def _ask(ctx: "ReleaseContext") -> ManualAnswer | None:
    while True:
        text = ctx.asker.text(
            "Carry out the steps above, then type 'done' or 'failed' (anything after it is recorded, "
            "e.g. 'failed: step 3 timed out'):"
        )
        if text is None:
            return None
        answer = parse_answer(text)
        if answer is not None:
            return answer
        ctx.say(f"{text!r} is neither 'done' nor 'failed'")


def _confirm_version(ctx: "ReleaseContext") -> None:
    """`done` is the operator's word; where the environment reports its version, check it."""
    url = ctx.env.current_version_url
    section = ctx.section(Phase.EXECUTE)
    if not url:
        section.text("The serving version could not be confirmed (no `current_version.url` for this environment).")
        ctx.flush()
        return
    import requests

    wanted = ctx.invocation.version
    try:
        response = requests.get(url, timeout=ctx.env.smoke.request_timeout)
        response.raise_for_status()
        body = response.json()
        serving = body.get(ctx.env.current_version_field) if isinstance(body, dict) else None
    except (requests.RequestException, ValueError) as exc:
        pytest.fail(f"manual deploy failure: the operator reported done, but the serving version could not be read from {url}: {exc}")
    if serving != wanted:
        pytest.fail(f"manual deploy failure: the operator reported done, but {url} reports {serving!r}, not {wanted}")
    section.text(f"Confirmed: {url} reports {wanted}.")
    ctx.flush()
