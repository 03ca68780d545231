"""The gate's evidence from reports written by real tools: pytest (xunit1 and xunit2) and
gotestsum run here; Surefire, Gradle, Ant, jest-junit, mocha-junit-reporter, GoogleTest, PHPUnit
and Catch2 as they write them (tests/data/junit/, see its README)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_release.adapters.acceptance import Criterion, evaluate_criteria
from pytest_release.adapters.junit import TestReport, read_junit, read_run

DATA = Path(__file__).resolve().parent / "data" / "junit"

E2E = '''
import pytest


def test_login():
    pass


def test_logout():
    assert False, "session survived logout"


@pytest.mark.skip(reason="needs staging")
def test_sso():
    pass


class TestCart:
    @pytest.mark.parametrize("region", ["eu-2", "us.1"])
    def test_totals(self, region):
        pass


@pytest.fixture
def db():
    raise ConnectionRefusedError("[Errno 111] Connection refused")


def test_migrate(db):
    pass
'''

GO_TEST = """
package cart

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAddItem(t *testing.T) {}

func TestRemoveItem(t *testing.T) { t.Errorf("got 2 items, want 1") }

func TestDiscount(t *testing.T) {
	t.Run("percent", func(t *testing.T) {})
	t.Run("coupon", func(t *testing.T) { t.Skip("coupon service not configured") })
}

