"""Read the latest functional test report (JUnit XML) so the gate can tell which tests passed.

JUnit XML has no single schema: pytest, Maven Surefire, jest-junit and go-junit-report each
write their own flavour. They agree on `<testcase classname name>` with an optional
`<failure>`, `<error>` or `<skipped>` child, which is all the gate needs.

Report files come from CI artifacts and are not trusted: any DOCTYPE is refused before an
entity can be declared (no billion laughs, no external entities), and the file is parsed as
a stream with expat, keeping only one small record per test case, so a report of hundreds of
megabytes of captured output costs little memory.
"""

from __future__ import annotations

import glob
import os
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.parsers import expat

__all__ = ["JUnitError", "TestReport", "TestResult", "latest_report", "latest_run", "merge_reports", "read_junit"]

OUTCOMES = ("passed", "failed", "error", "skipped")

_CHUNK = 1 << 20
_MESSAGE_LIMIT = 2000
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")

# Children that record an earlier attempt (Surefire reruns, pytest-rerunfailures style
# reporters). They never turn a final pass into a failure.
_RERUN_ELEMENTS = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})
_OUTCOME_ELEMENTS = {"failure": "failed", "error": "error", "skipped": "skipped"}
_OUTCOME_PRECEDENCE = {"failed": 3, "error": 2, "skipped": 1}


class JUnitError(Exception):
    """A JUnit report that cannot be read: malformed, hostile or not JUnit at all."""


@dataclass(frozen=True, slots=True)
class TestResult:
    """One `<testcase>` and what became of it."""

    __test__ = False  # not a pytest test class, despite the name

    classname: str
    name: str
    outcome: str  # "passed" | "failed" | "error" | "skipped"
    message: str | None = None
    file: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        """Every spelling under which an acceptance criterion may name this test."""
        ids: list[str] = []
        if self.classname:
            ids += [f"{self.classname}::{self.name}", f"{self.classname}.{self.name}"]
        ids.append(self.name)
        ids += self._nodeids()
        return tuple(dict.fromkeys(ids))

    def _nodeids(self) -> list[str]:
        """pytest node ids (`tests/test_api.py::TestApi::test_create`).

        pytest's default junit_family (xunit2) drops the `file` attribute, so without it the
        dotted classname is split at every point into module path and class names.
        """
        if not self.classname or not _DOTTED_NAME.match(self.classname):
            return []
        parts = self.classname.split(".")
        if self.file and self.file.endswith(".py"):
            module = self.file[: -len(".py")].replace("\\", "/").replace("/", ".")
            if self.classname == module:
                return [f"{self.file}::{self.name}"]
            if self.classname.startswith(module + "."):
                classes = self.classname[len(module) + 1 :].split(".")
                return ["::".join([self.file, *classes, self.name])]
        return [
            "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], self.name])
            for cut in range(len(parts), 0, -1)
        ]


@dataclass(frozen=True)
class TestReport:
    """A parsed JUnit file: its results in document order and the count of each outcome."""

    __test__ = False

    path: Path
    results: tuple[TestResult, ...]
    counts: Mapping[str, int]
    timestamp: datetime | None

    def find(self, test_id: str) -> tuple[TestResult, ...]:
        """The results a criterion's test id refers to (several when the id is ambiguous)."""
        return tuple(r for r in self.results if test_id in r.ids)


def latest_report(pattern_or_paths: str | Sequence[str], root: Path) -> Path | None:
    """The most recently modified file matching any of the globs (relative to `root`)."""
    patterns = [pattern_or_paths] if isinstance(pattern_or_paths, str) else list(pattern_or_paths)
    newest: tuple[int, str] | None = None
    for pattern in patterns:
        for match in glob.glob(os.path.join(glob.escape(os.fspath(root)), pattern), recursive=True):
            try:
                stat = os.stat(match)
            except OSError:
                continue
            if not os.path.isfile(match):
                continue
            key = (stat.st_mtime_ns, match)
            if newest is None or key > newest:
                newest = key
    return Path(newest[1]) if newest else None


def latest_run(pattern_or_paths: str | Sequence[str], root: Path) -> list[Path]:
    """The files of the latest test run: the newest match (see `latest_report`).

    Maven Surefire and Failsafe write one `TEST-<class>.xml` per test class, so when the newest
    match is such a file, its run is every `TEST-*.xml` in the same directory."""
    newest = latest_report(pattern_or_paths, root)
    if newest is None:
        return []
    if newest.name.startswith("TEST-") and newest.suffix == ".xml":
        return sorted(p for p in newest.parent.glob("TEST-*.xml") if p.is_file())
    return [newest]


def merge_reports(reports: Sequence[TestReport]) -> TestReport:
    """One report of several files of the same run; `path` is the first file's."""
    if len(reports) == 1:
        return reports[0]
    results = tuple(r for report in reports for r in report.results)
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] += 1
    counts["total"] = len(results)
    stamps = [r.timestamp for r in reports if r.timestamp is not None]
    aware = [s for s in stamps if s.tzinfo is not None] or stamps
    return TestReport(
        path=reports[0].path,
        results=results,
        counts=types.MappingProxyType(counts),
        timestamp=min(aware) if aware and all((s.tzinfo is None) == (aware[0].tzinfo is None) for s in aware) else None,
    )


