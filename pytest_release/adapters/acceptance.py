"""Acceptance criteria written as Markdown tables, and what the latest test report says of them.

The convention (docs/acceptance-criteria.md) is a table with at least an `ID` and a `Status`
column; `Criterion`, `Critical` and `Tests` are read when present, in any order and case, and
other columns are ignored. A document may hold several such tables; tables without both `ID`
and `Status` columns are someone else's and are skipped, as is anything inside a code fence.

`read_criteria` only parses; `evaluate_criteria` is a pure function of the criteria and a
`TestReport`, so the gate's rules are tested without files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_release.adapters.junit import TestReport, TestResult
from pytest_release.core.gate import FLAKY_POLICIES

__all__ = [
    "AcceptanceError",
    "Criterion",
    "CriterionFinding",
    "FLAKY_POLICIES",
    "evaluate_criteria",
    "read_criteria",
]

_COLUMN_ALIASES = {
    "id": "id",
    "ac": "id",
    "ac id": "id",
    "criterion": "text",
    "acceptance criterion": "text",
    "description": "text",
    "status": "status",
    "critical": "critical",
    "critical path": "critical",
    "critical-path": "critical",
    "tests": "tests",
    "test": "tests",
    "test ids": "tests",
}
_STATUS = {"met": True, "unmet": False}
_YES_NO = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False, "": False}
_NO_TESTS = {"", "-", "—", "–", "none", "n/a"}
_DELIMITER_CELL = re.compile(r":?-{1,}:?\Z")
_FENCE = re.compile(r"\s{0,3}(`{3,}|~{3,})")


class AcceptanceError(Exception):
    """The acceptance-criteria document breaks the convention; the message names file:line."""


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    met: bool
    critical: bool
    tests: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class CriterionFinding:
    """Something the gate must surface about one criterion.

    `blocking` findings stop the release unless overridden with a recorded reason; the others
    are shown as open risks.
    """

    criterion: Criterion
    problem: str
    blocking: bool = True
    test: str | None = None


def read_criteria(path: Path) -> list[Criterion]:
    """Every criterion in the document, in order. Raises AcceptanceError on a malformed row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AcceptanceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise AcceptanceError(f"{path}: not UTF-8 text ({exc.reason})") from exc

    criteria: list[Criterion] = []
    seen: dict[str, int] = {}
    tables = 0
    for _header_line, columns, rows in _criteria_tables(text.splitlines()):
        tables += 1
        for line, cells in rows:
            criterion = _criterion(path, line, columns, cells)
            if criterion is None:
                continue
            key = criterion.id.casefold()
            if key in seen:
                raise AcceptanceError(
                    f"{path}:{line}: duplicate criterion id {criterion.id!r} "
                    f"(first defined on line {seen[key]})"
                )
            seen[key] = line
            criteria.append(criterion)
    if not tables:
        raise AcceptanceError(
            f"{path}: no acceptance-criteria table found: expected a Markdown table with at least "
            "'ID' and 'Status' columns (see docs/acceptance-criteria.md)"
        )
    return criteria


def evaluate_criteria(
    criteria: Iterable[Criterion], report: TestReport | None, *, flaky: str = "risk"
) -> list[CriterionFinding]:
    """What stands between these criteria and a release, given the latest test run.

    A criterion blocks when it is marked unmet, lists no test, or has no listed test that
    passed. A listed test that failed, errored, did not run (skipped, disabled, notrun) or is
    missing from the report blocks when the criterion is critical; otherwise it is a
    non-blocking finding. A test that passed only on a retry (flaky) counts as passed and is a
    non-blocking finding with `flaky="risk"` (the default); with `flaky="block"` it blocks.
    """
    if flaky not in FLAKY_POLICIES:
        raise ValueError(f"flaky must be one of {', '.join(FLAKY_POLICIES)}, got {flaky!r}")
    findings: list[CriterionFinding] = []
    for criterion in criteria:
        if not criterion.met:
            findings.append(CriterionFinding(criterion, "marked unmet"))
        if not criterion.tests:
            findings.append(CriterionFinding(criterion, "no test listed"))
            continue
        if report is None:
            findings.append(
                CriterionFinding(criterion, "no functional test report found to check its tests")
            )
            continue
        judged = [(test, *_judge(test, report)) for test in criterion.tests]
        counted = [kind == "passed" or (kind == "flaky" and flaky == "risk") for _, kind, _ in judged]
        any_passed = any(counted)
        for (test, kind, problem), passed in zip(judged, counted):
            if problem is None:
                continue
            if kind == "flaky":
                blocking = flaky == "block"
            else:
                blocking = criterion.critical or not any_passed
            findings.append(CriterionFinding(criterion, problem, blocking=blocking, test=test))
    return findings


