"""Whole watch windows, replayed: real releases (the plugin, every phase, in a pytest subprocess)
against a real Prometheus loaded with backfilled scenarios, on a simulated clock that starts at
the scenario's deploy. Each window of 15 or 60 minutes runs in a few seconds.

See tests/support/replay.py for the harness and the scenarios' timelines."""

from __future__ import annotations

import re

import pytest

from tests.support.prometheus_server import free_port
from tests.support.replay import poll_rows

METRICS = ("error_rate", "p99_latency", "request_rate", "saturation")


def progress_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("[release] watch T+")]


def test_clean_traffic_is_released_with_a_row_a_line_and_a_chart_per_metric(replay):
    replay.environment("clean", "clean")
    result = replay.run("clean")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*release verdict*", "Released", "exit status: 0"])
    assert replay.deploy_calls() == ["--env clean --version v2 --strategy all-at-once"]

    section = replay.watch_section()
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, 16)]
    # Every row carries each metric's value, what it is compared with, the ratio and the class.
    first_row = next(line for line in section.splitlines() if line.startswith("| T+1m "))
    assert "0 vs 0.01 → 0.00x ok" in first_row  # error_rate: no errors, compared with its floor
    assert "0.2 vs 0.2 → 1.00x ok" in first_row  # p99_latency against its baseline
    assert "| ok |" in first_row
    # The baseline and the thresholds in the metric's own units.
    assert "| p99_latency | higher is worse | 0.2 | 0.05 | 0.2 | 1.5x (0.3) | 3x (0.6) |" in section

    lines = progress_lines(result)
    assert len(lines) == 15
    assert lines[0] == (
        "[release] watch T+1m of 15m, 14m left · error_rate 0 vs 0.01 = 0.00x · p99_latency 0.2 vs 0.2 = 1.00x · "
        "request_rate 10 vs 10 = 1.00x · saturation 0.25 vs 0.25 = 1.00x · 600 requests in the last 1m (10/s) · status ok"
    )
    assert lines[-1].startswith("[release] watch T+15m of 15m, 0s left")
    assert all(line.endswith("status ok") for line in lines)

    report_path = replay.reports()[0]
    for metric in METRICS:
        chart = report_path.with_name(f"{report_path.stem}_{metric}.svg")
        assert chart.exists(), chart
        assert f"[{metric}]({chart.name})" in section
        svg = chart.read_text()
        assert svg.count("<circle") == 15 and "class=\"baseline\"" in svg


def test_a_60_minute_production_window_prints_every_poll(replay):
    replay.environment("prod", "clean", kind="production")  # 60 minutes by default for production
    result = replay.run("prod", "--release-confirm")
    assert result.ret == 0, result.stdout.str()
    lines = progress_lines(result)
    assert [re.match(r"\[release\] watch (T\+\S+) of 60m, (\S+) left", line).groups() for line in lines] == [
        (f"T+{m}m", f"{60 - m}m" if m < 60 else "0s") for m in range(1, 61)
    ]
    assert len(poll_rows(replay.watch_section())) == 60


def test_an_error_spike_at_minute_7_rolls_back_at_the_poll_of_minute_7(replay):
    replay.environment("spike", "spike")
    result = replay.run("spike")
    assert result.ret == 10, result.stdout.str()
    # The decision names the metric, the value, the baseline, the threshold and the samples.
    result.stdout.fnmatch_lines([
        "Rolled-Back: error_rate breached 30.0x baseline at T+7m: error_rate 0.3 is 30.0x the floor 0.01 "
        "(baseline 0); hard at 2.0x; samples T+5m 0, T+6m 0, T+7m 0.3",
    ])
    section = replay.watch_section()
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, 8)]  # no poll after the breach
    assert "**rollback trigger** at T+7m: error_rate breached 30.0x baseline at T+7m" in section
    assert "0.3 vs 0.01 → 30.00x **HARD**" in section
    assert replay.deploy_calls() == ["--env spike --version v2 --strategy all-at-once", "--env spike --rollback v1"]
    assert "Succeeded" in replay.report("rollback")


