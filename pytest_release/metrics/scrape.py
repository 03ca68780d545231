"""Metrics read straight from the service's own `/metrics` endpoint, no Prometheus server.

For small setups and the demo. Each `sample` scrapes once and reports what changed since the
previous scrape: counters and histogram buckets are cumulative, so the difference between two
scrapes is exactly the traffic in between, and the elapsed time comes from the clock. The
window is therefore the sampling cadence, and `sample`'s `window` argument is not used."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests

from pytest_release.clock import Clock
from pytest_release.metrics import WAITING, MetricsUnavailable, Samples
from pytest_release.metrics.promql import STANDARD_METRICS, MetricNames

log = logging.getLogger(__name__)

# Text format 0.0.4 first: it carries the same samples without OpenMetrics' `_created` series.
ACCEPT = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

#: Labels Prometheus attaches when it scrapes a target; a service's own exposition never has them.
TARGET_LABELS = frozenset({"job", "instance"})

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class Sample:
    """One exposition line. `timestamp` is as written (milliseconds in the Prometheus text
    format, seconds in OpenMetrics), None when absent."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0
    timestamp: float | None = None


# --- parsing --------------------------------------------------------------------------------


def parse_exposition(text: str) -> list[Sample]:
    """Samples of a Prometheus text (0.0.4) or OpenMetrics exposition.

    Comments (`# HELP`, `# TYPE`, `# UNIT`, anything after `#`) are ignored; `# EOF` ends the
    input; values may be `+Inf`, `-Inf`, `NaN`; a trailing timestamp and an OpenMetrics exemplar
    (`# {...} value`) are accepted. A line that does not parse is skipped, not fatal: a scrape
    should not fail on one odd line."""
    samples: list[Sample] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "# EOF":
            break
        if not stripped or stripped.startswith("#"):
            continue
        sample = _parse_line(stripped)
        if sample is None:
            log.debug("skipping unparsable exposition line: %r", line)
        else:
            samples.append(sample)
    return samples


def _parse_line(line: str) -> Sample | None:
    match = _NAME.match(line)
    if match is None:
        return None
    name, pos = match.group(0), match.end()
    labels: dict[str, str] = {}
    brace = _skip_blanks(line, pos)  # the text format allows `name {...}`
    if line[brace : brace + 1] == "{":
        parsed = _parse_labels(line, brace + 1)
        if parsed is None:
            return None
        labels, pos = parsed
    rest = line[pos:]
    if rest and not rest[0].isspace():
        return None
    exemplar_at = rest.find(" # ")
    if exemplar_at >= 0:
        rest = rest[:exemplar_at]
    tokens = rest.split()
    if not 1 <= len(tokens) <= 2:
        return None
    try:
        value = _float(tokens[0])
        timestamp = _float(tokens[1]) if len(tokens) == 2 else None
    except ValueError:
        return None
    return Sample(name, labels, value, timestamp)


def _parse_labels(line: str, pos: int) -> tuple[dict[str, str], int] | None:
    """Labels from just after `{`; returns them and the position after `}`."""
    labels: dict[str, str] = {}
    while True:
        pos = _skip_blanks(line, pos)
        if line[pos : pos + 1] == "}":
            return labels, pos + 1
        match = _LABEL_NAME.match(line, pos)
        if match is None:
            return None
        key, pos = match.group(0), match.end()
        pos = _skip_blanks(line, pos)
        if line[pos : pos + 1] != "=":
            return None
        pos = _skip_blanks(line, pos + 1)
        if line[pos : pos + 1] != '"':
            return None
        pos += 1
        chars: list[str] = []
        while True:
            if pos >= len(line):
                return None
            char = line[pos]
            if char == "\\" and pos + 1 < len(line):
                nxt = line[pos + 1]
                chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                pos += 2
                continue
            if char == '"':
                pos += 1
                break
            chars.append(char)
            pos += 1
        labels[key] = "".join(chars)
        pos = _skip_blanks(line, pos)
        if line[pos : pos + 1] == ",":
            pos += 1
        elif line[pos : pos + 1] != "}":
            return None


def _skip_blanks(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _float(token: str) -> float:
    if "_" in token:  # Python accepts 1_000, the formats do not
        raise ValueError(token)
    return float(token)


def equality_matchers(selector: str) -> dict[str, str]:
    """The `label="value"` matchers of a PromQL selector body such as `job="demo", env="prod"`.

    The scrape provider filters on these only. Regex and negative matchers are ignored, and so
    are `job` and `instance`, which Prometheus adds at scrape time and a service's own
    exposition never carries (a selector written for the Prometheus provider keeps working)."""
    found: dict[str, str] = {}
    for key, op, raw in _MATCHER.findall(selector):
        if op == "=" and key not in TARGET_LABELS:
            found[key] = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw)
    return found


