"""Real demo releases (the `local` environment: the demo service, its scripts, a simulated clock)
judged by their alerts too: watch.alerts reads a real Alertmanager fed by a real Prometheus
evaluating real alerting rules (tests/support/alertmanager.py). The deploy "causes" an alert:
the test project's conftest sets the exporter after phase 3 and waits until Alertmanager shows
it, then the watch window runs on the simulated clock."""

from __future__ import annotations

import pytest

from tests.support.alertmanager import RELEASE_CONFTEST, alerting_stack, alerts  # noqa: F401  (fixtures)
from tests.support.prometheus_server import free_port

SELECTOR = 'service="orders"'


@pytest.fixture
def alert_release(demo_release, alerts, monkeypatch):
    (demo_release.pytester.path / "conftest.py").write_text(RELEASE_CONFTEST)
    monkeypatch.setenv("ALERTS_EXPORTER", alerts.exporter_url)
    monkeypatch.setenv("ALERTS_AM", alerts.alertmanager_url)
    monkeypatch.delenv("ALERTS_AFTER_DEPLOY", raising=False)
    use_alerts(demo_release, alerts.alertmanager_url)
    return demo_release


def use_alerts(demo_release, url: str, extra: str = "") -> None:
    demo_release.edit_config(
        r"^(      rollback_duration: 6s\n)",
        rf"\g<1>      alerts: {{source: alertmanager, url: '{url}', selector: '{SELECTOR}'{extra}}}\n",
    )


def after_deploy(monkeypatch, plan: str, expect: str) -> None:
    monkeypatch.setenv("ALERTS_AFTER_DEPLOY", plan)
    monkeypatch.setenv("ALERTS_EXPECT", expect)


TOKEN = "alertmanager-proxy-token-4f9c2e"


def test_a_critical_alert_raised_by_the_release_rolls_it_back(alert_release, alerts, monkeypatch):
    # Alertmanager behind an auth proxy: the header is sent (Alertmanager ignores it) and never shown
    alert_release.edit_config(r"(selector: 'service=\"orders\"')\}", r"\1, headers: {X-Proxy-Auth: '${ALERTS_PROXY}'}}")
    monkeypatch.setenv("ALERTS_PROXY", TOKEN)
    after_deploy(monkeypatch, "down=1", "OrdersDown:critical")
    result = alert_release.run("v2", "--junitxml=release.xml")
    out = result.stdout.str()
    assert result.ret == 10, out
    written = [out, result.stderr.str(), (alert_release.pytester.path / "release.xml").read_text()]
    written += [p.read_text(errors="replace") for p in alert_release.release_dir.rglob("*") if p.is_file()]
    assert not any(TOKEN in text for text in written)
    result.stdout.fnmatch_lines(['*Rolled-Back: alert OrdersDown{*service="orders"*} firing (severity critical: hard; since 20*Z) at T+*'])
    assert alert_release.demo.version() == "v1"  # rolled back to what served
    report = alert_release.report()
    assert "**Alerts:** Alertmanager at " in report and "no alert firing before the release" in report
    assert 'hard breach at T+2s: alert OrdersDown{instance="127.0.0.1:' in report and ": rolls back" in report
    # the rollback's verification reads the alerts too: the one the release raised is named, and
    # it does not fail the verification unless it gets worse
    rollback = alert_release.report("rollback")
    assert "already firing as the verification began (not counted unless they get worse): OrdersDown{" in rollback
    assert "v1 is serving again" in report or "serving again" in rollback


def test_a_warning_alert_escalates_and_the_answer_is_recorded(alert_release, alerts, monkeypatch):
    after_deploy(monkeypatch, "latency=1", "OrdersLatencyHigh:warning")
    result = alert_release.run("v2", "--release-on-soft-breach=continue")
    out = result.stdout.str()
    assert result.ret == 0, out
    report = alert_release.report()
    assert "drift accepted at T+2s" in report and "alert OrdersLatencyHigh{" in report
    assert "(severity warning: soft; since 20" in report and ": escalates (a person is asked once per alert)" in report
    assert report.count("drift accepted at") == 1  # asked once per alert, not once per poll


def test_an_alert_firing_before_the_release_is_reported_in_phase_1_and_not_counted(alert_release, alerts):
    alerts.set(down=1)
    alerts.wait_for({("OrdersDown", "critical")})
    result = alert_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*alerts: already firing before the release (not counted unless they get worse): OrdersDown{*"])
    report = alert_release.report()
    gate = report[: report.index("## Phase 2")]
    assert "already firing before the release (not counted unless they get worse): OrdersDown{" in gate
    assert "(severity critical: hard; since 20" in gate
    assert "alert OrdersDown" not in report[report.index("## Phase 5"):]


def test_an_alert_firing_before_that_gets_worse_counts(alert_release, alerts, monkeypatch):
    alerts.set(latency=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning")})
    after_deploy(monkeypatch, "latency=2", "OrdersLatencyHigh:critical")
    result = alert_release.run("v2")
    out = result.stdout.str()
    assert result.ret == 10, out
    assert "worse than before the change (severity warning: soft)" in out
    report = alert_release.report()
    assert "already firing before the release (not counted unless they get worse): OrdersLatencyHigh{" in report


def test_an_alert_of_another_service_is_outside_the_selector(alert_release, alerts, monkeypatch):
    after_deploy(monkeypatch, "billing_down=1", "BillingDown:critical")
    result = alert_release.run("v2")
    assert result.ret == 0, result.stdout.str()


def test_an_unreachable_alertmanager_aborts_the_release_before_anything_is_deployed(demo_release, monkeypatch):
    (demo_release.pytester.path / "conftest.py").write_text(RELEASE_CONFTEST)
    monkeypatch.delenv("ALERTS_AFTER_DEPLOY", raising=False)
    use_alerts(demo_release, f"http://127.0.0.1:{free_port()}", ", timeout: 1s")
    result = demo_release.run("v2")
    out = result.stdout.str()
    assert result.ret == 11, out  # Aborted
    assert "alerts unknown before the release: Alertmanager at http://127.0.0.1:" in out and "Connection refused" in out
    assert demo_release.demo.version() == "v1"  # nothing was touched
