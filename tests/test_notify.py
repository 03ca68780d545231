"""Built-in notifications against local servers that answer as Slack documents, a CloudEvents
receiver and a real command: payloads, retries, Retry-After on 429, and failures that are
returned, never raised. The waiting between attempts runs on a SimulatedClock."""

from __future__ import annotations

import datetime as dt
import json
import sys

import pytest

from pytest_release.adapters.notify import Event, cloudevent, deliver, notify_secrets, retry_after, slack_payload
from pytest_release.clock import SimulatedClock
from pytest_release.config import NotifyChannel, NotifySettings
from pytest_release.core.redact import Redactor
from tests.support.chat_servers import INVALID_PAYLOAD, NO_SERVICE, RATE_LIMITED, Answer
from tests.support.demo import free_port

WHEN = dt.datetime(2026, 3, 1, 12, 16, 5, tzinfo=dt.timezone.utc)


def event(kind: str = "rolled-back", **extra) -> Event:
    fields = dict(
        type=kind, env="staging", version="v2", detail="Rolled-Back: deploy script failure: exit code 3", time=WHEN,
        verdict="Rolled-Back", reasons=("deploy script failure: exit code 3", "rollback to v1 succeeded"),
        report="/srv/app/_docs/04_release/release_v2_staging_2026-03-01-1200.md",
        report_url="https://ci.example.com/artifacts/release_v2_staging_2026-03-01-1200.md", strategy="all-at-once", rollback_target="v1",
    )
    fields.update(extra)
    return Event(**fields)


def slack(url: str) -> NotifyChannel:
    return NotifyChannel(type="slack", url=url, name="slack #1")


def test_the_slack_payload_has_the_verdict_env_version_reason_and_report_link_in_blocks(slack_webhook):
    clock = SimulatedClock()
    delivery = deliver(slack(slack_webhook.url), event(), NotifySettings(), clock)
    assert delivery.ok and delivery.attempts == 1 and delivery.outcome == "delivered"
    (request,) = slack_webhook.requests
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload["text"].startswith("Rolled back: v2 to staging")
    header, fields, reason, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Rolled back: v2 to staging", "emoji": False}}
    assert [f["text"] for f in fields["fields"]] == ["*Verdict*\nRolled-Back", "*Environment*\nstaging", "*Version*\nv2", "*Event*\nrolled-back"]
    assert reason["text"]["text"] == "*Reason*\ndeploy script failure: exit code 3; then: rollback to v1 succeeded"
    assert context["elements"][0]["text"] == (
        "Report: <https://ci.example.com/artifacts/release_v2_staging_2026-03-01-1200.md|release_v2_staging_2026-03-01-1200.md>"
    )
    assert clock.monotonic() == 0.0


