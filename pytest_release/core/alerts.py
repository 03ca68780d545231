"""Firing alerts as watch signals (issue 14, point 4): the alerts a team already has, read from
Alertmanager or Prometheus' `ALERTS` series, judged beside the metrics.

* Severity: the alert's `severity_label` (default `severity`) is mapped to hard (rolls back),
  soft (escalates, asked once per alert) or ignore (recorded only). A severity the map does not
  name, or an alert without the label, is `unmapped` (default soft, may be set to hard, never to
  ignore): the product cannot tell such an alert is harmless, so it is never dropped silently.
* Identity: an alert is its name and its labels *without* the severity label (and Prometheus'
  `alertstate`). A new label set for the same alertname is a new alert.
* Pre-existing: an alert already firing before the change does not count against the release,
  unless it gets worse: its mapped severity rises (warning -> critical: soft -> hard). The
  same severity, or a lower one, is reported as pre-existing, not counted.
* Unknown: a poll whose alerts could not be read is never "no alerts": a soft finding ("alerts
  unknown"), hard once the alerts have been unknown for the policy's `no_data_after` (since the
  last poll that read them, or since the window started), as for a metric without data.

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from pytest_release.core.watch_model import Poll, Status
from pytest_release.core.words import _fmt_duration, format_elapsed

__all__ = [
    "ALERT_CLASSES",
    "DEFAULT_SEVERITIES",
    "DEFAULT_SEVERITY_LABEL",
    "DEFAULT_UNMAPPED",
    "Alert",
    "AlertFinding",
    "AlertPolicy",
    "AlertsSeen",
    "alert_findings",
    "merge_seen",
    "pre_existing_words",
]

#: What a severity can be mapped to.
ALERT_CLASSES = ("hard", "soft", "ignore")
DEFAULT_SEVERITY_LABEL = "severity"
#: critical rolls back (AWS CodeDeploy's alarm rollback; the runbook's hard breach), warning asks.
DEFAULT_SEVERITIES: Mapping[str, str] = {"critical": "hard", "warning": "soft"}
#: An unmapped severity or a missing label: soft (fail closed, never ignored silently).
DEFAULT_UNMAPPED = "soft"
_RANK = {"ignore": 0, "soft": 1, "hard": 2}
#: Labels that say how the alert is seen, not which alert it is.
_STATE_LABELS = ("alertstate",)


@dataclass(frozen=True)
class Alert:
    """One firing alert as a source reported it."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()  # every label but alertname, sorted
    since: str | None = None  # startsAt (Alertmanager) or the first firing sample (ALERTS range)
    fingerprint: str = ""

    @staticmethod
    def of(labels: Mapping[str, str], since: str | None = None, fingerprint: str = "") -> Alert:
        name = str(labels.get("alertname", ""))
        rest = tuple(sorted((str(k), str(v)) for k, v in labels.items() if k != "alertname" and k not in _STATE_LABELS))
        return Alert(name or "(no alertname)", rest, since, fingerprint)

    def label(self, key: str) -> str | None:
        return next((v for k, v in self.labels if k == key), None)

    def identity(self, severity_label: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, tuple((k, v) for k, v in self.labels if k != severity_label)

    def words(self, severity_label: str = DEFAULT_SEVERITY_LABEL) -> str:
        """`name{label="value",...}`, without the severity label (named on its own)."""
        _, labels = self.identity(severity_label)
        inner = ",".join(f'{k}="{v}"' for k, v in labels)
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True)
class AlertsSeen:
    """The alerts one read found firing, or why they could not be read (`error`: alerts unknown)."""

    firing: tuple[Alert, ...] = ()
    error: str | None = None
    source: str = ""  # "Alertmanager at http://...", for words


@dataclass(frozen=True)
class AlertPolicy:
    """How firing alerts are judged, and the alerts that were firing before the change."""

    severity_label: str = DEFAULT_SEVERITY_LABEL
    severities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    unmapped: str = DEFAULT_UNMAPPED
    before: tuple[Alert, ...] = ()
    selector: str = ""  # for words only

    def __post_init__(self) -> None:
        for severity, cls in dict(self.severities).items():
            if cls not in ALERT_CLASSES:
                raise ValueError(f"alert policy: severity {severity!r} maps to {cls!r}, expected one of {', '.join(ALERT_CLASSES)}")
        if self.unmapped not in ("hard", "soft"):
            raise ValueError(f"alert policy: unmapped must be 'hard' or 'soft' (never ignored silently), got {self.unmapped!r}")

    def severity(self, alert: Alert) -> str | None:
        return alert.label(self.severity_label)

    def classify(self, alert: Alert) -> str:
        severity = self.severity(alert)
        if severity is None or severity not in self.severities:
            return self.unmapped
        return self.severities[severity]

    def severity_words(self, alert: Alert) -> str:
        severity = self.severity(alert)
        cls = self.classify(alert)
        if severity is None:
            return f"no {self.severity_label} label: unmapped, {cls}"
        if severity not in self.severities:
            return f"{self.severity_label} {severity}: unmapped, {cls}"
        return f"{self.severity_label} {severity}: {cls}"

    def was_before(self, alert: Alert) -> Alert | None:
        """The pre-change alert this one is (same identity), the most severe if several."""
        ident = alert.identity(self.severity_label)
        same = [b for b in self.before if b.identity(self.severity_label) == ident]
        return max(same, key=lambda b: _RANK[self.classify(b)], default=None)


