"""The live watch window (metrics.window.WatchWindow, on a simulated clock) reading real alerts
each poll, and the backtest replaying them from a real Prometheus' ALERTS history."""

from __future__ import annotations

import datetime as dt
import textwrap
import time

from pytest_release.adapters.alerts import AlertSource
from pytest_release.backtest import BacktestRange, run_backtest, timeline_json, timeline_lines
from pytest_release.clock import SimulatedClock
from pytest_release.config import AlertsSettings
from pytest_release.core.alerts import AlertPolicy
from pytest_release.core.judge import Status, WatchPolicy
from pytest_release.core.watch_model import DEFAULT_RULES
from pytest_release.metrics.prometheus import PrometheusProvider
from pytest_release.metrics.window import SoftAnswer, WatchWindow
from tests.support.alertmanager import alerting_stack, alerts, start_alertmanager  # noqa: F401  (fixtures)

SELECTOR = (("service", "=", "orders"),)
QUERIES = {"error_rate": "vector(0)", "requests": "vector(1000)"}


def settings(source: str, url: str | None = None) -> AlertsSettings:
    return AlertsSettings(source=source, selector=SELECTOR, url=url, timeout=2.0)


def provider(url: str) -> PrometheusProvider:
    return PrometheusProvider(url, QUERIES, timeout=5)


def window(prom_url: str, source: AlertSource, before=(), *, no_data_after: float = 60.0, on_poll=lambda *a: None, duration: float = 10.0):
    policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"],), no_data_after=no_data_after, alerts=AlertPolicy(before=tuple(before)))
    return WatchWindow(
        provider=provider(prom_url), policy=policy, baseline={"error_rate": 0.0},
        clock=SimulatedClock(dt.datetime.now(dt.timezone.utc)), duration=duration, interval=2.0, historical=True,
        on_poll=on_poll, on_soft=lambda decision: SoftAnswer("continue", 0.0, "test"), alerts=source.read,
    )