@pytest.mark.parametrize(
    ("answer", "exit_code", "rows", "recorded"),
    [
        ("continue", 0, 15, "**Soft breach answered:** A) continue: drift accepted (by --release-on-soft-breach=continue)"),
        ("rollback", 10, 6, "**Soft breach answered:** B) roll back now (by --release-on-soft-breach=rollback)"),
        ("extend:5m", 0, 20, "**Soft breach answered:** C) extend the window by 5m (by --release-on-soft-breach=extend:5m)"),
    ],
    ids=["continue", "rollback", "extend"],
)
def test_a_p99_drift_of_1_7x_escalates_and_the_answer_decides(replay, answer, exit_code, rows, recorded):
    replay.environment("drift", "drift")
    result = replay.run("drift", f"--release-on-soft-breach={answer}")
    assert result.ret == exit_code, result.stdout.str()
    section = replay.watch_section()
    assert "Soft breach at T+6m: escalated" in section
    assert "soft breach at T+6m: p99_latency 0.34 is 1.7x the baseline 0.2 (floor 0.05); soft at 1.5x, hard at 3.0x" in section
    assert recorded in section
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, rows + 1)]
    if answer == "continue":
        result.stdout.fnmatch_lines(["Released"])
        assert "drift accepted at T+6m (answered continue by --release-on-soft-breach=continue)" in section
    elif answer == "rollback":
        result.stdout.fnmatch_lines([
            "Rolled-Back: soft breach at T+6m treated as hard (answered rollback by --release-on-soft-breach=rollback): "
            "p99_latency 0.34 is 1.7x the baseline 0.2 (floor 0.05); soft at 1.5x, hard at 3.0x; samples T+4m 0.2, T+5m 0.2, T+6m 0.34",
        ])
    else:
        result.stdout.fnmatch_lines(["Released"])
        assert "The window was extended by 5m to 20m." in section
        assert progress_lines(result)[-1].startswith("[release] watch T+20m of 20m, 0s left")


def test_a_soft_breach_nobody_answers_in_ci_rolls_back_and_says_why(replay, monkeypatch):
    monkeypatch.setenv("CI", "true")
    replay.environment("drift", "drift")
    result = replay.run("drift")
    assert result.ret == 10, result.stdout.str()
    why = (
        "nobody could be asked (CI is set) and neither --release-on-soft-breach nor "
        "watch.on_soft_breach gives an answer: rolling back, the safe default"
    )
    assert f"**Soft breach not answered:** {why}." in replay.watch_section()
    result.stdout.fnmatch_lines([f"Rolled-Back: soft breach at T+6m treated as hard (no answer: {why}): p99_latency 0.34*"])


def test_the_environment_config_answers_a_soft_breach(replay, monkeypatch):
    monkeypatch.setenv("CI", "true")
    replay.environment("drift", "drift", on_soft_breach="continue")
    result = replay.run("drift")
    assert result.ret == 0, result.stdout.str()
    assert "(by environments.drift.watch.on_soft_breach=continue)" in replay.watch_section()


def test_a_4_minute_scrape_gap_at_the_start_is_a_no_data_breach(replay):
    replay.environment("gap", "gap")
    result = replay.run("gap")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Rolled-Back: no data for error_rate since the window started (3m without data; no sample): observability is "
        "itself broken: error_rate has no data (no sample); none since the window started, 3m so far, hard after 3m without data",
    ])
    section = replay.watch_section()
    assert poll_rows(section) == ["T+1m", "T+2m", "T+3m"]
    assert section.count("| no data yet |") + section.count(" no data yet |") >= 3 * 4  # every metric, every poll
    # The baseline came from the history before the deploy, which the gap did not touch.
    assert "| error_rate | higher is worse | 0 | 0.01 | 0.01 |" in section


def test_an_idle_window_is_not_released_on_the_defaults(replay):
    """0.005 requests/s throughout and only metric names configured: too little traffic to judge
    is not a pass. The reason says how much traffic there was and what to do about it."""
    replay.environment("idle", "idle")
    result = replay.run("idle")
    # Rolled back; the old version's short window is just as idle, so the rollback cannot be
    # shown healthy either: a person takes over (exit 12), never Released.
    assert result.ret == 12, result.stdout.str()
    assert replay.deploy_calls() == ["--env idle --version v2 --strategy all-at-once", "--env idle --rollback v1"]
    result.stdout.fnmatch_lines([
        "Rollback-Failed: too little traffic to judge error_rate since the window started (3m without data; 0.3* requests in "
        "the last 1m (0.005*/s), under min_requests 10 per poll; an environment without users needs `traffic:` (the "
        "built-in load generator) to be judged)*",
    ])
    assert "observability is itself broken" not in result.stdout.str().split("release verdict")[-1]
    section = replay.watch_section()
    assert "not judged: 0.3" in section and poll_rows(section) == ["T+1m", "T+2m", "T+3m"]


