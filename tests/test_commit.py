"""Phase 6's bookkeeping: tracker tickets, the release tag, retrospectives, leftovers and the
self-verification checklist, as each verdict demands.

The decisions are pure and tested with plain values; the rest runs real releases of the demo
service (a pytest subprocess each, simulated clock) in a real git repository with the file
tracker, and checks what is on disk afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_release.config import ConfigError, TagSettings, load_config
from pytest_release.core import selfcheck
from pytest_release.core.release import Verdict
from pytest_release.core.tags import check_tag_pattern, tag_name
from pytest_release.phases.commit.bookkeeping import decide_tag, plan_for
from tests.support.jira_server import JIRA_PAT

REPO = Path(__file__).resolve().parents[1]
GIT_IDENTITY = ("-c", "user.name=Release Tester", "-c", "user.email=release@example.invalid", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false")


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *GIT_IDENTITY, "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def make_repo(path: Path) -> None:
    """`path` as the top level of a git repository with two ticketed commits."""
    git(path, "init", "-q", "-b", "main")
    (path / ".gitignore").write_text(".demo-state/\n_docs/04_release/\n_docs/_process_leftovers/\n.env\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "feat(items): DEMO-1 list items")
    (path / "CHANGES.txt").write_text("fix for DEMO-2\n")
    git(path, "add", "CHANGES.txt")
    git(path, "commit", "-q", "-m", "fix: DEMO-2 keep item names")


def write_tracker(path: Path, tickets: dict[str, str]) -> Path:
    tracker = path / "_docs" / "tracker.yaml"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text("".join(f"{key}: {status}\n" for key, status in tickets.items()))
    return tracker


@pytest.fixture(autouse=True)
def git_identity(monkeypatch):
    """The tagger of the release tag (CI machines often have no git identity configured)."""
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Release Bot")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "release-bot@example.invalid")


def statuses(tracker: Path) -> dict[str, str]:
    return yaml.safe_load(tracker.read_text())


def self_check_lines(report: str) -> list[str]:
    section = report.split("### Self-verification", 1)[1]
    return [line for line in section.splitlines() if line.startswith("- [")]


# --- pure decisions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("verdict", "tickets", "tag", "retros"),
    [
        (Verdict.RELEASED, "Released", True, ("cycle",)),
        (Verdict.RELEASED_WITH_OVERRIDE, "Released", True, ("cycle", "incident")),
        (Verdict.ROLLED_BACK, "Ready for Release", False, ("incident",)),
        (Verdict.ROLLBACK_FAILED, None, False, ("incident",)),
        (Verdict.ABORTED, None, False, ()),
    ],
)
def test_each_verdict_demands_its_own_bookkeeping(verdict, tickets, tag, retros):
    plan = plan_for(verdict, standalone=False, released_status="Released", ready_status="Ready for Release")
    assert (plan.ticket_status, plan.tag, plan.retrospectives) == (tickets, tag, retros)
    standalone = plan_for(verdict, standalone=True, released_status="Released", ready_status="Ready for Release")
    assert (standalone.ticket_status, standalone.tag, standalone.retrospectives) == (None, False, ())


def test_the_configured_status_names_are_the_targets():
    plan = plan_for(Verdict.RELEASED, standalone=False, released_status="Done", ready_status="Ready")
    assert plan.ticket_status == "Done"
    assert plan_for(Verdict.ROLLED_BACK, standalone=False, released_status="Done", ready_status="Ready").ticket_status == "Ready"


def test_auto_tagging_tags_only_a_projects_own_repository(tmp_path):
    root = tmp_path / "service"
    auto = TagSettings()
    assert decide_tag(auto, version="v2", env="prod", root=root, toplevel=root).make
    inside = decide_tag(auto, version="v2", env="prod", root=root, toplevel=tmp_path)
    assert not inside.make and "not the top level of its git work tree" in inside.reason
    outside = decide_tag(auto, version="v2", env="prod", root=root, toplevel=None, toplevel_error="not a git repository")
    assert not outside.make and "not in a git work tree" in outside.reason
    assert decide_tag(TagSettings(enabled="true"), version="v2", env="prod", root=root, toplevel=tmp_path).make
    off = decide_tag(TagSettings(enabled="false"), version="v2", env="prod", root=root, toplevel=root)
    assert not off.make and "tag.enabled: false" in off.reason
    only_prod = TagSettings(environments=("prod",))
    assert decide_tag(only_prod, version="v2", env="prod", root=root, toplevel=root).make
    assert not decide_tag(only_prod, version="v2", env="staging", root=root, toplevel=root).make


def test_the_demo_in_the_source_tree_never_tags_the_projects_repository():
    demo = REPO / "examples" / "demo"
    config = load_config(demo / "release.yaml", environ={"DEMO_PORT": "8711"})
    toplevel = Path(git(REPO, "rev-parse", "--show-toplevel").strip())
    decision = decide_tag(config.tag, version="v2", env="local", root=config.root, toplevel=toplevel)
    assert not decision.make, decision
    assert config.tag.enabled == "auto"


def test_tag_patterns():
    assert tag_name("release/{version}", "v2", "prod") == "release/v2"
    assert tag_name("{env}/v{version}", "2.1", "prod") == "prod/v2.1"
    for bad, words in [
        ("release/x", "must contain {version}"),
        ("release/{build}", "unknown placeholder {build}"),
        ("rel ease/{version}", "valid git tag name"),
        ("release/{version}.lock", "valid git tag name"),
        ("release/{version", "not a valid tag pattern"),
    ]:
        with pytest.raises(ValueError, match=words.replace("{", r"\{").replace("}", r"\}")):
            check_tag_pattern(bad)


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        ("tag: {enabled: sometimes}", "tag.enabled: expected auto, true or false"),
        ("tag: {pattern: 'release/{build}'}", "tag.pattern: unknown placeholder"),
        ("tag: {push: yes please}", "tag.push: expected true or false"),
        ("tag: {environments: [prod]}", "tag.environments: no environment named 'prod'"),
        ("tag: {enabled: true, pushh: true}", "tag.pushh: unknown key (did you mean 'push'?)"),
    ],
)
def test_bad_tag_settings_name_the_file_and_key(tmp_path, yaml_text, where):
    path = tmp_path / "release.yaml"
    path.write_text(f"environments:\n  staging: {{}}\n{yaml_text}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_tag_settings_are_read(tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text("environments:\n  staging: {}\n  prod: {}\ntag: {enabled: true, pattern: 'deploy/{env}/{version}', push: true, remote: upstream, environments: [prod]}\n")
    tag = load_config(path).tag
    assert tag == TagSettings(enabled="true", pattern="deploy/{env}/{version}", push=True, remote="upstream", environments=("prod",))
    path.write_text("environments:\n  staging: {}\n")
    assert load_config(path).tag == TagSettings()


def test_self_check_flags_what_is_missing():
    phases = [selfcheck.PhaseFacts(n, f"P{n}", ran=True, has_section=True, started=True, finished=n != 3) for n in range(1, 7)]
    facts = selfcheck.Facts(
        verdict="Released", report_name="release_v2.md", report_text="## Verdict\n\n**Released**", phases=phases,
        live_touched=True, rollback_started=False, rollback_report_name="rollback_v2.md", rollback_report_exists=False,
        skipped_without_reason=["test_x"], phases_not_run_reason=None, ticket_target="Released", tracker_configured=True,
        tickets_moved=("DEMO-1",), tickets_failed=("DEMO-2",), tag_demanded=True, tag_ok=False, tag_note="release/v2 NOT created",
        retrospectives_demanded=("cycle",), retrospectives_written=(),
    )
    items = selfcheck.evaluate(facts)
    failed = [text for ok, text in items if not ok]
    assert any("phases without a timestamped section: 3. P3" in t for t in failed)
    assert any("NOT moved to Released: DEMO-2" in t for t in failed)
    assert any("release/v2 NOT created" in t for t in failed)
    assert any("cycle retrospective NOT recorded" in t for t in failed)
    assert any("skipped without a recorded reason: test_x" in t for t in failed)
    assert [text for ok, text in items if ok] == ["release report release_v2.md exists with the verdict Released"]
    missing = selfcheck.evaluate(selfcheck.Facts(**{**facts.__dict__, "report_text": None}))
    assert not missing[0].ok and "is missing" in missing[0].text
    no_verdict = selfcheck.evaluate(selfcheck.Facts(**{**facts.__dict__, "report_text": "_no verdict yet_"}))
    assert not no_verdict[0].ok and "does not record the verdict Released" in no_verdict[0].text
    rolled_back = {**facts.__dict__, "verdict": "Rolled-Back", "report_text": "## Verdict\n\n**Rolled-Back**"}
    without = [t for ok, t in selfcheck.evaluate(selfcheck.Facts(**rolled_back)) if not ok]
    assert "rollback report rollback_v2.md is missing" in without
    with_report = [t for ok, t in selfcheck.evaluate(selfcheck.Facts(**{**rolled_back, "rollback_report_exists": True})) if ok]
    assert "rollback report rollback_v2.md exists" in with_report


def test_self_check_of_an_aborted_release_wants_nothing_touched():
    phases = [selfcheck.PhaseFacts(n, f"P{n}", ran=n <= 2, has_section=n <= 2, started=n <= 2, finished=n <= 2) for n in range(1, 7)]
    base = dict(
        verdict="Aborted", report_name="r.md", report_text="## Verdict\n**Aborted**", phases=phases, live_touched=False,
        rollback_started=False, rollback_report_name="rb.md", rollback_report_exists=False, skipped_without_reason=[],
        phases_not_run_reason="deploy script missing",
    )
    assert all(ok for ok, _ in selfcheck.evaluate(selfcheck.Facts(**base)))
    touched = selfcheck.evaluate(selfcheck.Facts(**{**base, "live_touched": True, "tickets_moved": ("DEMO-1",)}))
    assert [t for ok, t in touched if not ok] == [
        "the live system WAS touched although the verdict is Aborted", "tracker tickets were moved on an Aborted release",
    ]
    unexplained = selfcheck.evaluate(selfcheck.Facts(**{**base, "phases_not_run_reason": None}))
    assert not unexplained[-1].ok and "no reason is recorded" in unexplained[-1].text


# --- real releases ---------------------------------------------------------------------------------
def test_released_moves_tickets_tags_and_records_the_cycle(demo_release, tmp_path):
    demo = demo_release.demo.path
    make_repo(demo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(demo, "remote", "add", "origin", str(remote))
    tracker = write_tracker(demo, {"DEMO-1": "Ready for Release", "DEMO-2": "Ready for Release", "DEMO-9": "In Progress"})
    text = demo_release.config.read_text()  # the demo has a tag: section (a second one is refused)
    demo_release.config.write_text(text.replace("tag:\n  enabled: auto\n", "tag:\n  enabled: auto\n  push: true\n"))
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    assert statuses(tracker) == {"DEMO-1": "Released", "DEMO-2": "Released", "DEMO-9": "In Progress"}

    head = git(demo, "rev-parse", "HEAD").strip()
    assert git(demo, "cat-file", "-t", "release/v2").strip() == "tag"  # annotated
    assert git(demo, "rev-parse", "release/v2^{commit}").strip() == head
    message = git(demo, "tag", "-l", "--format=%(contents)", "release/v2")
    assert message.startswith("Released: v2 to local (staging)")
    for line in ("Verdict:         Released", "Rollback target: v1", "1. Pre-Release Gate", "5. Watch Window"):
        assert line in message, message
    assert "release/v2" in git(remote, "tag", "-l")  # pushed

    retros = list((demo_release.release_dir / "retrospectives").glob("cycle_v2_local_*.md"))
    assert len(retros) == 1
    report = demo_release.report()
    assert "Tracker: DEMO-1 -> Released: ok (moved from Ready for Release)" in report
    assert f"Git tag: created annotated tag release/v2 on {head[:12]}, pushed to origin" in report
    checklist = self_check_lines(report)
    assert checklist and all(line.startswith("- [x]") for line in checklist), checklist
    assert any("tracker tickets in Released: DEMO-1, DEMO-2" in line for line in checklist)
    result.stdout.fnmatch_lines(["self-verification: all * items hold", "exit status: 0"])
    assert not (demo / "_docs" / "_process_leftovers").exists()


def test_rolled_back_puts_tickets_back_and_records_an_incident(demo_release):
    demo = demo_release.demo.path
    make_repo(demo)
    tracker = write_tracker(demo, {"DEMO-1": "Ready for Release", "DEMO-2": "Done"})
    result = demo_release.run("v3-bad")
    assert result.ret == 10, result.stdout.str()
    assert statuses(tracker) == {"DEMO-1": "Ready for Release", "DEMO-2": "Ready for Release"}
    assert git(demo, "tag", "-l").strip() == ""  # no tag for a rolled-back release
    retros = list((demo_release.release_dir / "retrospectives").glob("incident_v3-bad_local_*.md"))
    assert len(retros) == 1
    incident = retros[0].read_text()
    assert "error_rate breached" in incident and "rollback succeeded" in incident
    report = demo_release.report()
    assert "Tracker: DEMO-2 -> Ready for Release: ok (moved from Done)" in report
    assert "Tracker: DEMO-1 -> Ready for Release: ok (already Ready for Release)" in report
    checklist = self_check_lines(report)
    assert all(line.startswith("- [x]") for line in checklist), checklist
    assert any("rollback report rollback_v3-bad_local_" in line for line in checklist)
    assert any("incident retrospective recorded" in line for line in checklist)


def test_aborted_moves_no_ticket_and_makes_no_tag(demo_release):
    demo = demo_release.demo.path
    make_repo(demo)
    tracker = write_tracker(demo, {"DEMO-1": "Ready for Release", "DEMO-2": "Ready for Release"})
    before = tracker.read_text()
    (demo / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    assert tracker.read_text() == before
    assert git(demo, "tag", "-l").strip() == ""
    assert not (demo_release.release_dir / "retrospectives").exists()
    checklist = self_check_lines(demo_release.report())
    assert "- [x] no live-system change was attempted" in checklist
    assert "- [x] no tracker ticket was moved" in checklist
    assert all(line.startswith("- [x]") for line in checklist), checklist


def test_a_refused_tracker_move_is_incomplete_with_a_leftover(demo_release, jira_server, monkeypatch):
    demo = demo_release.demo.path
    make_repo(demo)
    jira_server.issues.update({"DEMO-1": "Ready for Release", "DEMO-2": "Ready for Release"})
    jira_server.refuse_transitions.add("DEMO-2")  # a workflow validator says no
    monkeypatch.setenv("RELEASE_TRACKER_TOKEN", JIRA_PAT)
    demo_release.edit_config(r"^tracker:\n(  .*\n)+", f"tracker:\n  backend: jira\n  url: {jira_server.url}\n")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    out = result.stdout.str()
    assert result.ret == 0, out  # v2 serves and was verified: still Released, but incomplete
    assert jira_server.issues["DEMO-1"] == "Released" and jira_server.issues["DEMO-2"] == "Ready for Release"
    assert ("POST", "/rest/api/2/issue/DEMO-1/transitions", {}, {"transition": {"id": "41"}}) in jira_server.requests
    result.stdout.fnmatch_lines(["*test_bookkeeping_complete FAILED*"])
    result.stdout.fnmatch_lines(["INCOMPLETE: tracker: 1 of 2 ticket(s) not moved to Released: DEMO-2: Jira at * refused POST *Resolution is required*"])
    result.stdout.fnmatch_lines(["self-verification FAILED: tracker tickets NOT moved to Released: DEMO-2"])
    leftovers = list((demo / "_docs" / "_process_leftovers").glob("*tracker*.md"))
    assert len(leftovers) == 1
    note = leftovers[0].read_text()
    assert "DEMO-2" in note and "What to do" in note and "Move each ticket above to **Released** by hand" in note
    report = demo_release.report()
    assert "Tracker: DEMO-1 -> Released: ok (moved from Ready for Release)" in report
    assert "incomplete: tracker: 1 of 2 ticket(s) not moved" in report
    assert leftovers[0].name in report
    assert "- [ ] tracker tickets NOT moved to Released: DEMO-2" in report
    assert git(demo, "tag", "-l").strip() == "release/v2"  # the tag records what serves regardless
    junit = (demo_release.pytester.path / "junit.xml").read_text()
    assert "release incomplete: tracker" in junit
    for text in (out, report, note, junit):
        assert JIRA_PAT not in text


def test_a_project_inside_another_repository_is_not_tagged(demo_release, tmp_path):
    outer = demo_release.demo.path.parent
    git(outer, "init", "-q", "-b", "main")
    git(outer, "add", "-A", "demo/release.yaml")
    git(outer, "commit", "-q", "-m", "chore: OUT-1 vendor the demo")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    assert git(outer, "tag", "-l").strip() == ""
    report = demo_release.report()
    assert "Git tag: not tagged: the project root" in report and "is not the top level of its git work tree" in report
    assert all(line.startswith("- [x]") for line in self_check_lines(report))


def test_a_tag_already_on_another_commit_is_incomplete(demo_release):
    demo = demo_release.demo.path
    make_repo(demo)
    git(demo, "tag", "-a", "-m", "old", "release/v2", "HEAD~1")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["INCOMPLETE: git tag: release/v2 NOT created: tag release/v2 already exists on commit *"])
    leftovers = list((demo / "_docs" / "_process_leftovers").glob("*git-tag*.md"))
    assert len(leftovers) == 1 and "git -C" in leftovers[0].read_text()


def test_released_with_override_records_a_cycle_and_an_incident(demo_release):
    demo = demo_release.demo.path
    make_repo(demo)
    result = demo_release.run("v2", "--release-skip-watch", "--release-override-reason=hotfix for a customer outage")
    assert result.ret == 0, result.stdout.str()
    retros = demo_release.release_dir / "retrospectives"
    assert len(list(retros.glob("cycle_v2_local_*.md"))) == 1
    (incident,) = retros.glob("incident_v2_local_*.md")
    assert "hotfix for a customer outage" in incident.read_text()
    assert git(demo, "tag", "-l").strip() == "release/v2"
    assert "Override: watch window skipped" in git(demo, "tag", "-l", "--format=%(contents)", "release/v2")
    checklist = self_check_lines(demo_release.report())
    assert "- [x] cycle retrospective recorded" in checklist and "- [x] incident retrospective recorded" in checklist


def test_an_interrupt_during_the_bookkeeping_is_recorded_and_never_rolls_back(tmp_path, monkeypatch):
    """Ctrl-C while phase 6 moves tickets: what was left undone is incomplete, with a leftover;
    the interrupt goes on; and a committed release is not turned into a rollback."""
    import datetime as dt
    from types import SimpleNamespace

    from pytest_release.adapters.tracker import FileTracker
    from pytest_release.clock import SimulatedClock
    from pytest_release.core.release import Outcome, Phase, Release
    from pytest_release.phases.commit.bookkeeping import Bookkeeping, Plan, settle

    def interrupted(self, key, status):
        raise KeyboardInterrupt

    monkeypatch.setattr(FileTracker, "move", interrupted)
    write_tracker(tmp_path, {"DEMO-1": "Ready for Release"})
    state = Release(env="prod", version="v2")
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    state.touch_live_system(at)
    for phase in Phase:
        if phase is not Phase.COMMIT:
            state.record(phase, "check", Outcome.PASSED, "", at)
    assert state.may_commit()
    state.commit()
    said: list[str] = []
    ctx = SimpleNamespace(
        state=state, config=SimpleNamespace(root=tmp_path, tracker=None), env=SimpleNamespace(name="prod"),
        invocation=SimpleNamespace(version="v2"), choices=SimpleNamespace(tickets=["DEMO-1"]),
        paths=SimpleNamespace(report=tmp_path / "release_v2_prod.md"), clock=SimulatedClock(),
        redactor=SimpleNamespace(redact=lambda text: text), say=said.append,
    )
    book = Bookkeeping(verdict=Verdict.RELEASED, ticket_target="Released", plan=Plan("Released", True, ("cycle",)))
    with pytest.raises(KeyboardInterrupt):
        settle(ctx, book)
    assert book.problems == ["interrupted before finishing: tracker tickets, git tag, cycle retrospective"]
    assert state.incomplete == book.problems
    (leftover,) = (tmp_path / "_docs" / "_process_leftovers").glob("*.md")
    assert "Not done: tracker tickets, git tag, cycle retrospective" in leftover.read_text()
    state.interrupt("interrupted (Ctrl-C)")  # what the session records next
    assert not state.needs_rollback() and state.interrupted is None
    assert state.verdict() is Verdict.RELEASED


def test_the_demo_in_the_source_tree_never_rewrites_its_tracked_tracker_file():
    from pytest_release.phases.commit.bookkeeping import file_tracker_guard

    demo = REPO / "examples" / "demo"
    config = load_config(demo / "release.yaml", environ={"DEMO_PORT": "8711"})
    toplevel = Path(git(REPO, "rev-parse", "--show-toplevel").strip())
    tracker_file = demo / "_docs" / "tracker.yaml"
    assert "tracker.yaml" in git(REPO, "ls-files", str(tracker_file))  # tracked: a write would dirty the tree
    reason = file_tracker_guard(tracker_file, config.root, toplevel)
    assert reason is not None and "not moved" in reason
    # a project that is its own repository, or no repository at all, moves its tickets
    assert file_tracker_guard(tracker_file, toplevel, toplevel) is None
    assert file_tracker_guard(tracker_file, config.root, None) is None