def test_the_window_reads_alerts_from_prometheus_each_poll_a_pre_existing_one_does_not_count(alerts):
    source = AlertSource(settings("prometheus"), url=alerts.prometheus.url)
    alerts.set(latency=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning")})
    before = source.read()
    assert [a.name for a in before.firing] == ["OrdersLatencyHigh"]
    outcome = window(alerts.prometheus.url, source, before.firing).run()
    assert outcome.status == "passed" and len(outcome.polls) == 5
    assert all(p.alerts is not None and [a.name for a in p.alerts.firing] == ["OrdersLatencyHigh"] for p in outcome.polls)

    alerts.set(down=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning"), ("OrdersDown", "critical")})
    outcome = window(alerts.prometheus.url, source, before.firing).run()
    assert outcome.status == "hard-breach" and len(outcome.polls) == 1
    assert outcome.trigger.startswith('alert OrdersDown{instance="127.0.0.1:') and "(severity critical: hard;" in outcome.trigger
    assert not any("OrdersLatencyHigh" in r for r in outcome.decisions[-1].reasons)


def test_an_alertmanager_that_goes_away_mid_window_is_soft_then_hard(tmp_path, alerts):
    url, process = start_alertmanager(tmp_path / "am")
    try:
        source = AlertSource(settings("alertmanager", url), url=url)

        def stop_after_first(poll, decision, remaining):
            if poll.elapsed == 2.0:
                process.kill()
                process.wait()

        outcome = window(alerts.prometheus.url, source, no_data_after=4.0, on_poll=stop_after_first).run()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    statuses = [d.status for d in outcome.decisions]
    assert statuses == [Status.OK, Status.SOFT, Status.HARD], [d.reasons for d in outcome.decisions]
    assert outcome.status == "hard-breach"
    assert outcome.trigger.startswith(f"alerts unknown since T+2s: Alertmanager at {url} is unreachable")
    assert "a firing alert cannot be ruled out" in outcome.trigger
    assert outcome.notes and "alerts unknown since T+2s" in outcome.notes[0]  # the soft one was asked about


def _wait_seconds(seconds: float) -> None:
    """History needs real time to pass on the real Prometheus."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)


def test_the_backtest_replays_alert_findings_from_alerts_history(alerts):
    alerts.set(latency=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning")})
    _wait_seconds(2.0)
    start = dt.datetime.fromtimestamp(int(time.time()), dt.timezone.utc)
    _wait_seconds(2.0)
    alerts.set(down=1)
    alerts.wait_for({("OrdersLatencyHigh", "warning"), ("OrdersDown", "critical")})
    _wait_seconds(2.0)
    alerts.set(down=0)
    alerts.wait_for({("OrdersLatencyHigh", "warning")})
    _wait_seconds(2.0)
    end = dt.datetime.fromtimestamp(int(time.time()), dt.timezone.utc)
    source = AlertSource(settings("prometheus"), url=alerts.prometheus.url)
    policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"],), no_data_after=60.0, alerts=AlertPolicy())
    timeline = run_backtest(provider(alerts.prometheus.url), policy, BacktestRange(start, end), interval=1.0, baseline_seconds=1.0, alerts=source)
    hard = [e for e in timeline.entries if e.decision.status is Status.HARD]
    assert hard, [e.decision.reasons for e in timeline.entries]
    assert hard[0].decision.trigger.startswith('alert OrdersDown{instance="127.0.0.1:')
    assert "(severity critical: hard; since 20" in hard[0].decision.trigger
    assert all("OrdersLatencyHigh" not in r for e in timeline.entries for r in e.decision.reasons)  # pre-existing
    assert timeline.entries[-1].decision.status is Status.OK  # resolved before the end
    lines = "\n".join(timeline_lines(timeline))
    assert 'alerts replayed from ALERTS{alertstate="firing",service="orders"}; firing at the start (not counted unless they get worse): OrdersLatencyHigh{' in lines
    assert "decision: a rollback would have fired at" in lines and "alert OrdersDown{" in lines
    assert timeline_json(timeline)["alerts"].startswith("alerts replayed from ALERTS")


def _backtest_config(path, prom_url: str, alerts_yaml: str) -> None:
    queries = "{error_rate: 'vector(0)', p99_latency: 'vector(0.01)', request_rate: 'vector(10)', saturation: 'vector(0.01)', requests: 'vector(1000)'}"
    (path / "release.yaml").write_text(textwrap.dedent(f"""
        environments:
          staging:
            metrics: {{provider: prometheus, url: '{prom_url}', queries: {queries}}}
            watch:
              duration: 10s
              interval: 1s
              baseline: 2s
              alerts: {alerts_yaml}
        """))


def test_the_backtest_command_replays_alerts_or_says_alertmanager_has_no_history(pytester, alerts):
    alerts.set(down=1)
    alerts.wait_for({("OrdersDown", "critical")})
    _wait_seconds(5.0)
    now = int(time.time())
    window_text = f"{dt.datetime.fromtimestamp(now - 3, dt.timezone.utc).isoformat()}..{dt.datetime.fromtimestamp(now - 1, dt.timezone.utc).isoformat()}"
    _backtest_config(pytester.path, alerts.prometheus.url, "{source: prometheus, selector: 'service=\"orders\"'}")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-env=staging", f"--release-backtest={window_text}", timeout=60)
    out = result.stdout.str()
    assert result.ret == 0, out + result.stderr.str()
    assert "firing at the start (not counted unless they get worse): OrdersDown{" in out  # firing before START: pre-existing
    assert "no hard breach" in out and "alert OrdersDown" not in out.split("firing at the start")[1]

    _backtest_config(pytester.path, alerts.prometheus.url, f"{{source: alertmanager, url: '{alerts.alertmanager_url}', selector: 'service=\"orders\"'}}")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-env=staging", f"--release-backtest={window_text}", timeout=60)
    out = result.stdout.str()
    assert result.ret == 0, out + result.stderr.str()
    assert f"Alertmanager at {alerts.alertmanager_url} keeps no history: firing alerts are not replayed (source prometheus replays ALERTS)" in out
