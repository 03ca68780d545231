"""Standalone rollback: `pytest --release-env=ENV --release-rollback-only --release-rollback-to=V`
against the real demo service: the rollback script, then its verification (smoke test and the
short watch window), with its own report; exit 0 when V serves again, 12 when it does not, 11
when a precondition fails (nothing run), 4 for bad usage (nothing written)."""

from __future__ import annotations

import pytest

from tests.test_junit_output import load


def rollback_only(demo_release, *extra: str) -> pytest.RunResult:
    return demo_release.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--release-config={demo_release.config}", "--release-env=local",
        "--release-rollback-only", *extra, timeout=120,
    )


def reports(demo_release, prefix: str) -> list:
    return sorted(demo_release.release_dir.glob(f"{prefix}_*.md"))


def test_a_standalone_rollback_restores_the_chosen_version(demo_release):
    demo = demo_release.demo
    assert demo.run("deploy.sh", "--env", "local", "--version", "v3-bad").returncode == 0
    tracker = demo.path / "_docs" / "tracker.yaml"
    tracker_before = tracker.read_text() if tracker.exists() else None
    result = rollback_only(demo_release, "--release-rollback-to=v1", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    assert demo.version() == "v1"
    result.stdout.fnmatch_lines(["*release: standalone rollback of local (staging) to v1*"])
    result.stdout.fnmatch_lines(["Rolled-Back: standalone rollback of local to v1 requested (--release-rollback-only)", "*rollback succeeded: v1 is serving again*"])
    result.stdout.fnmatch_lines(["self-verification: all * items hold", "exit status: 0"])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and "failed" not in outcomes  # the one check; no phase of a release runs
    result.stdout.fnmatch_lines(["*standalone_rollback.py::test_rollback_to_chosen_version PASSED*"])
    assert "phase1_pre_release_gate.py::" not in result.stdout.str()

    (main,) = reports(demo_release, "standalone-rollback_v1_local")
    report = main.read_text()
    assert report.startswith("# Standalone rollback of local to v1")
    assert "| Serving before | v3-bad (currently deployed, from http://127.0.0.1:" in report
    assert "**Rolled-Back**" in report and "Exit status 0." in report
    assert "## Phase 6: Commit or Rollback" in report and "## Phase 1" not in report
    assert "| 6. Commit or Rollback | passed |" in report
    (detail,) = reports(demo_release, "rollback_v3-bad_local")
    rollback = detail.read_text()
    assert "--rollback v1" in rollback and "Succeeded" in rollback
    assert "Smoke test of the rolled-back version" in rollback and "Short watch window" in rollback
    assert not reports(demo_release, "release")  # no release report: nothing was released
    assert not (demo_release.release_dir / "retrospectives").exists()
    if tracker_before is not None:
        assert tracker.read_text() == tracker_before  # no ticket moves

    suite = load(demo_release.pytester.path / "junit.xml")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert "test_rollback_to_chosen_version" in names
    assert {"rollback_smoke[health]", "rollback_smoke[write-item]"} <= set(names)
    assert sum(n.startswith("rollback_watch_poll[") for n in names) == 3
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["release.verdict"] == "Rolled-Back" and props["release.exit_status"] == "0"


def test_a_standalone_rollback_whose_verification_fails_is_rollback_failed(demo_release):
    result = rollback_only(demo_release, "--release-rollback-to=v1-unhealthy", "--release-version=v1")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["*rollback FAILED: v1-unhealthy was deployed but its smoke test failed*", "exit status: 12"])
    (main,) = reports(demo_release, "standalone-rollback_v1-unhealthy_local")
    report = main.read_text()
    assert "**Rollback-Failed**" in report and "The system is in an unknown state and needs a person" in report
    assert "| Serving before | v1 (--release-version) |" in report
    assert reports(demo_release, "rollback_v1_local")


def test_a_standalone_rollback_without_a_rollback_path_touches_nothing(demo_release):
    (demo_release.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    result = rollback_only(demo_release, "--release-rollback-to=v0")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["Aborted: deploy-script defect: * does not handle --rollback", "exit status: 11"])
    assert demo_release.demo.version() == "v1"
    (main,) = reports(demo_release, "standalone-rollback_v0_local")
    assert "Nothing was run against local" in main.read_text()
    assert not reports(demo_release, "rollback")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--release-env=local", "--release-rollback-only"], "--release-rollback-only needs --release-rollback-to=VERSION"),
        (["--release-rollback-only", "--release-rollback-to=v1"], "--release-rollback-only needs --release-env=ENV and --release-rollback-to=VERSION"),
        (["--release-env=local", "--release-rollback-only", "--release-rollback-to=v1", "--release-strategy=canary"],
         "--release-strategy does not apply to --release-rollback-only"),
        (["--release-env=local", "--release-rollback-only", "--release-rollback-to=../../etc"], "--release-rollback-to='../../etc' is not a valid version"),
    ],
)
def test_bad_standalone_usage_is_exit_4_and_writes_nothing(demo_release, args, message):
    result = demo_release.pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--release-config={demo_release.config}", *args)
    assert result.ret == 4, result.stdout.str()
    assert message in result.stderr.str()
    assert not demo_release.release_dir.exists() or not list(demo_release.release_dir.glob("*.md"))
    assert demo_release.demo.version() == "v1"