def read_junit(path: Path) -> TestReport:
    """Parse one JUnit XML file. Raises JUnitError naming the file (and line) on any problem."""
    path = Path(path)
    reader = _JUnitReader(path)
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                reader.feed(chunk)
            reader.feed(b"", final=True)
    except OSError as exc:
        raise JUnitError(f"{path}: cannot read the report: {exc.strerror or exc}") from exc
    return reader.report()


class _Refused(Exception):
    """Raised from inside expat handlers; turned into a JUnitError with the line number."""


class _JUnitReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartDoctypeDeclHandler = self._refuse_doctype
        self.parser.EntityDeclHandler = self._refuse_entity
        self.parser.UnparsedEntityDeclHandler = self._refuse_entity
        self.parser.ExternalEntityRefHandler = self._refuse_entity
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

        self.depth = 0
        self.root: str | None = None
        self.timestamp: datetime | None = None
        self.results: list[TestResult] = []
        self.interned: dict[str, str] = {}
        # state of the <testcase> being read
        self.case: dict[str, str] | None = None
        self.case_depth = 0
        self.outcome = "passed"
        self.message: str | None = None
        self.collecting: list[str] | None = None
        self.collected = 0

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self.parser.Parse(data, final)
        except _Refused as exc:
            raise JUnitError(f"{self.path}:{self.parser.CurrentLineNumber}: {exc}") from None
        except expat.ExpatError as exc:
            reason = expat.ErrorString(exc.code) if exc.code else str(exc)
            raise JUnitError(
                f"{self.path}:{exc.lineno}: malformed XML ({reason}, column {exc.offset})"
            ) from None

    def report(self) -> TestReport:
        if self.root is None:
            raise JUnitError(f"{self.path}: empty report")
        counts = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.outcome] += 1
        counts["total"] = len(self.results)
        return TestReport(
            path=self.path,
            results=tuple(self.results),
            counts=types.MappingProxyType(counts),
            timestamp=self.timestamp,
        )

    # expat handlers

    def _refuse_doctype(self, *_: object) -> None:
        raise _Refused("refused: DOCTYPE declarations are not allowed in a JUnit report")

    def _refuse_entity(self, *_: object) -> None:
        raise _Refused("refused: entity declarations are not allowed in a JUnit report")

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            if tag not in ("testsuites", "testsuite"):
                raise _Refused(f"not a JUnit report: the root element is <{tag}>")
            self.root = tag
        if tag in ("testsuite", "testsuites") and self.case is None:
            self._note_timestamp(attrs.get("timestamp"))
        elif tag == "testcase" and self.case is None:
            self.case = attrs
            self.case_depth = self.depth
            self.outcome, self.message = "passed", None
        elif self.case is not None and self.depth == self.case_depth + 1:
            outcome = _OUTCOME_ELEMENTS.get(tag)
            if outcome and _OUTCOME_PRECEDENCE[outcome] > _OUTCOME_PRECEDENCE.get(self.outcome, 0):
                self.outcome = outcome
                self.message = _clip(attrs.get("message"))
                if not self.message:
                    self.collecting, self.collected = [], 0

    def _text(self, data: str) -> None:
        if self.collecting is not None and self.collected < _MESSAGE_LIMIT:
            self.collecting.append(data[: _MESSAGE_LIMIT - self.collected])
            self.collected += len(self.collecting[-1])

    def _end(self, tag: str) -> None:
        if self.case is not None:
            if self.depth == self.case_depth + 1 and self.collecting is not None:
                self.message = _clip("".join(self.collecting))
                self.collecting = None
            elif self.depth == self.case_depth:
                self._finish_case()
        self.depth -= 1

    def _finish_case(self) -> None:
        attrs, self.case = self.case or {}, None
        if "name" not in attrs:
            raise _Refused("a <testcase> has no name attribute")
        file = attrs.get("file")
        self.results.append(
            TestResult(
                classname=self._intern(attrs.get("classname", "")),
                name=attrs["name"],
                outcome=self.outcome,
                message=self.message,
                file=self._intern(file) if file else None,
            )
        )

    def _intern(self, value: str) -> str:
        return self.interned.setdefault(value, value)

    def _note_timestamp(self, value: str | None) -> None:
        if not value:
            return
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return  # a timestamp is informative; a report with an odd one is still a report
        if self.timestamp is None:
            self.timestamp = stamp
        elif (stamp.tzinfo is None) == (self.timestamp.tzinfo is None):
            self.timestamp = min(self.timestamp, stamp)


def _clip(text: str | None) -> str | None:
    """A one-paragraph message: failure texts can be whole tracebacks or megabytes of output."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if len(text) > 500:
        text = text[:500].rstrip() + "…"
    return text
