"""Whole releases of the demo service stopped (or let through) by the pre-release gate.

Each stop reason of phase 1 is run for real in a pytest subprocess: the release ends Aborted
(exit 11), the reason is in the terminal and the report, and the live system is untouched: the
demo still serves v1, the deploy script never ran (no Execute output, no deploy log). The demo
copy is a real git repository where a test needs commits; the registry is a real docker-registry;
Jira is a local server speaking its REST API."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.jira_server import JIRA_EMAIL, JIRA_TOKEN
from tests.support.registry_server import PASSWORD, USERNAME


# --- helpers ---------------------------------------------------------------------------------
def configure(demo_release, text: str, *, top: bool = False) -> None:
    """Add YAML to the `local` environment (or, with top=True, at the top level)."""
    config = demo_release.config.read_text()
    block = textwrap.dedent(text).strip("\n")
    if top:
        config = config.replace("\nenvironments:\n", "\n" + block + "\nenvironments:\n", 1)
    else:
        indented = textwrap.indent(block, "    ")
        config = config.replace("  local:\n", "  local:\n" + indented + "\n", 1)
    demo_release.config.write_text(config)


def git(path: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True, env=env).stdout


def make_git_history(demo_release, *messages: str) -> None:
    """The demo copy as a repository: a first commit tagged as the last release, then `messages`."""
    root = demo_release.demo.path
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Dev")  # phase 6 tags a Released version: the tagger
    git(root, "config", "user.email", "dev@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feat: the demo service (DEMO-1)")
    git(root, "tag", "-a", "release/v1", "-m", "Released v1")
    for index, message in enumerate(messages):
        target = root / ("service.py" if index % 2 == 0 else "scripts/health-check.sh")
        target.write_text(target.read_text() + f"\n# change {index}\n")
        git(root, "commit", "-q", "-am", message)


def assert_untouched(demo_release, result, *reasons: str) -> str:
    """Aborted, with each reason in the terminal, and the deploy script never ran."""
    out = result.stdout.str()
    assert result.ret == 11, out
    for reason in reasons:
        assert reason in out, f"{reason!r} not in the output:\n{out}"
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert "deploy: " not in report  # the demo deploy script prints "deploy: ..." lines
    assert "deploying" not in out
    assert not list(demo_release.release_dir.glob("*_deploy.log"))
    assert "phase3_execute.py::test_deploy_script_succeeds SKIPPED" in out
    assert "**Aborted**" in report
    return report


# --- the demo itself -------------------------------------------------------------------------
def test_the_demo_gate_checks_everything_and_proceeds_on_its_own(demo_release):
    result = demo_release.run("v2", "--junitxml=junit.xml")
    out = result.stdout.str()
    assert result.ret == 0, out
    for check in ("test_acceptance_criteria_met", "test_performance_evidence", "test_change_summary",
                  "test_rollback_images_in_registry", "test_change_window_open", "test_approvals",
                  "test_tracker_tickets_ready", "test_gate_decision"):
        assert f"phase1_pre_release_gate.py::{check} PASSED" in out
    result.stdout.fnmatch_lines(["*PRE-RELEASE GATE*", "*Target env:      local (staging)", "*Rollback target: v1",
                                 "*A) Proceed to Strategy Select"])
    report = demo_release.report()
    assert "**Acceptance criteria:** 6 criteria in `_docs/00_problem/acceptance_criteria.md`, 6 marked met" in report
    assert "| AC-3 | yes | met | tests/test_demo_service.py::test_items_api_contract | all listed tests passed |" in report
    assert "**Performance evidence:** not required (_docs/00_problem/restrictions.md does not require it)" in report
    assert "no change summary: " in report  # the copy is not a git repository: an open risk, not a stop
    assert "**Decision:** A) Proceed to Strategy Select (by environments.local.auto_proceed (nothing blocks))." in report
    cases = {c.get("name") for c in ET.parse(demo_release.pytester.path / "junit.xml").getroot().iter("testcase")
             if "phase1" in (c.get("classname") or "")}
    assert {"test_acceptance_criteria_met", "test_tracker_tickets_ready", "test_gate_decision"} <= cases  # one result each


# --- 1 and 2: acceptance criteria and the test report ----------------------------------------
def test_an_unmet_criterion_stops_the_release(demo_release):
    ac = demo_release.demo.path / "_docs" / "00_problem" / "acceptance_criteria.md"
    ac.write_text(re.sub(r"^(\| AC-3 .*?\| )met (.*)$", r"\1unmet\2", ac.read_text(), flags=re.M))
    assert "| unmet" in ac.read_text()
    result = demo_release.run("v2")
    report = assert_untouched(demo_release, result, "Aborted: acceptance criteria: AC-3: marked unmet")
    assert "phase1_pre_release_gate.py::test_acceptance_criteria_met FAILED" in result.stdout.str()
    assert "Blocking issues: 1" in report


def test_a_failed_test_behind_a_critical_criterion_stops_the_release_and_all_blocks_are_listed(demo_release):
    junit = demo_release.demo.path / "_docs" / "06_metrics" / "junit.xml"
    junit.write_text(junit.read_text().replace(
        'name="test_health_check_exit_codes" time="2.210" />',
        'name="test_health_check_exit_codes" time="2.210"><failure message="AssertionError: exit 0 for a 503">trace</failure></testcase>',
    ))
    (demo_release.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")  # a second, unrelated block
    result = demo_release.run("v2")
    report = assert_untouched(
        demo_release, result,
        "AC-4: test tests/test_demo_service.py::test_health_check_exit_codes failed: AssertionError: exit 0 for a 503",
        "deploy-script defect",
    )
    assert "Blocking issues: 2" in report  # both listed at once, each its own failed check
    out = result.stdout.str()
    assert "test_acceptance_criteria_met FAILED" in out and "test_deploy_script_supports_rollback FAILED" in out


def test_without_a_functional_test_report_no_criterion_is_proven(demo_release):
    (demo_release.demo.path / "_docs" / "06_metrics" / "junit.xml").unlink()
    result = demo_release.run("v2")
    report = assert_untouched(demo_release, result, "AC-1: no functional test report found to check its tests")
    assert "latest test report no functional test report matches _docs/06_metrics/**/*.xml" in report


def test_a_bad_gate_option_is_a_usage_error_before_anything_runs(demo_release):
    result = demo_release.run("v2", "--release-approved-by=bob|root")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-approved-by='bob|root' is not a name*"])
    assert not demo_release.reports()


def test_the_override_reason_lets_acceptance_findings_pass_and_is_recorded(demo_release):
    ac = demo_release.demo.path / "_docs" / "00_problem" / "acceptance_criteria.md"
    ac.write_text(ac.read_text().replace("| AC-6  |", "| AC-7  | Exports are nightly | unmet | no | |\n| AC-6  |"))
    result = demo_release.run("v2", "--release-override-reason=AC-7 ships next sprint (CHG-42)")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["Released-with-override"])
    assert demo_release.demo.version() == "v2"
    report = demo_release.report()
    assert "AC-7: marked unmet (overridden: AC-7 ships next sprint (CHG-42))" in report
    assert "override: pre-release gate: 2 acceptance finding(s) overridden with --release-override-reason: AC-7 ships next sprint" in report


def test_required_performance_evidence_that_is_missing_stops_the_release(demo_release):
    restrictions = demo_release.demo.path / "_docs" / "00_problem" / "restrictions.md"
    restrictions.write_text(restrictions.read_text().replace("Performance evidence: not required", "- **Performance evidence: required**"))
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "performance evidence: performance evidence is required (_docs/00_problem/restrictions.md requires it) but no report exists")


def test_performance_evidence_older_than_the_last_release_stops_it(demo_release):
    configure(demo_release, "gate: {performance_evidence: required}")
    make_git_history(demo_release, "fix: faster (DEMO-2)")
    perf = demo_release.demo.path / "_docs" / "06_metrics" / "perf_2026-01.md"
    perf.write_text("p99 80 ms\n")
    old = time.time() - 86400 * 30
    os.utime(perf, (old, old))  # written a month ago, before the release/v1 tag (made just now)
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "is not newer than the last release tag release/v1")


# --- 3: the change summary -------------------------------------------------------------------
def test_a_change_summary_that_git_cannot_give_stops_when_required(demo_release):
    demo_release.edit_config(r"^    required: false .*$", "    required: true")
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "change summary: no change summary: ", "is not a git repository")


def test_the_change_summary_is_grouped_by_component_and_kind(demo_release):
    make_git_history(demo_release, "feat(api)!: items need a name (DEMO-2)", "fix: health check timeout (DEMO-3)",
                     "security: escape item names", "docs: typo")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    report = demo_release.report()
    head = git(demo_release.demo.path, "rev-parse", "HEAD").strip()
    assert f"4 commit(s) from `release/v1` to `{head[:12]}`: 2 ticket(s), 2 component(s)." in report
    assert f"| Version | v2 ({head[:12]}) |" in report
    section = report.split("**Changes by component and kind**")[1]
    assert section.index("- **scripts**") < section.index("- **service**")
    assert "  - breaking changes (1)\n    - `" in section and "items need a name (DEMO-2) — DEMO-2 [items_api.md]" in section
    assert "  - fixes (1)" in section and "  - security fixes (1)" in section and "  - other changes (1)" in section
    result.stdout.fnmatch_lines(["*Changes:         2 tickets, 2 components (4 commits since release/v1)",
                                 "*- scripts: 1 fix, 1 other change (DEMO-3)",
                                 "*- service: 1 breaking change, 1 security fix (DEMO-2)"])


# --- 4: rollback readiness -------------------------------------------------------------------
def registry_config(demo_release, url: str) -> None:
    configure(demo_release, f"registry: {{url: '{url}', repository: demo/service}}")


def test_a_missing_rollback_image_stops_the_release(demo_release, registry):
    registry.push_image("demo/service", "v2")  # the new version is there; v1, the rollback target, is not
    registry_config(demo_release, registry.url)
    result = demo_release.run("v2")
    report = assert_untouched(demo_release, result, "the rollback target image ", "demo/service:v1 is not in the registry: no rollback path")
    assert "| yes | sha256:" in report  # the new version's image was found, with its digest


def test_a_registry_authentication_failure_stops_with_a_message_about_credentials(demo_release, registry_htpasswd, monkeypatch):
    registry_config(demo_release, registry_htpasswd.url)
    monkeypatch.setenv("RELEASE_REGISTRY_USERNAME", USERNAME)
    monkeypatch.setenv("RELEASE_REGISTRY_PASSWORD", "not-" + PASSWORD.replace(" ", "-"))
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "authentication failed: check the registry credentials (RELEASE_REGISTRY_USERNAME and RELEASE_REGISTRY_PASSWORD")
    assert "not-correct" not in result.stdout.str() and "not-correct" not in demo_release.report()


def test_both_images_in_the_registry_pass(demo_release, registry):
    registry.push_image("demo/ok", "v1")
    registry.push_image("demo/ok", "v2")
    configure(demo_release, f"registry: {{url: '{registry.url}', repository: demo/ok}}")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    assert demo_release.report().count("| yes | sha256:") == 2


def test_a_deploy_script_without_rollback_is_a_deploy_script_defect(demo_release):
    script = demo_release.demo.path / "scripts" / "deploy.sh"
    script.write_text(script.read_text().replace("--rollback", "--undo"))
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "Aborted: deploy-script defect: ", "does not handle --rollback")


def test_the_rollback_target_comes_from_the_last_released_report(demo_release):
    demo_release.edit_config(r"^    current_version:\n      url: .*\n", "")
    demo_release.release_dir.mkdir(parents=True)
    (demo_release.release_dir / "release_v1_local_2025-12-31-2300.md").write_text("# Release v1 to local\n\n## Verdict\n\n**Released**\n")
    (demo_release.release_dir / "release_v0_local_2025-12-01-2300.md").write_text("# Release v0 to local\n\n## Verdict\n\n**Released**\n")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    assert "| Rollback target | v1 (the last Released report for local) |" in demo_release.reports()[-1].read_text()


def test_a_last_release_that_ended_rollback_failed_gives_no_rollback_target(demo_release):
    demo_release.edit_config(r"^    current_version:\n      url: .*\n", "")
    demo_release.release_dir.mkdir(parents=True)
    (demo_release.release_dir / "release_v1_local_2025-12-31-2300.md").write_text("# Release v1 to local\n\n## Verdict\n\n**Released**\n")
    (demo_release.release_dir / "release_v1b_local_2026-01-01-0000.md").write_text("# Release v1b to local\n\n## Verdict\n\n**Rollback-Failed**: x\n")
    result = demo_release.run("v2")
    out = result.stdout.str()
    assert result.ret == 11, out
    assert "ended Rollback-Failed, so what serves is unknown" in out
    assert demo_release.demo.version() == "v1"


# --- 5: restrictions -------------------------------------------------------------------------
def test_outside_the_change_window_the_release_stops_with_the_next_opening(demo_release):
    # The simulated clock starts at 2026-01-01 00:00 UTC, a Thursday: 01:00 in Berlin.
    configure(demo_release, """
        gate:
          change_windows:
            timezone: Europe/Berlin
            open: [{days: mon-thu, from: '09:00', to: '16:00'}]
    """)
    result = demo_release.run("v2")
    assert_untouched(
        demo_release, result,
        "change window: outside the change windows (Mon-Thu 09:00-16:00 Europe/Berlin): releases are closed now; "
        "next opening Thu 2026-01-01 09:00 CET (2026-01-01 08:00 UTC)",
    )


def test_a_freeze_stops_the_release_until_it_ends(demo_release):
    configure(demo_release, """
        gate:
          change_windows:
            freezes: [{from: 2025-12-20, to: 2026-01-04, reason: year-end freeze}]
    """)
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "change freeze 2025-12-20 00:00 to 2026-01-05 00:00: year-end freeze", "next opening Mon 2026-01-05 00:00 UTC")


def test_required_approvals_that_are_missing_stop_the_release(demo_release):
    configure(demo_release, "gate: {approvals: {required: 2}}")
    result = demo_release.run("v2", "--release-by=alice")
    assert_untouched(demo_release, result, "approvals: 2 approval(s) required, none given: pass --release-approved-by=NAME[,NAME]")
    assert not (demo_release.release_dir / "manual_approvals").exists()


def test_four_eyes_refuses_the_releasers_own_approval_and_a_repeated_name(demo_release):
    configure(demo_release, "gate: {approvals: {required: 2}}")
    result = demo_release.run("v2", "--release-by=alice", "--release-approved-by=Alice,bob", "--release-approved-by=bob")
    assert_untouched(
        demo_release, result,
        "2 approval(s) required, 1 valid given",
        "Alice is releasing this version and cannot approve it (four-eyes)",
        "bob is named twice: four-eyes needs distinct approvers",
    )


def test_without_auto_proceed_the_gate_asks_and_in_ci_confirm_and_approvals_answer_it(demo_release):
    """Production environments ask by default (auto_proceed is off unless configured); in CI
    --release-confirm answers, --release-approved-by gives the approvals, and the approval file
    is written in phase 1, before anything is deployed."""
    demo_release.edit_config(r"^    auto_proceed: true.*$", "")
    configure(demo_release, "gate: {approvals: {required: 1, approvers: [bob, carol]}}")
    unanswered = demo_release.run("v2", "--release-by=alice", "--release-approved-by=bob")
    assert_untouched(
        demo_release, unanswered,
        "the pre-release gate needs an answer and nobody can be asked here: pass --release-confirm to proceed (A)",
        "--release-exclude-ticket=KEY to edit the scope (C)",
    )
    assert not (demo_release.release_dir / "manual_approvals").exists()  # not written for an aborted gate
    for report in demo_release.reports():
        report.unlink()
    result = demo_release.run("v2", "--release-by=alice", "--release-approved-by=bob", "--release-confirm")
    assert result.ret == 0, result.stdout.str()
    approval = (demo_release.release_dir / "manual_approvals" / "approval_v2_local.md").read_text()
    assert approval.startswith("# Approval of v2 to local")
    for row in ("| Released by | alice (--release-by) |", "| Approved by | bob |", "| Approvals required | 1 (four-eyes) |",
                "| Given through | --release-approved-by |", "| Gate decision | A) proceed, by --release-confirm |"):
        assert row in approval
    report = demo_release.report()
    assert "**Approval recorded:** `_docs/04_release/manual_approvals/approval_v2_local.md`." in report
    # written in phase 1, before phase 3 started
    assert report.index("**Approval recorded:**") < report.index("## Phase 3: Execute")


def test_an_approver_outside_the_list_does_not_count(demo_release):
    configure(demo_release, "gate: {approvals: {required: 1, approvers: [bob]}}")
    result = demo_release.run("v2", "--release-by=alice", "--release-approved-by=mallory")
    assert_untouched(demo_release, result, "mallory is not an approver here (approvers: bob)")


# --- 6: the tracker --------------------------------------------------------------------------
def test_a_ticket_still_in_progress_blocks_and_excluding_it_lets_the_release_through(demo_release):
    make_git_history(demo_release, "feat: items API (DEMO-2)", "feat: half-done search (DEMO-4)", "fix: review pending (DEMO-5)")
    tracker = demo_release.demo.path / "_docs" / "tracker.yaml"
    tracker.write_text(tracker.read_text() + "DEMO-4: In Progress\nDEMO-5: Code Review\n")
    result = demo_release.run("v2")
    assert_untouched(
        demo_release, result,
        "DEMO-4 is In Progress: finish it first (move-and-deploy is not allowed)",
        "DEMO-5 is Code Review",
    )
    for report in demo_release.reports():
        report.unlink()
    result = demo_release.run("v2", "--release-exclude-ticket=DEMO-4", "--release-exclude-ticket=DEMO-5")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Changes:         1 ticket, 2 components*", "*  tickets: DEMO-2",
                                 "*  excluded: DEMO-4 (by --release-exclude-ticket)"])
    report = demo_release.report()
    assert "DEMO-4 (excluded)" in report


def test_an_unknown_ticket_blocks(demo_release):
    make_git_history(demo_release, "feat: something (DEMO-77)")
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "ticket DEMO-77 is not in ", "exclude it from the release scope if it is not a ticket")


def jira_config(demo_release, url: str) -> None:
    text = demo_release.config.read_text()
    text = text.replace("tracker:\n  backend: file               # ticket statuses in a YAML file; `jira` asks Jira's REST API\n  path: _docs/tracker.yaml\n",
                        f"tracker: {{backend: jira, url: '{url}'}}\n")
    assert "backend: jira" in text
    demo_release.config.write_text(text)
    configure(demo_release, "gate: {changes: {ticket_pattern: 'SHOP-\\d+'}}")


def test_jira_statuses_are_checked_and_code_review_blocks(demo_release, jira_server, monkeypatch):
    monkeypatch.setenv("RELEASE_TRACKER_USERNAME", JIRA_EMAIL)
    monkeypatch.setenv("RELEASE_TRACKER_TOKEN", JIRA_TOKEN)
    jira_config(demo_release, jira_server.url)
    make_git_history(demo_release, "feat: cart (SHOP-1)", "fix: totals (SHOP-3)")
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "SHOP-3 is Code Review")
    asked = sorted(p for m, p, _, _ in jira_server.requests if m == "GET")
    assert asked == ["/rest/api/2/issue/SHOP-1", "/rest/api/2/issue/SHOP-3"]
    assert JIRA_TOKEN not in result.stdout.str() and JIRA_TOKEN not in demo_release.report()


@pytest.mark.parametrize("problem", ["unauthorized", "unreachable"])
def test_an_unauthorized_or_unreachable_tracker_stops_and_leaves_a_leftover(demo_release, jira_server, monkeypatch, problem):
    if problem == "unauthorized":
        monkeypatch.setenv("RELEASE_TRACKER_TOKEN", "expired-token")
        url, expected = jira_server.url, "answered HTTP 401 (the credentials were refused): set RELEASE_TRACKER_USERNAME and RELEASE_TRACKER_TOKEN"
    else:
        from tests.support.demo import free_port

        url, expected = f"http://127.0.0.1:{free_port()}", "is unreachable (connection refused): check tracker.url"
    jira_config(demo_release, url)
    make_git_history(demo_release, "feat: cart (SHOP-1)")
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, expected)
    (leftover,) = (demo_release.demo.path / "_docs" / "_process_leftovers").glob("*.md")
    text = leftover.read_text()
    assert leftover.name.endswith("_tracker-v2-local.md")
    assert expected in text and "nothing was deployed and no ticket was moved" in text
    assert "expired-token" not in text and "expired-token" not in result.stdout.str()


# --- 7: a person at a terminal ---------------------------------------------------------------
def run_at_terminal(demo_release, answers: list[tuple[str, str]], *extra: str) -> tuple[int, str]:
    """Run the release on a pseudo-terminal and answer each prompt (`expected text`, answer)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a release whose stdin and stdout are the terminal
        os.chdir(demo_release.pytester.path)
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
        os.execve(sys.executable, [sys.executable, "-m", "pytest", *demo_release.args("v2", *extra)], env)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if pending and pending[0][0].encode() in output.split(b"\x00ANSWERED\x00")[-1]:
            os.write(fd, (pending.pop(0)[1] + "\n").encode())
            output += b"\x00ANSWERED\x00"
    _, status = os.waitpid(pid, 0)
    text = output.replace(b"\x00ANSWERED\x00", b"").decode(errors="replace").replace("\r\n", "\n")
    assert not pending, f"never asked {pending[0][0]!r}:\n{text}"
    return os.waitstatus_to_exitcode(status), text


