"""Reading JUnit XML as pytest, Maven Surefire, jest-junit and go-junit-report write it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_release.adapters.junit import (
    JUnitError,
    TestResult,
    latest_report,
    latest_run,
    merge_reports,
    read_junit,
    read_run,
)
from pytest_release.adapters.junit_run import RUN_GAP

PYTEST_XML = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.412" timestamp="2025-03-04T10:15:30.123456+00:00" hostname="ci-runner-7"><testcase classname="tests.test_api" name="test_create" time="0.011" /><testcase classname="tests.test_api.TestOrders" name="test_cancel[eu-2]" time="0.002"><failure message="AssertionError: assert 409 == 200">def test_cancel(region):
&gt;       assert response.status_code == 200
E       AssertionError: assert 409 == 200

tests/test_api.py:42: AssertionError</failure></testcase><testcase classname="tests.test_api" name="test_export" time="0.000"><skipped type="pytest.skip" message="export service not configured">/repo/tests/test_api.py:50: export service not configured</skipped></testcase><testcase classname="tests.test_db" name="test_migrate" time="0.100"><error message="failed on setup with &quot;ConnectionRefusedError: [Errno 111]&quot;">@pytest.fixture
def db():
E   ConnectionRefusedError: [Errno 111] Connection refused</error></testcase><testcase classname="tests.test_db" name="test_read" time="0.003"><system-out>--- captured ---
select 1</system-out></testcase></testsuite></testsuites>
"""

PYTEST_XUNIT1_XML = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="2" time="0.01" timestamp="2025-03-04T10:15:30"><testcase classname="tests.unit.test_api.TestOrders" name="test_list" file="tests/unit/test_api.py" line="12" time="0.001" /><testcase classname="tests.unit.test_api" name="test_ping" file="tests/unit/test_api.py" line="3" time="0.001" /></testsuite></testsuites>
"""

SUREFIRE_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd" version="3.0" name="com.acme.ApiTest" time="1.27" tests="5" errors="0" skipped="1" failures="1">
  <properties>
    <property name="java.version" value="17.0.9"/>
    <property name="maven.repo.local" value="/home/ci/.m2/repository"/>
  </properties>
  <testcase name="create" classname="com.acme.ApiTest" time="0.12"/>
  <testcase name="update" classname="com.acme.ApiTest" time="0.31">
    <flakyFailure message="expected: &lt;200&gt; but was: &lt;503&gt;" type="org.opentest4j.AssertionFailedError">
      <stackTrace>org.opentest4j.AssertionFailedError: expected: &lt;200&gt; but was: &lt;503&gt;
	at com.acme.ApiTest.update(ApiTest.java:40)</stackTrace>
      <system-out>retrying</system-out>
    </flakyFailure>
  </testcase>
  <testcase name="delete" classname="com.acme.ApiTest" time="0.2">
    <failure message="expected: &lt;204&gt; but was: &lt;500&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <204> but was: <500>
	at com.acme.ApiTest.delete(ApiTest.java:55)]]></failure>
    <rerunFailure message="expected: &lt;204&gt; but was: &lt;500&gt;" type="org.opentest4j.AssertionFailedError">
      <stackTrace>same</stackTrace>
    </rerunFailure>
  </testcase>
  <testcase name="archive" classname="com.acme.ApiTest" time="0">
    <skipped message="@Disabled until ACME-88"/>
  </testcase>
  <testcase name="list" classname="com.acme.ApiTest" time="0.05">
    <rerunFailure message="timeout" type="java.util.concurrent.TimeoutException"/>
  </testcase>
</testsuite>
"""

JEST_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="2.104">
  <testsuite name="Checkout" errors="0" failures="1" skipped="1" timestamp="2025-03-04T10:20:00" time="1.9" tests="3">
    <testcase classname="Checkout" name="Checkout applies a coupon" time="0.31">
    </testcase>
    <testcase classname="Checkout" name="Checkout rejects an expired card" time="0.52">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: "declined"
