"""Keeps the machine-readable release record (report/record.py) beside the report.

A plugin of its own, registered by plugin.py beside ReleaseSession: it implements the project's
hooks (a decision, a notify event, a phase finished, the verdict) and pytest's
`pytest_runtest_logreport` (every check), reads the release as the state machine and the report
model hold it, and rewrites the record after each of them. It decides nothing: a record that
cannot be written is said once in the terminal and never changes the release."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pytest_release.adapters.git import commit_times
from pytest_release.context import ReleaseContext
from pytest_release.core.release import Phase, Verdict
from pytest_release.fixtures import CONTEXT_KEY
from pytest_release.report.record import SCHEMA, iso, record_path, write_record


class ReleaseRecorder:
    NAME = "release-recorder"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.decisions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.first_seen: dict[tuple[str, str], dt.datetime] = {}
        self.verdict: Verdict | None = None
        self.finished: dt.datetime | None = None
        self._commit_times: tuple[str, dict[str, dt.datetime]] | None = None
        self._failed = False

    def _context(self) -> ReleaseContext | None:
        ctx = self.config.stash.get(CONTEXT_KEY, None)
        if ctx is None or getattr(ctx, "paths", None) is None or getattr(ctx, "report", None) is None:
            return None  # no report yet (collect-only, a usage error, a refused lock still writes one)
        return ctx

    # --- hooks ------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or not report.passed:  # when the state machine records a check
            self.write()

    def pytest_release_decision(self, release: ReleaseContext, phase: Phase, decision: str, by: str) -> None:
        self.decisions.append({"phase": phase.value, "decision": decision, "by": by, "at": iso(release.clock.now())})
        self.write()

    def pytest_release_notify(self, release: ReleaseContext, event: str, detail: str) -> None:
        self.events.append({"event": event, "detail": detail, "at": iso(release.clock.now())})
        self.write()

    def pytest_release_phase_finished(self, release: ReleaseContext, phase: Phase, status: str) -> None:
        self.write()

    @pytest.hookimpl(tryfirst=True)
    def pytest_release_verdict(self, release: ReleaseContext, verdict: Verdict, reasons: list[str]) -> None:
        self.verdict, self.finished = verdict, release.clock.now()
        self.write()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.write()  # the last word: also after a verdict hook of another plugin raised

    # --- the record -------------------------------------------------------------------------
    def write(self) -> None:
        ctx = self._context()
        if ctx is None:
            return
        try:
            write_record(record_path(ctx.paths.report), self.build(ctx), ctx.redactor.redact)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                ctx.say(f"release record not written ({record_path(ctx.paths.report).name}): {exc}")

    def build(self, ctx: ReleaseContext) -> dict[str, Any]:
        state, c = ctx.state, ctx.choices
        now = ctx.clock.now()
        final = self.verdict
        checks = [
            {"phase": r.phase.value, "name": r.name, "outcome": r.outcome.value, "message": r.message, "at": iso(r.at)}
            for r in state.checks
        ]
        rollback_section = ctx.report.sections.get("rollback")
        rollback = None
        if state.rollback_started_at is not None:
            ok = state.rollback_result[0] if state.rollback_result is not None else None
            rollback = {
                "target": c.rollback_target,
                "started": iso(state.rollback_started_at),
                "finished": iso(rollback_section.finished) if rollback_section is not None else None,
                "succeeded": ok,
                "verified": bool(ok),
                "detail": state.rollback_result[1] if state.rollback_result is not None else None,
                "report": ctx.paths.rollback_report.name if ctx.rollback_report is not None else None,
            }
        return {
            "schema": SCHEMA,
            "complete": final is not None,
            "env": ctx.env.name,
            "kind": ctx.env.kind,
            "version": ctx.invocation.version,
            "rollback_target": c.rollback_target,
            "rollback_target_source": c.rollback_target_source,
            "strategy": c.strategy,
            "strategy_by": c.strategy_by,
            "git_sha": c.git_sha,
            "started": iso(ctx.started_at),
            "updated": iso(now),
            "finished": iso(self.finished),
            "verdict": final.value if final is not None else None,
            "exit_status": ctx.commit_exit_code(final) if final is not None else None,
            "headline": state.headline() if final is not None else None,
            "reason_chain": state.reason_chain() if final is not None else list(state.abort_reasons) + list(state.triggers),
            "live_touched_at": iso(state.live_touched_at),
            "report": ctx.paths.report.name,
            "phases": self._phases(ctx),
            "checks": checks,
            "triggers": self._triggers(ctx),
            "decisions": list(self.decisions),
            "events": list(self.events),
            "changes": self._changes(ctx),
            "rollback": rollback,
            "incomplete": list(state.incomplete),
        }

    @staticmethod
    def _phases(ctx: ReleaseContext) -> list[dict[str, Any]]:
        rows = []
        for phase in ctx.commit_phases():
            section = ctx.report.sections.get(phase.value)
            rows.append({
                "phase": phase.value, "number": phase.number, "title": phase.title,
                "status": section.status if section is not None and section.started is not None else "not run",
                "started": iso(section.started) if section is not None else None,
                "finished": iso(section.finished) if section is not None else None,
            })
        return rows

    def _triggers(self, ctx: ReleaseContext) -> list[dict[str, Any]]:
        """Every cause on the reason chain with its time: a failed check's own time, else when
        the recorder first saw it (it looks after every check and every hook)."""
        state = ctx.state
        failed_at = {r.message: r.at for r in state.checks if r.message}
        entries: list[tuple[str, str]] = [("abort", r) for r in state.abort_reasons]
        entries += [("rollback-trigger", r) for r in state.triggers]
        if state.interrupted:
            entries.append(("interrupt", state.interrupted))
        entries += [("override", r) for r in state.overrides]
        rows = []
        for kind, reason in entries:
            at = failed_at.get(reason) or self.first_seen.setdefault((kind, reason), ctx.clock.now())
            rows.append({"kind": kind, "reason": reason, "at": iso(at)})
        return rows

    def _changes(self, ctx: ReleaseContext) -> dict[str, Any] | None:
        summary = getattr(ctx.choices, "change_summary", None)
        if summary is None or not hasattr(summary, "commits"):
            return None
        if self._commit_times is None or self._commit_times[0] != summary.head_sha:
            self._commit_times = (summary.head_sha, commit_times(ctx.config.root, [co.sha for co in summary.commits]))
        times = self._commit_times[1]
        return {
            "base": summary.base,
            "head": summary.head_sha,
            "shallow": summary.shallow,
            "tickets": list(summary.tickets),
            "commits": [
                {"sha": co.sha, "subject": co.subject, "kind": co.kind, "committed_at": iso(times.get(co.sha))}
                for co in summary.commits
            ],
        }