def test_a_person_approves_and_excludes_the_blocking_ticket_at_the_gate_and_then_proceeds(demo_release):
    make_git_history(demo_release, "feat: items (DEMO-2)", "feat: wip (DEMO-4)")
    tracker = demo_release.demo.path / "_docs" / "tracker.yaml"
    tracker.write_text(tracker.read_text() + "DEMO-4: In Progress\n")
    configure(demo_release, "gate: {approvals: {required: 1}}")
    code, out = run_at_terminal(
        demo_release,
        [
            ("(four-eyes: not alice). Approved by (names, comma-separated):", "bob"),
            ("Answer [B/C]:", "C"),
            ("Ticket to exclude from the release scope (DEMO-2, DEMO-4):", "DEMO-4"),
        ],
        "--release-by=alice",
    )
    assert code == 0, out
    approval = (demo_release.release_dir / "manual_approvals" / "approval_v2_local.md").read_text()
    assert "| Approved by | bob |" in approval and "| Given through | typed at the terminal by alice |" in approval
    assert "| Scope | 1 ticket(s): DEMO-2 |" in approval
    assert "DEMO-4 is In Progress" in out  # shown as blocking at the first gate summary
    assert "excluded: DEMO-4 (by" in out and "Blocking issues: none" in out
    report = demo_release.report()
    assert "**Scope edited (C):** DEMO-4 excluded by" in report
    assert re.search(r"\*\*Decision:\*\* A\) Proceed to Strategy Select \(by environments.local.auto_proceed", report)
    assert demo_release.demo.version() == "v2"