Received: "approved"
    at Object.&lt;anonymous&gt; (src/checkout.test.js:27:30)</failure>
    </testcase>
    <testcase classname="Checkout" name="Checkout supports gift cards" time="0">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
"""

GO_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1">
\t<testsuite name="github.com/acme/shop/cart" tests="3" failures="1" errors="0" id="0" hostname="ci" time="0.015" timestamp="2025-03-04T10:25:00Z">
\t\t<properties>
\t\t\t<property name="go.version" value="go1.22.1 linux/amd64"></property>
\t\t</properties>
\t\t<testcase name="TestAddItem" classname="github.com/acme/shop/cart" time="0.001"></testcase>
\t\t<testcase name="TestRemoveItem" classname="github.com/acme/shop/cart" time="0.002">
\t\t\t<failure message="Failed" type="">    cart_test.go:31: got 2 items, want 1</failure>
\t\t</testcase>
\t\t<testcase name="TestDiscount/percent" classname="github.com/acme/shop/cart" time="0.000">
\t\t\t<skipped message="Skipped"><![CDATA[    cart_test.go:40: flaky upstream]]></skipped>
\t\t</testcase>
\t</testsuite>
</testsuites>
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def outcomes(report):
    return {(r.classname, r.name): r.outcome for r in report.results}


def test_pytest_flavour(tmp_path):
    report = read_junit(write(tmp_path, "pytest.xml", PYTEST_XML))

    assert outcomes(report) == {
        ("tests.test_api", "test_create"): "passed",
        ("tests.test_api.TestOrders", "test_cancel[eu-2]"): "failed",
        ("tests.test_api", "test_export"): "skipped",
        ("tests.test_db", "test_migrate"): "error",
        ("tests.test_db", "test_read"): "passed",
    }
    assert dict(report.counts) == {
        "passed": 2, "failed": 1, "error": 1, "skipped": 1, "total": 5, "flaky": 0,
    }
    assert report.timestamp == datetime(2025, 3, 4, 10, 15, 30, 123456, tzinfo=timezone.utc)
    failed = report.results[1]
    assert failed.message == "AssertionError: assert 409 == 200"
    assert report.results[2].message == "export service not configured"
    assert report.results[4].message is None


def test_pytest_ids_include_the_node_id_without_a_file_attribute(tmp_path):
    report = read_junit(write(tmp_path, "pytest.xml", PYTEST_XML))

    create, cancel = report.results[0], report.results[1]
    assert report.find("tests/test_api.py::test_create") == (create,)
    assert "tests.test_api::test_create" in create.ids
    assert "tests.test_api.test_create" in create.ids
    assert "test_create" in create.ids
    assert report.find("tests/test_api.py::TestOrders::test_cancel[eu-2]") == (cancel,)
    assert report.find("tests/test_db.py::test_read")[0].outcome == "passed"


def test_pytest_xunit1_file_attribute_gives_the_exact_node_id(tmp_path):
    report = read_junit(write(tmp_path, "pytest.xml", PYTEST_XUNIT1_XML))

    listing, ping = report.results
    assert listing.file == "tests/unit/test_api.py"
    assert "tests/unit/test_api.py::TestOrders::test_list" in listing.ids
    assert listing.label == "tests/unit/test_api.py::TestOrders::test_list"
    assert "tests/unit/test_api.py::test_ping" in ping.ids
    assert report.find("tests/unit/test_api.py::TestOrders::test_list") == (listing,)
    assert report.timestamp == datetime(2025, 3, 4, 10, 15, 30)


def test_surefire_flavour_reruns_do_not_fail_a_pass(tmp_path):
    report = read_junit(write(tmp_path, "target/surefire-reports/TEST-com.acme.ApiTest.xml", SUREFIRE_XML))

    assert outcomes(report) == {
        ("com.acme.ApiTest", "create"): "passed",
        ("com.acme.ApiTest", "update"): "passed",  # flaky: failed once, then passed
        ("com.acme.ApiTest", "delete"): "failed",
        ("com.acme.ApiTest", "archive"): "skipped",
        ("com.acme.ApiTest", "list"): "passed",  # an earlier attempt failed: flaky
    }
    assert [r.flaky for r in report.results] == [False, True, False, False, True]
    assert report.results[1].message == "expected: <200> but was: <503>"
    assert report.results[2].message == "expected: <204> but was: <500>"
    assert report.results[3].message == "@Disabled until ACME-88"
    assert report.timestamp is None
    assert report.find("com.acme.ApiTest.create")[0].name == "create"
    assert report.find("com.acme.ApiTest::delete")[0].outcome == "failed"


def test_jest_flavour(tmp_path):
    report = read_junit(write(tmp_path, "junit.xml", JEST_XML))

    assert outcomes(report) == {
        ("Checkout", "Checkout applies a coupon"): "passed",
        ("Checkout", "Checkout rejects an expired card"): "failed",
        ("Checkout", "Checkout supports gift cards"): "skipped",
    }
    # no message attribute: the first lines of the failure text stand in
    assert report.results[1].message.startswith("Error: expect(received).toBe(expected)")
    assert report.find("Checkout rejects an expired card")[0].outcome == "failed"
    assert report.find("Checkout::Checkout applies a coupon")[0].outcome == "passed"
    assert report.timestamp == datetime(2025, 3, 4, 10, 20)


def test_go_junit_report_flavour(tmp_path):
    report = read_junit(write(tmp_path, "report.xml", GO_XML))

    assert outcomes(report) == {
        ("github.com/acme/shop/cart", "TestAddItem"): "passed",
        ("github.com/acme/shop/cart", "TestRemoveItem"): "failed",
        ("github.com/acme/shop/cart", "TestDiscount/percent"): "skipped",
    }
    assert report.results[1].message == "Failed"
    assert report.find("TestAddItem")[0].outcome == "passed"
    assert report.find("github.com/acme/shop/cart.TestAddItem")
    assert report.timestamp == datetime(2025, 3, 4, 10, 25, tzinfo=timezone.utc)


def test_ids_of_a_result_without_classname():
    result = TestResult(classname="", name="smoke", outcome="passed", message=None, file=None)
    assert result.ids == ("smoke",)


def test_non_dotted_classnames_get_no_node_id():
    result = TestResult("Checkout flow", "applies a coupon", "passed")
    assert not any(".py::" in i for i in result.ids)


BILLION_LAUGHS = """\
<?xml version="1.0"?>
<!DOCTYPE testsuites [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuites><testsuite><testcase classname="x" name="t"><failure message="&lol9;"/></testcase></testsuite></testsuites>
"""

EXTERNAL_ENTITY = """\
<?xml version="1.0"?>
<!DOCTYPE testsuites [<!ENTITY leak SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite><testcase classname="x" name="t"><failure message="&leak;">&leak;</failure></testcase></testsuite></testsuites>
"""

EXTERNAL_DTD = """\
<?xml version="1.0"?>
<!DOCTYPE testsuites SYSTEM "file:///etc/passwd">
<testsuites><testsuite><testcase classname="x" name="t"/></testsuite></testsuites>
"""

PARAMETER_ENTITY = """\
<?xml version="1.0"?>
<!DOCTYPE testsuites [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote;]>
<testsuites/>
"""


@pytest.mark.parametrize(
    "text",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity"],
)
def test_hostile_xml_is_refused_without_expansion(tmp_path, text):
    path = write(tmp_path, "hostile.xml", text)
    started = time.monotonic()

    with pytest.raises(JUnitError) as caught:
        read_junit(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:2: refused: DOCTYPE")
    assert "root:" not in message and "lol" not in message
    assert time.monotonic() - started < 1


def test_undeclared_entity_is_malformed(tmp_path):
    path = write(tmp_path, "x.xml", '<testsuites>\n<testsuite><testcase name="&nope;"/></testsuite></testsuites>')

    with pytest.raises(JUnitError, match=rf"^{path}:2: malformed XML \(undefined entity"):
        read_junit(path)


def test_malformed_xml_names_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "broken.xml",
        '<?xml version="1.0"?>\n<testsuites>\n  <testsuite name="a">\n    <testcase name="t">\n  </testsuite>\n</testsuites>\n',
    )

    with pytest.raises(JUnitError, match=rf"^{path}:5: malformed XML \(mismatched tag"):
        read_junit(path)


def test_truncated_file_is_malformed(tmp_path):
    path = write(tmp_path, "cut.xml", PYTEST_XML[: len(PYTEST_XML) // 2])

    with pytest.raises(JUnitError, match="malformed XML"):
        read_junit(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "malformed XML"),
        ("<html><body>Bad gateway</body></html>", "not a JUnit report: the root element is <html>"),
    ],
)
def test_files_that_are_not_junit_are_refused(tmp_path, text, expected):
    path = write(tmp_path, "x.xml", text)
    with pytest.raises(JUnitError, match=expected) as caught:
        read_junit(path)
    assert str(caught.value).startswith(f"{path}:")


def test_missing_file_is_a_junit_error(tmp_path):
    with pytest.raises(JUnitError, match="cannot read the report"):
        read_junit(tmp_path / "nope.xml")


def test_latest_report_picks_the_newest_by_mtime(tmp_path):
    old = write(tmp_path, "reports/junit-1.xml", PYTEST_XML)
    new = write(tmp_path, "reports/nested/junit-2.xml", PYTEST_XML)
    other = write(tmp_path, "surefire/TEST-a.xml", SUREFIRE_XML)
    now = time.time()
    os.utime(old, (now - 300, now - 300))
    os.utime(new, (now - 200, now - 200))
    os.utime(other, (now - 100, now - 100))

    assert latest_report("reports/**/*.xml", tmp_path) == new
    assert latest_report(["reports/*.xml", "surefire/TEST-*.xml"], tmp_path) == other
    assert latest_report(("reports/**/*.xml",), tmp_path) == new
    assert latest_report(str(tmp_path / "reports" / "*.xml"), Path("/elsewhere")) == old
    assert latest_report("nothing/*.xml", tmp_path) is None
    (tmp_path / "reports" / "dir.xml").mkdir()
    os.utime(tmp_path / "reports" / "dir.xml", (now, now))
    assert latest_report("reports/*.xml", tmp_path) == old


def test_a_long_failure_text_is_clipped(tmp_path):
    body = "x" * 100_000
    path = write(
        tmp_path,
        "long.xml",
        f'<testsuite><testcase classname="a" name="b"><failure>{body}</failure></testcase></testsuite>',
    )

    (result,) = read_junit(path).results
    assert result.outcome == "failed"
    assert len(result.message) <= 501


MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from pytest_release.adapters.junit import read_junit

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = read_junit(Path(sys.argv[1]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(report.counts["total"], report.counts["failed"], (after - before) // 1024)
    """
)


def test_a_100_mb_report_is_streamed_in_bounded_memory(tmp_path):
    """Captured output makes real reports huge; the reader must not hold the file in memory."""
    path = tmp_path / "huge.xml"
    output = ("2025-03-04 10:15:30 INFO request handled in 3 ms &amp; logged\n" * 40)
    failure = "Traceback (most recent call last):\n" + "  File \"x.py\", line 1, in f\n" * 60
    cases = 0
    with open(path, "w", encoding="utf-8") as xml:
        xml.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="pytest">\n')
        while xml.tell() < 100 * 1024 * 1024:
            for i in range(100):
                xml.write(f'<testcase classname="tests.test_load.TestBatch{cases // 1000}" name="test_{cases}" time="0.001">')
                if i == 0:
                    xml.write(f'<failure message="boom {cases}">{failure}</failure>')
                xml.write(f"<system-out>{output}</system-out></testcase>\n")
                cases += 1
        xml.write("</testsuite></testsuites>\n")
    assert path.stat().st_size >= 100 * 1024 * 1024

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    total, failed, grown_mib = map(int, probe.stdout.split())

    assert (total, failed) == (cases, cases // 100)
    assert grown_mib < 50, f"peak memory grew by {grown_mib} MiB while reading 100 MB"


def test_latest_report_under_a_root_with_glob_characters(tmp_path):
    root = tmp_path / "ci [build 7]"
    report = write(root, "reports/junit.xml", PYTEST_XML)

    assert latest_report("reports/*.xml", root) == report


def test_the_latest_run_is_every_junit_file_written_close_to_the_next_newer_one(tmp_path):
    """Surefire writes one TEST-<class>.xml per class, a multi-module build one folder per
    module: the run is all of them (a chain of files at most RUN_GAP apart), not the newest."""
    first = write(tmp_path, "api/target/surefire-reports/TEST-com.acme.ApiTest.xml", SUREFIRE_XML)
    second = write(tmp_path, "db/target/surefire-reports/TEST-com.acme.DbTest.xml", SUREFIRE_XML.replace("ApiTest", "DbTest"))
    write(tmp_path, "api/target/surefire-reports/summary.txt", "not a report")
    old = write(tmp_path, "reports/junit.xml", PYTEST_XML)
    now = time.time()
    os.utime(old, (now - 120 - RUN_GAP - 1, now - 120 - RUN_GAP - 1))  # an earlier run
    os.utime(first, (now - 120, now - 120))
    os.utime(second, (now - 60, now - 60))
    globs = ["reports/*.xml", "*/target/surefire-reports/*.xml"]

    run = latest_run(globs, tmp_path)
    assert run.files == (second, first) and run.passed_over == ()
    merged = read_run(run.files)
    assert merged.counts["total"] == 10 and merged.counts["failed"] == 2
    assert merged.find("com.acme.DbTest.delete")[0].outcome == "failed"
    assert merged.path == second and merged.files == (second, first)

    os.utime(old, (now - 120 - RUN_GAP + 10, now - 120 - RUN_GAP + 10))  # within the gap of the run's oldest file
    assert latest_run(globs, tmp_path).files == (second, first, old)
    os.utime(old, (now, now))
    assert latest_run(globs, tmp_path).files == (old, second, first)
    assert latest_run(globs, tmp_path, gap=30).files == (old,)
    assert latest_run("nothing/*.xml", tmp_path).files == () and not latest_run("nothing/*.xml", tmp_path)


def test_xml_that_is_not_junit_is_passed_over_with_a_note(tmp_path):
    data = Path(__file__).resolve().parent / "data" / "junit" / "surefire"
    api = write(tmp_path, "api/target/surefire-reports/TEST-com.acme.api.OrderApiTest.xml",
                (data / "module-api" / "TEST-com.acme.api.OrderApiTest.xml").read_text())
    db = write(tmp_path, "db/target/failsafe-reports/TEST-com.acme.db.MigrationTest.xml",
               (data / "module-db" / "TEST-com.acme.db.MigrationTest.xml").read_text())
    summary = write(tmp_path, "db/target/failsafe-reports/failsafe-summary.xml", (data / "module-db" / "failsafe-summary.xml").read_text())
    coverage = write(tmp_path, "coverage.xml", (data / "coverage.xml").read_text())
    now = time.time()
    for age, path in enumerate((coverage, summary, db, api)):
        os.utime(path, (now - age, now - age))

    run = latest_run(["**/*.xml"], tmp_path)
    assert run.files == (db, api)
    assert run.passed_over == (
        "coverage.xml is not a JUnit report (root element <coverage>): passed over",
        "db/target/failsafe-reports/failsafe-summary.xml is not a JUnit report (root element <failsafe-summary>): passed over",
    )
    assert read_run(run.files).counts["total"] == 6
    assert latest_run("coverage.xml", tmp_path).files == ()


@pytest.mark.parametrize(
    "text",
    ["", "<testsuites><testsuite name='x'><testcase", BILLION_LAUGHS, "\x00\x01 binary"],
    ids=["empty", "truncated", "doctype", "not-xml"],
)
def test_a_newest_file_that_cannot_be_told_apart_stays_in_the_run_and_fails_to_read(tmp_path, text):
    older = write(tmp_path, "reports/a.xml", PYTEST_XML)
    newest = write(tmp_path, "reports/b.xml", text)
    now = time.time()
    os.utime(older, (now - 5, now - 5))

    run = latest_run("reports/*.xml", tmp_path)
    assert run.files == (newest, older)
    with pytest.raises(JUnitError, match=str(newest)):
        read_run(run.files)


def test_merging_keeps_the_earliest_timestamp(tmp_path):
    a = read_junit(write(tmp_path, "a.xml", PYTEST_XML))
    b = read_junit(write(tmp_path, "b.xml", PYTEST_XML.replace("2025-03-04T10:15:30", "2025-03-05T10:15:30")))
    assert merge_reports([b, a]).timestamp == a.timestamp
    assert merge_reports([a]) is a


# --- not run is never evidence ---------------------------------------------------------------
@pytest.mark.parametrize(
    "attributes, outcome, not_run",
    [
        ('status="disabled"', "skipped", 'status="disabled"'),
        ('status="notrun" result="suppressed"', "skipped", 'status="notrun" result="suppressed"'),
        ('status="run" result="suppressed"', "skipped", 'status="run" result="suppressed"'),
        ('status="skipped"', "skipped", 'status="skipped"'),
        ('status="ignored"', "skipped", 'status="ignored"'),
        ('status="pending"', "skipped", 'status="pending"'),
        ('executed="False"', "skipped", 'executed="False"'),
        ('disabled="true"', "skipped", 'disabled="true"'),
        ('status="quarantined"', "skipped", 'status="quarantined"'),  # unknown: not taken for a pass
        ('status="run" result="completed"', "passed", None),
        ('status="passed"', "passed", None),
        ('status="run"', "passed", None),
        ('status="failed"', "failed", None),
        ('status="error"', "error", None),
    ],
)
def test_a_case_without_an_outcome_child_is_judged_by_its_attributes(tmp_path, attributes, outcome, not_run):
    path = write(tmp_path, "x.xml", f'<testsuites><testsuite name="S"><testcase classname="S" name="t" {attributes}/></testsuite></testsuites>')
    (result,) = read_junit(path).results
    assert (result.outcome, result.not_run) == (outcome, not_run)


@pytest.mark.parametrize("child", ["<skipped/>", "<ignored/>", "<disabled/>"])
def test_every_not_run_child_is_skipped(tmp_path, child):
    path = write(tmp_path, "x.xml", f'<testsuite name="S"><testcase classname="S" name="t">{child}</testcase></testsuite>')
    assert read_junit(path).results[0].outcome == "skipped"


def test_an_outcome_child_wins_over_a_run_status(tmp_path):
    path = write(tmp_path, "x.xml", '<testsuite name="S"><testcase classname="S" name="t" status="notrun"><failure message="boom"/></testcase></testsuite>')
    (result,) = read_junit(path).results
    assert (result.outcome, result.message, result.not_run) == ("failed", "boom", None)


# --- nameless cases, suite failures, retries ---------------------------------------------------
def test_a_nameless_case_is_left_out_with_a_warning_and_the_rest_counts(tmp_path):
    path = write(tmp_path, "x.xml", (
        '<testsuites>\n<testsuite name="S">\n<testcase classname="S" name="a"/>\n'
        '<testcase classname="S"/>\n<testcase classname="S" name=""/>\n<testcase classname="S" name="b"/>\n'
        "</testsuite>\n</testsuites>\n"
    ))
    report = read_junit(path)
    assert [r.name for r in report.results] == ["a", "b"]
    assert report.warnings == (f"{path}:4: 2 <testcase> elements without a name left out (the rest of the file counts)",)
    assert merge_reports([report, read_junit(write(tmp_path, "y.xml", PYTEST_XML))]).warnings == report.warnings


def test_a_nameless_or_placeholder_case_that_failed_is_a_failure_of_its_class(tmp_path):
    path = write(tmp_path, "x.xml", (
        '<testsuites><testsuite name="com.acme.A"><testcase classname="com.acme.A" name=""><error message="boom"/></testcase></testsuite>'
        '<testsuite name="com.acme.B"><testcase classname="com.acme.B" name="initializationError"><failure message="no db"/></testcase>'
        '<testcase classname="com.acme.B" name="other"/></testsuite>'
        '<testsuite name="com.acme.C"><testcase classname="com.acme.C" name="com.acme.C"><failure/></testcase></testsuite>'
        '<testsuite name="jest"><testcase classname="Cart adds" name="Cart adds"><failure/></testcase></testsuite></testsuites>'
    ))
    report = read_junit(path)
    assert [(r.classname, r.suite_level, r.outcome) for r in report.results] == [
        ("com.acme.A", True, "error"), ("com.acme.B", True, "failed"), ("com.acme.B", False, "passed"),
        ("com.acme.C", True, "failed"),  # Surefire 2.22 names the case after its class
        ("Cart adds", False, "failed"),  # jest-junit's default classname is the name: a test of its own
    ]
    assert report.warnings == ()
    assert {r.outcome for r in report.find("com.acme.B#other")} == {"passed", "failed"}
    assert [r.outcome for r in report.find("A#anything")] == ["error"]
    assert report.find("com.acme.D#x") == ()


def test_a_suite_level_failure_counts_as_a_result_of_its_suite(tmp_path):
    path = write(tmp_path, "x.xml", (
        '<testsuite name="com.acme.Db" tests="0" errors="1"><properties/>'
        '<error type="java.sql.SQLException">Connection refused\n\tat com.acme.Db.setUp</error>'
        "<system-out>log</system-out></testsuite>"
    ))
    report = read_junit(path)
    (result,) = report.results
    assert (result.classname, result.suite_level, result.outcome, result.message) == (
        "com.acme.Db", True, "error", "Connection refused\n\tat com.acme.Db.setUp")
    assert report.counts["error"] == 1 and report.counts["total"] == 1
    assert result.ids == ("com.acme.Db",) and result.label == "com.acme.Db"


def test_retries_are_the_same_case_in_the_same_suite_and_the_last_attempt_decides(tmp_path):
    path = write(tmp_path, "x.xml", (
        '<testsuites><testsuite name="S">'
        '<testcase classname="S" name="flaky"><failure message="first"/></testcase>'
        '<testcase classname="S" name="broken"/>'
        '<testcase classname="S" name="flaky"><error message="second"/></testcase>'
        '<testcase classname="S" name="broken"><failure message="regressed"/></testcase>'
        '<testcase classname="S" name="flaky"/>'
        "</testsuite>"
        '<testsuite name="T"><testcase classname="S" name="flaky"><failure message="another suite"/></testcase></testsuite>'
        "</testsuites>"
    ))
    report = read_junit(path)
    assert [(r.suite, r.name, r.outcome, r.flaky, r.attempts, r.message) for r in report.results] == [
        ("S", "flaky", "passed", True, 3, "second"),
        ("S", "broken", "failed", False, 2, "regressed"),
        ("T", "flaky", "failed", False, 1, "another suite"),  # a different suite: not a retry
    ]
    assert dict(report.counts) == {"passed": 1, "failed": 2, "error": 0, "skipped": 0, "total": 3, "flaky": 1}


def test_an_id_not_found_gets_the_closest_ids_present(tmp_path):
    report = read_junit(write(tmp_path, "TEST-x.xml", SUREFIRE_XML))
    assert report.closest("com.acme.ApiTest#creat")[0] == "com.acme.ApiTest.create"
    assert report.closest("totally-unrelated-zzz") == []
