"""Metrics from a Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Every metric is one instant query evaluated at an explicit time, so a watch window driven by a
simulated clock reads the same numbers as a live one, and a backtest over old data is a loop
over `sample` (or one `sample_range`)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any, Mapping

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.promql import render
from pytest_release.metrics.scrape import describe_request_error, redact_url

log = logging.getLogger(__name__)

#: Prometheus refuses range queries with more points than this per series.
MAX_RANGE_POINTS = 11_000


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
    ) -> None:
        if bearer_token and basic_auth is not None:
            raise ValueError("give Prometheus either a bearer token or basic auth, not both")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus URL must start with http:// or https://, got {redact_url(url)!r}")
        self.url = url.rstrip("/")
        self.queries = dict(queries)
        self.timeout = timeout
        self.last_error: str | None = None
        self._last_response: requests.Response | None = None

        session = requests.Session()
        # A CA bundle path is passed through; PrometheusConnect ignores disable_ssl when given a session.
        session.verify = verify_tls
        session.headers.update(dict(headers or {}))
        if bearer_token:
            session.headers["Authorization"] = f"Bearer {bearer_token}"
        if basic_auth is not None:
            session.auth = basic_auth
        session.hooks["response"].append(self._remember_response)
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
        """Ask the trivial query `vector(1)`: works on every Prometheus-compatible API, unlike
        `/-/ready`, and proves the credentials as well as the network."""
        try:
            self._query("check", "vector(1)", {})
        except _Failure as failure:
            raise MetricsUnavailable(failure.message) from None
        except MetricsQueryError as exc:
            raise MetricsUnavailable(f"Prometheus at {redact_url(self.url)} rejected a trivial query: {exc.reason}") from None

    def sample(self, at: dt.datetime, window: float) -> dict[str, float | None]:
        """Each metric over the `window` seconds ending at `at` (evaluation time `at`)."""
        params = {"time": _epoch(at)}
        values: dict[str, float | None] = {}
        for name, template in self.queries.items():
            query = render(template, window)
            try:
                data = self._query(name, query, params)
            except _Failure as failure:
                self._note_failure(failure.message)
                return {metric: None for metric in self.queries}
            values[name] = instant_value(data)
        self.last_error = None
        return values

    def sample_range(
        self, start: dt.datetime, end: dt.datetime, step: float, window: float
    ) -> dict[str, list[tuple[float, float | None]]]:
        """Each metric at `start`, `start + step`, ... up to `end` (whole epoch seconds, as the
        client rounds them), every point covering the `window` seconds before it.

        For backtests: unlike `sample`, an unreachable backend raises MetricsUnavailable,
        because a backtest with silently missing data would prove nothing."""
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        first, last = round(_epoch(start)), round(_epoch(end))
        if last < first:
            raise ValueError("end is before start")
        grid = [first + i * step for i in range(int((last - first) // step) + 1)]
        if len(grid) > MAX_RANGE_POINTS:
            raise ValueError(f"{len(grid)} points exceed Prometheus's limit of {MAX_RANGE_POINTS}: use a larger step")
        series: dict[str, list[tuple[float, float | None]]] = {}
        for name, template in self.queries.items():
            query = render(template, window)
            try:
                matrix = self._query(name, query, None, start=start, end=end, step=f"{step:g}")
            except _Failure as failure:
                self._note_failure(failure.message)
                raise MetricsUnavailable(failure.message) from None
            worst = _worst_by_timestamp(matrix)
            series[name] = [(t, worst.get(_ms(t))) for t in grid]
        self.last_error = None
        return series

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
        try:
            if start is not None and end is not None and step is not None:
                return self._client.custom_query_range(query, start_time=start, end_time=end, step=step)
            return self._client.custom_query(query, params=params)
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
