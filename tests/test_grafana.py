"""Grafana annotations against a local server speaking Grafana's documented /api/annotations
(Grafana is not installable here), and how release.yaml's notify/annotations sections merge."""

from __future__ import annotations

import datetime as dt
import textwrap

from pytest_release.adapters.grafana import Grafana, epoch_ms, release_tags
from pytest_release.clock import SimulatedClock
from pytest_release.config import AnnotationSettings, load_config
from tests.support.chat_servers import Answer, GrafanaAPI

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def grafana(server: GrafanaAPI, token: str | None = GrafanaAPI.TOKEN, **settings) -> Grafana:
    return Grafana(AnnotationSettings(url=server.url, **settings), token, SimulatedClock())


def test_a_point_a_region_and_a_retag(grafana_api):
    g = grafana(grafana_api, dashboard_uid="orders", panel_id=4, tags=("orders",))
    tags = release_tags(g.settings, "staging", "v2")
    delivery, ident = g.add("deploy", START, "deploying v2", tags)
    assert delivery.ok and ident == 1
    delivery, region = g.add("watch window", START + dt.timedelta(minutes=1), "watch", tags, START + dt.timedelta(minutes=16))
    assert delivery.ok and region == 2
    assert g.retag("deploy (verdict tag)", 1, release_tags(g.settings, "staging", "v2", "Released")).ok
    post = grafana_api.requests[0]
    assert post.headers["authorization"] == f"Bearer {GrafanaAPI.TOKEN}" and post.headers["content-type"] == "application/json"
    assert post.json() == {"time": epoch_ms(START), "tags": ["pytest-release", "env:staging", "version:v2", "orders"],
                           "text": "deploying v2", "dashboardUID": "orders", "panelId": 4}
    assert grafana_api.requests[1].json()["timeEnd"] - grafana_api.requests[1].json()["time"] == 15 * 60 * 1000
    patch = grafana_api.requests[2]
    assert (patch.method, patch.path) == ("PATCH", "/api/annotations/1")
    assert patch.json() == {"tags": ["pytest-release", "env:staging", "version:v2", "verdict:Released", "orders"]}
    assert grafana_api.annotations[1]["tags"][-2] == "verdict:Released"


def test_without_the_token_grafana_refuses_and_it_is_not_retried(grafana_api):
    g = grafana(grafana_api, token=None)
    delivery, ident = g.add("deploy", START, "x", ["pytest-release"])
    assert not delivery.ok and ident is None and delivery.outcome == "HTTP 401 Unauthorized" and delivery.attempts == 1
    assert "authorization" not in grafana_api.requests[0].headers


def test_a_busy_grafana_is_retried_within_the_wait_limit(grafana_api):
    grafana_api.answer(Answer(503, "{}", content_type="application/json"), Answer(429, "{}", {"Retry-After": "3"}, "application/json"))
    g = grafana(grafana_api, retries=2, max_wait=10)
    delivery, ident = g.add("verdict", START, "x", ["pytest-release"])
    assert delivery.ok and delivery.attempts == 3 and ident == 1
    assert g.clock.monotonic() == 4.0  # 1s after the 503, then the 429's 3s


def test_the_dashboard_link_spans_the_release():
    g = Grafana(AnnotationSettings(url="https://grafana.example.com", dashboard_uid="orders overview"), None, SimulatedClock())
    link = g.dashboard_link(START, START + dt.timedelta(minutes=30))
    assert link == f"https://grafana.example.com/d/orders%20overview?from={epoch_ms(START) - 300000}&to={epoch_ms(START) + 2100000}"
    assert Grafana(AnnotationSettings(url="https://grafana.example.com"), None, SimulatedClock()).dashboard_link(START, START) is None


def test_an_environment_replaces_the_shared_channels_and_keeps_the_shared_settings(tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent("""
        notify:
          timeout: 3s
          channels:
            - {type: slack, url: "https://hooks.slack.com/services/T/B/shared"}
        annotations:
          url: https://grafana.example.com/
        environments:
          staging: {}
          production:
            notify:
              channels:
                - {type: slack, url: "https://hooks.slack.com/services/T/B/prod", events: [rolling-back, rollback-failed]}
                - {type: command, argv: [scripts/page.sh], name: pager}
            annotations:
              dashboard_uid: prod-overview
    """))
    config = load_config(path, environ={})
    staging, production = config.environment("staging"), config.environment("production")
    assert [c.url for c in staging.notify.channels] == ["https://hooks.slack.com/services/T/B/shared"]
    assert staging.notify.timeout == 3.0 and production.notify.timeout == 3.0
    assert [(c.type, c.name, c.events) for c in production.notify.channels] == [
        ("slack", "slack #1", ("rolling-back", "rollback-failed")), ("command", "pager", ()),
    ]
    assert staging.annotations.url == "https://grafana.example.com" and staging.annotations.dashboard_uid is None
    assert production.annotations.dashboard_uid == "prod-overview" and production.annotations.token_env == "GRAFANA_TOKEN"
    assert load_config(_without_sections(tmp_path), environ={}).environment("staging").annotations is None


def _without_sections(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("environments:\n  staging: {}\n")
    return path