@dataclass(frozen=True)
class AlertFinding:
    status: Status
    reason: str
    trigger: str
    key: str | None = None


def _since(alert: Alert) -> str:
    return f"since {alert.since}" if alert.since else "start time not reported by the source"


def alert_findings(policy: AlertPolicy | None, polls: Sequence[Poll], no_data_after: float = math.inf) -> list[AlertFinding]:
    """The findings of the last poll's alerts. Polls without `alerts` (alerts not configured, or
    a driver that does not read them) give none. `no_data_after`: how long alerts may be unknown
    before that is a hard breach (the watch policy's no-data rule)."""
    if policy is None or not polls:
        return []
    last = polls[-1]
    seen: AlertsSeen | None = getattr(last, "alerts", None)
    if seen is None:
        return []
    at = format_elapsed(last.elapsed)
    if seen.error:
        return [_unknown(polls, seen, at, no_data_after)]
    findings: list[AlertFinding] = []
    for alert in sorted(seen.firing, key=lambda a: (-_RANK[policy.classify(a)], a.words(policy.severity_label))):
        cls = policy.classify(alert)
        if cls == "ignore":
            continue
        before = policy.was_before(alert)
        worse = ""
        if before is not None:
            if _RANK[cls] <= _RANK[policy.classify(before)]:
                continue  # pre-existing, no worse: reported in phase 1, not counted
            worse = f", worse than before the change ({policy.severity_words(before)})"
        name = alert.words(policy.severity_label)
        what = f"alert {name} firing ({policy.severity_words(alert)}; {_since(alert)}{worse})"
        if cls == "hard":
            findings.append(AlertFinding(Status.HARD, f"hard breach at {at}: {what}: rolls back", f"{what} at {at}"))
        else:
            findings.append(AlertFinding(Status.SOFT, f"soft breach at {at}: {what}: escalates (a person is asked once per alert)", what, key=f"alert:{name}:{cls}"))
    return findings


def _unknown(polls: Sequence[Poll], seen: AlertsSeen, at: str, limit: float) -> AlertFinding:
    """Alerts could not be read: soft; hard once unknown for `limit` seconds."""
    since, had = 0.0, False
    for poll in reversed(polls[:-1]):
        earlier: AlertsSeen | None = getattr(poll, "alerts", None)
        if earlier is not None and not earlier.error:
            since, had = poll.elapsed, True
            break
    gap = polls[-1].elapsed - since
    when = f"since {format_elapsed(since)}" if had else "since the window started"
    what = f"alerts unknown {when}: {seen.error}"
    if gap >= limit:
        trigger = f"{what} ({_fmt_duration(gap)} without an answer, hard after {_fmt_duration(limit)}): a firing alert cannot be ruled out"
        return AlertFinding(Status.HARD, f"hard breach at {at}: {trigger}", trigger)
    bound = f"hard after {_fmt_duration(limit)}" if math.isfinite(limit) else "never hard"
    reason = f"soft breach at {at}: {what} ({_fmt_duration(gap)} so far, {bound}): not shown free of alerts"
    return AlertFinding(Status.SOFT, reason, what, key="alerts-unknown")


def merge_seen(reads: Sequence[AlertsSeen | None]) -> AlertsSeen | None:
    """Reads at one instant, merged worst-first: unknown if any was, else every alert firing in any."""
    known = [r for r in reads if r is not None]
    if not known:
        return None
    errors = sorted(r.error for r in known if r.error)
    if errors:
        return AlertsSeen(error=errors[0], source=known[0].source)
    firing: dict[tuple[str, tuple[tuple[str, str], ...]], Alert] = {}
    for read in known:
        for alert in read.firing:
            firing.setdefault((alert.name, alert.labels), alert)
    return AlertsSeen(firing=tuple(firing[k] for k in sorted(firing)), source=known[0].source)


def pre_existing_words(policy: AlertPolicy, alerts: Sequence[Alert]) -> str:
    """Phase 1's line: the alerts already firing before the release."""
    if not alerts:
        return "no alert firing before the release"
    parts = [f"{a.words(policy.severity_label)} ({policy.severity_words(a)}; {_since(a)})" for a in alerts]
    return "already firing before the release (not counted unless they get worse): " + "; ".join(parts)