def test_traffic_lost_after_the_deploy_rolls_back_and_is_named(replay):
    replay.environment("lossy", "lossy")
    result = replay.run("lossy")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: traffic lost at T+1m: request_rate 0.005, 0.05% of the baseline 10*"])
    assert poll_rows(replay.watch_section()) == ["T+1m"]
    assert "inf" not in replay.watch_section().replace("infinite", "")


def test_prometheus_killed_mid_window_is_a_no_data_breach(own_prometheus_replay):
    replay = own_prometheus_replay
    replay.environment("clean", "clean")
    replay.kill_prometheus_at(5 * 60 + 30)  # between the polls of T+5m and T+6m
    # The first poll without data (T+6m) is a soft finding, asked about once ("continue" here);
    # lasting no_data_after (3m) it is hard.
    result = replay.run("clean", "--release-on-soft-breach=continue")
    assert not replay.prometheus.running
    section = replay.watch_section()
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, 9)]
    assert section.count("no data since T+5m") == 3 * 4
    assert "soft breach at T+6m: no data for error_rate since T+5m: the metrics backend did not answer" in section
    result.stdout.fnmatch_lines([
        "*: no data for error_rate since T+5m: the metrics backend did not answer (3m without data; "
        f"Prometheus at {replay.prometheus.url} is unreachable: [[]Errno 111[]] Connection refused): observability is itself broken*",
    ])
    assert result.stdout.str().count("soft breach answered: A) continue") == 1
    assert "[release]   metrics backend: Prometheus at" in result.stdout.str()
    # The rollback ran, but with the metrics backend gone it cannot be verified: a person decides.
    assert replay.deploy_calls()[-1] == "--env clean --rollback v1"
    assert result.ret == 12, result.stdout.str()


def test_prometheus_unreachable_before_execute_aborts_without_deploying(replay):
    replay.environment("blind", "clean", url=f"http://127.0.0.1:{free_port()}")
    result = replay.run("blind")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Aborted: observability backend unreachable: Prometheus at http://127.0.0.1:* is unreachable: "
        "[[]Errno 111[]] Connection refused (a blind release is not started)",
    ])
    assert replay.deploy_calls() == []


def test_skip_watch_without_an_override_reason_is_a_usage_error(replay):
    replay.environment("clean", "clean")
    result = replay.run("clean", "--release-skip-watch")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-skip-watch needs --release-override-reason=TEXT*"])
    assert replay.deploy_calls() == [] and not replay.reports()


def test_skip_watch_with_a_reason_is_released_with_override_and_an_incident_retrospective(replay):
    replay.environment("clean", "clean")
    reason = "hotfix for the outage INC-42, approved by on-call"
    result = replay.run("clean", "--release-skip-watch", f"--release-override-reason={reason}")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["Released-with-override", "exit status: 0"])
    section = replay.watch_section()
    assert f"**The watch window was SKIPPED by override.** Reason given: {reason}." in section
    assert poll_rows(section) == []
    report = replay.report()
    assert "**Released-with-override**" in report
    assert f"override: watch window skipped (--release-skip-watch): {reason}" in report
    (entry,) = sorted((replay.release_dir / "retrospectives").glob("incident_v2_clean_*.md"))
    text = entry.read_text()
    assert text.startswith("# Incident retrospective: v2 to clean")
    assert "| Verdict | Released-with-override |" in text and reason in text
    assert f"({replay.reports()[0].name})" in text or replay.reports()[0].name in text


def test_a_failing_health_check_is_a_blip_once_and_a_hard_breach_twice_in_a_row(replay):
    """Clean metrics, but the project's health-check script fails every poll: the first failure
    is a soft blip (answered `continue` here), the second in a row triggers the rollback; the
    script still fails when the rollback is verified, so the system is in an unknown state."""
    replay.environment("clean", "clean")
    (replay.path / "unhealthy").touch()
    result = replay.run("clean", "--release-on-soft-breach=continue")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["Rollback-Failed: health check failed 2 intervals in a row at T+2m*"])
    assert replay.deploy_calls() == ["--env clean --version v2 --strategy all-at-once", "--env clean --rollback v1"]
    section = replay.watch_section()
    assert poll_rows(section) == ["T+1m", "T+2m"]
    first = next(line for line in section.splitlines() if line.startswith("| T+1m "))
    assert "| **FAILED** | **SOFT** |" in first  # the health column, then the status
