"""A stand-in for Jira (a hosted service that cannot run here), speaking its documented REST API v2.

A real HTTP server on 127.0.0.1 that answers what the tracker backend calls, with Jira's status
codes and error bodies:

- `GET /rest/api/2/issue/{key}?fields=status` -> 200 `{"key", "fields": {"status": {"name", "id",
  "statusCategory"}}}`; 404 `{"errorMessages": ["Issue does not exist or you do not have
  permission to see it."], "errors": {}}` for an unknown key.
- `GET /rest/api/2/issue/{key}/transitions` -> 200 `{"expand": "transitions", "transitions":
  [{"id", "name", "to": {"name", "id"}}]}`: the transitions of a small workflow.
- `POST /rest/api/2/issue/{key}/transitions` with `{"transition": {"id": "31"}}` -> 204; 400
  `{"errorMessages": [...], "errors": {}}` for a transition not valid from the issue's status, or
  when a workflow validator refuses it (`refuse_transitions`).
- Without valid credentials (Basic e-mail:API-token, or Bearer personal access token) -> 401
  with `WWW-Authenticate` and Jira's plain-text body.

Every request is recorded (method, path, query, body), so tests can assert what was asked."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = ["JIRA_EMAIL", "JIRA_PAT", "JIRA_TOKEN", "JiraServer", "jira_server"]

JIRA_EMAIL = "release-bot@example.com"
JIRA_TOKEN = "jira-api-token-5f3c9e1a"
JIRA_PAT = "jira-pat-0d4e7b2c"

# The workflow: status -> {transition id: (transition name, target status)}.
STATUSES = {"To Do": "10000", "In Progress": "3", "Code Review": "10001", "Ready for Release": "10002", "Released": "10003"}
WORKFLOW = {
    "To Do": {"11": ("Start work", "In Progress")},
    "In Progress": {"21": ("Request review", "Code Review"), "12": ("Stop work", "To Do")},
    "Code Review": {"31": ("Approve", "Ready for Release"), "22": ("Request changes", "In Progress")},
    "Ready for Release": {"41": ("Release", "Released"), "32": ("Reopen", "In Progress")},
    "Released": {"51": ("Back to ready", "Ready for Release")},
}


@dataclass
class JiraServer:
    url: str
    issues: dict[str, str] = field(default_factory=dict)  # key -> status name
    requests: list[tuple[str, str, dict, object]] = field(default_factory=list)
    refuse_transitions: set[str] = field(default_factory=set)  # keys whose validator says no
    accept_anonymous: bool = False

    def authorized(self, header: str | None) -> bool:
        if self.accept_anonymous:
            return True
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value == JIRA_PAT
        if scheme == "Basic":
            try:
                user, _, secret = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return user == JIRA_EMAIL and secret == JIRA_TOKEN
        return False


def _handler(server: JiraServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: object | None = None, content_type: str = "application/json", headers: dict | None = None) -> None:
            data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 204:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            server.requests.append((method, parts.path, parse_qs(parts.query), body))
            if not server.authorized(self.headers.get("Authorization")):
                self._answer(401, "Client must be authenticated to access this resource.", "text/plain;charset=UTF-8",
                             {"WWW-Authenticate": 'OAuth realm="https%3A%2F%2Fexample.atlassian.net"'})
                return
            segments = parts.path.strip("/").split("/")
            if segments[:4] != ["rest", "api", "2", "issue"] or len(segments) not in (5, 6):
                self._answer(404, {"errorMessages": ["null for uri: " + parts.path], "errors": {}})
                return
            key = segments[4]
            if key not in server.issues:
                self._answer(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
                return
            status = server.issues[key]
            if len(segments) == 5 and method == "GET":
                self._answer(200, {
                    "id": str(10000 + len(key)), "key": key, "self": f"{server.url}/rest/api/2/issue/{key}",
                    "fields": {"status": {"name": status, "id": STATUSES[status],
                                          "statusCategory": {"key": "done" if status == "Released" else "indeterminate"}}},
                })
            elif len(segments) == 6 and segments[5] == "transitions" and method == "GET":
                self._answer(200, {"expand": "transitions", "transitions": [
                    {"id": tid, "name": name, "to": {"name": target, "id": STATUSES[target]}, "hasScreen": False}
                    for tid, (name, target) in WORKFLOW[status].items()
                ]})
            elif len(segments) == 6 and segments[5] == "transitions" and method == "POST":
                tid = str(((body or {}).get("transition") or {}).get("id", "")) if isinstance(body, dict) else ""
                if tid not in WORKFLOW[status]:
                    self._answer(400, {"errorMessages": [f"Transition id '{tid}' is not valid for this issue."], "errors": {}})
                elif key in server.refuse_transitions:
                    self._answer(400, {"errorMessages": [], "errors": {"resolution": "Resolution is required."}})
                else:
                    server.issues[key] = WORKFLOW[status][tid][1]
                    self._answer(204)
            else:
                self._answer(405, {"errorMessages": [f"{method} not allowed"], "errors": {}})

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def jira_server() -> Iterator[JiraServer]:
    """A Jira stand-in on a free port of 127.0.0.1 with a few issues in the workflow."""
    state = JiraServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.issues.update({"SHOP-1": "Ready for Release", "SHOP-2": "In Progress", "SHOP-3": "Code Review", "SHOP-4": "Released"})
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
