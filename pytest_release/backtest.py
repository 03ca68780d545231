"""Backtest: the watch-window judge over historical metrics, as if a release had started at START.

`pytest --release-env=ENV --release-backtest=START..END` deploys nothing and runs no phase. It
reads the environment's metrics from its Prometheus-compatible backend: the baseline over the
`watch.baseline` window before START (one instant query per metric, as a release measures it),
then one poll per `watch.interval` up to END with range queries (one per metric, not one per
poll), and drives the live window's own judge (`core.timeline.WindowJudge`: the same decisions,
the same end-of-window rule at END, the same points where a person is asked, once per finding)
over them, and prints the decision timeline: what would have fired, when and why. `--release-backtest-json=FILE` writes the
same timeline as JSON (schema below) for scripts that tune thresholds. Exit status 0.

JSON schema (`"schema": "pytest-release/backtest/1"`)::

    {
      "schema": "pytest-release/backtest/1",
      "env": "staging", "kind": "staging",
      "start": "2026-01-01T00:10:00+00:00", "end": "2026-01-01T00:25:00+00:00",
      "interval_seconds": 60.0, "baseline_seconds": 300.0, "method": "range",
      "baseline": {"error_rate": 0.0, ...},                     # null: no data before START
      "rules": [{"metric": "error_rate", "direction": "up", "soft": 1.5, "hard": 2.0, "floor": 0.01}, ...],
      "policy": {"no_data_after_seconds": 180.0, "min_requests": 10.0, "health_query": null},
      "person": "...",                                          # where a person's answer would change what follows
      "alerts": null | "...",                                   # watch.alerts: what was replayed from ALERTS, or why not
      "polls": [
        {"time": "2026-01-01T00:11:00+00:00", "elapsed_seconds": 60.0, "elapsed": "T+1m",
         "requests": 600.0,
         "metrics": {"error_rate": {"value": 0.0, "baseline": 0.0, "compared_with": 0.01,
                                     "ratio": 0.0, "classification": "ok", "threshold": 1.5,
                                     "explanation": "error_rate 0 is 0.00x the floor 0.01 ...",
                                     "evidence": null | {"errors", "requests", "since", "since_errors",
                                                         "since_requests", "score", "needed", "factor",
                                                         "confidence", "baseline", "shown"}}, ...},
         "decision": {"status": "ok", "action": "continue", "reasons": [], "trigger": null,
                      "after_rollback": false, "final": false,
                      "ask": false, "asked_about": [], "assumed_answer": null}},
        ...],
      "summary": {"polls": 15, "ok": 14, "soft": 0, "hard": 1, "questions": 0,
                  "first_escalation": null | {"time", "elapsed", "reasons"},
                  "rollback": null | {"time", "elapsed", "trigger", "evidence"}}
    }

`ratio` is a number, null (no data, or no baseline to compare with) or the string "inf";
`classification` is ok, soft, hard, no-data or inconclusive (a ratio breach the request and error
counts do not yet show at the policy's `confidence`: `evidence` holds the counts and the test,
core.evidence); `action` is what a live window would have done at
that poll: continue, escalate (a person is asked about a soft finding not asked about before) or
rollback (a hard breach). A person's answer is the one thing a recorded window cannot know:
where `ask` is true the backtest assumes "continue" (`assumed_answer`), and "roll back now"
would have ended the window there, "extend" moved its end. Polls after the first rollback are
still judged (`after_rollback: true`), so one run shows every breach in the range. The
health-check script has no history and is not judged; a `watch.health_query` is."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pytest

from pytest_release.adapters.alerts import AlertSource, make_alert_source, replay_alerts
from pytest_release.clock import RealClock
from pytest_release.config import ConfigError, load_config
from pytest_release.core.judge import (
    HEALTH_METRIC,
    Poll,
    Status,
    WatchDecision,
    WatchPolicy,
    evidence,
    format_elapsed,
    ratio_words,
    no_data_words,
)
from pytest_release.core.timeline import Step, judge_timeline as judge_steps
from pytest_release.metrics import MetricsUnavailable, judged_reasons
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.window import watch_policy
from pytest_release.options import read_backtest
from pytest_release.report.document import write_atomically

if TYPE_CHECKING:
    import pytest

SCHEMA = "pytest-release/backtest/1"
CHUNK_POINTS = 10_000  # under Prometheus's 11,000 points per range query
PERSON = (
    "where a poll has ask: true, a live window asks a person (A continue, B roll back now, C extend the"
    " window); the backtest assumes A. B would have rolled back at that poll; C would have moved the end"
    " of the window, so the end-of-window rule would have applied later"
)


class BacktestError(ValueError):
    """A bad --release-backtest value; the message names the option and what is wrong."""


@dataclass(frozen=True)
class BacktestRange:
    start: dt.datetime
    end: dt.datetime


def parse_moment(text: str, what: str) -> dt.datetime:
    """An ISO 8601 date or date-time; `Z` or an offset, or UTC when none is given."""
    raw = text.strip()
    if not raw:
        raise BacktestError(f"--release-backtest: {what} is empty")
    value = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BacktestError(
            f"--release-backtest: {what} {raw!r} is not an ISO 8601 time (like 2026-01-01T10:00:00Z or 2026-01-01T10:00+02:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def parse_range(text: str, *, interval: float, now: dt.datetime) -> BacktestRange:
    """START..END -> a range of at least one poll, ending no later than `now`."""
    if text.count("..") != 1:
        raise BacktestError(
            f"--release-backtest={text!r}: expected START..END in ISO 8601, like 2026-01-01T10:00Z..2026-01-02T10:00Z"
        )
    first, second = text.split("..")
    start, end = parse_moment(first, "START"), parse_moment(second, "END")
    if end <= start:
        raise BacktestError(f"--release-backtest={text!r}: END ({end.isoformat()}) must be after START ({start.isoformat()})")
    if (end - start).total_seconds() < interval:
        raise BacktestError(
            f"--release-backtest={text!r}: the range is shorter than one poll interval ({interval:g}s, watch.interval)"
        )
    if end > now:
        raise BacktestError(f"--release-backtest={text!r}: END ({end.isoformat()}) is in the future: there is no history to judge yet")
    return BacktestRange(start, end)


# --- collecting the polls ------------------------------------------------------------------------


def poll_times(rng: BacktestRange, interval: float) -> list[dt.datetime]:
    count = int(math.floor((rng.end - rng.start).total_seconds() / interval + 1e-9))
    return [rng.start + dt.timedelta(seconds=interval * k) for k in range(1, count + 1)]


def collect_polls(provider: Any, rng: BacktestRange, interval: float, *, method: str = "range") -> list[tuple[dt.datetime, Poll]]:
    """Every poll from START + interval to END, each metric over the `interval` before it.

    `range`: one range query per metric (per 10,000 points); `instant`: one instant query per
    metric per poll, as a live window asks (slower; kept to check the range path and to measure).
    An unreachable backend raises MetricsUnavailable: a backtest with missing data proves nothing."""
    times = poll_times(rng, interval)
    if method == "instant":
        polls = []
        for when in times:
            values = provider.sample(when, interval)
            if getattr(provider, "last_error", None):
                raise MetricsUnavailable(provider.last_error)
            polls.append((when, _poll(rng, when, values)))
        return polls
    if method != "range":
        raise ValueError(f"method must be 'range' or 'instant', got {method!r}")
    by_epoch: dict[int, dict[str, float | None]] = {round(t.timestamp()): {} for t in times}
    for offset in range(0, len(times), CHUNK_POINTS):
        chunk = times[offset : offset + CHUNK_POINTS]
        series = provider.sample_range(chunk[0], chunk[-1], interval, interval)
        for metric, points in series.items():
            for epoch, value in points:
                slot = by_epoch.get(round(epoch))
                if slot is not None:
                    slot[metric] = value
    metrics = list(getattr(provider, "queries", {}))
    polls = []
    for when in times:
        slot = by_epoch[round(when.timestamp())]
        polls.append((when, _poll(rng, when, {m: slot.get(m) for m in metrics})))
    return polls


def _poll(rng: BacktestRange, when: dt.datetime, values: Mapping[str, float | None]) -> Poll:
    missing = judged_reasons(values)  # an instant poll's Samples: the reasons a live poll hands the judge
    values = dict(values)
    return Poll(elapsed=(when - rng.start).total_seconds(), values=values, requests=values.get("requests"), missing=missing)


# --- judging ---------------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    time: dt.datetime
    poll: Poll
    decision: WatchDecision
    after_rollback: bool
    step: Step | None = None

    @property
    def action(self) -> str:
        if self.step is not None:
            return self.step.action
        return {Status.OK: "continue", Status.SOFT: "escalate", Status.HARD: "rollback"}[self.decision.status]

    @property
    def ask(self) -> bool:
        return self.step is not None and self.step.ask


@dataclass
class Timeline:
    env: str
    kind: str
    rng: BacktestRange
    interval: float
    baseline_seconds: float
    method: str
    policy: WatchPolicy
    baseline: dict[str, float | None]
    entries: list[TimelineEntry] = field(default_factory=list)
    alerts: str = ""  # watch.alerts: what was replayed from ALERTS, or why nothing was

    @property
    def rollback(self) -> TimelineEntry | None:
        return next((e for e in self.entries if e.decision.status is Status.HARD), None)

    @property
    def first_escalation(self) -> TimelineEntry | None:
        return next((e for e in self.entries if e.decision.status is Status.SOFT), None)

    def evidence_of(self, entry: TimelineEntry) -> str:
        index = self.entries.index(entry)
        return evidence(entry.decision, [e.poll for e in self.entries[: index + 1]])


def judge_timeline(policy: WatchPolicy, baseline: Mapping[str, float | None], polls: list[tuple[dt.datetime, Poll]]) -> list[TimelineEntry]:
    """Each poll judged by the live window's own judge (core.timeline), the last one as the end
    of the window; every question a person would be asked is answered "continue"."""
    steps = judge_steps(policy, baseline, [poll for _, poll in polls])
    entries: list[TimelineEntry] = []
    rolled_back = False
    for (when, poll), step in zip(polls, steps):
        entries.append(TimelineEntry(when, poll, step.decision, rolled_back, step))
        rolled_back = rolled_back or step.decision.status is Status.HARD
    return entries


def run_backtest(
    provider: Any,
    policy: WatchPolicy,
    rng: BacktestRange,
    *,
    interval: float,
    baseline_seconds: float,
    env: str = "",
    kind: str = "",
    method: str = "range",
    alerts: AlertSource | None = None,
) -> Timeline:
    baseline = dict(provider.sample(rng.start, baseline_seconds))
    if getattr(provider, "last_error", None):
        raise MetricsUnavailable(provider.last_error)
    polls = collect_polls(provider, rng, interval, method=method)
    policy = replace(policy, interval=interval)
    policy, polls, note = replay_alerts(alerts, policy, rng.start, interval, polls)
    timeline = Timeline(env, kind, rng, interval, baseline_seconds, method, policy, baseline, alerts=note)
    timeline.entries = judge_timeline(policy, baseline, polls)
    return timeline


# --- output ---------------------------------------------------------------------------------------


def _num(x: float | None) -> str:
    if x is None:
        return "no data"
    return "infinite" if math.isinf(x) else f"{x:.4g}"


def _json_number(x: float | None) -> float | str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    polls = []
    counts = {"ok": 0, "soft": 0, "hard": 0}
    for entry in timeline.entries:
        d = entry.decision
        counts[d.status.value] += 1
        polls.append(
            {
                "time": _iso(entry.time),
                "elapsed_seconds": entry.poll.elapsed,
                "elapsed": format_elapsed(entry.poll.elapsed),
                "requests": _json_number(entry.poll.requests),
                "metrics": {
                    r.metric: {
                        "value": _json_number(r.value),
                        "baseline": _json_number(r.baseline),
                        "compared_with": _json_number(r.effective_baseline),
                        "ratio": _json_number(r.ratio),
                        "classification": r.classification.value,
                        "threshold": _json_number(r.threshold),
                        "explanation": r.explanation,
                        "evidence": _evidence_json(r.evidence),
                    }
                    for r in d.readings
                },
                "decision": {
                    "status": d.status.value,
                    "action": entry.action,
                    "reasons": list(d.reasons),
                    "trigger": d.trigger,
                    "after_rollback": entry.after_rollback,
                    "final": bool(entry.step and entry.step.final),
                    "ask": entry.ask,
                    "asked_about": list(entry.step.asked_about) if entry.step else [],
                    "assumed_answer": "continue" if entry.ask else None,
                },
            }
        )
    rollback, escalation = timeline.rollback, timeline.first_escalation
    return {
        "schema": SCHEMA,
        "env": timeline.env,
        "kind": timeline.kind,
        "start": _iso(timeline.rng.start),
        "end": _iso(timeline.rng.end),
        "interval_seconds": timeline.interval,
        "baseline_seconds": timeline.baseline_seconds,
        "method": timeline.method,
        "baseline": {k: _json_number(v) for k, v in timeline.baseline.items()},
        "rules": [
            {"metric": r.name, "direction": r.direction, "soft": r.soft, "hard": r.hard, "floor": r.floor,
             "needs_traffic": r.needs_traffic, "lost": r.lost, "evidence": r.evidence}
            for r in timeline.policy.rules
        ],
        "policy": {
            "no_data_after_seconds": _json_number(timeline.policy.no_data_after),
            "min_requests": timeline.policy.min_requests,
            "health_query": timeline.policy.health_query or None,
            "confidence": timeline.policy.confidence,
        },
        "person": PERSON,
        "alerts": timeline.alerts or None,
        "polls": polls,
        "summary": {
            "polls": len(polls),
            **counts,
            "inconclusive": sum(1 for e in timeline.entries if _unsure(e.decision)),
            "questions": sum(1 for e in timeline.entries if e.ask),
            "first_escalation": None if escalation is None else {
                "time": _iso(escalation.time),
                "elapsed": format_elapsed(escalation.poll.elapsed),
                "reasons": list(escalation.decision.reasons),
            },
            "rollback": None if rollback is None else {
                "time": _iso(rollback.time),
                "elapsed": format_elapsed(rollback.poll.elapsed),
                "trigger": rollback.decision.trigger,
                "evidence": timeline.evidence_of(rollback),
            },
        },
    }


def _evidence_json(ev: Any) -> dict[str, Any] | None:
    if ev is None:
        return None
    return {
        "errors": ev.errors, "requests": ev.requests, "since": None if ev.since is None else format_elapsed(ev.since),
        "since_errors": ev.since_errors, "since_requests": ev.since_requests, "score": round(ev.score, 6),
        "needed": round(ev.needed, 6), "factor": ev.factor, "confidence": ev.confidence, "baseline": ev.baseline,
        "exact_p": ev.exact_p, "shown": ev.shown,
    }


def _unsure(decision: WatchDecision) -> list[Any]:
    """The readings of `decision` that are inconclusive (core.evidence)."""
    return [r for r in decision.readings if r.classification.value == "inconclusive"]


def write_json(timeline: Timeline, path: Path) -> None:

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(timeline_json(timeline), indent=2, allow_nan=False) + "\n")


def _readings(decision: WatchDecision) -> str:
    parts = []
    for r in decision.readings:
        if r.classification.value == "no-data":
            parts.append(f"{r.metric} {no_data_words(r)}")
        elif r.ratio is None:
            parts.append(f"{r.metric} {_num(r.value)} (no baseline)")
        else:
            ratio = f"{r.ratio:.2f}x" if math.isfinite(r.ratio) else ratio_words(r)
            parts.append(f"{r.metric} {_num(r.value)} vs {_num(r.effective_baseline)} = {ratio} {r.classification.value}")
    if decision.health_failures:
        parts.append(f"health failed {decision.health_failures} in a row")
    return "; ".join(parts)


def timeline_lines(timeline: Timeline) -> list[str]:
    """The decision timeline for a terminal: runs of OK polls folded into one line, every
    escalation and rollback on its own with its reasons, and the conclusion."""
    rng = timeline.rng
    stamp = "%Y-%m-%d %H:%M:%S UTC"
    out = [
        f"backtest of {timeline.env} ({timeline.kind}) as if a release had started at {rng.start.strftime(stamp)}, "
        f"until {rng.end.strftime(stamp)}",
        f"  {len(timeline.entries)} polls, one every {format_elapsed(timeline.interval)[2:]} ({timeline.method} queries); "
        + (f"health from {timeline.policy.health_query}" if timeline.policy.health_query else "the health-check script has no history and is not judged"),
        f"  baseline over the {format_elapsed(timeline.baseline_seconds)[2:]} before the start: "
        + (", ".join(f"{k} {_num(v)}" for k, v in timeline.baseline.items() if k != HEALTH_METRIC) or "none"),
    ] + ([f"  {timeline.alerts}"] if timeline.alerts else [])
    run: list[TimelineEntry] = []

    def silent(entry: TimelineEntry) -> tuple[str, ...]:
        return tuple(r.metric for r in entry.decision.readings if r.classification.value == "no-data")

    def flush_run() -> None:
        if not run:
            return
        first, last = run[0], run[-1]
        span = format_elapsed(first.poll.elapsed) if first is last else f"{format_elapsed(first.poll.elapsed)}..{format_elapsed(last.poll.elapsed)}"
        missing = silent(first)
        what = f"ok, but no data yet for {', '.join(missing)}" if missing else "ok"
        out.append(f"  {span:<16} {what} ({len(run)} poll{'s' if len(run) != 1 else ''})")
        run.clear()

    for entry in timeline.entries:
        d = entry.decision
        if d.status is Status.OK and _unsure(d):  # not a finding, not a pass: on its own line
            flush_run()
            out.append(f"  {format_elapsed(entry.poll.elapsed):<16} {entry.time.strftime('%H:%M:%S')} inconclusive (not a finding, not a pass): {_readings(d)}")
            for r in _unsure(d):
                out.append(f"  {'':<16}   - {r.explanation}")
            continue
        if d.status is Status.OK:
            if run and silent(run[-1]) != silent(entry):
                flush_run()
            run.append(entry)
            continue
        flush_run()
        at = format_elapsed(entry.poll.elapsed)
        if d.status is Status.HARD:
            what = "ROLLBACK would fire"
        elif entry.ask:
            what = "ESCALATE (soft breach: a person is asked; assumed continue)"
        else:
            what = "soft (already answered: not asked again)"
        after = " [after the rollback point]" if entry.after_rollback else ""
        out.append(f"  {at:<16} {entry.time.strftime('%H:%M:%S')} {what}{after}: {_readings(d)}")
        for reason in d.reasons:
            out.append(f"  {'':<16}   - {reason}")
    flush_run()
    rollback, escalation = timeline.rollback, timeline.first_escalation
    if rollback is not None:
        out.append(
            f"decision: a rollback would have fired at {format_elapsed(rollback.poll.elapsed)} "
            f"({rollback.time.strftime(stamp)}): {rollback.decision.trigger}" + (f" ({found})" if (found := timeline.evidence_of(rollback)) else "")
        )
    else:
        out.append("decision: no hard breach: the release would have passed the watch window" + (" after escalation" if escalation else ""))
    if escalation is not None and (rollback is None or escalation.time <= rollback.time):
        out.append(f"first escalation at {format_elapsed(escalation.poll.elapsed)} ({escalation.time.strftime(stamp)}): " + "; ".join(escalation.decision.reasons))
    return out


# --- the pytest glue ------------------------------------------------------------------------------


def backtest_main(config: "pytest.Config", session: "pytest.Session") -> int:
    """Run by `pytest_cmdline_main` inside pytest's session wrapper; returns the exit status."""


    request = read_backtest(config)
    try:
        release_config = load_config(request.config_path)
        env = release_config.environment(request.env)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if env.metrics.provider == "scrape":
        raise pytest.UsageError(
            f"--release-backtest needs metrics history: environment {request.env} reads metrics.provider scrape "
            "(a live endpoint with no past); configure a Prometheus-compatible backend (metrics.provider: prometheus)"
        )
    w = env.watch
    try:
        rng = parse_range(request.range_text, interval=w.interval, now=RealClock().now())
    except BacktestError as exc:
        raise pytest.UsageError(str(exc)) from None
    out = request.json_path
    write = _writer(config)

    provider = make_provider(env, config_path=release_config.path, clock=RealClock())
    alerts = make_alert_source(env)
    try:
        timeline = run_backtest(
            provider, watch_policy(env.watch), rng, interval=w.interval, baseline_seconds=w.baseline,
            env=env.name, kind=env.kind, method="range", alerts=alerts,
        )
    except MetricsUnavailable as exc:
        write(f"backtest failed: {exc}")
        return 1
    finally:
        provider.close()
        if alerts is not None:
            alerts.close()
    for line in timeline_lines(timeline):
        write(line)
    if out is not None:
        write_json(timeline, out)
        write(f"timeline written to {out}")
    return 0


def _writer(config: "pytest.Config") -> Callable[[str], None]:
    terminal = config.pluginmanager.getplugin("terminalreporter")
    if terminal is None:
        return lambda line: print(line, flush=True)
    terminal.ensure_newline()
    terminal.section("release backtest", bold=True)
    return lambda line: terminal.write_line(line)
