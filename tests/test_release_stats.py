"""`pytest --release-stats`: DORA figures from a history of real demo releases (in a git
repository, so lead times are real commit times), plus hand-written records and reports for the
edge cases a history holds (unfinished, Rollback-Failed, months, filters, damaged files)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_release.core.dora import ReleaseFacts, figures, percentile, weeks_in
from pytest_release.report.record import SCHEMA

UTC = dt.timezone.utc
COMMITTED = "2025-12-31T00:00:00+00:00"  # a day before the simulated clock's start (2026-01-01)


def git(cwd: Path, *args: str, **env: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={
        "PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com", **env,
    }).stdout


def stats(pytester: pytest.Pytester, config: Path, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-stats", f"--release-config={config}", *extra, timeout=60)


def month(document: dict, env: str, name: str) -> dict:
    (found,) = [m for m in document["months"] if m["env"] == env and m["month"] == name]
    return found


def test_figures_of_real_demo_releases(demo_release):
    project = demo_release.demo.path
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "feat: the items API", GIT_AUTHOR_DATE=COMMITTED, GIT_COMMITTER_DATE=COMMITTED)
    assert demo_release.run("v2").ret == 0
    assert demo_release.run("v3-bad").ret == 10
    result = stats(demo_release.pytester, demo_release.config, "--release-stats-json=out/stats.json", "--release-stats-chart=out/stats.svg")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*release stats*", "env*month*releases*deployed*released*lead time*CFR*time to restore",
                                 "local*2026-01*2*2*1*24.0h (1 commits)*50% (1/2)*"])
    document = json.loads((demo_release.pytester.path / "out" / "stats.json").read_text())
    assert document["schema"] == "pytest-release/stats/1"
    figures_ = month(document, "local", "2026-01")
    assert (figures_["releases"], figures_["deployments"], figures_["released"], figures_["change_failures"]) == (2, 2, 1, 1)
    assert figures_["change_failure_rate"] == 0.5 and figures_["sources"] == {"record": 2}
    lead = figures_["lead_time_seconds"]
    assert lead["commits"] == 1 and 86400 <= lead["median"] < 86400 + 120  # commit to Released: a day and the release's seconds
    restore = figures_["time_to_restore_seconds"]
    assert restore["restores"] == 1 and 0 < restore["median"] < 60  # hard breach to verified rollback, on the simulated clock
    assert figures_["deployments_per_week"] == round(1 / (31 / 7), 3)
    svg = ET.fromstring((demo_release.pytester.path / "out" / "stats.svg").read_text())
    assert svg.tag.endswith("svg")
    text = ET.tostring(svg, encoding="unicode")
    assert "local 2026-01: 1 released, 1 failed of 2 deployments (CFR 50%)" in text

    # The same history read from the reports alone (releases from before records existed):
    # the verdicts and the time to restore survive; lead time needs the records' commit times.
    for record in demo_release.release_dir.glob("release_*.json"):
        record.unlink()
    result = stats(demo_release.pytester, demo_release.config, "--release-stats-json=reports.json")
    assert result.ret == 0, result.stdout.str()
    from_reports = month(json.loads((demo_release.pytester.path / "reports.json").read_text()), "local", "2026-01")
    assert from_reports["sources"] == {"report": 2} and from_reports["change_failure_rate"] == 0.5
    assert from_reports["lead_time_seconds"]["commits"] == 0 and from_reports["released_without_commit_times"] == 1
    assert from_reports["time_to_restore_seconds"]["restores"] == 1
    result.stdout.fnmatch_lines(["note: lead time: releases without commit times*"])


def record(env: str, version: str, started: str, verdict: str | None, *, touched: str | None = None,
           trigger: str | None = None, restored: str | None = None, commits: tuple[str, ...] = (), finished: str | None = None) -> dict:
    rollback = None
    if trigger is not None and verdict in ("Rolled-Back", "Rollback-Failed"):
        rollback = {"target": "v0", "started": trigger, "finished": restored, "succeeded": verdict == "Rolled-Back",
                    "verified": verdict == "Rolled-Back", "detail": "", "report": None}
    return {
        "schema": SCHEMA, "complete": verdict is not None, "env": env, "kind": "production", "version": version,
        "started": started, "updated": finished or started, "finished": finished if verdict else None, "verdict": verdict,
        "exit_status": None, "live_touched_at": touched, "reason_chain": [], "phases": [], "checks": [],
        "triggers": [{"kind": "rollback-trigger", "reason": "error_rate breached", "at": trigger}] if trigger else [],
        "decisions": [],
        "changes": {"base": None, "head": "0" * 40, "commits": [{"sha": "1" * 40, "committed_at": c} for c in commits]} if commits else None,
        "rollback": rollback,
    }


def write_history(release_dir: Path, entries: list[tuple[str, dict | str]]) -> None:
    """Each release as its report (a real report's heading and verdict) and, given a dict, its record."""
    release_dir.mkdir(parents=True, exist_ok=True)
    for stem, content in entries:
        data = content if isinstance(content, dict) else None
        version, env = stem.split("_")[1:3]
        verdict = f"## Verdict\n\n**{data['verdict']}**\n" if data and data["verdict"] else "## Verdict\n\n_Release in progress: no verdict yet._\n"
        (release_dir / f"{stem}.md").write_text(f"# Release {version} to {env}\n\n{verdict}")
        (release_dir / f"{stem}.json").write_text(json.dumps(data) if data else str(content))


@pytest.fixture
def history(pytester: pytest.Pytester) -> Path:
    config = pytester.path / "release.yaml"
    config.write_text(
        "release_dir: history\nenvironments:\n"
        "  prod: {kind: production, current_version: {url: 'http://127.0.0.1:9/version'}}\n"
        "  staging: {kind: staging, current_version: {url: 'http://127.0.0.1:9/version'}}\n"
    )
    write_history(pytester.path / "history", [
        ("release_v1_prod_2026-02-03-1000", record("prod", "v1", "2026-02-03T10:00:00+00:00", "Released", touched="2026-02-03T10:01:00+00:00",
                                                    finished="2026-02-03T11:00:00+00:00", commits=("2026-02-02T11:00:00+00:00", "2026-02-03T09:00:00+00:00"))),
        ("release_v2_prod_2026-02-10-1000", record("prod", "v2", "2026-02-10T10:00:00+00:00", "Rolled-Back", touched="2026-02-10T10:01:00+00:00",
                                                    trigger="2026-02-10T10:20:00+00:00", restored="2026-02-10T10:30:00+00:00", finished="2026-02-10T10:31:00+00:00")),
        ("release_v3_prod_2026-02-11-1000", record("prod", "v3", "2026-02-11T10:00:00+00:00", "Rollback-Failed", touched="2026-02-11T10:01:00+00:00",
                                                    trigger="2026-02-11T10:05:00+00:00", finished="2026-02-11T10:09:00+00:00")),
        ("release_v4_prod_2026-02-12-1000", record("prod", "v4", "2026-02-12T10:00:00+00:00", "Aborted", finished="2026-02-12T10:00:30+00:00")),
        # kill -9 after the deploy started: no verdict, but the live system was changed
        ("release_v5_prod_2026-03-01-1000", record("prod", "v5", "2026-03-01T10:00:00+00:00", None, touched="2026-03-01T10:01:00+00:00")),
        # cut short in the gate: nothing live was touched, so it is no deployment at all
        ("release_v6_prod_2026-03-02-1000", record("prod", "v6", "2026-03-02T10:00:00+00:00", None)),
        ("release_v7_staging_2026-03-02-1200", "{ damaged"),  # its report still counts
    ])
    return config


def test_edge_cases_of_a_hand_written_history(pytester, history):
    result = stats(pytester, history, "--release-stats-json=stats.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["warning: *release_v7_staging_2026-03-02-1200.json: not JSON*; using its report instead"])
    result.stdout.fnmatch_lines(["note: unfinished releases that touched the live system count as change failures (fail closed)"])
    document = json.loads((pytester.path / "stats.json").read_text())
    february = month(document, "prod", "2026-02")
    assert (february["releases"], february["deployments"], february["released"], february["change_failures"]) == (4, 3, 1, 2)
    assert february["change_failure_rate"] == round(2 / 3, 4)
    assert february["lead_time_seconds"] == {"commits": 2, "median": (86400 + 7200) / 2, "p90": 7200 + 0.9 * (86400 - 7200)}
    assert february["time_to_restore_seconds"] == {"restores": 1, "median": 600.0, "p90": 600.0}
    assert february["not_restored"] == 1  # Rollback-Failed: never a short time to restore
    march = month(document, "prod", "2026-03")
    assert (march["releases"], march["deployments"], march["change_failures"], march["unfinished"]) == (2, 1, 1, 1)
    assert march["change_failure_rate"] == 1.0 and march["lead_time_seconds"]["median"] is None
    staging = month(document, "staging", "2026-03")
    assert staging["sources"] == {"report": 1} and staging["change_failures"] == 1  # no verdict, cannot tell: fail closed


def test_env_and_since_filters(pytester, history):
    result = stats(pytester, history, "--release-env=prod", "--release-since=2026-03", "--release-stats-json=stats.json")
    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "stats.json").read_text())
    assert [(m["env"], m["month"]) for m in document["months"]] == [("prod", "2026-03")]
    assert document["env"] == "prod" and document["since"] == "2026-03-01T00:00:00+00:00"
    result = stats(pytester, history, "--release-since=2030-01-01")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["no releases in the history (nothing matches the filters)"])


