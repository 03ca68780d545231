"""The hooks users implement (pytest_release/hookspecs.py), each in a real release of the demo
service: a conftest implements them and logs every call, the test reads the log.

Phase finished (once per phase, in order, with its status), verdict reached (once, with the
reason chain, when the report is final), report context (a user's section lands in the report,
redacted), notify (one call per state change, never one per poll), and a hook that raises
(reported, but it changes neither the verdict nor the exit status)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.support.release_runs import SIMULATED_CLOCK_CONFTEST

HOOKS_CONFTEST = """
import json, os, pathlib

LOG = pathlib.Path(__file__).with_name("hooks.jsonl")

def _log(**record):
    with LOG.open("a") as handle:
        handle.write(json.dumps(record) + "\\n")

def pytest_release_phase_finished(release, phase, status):
    report = release.paths.report.read_text()
    _log(hook="phase", phase=phase.value, status=status, section_on_disk=f"## Phase {phase.number}: {phase.title}" in report)

def pytest_release_verdict(release, verdict, reasons):
    report = release.paths.report.read_text()
    _log(hook="verdict", verdict=verdict.value, exit_code=verdict.exit_code, reasons=reasons,
         final=f"**{verdict.value}**" in report and "### Self-verification" in report)

def pytest_release_report_context(release, context):
    context["sections"].append(("Deployment notes", f"Seen by the hook: {context['verdict']}, "
                                f"{len(context['summary'])} phases; token {os.environ['DEMO_API_TOKEN']}"))
    _log(hook="context", keys=sorted(context), reasons=context["reasons"])

def pytest_release_notify(release, event, detail):
    _log(hook="notify", event=event, detail=detail)
"""

RAISING_CONFTEST = """
def pytest_release_notify(release, event, detail):
    raise ConnectionError("chat server unreachable")

def pytest_release_phase_finished(release, phase, status):
    if phase.value == "smoke":
        raise RuntimeError("dashboard annotation failed")
"""


def use_hooks(demo_release, extra: str = HOOKS_CONFTEST) -> Path:
    conftest = demo_release.pytester.path / "conftest.py"
    conftest.write_text(textwrap.dedent(SIMULATED_CLOCK_CONFTEST) + textwrap.dedent(extra))
    return demo_release.pytester.path / "hooks.jsonl"


def calls(log: Path, hook: str) -> list[dict]:
    if not log.exists():
        return []
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["hook"] == hook]


@pytest.fixture
def demo_env(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_API_TOKEN", "demo-3f9c2a7b51e04d8a")  # the demo's .env value: redacted everywhere
    return demo_release


def test_hooks_of_a_clean_release(demo_env):
    log = use_hooks(demo_env)
    result = demo_env.run("v2")
    assert result.ret == 0, result.stdout.str()
    phases = calls(log, "phase")
    assert [(p["phase"], p["status"]) for p in phases] == [
        ("gate", "passed"), ("strategy", "passed"), ("execute", "passed"),
        ("smoke", "passed"), ("watch", "passed"), ("commit", "passed"),
    ]
    assert all(p["section_on_disk"] for p in phases)
    (verdict,) = calls(log, "verdict")
    assert verdict == {"hook": "verdict", "verdict": "Released", "exit_code": 0, "reasons": ["every phase passed"], "final": True}
    (context,) = calls(log, "context")
    assert context["keys"] == ["reasons", "sections", "summary", "verdict"]
    assert [n["event"] for n in calls(log, "notify")] == ["started", "released"]
    assert calls(log, "notify")[0]["detail"] == "deploying v2"
    report = demo_env.report()
    assert "## Deployment notes\n\nSeen by the hook: Released, 6 phases; token ***" in report
    assert "demo-3f9c2a7b51e04d8a" not in report
    assert report.index("## Deployment notes") < report.index("## Verdict")


def test_notify_is_called_once_per_state_change_not_per_poll(demo_env):
    log = use_hooks(demo_env)
    result = demo_env.run("v3-bad")
    assert result.ret == 10, result.stdout.str()
    notes = calls(log, "notify")
    assert [n["event"] for n in notes] == ["started", "rolling-back", "rolled-back"]
    assert "error_rate breached" in notes[1]["detail"]
    assert notes[2]["detail"].startswith("Rolled-Back: error_rate breached")
    assert demo_env.report().count("| T+") >= 2  # several polls ran, one notification each change
    statuses = {p["phase"]: p["status"] for p in calls(log, "phase")}
    assert statuses["watch"] == "failed" and statuses["execute"] == "passed"
    (verdict,) = calls(log, "verdict")
    assert verdict["verdict"] == "Rolled-Back" and verdict["exit_code"] == 10
    assert verdict["reasons"][0].startswith("error_rate breached") and verdict["reasons"][-1].startswith("rollback succeeded")


def test_an_aborted_release_notifies_aborted_only(demo_env):
    log = use_hooks(demo_env)
    (demo_env.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    result = demo_env.run("v2")
    assert result.ret == 11, result.stdout.str()
    assert [n["event"] for n in calls(log, "notify")] == ["aborted"]
    statuses = {p["phase"]: p["status"] for p in calls(log, "phase")}
    assert statuses["gate"] == "failed"
    (verdict,) = calls(log, "verdict")
    assert verdict["verdict"] == "Aborted" and "does not handle --rollback" in verdict["reasons"][0]


def test_a_failed_rollback_notifies_rollback_failed(demo_env):
    log = use_hooks(demo_env)
    result = demo_env.run("v4-broken", "--release-rollback-to=v1-unhealthy")
    assert result.ret == 12, result.stdout.str()
    assert [n["event"] for n in calls(log, "notify")] == ["started", "rolling-back", "rollback-failed"]


def test_a_hook_that_raises_changes_neither_verdict_nor_exit_status(demo_env):
    use_hooks(demo_env, RAISING_CONFTEST)
    result = demo_env.run("v2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Released",
        "*user hook error: pytest_release_notify raised ConnectionError: chat server unreachable*",
        "exit status: 0",
    ])
    result.stdout.fnmatch_lines(["*user hook error: pytest_release_phase_finished raised RuntimeError: dashboard annotation failed*"])
    report = demo_env.report()
    assert "## User hook errors" in report and "chat server unreachable" in report
    assert "**Released**" in report