# --- arithmetic -----------------------------------------------------------------------------


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float:
    """Prometheus's `histogram_quantile` on one histogram's cumulative bucket counts
    (upper bound -> count), with its corner cases: NaN without a +Inf bucket, with fewer than
    two buckets or with no observations; the highest finite bound when the rank falls in the
    +Inf bucket; linear interpolation inside the bucket otherwise (from 0 for the first)."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets.items())
    if not ordered or not math.isinf(ordered[-1][0]) or len(ordered) < 2:
        return math.nan
    bounds = [bound for bound, _ in ordered]
    counts: list[float] = []
    for _, count in ordered:  # counts can dip through rounding or scrape skew
        counts.append(max(count, counts[-1]) if counts else count)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


SeriesKey = tuple[tuple[str, str], ...]


def counter_increase(previous: Mapping[SeriesKey, float], current: Mapping[SeriesKey, float]) -> dict[SeriesKey, float]:
    """Per-series increase with Prometheus's counter-reset rule: a counter lower than before
    restarted from zero, so its whole current value is the increase. A series absent before was
    created since (prometheus_client creates a labelled series on first use), so it counts from
    zero too; Prometheus itself would miss that first increment."""
    return {
        key: value if key not in previous or value < previous[key] else value - previous[key]
        for key, value in current.items()
    }


@dataclass(frozen=True)
class _Snapshot:
    """The cumulative series one scrape found, keyed by label set."""

    at: float
    taken: dt.datetime
    requests: dict[SeriesKey, float]
    buckets: dict[SeriesKey, float]
    saturation: dict[SeriesKey, float]
    started: float | None


def _key(labels: Mapping[str, str]) -> SeriesKey:
    return tuple(sorted(labels.items()))


# --- the provider ---------------------------------------------------------------------------


class ScrapeProvider:
    """Reads the service's OpenMetrics / Prometheus text endpoint at every sample.

    The first `sample` (and the first after a failed scrape) only primes and returns all None.
    Then: `requests` = Δ requests counter, `request_rate` = Δ/elapsed, `error_rate` =
    Δ(status matching `error_status_regex`)/Δ (None without traffic), `p99_latency` from the
    histogram buckets' deltas, `saturation` = Δcounter/elapsed for a `rate(NAME...)` template or
    the gauge's current (largest) value for a bare name. A metric absent from the exposition is
    None. A counter that went down, or a changed `process_start_time_seconds`, means the service
    restarted: the new values count from zero.

    Only the `label="value"` matchers of `names.selector` filter samples (see
    `equality_matchers`)."""

    def __init__(
        self,
        url: str,
        names: MetricNames,
        *,
        timeout: float = 5.0,
        clock: Clock,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url
        self.names = names
        self.timeout = timeout
        self.clock = clock
        self.last_error: str | None = None
        self._own_session = session is None
        self._session = session or requests.Session()
        self._filters = equality_matchers(names.selector)
        self._saturation_counter, self._saturation_gauge = _saturation_source(names.saturation)
        self._previous: _Snapshot | None = None

    def check_reachable(self) -> None:
        """Scrape once (without priming); raise MetricsUnavailable naming the URL and reason."""
        self._scrape()

    def sample(self, at: dt.datetime, window: float, not_before: dt.datetime | None = None) -> Samples:
        """The change between the previous scrape and this one. Its coverage is the two scrapes'
        times; when the previous scrape was taken before `not_before` (the change), the
        difference would mix both versions: every value is None ("waiting for data newer than
        the change") and this scrape primes the next."""
        try:
            samples = self._scrape()
        except MetricsUnavailable as exc:
            if str(exc) != self.last_error:
                log.warning("%s; metric values are None until it answers", exc)
            self.last_error = str(exc)
            self._previous = None
            return Samples.missing(STANDARD_METRICS, str(exc))
        self.last_error = None
        current = self._snapshot(samples)
        previous, self._previous = self._previous, current
        if previous is None:
            return Samples.missing(STANDARD_METRICS, "first scrape: it primes the counters")
        if not_before is not None and previous.taken < not_before:
            return Samples.missing(STANDARD_METRICS, WAITING)
        values = self._values(previous, current)
        missing = {name: "not in the exposition, or no traffic" for name, value in values.items() if value is None}
        covered = {name: (previous.taken, current.taken) for name, value in values.items() if value is not None}
        return Samples(values, missing_reasons=missing, coverage=covered)

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def __enter__(self) -> ScrapeProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _scrape(self) -> list[Sample]:
        where = f"metrics endpoint {redact_url(self.url)}"
        try:
            response = self._session.get(self.url, timeout=self.timeout, headers={"Accept": ACCEPT})
        except requests.Timeout:
            raise MetricsUnavailable(f"{where} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise MetricsUnavailable(f"{where} is unreachable: {describe_request_error(exc)}") from None
        if response.status_code != 200:
            raise MetricsUnavailable(f"{where} answered {response.status_code} {response.reason}".rstrip())
        return parse_exposition(response.text)

    def _selected(self, sample: Sample) -> bool:
        return all(sample.labels.get(k, "") == v for k, v in self._filters.items())

    def _snapshot(self, samples: Iterable[Sample]) -> _Snapshot:
        names = self.names
        requests_: dict[SeriesKey, float] = {}
        buckets: dict[SeriesKey, float] = {}
        saturation: dict[SeriesKey, float] = {}
        started: float | None = None
        bucket_name = f"{names.duration_histogram}_bucket"
        saturation_name = self._saturation_counter or self._saturation_gauge
        for s in samples:
            if not self._selected(s):
                continue
            if s.name == names.requests_total:
                requests_[_key(s.labels)] = s.value
            elif s.name == bucket_name and "le" in s.labels:
                buckets[_key(s.labels)] = s.value
            elif s.name == "process_start_time_seconds" and started is None:
                started = s.value
            if s.name == saturation_name:
                saturation[_key(s.labels)] = s.value
        return _Snapshot(self.clock.monotonic(), self.clock.now(), requests_, buckets, saturation, started)

    def _values(self, previous: _Snapshot, current: _Snapshot) -> dict[str, float | None]:
        elapsed = current.at - previous.at
        restarted = previous.started is not None and current.started is not None and previous.started != current.started

        def increase(before: dict[SeriesKey, float], now: dict[SeriesKey, float]) -> dict[SeriesKey, float]:
            return counter_increase({} if restarted else before, now)

        values: dict[str, float | None] = dict.fromkeys(STANDARD_METRICS)
        if current.requests:
            by_series = increase(previous.requests, current.requests)
            total = sum(by_series.values())
            errors_re = re.compile(self.names.error_status_regex)
            label = self.names.status_label
            errors = sum(v for k, v in by_series.items() if errors_re.fullmatch(dict(k).get(label, "")))
            values["requests"] = total
            values["request_rate"] = total / elapsed if elapsed > 0 else None
            values["error_rate"] = errors / total if total > 0 else None
        if current.buckets:
            by_le: dict[float, float] = {}
            for k, v in increase(previous.buckets, current.buckets).items():
                try:
                    le = _float(dict(k)["le"])
                except ValueError:
                    continue
                by_le[le] = by_le.get(le, 0.0) + v
            p99 = histogram_quantile(0.99, by_le)
            values["p99_latency"] = None if math.isnan(p99) else p99
        if current.saturation:
            if self._saturation_counter:
                used = sum(increase(previous.saturation, current.saturation).values())
                values["saturation"] = used / elapsed if elapsed > 0 else None
            else:
                values["saturation"] = max(current.saturation.values())
        return values


def _saturation_source(template: str) -> tuple[str | None, str | None]:
    """(counter, gauge) metric name from a saturation PromQL template: `rate(NAME...)` or
    `irate(NAME...)` reads a counter's per-second increase, a bare `NAME` or `NAME{...}` a
    gauge. Anything else cannot be evaluated without Prometheus: saturation is then None."""
    counter = re.fullmatch(r"\s*i?rate\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*\[[^\]]*\]\s*\)\s*", template)
    if counter:
        return counter.group(1), None
    gauge = re.fullmatch(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*", template)
    if gauge:
        return None, gauge.group(1)
    log.warning("the scrape provider cannot evaluate saturation query %r; saturation will be None", template)
    return None, None


# --- shared HTTP helpers (also used by the Prometheus provider) -----------------------------


def redact_url(url: str) -> str:
    """The URL without any `user:password@` part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def describe_request_error(exc: BaseException) -> str:
    """The root cause of a requests error, e.g. `[Errno 111] Connection refused`, without the
    wrapping urllib3 reprs (and without URLs, which may carry credentials)."""
    reason: BaseException = exc
    for _ in range(6):
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    text = re.sub(r"https?://\S+", lambda m: redact_url(m.group(0)), text)
    return (text[:200] or type(reason).__name__).strip()
