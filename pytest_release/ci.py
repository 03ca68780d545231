"""What a release leaves for the CI server besides its exit status.

- JUnit XML (with `--junitxml`): pytest already writes one test case per phase check and per
  smoke case. This adds one test case per watch-window poll (`watch_poll[T+2m]`), and for a
  rollback one per smoke case and poll of its verification (`rollback_smoke[...]`,
  `rollback_watch_poll[...]`), the verdict as the case `release::verdict` (passed only when
  the release shipped; otherwise failed with the reason chain as its message), plus suite properties for the bookkeeping and the
  self-verification. The cases are handed to the junitxml plugin directly, never through
  `pytest_runtest_logreport`: the terminal's counts and the verdict stay those of the real checks.
  A poll case takes no time (the watch check that ran it carries the duration) and fails only
  where the window ended on a breach, with the trigger as its message.
- GitHub Actions: with `GITHUB_STEP_SUMMARY` set, the verdict in Markdown is appended to the
  job summary; with `GITHUB_OUTPUT` set, `verdict`, `exit_code`, `report` and `rollback_report`
  become step outputs."""

from __future__ import annotations

import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pytest
from _pytest.junitxml import xml_key

from pytest_release.core.release import Outcome, Phase, Verdict
from pytest_release.fixtures import PHASE_KEY

if TYPE_CHECKING:
    from pytest_release.context import ReleaseContext
    from pytest_release.report.document import Section


def publish(ctx: "ReleaseContext", verdict: Verdict, session: Any, environ: Mapping[str, str] | None = None) -> None:
    """Everything this module writes, at the end of the session; never raises."""
    environ = os.environ if environ is None else environ
    try:
        add_to_junit(ctx, verdict, session)
    except Exception as exc:  # the XML is pytest's; a failure here must not cost the verdict
        ctx.say(f"could not add the release's cases to the JUnit XML: {type(exc).__name__}: {exc}")
    write_github(ctx, verdict, environ)


# --- JUnit ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JUnitCase:
    nodeid: str
    failed: bool = False
    message: str = ""
    detail: str = ""


def poll_tables(section: "Section | None") -> list[tuple[str, list[str], list[list[Any]]]]:
    """The poll tables of a watch section (first column T+, a Status column), in order, with
    their titles: the watch window's "Polls", and a canary's "Canary step 1/4 (5%): polls"."""
    if section is None:
        return []
    tables = []
    for block in section.blocks:
        headers = [str(h) for h in block.headers]
        if block.kind == "table" and headers and headers[0] == "T+" and "Status" in headers:
            tables.append((str(block.title or ""), headers, [list(r) for r in block.rows]))
    return tables


def _plain(cell: Any) -> str:
    return re.sub(r"[*`]", "", str(cell)).strip()


def _case_prefix(title: str, default: str) -> str:
    name = re.sub(r":\s*polls$", "", title.strip(), flags=re.I)
    if not name or name.lower() == "polls":
        return default
    return re.sub(r"[^a-z0-9%]+", "_", name.lower()).strip("_") + "_poll"


def poll_cases(section: "Section | None", prefix: str, failure: str | None) -> list[JUnitCase]:
    """One case per poll row of every poll table. `failure` is the message of the check that
    failed in this section, if one did: polling stops at the poll that decided it, so the last
    row of the last table that has rows carries it."""
    module, _, default = prefix.rpartition("::")
    tables = [t for t in poll_tables(section) if t[2]]
    cases = []
    for number, (title, headers, rows) in enumerate(tables, 1):
        status_at = headers.index("Status")
        name = _case_prefix(title, default)
        for index, row in enumerate(rows):
            label = _plain(row[0])
            label = label if label.startswith("T+") else f"T+{label}"
            status = _plain(row[status_at]).lower()
            readings = "; ".join(f"{h}: {_plain(c)}" for h, c in zip(headers[1:], row[1:]) if h not in ("Status", "Time (UTC)"))
            last = number == len(tables) and index == len(rows) - 1
            nodeid = f"{module}::{name}[{label}]" if module else f"{name}[{label}]"
            if (failure and last) or status == "hard":
                message = f"{status} at {label}: {failure or 'hard breach'}"
                cases.append(JUnitCase(nodeid, True, message, f"{message}\n{readings}"))
            else:
                cases.append(JUnitCase(nodeid))
    return cases


