"""Acceptance criteria: the Markdown convention and the gate's findings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_release.adapters.acceptance import (
    AcceptanceError,
    Criterion,
    CriterionFinding,
    evaluate_criteria,
    read_criteria,
)
from pytest_release.adapters.junit import TestReport, TestResult, read_junit

DOCS = Path(__file__).resolve().parents[1] / "docs" / "acceptance-criteria.md"

CRITERIA_MD = """\
# Acceptance criteria

Some prose. The table below is what the release gate reads.

| Owner | Tests | ID | Critical | STATUS | Acceptance Criterion | Notes |
|:------|-------|----|:--------:|-------:|----------------------|-------|
| ana | tests/test_api.py::test_create, `com.acme.ApiTest.create` | AC-1 | **yes** | met | A customer can create an order | |
| bo | tests/test_api.py::TestOrders::test_cancel[eu-2,us-1]; TestX | `AC-2` | no | Met | Orders can be cancelled \\| refunded | |
| cy | - | AC-3 | | unmet | Prices follow the locale | later |

## Non-functional

| id | criterion | status | critical path |
|----|-----------|--------|---------------|
| NFR-1 | p99 latency under 300 ms | met | Yes |

```markdown
| ID | Status |
|----|--------|
| EXAMPLE-1 | nonsense |
```

| Metric | Threshold |
|--------|-----------|
| errors | 1% |
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "_docs" / "00_problem" / "acceptance_criteria.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_tables_are_read_in_any_column_order_and_case(tmp_path):
    criteria = read_criteria(write(tmp_path, CRITERIA_MD))

    assert criteria == [
        Criterion(
            id="AC-1",
            text="A customer can create an order",
            met=True,
            critical=True,
            tests=("tests/test_api.py::test_create", "com.acme.ApiTest.create"),
            line=7,
        ),
        Criterion(
            id="AC-2",
            text="Orders can be cancelled | refunded",
            met=True,
            critical=False,
            tests=("tests/test_api.py::TestOrders::test_cancel[eu-2,us-1]", "TestX"),
            line=8,
        ),
        Criterion(id="AC-3", text="Prices follow the locale", met=False, critical=False, tests=(), line=9),
        Criterion(id="NFR-1", text="p99 latency under 300 ms", met=True, critical=True, tests=(), line=15),
    ]


