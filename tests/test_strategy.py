"""Phase 2's decision, pure: the recommendation and its reasons, who picks, what the deploy script
is told, and the restriction that forces a manual release. Plus one real release per way of
choosing: CI (the default, the option) and a person at a terminal (a pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from pytest_release.core.strategy import (
    Signals,
    choose,
    deploy_reaches_users,
    first_deploy_args,
    manual_required_by,
    menu,
    planned_strategies,
    recommend,
)


def signals(**overrides) -> Signals:
    base = dict(env="prod", supported=("all-at-once", "blue-green", "canary"), default="all-at-once", breaking=(), commits=7, since="release/v1")
    base.update(overrides)
    return Signals(**base)


# --- the recommendation -------------------------------------------------------------------------
def test_no_breaking_change_recommends_the_default_and_says_why():
    rec = recommend(signals())
    assert rec.strategy == "all-at-once" and not rec.forced
    assert rec.reasons == ("no breaking change in 7 commits since release/v1", "a low-risk change: the default of environment prod, all-at-once")


def test_a_breaking_change_leans_to_canary_then_blue_green():
    breaking = ("feat!: drop the v1 API (abc12345)",)
    rec = recommend(signals(breaking=breaking))
    assert rec.strategy == "canary"
    assert rec.reasons[0] == "1 breaking change since release/v1: feat!: drop the v1 API (abc12345)"
    assert "first step's share" in rec.reasons[1]
    assert recommend(signals(breaking=breaking, supported=("all-at-once", "blue-green"))).strategy == "blue-green"
    fallback = recommend(signals(breaking=breaking, supported=("all-at-once", "manual")))
    assert fallback.strategy == "all-at-once" and "offers neither canary nor blue-green" in fallback.reasons[-1]


def test_many_breaking_changes_are_listed_briefly():
    rec = recommend(signals(breaking=tuple(f"b{i}" for i in range(5))))
    assert rec.reasons[0] == "5 breaking changes since release/v1: b0; b1; b2; and 2 more"


def test_an_unknown_change_summary_is_treated_as_high_risk():
    rec = recommend(signals(breaking=None, summary_error="not a git repository"))
    assert rec.strategy == "canary"
    assert rec.reasons[0] == "the change summary is unknown (not a git repository): the risk is treated as high"


def test_an_environment_with_one_strategy_gets_that_one_even_for_a_breaking_change():
    rec = recommend(signals(supported=("all-at-once",), breaking=("feat!: x",)))
    assert rec.strategy == "all-at-once"
    assert rec.reasons[0] == "all-at-once is the only strategy environment prod supports"
    assert "1 breaking change" in rec.reasons[1]  # the risk is still shown


def test_restrictions_force_manual_or_conflict_with_the_environment():
    forced = recommend(signals(supported=("canary", "manual"), breaking=("x",), manual_required="Deployment strategy: manual"))
    assert forced.strategy == "manual" and forced.forced and forced.conflict is None
    assert forced.reasons == ("restrictions require a manual release: Deployment strategy: manual",)
    conflict = recommend(signals(manual_required="Strategy: manual"))
    assert conflict.strategy is None and conflict.forced
    assert "does not offer the manual strategy (strategies: all-at-once, blue-green, canary)" in conflict.conflict


# --- who picks ----------------------------------------------------------------------------------
def test_the_menu_has_fixed_letters_and_marks_the_recommendation():
    assert list(menu(("canary", "all-at-once", "manual"), "canary")) == ["A", "C", "D"]
    assert menu(("canary", "blue-green"), "canary")["C"].endswith("(recommended)")
    assert not menu(("canary", "blue-green"), "canary")["B"].endswith("(recommended)")


@pytest.mark.parametrize(
    ("option", "supported", "answer", "asked", "expected", "by"),
    [
        ("canary", ("canary", "blue-green"), None, False, "canary", "--release-strategy"),
        (None, ("blue-green",), None, False, "blue-green", "the only strategy of environment e"),
        (None, ("canary", "blue-green"), "B", True, "blue-green", "a person at the terminal"),
        (None, ("canary", "blue-green"), None, True, "canary", "default of environment e (nobody could be asked)"),
    ],
)
def test_who_picks(option, supported, answer, asked, expected, by):
    choice = choose(option=option, supported=supported, default="canary", env="e", answer=answer, asked=asked)
    assert (choice.strategy, choice.by) == (expected, by)


def test_planned_strategies_are_known_before_phase_2():
    assert planned_strategies("canary", ("canary", "blue-green"), "blue-green", interactive=True) == ("canary",)
    assert planned_strategies(None, ("canary", "blue-green"), "blue-green", interactive=False) == ("blue-green",)
    assert planned_strategies(None, ("canary", "blue-green"), "blue-green", interactive=True) == ("canary", "blue-green")
    assert planned_strategies(None, ("canary",), "canary", interactive=True) == ("canary",)


def test_deploy_arguments_and_when_users_are_reached():
    assert first_deploy_args("canary", [5, 25, 100]) == ["--canary-weight", "5"]
    assert first_deploy_args("blue-green", [5, 100]) == []
    assert deploy_reaches_users("blue-green", []) is False
    assert deploy_reaches_users("blue-green", ["--switch"]) is True
    assert deploy_reaches_users("canary", ["--canary-weight", "5"]) is True
    assert deploy_reaches_users("all-at-once", []) is True


# --- restrictions.md ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "env", "kind", "expected"),
    [
        ("# Restrictions\n\n- Deployment strategy: manual (ITAR: 4-eyes at each step)\n", "prod", "production",
         "Deployment strategy: manual (ITAR: 4-eyes at each step)"),
        ("**Strategy:** manual\n", "staging", "staging", "Strategy:** manual"),
        ("Deployment strategy (production): manual\n", "prod", "production", "Deployment strategy (production): manual"),
        ("Deployment strategy (production): manual\n", "staging", "staging", None),
        ("Deployment strategy (dr-site, eu): manual\n", "eu", "production", "Deployment strategy (dr-site, eu): manual"),
        ("```\nDeployment strategy: manual\n```\n", "prod", "production", None),
        ("Deployment strategy: canary\nManual approval for payments.\n", "prod", "production", None),
    ],
)
def test_manual_required_by_restrictions(text, env, kind, expected):
    assert manual_required_by(text, env, kind) == expected


# --- real releases ------------------------------------------------------------------------------
def _lb(demo_release) -> None:
    """v1 behind the demo's router (the local-lb environment)."""
    result = demo_release.demo.run("deploy.sh", "--env", "local-lb", "--version", "v1")
    assert result.returncode == 0, result.stdout + result.stderr


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def test_ci_picks_the_default_records_the_recommendation_and_a_restriction_forces_manual(demo_release):
    root = demo_release.demo.path
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feat(api)!: items need a name (DEMO-2)")
    restrictions = root / "_docs" / "00_problem" / "restrictions.md"
    original = restrictions.read_text()
    restrictions.write_text(original + "\n- Deployment strategy (production): manual, per ITAR\n")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*STRATEGY SELECT*", "*Recommended:  all-at-once", "*all-at-once is the only strategy environment local supports*",
                                 "*1 breaking change since the root commit: feat(api)!: items need a name (DEMO-2) (*)",
                                 "*strategy: all-at-once (chosen by the only strategy of environment local; recommended all-at-once)"])
    report = demo_release.report()
    assert "| all-at-once | all-at-once | the only strategy of environment local | all-at-once |" in report
    # the same restriction, scoped to this environment's kind, stops a non-manual release before execute
    restrictions.write_text(original + "\n- Deployment strategy (staging): manual, per ITAR\n")
    stopped = demo_release.run("v3")
    assert stopped.ret == 11, stopped.stdout.str()
    stopped.stdout.fnmatch_lines(["Aborted: restrictions require a manual release: Deployment strategy (staging): manual, per ITAR, but environment local does not offer the manual strategy*"])
    assert "deploying v3" not in stopped.stdout.str()
    assert demo_release.demo.version() == "v2"


