"""`pytest --release-stats`: the DORA figures of the release history, instead of a session.

It deploys nothing. It reads the release dir of release.yaml: every release record
(`release_*.json`, report/record.py) and, for releases made before records existed, the Markdown
reports that have no record beside them (adapters/history.py). core/dora.py computes the figures
per environment and month; they are printed as a table, and written as JSON
(`--release-stats-json=FILE`, schema "pytest-release/stats/1", docs/report-format.md) and as an
SVG chart (`--release-stats-chart=FILE`) when asked. `--release-env` keeps one environment,
`--release-since=YYYY-MM[-DD]` drops older releases. Exit status 0; bad options or config 4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_release.adapters.history import ReportTimeline, report_paths, report_timeline
from pytest_release.clock import RealClock
from pytest_release.config import ConfigError, load_config
from pytest_release.core.dora import FAILED, RELEASED, MonthFigures, ReleaseFacts, figures, format_seconds
from pytest_release.options import InvocationError, stats_request
from pytest_release.report.document import write_atomically
from pytest_release.report.record import RecordError, parse_time, read_record, record_path
from pytest_release.report.stats_chart import stats_chart

SCHEMA = "pytest-release/stats/1"
LIVE_PHASES = ("Phase 3: Execute", "Phase 4: Smoke Test", "Phase 5: Watch Window")


def facts_from_record(record: dict[str, Any], where: str) -> ReleaseFacts:
    started = parse_time(record["started"], f"{where}: started")
    if started is None:
        raise RecordError(f"{where}: started: missing")
    changes = record.get("changes")
    commit_times = None
    if isinstance(changes, dict) and isinstance(changes.get("commits"), list):
        times = [parse_time(c.get("committed_at"), f"{where}: changes.commits") for c in changes["commits"] if isinstance(c, dict)]
        commit_times = tuple(t for t in times if t is not None) or None
    first_trigger = next(
        (t for t in record["triggers"] if isinstance(t, dict) and t.get("kind") in ("rollback-trigger", "interrupt")), None
    )
    rollback = record.get("rollback") if isinstance(record.get("rollback"), dict) else None
    restored = parse_time(rollback.get("finished"), f"{where}: rollback.finished") if rollback and rollback.get("verified") else None
    return ReleaseFacts(
        env=str(record["env"]), version=str(record["version"]), started=started, verdict=record["verdict"],
        touched_live=record["live_touched_at"] is not None, finished=parse_time(record["finished"], f"{where}: finished"),
        commit_times=commit_times,
        failure_at=parse_time(first_trigger.get("at"), f"{where}: triggers") if first_trigger else None,
        restored_at=restored, source="record",
    )


def facts_from_report(report: ReportTimeline) -> ReleaseFacts:
    """An older release, from its report: no commit times; a failure's time is when its first
    failed live phase finished (the check that failed ended it)."""
    verdict = report.verdict
    if verdict in RELEASED or verdict in FAILED:
        touched: bool | None = True
    elif verdict == "Aborted":
        touched = False
    else:
        execute = report.section(LIVE_PHASES[0])
        touched = (execute.started is not None) if execute is not None else (None if not report.sections else False)
    failed = next((s for s in report.sections if s.title in LIVE_PHASES and s.status == "failed"), None)
    rollback = report.section("Rollback")
    restored = rollback.finished if rollback is not None and rollback.status == "succeeded" else None
    return ReleaseFacts(
        env=report.env, version=report.version, started=report.started, verdict=verdict, touched_live=touched,
        finished=report.finished, commit_times=None, failure_at=failed.finished if failed else None,
        restored_at=restored, source="report",
    )


def gather(release_dir: Path, warn: Callable[[str], None]) -> list[ReleaseFacts]:
    """Every release under `release_dir`: its record, else its report. A bad record is said and
    its report used instead, so one damaged file never hides a release."""
    found: list[ReleaseFacts] = []
    for stamp, report_path in report_paths(release_dir):
        path = record_path(report_path)
        if path.exists():
            try:
                found.append(facts_from_record(read_record(path), str(path)))
                continue
            except RecordError as exc:
                warn(f"{exc}; using its report instead")
        report = report_timeline(report_path, stamp)
        if report is not None:
            found.append(facts_from_report(report))
    return found


def month_json(m: MonthFigures) -> dict[str, Any]:
    return {
        "env": m.env, "month": m.month, "releases": m.releases, "deployments": m.deployments,
        "released": m.released, "deployments_per_week": round(m.per_week, 3),
        "lead_time_seconds": {"commits": m.lead_time.count, "median": m.lead_time.median, "p90": m.lead_time.p90},
        "released_without_commit_times": m.without_commit_times,
        "change_failures": m.failures, "unfinished": m.unfinished,
        "change_failure_rate": None if m.change_failure_rate is None else round(m.change_failure_rate, 4),
        "time_to_restore_seconds": {"restores": m.time_to_restore.count, "median": m.time_to_restore.median, "p90": m.time_to_restore.p90},
        "not_restored": m.not_restored, "sources": dict(sorted(m.sources.items())),
    }


def table_lines(months: list[MonthFigures]) -> list[str]:
    if not months:
        return ["no releases in the history (nothing matches the filters)"]
    header = ("env", "month", "releases", "deployed", "released", "per week", "lead time", "CFR", "time to restore")
    rows = [header]
    for m in months:
        cfr = "n/a" if m.change_failure_rate is None else f"{m.change_failure_rate:.0%} ({m.failures}/{m.deployments})"
        lead = format_seconds(m.lead_time.median) + (f" ({m.lead_time.count} commits)" if m.lead_time.count else "")
        ttr = format_seconds(m.time_to_restore.median) + (f", {m.not_restored} not restored" if m.not_restored else "")
        rows.append((m.env, m.month, str(m.releases), str(m.deployments), str(m.released), f"{m.per_week:.2f}", lead, cfr, ttr))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    notes = []
    if any(m.unfinished for m in months):
        notes.append("unfinished releases that touched the live system count as change failures (fail closed)")
    if any(m.without_commit_times for m in months):
        notes.append("lead time: releases without commit times (reports, or no git history) are left out of it")
    return lines + [f"note: {n}" for n in notes]


def stats_main(config: pytest.Config, session: pytest.Session) -> int:
    """Run by `pytest_cmdline_main` inside pytest's session wrapper; returns the exit status."""
    try:
        request = stats_request(config)
        release_config = load_config(request.config_path)
        if request.env:
            release_config.environment(request.env)
    except (ConfigError, InvocationError) as exc:
        raise pytest.UsageError(str(exc)) from None
    write = _writer(config)
    now = RealClock().now()
    env, since = request.env, request.since
    months = figures(gather(release_config.release_dir, lambda text: write(f"warning: {text}")), now=now, since=since, env=env)
    write(f"release history: {release_config.release_dir}" + (f", environment {env}" if env else "")
          + (f", since {request.since_text}" if request.since_text else ""))
    for line in table_lines(months):
        write(line)
    if request.json_path is not None:
        document = {
            "schema": SCHEMA, "generated": now.isoformat(timespec="seconds"), "release_dir": str(release_config.release_dir),
            "env": env, "since": since.isoformat() if since else None, "months": [month_json(m) for m in months],
        }
        request.json_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(request.json_path, json.dumps(document, indent=2) + "\n")
        write(f"figures written to {request.json_path}")
    if request.chart_path is not None:
        request.chart_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(request.chart_path, stats_chart(months))
        write(f"chart written to {request.chart_path}")
    return 0


def _writer(config: pytest.Config) -> Callable[[str], None]:
    terminal = config.pluginmanager.getplugin("terminalreporter")
    if terminal is None:
        return lambda line: print(line, flush=True)
    terminal.ensure_newline()
    terminal.section("release stats", bold=True)
    return lambda line: terminal.write_line(line)
