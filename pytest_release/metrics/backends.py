"""Which Prometheus-compatible backend answers, and the query settings that make it judge fresh
data without anyone changing a flag on the server.

The flavour comes from the build-info endpoint (`/api/v1/status/buildinfo`), as each backend
answers it (observed for Prometheus 2.42 and VictoriaMetrics 1.79; Thanos and Mimir from their
documentation, see docs/configuration.md "Backends"):

- Prometheus: `data.version` 2.x or 3.x, with `revision`, `goVersion`.
- VictoriaMetrics 1.79: `{"status": "success", "data": {}}` (no version at all); later releases
  answer a fixed Prometheus-like version, so the `vm_app_version` metric on `/metrics` decides.
- Thanos Querier: the Prometheus shape with Thanos's own version, 0.x.
- Mimir: `data.application` "Grafana Mimir".

Detection never guesses towards a laxer setting: an answer that fits none of these is treated
as plain Prometheus, and the user can name the flavour (`metrics.flavor`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

FLAVORS: tuple[str, ...] = ("auto", "prometheus", "victoriametrics", "thanos", "mimir")

#: Query parameters each flavour gets unless the user's `metrics.query_params` say otherwise.
#: VictoriaMetrics: `nocache=1` skips its response cache, which also answers queries of the last
#: `-search.latencyOffset` (30 s by default) as of now - 30 s; with it 1.79 evaluates at the
#: requested time, as Prometheus does (observed). Thanos: `partial_response=false`, so a query
#: that misses a store fails instead of reading low (fail closed); `dedup=true` merges HA
#: replicas (its default, written out).
DEFAULT_QUERY_PARAMS: Mapping[str, Mapping[str, str]] = {
    "prometheus": {},
    "victoriametrics": {"nocache": "1"},
    "thanos": {"partial_response": "false", "dedup": "true"},
    "mimir": {},
}

#: Headers each flavour gets by default. Mimir's query-frontend honours `Cache-Control:
#: no-store` by not answering from (nor filling) its results cache.
DEFAULT_HEADERS: Mapping[str, Mapping[str, str]] = {
    "prometheus": {},
    "victoriametrics": {},
    "thanos": {},
    "mimir": {"Cache-Control": "no-store"},
}


@dataclass(frozen=True)
class Backend:
    """The backend's flavour, what told us, and the query settings in effect."""

    flavor: str
    version: str | None = None
    detected_by: str = "configured"  # "build-info", "/metrics", "configured", "default"
    query_params: Mapping[str, str] = field(default_factory=dict)
    header_names: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the report header: flavour, version, how it was found, the settings."""
        version = f" {self.version}" if self.version else ""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.query_params.items())) or "none"
        headers = f"; headers {', '.join(self.header_names)}" if self.header_names else ""
        return f"{self.flavor}{version} ({self.detected_by}); query parameters {params}{headers}"


def flavor_from_buildinfo(status: int | None, body: Any) -> tuple[str | None, str | None]:
    """(flavour, version) from a build-info answer; (None, None) when it does not tell."""
    if status == 404:
        return None, None
    if not isinstance(body, dict) or body.get("status") != "success":
        return None, None
    data = body.get("data")
    if not isinstance(data, dict):
        return None, None
    application = str(data.get("application", ""))
    version = data.get("version")
    version = str(version) if version not in (None, "") else None
    if "mimir" in application.lower():
        return "mimir", version
    if "victoria" in application.lower():
        return "victoriametrics", version
    if not data:  # VictoriaMetrics 1.79 answers success with an empty object
        return "victoriametrics", None
    if version and version.startswith("0."):
        return "thanos", version
    if version:
        return "prometheus", version
    return None, None


def version_from_vm_metrics(text: str) -> str | None:
    """VictoriaMetrics' own version from its `/metrics` (`vm_app_version{short_version="v1.79.5"}`);
    "" when the metric is there without a version (Debian's build), None when it is absent."""
    for line in text.splitlines():
        if line.startswith("vm_app_version{"):
            marker = 'short_version="'
            at = line.find(marker)
            if at < 0:
                return ""
            return line[at + len(marker) : line.find('"', at + len(marker))]
    return None


def settings_for(flavor: str, user_params: Mapping[str, str], user_headers: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(query parameters, headers) in effect: the flavour's defaults, then the user's, which win
    (an empty value removes a default)."""
    params = {**DEFAULT_QUERY_PARAMS.get(flavor, {}), **user_params}
    headers = {**DEFAULT_HEADERS.get(flavor, {}), **user_headers}
    return {k: v for k, v in params.items() if v != ""}, {k: v for k, v in headers.items() if v != ""}


def shift_fix(flavor: str, shift: float) -> str:
    """The exact fix for a backend that evaluates `shift` seconds before the requested time."""
    if flavor == "victoriametrics":
        return (
            f"VictoriaMetrics answers queries of the last {shift:.0f}s as of {shift:.0f}s ago (-search.latencyOffset): "
            "keep metrics.query_params.nocache: \"1\" (the default for flavor victoriametrics), or start it with "
            "-search.latencyOffset=0s"
        )
    return (
        f"the backend answers as of {shift:.0f}s before the requested time (a cache or a latency offset in front of it): "
        "disable that for these queries (metrics.query_params / metrics.headers) or set metrics.flavor"
    )
