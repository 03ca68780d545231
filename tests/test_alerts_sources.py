"""watch.alerts: the config keys, and the adapter against a real Prometheus evaluating real
alerting rules and a real Alertmanager receiving from it (tests/support/alertmanager.py)."""

from __future__ import annotations

import http.server
import textwrap
import threading
import time
from typing import Any, Iterator

import pytest
import requests

from pytest_release.adapters.alerts import AlertSource, make_alert_source
from pytest_release.config import ConfigError, load_config
from tests.support.alertmanager import alerting_stack, alerts  # noqa: F401  (fixtures)
from tests.support.prometheus_server import free_port

SECRET = "s3cr3t-alert-token-value"


def write(tmp_path, text: str):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def env_with(tmp_path, alerts_yaml: str, metrics: str = "{provider: scrape, url: http://127.0.0.1:1/metrics}", environ=None):
    config = load_config(write(tmp_path, f"""
        environments:
          staging:
            metrics: {metrics}
            watch:
              alerts: {alerts_yaml}
        """), environ=environ or {})
    return config.environment("staging")


# --- config ----------------------------------------------------------------------------------


def test_alerts_are_off_by_default_and_the_defaults_are_documented_ones(tmp_path):
    config = load_config(write(tmp_path, "environments: {staging: {}}\n"), environ={})
    assert config.environment("staging").watch.alerts is None
    env = env_with(tmp_path, '{source: alertmanager, url: "http://127.0.0.1:9093/", selector: \'service="orders"\'}')
    a = env.watch.alerts
    assert (a.source, a.url, a.selector) == ("alertmanager", "http://127.0.0.1:9093", (("service", "=", "orders"),))
    assert a.severity_label == "severity" and dict(a.severities) == {"critical": "hard", "warning": "soft"}
    assert a.unmapped == "soft" and a.timeout == 5.0


def test_severities_merge_over_the_defaults(tmp_path):
    env = env_with(tmp_path, "{source: alertmanager, url: 'http://127.0.0.1:9093', selector: 'service=\"orders\", env=~\"prod|staging\"',"
                   " severities: {info: ignore, page: hard, warning: hard}, unmapped: hard, timeout: 2s}")
    a = env.watch.alerts
    assert dict(a.severities) == {"critical": "hard", "warning": "hard", "info": "ignore", "page": "hard"}
    assert a.selector == (("service", "=", "orders"), ("env", "=~", "prod|staging")) and a.timeout == 2.0


@pytest.mark.parametrize(
    ("alerts_yaml", "key", "words"),
    [
        ("{url: 'http://x:1', selector: 'a=\"b\"'}", "watch.alerts.source", "a source is required"),
        ("{source: pagerduty, selector: 'a=\"b\"'}", "watch.alerts.source", "expected one of alertmanager, prometheus"),
        ("{source: alertmanager, selector: 'a=\"b\"'}", "watch.alerts.url", "URL is required"),
        ("{source: alertmanager, url: 'ftp://x', selector: 'a=\"b\"'}", "watch.alerts.url", "http://"),
        ("{source: alertmanager, url: 'http://x:1'}", "watch.alerts.selector", "a selector is required"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'service=orders'}", "watch.alerts.selector", "double-quoted"),
        ("{source: alertmanager, url: 'http://x:1', selector: '  '}", "watch.alerts.selector", "at least one label matcher"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', severities: {critical: rollback}}", "watch.alerts.severities.critical", "hard, soft, ignore"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', unmapped: ignore}", "watch.alerts.unmapped", "never ignored silently"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', timeout: 0s}", "watch.alerts.timeout", "greater than zero"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', severity_label: 'not a label'}", "watch.alerts.severity_label", "label name"),
        ("{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', sevrities: {}}", "watch.alerts.sevrities", "did you mean 'severities'"),
        ("{source: prometheus, url: 'http://x:1', selector: 'a=\"b\"'}", "watch.alerts.url", "source alertmanager only"),
        ("{source: prometheus, selector: 'a=\"b\"'}", "watch.alerts.source", "needs metrics.provider prometheus"),
    ],
)
def test_bad_alerts_settings_name_the_key_path(tmp_path, alerts_yaml, key, words):
    with pytest.raises(ConfigError) as info:
        env_with(tmp_path, alerts_yaml)
    message = str(info.value)
    assert f"environments.staging.{key}" in message and words in message, message
    assert str(tmp_path / "release.yaml") in message


def test_a_header_from_the_environment_is_never_shown_in_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        env_with(tmp_path, "{source: alertmanager, url: 'http://x:1', selector: 'a=\"b\"', headers: {Authorization: 'Bearer ${TOKEN}'}, unmapped: '${TOKEN}'}",
                 environ={"TOKEN": SECRET})
    assert SECRET not in str(info.value)


# --- the adapter, against the real servers --------------------------------------------------


