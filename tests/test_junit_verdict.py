"""The verdict as the JUnit test case `release::verdict`, read the way consumers read JUnit:

- with junitparser (the library most Python-based CI tools use);
- with the reading of EnricoMi/publish-unit-test-result-action (python/publish/junit.py, a
  GitHub test-report action; not pip-installable): it parses with junitparser
  (`JUnitXml.fromroot`), walks every suite's test cases, takes a case's most severe result
  (error, failure, success, skipped) and joins its results' messages, and ignores suite
  properties. `read_like_publish_action` below does the same steps.

The case passes only when the release shipped (exit status 0); otherwise it fails with the
reason chain as its message. pytest's terminal counts and the exit status stay as they were."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite
from lxml import etree

from tests.test_junit_output import load


def read_like_publish_action(path: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(classname, name) -> (result, message), as publish-unit-test-result-action derives them."""
    junit = JUnitXml.fromroot(etree.parse(str(path)).getroot())
    suites = list(junit) if junit._tag == "testsuites" else [junit]

    def cases(suite: TestSuite) -> list[TestCase]:
        inner = list(suite.iterchildren(TestSuite))
        return [c for s in inner for c in cases(s)] + list(suite.iterchildren(TestCase))

    found = {}
    for suite in suites:
        for case in cases(suite):
            by_state: dict[str, list] = defaultdict(list)
            for result in case.result:
                by_state[result._tag].append(result)
            worst = next((by_state[s] for s in ("error", "failure", "skipped") if s in by_state), [])
            state = worst[0]._tag if worst else "success"
            messages = [r.message for r in worst if r.message]
            found[(case.classname, case.name)] = (state, "\n".join(messages) if messages else None)
    return found


def verdict_case(path: Path) -> TestCase:
    matches = [c for suite in JUnitXml.fromfile(str(path)) for c in suite if c.classname == "release" and c.name == "verdict"]
    assert len(matches) == 1, "exactly one release::verdict case"
    return matches[0]


def test_a_released_release_is_a_passed_verdict_case(demo_release):
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    xml = demo_release.pytester.path / "junit.xml"
    case = verdict_case(xml)
    assert case.is_passed and case.result == []
    cases = read_like_publish_action(xml)
    assert cases[("release", "verdict")] == ("success", None)
    assert not [k for k, (state, _) in cases.items() if state != "success"]


def test_a_rolled_back_release_is_a_failed_verdict_case_with_the_reason_chain(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()  # the exit status is the verdict's, as before
    xml = demo_release.pytester.path / "junit.xml"
    suite = load(xml)  # valid against the Jenkins schema, counts agree with the cases
    chain = "Rolled-Back: deploy script failure: exit code 3; then: rollback succeeded: v1 is serving again"
    (failure,) = verdict_case(xml).result
    assert isinstance(failure, Failure) and failure.message.startswith(chain)
    assert "Reason chain:\n1. deploy script failure: exit code 3\n2. rollback succeeded" in failure.text
    assert "Report: " in failure.text and "release_v2_local_" in failure.text

    state, message = read_like_publish_action(xml)[("release", "verdict")]
    assert state == "failure" and message.startswith(chain)

    # pytest's own counts leave the verdict case out; the XML counts it
    outcomes = result.parseoutcomes()
    xml_failures = int(suite.get("failures"))
    assert xml_failures == outcomes["failed"] + 1


def test_an_aborted_release_is_a_failed_verdict_case(demo_release):
    (demo_release.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 11, result.stdout.str()
    xml = demo_release.pytester.path / "junit.xml"
    (failure,) = verdict_case(xml).result
    assert isinstance(failure, Failure) and not isinstance(failure, (Error, Skipped))
    assert failure.message.startswith("Aborted: deploy-script defect: ")
    assert read_like_publish_action(xml)[("release", "verdict")][0] == "failure"