def _judge(test: str, report: TestReport) -> tuple[str, str | None]:
    """(kind, problem): kind is "passed", "flaky", "missing" or the worst outcome."""
    results = report.find(test)
    if not results:
        close = report.closest(test)
        hint = f" (closest ids present: {', '.join(close)})" if close else ""
        return "missing", f"test {test} not found in the latest report{hint}"
    worst = _worst(results)
    if worst.outcome == "passed" and not worst.flaky:
        return "passed", None
    if worst.outcome == "passed":
        earlier = f": {worst.message}" if worst.message else ""
        tries = f" ({worst.attempts} attempts)" if worst.attempts > 1 else ""
        return "flaky", f"test {test} is flaky: it passed only after a failed attempt{tries}{earlier}"
    if worst.suite_level:
        what = f"the suite {worst.classname} {'failed' if worst.outcome == 'failed' else 'errored'}"
        return worst.outcome, f"test {test}: {what}" + (f": {worst.message}" if worst.message else "")
    if worst.not_run:
        return "skipped", f"test {test} was not run ({worst.not_run}): a test that did not run is no evidence"
    verb = {"failed": "failed", "error": "errored", "skipped": "skipped"}[worst.outcome]
    return worst.outcome, f"test {test} {verb}: {worst.message}" if worst.message else f"test {test} {verb}"


def _worst(results: Sequence[TestResult]) -> TestResult:
    """An id that matches several results is only as good as the worst of them."""
    rank = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
    return min(results, key=lambda result: (rank.get(result.outcome, 0), not result.flaky))


def _criterion(path: Path, line: int, columns: dict[str, int], cells: list[str]) -> Criterion | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    if not any(cells):
        return None
    ident = _plain(cell("id"))
    if not ident:
        raise AcceptanceError(f"{path}:{line}: a criterion row has no ID")
    status = _plain(cell("status")).casefold()
    if status not in _STATUS:
        raise AcceptanceError(
            f"{path}:{line}: criterion {ident}: unknown status {cell('status')!r} "
            "(expected 'met' or 'unmet')"
        )
    critical = _plain(cell("critical")).casefold()
    if critical not in _YES_NO:
        raise AcceptanceError(
            f"{path}:{line}: criterion {ident}: unknown Critical value {cell('critical')!r} "
            "(expected 'yes' or 'no')"
        )
    return Criterion(
        id=ident,
        text=cell("text").strip(),
        met=_STATUS[status],
        critical=_YES_NO[critical],
        tests=_split_tests(cell("tests")),
        line=line,
    )


def _criteria_tables(
    lines: list[str],
) -> Iterator[tuple[int, dict[str, int], list[tuple[int, list[str]]]]]:
    """Yield (header line, column index by field, [(line, cells)]) for each criteria table."""
    index = 0
    fence: str | None = None
    while index < len(lines):
        line = lines[index]
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            index += 1
            continue
        if opened:
            fence = opened.group(1)
            index += 1
            continue
        if "|" in line and index + 1 < len(lines) and _is_delimiter_row(lines[index + 1]):
            header_line = index + 1
            header = [_plain(cell).casefold() for cell in _split_row(line)]
            columns: dict[str, int] = {}
            for position, name in enumerate(header):
                field = _COLUMN_ALIASES.get(re.sub(r"\s+", " ", name))
                if field and field not in columns:
                    columns[field] = position
            rows = []
            index += 2
            while index < len(lines) and "|" in lines[index] and lines[index].strip():
                rows.append((index + 1, _split_row(lines[index])))
                index += 1
            if "id" in columns and "status" in columns:
                yield header_line, columns, rows
            continue
        index += 1


def _is_delimiter_row(line: str) -> bool:
    if "-" not in line:
        return False
    cells = _split_row(line)
    return bool(cells) and all(_DELIMITER_CELL.match(cell.strip()) for cell in cells)


def _split_row(line: str) -> list[str]:
    """Cells of a table row; `\\|` is a literal pipe, and pipes inside `code` do not split."""
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    chars = iter(line.strip())
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append("|" if following == "|" else char + following)
        elif char == "`":
            in_code = not in_code
            current.append(char)
        elif char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    if line.strip().startswith("|"):
        cells = cells[1:]
    if line.strip().endswith("|") and cells:
        cells = cells[:-1]
    return cells


def _plain(cell: str) -> str:
    """A cell without Markdown emphasis or code marks: `**met**` and `` `AC-1` `` read plainly."""
    return cell.strip().strip("*_`").strip()


def _split_tests(cell: str) -> tuple[str, ...]:
    """Comma-, semicolon- or <br>-separated test ids; commas inside [...] (pytest params) stay."""
    cell = re.sub(r"<br\s*/?>", ",", cell, flags=re.IGNORECASE)
    tests: list[str] = []
    depth = 0
    current: list[str] = []
    for char in cell:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        if char in ",;" and depth == 0:
            tests.append("".join(current))
            current = []
        else:
            current.append(char)
    tests.append("".join(current))
    cleaned = (test.strip().strip("`").strip() for test in tests)
    return tuple(dict.fromkeys(test for test in cleaned if test.casefold() not in _NO_TESTS))
