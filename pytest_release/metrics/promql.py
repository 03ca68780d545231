"""PromQL for the watch window's metrics, built from how the service names its metrics.

Queries are templates: `$window` stands for the sampling window (so the same query serves a
1-minute cadence and a 5-minute backtest step) and `$selector` for the configured label
matchers. `render` fills both in just before a query is sent."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Iterable

#: The metric names every provider answers, in the order reports show them.
STANDARD_METRICS: tuple[str, ...] = ("error_rate", "request_rate", "p99_latency", "saturation", "requests")


@dataclass(frozen=True)
class MetricNames:
    """How the service's metrics are named. The defaults fit prometheus_client's conventions
    (a `http_requests_total` counter labelled by `status`, a `http_request_duration_seconds`
    histogram, the process collector's `process_cpu_seconds_total`).

    `saturation` is a PromQL template (`$selector`, `$window` are filled in); the scrape
    provider understands only `rate(NAME...)` / `irate(NAME...)` of a counter or a bare
    gauge NAME from it. `selector` holds label matchers added to every query, e.g. `job="demo"`."""

    requests_total: str = "http_requests_total"
    status_label: str = "status"
    error_status_regex: str = "5.."
    duration_histogram: str = "http_request_duration_seconds"
    saturation: str = "rate(process_cpu_seconds_total{$selector}[$window])"
    selector: str = ""


def _braces(*matchers: str) -> str:
    return "{" + ", ".join(m for m in matchers if m.strip()) + "}"


def _quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_queries(names: MetricNames) -> dict[str, str]:
    """PromQL templates for the five standard metrics.

    The 5xx numerator falls back to `vector(0)`: prometheus_client creates a labelled series
    only when a label value is first seen, so a service that never failed has no 5xx series, and
    a bare ratio would read as "no data" instead of 0. With no traffic at all the ratio is
    empty or 0/0 (NaN), which providers report as None."""
    sel = names.selector.strip()
    total = f"{names.requests_total}{_braces(sel)}"
    errors = f"{names.requests_total}{_braces(f'{names.status_label}=~{_quote(names.error_status_regex)}', sel)}"
    buckets = f"{names.duration_histogram}_bucket{_braces(sel)}"
    return {
        "error_rate": f"(sum(rate({errors}[$window])) or vector(0)) / sum(rate({total}[$window]))",
        "request_rate": f"sum(rate({total}[$window]))",
        "p99_latency": f"histogram_quantile(0.99, sum by (le) (rate({buckets}[$window])))",
        "saturation": render_selector(names.saturation, sel),
        "requests": f"sum(increase({total}[$window]))",
    }


def window_literal(window_seconds: float) -> str:
    """A PromQL duration for the window: whole seconds, at least 1s (`0s` is invalid PromQL)."""
    return f"{max(1, int(round(window_seconds)))}s"


def render_selector(query: str, selector: str) -> str:
    """Fill `$selector` only, leaving `$window` for later."""
    return string.Template(query).safe_substitute(selector=selector.strip())


def render(query: str, window_seconds: float, selector: str = "") -> str:
    """Substitute `$window` (e.g. `60s`) and `$selector` (or `${window}`, `${selector}`).

    Other `$` text is left alone. An empty selector leaves `{}` or a trailing comma inside the
    braces, both of which PromQL accepts."""
    return string.Template(query).safe_substitute(window=window_literal(window_seconds), selector=selector.strip())


# --- freshness: which series a query reads, and how new their samples are ------------------

_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_BRACES = r"\{(?:[^{}\"']|" + _STRING + r")*\}"
_NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_RANGE_SELECTOR = re.compile(rf"({_STRING})|(?<![a-zA-Z0-9_:])((?:{_NAME_RE})?\s*(?:{_BRACES})?)\s*\[(?!\s*\])")
_BRACED_SELECTOR = re.compile(rf"({_STRING})|(?<![a-zA-Z0-9_:])((?:{_NAME_RE})\s*{_BRACES})")


def series_selectors(query: str) -> tuple[str, ...]:
    """The series selectors a rendered query reads: those under a range (`name{...}[60s]`),
    else those written with braces (`name{...}`). In order, without repeats; empty when the
    query reads no series it names this way (`vector(1)`): then no freshness can be asked."""
    found: list[str] = []
    for pattern in (_RANGE_SELECTOR, _BRACED_SELECTOR):
        for literal, selector in pattern.findall(query):
            selector = selector.strip()
            if literal or not selector or not (selector[0].isalpha() or selector[0] in "_:{"):
                continue
            if selector not in found:
                found.append(selector)
        if found:
            break
    return tuple(found)


def freshness_query(selectors: Iterable[str]) -> str:
    """One query for the evaluation time the backend really used and the newest sample of each
    selector: `probe="now"` carries `time()` (a backend that shifts evaluation, like
    VictoriaMetrics' -search.latencyOffset, shows it here), `probe="<i>"` the newest
    `timestamp()` of the i-th selector."""
    parts = ['label_replace(vector(time()), "probe", "now", "", "")']
    for index, selector in enumerate(selectors):
        parts.append(f'label_replace(max(timestamp({selector})), "probe", "{index}", "", "")')
    return " or ".join(parts)


_COUNTER_FUNCTION = re.compile(rf"(?<![a-zA-Z0-9_:])(rate|increase)\(\s*((?:{_NAME_RE})?\s*(?:{_BRACES})?)\s*\[\s*(\d+)s\s*\]\s*\)")


def prometheus_counters_in_metricsql(query: str) -> str:
    """A rendered query for VictoriaMetrics with Prometheus' counter semantics:
    `rate(SEL[Ns])` becomes `(increase_prometheus(SEL[Ns]) / N)` (rate's definition in PromQL)
    and `increase(SEL[Ns])` becomes `increase_prometheus(SEL[Ns])`.

    MetricsQL's own `rate()` and `increase()` also read the last sample before the window. Just
    after a process restart that sample is the replaced process's: VictoriaMetrics 1.79 kept
    showing its p99 for about 5 s, and after a scrape gap it put the whole gap's increase into
    the first window (observed). `increase_prometheus` reads only the window's samples, as
    Prometheus does (1.79 has no `rate_prometheus`)."""

    def rewrite(match: re.Match[str]) -> str:
        function, selector, seconds = match.group(1), match.group(2).strip(), match.group(3)
        inner = f"increase_prometheus({selector}[{seconds}s])"
        return f"({inner} / {seconds})" if function == "rate" else inner

    return _COUNTER_FUNCTION.sub(rewrite, query)
