"""The machine-readable release record (release_<v>_<env>_<stamp>.json) written by real demo
releases: every verdict path it must describe, its durability under kill -9, and redaction."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pytest_release.report.record import SCHEMA, RecordError, read_record, record_path
from tests.support.release_runs import kill_stray_group

TOKEN = "demo-3f9c2a7b51e04d8a"


def only_record(demo_release) -> dict:
    records = sorted(demo_release.release_dir.glob("release_*.json"))
    assert len(records) == 1, records
    (report,) = demo_release.reports()
    assert records[0] == record_path(report)  # same stem as the report
    return read_record(records[0])


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_released_record_holds_phases_checks_decisions_and_events(demo_release):
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    record = only_record(demo_release)
    assert record["schema"] == SCHEMA and record["complete"] is True
    assert (record["env"], record["kind"], record["version"]) == ("local", "staging", "v2")
    assert record["verdict"] == "Released" and record["exit_status"] == 0
    assert record["reason_chain"] == ["every phase passed"]
    assert record["rollback_target"] == "v1" and record["rollback"] is None
    assert [p["phase"] for p in record["phases"]] == ["gate", "strategy", "execute", "smoke", "watch", "commit"]
    for phase in record["phases"]:
        assert phase["status"] == "passed", phase
        assert when(phase["started"]) <= when(phase["finished"])
    assert when(record["started"]) <= when(record["live_touched_at"]) <= when(record["finished"])
    assert {c["phase"] for c in record["checks"]} == {p["phase"] for p in record["phases"]}
    assert all(c["outcome"] == "passed" for c in record["checks"])
    gate, strategy = record["decisions"][:2]
    assert gate["phase"] == "gate" and gate["decision"].startswith("Decision: A) ")
    assert strategy["phase"] == "strategy" and strategy["decision"].startswith("strategy all-at-once")
    assert [e["event"] for e in record["events"]] == ["started", "released"]
    assert record["triggers"] == []


def test_rolled_back_record_holds_the_trigger_and_the_rollback_times(demo_release):
    result = demo_release.run("v3-bad")
    assert result.ret == 10, result.stdout.str()
    record = only_record(demo_release)
    assert record["verdict"] == "Rolled-Back" and record["exit_status"] == 10
    (trigger,) = [t for t in record["triggers"] if t["kind"] == "rollback-trigger"]
    assert trigger["reason"].startswith("error_rate breached") and record["reason_chain"][0] == trigger["reason"]
    watch = next(p for p in record["phases"] if p["phase"] == "watch")
    assert watch["status"] == "failed"
    assert when(watch["started"]) <= when(trigger["at"]) <= when(watch["finished"])
    rollback = record["rollback"]
    assert rollback["target"] == "v1" and rollback["succeeded"] is True and rollback["verified"] is True
    assert when(trigger["at"]) <= when(rollback["started"]) <= when(rollback["finished"])
    assert rollback["report"].startswith("rollback_v3-bad_local_")
    assert [e["event"] for e in record["events"]] == ["started", "rolling-back", "rolled-back"]


def test_aborted_record_never_touched_the_live_system(demo_release):
    script = demo_release.demo.path / "scripts" / "deploy.sh"
    script.chmod(0o644)  # the gate: the deploy script is not executable
    try:
        assert demo_release.run("v2").ret == 11
    finally:
        script.chmod(0o755)
    record = only_record(demo_release)
    assert record["verdict"] == "Aborted" and record["live_touched_at"] is None
    assert record["triggers"] and record["triggers"][0]["kind"] == "abort"
    assert [e["event"] for e in record["events"]] == ["aborted"]


def test_kill_9_mid_deploy_leaves_a_valid_incomplete_record(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_HANG", "1")
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("DEMO_DEPLOY_HANG=1: waiting")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        kill_stray_group(demo_release.demo.env["DEMO_STATE_DIR"])
    record = only_record(demo_release)  # parses: written whole or not at all
    assert record["complete"] is False and record["verdict"] is None and record["exit_status"] is None
    assert record["live_touched_at"] is not None  # whoever reads it knows the live system was changed
    assert [e["event"] for e in record["events"]] == ["started"]
    execute = next(p for p in record["phases"] if p["phase"] == "execute")
    assert execute["started"] and execute["finished"] is None
    assert not list(demo_release.release_dir.glob(".*.tmp"))


def test_secrets_never_reach_the_record(demo_release, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_LEAK", "1")
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "0")
    (demo_release.demo.path / ".env").write_text(f"DEMO_API_TOKEN={TOKEN}\nDEMO_REGION=loopback-1\n")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    text = record_path(demo_release.reports()[0]).read_text()
    assert TOKEN not in text
    json.loads(text)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{", "not JSON"),
        ('{"schema": "pytest-release/backtest/1"}', "schema: expected 'pytest-release/release/1'"),
        ('{"schema": "pytest-release/release/1", "complete": true}', "missing key(s): env"),
        ("[1, 2]", "schema: expected"),
    ],
)
def test_reading_a_bad_record_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "release_v1_prod_2026-01-01-1200.json"
    path.write_text(content)
    with pytest.raises(RecordError, match=r"release_v1_prod_2026-01-01-1200\.json: ") as info:
        read_record(path)
    assert problem in str(info.value)


def test_a_soft_breach_answer_is_a_recorded_decision(replay):
    replay.environment("drift", "drift")
    result = replay.run("drift", "--release-on-soft-breach=rollback")
    assert result.ret == 10, result.stdout.str()
    (path,) = replay.release_dir.glob("release_*.json")
    record = read_record(path)
    soft = [d for d in record["decisions"] if d["phase"] == "watch"]
    assert soft == [{"phase": "watch", "decision": "soft breach: B) roll back now", "by": "--release-on-soft-breach=rollback", "at": soft[0]["at"]}]
    trigger = next(t for t in record["triggers"] if t["kind"] == "rollback-trigger")
    assert trigger["reason"].startswith("soft breach at T+6m treated as hard")
    assert when(soft[0]["at"]) <= when(record["rollback"]["started"])