@pytest.mark.parametrize(
    "args, message",
    [
        (("--release-stats", "--release-since=last tuesday"), "*--release-since='last tuesday': expected YYYY-MM, YYYY-MM-DD or an ISO 8601 time*"),
        (("--release-stats", "--release-env=nowhere"), "*nowhere*"),
        (("--release-stats", "--release-version=v2"), "*--release-stats deploys nothing: leave out --release-version*"),
        (("--release-since=2026-01",), "*--release-since needs --release-stats*"),
        (("--release-stats-json=x.json",), "*--release-stats-json needs --release-stats*"),
    ],
)
def test_bad_stats_options_are_usage_errors(pytester, history, args, message):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--release-config={history}", *args)
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "x.json").exists()
    assert not [line for line in result.stdout.lines if "release stats" in line]
    pytest.LineMatcher(result.stdout.lines + result.stderr.lines).fnmatch_lines([message])


def test_missing_config_is_a_usage_error_naming_the_file(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-stats", "--release-config=nope.yaml")
    assert result.ret == 4
    pytest.LineMatcher(result.stdout.lines + result.stderr.lines).fnmatch_lines(["*nope.yaml*"])


def facts(verdict, touched=True, **kw) -> ReleaseFacts:
    return ReleaseFacts(env="prod", version="v", started=dt.datetime(2026, 4, 1, tzinfo=UTC), verdict=verdict, touched_live=touched, **kw)


def test_change_failure_rate_fails_closed_and_ignores_aborted():
    (month_,) = figures([facts("Released"), facts("Aborted", False), facts(None, None), facts("Released-with-override")],
                        now=dt.datetime(2026, 6, 1, tzinfo=UTC))
    assert (month_.deployments, month_.failures, month_.unfinished) == (3, 1, 1)
    assert month_.change_failure_rate == pytest.approx(1 / 3)
    assert month_.per_week == pytest.approx(2 / (30 / 7))


def test_percentiles_and_the_current_months_weeks():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 90) == 10.0
    assert weeks_in("2026-02", dt.datetime(2026, 5, 1, tzinfo=UTC)) == 4.0
    assert weeks_in("2026-05", dt.datetime(2026, 5, 8, 0, 0, tzinfo=UTC)) == 1.0  # 7 days elapsed
