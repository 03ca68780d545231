"""Recording the watch window as it runs: a table row per poll in the report, one progress line
per poll in the terminal, and an SVG chart per metric next to the report.

Every row and every decision carries the numbers the judge used (value, baseline, ratio,
threshold), so a decision can be checked by hand afterwards."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Callable, Mapping

from pytest_release.core.judge import (
    Classification,
    MetricReading,
    MetricRule,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    evidence,
    format_elapsed,
    health_reading,
    no_data_words,
    ratio_words,
    traffic_words,
)
from pytest_release.report.charts import ChartPoint, metric_chart, threshold_lines
from pytest_release.report.document import Block, Section, write_atomically


def _num(x: float | None) -> str:
    if x is None:
        return "none"
    if math.isinf(x):
        return "infinite"
    return f"{x:.4g}"


def _factor(f: float | None) -> str:
    return "—" if f is None else f"{f:g}x"


def duration_words(seconds: float) -> str:
    """15m, 1h, 90s: how long, in the runbook's T+ notation without the T+."""
    return format_elapsed(seconds)[2:]


def chart_name(metric: str) -> str:
    """A metric name made safe for a file name (rule names come from release.yaml)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", metric).strip(".") or "metric"


def evidence_tag(r: MetricReading) -> str:
    """The evidence test behind a reading, short: `1/20 this poll, 3/140 since T+2m, evidence
    0.50 of 4.60 for 2x at 99%`; empty without one (or when this poll's counts alone showed it)."""
    ev = r.evidence
    if ev is None or ev.alone:
        return ""
    run = f", {ev.since_errors}/{ev.since_requests} since {format_elapsed(ev.since)}" if ev.since is not None else ""
    return (
        f"{ev.errors}/{ev.requests} errors this poll{run}, evidence {ev.score:.2f} of {ev.needed:.2f}"
        f" for {ev.factor:g}x at {ev.confidence:.4g} confidence"
    )


def metric_cell(r: MetricReading) -> str:
    """One metric in one poll: `0.3 vs 0.01 → 30.0x hard` (value, what it is compared with,
    ratio, classification); no data says since when, or that traffic was too low to judge; an
    inconclusive reading adds its counts and evidence."""
    if r.classification is Classification.NO_DATA:
        return no_data_words(r)
    if r.ratio is None:
        return f"{_num(r.value)} (no baseline)"
    ratio = f"{r.ratio:.2f}x" if math.isfinite(r.ratio) else ratio_words(r)
    mark = r.classification.value
    if r.classification in (Classification.SOFT, Classification.HARD):
        mark = f"**{mark.upper()}**"
    elif r.classification is Classification.INCONCLUSIVE:
        mark = f"*{mark}*"
    tag = evidence_tag(r)
    return f"{_num(r.value)} vs {_num(r.effective_baseline)} → {ratio} {mark}" + (f" ({tag})" if tag else "")


def data_range(poll: Poll) -> str:
    """The data the poll's values rest on, oldest start to newest end (UTC), when the provider
    says; "—" when it does not."""
    spans = [span for span in dict(poll.coverage or {}).values() if isinstance(span, tuple) and len(span) == 2]
    try:
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
    except (ValueError, TypeError):
        return "—"
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        utc = dt.timezone.utc
        return f"{start.astimezone(utc):%H:%M:%S}–{end.astimezone(utc):%H:%M:%S}"
    return f"{start}–{end}"


def limit_cell(rule: MetricRule) -> str:
    """An absolute limit in the thresholds table: "max 0.3 (hard)", "—" without one."""
    if rule.max is not None:
        return f"max {_num(rule.max)} ({rule.limit})"
    if rule.min is not None:
        return f"min {_num(rule.min)} ({rule.limit})"
    return "—"


def reading_words(r: MetricReading) -> str:
    """One metric for the terminal: its value against what it is compared with, and the ratio
    (`p99_latency 0.34 vs 0.2 = 1.70x soft`); no data says since when or why."""
    if r.classification is Classification.NO_DATA:
        return f"{r.metric} {no_data_words(r)}"
    if r.ratio is None:
        return f"{r.metric} {_num(r.value)} (no baseline)"
    ratio = f"{r.ratio:.2f}x" if math.isfinite(r.ratio) else ratio_words(r)
    shown = (Classification.SOFT, Classification.HARD, Classification.INCONCLUSIVE)
    mark = f" {r.classification.value}" if r.classification in shown else ""
    tag = evidence_tag(r)
    return f"{r.metric} {_num(r.value)} vs {_num(r.effective_baseline)} = {ratio}{mark}" + (f" ({tag})" if tag else "")


def progress_line(elapsed: float, remaining: float, decision: WatchDecision, traffic: str = "") -> str:
    """The terminal's line for one poll: elapsed of total, what is left, each metric's value,
    baseline and ratio, the traffic the poll saw, the status."""
    total = elapsed + remaining
    parts = [reading_words(r) for r in decision.readings]
    if decision.health_failures:
        parts.append(f"health failed x{decision.health_failures}")
    if traffic:
        parts.append(traffic)
    parts.append(f"status {decision.status.value}")
    return f"watch {format_elapsed(elapsed)} of {duration_words(total)}, {duration_words(remaining)} left · " + " · ".join(parts)


class WatchRecorder:
    """Writes each poll into the watch section, the terminal and the charts, as it happens."""

    def __init__(
        self,
        *,
        section: Section,
        policy: WatchPolicy,
        baseline: Mapping[str, float | None],
        duration: float,
        interval: float,
        chart_path: Callable[[str], Path],
        say: Callable[[str], None],
        flush: Callable[[], None],
        now: Callable[[], dt.datetime],
        baseline_seconds: float,
    ) -> None:
        self.section, self.policy, self.baseline = section, policy, dict(baseline)
        self.duration, self.say, self.flush, self.now = duration, say, flush, now
        self.polls: list[Poll] = []
        self.points: dict[str, list[ChartPoint]] = {r.name: [] for r in policy.rules}
        self.charts = {r.name: chart_path(chart_name(r.name)) for r in policy.rules}
        section.text(
            f"Window {duration_words(duration)}, a poll every {duration_words(interval)}, each metric judged against the "
            f"baseline measured over {duration_words(baseline_seconds)} before the deploy."
        )
        limited = any(r.max is not None or r.min is not None for r in policy.rules)
        section.table(
            ["Metric", "Direction", "Baseline", "Floor", "Compared with", "Soft at", "Hard at", *(["Limit"] if limited else [])],
            [self._baseline_row(r.name) + ([limit_cell(r)] if limited else []) for r in policy.rules],
            title="Baseline and thresholds",
        )
        section.text(
            "Charts (values against the baseline, soft and hard lines): "
            + " · ".join(f"[{name}]({path.name})" for name, path in self.charts.items())
        )
        headers = ["T+", "Time (UTC)", *[r.name for r in policy.rules], "Data (UTC)", "Health", "Status"]
        self.rows: Block = section.table(headers, title="Polls")
        self.decisions: list[str] = []  # shown under the table from the first breach on

    def _baseline_row(self, name: str) -> list[str]:
        rule = next(r for r in self.policy.rules if r.name == name)
        lines = threshold_lines(rule.direction, self.baseline.get(name), rule.floor, rule.soft, rule.hard)
        base = self.baseline.get(name)
        return [
            name,
            "higher is worse" if rule.direction == "up" else "lower is worse",
            "no data" if base is None else _num(base),
            _num(rule.floor),
            "no baseline" if lines.effective_baseline is None else _num(lines.effective_baseline),
            "—" if lines.soft is None else f"{_factor(rule.soft)} ({_num(lines.soft)})",
            "—" if lines.hard is None else f"{_factor(rule.hard)} ({_num(lines.hard)})",
        ]

    def on_poll(self, poll: Poll, decision: WatchDecision, remaining: float) -> None:
        self.polls.append(poll)
        readings = {r.metric: r for r in decision.readings}
        healthy, words = health_reading(self.policy, poll)
        health = "—" if healthy is None else ("ok" if healthy else "**FAILED**" + (f" ({words})" if words else ""))
        status = decision.status.value if decision.status is Status.OK else f"**{decision.status.value.upper()}**"
        cells = [metric_cell(readings[r.name]) if r.name in readings else "—" for r in self.policy.rules]
        stamp = self.now().astimezone(dt.timezone.utc).strftime("%H:%M:%S")
        self.rows.rows.append([format_elapsed(poll.elapsed), stamp, *cells, data_range(poll), health, status])
        unsure = [r for r in decision.readings if r.classification is Classification.INCONCLUSIVE]
        if decision.status is not Status.OK or unsure:
            if not self.decisions:
                self.section.bullets([], title="Decisions")
                self.section.blocks[-1].items = self.decisions
            why = evidence(decision, self.polls)
            for reason in decision.reasons:
                self.decisions.append(reason)
            for r in unsure:  # not a finding, and not a pass: the counts do not show it yet
                self.decisions.append(f"inconclusive at {format_elapsed(poll.elapsed)} (not a finding, not a pass): {r.explanation}")
            if decision.status is Status.HARD and decision.trigger:
                self.decisions.append(f"**rollback trigger** at {format_elapsed(poll.elapsed)}: {decision.trigger}" + (f" ({why})" if why else ""))
        for name, points in self.points.items():
            r = readings.get(name)
            if r is not None:
                points.append(ChartPoint(poll.elapsed, r.value, r.classification.value))
        self.write_charts(max(self.duration, poll.elapsed + remaining))
        traffic = traffic_words(self.policy, poll.requests) if poll.requests is not None else ""
        self.say(progress_line(poll.elapsed, remaining, decision, traffic))
        if poll.error:
            self.say(f"  metrics backend: {poll.error}")
        self.flush()

    def write_charts(self, duration: float) -> None:
        for rule in self.policy.rules:
            lines = threshold_lines(rule.direction, self.baseline.get(rule.name), rule.floor, rule.soft, rule.hard)
            svg = metric_chart(
                rule.name, self.points[rule.name], lines, duration=duration,
                title=f"{rule.name} ({'higher' if rule.direction == 'up' else 'lower'} is worse)",
            )
            write_atomically(self.charts[rule.name], svg)