def smoke_cases(section: "Section | None", prefix: str) -> list[JUnitCase]:
    """One case per row of a rollback's smoke table (Case, Request, Status, Result, Time)."""
    if section is None:
        return []
    for block in section.blocks:
        headers = [str(h) for h in block.headers]
        if block.kind == "table" and headers[:1] == ["Case"] and "Result" in headers:
            at = headers.index("Result")
            cases = []
            for row in block.rows:
                result = _plain(row[at])
                failed = not result.startswith("passed")
                message = f"rollback smoke test failure: {_plain(row[0])}: {result.removeprefix('FAILED: ')}" if failed else ""
                cases.append(JUnitCase(f"{prefix}[{_plain(row[0])}]", failed, message, message))
            return cases
    return []


def release_cases(ctx: "ReleaseContext", modules: Mapping[Phase, str]) -> list[JUnitCase]:
    """The synthetic cases of this release: watch polls, and the rollback's verification."""
    cases: list[JUnitCase] = []
    watch = ctx.report.sections.get(Phase.WATCH.value)
    if watch is not None and Phase.WATCH in modules:
        failure = next((c.message for c in reversed(ctx.state.checks) if c.phase is Phase.WATCH and c.outcome is Outcome.FAILED), None)
        cases += poll_cases(watch, f"{modules[Phase.WATCH]}::watch_poll", failure)
    report = ctx.rollback_report
    if report is not None and Phase.COMMIT in modules:
        module = modules[Phase.COMMIT]
        cases += smoke_cases(report.sections.get("smoke"), f"{module}::rollback_smoke")
        result = ctx.state.rollback_result
        watch = report.sections.get("watch")
        failure = result[1] if result and not result[0] and watch is not None and watch.status == "failed" else None
        cases += poll_cases(watch, f"{module}::rollback_watch_poll", failure)
    return cases


VERDICT_CASE = "release::verdict"  # classname "release", name "verdict"


def verdict_case(ctx: "ReleaseContext", verdict: Verdict) -> JUnitCase:
    """The verdict as a test case every JUnit consumer shows (suite properties are dropped by
    many): passed when the session's exit status is 0 (Released, Released-with-override, a
    verified standalone rollback), else failed with the reason chain as its message."""
    chain = list(ctx.report.extra.get("reason_chain") or ctx.state.reason_chain())
    if ctx.commit_exit_code(verdict) == 0:
        return JUnitCase(VERDICT_CASE)
    message = f"{verdict.value}: " + "; then: ".join(chain)
    detail = "\n".join(
        [f"{verdict.value} (exit status {ctx.commit_exit_code(verdict)}): {ctx.invocation.version} to {ctx.env.name}", "Reason chain:"]
        + [f"{i}. {reason}" for i, reason in enumerate(chain, 1)] + [f"Report: {ctx.paths.report}"]
    )
    return JUnitCase(VERDICT_CASE, True, message, detail)


class _Failure:
    """A longrepr for the junitxml plugin: one-line message, longer text."""

    def __init__(self, message: str, text: str) -> None:
        self.reprcrash = types.SimpleNamespace(message=message)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def toterminal(self, tw: Any) -> None:
        tw.line(self.text)


def write_junit_cases(xml: Any, cases: Sequence[JUnitCase], redact: Any = lambda s: s) -> None:
    """Hand `cases` to the junitxml plugin (`LogXML`) as call + teardown reports."""

    for case in cases:
        path, _, name = case.nodeid.partition("::")
        longrepr = _Failure(redact(case.message), redact(case.detail or case.message)) if case.failed else None
        call = pytest.TestReport(case.nodeid, (path, None, name), {}, "failed" if case.failed else "passed", longrepr, "call", duration=0.0)
        teardown = pytest.TestReport(case.nodeid, (path, None, name), {}, "passed", None, "teardown", duration=0.0)
        xml.pytest_runtest_logreport(call)
        xml.pytest_runtest_logreport(teardown)


def add_to_junit(ctx: "ReleaseContext", verdict: Verdict, session: Any) -> None:

    xml = ctx.pytest_config.stash.get(xml_key, None)
    if xml is None:
        return

    modules: dict[Phase, str] = {}
    for item in getattr(session, "items", ()):
        phase = item.stash.get(PHASE_KEY, None)
        if phase is None or "::" not in item.nodeid:
            continue
        module = item.nodeid.split("::", 1)[0]
        if phase not in modules or item.name in ("test_watch_window", "test_commit_or_rollback"):
            modules[phase] = module  # the window's and the rollback's own modules, when present
    write_junit_cases(xml, release_cases(ctx, modules) + [verdict_case(ctx, verdict)], ctx.redactor.redact)
    redact = ctx.redactor.redact
    checklist = ctx.report.extra.get("self_check") or []
    failed = [text for ok, text in checklist if not ok]
    xml.add_global_property("release.exit_status", str(ctx.commit_exit_code(verdict)))
    xml.add_global_property("release.incomplete", redact("; ".join(ctx.state.incomplete)))
    xml.add_global_property("release.self_check", "passed" if not failed else redact("FAILED: " + "; ".join(failed)))
    if ctx.rollback_report is not None:
        xml.add_global_property("release.rollback_report", str(ctx.paths.rollback_report))


