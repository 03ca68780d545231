"""The alerts firing now: Alertmanager's API v2 or Prometheus' `ALERTS` series (watch.alerts).

`AlertSource.read()` never raises: an unreachable, slow, unauthorised or malformed answer is
`AlertsSeen(error=...)`, "alerts unknown", which the judge treats as a finding (core.alerts),
never as "no alerts". Every request is bounded as a whole (adapters.bounded_http): a server that
trickles its answer cannot hold a poll longer than `watch.alerts.timeout`.

* alertmanager: GET {url}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=...,
  one `filter` parameter per selector matcher (Alertmanager's documented matcher syntax). A
  silenced or inhibited alert is a person's or a rule's decision and does not count.
* prometheus: the instant query `ALERTS{alertstate="firing",<selector>}` against the watch's
  metrics backend with its URL, credentials, headers and query parameters; and, for the
  backtest, the same as a range query (`read_range`).

Credentials (headers, bearer token, basic auth) are sent and never shown: messages name the
URL without its user info, and never a header value."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping

import pytest
import requests

from pytest_release.adapters.bounded_http import BoundedAdapter, deadline
from pytest_release.core.alerts import Alert, AlertPolicy, AlertsSeen
from pytest_release.core.watch_model import Poll, WatchPolicy
from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.scrape import describe_request_error, redact_url

if TYPE_CHECKING:
    from pytest_release.config import AlertsSettings, Environment

__all__ = ["ALERTS_BEFORE", "AlertSource", "AlertsUnavailable", "alert_policy", "make_alert_source", "replay_alerts"]

#: Phase 1's read of the alerts firing before the change (ReleaseContext.stash): the watch's
#: pre-change set.
ALERTS_BEFORE = pytest.StashKey[AlertsSeen]()


class AlertsUnavailable(MetricsUnavailable):
    """The alert history could not be read (backtest): replaying without it proves nothing."""


def alert_policy(settings: "AlertsSettings", before: tuple[Alert, ...] = ()) -> AlertPolicy:
    return AlertPolicy(
        severity_label=settings.severity_label, severities=dict(settings.severities), unmapped=settings.unmapped,
        before=before, selector=", ".join(_matcher(m) for m in settings.selector),
    )


def _matcher(matcher: tuple[str, str, str]) -> str:
    name, op, value = matcher
    return f'{name}{op}"{value}"'


class AlertSource:
    """Reads the alerts `settings` select from one source, within `settings.timeout` per request."""

    def __init__(
        self,
        settings: "AlertsSettings",
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        verify_tls: bool | str = True,
    ) -> None:
        self.settings = settings
        self.url = url.rstrip("/")
        self.params = dict(params or {})
        session = requests.Session()
        adapter = BoundedAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = verify_tls
        session.headers.update(dict(headers or {}))
        if bearer_token:
            session.headers["Authorization"] = f"Bearer {bearer_token}"
        if basic_auth is not None:
            session.auth = basic_auth
        self._session = session

    @property
    def source(self) -> str:
        return self.settings.source

    def describe(self) -> str:
        where = "Alertmanager" if self.source == "alertmanager" else "ALERTS in Prometheus"
        return f"{where} at {redact_url(self.url)}"

    @property
    def query(self) -> str:
        """The PromQL of the prometheus source."""
        return "ALERTS{" + ",".join(['alertstate="firing"', *(_matcher(m) for m in self.settings.selector)]) + "}"

    # --- now ------------------------------------------------------------------------------

    def read(self) -> AlertsSeen:
        """The alerts firing now, or why that is unknown."""
        try:
            if self.source == "alertmanager":
                return AlertsSeen(firing=self._alertmanager(), source=self.describe())
            return AlertsSeen(firing=self._prometheus_now(), source=self.describe())
        except _Unknown as exc:
            return AlertsSeen(error=str(exc), source=self.describe())

    def _alertmanager(self) -> tuple[Alert, ...]:
        params: list[tuple[str, str]] = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        params += [("filter", _matcher(m)) for m in self.settings.selector]
        body = self._get("/api/v2/alerts", params)
        if not isinstance(body, list):
            raise _Unknown(f"{self.describe()} answered something that is not an API v2 alerts list")
        alerts = []
        for item in body:
            labels = item.get("labels") if isinstance(item, dict) else None
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise _Unknown(f"{self.describe()} answered an alert without a label set")
            state = (item.get("status") or {}).get("state") if isinstance(item.get("status"), dict) else None
            if state == "suppressed":  # silenced or inhibited after all: not counted, as asked
                continue
            starts = item.get("startsAt")
            alerts.append(Alert.of(labels, since=starts if isinstance(starts, str) else None, fingerprint=str(item.get("fingerprint") or "")))
        return tuple(sorted(alerts, key=lambda a: (a.name, a.labels)))

    def _prometheus_now(self) -> tuple[Alert, ...]:
        data = self._prometheus("/api/v1/query", {"query": self.query})
        if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
            raise _Unknown(f"{self.describe()} answered something that is not an instant vector")
        return tuple(sorted((Alert.of(_labels(self, s)) for s in data["result"]), key=lambda a: (a.name, a.labels)))

    # --- history (prometheus only) --------------------------------------------------------

    def read_at(self, moment: dt.datetime) -> AlertsSeen:
        """The alerts firing at `moment` (the backtest's pre-change set). Raises AlertsUnavailable."""
        try:
            data = self._prometheus("/api/v1/query", {"query": self.query, "time": f"{moment.timestamp():.3f}"})
        except _Unknown as exc:
            raise AlertsUnavailable(str(exc)) from None
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            raise AlertsUnavailable(f"{self.describe()} answered something that is not an instant vector")
        return AlertsSeen(firing=tuple(Alert.of(_labels(self, s), since="before the backtest start") for s in result), source=self.describe())

    def read_range(self, start: dt.datetime, end: dt.datetime, step: float) -> dict[int, AlertsSeen]:
        """Epoch second -> the alerts firing at that point of the grid start, start+step, ..., end.
        `since` is the first grid point of the run of firing points it belongs to. Raises
        AlertsUnavailable."""
        params = {"query": self.query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": f"{step:g}"}
        try:
            data = self._prometheus("/api/v1/query_range", params)
        except _Unknown as exc:
            raise AlertsUnavailable(str(exc)) from None
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise AlertsUnavailable(f"{self.describe()} answered something that is not a range (matrix) result")
        grid = [round(start.timestamp() + k * step) for k in range(int((end - start).total_seconds() // step) + 1)]
        firing: dict[int, list[Alert]] = {t: [] for t in grid}
        for series in data["result"]:
            labels = _labels(self, series)
            points = sorted(round(float(p[0])) for p in series.get("values") or [])
            present = set(points)
            run_start: int | None = None
            for index, t in enumerate(grid):
                if t not in present:
                    run_start = None
                    continue
                if run_start is None:
                    run_start = t
                since = f"at or before {_iso(run_start)}" if run_start == grid[0] else _iso(run_start)
                firing[t].append(Alert.of(labels, since=since))
        return {t: AlertsSeen(firing=tuple(sorted(a, key=lambda x: (x.name, x.labels))), source=self.describe()) for t, a in firing.items()}

    # --- plumbing -------------------------------------------------------------------------

    def _prometheus(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        body = self._get(path, {**self.params, **params})
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise _Unknown(f"{self.describe()} did not answer the alerts query" + (f": {str(error)[:200]}" if error else ""))
        return body["data"]

    def _get(self, path: str, params: Any) -> Any:
        timeout = self.settings.timeout
        try:
            with deadline(timeout) as limit:
                response = self._session.get(self.url + path, params=params, timeout=(timeout, timeout))
                body = response.json() if response.status_code == 200 else None
        except requests.Timeout:
            raise _Unknown(f"{self.describe()} did not answer within {timeout:g} s") from None
        except ValueError:
            raise _Unknown(f"{self.describe()} answered something that is not JSON") from None
        except requests.RequestException as exc:
            if limit.expired:
                raise _Unknown(f"{self.describe()} did not answer within {timeout:g} s") from None
            raise _Unknown(f"{self.describe()} is unreachable: {describe_request_error(exc)}") from None
        if response.status_code in (401, 403):
            raise _Unknown(f"{self.describe()} answered {response.status_code}: check credentials")
        if response.status_code != 200:
            raise _Unknown(f"{self.describe()} answered HTTP {response.status_code}")
        return body

    def close(self) -> None:
        self._session.close()


class _Unknown(Exception):
    pass


def _labels(source: AlertSource, series: Any) -> dict[str, str]:
    metric = series.get("metric") if isinstance(series, dict) else None
    if not isinstance(metric, dict):
        raise _Unknown(f"{source.describe()} answered a series without labels")
    return {str(k): str(v) for k, v in metric.items() if k != "__name__"}


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def make_alert_source(env: "Environment", environ: Mapping[str, str] | None = None) -> AlertSource | None:
    """The source `env.watch.alerts` describes; None when alerts are not configured. Credentials
    come from the environment variables the settings name."""
    settings = env.watch.alerts
    if settings is None:
        return None
    environ = os.environ if environ is None else environ
    if settings.source == "alertmanager":
        token = environ.get(settings.bearer_token_env) if settings.bearer_token_env else None
        basic = None
        if settings.basic_auth_env:
            basic = (environ.get(settings.basic_auth_env[0], ""), environ.get(settings.basic_auth_env[1], ""))
        return AlertSource(
            settings, url=settings.url or "", headers=settings.headers, bearer_token=token, basic_auth=basic,
            verify_tls=settings.verify_tls,
        )
    metrics = env.metrics
    token = environ.get(metrics.bearer_token_env) if metrics.bearer_token_env else None
    basic = None
    if metrics.basic_auth_env:
        basic = (environ.get(metrics.basic_auth_env[0], ""), environ.get(metrics.basic_auth_env[1], ""))
    return AlertSource(
        settings, url=metrics.url or "", headers=metrics.headers, params=metrics.query_params, bearer_token=token,
        basic_auth=basic, verify_tls=metrics.verify_tls,
    )


def replay_alerts(
    source: AlertSource | None, policy: WatchPolicy, start: dt.datetime, interval: float, polls: list[tuple[dt.datetime, Poll]]
) -> tuple[WatchPolicy, list[tuple[dt.datetime, Poll]], str]:
    """watch.alerts with source prometheus: the ALERTS series over the range (one range query),
    each poll with the alerts firing at its time, and the alerts firing at START as the
    pre-change set. Alertmanager keeps no history: nothing is replayed, and the output says so.
    Raises AlertsUnavailable (a MetricsUnavailable: a replay with missing data proves nothing)."""
    if source is None or policy.alerts is None:
        return policy, polls, ""
    if source.source != "prometheus":
        note = f"{source.describe()} keeps no history: firing alerts are not replayed (source prometheus replays ALERTS)"
        return replace(policy, alerts=None), polls, note
    if not polls:
        return policy, polls, f"alerts from {source.query}: no poll in the range"
    before = source.read_at(start)
    firing = source.read_range(polls[0][0], polls[-1][0], interval)
    policy = replace(policy, alerts=replace(policy.alerts, before=before.firing))
    polls = [(when, replace(poll, alerts=firing.get(round(when.timestamp())))) for when, poll in polls]
    names = ", ".join(a.words(policy.alerts.severity_label) for a in before.firing) or "none"
    return policy, polls, f"alerts replayed from {source.query}; firing at the start (not counted unless they get worse): {names}"