// Fails on its first run and passes when gotestsum runs it again: a flaky test.
func TestCheckoutFlaky(t *testing.T) {
	marker := filepath.Join(os.Getenv("FLAKY_DIR"), "ran-once")
	if _, err := os.Stat(marker); err != nil {
		os.WriteFile(marker, []byte("x"), 0o644)
		t.Fatal("connection reset by peer")
	}
}
"""


@pytest.fixture(scope="module")
def pytest_reports(tmp_path_factory) -> dict[str, Path]:
    """A project whose test paths are not Python identifiers, run by real pytest in both families."""
    project = tmp_path_factory.mktemp("project")
    (project / "integration-tests").mkdir()
    (project / "integration-tests" / "test_e2e.py").write_text(E2E)
    (project / "tests" / "v1.2").mkdir(parents=True)
    (project / "tests" / "v1.2" / "test_api.py").write_text("def test_create():\n    pass\n")
    (project / "pytest.ini").write_text("[pytest]\n")
    reports = {}
    for family in ("xunit1", "xunit2"):
        reports[family] = project / f"{family}.xml"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:xdist",
             "-o", f"junit_family={family}", f"--junitxml={reports[family]}"],
            cwd=project, capture_output=True, text=True,
        )
        assert run.returncode == 1, run.stdout + run.stderr  # one failure, one error: as intended
    return reports


@pytest.fixture(scope="module")
def gotestsum_report(tmp_path_factory) -> Path:
    """A Go package run by gotestsum with --rerun-fails: reruns are repeated <testcase>s."""
    for tool in ("go", "gotestsum"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: apt-get install golang-go gotestsum (see .ci/run)")
    module = tmp_path_factory.mktemp("gomod")
    (module / "go.mod").write_text("module example.com/shop\n\ngo 1.19\n")
    (module / "cart").mkdir()
    (module / "cart" / "cart_test.go").write_text(GO_TEST)
    home = tmp_path_factory.mktemp("gohome")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOPATH": str(home / "path"),
           "GOCACHE": str(home / "cache"), "HOME": str(home), "FLAKY_DIR": str(module), "GOTOOLCHAIN": "local"}
    report = module / "junit.xml"
    run = subprocess.run(
        ["gotestsum", f"--junitfile={report}", "--rerun-fails=2", "--packages=./...", "--", "-count=1"],
        cwd=module, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 1 and report.is_file(), run.stdout + run.stderr  # TestRemoveItem always fails
    return report


def judged(report: TestReport, test_id: str, *, flaky: str = "risk", critical: bool = True) -> list[tuple[str, bool]]:
    """The findings of a criterion whose only test is `test_id`: (problem, blocking)."""
    criterion = Criterion("AC-1", "text", True, critical, (test_id,), 1)
    return [(f.problem, f.blocking) for f in evaluate_criteria([criterion], report, flaky=flaky)]


def outcome(report: TestReport, test_id: str) -> str:
    results = report.find(test_id)
    if not results:
        return "missing"
    rank = ["failed", "error", "skipped", "flaky", "passed"]
    return min(("flaky" if r.flaky else r.outcome for r in results), key=rank.index)


# --- pytest, both families ---------------------------------------------------------------------
@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
@pytest.mark.parametrize(
    "test_id, expected",
    [
        ("integration-tests/test_e2e.py::test_login", "passed"),
        ("integration-tests/test_e2e.py::test_logout", "failed"),
        ("integration-tests/test_e2e.py::test_sso", "skipped"),
        ("integration-tests/test_e2e.py::TestCart::test_totals[us.1]", "passed"),
        ("integration-tests/test_e2e.py::TestCart::test_totals", "passed"),  # every parameter
        ("integration-tests/test_e2e.py::test_migrate", "error"),
        ("tests/v1.2/test_api.py::test_create", "passed"),
        ("integration-tests.test_e2e::test_login", "passed"),  # pytest's own classname::name
    ],
)
def test_pytest_node_ids_with_any_path_match_in_both_families(pytest_reports, family, test_id, expected):
    report = read_junit(pytest_reports[family])
    assert outcome(report, test_id) == expected


def test_pytest_xunit1_writes_the_file_attribute_and_it_spells_the_node_id(pytest_reports):
    report = read_junit(pytest_reports["xunit1"])
    (login,) = report.find("integration-tests/test_e2e.py::test_login")
    assert login.file == "integration-tests/test_e2e.py"
    assert "integration-tests/test_e2e.py::test_login" in login.ids
    assert login.label == "integration-tests/test_e2e.py::test_login"


def test_a_pytest_failure_and_a_missing_id_as_the_gate_says_them(pytest_reports):
    report = read_junit(pytest_reports["xunit2"])
    assert judged(report, "integration-tests/test_e2e.py::test_logout") == [
        ("test integration-tests/test_e2e.py::test_logout failed: AssertionError: session survived logout\nassert False", True)
    ]
    ((problem, blocking),) = judged(report, "integration-tests/test_e2e.py::test_logn")
    assert blocking and problem.startswith("test integration-tests/test_e2e.py::test_logn not found in the latest report (closest ids present: ")
    assert "integration-tests.test_e2e.test_login" in problem


# --- gotestsum --rerun-fails -----------------------------------------------------------------
def test_gotestsum_reruns_are_attempts_and_the_last_one_decides(gotestsum_report):
    report = read_junit(gotestsum_report)
    results = {r.name: r for r in report.results}
    assert set(results) == {"TestAddItem", "TestRemoveItem", "TestDiscount", "TestDiscount/percent", "TestDiscount/coupon", "TestCheckoutFlaky"}
    flaky = results["TestCheckoutFlaky"]
    assert (flaky.outcome, flaky.flaky, flaky.attempts) == ("passed", True, 2)
    assert "connection reset by peer" in flaky.message or flaky.message == "Failed"
    failing = results["TestRemoveItem"]
    assert (failing.outcome, failing.flaky, failing.attempts) == ("failed", False, 3)
    assert results["TestDiscount/coupon"].outcome == "skipped"
    assert report.counts["flaky"] == 1 and report.counts["failed"] == 1


@pytest.mark.parametrize(
    "test_id, expected",
    [
        ("example.com/shop/cart.TestAddItem", "passed"),
        ("cart.TestAddItem", "passed"),
        ("cart.TestDiscount/percent", "passed"),
        ("example.com/shop/cart.TestDiscount/coupon", "skipped"),
        ("cart.TestCheckoutFlaky", "flaky"),
        ("TestRemoveItem", "failed"),
    ],
)
def test_go_ids_match_with_the_import_path_or_the_package_name(gotestsum_report, test_id, expected):
    assert outcome(read_junit(gotestsum_report), test_id) == expected


def test_a_flaky_pass_is_an_open_risk_by_default_and_blocks_with_flaky_block(gotestsum_report):
    report = read_junit(gotestsum_report)
    ((risk, blocking),) = judged(report, "cart.TestCheckoutFlaky")
    assert risk.startswith("test cart.TestCheckoutFlaky is flaky: it passed only after a failed attempt (2 attempts)")
    assert not blocking
    assert judged(report, "cart.TestCheckoutFlaky", flaky="block") == [(risk, True)]
    # a flaky pass still counts for a non-critical criterion's other failed test
    both = Criterion("AC-2", "text", True, False, ("cart.TestCheckoutFlaky", "TestRemoveItem"), 1)
    assert [f.blocking for f in evaluate_criteria([both], report)] == [False, False]
    assert [f.blocking for f in evaluate_criteria([both], report, flaky="block")] == [True, True]
    with pytest.raises(ValueError, match="flaky must be one of risk, block"):
        evaluate_criteria([both], report, flaky="ignore")


# --- the other tools, as they write their reports ----------------------------------------------
@pytest.mark.parametrize(
    "sample, test_id, expected",
    [
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "com.acme.api.OrderApiTest#createsAnOrder", "passed"),
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "OrderApiTest#createsAnOrder", "passed"),
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "com.acme.api.OrderApiTest.updatesAnOrder", "flaky"),
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "OrderApiTest.deletesAnOrder", "failed"),
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "OrderApiTest#archivesAnOrder", "skipped"),
        ("surefire/module-api/TEST-com.acme.api.OrderApiTest.xml", "OrderApiTest#listsOrders", "passed"),
        ("surefire/module-db/TEST-com.acme.db.MigrationTest.xml", "com.acme.db.MigrationTest#appliesMigrations", "error"),
        ("gradle/TEST-com.acme.cart.CartTest.xml", "com.acme.cart.CartTest#addsAnItem", "passed"),
        ("gradle/TEST-com.acme.cart.CartTest.xml", "CartTest#appliesACoupon", "flaky"),
        ("gradle/TEST-com.acme.cart.PaymentTest.xml", "com.acme.cart.PaymentTest#chargesACard", "failed"),
        ("ant/TEST-com.acme.report.ExportTest.xml", "com.acme.report.ExportTest#exportsCsv", "error"),
        ("jest/junit.xml", "src/web/checkout.test.js > Checkout > applies a coupon", "passed"),
        ("jest/junit.xml", "src/mobile/checkout.test.js > Checkout > applies a coupon", "failed"),
        ("jest/junit.xml", "Checkout applies a coupon", "failed"),  # no file: both files, judged together
        ("jest/junit.xml", "src/web/checkout.test.js > Checkout > gift cards > redeems a card", "passed"),
        ("jest/junit.xml", "./src/web/checkout.test.js > Checkout > supports wallets", "skipped"),
        ("mocha/test-results.xml", "test/orders.spec.js > Orders API > lists orders", "passed"),
        ("mocha/test-results.xml", "test/orders.spec.js > Orders API > rejects a bad token", "failed"),
        ("googletest/test_detail.xml", "RectangleTest.Area", "passed"),
        ("googletest/test_detail.xml", "RectangleTest.Perimeter", "failed"),
        ("googletest/test_detail.xml", "RectangleTest.DISABLED_Resize", "skipped"),
        ("googletest/test_detail.xml", "RectangleTest.Rotate", "skipped"),
        ("phpunit/junit.xml", "Acme\\Tests\\CartTest::testAddsAnItem", "passed"),
        ("phpunit/junit.xml", "Acme\\Tests\\CartTest::testTotals", "failed"),  # one data set failed
        ("phpunit/junit.xml", "Acme\\Tests\\CartTest::testTotals with data set #0", "passed"),
        ("phpunit/junit.xml", "CartTest::testRefunds", "skipped"),
        ("catch2/junit.xml", "Totals add up", "passed"),
        ("catch2/junit.xml", "Totals add up/with tax", "passed"),
        ("catch2/junit.xml", "Refunds are capped", "failed"),
        ("catch2/junit.xml", "Currency conversion", "skipped"),
    ],
)
def test_each_tools_natural_spelling_finds_its_result(sample, test_id, expected):
    assert outcome(read_junit(DATA / sample), test_id) == expected


def test_a_googletest_disabled_test_is_not_run_and_blocks_saying_so():
    report = read_junit(DATA / "googletest" / "test_detail.xml")
    assert dict(report.counts) == {"passed": 1, "failed": 1, "error": 0, "skipped": 2, "total": 4, "flaky": 0}
    for critical in (True, False):
        assert judged(report, "RectangleTest.DISABLED_Resize", critical=critical) == [(
            'test RectangleTest.DISABLED_Resize was not run (status="notrun" result="suppressed"): '
            "a test that did not run is no evidence",
            True,
        )]


def test_a_class_that_failed_as_a_whole_fails_every_criterion_naming_one_of_its_tests():
    ant = read_junit(DATA / "ant" / "TEST-com.acme.report.ExportTest.xml")
    assert dict(ant.counts)["error"] == 1 and ant.results[0].suite_level
    assert judged(ant, "ExportTest#exportsCsv") == [(
        "test ExportTest#exportsCsv: the suite com.acme.report.ExportTest errored: "
        "Could not initialize class com.acme.report.Exporter",
        True,
    )]
    gradle = read_run([DATA / "gradle" / "TEST-com.acme.cart.CartTest.xml", DATA / "gradle" / "TEST-com.acme.cart.PaymentTest.xml"])
    ((problem, blocking),) = judged(gradle, "PaymentTest.refundsACard")
    assert blocking and problem.startswith("test PaymentTest.refundsACard: the suite com.acme.cart.PaymentTest failed: ")
    assert outcome(gradle, "CartTest#addsAnItem") == "passed"  # another class's tests are not touched


def test_a_suite_failure_beside_passing_cases_fails_them_too(tmp_path):
    path = tmp_path / "TEST-com.acme.Search.xml"
    path.write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuite name="com.acme.Search" tests="1" failures="0" errors="1">
          <testcase name="findsByName" classname="com.acme.Search" time="0.1"/>
          <error message="@AfterAll: index not closed" type="java.lang.IllegalStateException">trace</error>
        </testsuite>
        """))
    report = read_junit(path)
    assert outcome(report, "com.acme.Search#findsByName") == "error"
    assert outcome(report, "findsByName") == "error"


