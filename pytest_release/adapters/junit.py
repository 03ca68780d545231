"""Read functional test reports (JUnit XML) so the gate can tell which tests passed.

JUnit XML has no single schema: pytest, Maven Surefire, Gradle, jest-junit, gotestsum,
GoogleTest, PHPUnit and Catch2 each write their own flavour. They agree on `<testcase classname
name>` with an optional `<failure>`, `<error>` or `<skipped>` child; the rest is read as each
tool writes it:

- a test that did not run is never a pass: a `<skipped>`, `<ignored>` or `<disabled>` child, or
  a `status`/`result` attribute such as GoogleTest's `status="notrun" result="suppressed"`,
  makes it skipped; a `status` the reader does not know is not taken for a pass either;
- an `<error>` or `<failure>` directly under `<testsuite>` (a class that failed to initialise)
  becomes a result of its own, named after the suite (`suite_level`);
- a `<testcase>` repeated in the same suite is a retry (gotestsum `--rerun-fails`, Gradle,
  jest): the last attempt decides, and a pass after failed attempts is `flaky`, as is a
  Surefire `<flakyFailure>`;
- a `<testcase>` without a name is left out with a warning; the rest of the file counts.

Report files come from CI artifacts and are not trusted: any DOCTYPE is refused before an
entity can be declared (no billion laughs, no external entities), and the file is parsed as
a stream with expat, keeping only one small record per test case, so a report of hundreds of
megabytes of captured output costs little memory. Which files make up the latest run is
`junit_run.py`; how a criterion's test id finds its results is `junit_ids.py`.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from xml.parsers import expat

from pytest_release.adapters import junit_ids
from pytest_release.adapters.junit_outcomes import attribute_outcome, is_class_failure
from pytest_release.adapters.junit_run import TestRun, latest_report, latest_run

__all__ = [
    "JUnitError",
    "TestReport",
    "TestResult",
    "TestRun",
    "latest_report",
    "latest_run",
    "merge_reports",
    "read_junit",
    "read_run",
]

OUTCOMES = ("passed", "failed", "error", "skipped")

_CHUNK = 1 << 20
_MESSAGE_LIMIT = 2000

# Children that record an earlier, failed attempt of a test (Surefire and Gradle reruns).
_RERUN_ELEMENTS = frozenset({"flakyFailure", "flakyError", "rerunFailure", "rerunError"})
_OUTCOME_ELEMENTS = {"failure": "failed", "error": "error", "skipped": "skipped", "ignored": "skipped", "disabled": "skipped"}
_OUTCOME_PRECEDENCE = {"failed": 3, "error": 2, "skipped": 1}
_SUITE_FAILURES = {"failure": "failed", "error": "error"}

class JUnitError(Exception):
    """A JUnit report that cannot be read: malformed, hostile or not JUnit at all."""


@dataclass(frozen=True, slots=True)
class TestResult:
    """One `<testcase>` (all its attempts), or a failure of a whole suite, and what became of it."""

    __test__ = False  # not a pytest test class, despite the name

    classname: str
    name: str
    outcome: str  # "passed" | "failed" | "error" | "skipped"
    message: str | None = None
    file: str | None = None  # the case's `file` attribute, else its suite's
    suite: str | None = None  # the innermost `<testsuite name>`
    klass: str | None = None  # PHPUnit's `class` attribute (`Acme\Tests\CartTest`)
    not_run: str | None = None  # why a case without a <skipped> child did not run (its attributes)
    attempts: int = 1
    flaky: bool = False  # passed on its last attempt after a failed one
    suite_level: bool = False  # an <error>/<failure> of the suite itself; classname is the suite
    source: str | None = None  # the report file it came from

    @property
    def ids(self) -> tuple[str, ...]:
        """Every spelling under which an acceptance criterion may name this test."""
        return junit_ids.spellings(self)

    @property
    def label(self) -> str:
        return junit_ids.preferred(self)


@dataclass(frozen=True)
class TestReport:
    """Parsed JUnit files of one run: results in document order and the count of each outcome."""

    __test__ = False

    path: Path
    results: tuple[TestResult, ...]
    counts: Mapping[str, int]
    timestamp: datetime | None
    files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()

    def find(self, test_id: str) -> tuple[TestResult, ...]:
        """The results a criterion's test id refers to (several when the id is ambiguous), with
        the failure of any suite they belong to."""
        return junit_ids.find(self._index, self.results, test_id)

    def closest(self, test_id: str, n: int = 3) -> list[str]:
        """Ids present in the report that look most like `test_id` (for "not found" findings)."""
        return junit_ids.closest(self._labels, test_id, n)

    @cached_property
    def _labels(self) -> list[str]:
        return list(dict.fromkeys(result.label for result in self.results))

    @cached_property
    def _index(self) -> dict[str, list[TestResult]]:
        return junit_ids.index(self.results)


def read_run(files: Sequence[Path]) -> TestReport:
    """Every file of one run, read and merged. Raises JUnitError on the first unreadable one."""
    return merge_reports([read_junit(path) for path in files])


def merge_reports(reports: Sequence[TestReport]) -> TestReport:
    """One report of several files of the same run; `path` is the first file's."""
    if len(reports) == 1:
        return reports[0]
    results = tuple(r for report in reports for r in report.results)
    stamps = [r.timestamp for r in reports if r.timestamp is not None]
    aware = [s for s in stamps if s.tzinfo is not None] or stamps
    return TestReport(
        path=reports[0].path,
        results=results,
        counts=_counts(results),
        timestamp=min(aware) if aware and all((s.tzinfo is None) == (aware[0].tzinfo is None) for s in aware) else None,
        files=tuple(f for report in reports for f in (report.files or (report.path,))),
        warnings=tuple(w for report in reports for w in report.warnings),
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


def _counts(results: Sequence[TestResult]) -> Mapping[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] += 1
    counts["total"] = len(results)
    counts["flaky"] = sum(r.flaky for r in results)
    return types.MappingProxyType(counts)


class _Refused(Exception):
    """Raised from inside expat handlers; turned into a JUnitError with the line number."""


class _JUnitReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = str(path)
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
        self.seen: dict[tuple[object, ...], int] = {}  # a case's identity -> its index in results
        self.interned: dict[str, str] = {}
        self.suites: list[tuple[int, str, str | None]] = []  # (depth, name, file) of open <testsuite>s
        self.nameless: list[int] = []  # lines of <testcase>s without a name
        # state of the <testcase> (or suite-level <error>/<failure>) being read
        self.case: dict[str, str] | None = None
        self.case_depth = 0
        self.case_line = 0
        self.outcome = "passed"
        self.message: str | None = None
        self.rerun: str | None = None  # message of an earlier failed attempt (<flakyFailure> etc.)
        self.reran = False
        self.suite_failure: str | None = None
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
        warnings = []
        if self.nameless:
            count = len(self.nameless)
            warnings.append(
                f"{self.path}:{self.nameless[0]}: {count} <testcase> element{'s' if count > 1 else ''} without a name "
                "left out (the rest of the file counts)"
            )
        return TestReport(
            path=self.path,
            results=tuple(self.results),
            counts=_counts(self.results),
            timestamp=self.timestamp,
            files=(self.path,),
            warnings=tuple(warnings),
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
        if self.case is not None:
            if self.depth == self.case_depth + 1:
                self._case_child(tag, attrs)
        elif self.suite_failure is not None:
            pass
        elif tag in ("testsuite", "testsuites"):
            self._note_timestamp(attrs.get("timestamp"))
            if tag == "testsuite":
                self.suites.append((self.depth, attrs.get("name", ""), attrs.get("file") or None))
        elif tag == "testcase":
            self.case = attrs
            self.case_depth = self.depth
            self.outcome, self.message, self.rerun, self.reran = "passed", None, None, False
            self.case_line = self.parser.CurrentLineNumber
        elif tag in _SUITE_FAILURES and self.suites and self.depth == self.suites[-1][0] + 1:
            self.suite_failure = tag
            self.outcome = _SUITE_FAILURES[tag]
            self._take_message(attrs)

    def _case_child(self, tag: str, attrs: dict[str, str]) -> None:
        outcome = _OUTCOME_ELEMENTS.get(tag)
        if outcome and _OUTCOME_PRECEDENCE[outcome] > _OUTCOME_PRECEDENCE.get(self.outcome, 0):
            self.outcome = outcome
            self._take_message(attrs)
        elif tag in _RERUN_ELEMENTS:
            self.reran = True
            self.rerun = self.rerun or _clip(attrs.get("message"))

    def _take_message(self, attrs: Mapping[str, str]) -> None:
        self.message = _clip(attrs.get("message"))
        self.collecting = None
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
        elif self.suite_failure is not None:
            if self.depth == self.suites[-1][0] + 1:
                self._finish_suite_failure()
        elif tag == "testsuite" and self.suites and self.suites[-1][0] == self.depth:
            self.suites.pop()
        self.depth -= 1

    def _finish_suite_failure(self) -> None:
        if self.collecting is not None:
            self.message = _clip("".join(self.collecting))
            self.collecting = None
        _, suite, file = self.suites[-1]
        self.suite_failure = None
        self._add_suite_failure(suite, self.outcome, file)

    def _add_suite_failure(self, suite: str, outcome: str, file: str | None) -> None:
        self.results.append(
            TestResult(
                classname=self._intern(suite), name="", outcome=outcome, message=self.message,
                file=self._intern(file) if file else None, suite=self._intern(suite), suite_level=True,
                source=self.source,
            )
        )

    def _finish_case(self) -> None:
        attrs, self.case = self.case or {}, None
        outcome, not_run = self.outcome, None
        if outcome == "passed":
            outcome, not_run = attribute_outcome(attrs)
        suite = self.suites[-1] if self.suites else None
        if outcome in ("failed", "error") and is_class_failure(attrs):
            owner = attrs.get("classname") or (suite[1] if suite else "")
            self._add_suite_failure(owner, outcome, attrs.get("file") or (suite[2] if suite else None))
            return
        if not attrs.get("name"):
            self.nameless.append(self.case_line)  # a warning, not a reason to refuse the file
            return
        file = attrs.get("file") or (suite[2] if suite else None)
        result = TestResult(
            classname=self._intern(attrs.get("classname", "")),
            name=attrs["name"],
            outcome=outcome,
            message=self.message if not not_run else None,
            file=self._intern(file) if file else None,
            suite=self._intern(suite[1]) if suite else None,
            klass=self._intern(attrs["class"]) if attrs.get("class") else None,
            not_run=not_run,
            attempts=1,
            flaky=outcome == "passed" and self.reran,
            source=self.source,
        )
        if result.flaky:
            result = replace(result, message=self.rerun)
        key = (suite[0] if suite else 0, result.suite, result.classname, result.name, result.file)
        earlier = self.seen.get(key)
        if earlier is None:
            self.seen[key] = len(self.results)
            self.results.append(result)
        else:
            self.results[earlier] = _retried(self.results[earlier], result)

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


def _retried(before: TestResult, after: TestResult) -> TestResult:
    """The same case written again in the same suite: another attempt. The last one decides."""
    failed_before = before.outcome in ("failed", "error") or before.flaky
    flaky = after.outcome == "passed" and (failed_before or after.flaky)
    message = after.message
    if flaky and not after.flaky:
        message = before.message
    return replace(after, attempts=before.attempts + after.attempts, flaky=flaky, message=message)


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
