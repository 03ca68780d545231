"""The judge's reading of firing alerts (core.alerts through core.judge and core.timeline), with
alerts as Alertmanager and ALERTS report them. The real servers: tests/test_alerts_live.py."""

from __future__ import annotations

import math

import pytest

from pytest_release.core.alerts import Alert, AlertPolicy, AlertsSeen, merge_seen, pre_existing_words
from pytest_release.core.judge import Poll, Status, WatchPolicy, judge
from pytest_release.core.timeline import judge_timeline
from pytest_release.core.watch_model import DEFAULT_RULES

RULES = (DEFAULT_RULES["error_rate"],)
BASELINE = {"error_rate": 0.0}


def alert(name: str, severity: str | None = "critical", **labels: str) -> Alert:
    raw = {"alertname": name, "service": "orders", **labels}
    if severity is not None:
        raw["severity"] = severity
    return Alert.of(raw, since="2026-12-02T00:34:49.111Z", fingerprint="17053c09274d1f98")


def policy(before: tuple[Alert, ...] = (), **kw) -> WatchPolicy:
    return WatchPolicy(rules=RULES, no_data_after=180.0, alerts=AlertPolicy(before=before, **kw))


def poll(t: float, *firing: Alert, error: str | None = None) -> Poll:
    return Poll(elapsed=t, values={"error_rate": 0.0}, requests=1000.0, alerts=AlertsSeen(firing=firing, error=error))


def test_a_critical_alert_is_a_hard_breach_naming_the_alert_its_labels_severity_and_since():
    decision = judge(policy(), BASELINE, [poll(60, alert("OrdersDown", instance="10.0.0.1:80"))])
    assert decision.status is Status.HARD
    assert decision.trigger == (
        'alert OrdersDown{instance="10.0.0.1:80",service="orders"} firing (severity critical: hard;'
        " since 2026-12-02T00:34:49.111Z) at T+1m"
    )
    assert decision.reasons[0].endswith(": rolls back")


def test_a_warning_alert_is_soft_and_asked_about_once():
    p = policy()
    steps = judge_timeline(p, BASELINE, [poll(60, alert("OrdersSlow", "warning")), poll(120, alert("OrdersSlow", "warning"))])
    assert [s.decision.status for s in steps] == [Status.SOFT, Status.SOFT]
    assert [s.ask for s in steps] == [True, False]
    assert steps[0].asked_about == ('alert:OrdersSlow{service="orders"}:soft',)
    assert "escalates (a person is asked once per alert)" in steps[0].decision.reasons[0]


def test_ignore_maps_a_severity_off_but_unmapped_or_missing_severities_are_at_least_soft():
    p = policy(severities={"critical": "hard", "warning": "soft", "info": "ignore"})
    assert judge(p, BASELINE, [poll(60, alert("Chatty", "info"))]).status is Status.OK
    odd = judge(p, BASELINE, [poll(60, alert("Odd", "page-me"))])
    assert odd.status is Status.SOFT and "severity page-me: unmapped, soft" in odd.reasons[0]
    bare = judge(p, BASELINE, [poll(60, alert("Bare", None))])
    assert bare.status is Status.SOFT and "no severity label: unmapped, soft" in bare.reasons[0]
    strict = policy(unmapped="hard")
    assert judge(strict, BASELINE, [poll(60, alert("Bare", None))]).status is Status.HARD
    with pytest.raises(ValueError, match="never ignored silently"):
        AlertPolicy(unmapped="ignore")


def test_a_custom_severity_label_is_read():
    p = policy(severity_label="priority", severities={"P1": "hard"})
    a = Alert.of({"alertname": "X", "priority": "P1"})
    assert judge(p, BASELINE, [poll(60, a)]).status is Status.HARD