DOC_SAMPLES = {
    "Maven Surefire": "surefire/module-api/TEST-com.acme.api.OrderApiTest.xml",
    "Gradle": "gradle/TEST-com.acme.cart.CartTest.xml",
    "jest-junit": "jest/junit.xml",
    "mocha-junit-reporter": "mocha/test-results.xml",
    "GoogleTest": "googletest/test_detail.xml",
    "PHPUnit": "phpunit/junit.xml",
    "Catch2": "catch2/junit.xml",
}


def test_every_example_id_in_the_docs_matches_in_its_tools_report(pytest_reports, gotestsum_report):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "acceptance-criteria.md").read_text()
    table = doc[doc.index("| Tool (report) |"):doc.index("An id that matches several results")]
    rows = [line.split(" | ") for line in table.splitlines()[2:] if line.startswith("| ")]
    checked = 0
    for tool, ids, _how in rows:
        tool = tool.lstrip("| ")
        if tool.startswith("pytest"):
            report = read_junit(pytest_reports["xunit2"])
        elif tool.startswith("Go "):
            report = read_junit(gotestsum_report)
        elif tool == "any":
            continue
        else:
            report = read_junit(DATA / next(sample for name, sample in DOC_SAMPLES.items() if tool.startswith(name)))
        examples = [e.replace("\\\\", "\\") for e in re.findall(r"`([^`]+)`", ids)]
        assert examples, tool
        for example in examples:
            assert report.find(example), f"{tool}: the documented id {example!r} matches nothing"
            checked += 1
    assert checked >= 11