def test_slack_text_is_escaped_and_cut_to_the_block_limits():
    payload = slack_payload(event(reasons=("<!channel> & a very long reason " + "x" * 5000,), version="v" + "9" * 200))
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    reason = payload["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt; &amp;" in reason and "<!channel>" not in reason and len(reason) <= 3000


@pytest.mark.parametrize("answer, outcome", [(INVALID_PAYLOAD, "HTTP 400 invalid_payload"), (NO_SERVICE, "HTTP 404 no_service")])
def test_a_slack_error_that_a_retry_cannot_fix_is_not_retried(slack_webhook, answer, outcome):
    slack_webhook.answer(answer)
    clock = SimulatedClock()
    delivery = deliver(slack(slack_webhook.url), event(), NotifySettings(retries=3), clock)
    assert not delivery.ok and delivery.outcome == outcome and delivery.attempts == 1
    assert len(slack_webhook.requests) == 1 and clock.monotonic() == 0.0
    assert delivery.line() == f"slack #1: rolled-back NOT delivered: {outcome}"


def test_a_429_waits_what_retry_after_says_then_delivers(slack_webhook):
    slack_webhook.answer(RATE_LIMITED, Answer(429, "rate_limited", {"Retry-After": "5"}))
    clock = SimulatedClock()
    delivery = deliver(slack(slack_webhook.url), event(), NotifySettings(retries=2, max_wait=30), clock)
    assert delivery.ok and delivery.attempts == 3
    assert clock.monotonic() == 7.0  # 2s then 5s, as the server said, on the release's clock
    assert len(slack_webhook.requests) == 3


def test_a_retry_after_beyond_the_cap_ends_the_retries_at_once(slack_webhook):
    slack_webhook.answer(Answer(429, "rate_limited", {"Retry-After": "3600"}))
    clock = SimulatedClock()
    delivery = deliver(slack(slack_webhook.url), event(), NotifySettings(retries=5, max_wait=30), clock)
    assert not delivery.ok and delivery.attempts == 1 and clock.monotonic() == 0.0
    assert delivery.outcome == "HTTP 429 rate_limited; a retry in 3600s would pass the 30s limit on waiting"


def test_retries_are_bounded(slack_webhook):
    slack_webhook.answer(*[Answer(503, "service unavailable")] * 10)
    clock = SimulatedClock()
    delivery = deliver(slack(slack_webhook.url), event(), NotifySettings(retries=2, max_wait=30), clock)
    assert not delivery.ok and delivery.attempts == 3 and len(slack_webhook.requests) == 3
    assert clock.monotonic() == 3.0  # 1s, 2s


def test_an_unreachable_server_is_described_without_its_url():
    url = f"http://127.0.0.1:{free_port()}/services/T0001/B0001/s3cr3tW3bh00kT0k3n"
    delivery = deliver(slack(url), event(), NotifySettings(retries=1, timeout=2), SimulatedClock())
    assert not delivery.ok and delivery.outcome == "could not connect" and delivery.attempts == 2
    assert "s3cr3t" not in delivery.line() and "127.0.0.1" not in delivery.line()


def test_a_server_that_does_not_answer_times_out():
    import socket

    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        delivery = deliver(NotifyChannel(type="webhook", url=url, name="webhook #1"), event(), NotifySettings(timeout=0.3, retries=0), SimulatedClock())
    assert not delivery.ok and delivery.outcome == "no answer within 0.3s"


def test_retry_after_reads_seconds_and_http_dates():
    import requests

    response = requests.Response()
    response.headers["Retry-After"] = "12"
    assert retry_after(response) == 12.0
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    response.headers["Retry-After"] = later
    assert 85 <= retry_after(response) <= 91
    response.headers["Retry-After"] = "soon"
    assert retry_after(response) is None


def test_the_webhook_posts_a_structured_cloudevent(event_sink):
    channel = NotifyChannel(type="webhook", url=f"http://127.0.0.1:{event_sink.port}/ingest", name="webhook #2")
    delivery = deliver(channel, event("started", verdict=None, reasons=(), detail="deploying v2"), NotifySettings(), SimulatedClock())
    assert delivery.ok
    (request,) = event_sink.requests
    assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    document = request.json()
    assert {k: document[k] for k in ("specversion", "source", "type", "subject", "time", "datacontenttype")} == {
        "specversion": "1.0", "source": "pytest-release/staging", "type": "io.github.pytest-release.release.started",
        "subject": "v2", "time": "2026-03-01T12:16:05Z", "datacontenttype": "application/json",
    }
    assert document["id"] and document["data"]["event"] == "started" and document["data"]["verdict"] is None
    assert document["data"]["detail"] == "deploying v2"


def test_a_webhook_answering_500_is_retried_and_recorded(event_sink):
    event_sink.answer(Answer(500, "boom"), Answer(500, "boom"), Answer(500, "boom"))
    channel = NotifyChannel(type="webhook", url=f"http://127.0.0.1:{event_sink.port}/ingest", name="events")
    delivery = deliver(channel, event(), NotifySettings(retries=2), SimulatedClock())
    assert not delivery.ok and delivery.outcome == "HTTP 500" and delivery.attempts == 3


def test_the_command_gets_the_event_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    script = f"import json,os,sys; d=json.load(sys.stdin); d['env_event']=os.environ['RELEASE_EVENT']; open({str(out)!r},'w').write(json.dumps(d))"
    channel = NotifyChannel(type="command", argv=(sys.executable, "-c", script), name="command #1")
    delivery = deliver(channel, event(), NotifySettings(), SimulatedClock(), cwd=str(tmp_path))
    assert delivery.ok, delivery
    got = json.loads(out.read_text())
    assert got["type"] == "io.github.pytest-release.release.rolled-back" and got["env_event"] == "rolled-back"
    assert got == {**cloudevent(event()), "id": got["id"], "env_event": "rolled-back"}


def test_a_failing_or_hanging_or_missing_command_is_recorded(tmp_path):
    failing = NotifyChannel(type="command", argv=(sys.executable, "-c", "import sys; print('pager down', file=sys.stderr); sys.exit(3)"), name="pager")
    delivery = deliver(failing, event(), NotifySettings(), SimulatedClock())
    assert not delivery.ok and delivery.outcome == "exit status 3: pager down"
    hanging = NotifyChannel(type="command", argv=(sys.executable, "-c", "import time; time.sleep(30)"), name="slow")
    delivery = deliver(hanging, event(), NotifySettings(timeout=0.5), SimulatedClock())
    assert not delivery.ok and delivery.outcome == "no exit within 0.5s (stopped)"
    missing = NotifyChannel(type="command", argv=(str(tmp_path / "nope.sh"),), name="missing")
    delivery = deliver(missing, event(), NotifySettings(), SimulatedClock())
    assert not delivery.ok and delivery.outcome.startswith("cannot run ")


def test_webhook_urls_and_their_paths_are_registered_as_secrets(slack_webhook):
    settings = NotifySettings(channels=(slack(slack_webhook.url),))
    redactor = Redactor(notify_secrets(settings).values())
    text = f"POST {slack_webhook.url} failed; path {slack_webhook.PATH}"
    assert redactor.redact(text) == "POST *** failed; path ***"