def test_the_documented_example_parses(tmp_path):
    """docs/acceptance-criteria.md shows the convention; its example must stay valid."""
    example = re.search(r"```markdown\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)

    criteria = read_criteria(write(tmp_path, example))

    assert [c.id for c in criteria] == ["AC-1", "AC-2", "AC-3", "AC-4"]
    assert criteria[1].tests == ("tests/test_api.py::TestOrders::test_cancel[eu-2]",)
    assert [c.met for c in criteria] == [True, True, True, False]


@pytest.mark.parametrize(
    "row, expected",
    [
        ("|  | text | met | yes | t |", "a criterion row has no ID"),
        ("| AC-9 | text | done | yes | t |", "criterion AC-9: unknown status 'done' (expected 'met' or 'unmet')"),
        ("| AC-9 | text | met | maybe | t |", "criterion AC-9: unknown Critical value 'maybe' (expected 'yes' or 'no')"),
        ("| AC-1 | again | met | no | t |", "duplicate criterion id 'AC-1' (first defined on line 3)"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, expected):
    text = "| ID | Criterion | Status | Critical | Tests |\n|---|---|---|---|---|\n| AC-1 | ok | met | no | t |\n" + row + "\n"
    path = write(tmp_path, text)

    with pytest.raises(AcceptanceError) as caught:
        read_criteria(path)

    assert str(caught.value) == f"{path}:4: {expected}"


def test_duplicate_ids_across_tables_are_refused(tmp_path):
    text = (
        "| ID | Status |\n|--|--|\n| AC-1 | met |\n\ntext\n\n"
        "| id | status |\n|--|--|\n| ac-1 | unmet |\n"
    )
    path = write(tmp_path, text)

    with pytest.raises(AcceptanceError, match=rf"^{re.escape(str(path))}:9: duplicate criterion id 'ac-1' \(first defined on line 3\)"):
        read_criteria(path)


def test_a_document_without_a_criteria_table_is_refused(tmp_path):
    path = write(tmp_path, "# Criteria\n\n- the app works\n\n| Metric | Value |\n|--|--|\n| a | b |\n")

    with pytest.raises(AcceptanceError, match="no acceptance-criteria table found"):
        read_criteria(path)


def test_an_empty_row_is_ignored(tmp_path):
    path = write(tmp_path, "| ID | Status |\n|--|--|\n|  |  |\n| AC-1 | met |\n")
    assert [c.id for c in read_criteria(path)] == ["AC-1"]


def test_missing_file_is_an_acceptance_error(tmp_path):
    with pytest.raises(AcceptanceError, match="cannot read"):
        read_criteria(tmp_path / "nope.md")


# --- evaluation ----------------------------------------------------------------------------


def criterion(id="AC-1", met=True, critical=True, tests=("t_pass",)):
    return Criterion(id=id, text=f"{id} text", met=met, critical=critical, tests=tuple(tests), line=3)


REPORT = TestReport(
    path=Path("report.xml"),
    results=(
        TestResult("tests.test_api", "t_pass", "passed"),
        TestResult("tests.test_api", "t_fail", "failed", "assert 1 == 2"),
        TestResult("tests.test_api", "t_error", "error", "fixture 'db' not found"),
        TestResult("tests.test_api", "t_skip", "skipped", "needs staging"),
        TestResult("tests.test_other", "t_pass", "failed", "other module"),
        TestResult("tests.test_api", "t_bare_fail", "failed"),
    ),
    counts={},
    timestamp=None,
)


def problems(findings):
    return [(f.criterion.id, f.problem, f.blocking) for f in findings]


def test_a_met_criterion_with_a_passing_test_has_no_finding():
    c = criterion(tests=["tests/test_api.py::t_pass"])
    assert evaluate_criteria([c], REPORT) == []


def test_marked_unmet():
    c = criterion(met=False, tests=["tests.test_api.t_pass"])
    assert evaluate_criteria([c], REPORT) == [CriterionFinding(c, "marked unmet", blocking=True)]


def test_no_test_listed():
    c = criterion(tests=())
    assert problems(evaluate_criteria([c], REPORT)) == [("AC-1", "no test listed", True)]


def test_unmet_and_untested_gives_both_findings():
    c = criterion(met=False, critical=False, tests=())
    assert problems(evaluate_criteria([c], REPORT)) == [
        ("AC-1", "marked unmet", True),
        ("AC-1", "no test listed", True),
    ]


def test_no_report_at_all():
    c = criterion(tests=["tests.test_api.t_pass"])
    assert problems(evaluate_criteria([c], None)) == [
        ("AC-1", "no functional test report found to check its tests", True)
    ]


@pytest.mark.parametrize(
    "test_id, problem",
    [
        ("tests/test_api.py::t_missing", "test tests/test_api.py::t_missing not found in the latest report (closest ids present: tests.test_api.t_skip, tests.test_api.t_pass, tests.test_api.t_fail)"),
        ("tests.test_api.t_fail", "test tests.test_api.t_fail failed: assert 1 == 2"),
        ("tests.test_api::t_error", "test tests.test_api::t_error errored: fixture 'db' not found"),
        ("t_skip", "test t_skip skipped: needs staging"),
        ("t_bare_fail", "test t_bare_fail failed"),
    ],
)
@pytest.mark.parametrize("critical", [True, False])
def test_a_criterion_whose_only_test_did_not_pass_blocks(test_id, problem, critical):
    c = criterion(critical=critical, tests=[test_id])

    findings = evaluate_criteria([c], REPORT)

    assert findings == [CriterionFinding(c, problem, blocking=True, test=test_id)]


@pytest.mark.parametrize("bad", ["t_fail", "t_error", "t_skip", "t_missing"])
def test_a_failing_test_behind_a_critical_criterion_blocks_even_if_another_passed(bad):
    c = criterion(critical=True, tests=["tests.test_api.t_pass", f"tests.test_api.{bad}"])

    (finding,) = evaluate_criteria([c], REPORT)

    assert finding.blocking
    assert finding.test == f"tests.test_api.{bad}"


@pytest.mark.parametrize("bad", ["t_fail", "t_error", "t_skip", "t_missing"])
def test_a_failing_test_behind_a_non_critical_criterion_is_an_open_risk(bad):
    c = criterion(critical=False, tests=["tests.test_api.t_pass", f"tests.test_api.{bad}"])

    (finding,) = evaluate_criteria([c], REPORT)

    assert not finding.blocking
    assert finding.problem.startswith(f"test tests.test_api.{bad} ")


def test_an_ambiguous_id_is_as_good_as_its_worst_match():
    # "t_pass" passed in tests.test_api but failed in tests.test_other
    c = criterion(tests=["t_pass"])
    assert problems(evaluate_criteria([c], REPORT)) == [("AC-1", "test t_pass failed: other module", True)]


def test_end_to_end_with_a_real_junit_file(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_api" name="test_create"/>'
        '<testcase classname="tests.test_api.TestOrders" name="test_cancel[eu-2,us-1]">'
        '<skipped message="no staging"/></testcase>'
        "</testsuite></testsuites>"
    )
    criteria = read_criteria(write(tmp_path, CRITERIA_MD))

    findings = evaluate_criteria(criteria, read_junit(junit))

    assert problems(findings) == [
        ("AC-1", "test com.acme.ApiTest.create not found in the latest report", True),
        ("AC-2", "test tests/test_api.py::TestOrders::test_cancel[eu-2,us-1] skipped: no staging", True),
        ("AC-2", "test TestX not found in the latest report", True),
        ("AC-3", "marked unmet", True),
        ("AC-3", "no test listed", True),
        ("NFR-1", "no test listed", True),
    ]


# --- through the real gate (phase 1 of a demo release) -----------------------------------------
def _split_demo_report(demo_release, *, flaky: str, disabled: str) -> Path:
    """The demo's junit.xml as a CI run split into two jobs, with a coverage.xml written last."""
    metrics = demo_release.demo.path / "_docs" / "06_metrics"
    text = (metrics / "junit.xml").read_text()
    (metrics / "junit.xml").unlink()
    head, _, rest = text.partition("    <testcase")
    cases = ["    <testcase" + case for case in rest.split("    <testcase")]
    tail = cases[-1][cases[-1].index("</testsuite>"):]
    cases[-1] = cases[-1][: cases[-1].index("</testsuite>")]
    cases = [
        re.sub(rf'name="{disabled}" (time="[\d.]+") />', rf'name="{disabled}" \1 status="disabled" />',
               re.sub(rf'name="{flaky}" (time="[\d.]+") />',
                      rf'name="{flaky}" \1><failure message="scrape timed out">t</failure></testcase>\n'
                      rf'    <testcase classname="tests.test_demo_service" name="{flaky}" \1 />', case))
        for case in cases
    ]
    for job, part in (("job-1", cases[:3]), ("job-2", cases[3:])):
        (metrics / job).mkdir()
        (metrics / job / "junit.xml").write_text(head + "".join(part) + tail)
    coverage = metrics / "coverage.xml"
    coverage.write_text((DATA / "surefire" / "coverage.xml").read_text())
    return metrics


DATA = Path(__file__).resolve().parent / "data" / "junit"


def test_the_gate_reads_a_split_run_whole_and_a_disabled_test_blocks_its_criterion(demo_release):
    _split_demo_report(demo_release, flaky="test_metrics_are_exposed_and_do_not_count_scrapes", disabled="test_health_check_exit_codes")

    result = demo_release.run("v2")

    out = result.stdout.str()
    assert result.ret == 11, out
    assert ('AC-4: test tests/test_demo_service.py::test_health_check_exit_codes was not run (status="disabled"): '
            "a test that did not run is no evidence") in out
    report = demo_release.report()
    assert "and 1 more file(s) of the same run`: 6 tests, 5 passed, 0 failed, 0 errored, 1 skipped or not run, 1 flaky (passed on a retry)" in report
    assert "_docs/06_metrics/coverage.xml is not a JUnit report (root element <coverage>): passed over" in report
    assert ("AC-5: test tests/test_demo_service.py::test_metrics_are_exposed_and_do_not_count_scrapes is flaky: "
            "it passed only after a failed attempt (2 attempts): scrape timed out") in report
    assert "Blocking issues: 1" in report  # the flaky pass and the note are open risks
    risks = report[report.index("Open risks:"):report.index("Blocking issues: 1")]
    assert "  - AC-5: test tests/test_demo_service.py::test_metrics_are_exposed_and_do_not_count_scrapes is flaky" in risks
    assert "  - _docs/06_metrics/coverage.xml is not a JUnit report" in risks
    assert demo_release.demo.version() == "v1"


def test_with_gate_flaky_block_a_flaky_pass_stops_the_release(demo_release):
    _split_demo_report(demo_release, flaky="test_items_api_contract", disabled="none")
    demo_release.edit_config(r"^gate:\n", "gate:\n  flaky: block\n")

    result = demo_release.run("v2")

    out = result.stdout.str()
    assert result.ret == 11, out
    assert "AC-3: test tests/test_demo_service.py::test_items_api_contract is flaky" in out
    assert demo_release.demo.version() == "v1"
