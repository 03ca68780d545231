"""release.yaml's `notify:` and `annotations:` sections (read per environment by loader.py;
see docs/configuration.md#notify). Webhook URLs are secrets: they come from `${VARIABLES}`, and
the release registers them with its redactor."""

from __future__ import annotations

import re
from typing import Any

from pytest_release.config.model import NOTIFY_CHANNEL_TYPES, AnnotationSettings, NotifyChannel, NotifySettings
from pytest_release.config.schema import _int, _Node, _positive, _str, _str_list
from pytest_release.core.durations import parse_duration
from pytest_release.core.events import NOTIFY_EVENTS


def _http_url(value: Any) -> str:
    value = _str(value)
    if not re.match(r"https?://[^/\s]+", value):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _read_notify(node: _Node) -> NotifySettings:
    raw = node.get("channels", [])
    if not isinstance(raw, list):
        node.fail(f"expected a list of channels, got {type(raw).__name__}", "channels")
    channels = []
    for index, item in enumerate(raw):
        channel = _Node(node.file, f"{node.where('channels')}[{index}]", item)
        kind = channel.get("type", None, _str)
        if kind not in NOTIFY_CHANNEL_TYPES:
            channel.fail(f"expected one of {', '.join(NOTIFY_CHANNEL_TYPES)}, got {kind!r}", "type")
        url = channel.get("url", None, _http_url)
        argv = channel.get("argv", (), _str_list)
        if kind == "command":
            if not argv:
                channel.fail("a command channel needs argv: the program and its arguments (the event JSON comes on stdin)", "argv")
            if url:
                channel.fail("a command channel has argv, not a url", "url")
        else:
            if not url:
                channel.fail(f"a {kind} channel needs its URL (write url: ${{VARIABLE}}: it is a secret)", "url")
            if argv:
                channel.fail(f"a {kind} channel posts to its url; argv is for type: command", "argv")
        events = channel.get("events", (), _str_list)
        for event in events:
            if event not in NOTIFY_EVENTS:
                channel.fail(f"unknown event {event!r} (known: {', '.join(NOTIFY_EVENTS)})", "events")
        name = channel.get("name", f"{kind} #{index + 1}", _str)
        channels.append(NotifyChannel(type=kind, url=url, argv=argv, events=events, name=name))
        channel.finish()
    report_url = node.get("report_url", None, _http_url)
    if report_url and "{report}" not in report_url:
        node.fail("must contain {report} (the report's file name)", "report_url")
    settings = NotifySettings(
        channels=tuple(channels),
        timeout=node.get("timeout", NotifySettings.timeout, _positive(parse_duration)),
        retries=node.get("retries", NotifySettings.retries, _non_negative_int),
        max_wait=node.get("max_wait", NotifySettings.max_wait, parse_duration),
        report_url=report_url,
    )
    node.finish()
    return settings


def _read_annotations(node: _Node) -> AnnotationSettings:
    url = node.get("url", None, _http_url)
    if not url:
        node.fail("Grafana's URL is required (like https://grafana.example.com)", "url")
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        node.fail("must not carry credentials: the token comes from the variable named by token_env", "url")
    token_env = node.get("token_env", AnnotationSettings.token_env, _str)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
        node.fail(f"expected the name of an environment variable, got {token_env!r}", "token_env")
    settings = AnnotationSettings(
        url=url.rstrip("/"),
        token_env=token_env,
        dashboard_uid=node.get("dashboard_uid", None, _str),
        panel_id=node.get("panel_id", None, _positive(_int)),
        tags=node.get("tags", (), _str_list),
        timeout=node.get("timeout", AnnotationSettings.timeout, _positive(parse_duration)),
        retries=node.get("retries", AnnotationSettings.retries, _non_negative_int),
        max_wait=node.get("max_wait", AnnotationSettings.max_wait, parse_duration),
    )
    node.finish()
    return settings


def _non_negative_int(value: Any) -> int:
    value = _int(value)
    if value < 0 or value > 10:
        raise ValueError(f"expected a whole number from 0 to 10, got {value!r}")
    return value
