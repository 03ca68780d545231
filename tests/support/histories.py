"""Labelled metric histories: what a service's metrics looked like around a deploy, and what a
judge that must never call a blind or idle window healthy should conclude from them.

Each history is one Prometheus job, written as OpenMetrics (the text promtool backfills) by
`scenario_openmetrics`, plus a `probe_success` gauge as the blackbox exporter exports it (1 up,
0 down), so health can be read from PromQL too. They share the replay timeline of
tests/support/replay.py: history from DATA_START, the deploy at minute 15 (T0), a 15-minute
window after it. `at(t)` is "T+t minutes" in minutes since DATA_START.

`label` is the expected end of a 15-minute staging window on the defaults (with soft breaches
answered "continue"): Released, Escalated (soft findings, no hard one) or Rolled-Back, and
`trigger` a fragment of the rollback reason. `before` records what the judge of commit 11406d8
concluded, from `python -m tests.support.run_histories` run before the judge changed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from tests.support.prometheus_server import scenario_openmetrics
from tests.support.replay import BASE_P99, DATA_MINUTES, DATA_START, DEPLOY_MINUTE


def at(t: float) -> float:
    """T+t minutes, as minutes since DATA_START."""
    return DEPLOY_MINUTE + t


def after(t: float) -> Callable[[float], bool]:
    return lambda m: m >= at(t)


@dataclass(frozen=True)
class History:
    name: str
    shape: str
    label: str  # Released | Escalated | Rolled-Back
    trigger: str = ""  # a fragment of the rollback trigger
    before: str = ""  # the 11406d8 judge's conclusion
    scenario: dict = field(default_factory=dict)  # scenario_openmetrics keyword arguments
    healthy_at: Callable[[float], bool] = lambda m: True  # probe_success per minute since DATA_START
    health: bool = False  # judged with watch.health_query (HEALTH_QUERY) as well

    def openmetrics(self) -> list[str]:
        metrics = scenario_openmetrics(DATA_START, DATA_MINUTES, job=self.name, **self.scenario)
        return [metrics, probe_openmetrics(self.name, self.healthy_at)]


def probe_openmetrics(job: str, healthy_at: Callable[[float], bool], step_s: int = 15) -> str:
    """`probe_success{job=...}` every `step_s` seconds, as the blackbox exporter's probes."""
    lines = ["# TYPE probe_success gauge"]
    for k in range(int(DATA_MINUTES * 60 / step_s) + 1):
        minute = k * step_s / 60
        ts = DATA_START.timestamp() + k * step_s
        lines.append(f'probe_success{{job="{job}",instance="127.0.0.1:8000"}} {1 if healthy_at(minute) else 0} {ts:.0f}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _window(m: float) -> float:
    return m - DEPLOY_MINUTE


HISTORIES: tuple[History, ...] = (
    History("clean", "10 requests/s, p99 0.2 s, no errors throughout", "Released", before="Released"),
    History(
        "idle", "0.005 requests/s throughout (one request every 200 s), baseline included", "Rolled-Back",
        trigger="too little traffic", before="Released", scenario={"rps": 0.005},
    ),
    History(
        "gap-mid", "every series absent from T+6m to T+8m (a 2-minute scrape gap)", "Escalated",
        before="Released", scenario={"present_at": lambda m: not 6 < _window(m) < 8},
    ),
    History(
        "absent-end", "every series absent for the last 2 minutes (from T+13m)", "Escalated",
        before="Released", scenario={"present_at": lambda m: _window(m) <= 13},
    ),
    History(
        "traffic-loss", "10 requests/s before the deploy, 0.005 requests/s after it", "Rolled-Back",
        trigger="traffic lost", before="Escalated: 15 soft polls (request_rate 2000x below), never hard",
        scenario={"rps": lambda m: 10.0 if _window(m) < 0 else 0.005},
    ),
    History(
        "traffic-dip", "10 requests/s before, 6 requests/s after (1.67x below: soft only)", "Escalated",
        before="Escalated (15 polls)", scenario={"rps": lambda m: 10.0 if _window(m) < 0 else 6.0},
    ),
    History(
        "spike", "30% errors during T+6m..T+7m", "Rolled-Back", trigger="error_rate breached",
        before="Rolled-Back at T+7m", scenario={"error_ratio_at": lambda m: 0.3 if 6 <= _window(m) < 7 else 0.0},
    ),
    History(
        "drift", "p99 1.7x the baseline from T+5m", "Escalated", before="Escalated (ESCALATE printed at each of 10 polls)",
        scenario={"latency_at": lambda m: BASE_P99 * 1.7 if _window(m) >= 5 else BASE_P99},
    ),
    History(
        "latency-3x", "p99 exactly 3.0x the baseline from T+4m", "Rolled-Back", trigger="p99_latency breached",
        before="Rolled-Back at T+5m", scenario={"latency_at": lambda m: BASE_P99 * 3 if _window(m) >= 4 else BASE_P99},
    ),
    History(
        "gap-start", "nothing scraped for the first 4 minutes after the deploy", "Rolled-Back",
        trigger="no data for", before="Rolled-Back at T+3m", scenario={"present_at": lambda m: not 0 < _window(m) < 4},
    ),
    History(
        "health-blip", "metrics clean; probe_success 0 during T+4m..T+5m only", "Escalated",
        before="Released (health not backtested)", healthy_at=lambda m: not 4 < _window(m) <= 5, health=True,
    ),
    History(
        "health-down", "metrics clean; probe_success 0 from T+6m", "Rolled-Back", trigger="health check failed",
        before="Released (health not backtested)", healthy_at=lambda m: _window(m) <= 6, health=True,
    ),
)

BY_NAME = {h.name: h for h in HISTORIES}
HEALTH_QUERY = 'probe_success{job="$job"}'


def every_openmetrics() -> list[str]:
    return [text for history in HISTORIES for text in history.openmetrics()]


T0 = DATA_START + dt.timedelta(minutes=DEPLOY_MINUTE)

__all__ = ["BY_NAME", "HEALTH_QUERY", "HISTORIES", "History", "T0", "at", "every_openmetrics", "probe_openmetrics"]
