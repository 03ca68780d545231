"""HTTP servers on 127.0.0.1 that answer as Slack's incoming webhooks and Grafana's annotations
API document, recording every request (Slack and Grafana cannot run here).

Slack (https://api.slack.com/messaging/webhooks#handling_errors): 200 `ok`; errors are a status
and a plain-text word: 400 `invalid_payload`, 403 `action_prohibited`, 404 `no_service`, 410
`channel_is_archived`, 429 with `Retry-After` when rate limited.
Grafana (https://grafana.com/docs/grafana/latest/developers/http_api/annotations/):
`POST /api/annotations` -> `{"message":"Annotation added","id":1}`, `PATCH /api/annotations/:id`
-> `{"message":"Annotation patched"}`, 401 `{"message":"Unauthorized"}` without the token."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html"


class RecordingServer:
    """Answers from a queue of scripted answers, then with `default(request)`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.scripted: deque[Answer] = deque()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with server.lock:
                    server.requests.append(request)
                    answer = server.scripted.popleft() if server.scripted else server.default(request)
                body = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PATCH = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def default(self, request: Request) -> Answer:
        return Answer(200, "ok")

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.scripted.extend(answers)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SlackWebhook(RecordingServer):
    PATH = "/services/T0001/B0001/s3cr3tW3bh00kT0k3n"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.PATH}"

    def default(self, request: Request) -> Answer:
        if request.path != self.PATH:
            return Answer(404, "no_service")
        try:
            payload = request.json()
        except ValueError:
            return Answer(400, "invalid_payload")
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return Answer(400, "no_text")
        return Answer(200, "ok")

    def events(self) -> list[str]:
        """The Event field of every message received (the blocks' second section)."""
        found = []
        for request in self.requests:
            fields = request.json()["blocks"][1]["fields"]
            found.append(next(f["text"].split("\n", 1)[1] for f in fields if f["text"].startswith("*Event*")))
        return found


RATE_LIMITED = Answer(429, "rate_limited", {"Retry-After": "2"})
INVALID_PAYLOAD = Answer(400, "invalid_payload")
NO_SERVICE = Answer(404, "no_service")


class GrafanaAPI(RecordingServer):
    TOKEN = "glsa_t0ps3cr3tGrafanaServiceAccount"

    def __init__(self) -> None:
        self.annotations: dict[int, dict[str, Any]] = {}
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def default(self, request: Request) -> Answer:
        if request.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return Answer(401, json.dumps({"message": "Unauthorized"}), content_type="application/json")
        if request.method == "POST" and request.path == "/api/annotations":
            ident = len(self.annotations) + 1
            self.annotations[ident] = request.json()
            return Answer(200, json.dumps({"message": "Annotation added", "id": ident}), content_type="application/json")
        match = re.fullmatch(r"/api/annotations/(\d+)", request.path)
        if request.method == "PATCH" and match and int(match.group(1)) in self.annotations:
            self.annotations[int(match.group(1))].update(request.json())
            return Answer(200, json.dumps({"message": "Annotation patched"}), content_type="application/json")
        return Answer(404, json.dumps({"message": "Not found"}), content_type="application/json")


@pytest.fixture
def slack_webhook():
    server = SlackWebhook()
    yield server
    server.stop()


@pytest.fixture
def event_sink():
    """A generic webhook receiver (any 2xx is delivered)."""
    server = RecordingServer()
    yield server
    server.stop()


@pytest.fixture
def grafana_api():
    server = GrafanaAPI()
    yield server
    server.stop()