def am_source(tmp_path, url: str, selector: str = 'service="orders"', extra: str = "", environ=None) -> AlertSource:
    env = env_with(tmp_path, f"{{source: alertmanager, url: '{url}', selector: '{selector}'{extra}}}", environ=environ)
    source = make_alert_source(env, environ=environ or {})
    assert source is not None
    return source


def prom_source(tmp_path, url: str, selector: str = 'service="orders"') -> AlertSource:
    env = env_with(tmp_path, f"{{source: prometheus, selector: '{selector}'}}", metrics=f"{{provider: prometheus, url: '{url}'}}")
    source = make_alert_source(env, environ={})
    assert source is not None
    return source


def test_both_sources_read_the_firing_alerts_the_selector_matches(tmp_path, alerts):
    alerts.set(latency=1, down=1, billing_down=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning"), ("OrdersDown", "critical"), ("BillingDown", "critical")})
    for source in (am_source(tmp_path, alerts.alertmanager_url), prom_source(tmp_path, alerts.prometheus.url)):
        seen = source.read()
        assert seen.error is None, seen.error
        assert [(a.name, a.label("severity"), a.label("service")) for a in seen.firing] == [
            ("OrdersDown", "critical", "orders"), ("OrdersLatencyHigh", "warning", "orders"),
        ], source.describe()
        assert all(dict(a.labels)["job"] == "orders" and "alertstate" not in dict(a.labels) for a in seen.firing)
        source.close()
    am = am_source(tmp_path, alerts.alertmanager_url).read()
    assert all(a.since and a.since.endswith("Z") and len(a.fingerprint) == 16 for a in am.firing)  # startsAt, fingerprint
    regex = am_source(tmp_path, alerts.alertmanager_url, 'service=~"orders|billing", severity="critical"').read()
    assert [a.name for a in regex.firing] == ["BillingDown", "OrdersDown"]
    regex = prom_source(tmp_path, alerts.prometheus.url, 'service=~"orders|billing", severity="critical"').read()
    assert [a.name for a in regex.firing] == ["BillingDown", "OrdersDown"]


def test_a_silenced_alert_does_not_count(tmp_path, alerts):
    alerts.set(down=1)
    alerts.wait_for({("OrdersDown", "critical")})
    now = time.time()
    silence = {
        "matchers": [{"name": "alertname", "value": "OrdersDown", "isRegex": False, "isEqual": True}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "test", "comment": "maintenance",
    }
    made = requests.post(f"{alerts.alertmanager_url}/api/v2/silences", json=silence, timeout=5)
    assert made.status_code == 200, made.text
    try:
        deadline = time.monotonic() + 10
        while am_source(tmp_path, alerts.alertmanager_url).read().firing and time.monotonic() < deadline:
            time.sleep(0.1)
        assert am_source(tmp_path, alerts.alertmanager_url).read().firing == ()
    finally:
        requests.delete(f"{alerts.alertmanager_url}/api/v2/silence/{made.json()['silenceID']}", timeout=5)


def test_an_unreachable_alertmanager_is_alerts_unknown_with_the_reason_and_no_user_info(tmp_path):
    seen = am_source(tmp_path, f"http://user:{SECRET}@127.0.0.1:{free_port()}").read()
    assert seen.firing == () and "is unreachable" in seen.error and "Connection refused" in seen.error
    assert SECRET not in seen.error and "***@127.0.0.1" in seen.error


class _Hostile(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _hostile_server(behaviour: str) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.server.seen_headers.append(dict(self.headers))  # type: ignore[attr-defined]
            if behaviour == "trickle":  # headers, then one byte a second: a read never times out
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(30):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(0.5)
                return
            status, body = {"object": (200, b'{"status": "success"}'), "html": (200, b"<html>proxy</html>"),
                            "denied": (401, b"unauthorised"), "broken": (503, b"down"),
                            "nolabels": (200, b'[{"startsAt": "2026-01-01T00:00:00Z"}]')}[behaviour]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Hostile(("127.0.0.1", 0), Handler)
    server.seen_headers = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        ("object", "not an API v2 alerts list"),
        ("html", "not JSON"),
        ("denied", "answered 401: check credentials"),
        ("broken", "answered HTTP 503"),
        ("nolabels", "an alert without a label set"),
        ("trickle", "did not answer within 1 s"),
    ],
)
def test_a_malformed_or_slow_answer_is_alerts_unknown_within_the_timeout_and_never_shows_a_secret(tmp_path, behaviour, words):
    gen = _hostile_server(behaviour)
    server = next(gen)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        source = am_source(tmp_path, url, extra=", timeout: 1s, headers: {Authorization: 'Bearer ${TOKEN}'}", environ={"TOKEN": SECRET})
        started = time.monotonic()
        seen = source.read()
        took = time.monotonic() - started
        assert words in seen.error, seen.error
        assert SECRET not in seen.error and SECRET not in seen.source and SECRET not in source.describe()
        assert took < 3.0, took  # bounded as a whole, even for a trickling answer
        assert server.seen_headers[0]["Authorization"] == f"Bearer {SECRET}"  # sent, never shown
    finally:
        gen.close()