def lift_case_properties(config: Any, report: Any, redact: Any = lambda s: s) -> None:
    """xunit2 (pytest's default JUnit family) has no test-case properties, and Jenkins' schema
    rejects them: in release mode a check's `record_property` values go on the suite instead
    (`release.*` names as they are, others prefixed with the check's name). Called for each
    teardown report before the junitxml plugin sees it."""

    xml = config.stash.get(xml_key, None)
    if xml is None or getattr(xml, "family", "xunit2") != "xunit2" or report.when != "teardown" or not report.user_properties:
        return
    case_name = report.nodeid.rsplit("::", 1)[-1]
    for name, value in report.user_properties:
        name = str(name)
        xml.add_global_property(name if name.startswith("release.") else f"{case_name}.{name}", redact(str(value)))
    report.user_properties = []


# --- GitHub Actions ------------------------------------------------------------------------------
def step_summary(ctx: "ReleaseContext", verdict: Verdict) -> str:
    """The job summary: the verdict, the reason chain, the phase table and the checklist."""
    extra = ctx.report.extra
    exit_code = ctx.commit_exit_code(verdict)
    if ctx.commit_standalone():
        title = f"Standalone rollback of {ctx.env.name} to {ctx.choices.rollback_target}: {verdict.value}"
    else:
        title = f"Release {ctx.invocation.version} to {ctx.env.name}: {verdict.value}"
    lines = [
        f"## {title}",
        "",
        "| | |",
        "|---|---|",
        f"| Verdict | **{verdict.value}** (exit status {exit_code}) |",
        f"| Environment | {ctx.env.name} ({ctx.env.kind}) |",
        f"| Version | {ctx.invocation.version} |",
        f"| Rollback target | {ctx.choices.rollback_target or 'unknown'} |",
        f"| Report | `{_relative(ctx.paths.report, ctx.config.root)}` |",
    ]
    if ctx.rollback_report is not None:
        lines.append(f"| Rollback report | `{_relative(ctx.paths.rollback_report, ctx.config.root)}` |")
    lines += ["", "**Reason chain**", ""]
    lines += [f"{i}. {reason}" for i, reason in enumerate(extra.get("reason_chain") or ctx.state.reason_chain(), 1)]
    summary = extra.get("summary") or []
    if summary:
        lines += ["", "| Phase | Status | Checks |", "|---|---|---|"]
        lines += [f"| {r['phase']} | {r['status']} | {r['checks']} |" for r in summary]
    checklist = extra.get("self_check") or []
    if checklist:
        lines += ["", "**Self-verification**", ""]
        lines += [f"- [{'x' if ok else ' '}] {text}" for ok, text in checklist]
    if ctx.state.incomplete:
        lines += ["", "**Incomplete:** " + "; ".join(ctx.state.incomplete)]
    return ctx.redactor.redact("\n".join(lines) + "\n\n")


def github_outputs(ctx: "ReleaseContext", verdict: Verdict) -> dict[str, str]:
    return {
        "verdict": verdict.value,
        "exit_code": str(ctx.commit_exit_code(verdict)),
        "report": str(ctx.paths.report),
        "rollback_report": str(ctx.paths.rollback_report) if ctx.rollback_report is not None else "",
    }


def write_github(ctx: "ReleaseContext", verdict: Verdict, environ: Mapping[str, str]) -> None:
    for variable, text in (
        ("GITHUB_STEP_SUMMARY", lambda: step_summary(ctx, verdict)),
        ("GITHUB_OUTPUT", lambda: "".join(f"{k}={_one_line(v)}\n" for k, v in github_outputs(ctx, verdict).items())),
    ):
        target = environ.get(variable)
        if not target:
            continue
        try:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(text())
        except OSError as exc:
            ctx.say(f"could not append to ${variable} ({target}): {exc.strerror or exc}")


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
