"""Built-in notifications: a Slack incoming webhook, a CloudEvents webhook, a command.

Each message is built from already-redacted text and sent with a per-request timeout and a
bounded retry: a 429 waits what `Retry-After` says, a 5xx or an unreachable server waits 1s, 2s,
4s..., and the waiting of one message never exceeds `max_wait` (the release's clock waits, so a
simulated clock does not sleep). A failure is returned as a `Delivery`, never raised: a chat
server that is down must not cost the release its verdict. Webhook URLs are secrets: no message
here names one (request errors are described by their kind, never by their text, which repeats
the URL)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import requests

from pytest_release.config.model import NotifyChannel, NotifySettings

if TYPE_CHECKING:
    from pytest_release.clock import Clock

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CLOUDEVENT_TYPE_PREFIX = "io.github.pytest-release.release."
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
_HEADER_LIMIT, _FIELD_LIMIT, _TEXT_LIMIT = 150, 2000, 3000  # Slack's block limits (characters)


@dataclass(frozen=True)
class Event:
    """One state change of a release, in words already redacted."""

    type: str  # one of core.events.NOTIFY_EVENTS
    env: str
    version: str
    detail: str  # one line: what is deployed, why it rolls back, the question, the verdict's headline
    time: dt.datetime
    verdict: str | None = None  # for the final events
    reasons: tuple[str, ...] = ()  # the reason chain (final events)
    report: str = ""  # the report's path
    report_url: str | None = None
    strategy: str = ""
    rollback_target: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def data(self) -> dict[str, Any]:
        return {
            "event": self.type, "env": self.env, "version": self.version, "verdict": self.verdict,
            "detail": self.detail, "reasons": list(self.reasons), "report": self.report,
            "report_url": self.report_url, "strategy": self.strategy, "rollback_target": self.rollback_target,
        }


@dataclass(frozen=True)
class Delivery:
    channel: str
    event: str
    ok: bool
    attempts: int
    outcome: str  # "delivered", or what went wrong (no URL in it)

    def line(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.channel}: {self.event} {'delivered' if self.ok else 'NOT delivered: ' + self.outcome}{tries}"


# --- payloads ----------------------------------------------------------------------------
def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack's mrkdwn: &, < and > are control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_TITLES = {
    "asked": "Waiting for a person", "started": "Deploying", "rolling-back": "Rolling back",
    "released": "Released", "rolled-back": "Rolled back", "aborted": "Aborted", "rollback-failed": "ROLLBACK FAILED",
}


def slack_payload(event: Event) -> dict[str, Any]:
    """Slack's incoming-webhook payload: `text` (the notification's fallback) and `blocks`
    (header, the verdict/env/version fields, the reason, the report link)."""
    title = f"{_TITLES.get(event.type, event.type)}: {event.version} to {event.env}"
    verdict = event.verdict or {"rolling-back": "rolling back", "asked": "waiting for an answer"}.get(event.type, "in progress")
    reason = "; then: ".join(event.reasons) if event.reasons else event.detail
    if event.report_url:
        link = f"<{event.report_url}|{_escape(os.path.basename(event.report) or 'report')}>"
    else:
        link = f"`{_escape(event.report)}`" if event.report else "not written yet"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, _HEADER_LIMIT), "emoji": False}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": _cut(f"*Verdict*\n{_escape(verdict)}", _FIELD_LIMIT)},
            {"type": "mrkdwn", "text": _cut(f"*Environment*\n{_escape(event.env)}", _FIELD_LIMIT)},
            {"type": "mrkdwn", "text": _cut(f"*Version*\n{_escape(event.version)}", _FIELD_LIMIT)},
            {"type": "mrkdwn", "text": _cut(f"*Event*\n{_escape(event.type)}", _FIELD_LIMIT)},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*Reason*\n{_escape(reason)}", _TEXT_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(f"Report: {link}", _TEXT_LIMIT)}]},
    ]
    return {"text": _cut(f"{title}: {event.detail}", _TEXT_LIMIT), "blocks": blocks}


def cloudevent(event: Event) -> dict[str, Any]:
    """The event as a CloudEvents 1.0 structured-mode JSON document."""
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": f"pytest-release/{event.env}",
        "type": CLOUDEVENT_TYPE_PREFIX + event.type,
        "subject": event.version,
        "time": event.time.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": event.data(),
    }


# --- sending -----------------------------------------------------------------------------
def retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        from_date = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return max(0.0, (from_date - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _request_problem(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return f"request failed ({type(exc).__name__})"


def send_http(
    method: str, url: str, body: Any, *, headers: Mapping[str, str], timeout: float, retries: int, max_wait: float,
    clock: "Clock", accept: Callable[[requests.Response], str | None],
) -> tuple[bool, int, str, Any]:
    """Send once, then retry what may pass. Returns (ok, attempts, outcome, parsed answer).

    `accept(response)` returns None when the answer is a success, else what it says is wrong."""
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        wait: float | None
        try:
            response = requests.request(method, url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            outcome, wait = _request_problem(exc, timeout), float(2 ** (attempt - 1))
        else:
            problem = accept(response)
            if problem is None:
                try:
                    answer = response.json()
                except ValueError:
                    answer = response.text
                return True, attempt, "delivered", answer
            outcome = problem
            if response.status_code not in RETRYABLE:
                return False, attempt, outcome, None
            wait = retry_after(response) if response.status_code == 429 else None
            wait = float(2 ** (attempt - 1)) if wait is None else wait
        if attempt > retries:
            return False, attempt, outcome, None
        if waited + wait > max_wait:
            return False, attempt, f"{outcome}; a retry in {wait:g}s would pass the {max_wait:g}s limit on waiting", None
        clock.sleep(wait)
        waited += wait


def _slack_answer(response: requests.Response) -> str | None:
    """Slack answers 200 `ok`; errors are a status and a word (400 invalid_payload, 403
    action_prohibited, 404 no_service, 410 channel_is_archived, 429 rate limited...)."""
    if response.status_code == 200:
        return None
    word = response.text.strip()[:80] if len(response.text.strip()) <= 80 and "\n" not in response.text.strip() else ""
    return f"HTTP {response.status_code}" + (f" {word}" if word else "")


def _webhook_answer(response: requests.Response) -> str | None:
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def deliver(channel: NotifyChannel, event: Event, settings: NotifySettings, clock: "Clock", cwd: str | None = None) -> Delivery:
    """Send `event` on `channel`; never raises."""
    try:
        if channel.type == "command":
            return _run_command(channel, event, settings, cwd)
        assert channel.url is not None
        if channel.type == "slack":
            body = json.dumps(slack_payload(event)).encode()
            headers, accept = {"Content-Type": "application/json"}, _slack_answer
        else:
            body = json.dumps(cloudevent(event)).encode()
            headers, accept = {"Content-Type": CLOUDEVENTS_CONTENT_TYPE}, _webhook_answer
        ok, attempts, outcome, _ = send_http(
            "POST", channel.url, body, headers=headers, timeout=settings.timeout, retries=settings.retries,
            max_wait=settings.max_wait, clock=clock, accept=accept,
        )
        return Delivery(channel.name, event.type, ok, attempts, outcome)
    except Exception as exc:  # a bug here must not cost the release its verdict
        return Delivery(channel.name, event.type, False, 1, f"internal error ({type(exc).__name__})")


def _run_command(channel: NotifyChannel, event: Event, settings: NotifySettings, cwd: str | None) -> Delivery:
    """The command gets the CloudEvents JSON on stdin and RELEASE_EVENT in its environment;
    exit status 0 is delivered. One attempt, bounded by `timeout`."""
    env = {**os.environ, "RELEASE_EVENT": event.type, "RELEASE_ENV": event.env, "RELEASE_VERSION": event.version}
    try:
        result = subprocess.run(
            list(channel.argv), input=json.dumps(cloudevent(event)), text=True, capture_output=True,
            timeout=settings.timeout, cwd=cwd, env=env,
        )
    except subprocess.TimeoutExpired:
        return Delivery(channel.name, event.type, False, 1, f"no exit within {settings.timeout:g}s (stopped)")
    except OSError as exc:
        return Delivery(channel.name, event.type, False, 1, f"cannot run {channel.argv[0]}: {exc.strerror or exc}")
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        return Delivery(channel.name, event.type, False, 1, f"exit status {result.returncode}" + (f": {last[0][:200]}" if last[0] else ""))
    return Delivery(channel.name, event.type, True, 1, "delivered")


def wanted(channel: NotifyChannel, event: str) -> bool:
    return not channel.events or event in channel.events


def notify_secrets(settings: NotifySettings) -> dict[str, str]:
    """The channels' URLs (and their paths, which carry the token) for the redactor."""
    found: dict[str, str] = {}
    for index, channel in enumerate(settings.channels):
        if channel.url:
            found[f"notify.channels[{index}].url"] = channel.url
            path = channel.url.split("://", 1)[-1].partition("/")[2]
            if len(path) >= 8:
                found[f"notify.channels[{index}].url path"] = "/" + path
    return found