def test_a_person_aborts_at_the_gate(demo_release):
    demo_release.edit_config(r"^    auto_proceed: true.*$", "")
    code, out = run_at_terminal(demo_release, [("Answer [A/B]:", "B")])
    assert code == 11, out
    assert "Aborted: aborted at the pre-release gate by" in out
    assert demo_release.demo.version() == "v1"


def _break_inputs(demo, how: str) -> None:
    docs = demo.path / "_docs"
    if how == "criteria file missing":
        (docs / "00_problem" / "acceptance_criteria.md").unlink()
    elif how == "criteria file malformed":
        ac = docs / "00_problem" / "acceptance_criteria.md"
        ac.write_text(re.sub(r"^\| AC-3\s*\| ", "|  | ", ac.read_text(), count=1, flags=re.M))
    elif how == "criterion lists no test":
        ac = docs / "00_problem" / "acceptance_criteria.md"
        ac.write_text(re.sub(r"^(\| AC-3\s*\|.*\| )tests/[^|]*(\|)\s*$", r"\1 \2", ac.read_text(), count=1, flags=re.M))
    elif how == "hostile test report":
        (docs / "06_metrics" / "junit.xml").write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n'
            "<testsuites><testsuite name='x'><testcase classname='a' name='&lol2;'/></testsuite></testsuites>\n"
        )
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how, reason",
    [
        ("criteria file missing", "acceptance_criteria.md"),
        ("criteria file malformed", "acceptance_criteria.md:"),
        ("criterion lists no test", "AC-3"),
        ("hostile test report", "junit.xml"),
    ],
)
def test_every_broken_gate_input_stops_the_release_before_anything_is_deployed(demo_release, how, reason):
    _break_inputs(demo_release.demo, how)
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, reason)
    assert "phase1_pre_release_gate.py::" in result.stdout.str() and " FAILED" in result.stdout.str()


def test_an_unreachable_registry_stops_the_release_before_anything_is_deployed(demo_release):
    from tests.support.demo import free_port

    registry_config(demo_release, f"http://127.0.0.1:{free_port()}")
    result = demo_release.run("v2")
    assert_untouched(demo_release, result, "registry unreachable")
