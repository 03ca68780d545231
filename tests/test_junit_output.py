"""The JUnit XML of a release, as a CI server reads it: valid against a JUnit XML schema
(tests/data/junit-jenkins.xsd, checked with lxml), one test case per phase check, per smoke case
and per watch-window poll, failure messages that state the trigger, the release's properties on
the suite, counts that agree with the cases, and pytest's own terminal counts left alone."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "data" / "junit-jenkins.xsd")))


def load(path: Path) -> etree._Element:
    """Parse and validate like a strict consumer; returns the one testsuite."""
    document = etree.parse(str(path))
    SCHEMA.assertValid(document)
    (suite,) = document.getroot().findall("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
    assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)
    assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
    ids = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(ids) == len(set(ids)), "a consumer merges test cases with the same classname and name"
    return suite


def properties(suite: etree._Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in suite.iter("property")}


def case(suite: etree._Element, classname: str, name: str) -> etree._Element:
    found = [c for c in suite.findall("testcase") if c.get("classname") == classname and c.get("name") == name]
    assert len(found) == 1, [(c.get("classname"), c.get("name")) for c in suite.findall("testcase")]
    return found[0]


def test_the_schema_rejects_what_consumers_reject(tmp_path):
    """The schema is not a rubber stamp: a bad count, a test-case property, two outcomes."""
    good = '<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase classname="c" name="n" time="0.1"/></testsuite></testsuites>'
    assert SCHEMA.validate(etree.fromstring(good))
    for bad in (
        good.replace('tests="1"', 'tests="one"'),
        good.replace('time="0.1"', 'time="-1"'),
        good.replace('<testcase classname="c" name="n" time="0.1"/>',
                     '<testcase classname="c" name="n" time="0.1"><properties><property name="a" value="b"/></properties></testcase>'),
        good.replace('<testcase classname="c" name="n" time="0.1"/>',
                     '<testcase classname="c" name="n" time="0.1"><failure message="x"/><skipped/></testcase>'),
    ):
        assert not SCHEMA.validate(etree.fromstring(bad)), bad


def test_a_clean_release_in_junit(demo_release):
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    suite = load(demo_release.pytester.path / "junit.xml")
    names = {(c.get("classname"), c.get("name")) for c in suite.findall("testcase")}

    # one per phase check, one per smoke case
    assert ("phase3_execute", "test_deploy_script_succeeds") in names
    assert ("phase6_commit_or_rollback", "test_commit_or_rollback") in names
    assert ("phase6_commit_or_rollback", "test_bookkeeping_complete") in names
    for smoke in ("health", "version", "read-items", "write-item"):
        assert ("phase4_smoke_test", f"test_smoke[{smoke}]") in names
    # one per watch poll: the demo watches 20s with a poll every 2s
    polls = sorted(n for c, n in names if c == "phase5_watch_window" and n.startswith("watch_poll["))
    assert len(polls) == 10 and "watch_poll[T+2s]" in polls and "watch_poll[T+20s]" in polls
    assert all(case(suite, "phase5_watch_window", p).find("failure") is None for p in polls)
    assert case(suite, "phase5_watch_window", "watch_poll[T+2s]").get("time") == "0.000"

    props = properties(suite)
    assert props["release.verdict"] == "Released"
    assert props["release.env"] == "local" and props["release.version"] == "v2"
    assert props["release.exit_status"] == "0"
    assert props["release.self_check"] == "passed"
    assert props["release.incomplete"] == ""
    assert props["release.report"].endswith(".md")

    # pytest's own counts are the real checks only: the polls and the verdict case
    # (release::verdict) are in the XML, not in the terminal
    outcomes = result.parseoutcomes()
    real_cases = len(suite.findall("testcase")) - len(polls) - 1
    assert case(suite, "release", "verdict").find("failure") is None
    assert outcomes["passed"] == real_cases
    assert int(suite.get("tests")) == real_cases + len(polls) + 1


def test_a_watch_window_breach_in_junit_states_the_trigger(demo_release):
    result = demo_release.run("v3-bad", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    suite = load(demo_release.pytester.path / "junit.xml")
    watch = case(suite, "phase5_watch_window", "test_watch_window").find("failure")
    assert watch is not None and "error_rate breached" in watch.get("message")
    breach = case(suite, "phase5_watch_window", "watch_poll[T+2s]").find("failure")
    assert breach is not None
    assert breach.get("message").startswith("hard at T+2s: error_rate breached")
    assert "error_rate" in breach.text  # the poll's readings
    assert not [c for c in suite.findall("testcase") if c.get("name") == "watch_poll[T+4s]"]  # the window stopped there

    # the rollback's own verification: its smoke cases and its short watch window
    for smoke in ("health", "version", "read-items", "write-item"):
        assert case(suite, "phase6_commit_or_rollback", f"rollback_smoke[{smoke}]").find("failure") is None
    rollback_polls = [c for c in suite.findall("testcase") if c.get("name").startswith("rollback_watch_poll[")]
    assert len(rollback_polls) == 3 and all(c.find("failure") is None for c in rollback_polls)

    props = properties(suite)
    assert props["release.verdict"] == "Rolled-Back"
    assert props["release.reason"].startswith("Rolled-Back: error_rate breached")
    assert props["release.exit_status"] == "10"
    assert props["release.rollback_report"].endswith(".md") and "rollback_v3-bad_local_" in props["release.rollback_report"]


def test_a_failed_deploy_and_a_failed_rollback_verification_in_junit(demo_release):
    result = demo_release.run("v4-broken", "--release-rollback-to=v1-unhealthy", "--junitxml=junit.xml")
    assert result.ret == 12, result.stdout.str()
    suite = load(demo_release.pytester.path / "junit.xml")
    smoke = case(suite, "phase4_smoke_test", "test_smoke[write-item]").find("failure")
    assert smoke is not None and "smoke test failure: write-item: expected status 201, got 500" in smoke.get("message")
    commit = case(suite, "phase6_commit_or_rollback", "test_commit_or_rollback").find("failure")
    assert commit is not None and "rollback failed" in commit.get("message")
    failed_rollback_smoke = [c for c in suite.findall("testcase") if c.get("name").startswith("rollback_smoke[") and c.find("failure") is not None]
    assert failed_rollback_smoke, "the rolled-back version's failed smoke case is a failed test case"
    assert failed_rollback_smoke[0].find("failure").get("message").startswith("rollback smoke test failure: ")
    props = properties(suite)
    assert props["release.verdict"] == "Rollback-Failed" and props["release.exit_status"] == "12"


def test_poll_cases_cover_every_poll_table_and_fail_where_polling_stopped():
    """A canary's steps each have a poll table before the window's own; names stay unique and
    only the poll that decided the failure fails."""
    from pytest_release.ci import poll_cases
    from pytest_release.report.document import Section

    section = Section("Phase 5: Watch Window")
    section.table(["T+", "Status", "error_rate"], [["T+1m", "ok", "0.1"], ["T+2m", "**SOFT**", "1.6x"]], title="Canary step 1/4 (5%): polls")
    section.table(["T+", "Status", "error_rate"], [["T+1m", "**HARD**", "3.1x"]], title="Canary step 2/4 (25%): polls")
    section.table(["T+", "Time (UTC)", "error_rate", "Health", "Status"], [], title="Polls")
    cases = poll_cases(section, "phase5_watch_window.py::watch_poll", "error_rate breached 3.1x baseline at T+1m")
    assert [c.nodeid.split("::")[1] for c in cases] == [
        "canary_step_1_4_5%_poll[T+1m]", "canary_step_1_4_5%_poll[T+2m]", "canary_step_2_4_25%_poll[T+1m]",
    ]
    assert [c.failed for c in cases] == [False, False, True]
    assert cases[-1].message == "hard at T+1m: error_rate breached 3.1x baseline at T+1m"
    window = Section("Phase 5: Watch Window")
    window.table(["T+", "Time (UTC)", "error_rate", "Health", "Status"], [["T+1m", "12:01:00", "0.1", "ok", "ok"]], title="Polls")
    (case,) = poll_cases(window, "phase5_watch_window.py::watch_poll", None)
    assert case.nodeid == "phase5_watch_window.py::watch_poll[T+1m]" and not case.failed
