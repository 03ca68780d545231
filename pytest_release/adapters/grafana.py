"""Grafana annotations through its HTTP API (`POST /api/annotations`, `PATCH /api/annotations/:id`).

A point annotation when the deploy starts, and at the verdict: a region over the watch window
(`time` .. `timeEnd`) and a point for the verdict itself; the deploy's annotation is then patched
with the verdict tag, so every annotation of a release carries `env:`, `version:` and `verdict:`
tags. The token (a service account token, sent as a bearer token) comes from the variable
release.yaml names; it is a secret and redacted. Failures are returned, never raised, with the
same timeout and bounded retry as notifications (adapters/notify.py)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from pytest_release.adapters.notify import Delivery, send_http
from pytest_release.config.model import AnnotationSettings

if TYPE_CHECKING:
    from pytest_release.clock import Clock

NAME = "grafana annotations"


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def release_tags(settings: AnnotationSettings, env: str, version: str, verdict: str | None = None) -> list[str]:
    tags = ["pytest-release", f"env:{env}", f"version:{version}"]
    if verdict:
        tags.append(f"verdict:{verdict}")
    return tags + [t for t in settings.tags if t not in tags]


def _answer(response: requests.Response) -> str | None:
    """Grafana answers 200 with {"message": "Annotation added", "id": N} (or "Annotation patched")."""
    if response.status_code == 200:
        return None
    try:
        message = str(response.json().get("message", ""))[:120]
    except (ValueError, AttributeError):
        message = ""
    return f"HTTP {response.status_code}" + (f" {message}" if message else "")


@dataclass
class Grafana:
    settings: AnnotationSettings
    token: str | None
    clock: "Clock"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, method: str, path: str, body: dict[str, Any], what: str) -> tuple[Delivery, Any]:
        s = self.settings
        try:
            ok, attempts, outcome, answer = send_http(
                method, s.url + path, json.dumps(body).encode(), headers=self._headers(), timeout=s.timeout,
                retries=s.retries, max_wait=s.max_wait, clock=self.clock, accept=_answer,
            )
        except Exception as exc:  # never cost the release its verdict
            ok, attempts, outcome, answer = False, 1, f"internal error ({type(exc).__name__})", None
        if ok and not self.token:
            outcome = "delivered (without a token)"
        return Delivery(NAME, what, ok, attempts, outcome), answer

    def _body(self, start: dt.datetime, text: str, tags: list[str], end: dt.datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"time": epoch_ms(start), "tags": tags, "text": text}
        if end is not None:
            body["timeEnd"] = epoch_ms(end)
        if self.settings.dashboard_uid:
            body["dashboardUID"] = self.settings.dashboard_uid
        if self.settings.panel_id is not None:
            body["panelId"] = self.settings.panel_id
        return body

    def add(self, what: str, start: dt.datetime, text: str, tags: list[str], end: dt.datetime | None = None) -> tuple[Delivery, int | None]:
        """A point annotation (or a region with `end`); the annotation's id when Grafana gave one."""
        delivery, answer = self._send("POST", "/api/annotations", self._body(start, text, tags, end), what)
        ident = answer.get("id") if isinstance(answer, dict) else None
        return delivery, ident if isinstance(ident, int) else None

    def retag(self, what: str, ident: int, tags: list[str]) -> Delivery:
        return self._send("PATCH", f"/api/annotations/{ident}", {"tags": tags}, what)[0]

    def dashboard_link(self, start: dt.datetime, end: dt.datetime) -> str | None:
        """The dashboard over the release, five minutes either side; None without a dashboard."""
        if not self.settings.dashboard_uid:
            return None
        margin = 5 * 60 * 1000
        query = urllib.parse.urlencode({"from": epoch_ms(start) - margin, "to": epoch_ms(end) + margin})
        return f"{self.settings.url}/d/{urllib.parse.quote(self.settings.dashboard_uid, safe='')}?{query}"
