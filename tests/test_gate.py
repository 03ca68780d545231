"""The pre-release gate's rules, without I/O: evidence in, findings with blocking flags out, the
A/B/C summary and who answers it. Also the gate's release.yaml keys and command-line options."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from pytest_release.adapters.acceptance import Criterion, evaluate_criteria
from pytest_release.adapters.git import ChangeSummary, Commit
from pytest_release.adapters.junit import TestReport, TestResult
from pytest_release.adapters.registry import ImageCheck
from pytest_release.config import ConfigError, load_config
from pytest_release.core import gate
from pytest_release.core.gate import Finding, GateOptions, TicketProblem
from pytest_release.core.restrictions import (
    ApprovalPolicy,
    ChangeCalendar,
    WeeklySpan,
    check_approvals,
)

UTC = dt.timezone.utc


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


# --- overrides -------------------------------------------------------------------------------
def test_an_override_reason_lifts_only_overridable_blocking_findings():
    findings = [
        Finding("acceptance", "AC-1: marked unmet", overridable=True),
        Finding("acceptance", "stale report", blocking=False, overridable=True),
        Finding("window", "closed"),
    ]
    assert gate.apply_override(findings, None) == findings
    after = gate.apply_override(findings, "hotfix for INC-7")
    assert [(f.blocking, f.overridden) for f in after] == [(False, "hotfix for INC-7"), (False, None), (True, None)]
    assert after[0].describe() == "AC-1: marked unmet (overridden: hotfix for INC-7)"
    assert gate.blocking(after) == [findings[2]]


# --- acceptance criteria and test reports ----------------------------------------------------
def report(*results: TestResult) -> TestReport:
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "error", "skipped")}
    return TestReport(Path("junit.xml"), tuple(results), {**counts, "total": len(results)}, None)


def criterion(ident: str, *tests: str, met: bool = True, critical: bool = True) -> Criterion:
    return Criterion(ident, "text", met, critical, tests, 1)


def test_acceptance_findings_keep_the_criteria_rules_and_are_overridable():
    criteria = [
        criterion("AC-1", "t.test_a"),
        criterion("AC-2", "t.test_b", met=False),
        criterion("AC-3", "t.test_c", "t.test_d", critical=False),
        criterion("AC-4", "t.test_e"),
    ]
    results = report(
        TestResult("t", "test_a", "passed"),
        TestResult("t", "test_b", "passed"),
        TestResult("t", "test_c", "passed"),
        TestResult("t", "test_d", "skipped", "no db"),
        TestResult("t", "test_e", "failed", "boom"),
    )
    findings = gate.acceptance_findings(evaluate_criteria(criteria, results))
    assert [(f.message, f.blocking, f.overridable) for f in findings] == [
        ("AC-2: marked unmet", True, True),
        ("AC-3: test t.test_d skipped: no db", False, True),  # non-critical, another test passed: a risk
        ("AC-4: test t.test_e failed: boom", True, True),
    ]


def test_a_test_report_older_than_head_is_an_open_risk():
    assert gate.stale_report_finding(at(2), at(1), "junit.xml") == []
    assert gate.stale_report_finding(None, at(1), "junit.xml") == []
    (finding,) = gate.stale_report_finding(at(1), at(2), "junit.xml")
    assert not finding.blocking
    assert finding.message == "the test report junit.xml (2026-01-01 00:00 UTC) is older than the HEAD commit (2026-01-02 00:00 UTC): it may not cover the version being released"


def test_performance_evidence_rules():
    assert gate.performance_findings(False, "optional", None, None) == []
    (missing,) = gate.performance_findings(True, "restrictions.md requires it", None, None)
    assert missing.blocking and missing.overridable and "no report exists" in missing.message
    assert gate.performance_findings(True, "x", ("perf_2.md", at(3)), ("tag release/v1", at(2))) == []
    assert gate.performance_findings(True, "x", ("perf_2.md", at(3)), None) == []  # first release: exists is enough
    (old,) = gate.performance_findings(True, "x", ("perf_1.md", at(2)), ("tag release/v1", at(2)))
    assert old.message == "the latest performance report perf_1.md (2026-01-02 00:00 UTC) is not newer than the last release tag release/v1 (2026-01-02 00:00 UTC): measure this version"


# --- the change summary ----------------------------------------------------------------------
def commit(sha: str, subject: str, kind: str, tickets: tuple[str, ...] = ()) -> Commit:
    return Commit(sha * 40, subject, "", "Dev <dev@example.com>", ("x",), kind, tickets)


def summary(commits: tuple[Commit, ...] = (), **kw) -> ChangeSummary:
    by_component = kw.pop("by_component", {})
    tickets = tuple(sorted({t for c in commits for t in c.tickets}))
    return ChangeSummary(base=kw.pop("base", "release/v1"), head_sha="f" * 40, commits=commits, by_component=by_component,
                         tickets=tickets, components=tuple(by_component), **kw)


def test_change_findings():
    (blocking,) = gate.change_findings(None, "/x is not a git repository", True)
    assert blocking.blocking and "set gate.changes.required: false" in blocking.message
    (risk,) = gate.change_findings(None, "/x is not a git repository", False)
    assert not risk.blocking and risk.message == "no change summary: /x is not a git repository"
    one = (commit("a", "feat: x", "feature", ("P-1",)),)
    assert gate.change_findings(summary(one), None, True) == []
    findings = gate.change_findings(summary((), shallow=True), None, True)
    assert [f.blocking for f in findings] == [False, False]
    assert "shallow" in findings[0].message and findings[1].message == "no commit since release/v1: this release changes nothing in the code"
    (no_report,) = gate.change_findings(summary(one, tickets_without_report=("P-1",)), None, True)
    assert no_report.message == "no implementation report mentions P-1" and not no_report.blocking


# --- rollback readiness ----------------------------------------------------------------------
def test_image_findings_say_which_image_and_what_to_do():
    found = ImageCheck("r/app:v2", True, "sha256:" + "a" * 64, None)
    assert gate.image_findings([("new version", found)]) == []
    findings = gate.image_findings([
        ("new version", ImageCheck("r/app:v3", False, None, "not found")),
        ("rollback target", ImageCheck("r/app:v2", False, None, "not found")),
        ("rollback target", ImageCheck("r/app:v1", False, None, "authentication failed: check the registry credentials (X): HTTP 401")),
    ])
    assert [f.message for f in findings] == [
        "the new version image r/app:v3 is not in the registry: push it before releasing",
        "the rollback target image r/app:v2 is not in the registry: no rollback path: push it again or choose another --release-rollback-to",
        "the rollback target image r/app:v1 could not be checked: authentication failed: check the registry credentials (X): HTTP 401",
    ]
    assert all(f.blocking and not f.overridable for f in findings)


# --- restrictions ----------------------------------------------------------------------------
def test_a_closed_window_blocks_with_the_next_opening():
    calendar = ChangeCalendar("UTC", windows=(WeeklySpan(frozenset({0}), 600, 660),))
    assert gate.window_findings(calendar.decide(at(5, 10)), "UTC") == []  # Monday 10:00
    (closed,) = gate.window_findings(calendar.decide(at(5, 12)), "UTC")
    assert closed.blocking and not closed.overridable
    assert closed.message == "outside the change windows (Mon 10:00-11:00 UTC): releases are closed now; next opening Mon 2026-01-12 10:00 UTC"


def test_approval_findings_carry_the_hint_once():
    decision = check_approvals(ApprovalPolicy(required=2), "alice", [])
    (finding,) = gate.approval_findings(decision, ": pass --release-approved-by=NAME[,NAME]")
    assert finding.message == "2 approval(s) required, none given: pass --release-approved-by=NAME[,NAME]"
    assert gate.approval_findings(check_approvals(ApprovalPolicy(required=1), "a", ["b"]), "x") == []


# --- the tracker -----------------------------------------------------------------------------
def test_tickets_in_progress_or_in_review_block_and_can_be_excluded():
    statuses = {"P-1": "Ready for Release", "P-2": "in progress", "P-3": "Code Review",
                "P-4": TicketProblem("unknown", "ticket P-4 does not exist")}
    scope = gate.in_scope(["P-1", "P-2", "P-3", "P-4"], {"P-3": "--release-exclude-ticket"})
    assert scope == ("P-1", "P-2", "P-4")
    findings = gate.tracker_findings(statuses, scope, ["In Progress", "Code Review"])
    assert [(f.ticket, f.blocking) for f in findings] == [("P-2", True), ("P-4", True)]
    assert findings[0].message == "P-2 is in progress: finish it first (move-and-deploy is not allowed), or exclude it from the scope"


def test_a_tracker_that_cannot_be_asked_is_not_resolved_by_excluding_a_ticket():
    findings = gate.tracker_findings({"P-1": TicketProblem("unauthorized", "401")}, ["P-1"], ["In Progress"])
    assert [(f.ticket, f.blocking) for f in findings] == [(None, True)]


# --- the gate summary and the decision -------------------------------------------------------
def test_the_summary_is_the_runbooks_box_with_changes_per_component():
    feat = commit("a", "feat: cart", "feature", ("SHOP-1",))
    fix = commit("b", "fix: total", "fix", ("SHOP-2",))
    brk = commit("c", "feat!: v2 api", "breaking", ("SHOP-3",))
    changes = summary((brk, fix, feat), by_component={"api": {"breaking": (brk,), "feature": (feat,)}, "web": {"fix": (fix,)}})
    box = gate.GateSummary(
        env="prod", kind="production", version="v2", git_sha="0123456789abcdef", rollback_target="v1",
        changes=changes, scope=("SHOP-1", "SHOP-2"), excluded={"SHOP-3": "--release-exclude-ticket"},
        risks=("the clone is shallow",), blocking=(), choices=gate.menu(False, True),
    ).lines()
    assert box[1] == "PRE-RELEASE GATE"
    assert box[3:14] == [
        "Target env:      prod (production)",
        "Target version:  v2 (0123456789ab)",
        "Rollback target: v1",
        "Changes:         2 tickets, 2 components (3 commits since release/v1)",
        "  - api: 1 breaking change, 1 feature (SHOP-1)",
        "  - web: 1 fix (SHOP-2)",
        "  tickets: SHOP-1, SHOP-2",
        "  excluded: SHOP-3 (by --release-exclude-ticket)",
        "Open risks:      1",
        "  - the clone is shallow",
        "Blocking issues: none",
    ]
    assert box[-4:-1] == [
        "A) Proceed to Strategy Select",
        "B) Abort: fix the blocking issue and re-invoke",
        "C) Edit release scope: exclude a ticket and reassemble",
    ]


def test_the_summary_of_a_first_release_and_of_no_change_summary():
    first = gate.GateSummary("s", "staging", "v1", None, None, summary((commit("a", "init", "other"),), base=None), (), {}, (), ("x",))
    assert "Changes:         0 tickets, 0 components (1 commit since the root commit (first release))" in first.lines()
    unknown = gate.GateSummary("s", "staging", "v1", None, None, None, (), {}, (), ("no rollback target",))
    lines = unknown.lines()
    assert "Target version:  v1 (no git sha)" in lines and "Changes:         unknown (no change summary)" in lines
    assert "Blocking issues: 1" in lines and "  - no rollback target" in lines


def test_the_menu_offers_no_proceed_while_something_blocks_and_no_scope_edit_without_tickets():
    assert list(gate.menu(False, True)) == ["A", "B", "C"]
    assert list(gate.menu(True, True)) == ["B", "C"]
    assert list(gate.menu(False, False)) == ["A", "B"]


@pytest.mark.parametrize(
    "blocking, resolvable, confirm, auto, person, expected",
    [
        (False, False, True, False, False, ("A", "--release-confirm")),
        (False, False, False, True, False, ("A", "environments.prod.auto_proceed (nothing blocks)")),
        (False, False, False, False, True, None),  # a person decides
        (False, False, False, False, False, None),  # nobody: the caller aborts, naming the options
        (True, False, True, True, True, ("B", "the gate, because something blocks")),  # confirm cannot proceed past a block
        (True, True, False, True, False, ("B", "the gate, because something blocks")),  # CI: exclusions come from options
        (True, True, False, True, True, None),  # a person may exclude the blocking tickets (C)
        (True, True, True, False, True, ("B", "the gate, because something blocks")),
    ],
)
def test_who_answers_the_gate(blocking, resolvable, confirm, auto, person, expected):
    answer = gate.automatic_answer(has_blocking=blocking, resolvable=resolvable, confirm=confirm, auto_proceed=auto, env="prod", person=person)
    assert (answer and (answer.letter, answer.by)) == expected


def test_with_no_answer_the_message_names_every_option():
    message = gate.no_answer_message("prod")
    for option in ("--release-confirm", "--release-exclude-ticket=KEY", "environments.prod.auto_proceed: true", "(A)", "(B)", "(C)"):
        assert option in message


# --- options ---------------------------------------------------------------------------------
def test_gate_options_take_comma_lists_and_repeats():
    options = GateOptions.from_values(["bob, carol", "dave"], ["SHOP-1,SHOP-2", "SHOP-1"], "alice")
    assert options == GateOptions(("bob", "carol", "dave"), ("SHOP-1", "SHOP-2"), "alice")
    assert GateOptions.from_values(None, None, None) == GateOptions()


@pytest.mark.parametrize(
    "approved, exclude, by, message",
    [
        (["bob,"], None, None, "--release-approved-by='' is not a name"),
        (["bob|admin"], None, None, "--release-approved-by='bob|admin' is not a name"),
        (None, ["../etc"], None, "--release-exclude-ticket='../etc' is not a ticket key"),
        (None, None, "`whoami`", "--release-by='`whoami`' is not a name"),
    ],
)
def test_bad_gate_options_name_the_option(approved, exclude, by, message):
    with pytest.raises(ValueError, match=message.replace("|", r"\|").replace("(", r"\(")):
        GateOptions.from_values(approved, exclude, by)


def test_the_releaser_is_the_option_then_the_ci_actor_then_the_login():
    assert gate.releaser_identity("alice", {"GITHUB_ACTOR": "bot"}, "root") == ("alice", "--release-by")
    assert gate.releaser_identity(None, {"GITHUB_ACTOR": "octocat", "USER": "runner"}, "root") == ("octocat", "$GITHUB_ACTOR")
    assert gate.releaser_identity(None, {"GITLAB_USER_LOGIN": "tanuki"}, "root") == ("tanuki", "$GITLAB_USER_LOGIN")
    assert gate.releaser_identity(None, {"USER": "dana"}, "root") == ("dana", "$USER")
    assert gate.releaser_identity(None, {}, "root") == ("root", "the login name")


# --- release.yaml ----------------------------------------------------------------------------
def load(tmp_path: Path, text: str):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, environ={})


def test_gate_defaults_follow_the_docs_convention(tmp_path):
    config = load(tmp_path, "environments:\n  staging: {}\n  production: {}\n")
    staging, production = config.environment("staging"), config.environment("production")
    g = staging.gate
    assert g.acceptance_criteria == "_docs/00_problem/acceptance_criteria.md"
    assert g.test_reports == ("_docs/06_metrics/**/*.xml",) and g.flaky == "risk"
    assert g.restrictions == "_docs/00_problem/restrictions.md" and g.performance_evidence == "auto"
    assert g.perf_reports == "_docs/06_metrics/perf_*.md" and g.implementation_reports == "_docs/03_implementation"
    assert g.changes.tag_pattern is None and g.changes.required and g.changes.paths == ()
    assert g.change_windows.empty and g.approvals.required == 0 and g.approvals.four_eyes
    assert staging.registry is None and config.tracker is None
    assert staging.current_version_source == "report"  # no url: the last Released report
    assert not production.auto_proceed  # production asks by default


def test_gate_sections_merge_from_the_top_level_into_each_environment(tmp_path):
    config = load(tmp_path, r"""
        gate:
          test_reports: [build/test-results/**/*.xml, target/surefire-reports/TEST-*.xml]
          changes: {ticket_pattern: 'SHOP-\d+', components: {services/api: api, 'web/*': web}}
          approvals: {required: 1}
          flaky: block
        registry: {url: 'https://registry.example.com', repository: acme/shop}
        environments:
          staging:
            current_version: {url: 'https://s.example.com/version'}
          production:
            gate: {approvals: {required: 2, approvers: [bob, carol]}, performance_evidence: required}
            registry: {repository: acme/shop-prod, credentials_env: PROD_REGISTRY}
    """)
    staging, production = config.environment("staging"), config.environment("production")
    assert staging.gate.approvals.required == 1 and production.gate.approvals == ApprovalPolicy(2, True, ("bob", "carol"))
    assert production.gate.changes.ticket_pattern == r"SHOP-\d+" and production.gate.test_reports[1] == "target/surefire-reports/TEST-*.xml"
    assert production.gate.performance_evidence == "required" and staging.gate.performance_evidence == "auto"
    assert staging.gate.flaky == production.gate.flaky == "block"
    assert staging.registry.repository == "acme/shop" and staging.registry.credentials_env == "RELEASE_REGISTRY"
    assert production.registry.url == "https://registry.example.com" and production.registry.repository == "acme/shop-prod"
    assert production.registry.credentials_env == "PROD_REGISTRY"
    assert staging.current_version_source == "url"


@pytest.mark.parametrize(
    "text, message",
    [
        ("gate: {changes: {ticket_pattern: '(SHOP-\\d+'}}", r"gate.changes.ticket_pattern: not a valid regular expression"),
        ("gate: {changes: {ticket_pattern: '(SHOP)-\\d+'}}", r"gate.changes.ticket_pattern: use non-capturing groups"),
        ("gate: {changes: {components: [api]}}", r"gate.changes.components: expected a mapping of path prefixes"),
        ("gate: {changes: {tag_pattern: 'release v*'}}", r"gate.changes.tag_pattern: expected a tag glob"),
        ("gate: {performance_evidence: sometimes}", r"gate.performance_evidence: expected auto"),
        ("gate: {flaky: ignore}", r"gate.flaky: expected risk \(a pass after a retry counts, shown as an open risk\) or block, got 'ignore'"),
        ("gate: {flaky: [block]}", r"gate.flaky: "),
        ("gate: {test_reports: []}", r"gate.test_reports: expected one or more globs of JUnit XML files"),
        ("gate: {test_reports: ['  ']}", r"gate.test_reports: expected one or more globs"),
        ("gate: {test_reports: {a: b}}", r"gate.test_reports: expected a list of strings"),
        ("gate: {acceptance: x.md}", r"gate.acceptance: unknown key \(did you mean 'acceptance_criteria'\?\)"),
        ("registry: {url: 'https://r.example.com'}", r"registry.repository: the image repository is required"),
        ("registry: {url: 'https://r.example.com', repository: Acme/Shop}", r"registry.repository: invalid repository name 'Acme/Shop'"),
        ("registry: {url: 'https://u:p@r.example.com', repository: acme/shop}", r"registry.url: must not carry credentials"),
        ("current_version: {source: guess}", r"current_version.source: expected url"),
        ("current_version: {source: url}", r"current_version.source: source url needs current_version.url"),
    ],
)
def test_bad_gate_config_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"release.yaml:\d+: environments.s." + message):
        load(tmp_path, f"{text}\nenvironments:\n  s: {{}}\n")