def test_a_person_at_a_terminal_picks_b_and_the_report_says_so(demo_release):
    """A real terminal (a pty), no CI variable: the A/B/C/D question is asked and answered B."""
    _lb(demo_release)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    args = demo_release.args("v2", "--release-env=local-lb", "-p", "no:randomly")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], cwd=demo_release.pytester.path, env=env,
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"Choose the deployment strategy:" in output and b"Answer [" in output.split(b"Choose the deployment strategy:")[-1]:
                os.write(master, b"B\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(master)
    text = output.decode(errors="replace")
    assert answered, text[-3000:]
    assert proc.returncode == 0, text[-3000:]
    assert "B) blue-green: deploy to the idle side, smoke-test it, then switch" in text
    assert "C) canary: move traffic over in steps, judging each (recommended)" in text
    assert re.search(r"test_canary_step\[5%\] PASSED", text)  # planned for every strategy a person may pick
    assert "blue-green: switching users to v2" in text and "canary step" not in text.split("strategy: blue-green")[-1]
    report = demo_release.report()
    assert "| canary | blue-green | a person at the terminal | canary, blue-green, all-at-once |" in report
    assert "Chosen against the recommendation (canary)." in report
    assert demo_release.demo.version() == "v2"


def test_a_deploy_script_without_the_strategy_s_flag_is_a_defect():
    from pytest_release.core.strategy import script_defect

    assert script_defect("canary", "case $1 in --canary-weight) ...") is None
    assert script_defect("canary", "echo deploy") == "does not handle --canary-weight, so it cannot run a canary release"
    assert script_defect("blue-green", "--strategy blue-green") == "does not handle --switch, so it cannot run a blue-green release"
    assert script_defect("all-at-once", "") is None and script_defect("manual", "") is None


def test_the_strategy_s_change_summary_starts_at_the_last_tag_tag_pattern_names(tmp_path):
    """Phase 2 reads "the changes since the last release" through tag.pattern, as the gate and
    phase 6 do; it used to hard-code release/*, so a project tagging deploy/{env}/{version} had
    the risk of changes that were released long ago counted again."""
    from types import MethodType, SimpleNamespace

    from pytest_release.config import ChangeSettings, GateSettings, TagSettings
    from pytest_release.context import ReleaseContext
    from pytest_release.phases import strategy

    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("1")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "feat!: released long ago")
    git(root, "tag", "release/v0")
    (root / "a.txt").write_text("2")
    git(root, "commit", "-qam", "feat!: released as v1")
    git(root, "tag", "deploy/local/v1")
    (root / "a.txt").write_text("3")
    git(root, "commit", "-qam", "fix: the only change of this release")
    ctx = SimpleNamespace(
        choices=SimpleNamespace(change_summary=None, git_sha=None), _changes=None,
        env=SimpleNamespace(name="local", gate=GateSettings(changes=ChangeSettings())),
        config=SimpleNamespace(root=root, tag=TagSettings(pattern="deploy/{env}/{version}")),
    )
    ctx.changes = MethodType(ReleaseContext.changes, ctx)  # the context's one reader of git, for real
    summary, error = strategy.change_summary(ctx)
    assert error is None
    assert summary.base == "deploy/local/v1"
    assert [c.subject for c in summary.commits] == ["fix: the only change of this release"]
    assert list(summary.of_kind("breaking")) == []
