"""watch.alerts: which firing alerts count against a release, and how (issue 14, point 4).

Read into `AlertsSettings`; every default is documented in docs/configuration.md, "Firing
alerts". A bad value names its key path and nothing runs."""

from __future__ import annotations

import re

from pytest_release.config.model import AlertsSettings, Environment
from pytest_release.config.schema import _bool, _Node, _positive_duration, _ranged, _str, basic_auth_env
from pytest_release.core.alerts import ALERT_CLASSES, DEFAULT_SEVERITIES, DEFAULT_SEVERITY_LABEL, DEFAULT_UNMAPPED

SOURCES = ("alertmanager", "prometheus")
_LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
_MATCHER = re.compile(rf'\s*({_LABEL})\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def parse_selector(text: str) -> tuple[tuple[str, str, str], ...]:
    """`service="orders", env=~"prod|staging"` -> ((name, op, value), ...). Raises ValueError."""
    matchers = []
    rest = text.strip()
    if rest.startswith("{") and rest.endswith("}"):
        rest = rest[1:-1]
    position = 0
    while position < len(rest):
        match = _MATCHER.match(rest, position)
        if match is None:
            raise ValueError(
                f'expected label matchers like service="orders" (name, one of = != =~ !~, a double-quoted value,'
                f" separated by commas), stuck at {rest[position:position + 40]!r}"
            )
        matchers.append((match.group(1), match.group(2), match.group(3)))
        position = match.end()
        if position < len(rest):
            if rest[position] != ",":
                raise ValueError(f"expected a comma between matchers, got {rest[position:position + 20]!r}")
            position += 1
    if not matchers:
        raise ValueError('needs at least one label matcher (e.g. service="orders"): without one every alert of every team would count against this release')
    return tuple(matchers)


def matcher_text(matcher: tuple[str, str, str]) -> str:
    name, op, value = matcher
    return f'{name}{op}"{value}"'


def read_alerts(node: _Node) -> AlertsSettings:
    source = node.get("source", None, _str)
    if source is None:
        node.fail(f"a source is required: one of {', '.join(SOURCES)}", "source")
    if source not in SOURCES:
        node.fail(f"expected one of {', '.join(SOURCES)}, got {source!r}", "source")
    raw_selector = node.get("selector", None, _str)
    if raw_selector is None:
        node.fail('a selector is required (label matchers such as service="orders"): it says which alerts are this service\'s', "selector")
    try:
        selector = parse_selector(raw_selector)
    except ValueError as exc:
        node.fail(str(exc), "selector")
    url = node.get("url", None, _str)
    if source == "alertmanager":
        if not url:
            node.fail("Alertmanager's URL is required with source alertmanager (e.g. http://127.0.0.1:9093)", "url")
        if not url.startswith(("http://", "https://")):
            node.fail("must start with http:// or https://", "url")
    else:
        for key in ("url", "headers", "bearer_token_env", "basic_auth_env", "verify_tls"):
            if key in node.data:
                node.fail("applies to source alertmanager only: source prometheus reads the watch's metrics backend with its settings", key)
    label = node.get("severity_label", DEFAULT_SEVERITY_LABEL, _str)
    if not re.fullmatch(_LABEL, label):
        node.fail(f"expected a label name, got {label!r}", "severity_label")
    severities = dict(DEFAULT_SEVERITIES)
    mapped = node.get("severities", {})
    if not isinstance(mapped, dict):
        node.fail("expected a mapping of severity values to hard, soft or ignore", "severities")
    for value, cls in mapped.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool) or cls not in ALERT_CLASSES:
            node.fail(f"expected one of {', '.join(ALERT_CLASSES)}, got {cls!r}", f"severities.{value}")
        severities[str(value)] = cls
    unmapped = node.get("unmapped", DEFAULT_UNMAPPED, _str)
    if unmapped not in ("hard", "soft"):
        node.fail(f"expected hard or soft (an unmapped severity is never ignored silently; map it to ignore under severities), got {unmapped!r}", "unmapped")
    headers: dict[str, str] = {}
    raw_headers = node.get("headers", {})
    if not isinstance(raw_headers, dict) or not all(isinstance(k, str) and k and isinstance(v, (str, int)) and not isinstance(v, bool) for k, v in raw_headers.items()):
        node.fail("expected a mapping of header names to values (values are never shown)", "headers")
    headers = {k: str(v) for k, v in raw_headers.items()}
    basic_pair = basic_auth_env(node)
    token_env = node.get("bearer_token_env", None, _str)
    if token_env and basic_pair:
        node.fail("give Alertmanager either a bearer token or basic auth, not both", "bearer_token_env")
    settings = AlertsSettings(
        source=source,
        selector=selector,
        url=url.rstrip("/") if url else None,
        severity_label=label,
        severities=severities,
        unmapped=unmapped,
        timeout=node.get("timeout", 5.0, _ranged(_positive_duration, high=300)),
        verify_tls=node.get("verify_tls", True, _bool),
        headers=headers,
        bearer_token_env=token_env,
        basic_auth_env=basic_pair,  # type: ignore[arg-type]
    )
    node.finish()
    return settings


def check_alerts_source(node: _Node, env: Environment) -> None:
    """source prometheus reads `ALERTS` from the watch's metrics backend: it needs one."""
    alerts = env.watch.alerts
    if alerts is not None and alerts.source == "prometheus" and env.metrics.provider != "prometheus":
        node.fail(
            "source prometheus reads the ALERTS series from the watch's metrics backend: it needs metrics.provider prometheus"
            " (or use source alertmanager with its url)",
            "watch.alerts.source",
        )


