"""Metrics from a Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Every metric is one instant query evaluated at an explicit time, so a watch window driven by a
simulated clock reads the same numbers as a live one, and a backtest over old data is a loop
over `sample` (or one `sample_range`).

Freshness is part of every poll: one more query per poll asks the backend which time it really
evaluated at (`time()`) and how new the samples of every series the queries read are
(`timestamp()`). A value resting on samples from before the change, or on samples older than
`max_sample_age`, is no data, with the reason in `Samples.missing_reasons`."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any, Mapping

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from pytest_release.metrics import WAITING, MetricsUnavailable, Samples
from pytest_release.metrics.alignment import points_by_poll
from pytest_release.metrics.backends import (
    FLAVORS,
    Backend,
    flavor_from_buildinfo,
    settings_for,
    shift_fix,
    version_from_vm_metrics,
)
from pytest_release.metrics.promql import freshness_query, prometheus_counters_in_metricsql, render, series_selectors
from pytest_release.metrics.scrape import describe_request_error, redact_url

log = logging.getLogger(__name__)

#: Prometheus refuses range queries with more points than this per series.
MAX_RANGE_POINTS = 11_000

#: An evaluation time further than this from the requested one means the backend shifts queries
#: (VictoriaMetrics' -search.latencyOffset, a cache): its answers are not about the poll.
MAX_EVALUATION_SHIFT = 1.0


class MetricsQueryError(ValueError):
    """A configured query is not valid PromQL for this backend (HTTP 400 `bad_data` or 422
    `execution`). A configuration mistake, not an outage: it is raised, never read as no data."""

    def __init__(self, metric: str, query: str, reason: str) -> None:
        super().__init__(f"the query for metric {metric!r} failed: {reason}\n  query: {query}")
        self.metric = metric
        self.query = query
        self.reason = reason


class _Failure(Exception):
    """The backend did not answer a query usefully; `message` says why, credential-free."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PrometheusProvider:
    """Samples each configured query with an instant query at the sample's time.

    Values: an empty result is None (no data); NaN (e.g. 0/0, a histogram with no
    observations) is None; a scalar result is its value; a vector with several series gives the
    **largest** value, because the watch window looks for the worst part of the system (write
    an aggregation such as `sum(...)` into the query to get another reading).

    Failures: `check_reachable` raises MetricsUnavailable. During `sample`, an unreachable,
    unauthorised or failing (5xx) backend makes every value None and sets `last_error`; the
    judge treats that as no data, which becomes a breach if it lasts. Only a PromQL error raises
    (MetricsQueryError), because retrying a bad query cannot help.

    Requests are never retried: an unreachable backend fails at once rather than after the
    client library's default 1+2+4 s of backoff, and a slow one after `timeout` seconds."""

    def __init__(
        self,
        url: str,
        queries: Mapping[str, str],
        *,
        timeout: float = 10.0,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        verify_tls: bool | str = True,
        headers: Mapping[str, str] | None = None,
        query_params: Mapping[str, str] | None = None,
        flavor: str = "auto",
        max_sample_age: float | None = None,
    ) -> None:
        if bearer_token and basic_auth is not None:
            raise ValueError("give Prometheus either a bearer token or basic auth, not both")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus URL must start with http:// or https://, got {redact_url(url)!r}")
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, got {flavor!r}")
        self.url = url.rstrip("/")
        self.queries = dict(queries)
        self.timeout = timeout
        self.max_sample_age = max_sample_age
        self.last_error: str | None = None
        self._last_response: requests.Response | None = None
        self._flavor = flavor
        self._detected = flavor != "auto"
        self._detection_tried = False  # sample paths ask build-info once; check_reachable until it answers
        self._user_params = dict(query_params or {})
        self._user_headers = dict(headers or {})
        self.backend = self._settle(flavor if flavor != "auto" else "prometheus", "configured" if flavor != "auto" else "default")

        session = requests.Session()
        # A CA bundle path is passed through; PrometheusConnect ignores disable_ssl when given a session.
        session.verify = verify_tls
        session.headers.update(self._headers)
        if bearer_token:
            session.headers["Authorization"] = f"Bearer {bearer_token}"
        if basic_auth is not None:
            session.auth = basic_auth
        session.hooks["response"].append(self._remember_response)
        self._session = session
        self._client = PrometheusConnect(
            url=self.url,
            headers=None,  # the session's headers apply
            disable_ssl=verify_tls is False,
            # read=False: a read timeout surfaces as requests.Timeout instead of a generic
            # "max retries exceeded" ConnectionError.
            retry=Retry(total=0, connect=0, read=False, redirect=3, status=0, raise_on_status=False),
            session=session,
            timeout=timeout,  # type: ignore[arg-type]  # requests takes a float
        )

    # --- protocol -------------------------------------------------------------------------

    def check_reachable(self) -> None:
        """Phase 1: ask the trivial query `vector(1)` (works on every Prometheus-compatible API,
        unlike `/-/ready`, and proves the credentials as well as the network), detect the
        flavour, then check that the backend evaluates a query at the time asked. A backend that
        answers as of an earlier time would judge the replaced version: it is refused, with the fix."""
        try:
            self._query("check", "vector(1)", {})
        except _Failure as failure:
            raise MetricsUnavailable(failure.message) from None
        except MetricsQueryError as exc:
            raise MetricsUnavailable(f"Prometheus at {redact_url(self.url)} rejected a trivial query: {exc.reason}") from None
        if not self._detected:
            self.detect_flavor()
        try:
            shift = self.evaluation_shift()
        except _Failure as failure:
            raise MetricsUnavailable(failure.message) from None
        if shift > MAX_EVALUATION_SHIFT:
            raise MetricsUnavailable(f"{self.backend.flavor} at {redact_url(self.url)} does not answer with fresh data: {shift_fix(self.backend.flavor, shift)}")

    def detect_flavor(self) -> Backend:
        """The flavour from the build-info endpoint (VictoriaMetrics confirmed by its /metrics);
        plain Prometheus when nothing tells. Sets `backend` and the query settings in effect."""
        self._detection_tried = True
        status, body = self._get_json("/api/v1/status/buildinfo")
        if status is None:  # unreachable: the query that follows says so; ask again later
            return self.backend
        flavor, version = flavor_from_buildinfo(status, body)
        detected_by = "build-info"
        if flavor in (None, "prometheus"):
            vm_version = version_from_vm_metrics(self._get_text("/metrics"))
            if vm_version is not None:
                flavor, version, detected_by = "victoriametrics", vm_version or None, "/metrics"
        if flavor is None:
            flavor, detected_by = "prometheus", "default: build-info did not tell"
        self.backend = self._settle(flavor, detected_by, version)
        self._session.headers.update(self._headers)
        self._detected = True
        return self.backend

    def evaluation_shift(self) -> float:
        """How many seconds before "now" the backend evaluates a query for now: `vector(time())`
        without a time, whose answer carries the requested timestamp and the time used."""
        data = self._query("check", "vector(time())", {})
        try:
            stamp, used = data[0]["value"]
            return float(stamp) - float(used)
        except (IndexError, KeyError, TypeError, ValueError):
            raise _Failure(f"{self.backend.flavor} at {redact_url(self.url)} answered vector(time()) with {str(data)[:80]}") from None

    def settings_line(self) -> str:
        """The report header's line: `metrics: <flavour> ... at <url>; ...`."""
        age = f"{self.max_sample_age:g}s" if self.max_sample_age is not None else "the poll's window"
        return f"metrics: {self.backend.describe()} at {redact_url(self.url)}; stale after {age}"

    def sample(self, at: dt.datetime, window: float, not_before: dt.datetime | None = None) -> Samples:
        """Each metric over the `window` seconds ending at `at` (evaluation time `at`), over a
        window clipped so that it starts no earlier than `not_before`.

        None, with the reason, for a metric whose newest sample predates `not_before` or is
        older than `max_sample_age` (default: `window`), for every metric while no window fits
        after `not_before` yet, and for every metric when the backend evaluated at another time."""
        if not self._detected and not self._detection_tried:
            self.detect_flavor()
        selectors = {name: series_selectors(render(template, window)) for name, template in self.queries.items()}
        distinct = list(dict.fromkeys(sel for sels in selectors.values() for sel in sels))
        params = {"time": _epoch(at)}
        values: dict[str, float | None] = {}
        reasons: dict[str, str] = {}
        coverage: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        try:
            used, newest = self._freshness(distinct, params)
            shift = _epoch(at) - used
            if abs(shift) > MAX_EVALUATION_SHIFT:
                self.last_error = None
                return Samples.missing(self.queries, f"the backend answered as of {shift:+.0f}s from the poll: {shift_fix(self.backend.flavor, shift)}")
            span = window
            if not_before is not None:
                span = min(window, (at - not_before).total_seconds())
            if span < 1.0:
                self.last_error = None
                return Samples.missing(self.queries, f"{WAITING} ({max(0.0, (at - not_before).total_seconds() if not_before else 0):.0f}s since it)")
            for name, template in self.queries.items():
                values[name] = instant_value(self._query(name, self._render(template, span), params))
        except _Failure as failure:
            self._note_failure(failure.message)
            return Samples.missing(self.queries, failure.message)
        self.last_error = None
        max_age = self.max_sample_age if self.max_sample_age is not None else window
        start = at - dt.timedelta(seconds=span)
        for name in self.queries:
            stamps = [newest[distinct.index(sel)] for sel in selectors[name] if distinct.index(sel) in newest]
            last = _moment(max(stamps)) if stamps else None
            why = _staleness(at, last, not_before, max_age, bool(selectors[name]))
            if why is not None:
                values[name], reasons[name] = None, why
                continue
            coverage[name] = (start, last or at)
            if values[name] is None:
                reasons[name] = "the query returned no data"
        return Samples(values, missing_reasons=reasons, coverage=coverage)

    def sample_range(
        self, start: dt.datetime, end: dt.datetime, step: float, window: float
    ) -> dict[str, list[tuple[float, float | None]]]:
        """Each metric at `start`, `start + step`, ... up to `end` (whole epoch seconds, as the
        client rounds them), every point covering the `window` seconds before it. Points are
        matched to those times by window (`alignment.points_by_poll`), so a backend that aligns
        its answer to the step (VictoriaMetrics) gives the same keys as Prometheus.

        For backtests: unlike `sample`, an unreachable backend raises MetricsUnavailable,
        because a backtest with silently missing data would prove nothing."""
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        if not self._detected and not self._detection_tried:
            self.detect_flavor()
        first, last = round(_epoch(start)), round(_epoch(end))
        if last < first:
            raise ValueError("end is before start")
        grid = [first + i * step for i in range(int((last - first) // step) + 1)]
        if len(grid) > MAX_RANGE_POINTS:
            raise ValueError(f"{len(grid)} points exceed Prometheus's limit of {MAX_RANGE_POINTS}: use a larger step")
        rendered = {name: self._render(template, window) for name, template in self.queries.items()}
        selectors = {name: series_selectors(query) for name, query in rendered.items()}
        distinct = list(dict.fromkeys(sel for sels in selectors.values() for sel in sels))
        max_age = self.max_sample_age if self.max_sample_age is not None else window
        series: dict[str, list[tuple[float, float | None]]] = {}
        try:
            newest = self._range_freshness(distinct, start, end, step, grid)
            for name, query in rendered.items():
                matrix = self._query(name, query, {}, start=start, end=end, step=f"{step:g}")
                worst = _worst_by_timestamp(matrix)
                points = points_by_poll(((ms / 1000, v) for ms, v in worst.items()), grid, step)
                series[name] = [(t, None if _stale_at(t, selectors[name], distinct, newest, max_age) else v) for t, v in points]
        except _Failure as failure:
            self._note_failure(failure.message)
            raise MetricsUnavailable(failure.message) from None
        self.last_error = None
        return series

    def _range_freshness(self, selectors: list[str], start: dt.datetime, end: dt.datetime, step: float, grid: list[float]) -> dict[int, dict[float, float | None]]:
        """selector index -> poll time -> newest sample time there (by the same window matching)."""
        if not selectors:
            return {}
        matrix = self._query("freshness", freshness_query(selectors), {}, start=start, end=end, step=f"{step:g}")
        newest: dict[int, dict[float, float | None]] = {}
        for entry in matrix or []:
            probe = entry.get("metric", {}).get("probe", "")
            if not probe.isdigit():
                continue
            points = [(float(ts), _number(raw)) for ts, raw in entry.get("values", [])]
            newest[int(probe)] = dict(points_by_poll(points, grid, step))
        return newest

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        # PrometheusConnect turns a non-200 answer into an exception carrying only a string;
        # the response itself tells a bad query from bad credentials.
        self._last_response = response
        return response

    def _render(self, template: str, window: float) -> str:
        query = render(template, window)
        return prometheus_counters_in_metricsql(query) if self.backend.flavor == "victoriametrics" else query

    def _settle(self, flavor: str, detected_by: str, version: str | None = None) -> Backend:
        params, headers = settings_for(flavor, self._user_params, self._user_headers)
        self._params, self._headers = params, headers
        return Backend(flavor, version, detected_by, params, tuple(sorted(headers)))

    def _get_json(self, path: str) -> tuple[int | None, Any]:
        try:
            response = self._session.get(self.url + path, timeout=self.timeout)
            return response.status_code, response.json()
        except (requests.RequestException, ValueError):
            return None, None

    def _get_text(self, path: str) -> str:
        try:
            response = self._session.get(self.url + path, timeout=self.timeout)
        except requests.RequestException:
            return ""
        return response.text if response.status_code == 200 else ""

    def _freshness(self, selectors: list[str], params: dict[str, Any]) -> tuple[float, dict[int, float]]:
        """(evaluation time the backend used, selector index -> newest sample time)."""
        data = self._query("freshness", freshness_query(selectors), params)
        used: float | None = None
        newest: dict[int, float] = {}
        for series in data or []:
            probe = str(series.get("metric", {}).get("probe", ""))
            value = _number(series.get("value", [None, None])[1])
            if value is None:
                continue
            if probe == "now":
                used = value
            elif probe.isdigit():
                newest[int(probe)] = value
        if used is None:
            raise _Failure(f"{self.backend.flavor} at {redact_url(self.url)} did not answer the freshness query")
        return used, newest

    def _note_failure(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s; metric values are None until it answers", message)
        self.last_error = message

    def _query(
        self,
        name: str,
        query: str,
        params: dict[str, Any] | None,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        step: str | None = None,
    ) -> Any:
        where = f"Prometheus at {redact_url(self.url)}"
        self._last_response = None
        sent = {**self._params, **(params or {})}
        try:
            if start is not None and end is not None and step is not None:
                return self._client.custom_query_range(query, start_time=start, end_time=end, step=step, params=sent)
            return self._client.custom_query(query, params=sent)
        except requests.Timeout:
            raise _Failure(f"{where} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:  # connection refused, DNS, TLS, not JSON
            raise _Failure(f"{where} is unreachable: {describe_request_error(exc)}") from None
        except (KeyError, TypeError):
            raise _Failure(f"{where} answered something that is not a Prometheus query API response") from None
        except PrometheusApiClientException:
            response = self._last_response
            status = response.status_code if response is not None else None
            error_type, error = _api_error(response)
            if status in (400, 422) and error_type is not None:
                raise MetricsQueryError(name, query, error or f"HTTP {status}") from None
            if status in (401, 403):
                raise _Failure(f"{where} answered {status}: check credentials") from None
            detail = f" ({error})" if error else ""
            raise _Failure(f"{where} answered {status}{detail}") from None


def instant_value(result: Any) -> float | None:
    """The number in an instant query's `data.result`: a scalar `[ts, "v"]`, or the largest of
    a vector's values; None for an empty vector, NaN or a non-numeric (string) result."""
    if not result:
        return None
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _number(result[1])
    numbers = [_number(s.get("value", [None, None])[1]) for s in result if isinstance(s, dict)]
    present = [n for n in numbers if n is not None]
    return max(present) if present else None


def _worst_by_timestamp(matrix: Any) -> dict[int, float]:
    worst: dict[int, float] = {}
    for series in matrix or []:
        for ts, raw in series.get("values", []):
            value = _number(raw)
            if value is None:
                continue
            key = _ms(float(ts))
            worst[key] = value if key not in worst else max(worst[key], value)
    return worst


def _number(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _staleness(at: dt.datetime, newest: dt.datetime | None, not_before: dt.datetime | None, max_age: float, has_series: bool) -> str | None:
    """Why a metric's samples cannot judge the poll at `at`, or None when they can."""
    if not has_series:
        return None  # nothing named to ask about (e.g. vector(1)); the evaluation time was checked
    if newest is None:
        return "no sample since the change ended" if not_before is not None else "no sample within the backend's lookback"
    age = (at - newest).total_seconds()
    if not_before is not None and newest < not_before:
        return f"no sample since the change ended (newest sample {age:.0f}s old)"
    if age > max_age:
        return f"newest sample {age:.0f}s old"
    return None


def _stale_at(t: float, selectors: tuple[str, ...], distinct: list[str], newest: dict[int, dict[float, float | None]], max_age: float) -> bool:
    """Whether a range point at `t` rests on no sample newer than `max_age` (a scrape gap:
    VictoriaMetrics answers it as zero traffic, Prometheus as no data)."""
    if not selectors:
        return False
    stamps = [newest.get(distinct.index(sel), {}).get(t) for sel in selectors]
    present = [s for s in stamps if s is not None]
    return not present or t - max(present) > max_age


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


def _ms(epoch: float) -> int:
    return round(epoch * 1000)


def _epoch(moment: dt.datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone: pass an aware datetime (the clock's now() is UTC)")
    return moment.timestamp()


def _api_error(response: requests.Response | None) -> tuple[str | None, str | None]:
    """Prometheus's `errorType` and `error` from an error answer, when it is JSON."""
    if response is None:
        return None, None
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, text[:200] or None
    if not isinstance(body, dict):
        return None, None
    return body.get("errorType"), body.get("error")
