"""Whole releases of the real demo service, one pytest subprocess each: every verdict and exit
status, every rollback trigger, and the ways a session can be cut short after it changed the
live system. The watch window runs on a simulated clock; everything else is real."""

from __future__ import annotations

import signal
import xml.etree.ElementTree as ET

import pytest

from tests.support.release_runs import kill_stray_group


def test_clean_release_is_released_with_exit_0(demo_release):
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "release: v2 -> local (staging), strategy all-at-once, rollback target discovered in phase 1",
            f"release config: {demo_release.config}",
            f"release dir: {demo_release.release_dir}",
        ]
    )
    result.stdout.fnmatch_lines(["*release verdict*", "Released", "report: *release_v2_local_*.md", "exit status: 0"])
    assert demo_release.demo.version() == "v2"
    report = demo_release.report()
    for phase in ("Phase 1: Pre-Release Gate", "Phase 2: Strategy Select", "Phase 3: Execute",
                  "Phase 4: Smoke Test", "Phase 5: Watch Window", "Phase 6: Commit or Rollback"):
        assert f"## {phase}" in report
    assert "**Released**" in report and "Rollback target | v1" in report
    header = report.split("## Phase 1", 1)[0]
    for row in ("| Environment | local (staging) |", "| Version | v2", "| Strategy | all-at-once", f"| Config | {demo_release.config} |", f"| Release dir | {demo_release.release_dir} |"):
        assert row in header
    assert "deploy: v2 is serving" in report  # the script's output, streamed with timestamps
    assert not demo_release.reports("rollback")
    suite = ET.parse(demo_release.pytester.path / "junit.xml").getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["release.env"] == "local"
    assert properties["release.version"] == "v2"
    assert properties["release.verdict"] == "Released"
    assert properties["release.report"].endswith(".md")


def test_failing_deploy_script_rolls_back_with_exit_10(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: deploy script failure: exit code 3*"])
    assert demo_release.demo.version() == "v1"
    assert not [line for line in result.stdout.lines if "phase4_smoke_test.py" in line and "PASSED" in line]
    rollback = demo_release.report("rollback")
    assert "--rollback v1" in rollback and "Succeeded" in rollback
    junit = (demo_release.pytester.path / "junit.xml").read_text()
    assert "deploy script failure: exit code 3" in junit


def test_smoke_failure_rolls_back_and_the_old_version_serves(demo_release):
    result = demo_release.run("v4-broken")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: smoke test failure: write-item: expected status 201, got 500"])
    assert demo_release.demo.version() == "v1"


def test_watch_window_hard_breach_rolls_back_at_the_first_breaching_poll(demo_release):
    result = demo_release.run("v3-bad")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: error_rate breached *x baseline at T+2s: error_rate * is *x *; hard at 2.0x; samples *"])
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert report.count("| T+2s |") == 1 and "| T+4s |" not in report.split("## Rollback")[0]


def test_gate_failure_aborts_with_exit_11_and_touches_nothing(demo_release):
    (demo_release.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["Aborted: deploy-script defect: *does not handle --rollback*"])
    assert demo_release.demo.version() == "v1"
    assert "deploying" not in demo_release.report()


def test_no_rollback_target_aborts(demo_release):
    demo_release.edit_config(r"^    current_version:\n      url: .*\n", "")
    result = demo_release.run("v2")
    assert result.ret == 11
    result.stdout.fnmatch_lines(["Aborted: no rollback target: pass --release-rollback-to=VERSION*"])
    assert demo_release.demo.version() == "v1"
    assert "phase3_execute.py::test_deploy_script_succeeds SKIPPED" in result.stdout.str()
    assert not list(demo_release.release_dir.glob("*_deploy.log"))  # the deploy script never ran


def test_rollback_whose_verification_fails_is_rollback_failed_exit_12(demo_release):
    result = demo_release.run("v4-broken", "--release-rollback-to=v1-unhealthy")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["Rollback-Failed: smoke test failure: write-item*", "*rollback FAILED*"])
    assert "The system is in an unknown state and needs a person" in demo_release.report()


@pytest.mark.parametrize("option", ["-x", "--maxfail=1"])
def test_cut_short_by_x_or_maxfail_still_rolls_back(demo_release, option):
    result = demo_release.run("v3-bad", option)
    assert result.ret == 10, result.stdout.str()
    assert "phase6_commit_or_rollback.py::test_commit_or_rollback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*rollback succeeded*"])
    assert demo_release.demo.version() == "v1"


def test_pytest_timeout_in_the_smoke_phase_rolls_back(demo_release):
    demo_release.edit_config(r"^      request_timeout: 5s", "      request_timeout: 60s\n      budget: 2s")
    result = demo_release.run("v5-slow")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: *from pytest-timeout*"])
    assert demo_release.demo.version() == "v1"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_the_watch_window_rolls_back(demo_release, signum):
    demo_release.use_real_clock()
    demo_release.edit_config(r"^      duration: 20s", "      duration: 5m")
    demo_release.edit_config(r"^      baseline: 4s", "      baseline: 1s")
    demo_release.edit_config(r"^      rollback_duration: 6s", "      rollback_duration: 2s")
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("| T+2s |")
        proc.send_signal(signum)
        out = proc.stdout.read()
        proc.wait(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 10, out
    assert "rollback succeeded" in out
    assert demo_release.demo.version() == "v1"
    assert "session interrupted" in demo_release.report()


def test_kill_9_mid_deploy_leaves_a_readable_report(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_HANG", "1")
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("DEMO_DEPLOY_HANG=1: waiting")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        kill_stray_group(demo_release.demo.env["DEMO_STATE_DIR"])
    report = demo_release.report()
    assert "## Phase 2: Strategy Select" in report and "## Phase 3: Execute" in report
    assert "_Release in progress: no verdict yet._" in report
    assert report.rstrip().endswith("no verdict yet._")  # whole, not cut mid-write


def test_reports_are_never_overwritten(demo_release):
    script = demo_release.demo.path / "scripts" / "deploy.sh"
    script.chmod(0o644)
    try:
        assert demo_release.run("v2").ret == 11
        assert demo_release.run("v2").ret == 11
    finally:
        script.chmod(0o755)
    names = [p.name for p in demo_release.reports()]
    assert len(names) == 2 and names[0] != names[1]


def test_a_credential_variable_named_in_the_config_is_redacted_whatever_its_name(demo_release, monkeypatch):
    secret = "prom-read-7f3a91c2e5"
    monkeypatch.setenv("PROM_PW", secret)  # a name that does not look secret on its own
    demo_release.edit_config(r"^      provider: scrape\n", "      provider: scrape\n      bearer_token_env: PROM_PW\n")
    demo_release.pytester.makepyfile(
        test_leaky="""
        import os, pytest

        @pytest.mark.release_phase("smoke")
        def test_prints_the_credential():
            print("using", os.environ["PROM_PW"])
            assert False, "bad credential " + os.environ["PROM_PW"]
        """
    )
    result = demo_release.run("v2", "--junitxml=junit.xml", "-rA")
    assert result.ret == 10, result.stdout.str()
    everything = result.stdout.str() + result.stderr.str() + demo_release.report() + (demo_release.pytester.path / "junit.xml").read_text()
    assert secret not in everything
    assert "bad credential ***" in everything


def test_the_report_header_names_the_metrics_backend_and_its_settings(demo_release):
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    header = demo_release.report().split("## Phase 1", 1)[0]
    assert "| Metrics | scrape" in header, header
