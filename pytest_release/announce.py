"""Built-in announcements: notifications and Grafana annotations, driven by the release's hooks.

`Announcer` is a pytest plugin (registered in release mode by plugin.py) implementing the
project's own hookspecs, so it hears exactly what a user's conftest hears, once per state change:

- `pytest_release_notify` (asked, started, rolling-back): sent at once to every channel of the
  environment's `notify:`; the deploy's start becomes a Grafana point annotation.
- `pytest_release_report_context` (the verdict is known, the report not yet final): the final
  event (released, rolled-back, aborted, rollback-failed) goes out here, with the verdict's
  Grafana annotations (a region over the watch window, a point at the verdict, the verdict tag on
  the deploy's annotation), so every delivery and failure is in the report's "Notifications and
  annotations" section and in the self-verification. The final `pytest_release_notify` call that
  follows is then not sent a second time.
- `pytest_release_verdict` (the report is final): project mode's `_docs/_autodev_state.md`.

Nothing here raises into the release: a failure is a line in the report, in the terminal and a
failed self-verification item; the verdict and the exit status stay what the release decided."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_release.adapters import autodev_state
from pytest_release.adapters.grafana import Grafana, release_tags
from pytest_release.adapters.notify import Delivery, Event, deliver, wanted
from pytest_release.core.events import FINAL_EVENTS
from pytest_release.report.document import timestamp

if TYPE_CHECKING:
    from pytest_release.context import ReleaseContext
    from pytest_release.core.release import Verdict

FINAL_EVENT = {
    "Released": "released", "Released-with-override": "released", "Rolled-Back": "rolled-back",
    "Aborted": "aborted", "Rollback-Failed": "rollback-failed",
}
SECTION_TITLE = "Notifications and annotations"


@dataclass
class Announcer:
    NAME = "release-announce"

    deliveries: list[tuple[str, Delivery]] = field(default_factory=list)  # (time, delivery)
    sent: set[str] = field(default_factory=set)
    deploy_annotation: int | None = None
    dashboard: str | None = None

    # --- the hooks ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_release_notify(self, release: "ReleaseContext", event: str, detail: str) -> None:
        if event in FINAL_EVENTS and self.sent & set(FINAL_EVENTS):
            return  # the final event went out with the verdict (pytest_release_report_context)
        if event != "asked" and event in self.sent:
            return  # once per state change
        self.sent.add(event)
        final = event in FINAL_EVENTS  # only when the report could not be finished: sent all the same
        verdict = release.state.verdict().value if final else None
        self._notify(release, self._event(release, event, detail, verdict=verdict))
        grafana = self._grafana(release)
        if event == "started" and grafana is not None:
            env, version = release.env.name, release.invocation.version
            moment = release.state.live_touched_at or release.clock.now()
            delivery, self.deploy_annotation = grafana.add(
                "deploy", moment, release.redactor.redact(f"pytest-release: deploying {version} to {env} ({release.choices.strategy})"),
                release_tags(grafana.settings, env, version),
            )
            self._record(release, delivery)

    @pytest.hookimpl(tryfirst=True)
    def pytest_release_report_context(self, release: "ReleaseContext", context: dict[str, Any]) -> None:
        verdict = str(context.get("verdict"))
        reasons = tuple(release.redactor.redact(r) for r in context.get("reasons") or ())
        final = FINAL_EVENT.get(verdict, "aborted")
        if final not in self.sent:
            self.sent.add(final)
            self._notify(release, self._event(release, final, release.state.headline(), verdict=verdict, reasons=reasons))
            self._annotate_verdict(release, verdict, reasons)
        lines = self.report_lines()
        if lines:
            context.setdefault("sections", []).append((SECTION_TITLE, lines))
            release.report.extra["notifications"] = [(d.ok, d.line()) for _, d in self.deliveries]

    @pytest.hookimpl(tryfirst=True)
    def pytest_release_verdict(self, release: "ReleaseContext", verdict: "Verdict", reasons: list[str]) -> None:
        kind = "Standalone rollback" if release.commit_standalone() else "Release"
        root = release.config.root
        outcome = autodev_state.Outcome(
            kind=kind, env=release.env.name, version=release.invocation.version, verdict=verdict.value,
            reason=release.redactor.redact(reasons[0] if reasons else ""), finished=timestamp(release.clock.now()),
            report=_relative(str(release.paths.report), str(root)),
        )
        try:
            path = autodev_state.update(root, outcome)
        except OSError as exc:
            release.say(f"project mode: could not record the outcome in {autodev_state.STATE_FILE}: {exc.strerror or exc}")
            return
        if path is not None:
            step, _ = autodev_state.next_step(outcome)
            release.say(f"project mode: outcome recorded in {path} (next step: {step})")

    # --- the work ------------------------------------------------------------------------------
    def _event(self, release: "ReleaseContext", kind: str, detail: str, verdict: str | None = None, reasons: tuple[str, ...] = ()) -> Event:
        redact = release.redactor.redact
        paths = getattr(release, "paths", None)
        report = str(paths.report) if paths is not None else ""
        template = release.env.notify.report_url
        return Event(
            type=kind, env=release.env.name, version=release.invocation.version, detail=redact(detail.splitlines()[0] if detail else ""),
            time=release.clock.now(), verdict=verdict, reasons=reasons, report=report,
            report_url=template.replace("{report}", os.path.basename(report)) if template and report else None,
            strategy=release.choices.strategy, rollback_target=release.choices.rollback_target or "",
        )

    def _notify(self, release: "ReleaseContext", event: Event) -> None:
        settings = release.env.notify
        for channel in settings.channels:
            if wanted(channel, event.type):
                self._record(release, deliver(channel, event, settings, release.clock, cwd=str(release.config.root)))

    def _record(self, release: "ReleaseContext", delivery: Delivery) -> None:
        self.deliveries.append((timestamp(release.clock.now()), delivery))
        if not delivery.ok:
            release.say(f"notification NOT delivered (the release goes on): {release.redactor.redact(delivery.line())}")

    def _grafana(self, release: "ReleaseContext") -> Grafana | None:
        settings = release.env.annotations
        if settings is None:
            return None
        return Grafana(settings, os.environ.get(settings.token_env) or None, release.clock)

    def _annotate_verdict(self, release: "ReleaseContext", verdict: str, reasons: tuple[str, ...]) -> None:
        grafana = self._grafana(release)
        if grafana is None:
            return
        env, version, redact = release.env.name, release.invocation.version, release.redactor.redact
        tags = release_tags(grafana.settings, env, version, verdict)
        now = release.clock.now()
        watch = release.report.sections.get("watch")
        if watch is not None and watch.started is not None and not watch.status.startswith("skipped"):  # a window that ran
            end = watch.finished or now
            self._record(release, grafana.add("watch window", watch.started, redact(f"pytest-release: watch window of {version} in {env} ({watch.status})"), tags, end)[0])
        because = f": {reasons[0]}" if reasons and verdict not in ("Released", "Released-with-override") else ""
        self._record(release, grafana.add("verdict", now, redact(f"pytest-release: {verdict}: {version} to {env}{because}"), tags)[0])
        if self.deploy_annotation is not None:
            self._record(release, grafana.retag("deploy (verdict tag)", self.deploy_annotation, tags))
        self.dashboard = grafana.dashboard_link(release.state.live_touched_at or release.started_at, now)

    def report_lines(self) -> str:
        if not self.deliveries and not self.dashboard:
            return ""
        parts = []
        if self.dashboard:
            parts.append(f"Dashboard: [{self.dashboard}]({self.dashboard})\n")
        if self.deliveries:
            failed = sum(1 for _, d in self.deliveries if not d.ok)
            parts.append(
                f"{len(self.deliveries)} sent, {failed} NOT delivered (the release did not wait for them)." if failed
                else f"{len(self.deliveries)} sent, all delivered."
            )
            parts.append("\n| Time | Channel | Event | Outcome | Attempts |\n|---|---|---|---|---|")
            for when, d in self.deliveries:
                outcome = d.outcome if d.ok else f"**NOT delivered**: {d.outcome}"
                parts.append(f"| {when} | {d.channel} | {d.event} | {outcome.replace('|', '/')} | {d.attempts} |")
        return "\n".join(parts)


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root) if path.startswith(root.rstrip("/") + "/") else path