def test_pre_existing_alerts_do_not_count_unless_they_get_worse():
    slow = alert("OrdersLatencyHigh", "warning", instance="a")
    p = policy(before=(slow, alert("OrdersDown", "critical")))
    assert judge(p, BASELINE, [poll(60, slow, alert("OrdersDown", "critical"))]).status is Status.OK
    # the same alert, severity rising warning -> critical: worse
    worse = judge(p, BASELINE, [poll(60, alert("OrdersLatencyHigh", "critical", instance="a"))])
    assert worse.status is Status.HARD
    assert "worse than before the change (severity warning: soft)" in worse.trigger
    # the same alertname with a new label set: a new alert
    other = judge(p, BASELINE, [poll(60, alert("OrdersLatencyHigh", "warning", instance="b"))])
    assert other.status is Status.SOFT and 'instance="b"' in other.reasons[0]
    # a lower severity than before is not worse
    lower = policy(before=(alert("OrdersLatencyHigh", "critical", instance="a"),))
    assert judge(lower, BASELINE, [poll(60, slow)]).status is Status.OK


def test_alerts_unknown_is_never_no_alerts_soft_then_hard_after_no_data_after():
    p = policy()
    steps = judge_timeline(p, BASELINE, [
        poll(60), poll(120, error="Alertmanager at http://127.0.0.1:9 is unreachable: [Errno 111] Connection refused"),
        poll(200, error="Alertmanager at http://127.0.0.1:9 is unreachable"), poll(300, error="Alertmanager at http://127.0.0.1:9 is unreachable"),
    ], final_index=10)
    assert [s.decision.status for s in steps] == [Status.OK, Status.SOFT, Status.SOFT, Status.HARD]
    assert "alerts unknown since T+1m" in steps[1].decision.reasons[0]
    assert steps[1].asked_about == ("alerts-unknown",)
    assert "hard after 3m" in steps[1].decision.reasons[0]
    assert steps[3].decision.trigger.startswith("alerts unknown since T+1m")
    assert "a firing alert cannot be ruled out" in steps[3].decision.trigger


def test_unknown_from_the_first_poll_counts_from_the_window_start():
    p = policy()
    d = judge(p, BASELINE, [poll(200, error="down")])
    assert d.status is Status.HARD and "since the window started" in d.trigger
    off = WatchPolicy(rules=RULES, no_data_after=math.inf, alerts=AlertPolicy())
    assert "never hard" in judge(off, BASELINE, [poll(200, error="down")]).reasons[0]


def test_polls_without_alerts_and_a_policy_without_alerts_give_no_alert_finding():
    assert judge(WatchPolicy(rules=RULES), BASELINE, [poll(60, alert("OrdersDown"))]).status is Status.OK
    plain = Poll(elapsed=60, values={"error_rate": 0.0}, requests=1000.0)
    assert judge(policy(), BASELINE, [plain]).status is Status.OK


def test_equal_time_polls_merge_worst_first():
    down = alert("OrdersDown")
    assert merge_seen([AlertsSeen(firing=(down,)), AlertsSeen(error="timeout")]).error == "timeout"
    assert merge_seen([AlertsSeen(), AlertsSeen(firing=(down,))]).firing == (down,)
    d = judge(policy(), BASELINE, [poll(60), poll(60, down)])
    assert d.status is Status.HARD


def test_the_long_history_of_a_live_window_keeps_the_last_known_alert_read():
    """needed_history trims the polls the judge no longer needs: not the last poll that read alerts."""
    polls = [poll(t) for t in range(1, 50)] + [poll(50 + t, error="down") for t in range(0, 200, 10)]
    steps = judge_timeline(policy(), BASELINE, polls, final_index=10_000)
    assert steps[-1].decision.status is Status.HARD
    assert "alerts unknown since T+49s" in steps[-1].decision.trigger


def test_phase_one_words():
    p = AlertPolicy()
    assert pre_existing_words(p, ()) == "no alert firing before the release"
    words = pre_existing_words(p, (alert("OrdersDown"),))
    assert words.startswith("already firing before the release (not counted unless they get worse): ")
    assert 'OrdersDown{service="orders"} (severity critical: hard; since 2026-12-02T00:34:49.111Z)' in words
