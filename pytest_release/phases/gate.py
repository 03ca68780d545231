"""Phase 1's checks: gather the evidence, judge it with gate.py's rules, show it, stop on a block.

Each check reads what it needs (the acceptance criteria and the latest JUnit report, git, the
registry, the calendar, approvals, the tracker), turns it into findings with the pure rules of
`gate.py`, writes them into the report's phase 1 section and fails its own test when something
blocks, so every blocking issue is its own JUnit result and all of them are listed at once. The
gate decision then assembles the runbook's PRE-RELEASE GATE summary and gets its A/B/C answer.

Nothing here touches the live system."""

from __future__ import annotations

import datetime as dt
import getpass
import glob
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence
from zoneinfo import ZoneInfo

import pytest

from pytest_release.adapters.alerts import ALERTS_BEFORE
from pytest_release.adapters.acceptance import (
    AcceptanceError,
    evaluate_criteria,
    read_criteria,
)
from pytest_release.adapters.git import (
    GitError,
    commit_time,
    file_commit_time,
    tag_time,
)
from pytest_release.adapters.history import last_released, past_releases
from pytest_release.adapters.junit import JUnitError, latest_run, read_run
from pytest_release.adapters.leftovers import write_leftover
from pytest_release.adapters.registry import InvalidReference, Registry, RegistryError
from pytest_release.adapters.tracker import TrackerError, tracker_for
from pytest_release.config import TrackerSettings
from pytest_release.context import ReleaseContext, ServingUnknown
from pytest_release.core import cutoff, gate
from pytest_release.core.alerts import pre_existing_words
from pytest_release.core.gate import Finding, TicketProblem
from pytest_release.adapters.history import interrupted_release
from pytest_release.core.release import Phase
from pytest_release.core.restrictions import check_approvals, perf_required_by
from pytest_release.report.document import timestamp, write_atomically

if TYPE_CHECKING:
    from pytest_release.adapters.git import ChangeSummary
    from pytest_release.core.restrictions import ApprovalDecision

_LIST_LIMIT = 20  # commits shown per component and kind before "... and N more"


class GateRun:
    """What phase 1 found so far; one per release (`release.gate_run()`)."""

    def __init__(self, release: "ReleaseContext") -> None:
        self.release = release
        self.settings = release.env.gate
        self.root = release.config.root
        self.options = release.invocation.gate
        self.releaser, self.releaser_source = gate.releaser_identity(self.options.release_by, os.environ, _login())
        self.excluded: dict[str, str] = {key: "--release-exclude-ticket" for key in self.options.exclude_tickets}
        self.findings: dict[str, list[Finding]] = {}
        self.failed_messages: set[str] = set()
        self.statuses: dict[str, str | TicketProblem] = {}
        self._tracker_notes: list[Finding] | None = None  # set once every ticket in scope was asked
        self.approval: tuple["ApprovalDecision", str] | None = None
        self.summary_lines: list[str] = []
        self.decision: tuple[str | None, str] | None = None
        self._changes: "ChangeSummary | None" = None
        self._changes_error: str | None = None
        self._changes_read = False

    # --- helpers ------------------------------------------------------------------------------
    def path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.root / path

    def shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    @property
    def section(self) -> Any:
        return self.release.section(Phase.GATE)

    @property
    def person(self) -> bool:
        """A person at a terminal will answer the gate decision."""
        return self.release.asker.interactive() and not self.release.invocation.confirm

    def note_risk(self, check: str, title: str, text: str) -> None:
        """An open risk: shown in the report and the gate summary, blocking nothing."""
        self._conclude(check, title, text, [Finding(check, text, blocking=False)])

    def _conclude(
        self, check: str, title: str, text: str, findings: list[Finding], *, deferred: bool = False,
        details: Callable[[Any], None] | None = None,
    ) -> None:
        """Record the findings in the report; fail this check's test when one blocks.

        `details` adds the check's evidence (a table, a list) to the section after its summary line."""
        self.findings[check] = findings
        section = self.section
        section.text(f"**{title}:** {text}")
        if details is not None:
            details(section)
        if findings:
            section.table(["Finding", "Blocks the release?"], [[f.describe(), _blocks(f, deferred)] for f in findings])
        self.release.flush()
        blockers = gate.blocking(findings)
        if blockers and not deferred:
            message = f"{title.lower()}: " + "; ".join(f.message for f in blockers)
            self.failed_messages.add(self.release.redactor.redact(message))
            pytest.fail(message)

    def scope(self) -> tuple[str, ...]:
        changes = self.changes()
        return gate.in_scope(changes.tickets if changes else (), self.excluded)

    def _publish_scope(self) -> None:
        """The scope as later phases read it (phase 6 moves these tickets)."""
        choices = self.release.choices
        choices.tickets = self.scope()
        choices.excluded_tickets = dict(self.excluded)
        choices.change_summary = self._changes

    # --- 0: a previous release cut off before its verdict ----------------------------------------
    def check_previous_release(self) -> None:
        release = self.release
        past = interrupted_release(release.config.release_dir, release.env.name, exclude=release.paths.report)
        found = cutoff.cutoff_findings(past.path.name if past else None, past.version if past else None,
                                       past.last_phase if past else None)
        findings = gate.apply_override(found, release.invocation.override_reason)
        if any(f.overridden for f in findings):
            release.state.override(f"pre-release gate: the cut-off previous release overridden with --release-override-reason: {findings[0].overridden}")
        text = "every earlier release of this environment ended with a verdict." if past is None else (
            f"`{past.path.name}` has no verdict.")
        self._conclude(cutoff.CHECK, "Previous release", text, findings)

    # --- 1 and 2: acceptance criteria and the latest test report --------------------------------
    def check_acceptance(self) -> None:

        settings = self.settings
        doc = self.path(settings.acceptance_criteria)
        findings: list[Finding] = []
        criteria = []
        if not doc.is_file():
            findings.append(Finding("acceptance", f"no acceptance criteria at {self.shown(doc)}: write them (docs/acceptance-criteria.md)", overridable=True))
        else:
            try:
                criteria = read_criteria(doc)
            except AcceptanceError as exc:
                findings.append(Finding("acceptance", str(exc)))
        run = latest_run(list(settings.test_reports), self.root)
        files = list(run.files)
        report = None
        report_text = f"no functional test report matches {', '.join(settings.test_reports)}"
        if files:
            try:
                report = read_run(files)
            except JUnitError as exc:
                findings.append(Finding("acceptance", f"the latest test report cannot be read: {exc}"))
                report_text = f"`{self.shown(files[0])}` is unreadable"
            else:
                c = report.counts
                names = self.shown(files[0]) + (f" and {len(files) - 1} more file(s) of the same run" if len(files) > 1 else "")
                flaky = f", {c['flaky']} flaky (passed on a retry)" if c.get("flaky") else ""
                report_text = f"`{names}`: {c['total']} tests, {c['passed']} passed, {c['failed']} failed, {c['error']} errored, {c['skipped']} skipped or not run{flaky}"
        findings += gate.report_notes([*run.passed_over, *(report.warnings if report else ())])
        criterion_findings = evaluate_criteria(criteria, report, flaky=settings.flaky) if criteria else []
        findings += gate.acceptance_findings(criterion_findings)
        if report is not None:
            written = report.timestamp if report.timestamp and report.timestamp.tzinfo else _mtime(files[0])
            findings += gate.stale_report_finding(written, self.head_time(), self.shown(files[0]))
        findings = gate.apply_override(findings, self.release.invocation.override_reason)
        overridden = [f for f in findings if f.overridden]
        if overridden:
            self.release.state.override(
                f"pre-release gate: {len(overridden)} acceptance finding(s) overridden with --release-override-reason: {overridden[0].overridden}"
            )
        problems: dict[str, list[str]] = {}
        for cf in criterion_findings:
            problems.setdefault(cf.criterion.id, []).append(cf.problem)

        def table(section: Any) -> None:
            if criteria:
                section.table(
                    ["Criterion", "Critical", "Status", "Tests", "Evidence"],
                    [
                        [c.id, "yes" if c.critical else "no", "met" if c.met else "unmet", ", ".join(c.tests) or "-",
                         "; ".join(problems.get(c.id, [])) or "all listed tests passed"]
                        for c in criteria
                    ],
                )

        met = sum(c.met for c in criteria)
        text = f"{len(criteria)} criteria in `{self.shown(doc)}`, {met} marked met; latest test report {report_text}."
        self._conclude("acceptance", "Acceptance criteria", text, findings, details=table)

    def check_performance(self) -> None:

        settings = self.settings
        mode = settings.performance_evidence
        restrictions = self.path(settings.restrictions)
        if mode == "auto":
            said = None
            if restrictions.is_file():
                said = perf_required_by(restrictions.read_text(encoding="utf-8", errors="replace"))
            required = bool(said)
            why = f"{self.shown(restrictions)} requires it" if said else (
                f"{self.shown(restrictions)} does not require it" if restrictions.is_file() else f"no {self.shown(restrictions)}"
            )
        else:
            required = mode == "required"
            why = f"gate.performance_evidence: {mode}"
        if not required:
            self._conclude("performance", "Performance evidence", f"not required ({why}).", [])
            return
        latest = self._latest_perf_report()
        last = self._last_release_time()
        findings = gate.apply_override(gate.performance_findings(True, why, latest, last), self.release.invocation.override_reason)
        if any(f.overridden for f in findings):
            self.release.state.override(f"pre-release gate: performance evidence overridden with --release-override-reason: {findings[0].overridden}")
        text = f"required ({why}); latest {latest[0]} ({gate._utc(latest[1])})" if latest else f"required ({why}); none matches {settings.perf_reports}"
        if last:
            text += f"; last release {last[0]} ({gate._utc(last[1])})"
        self._conclude("performance", "Performance evidence", text + ".", findings)

    def _latest_perf_report(self) -> tuple[str, dt.datetime] | None:

        newest: tuple[dt.datetime, str] | None = None
        pattern = os.path.join(glob.escape(os.fspath(self.root)), self.settings.perf_reports)
        for name in sorted(glob.glob(pattern, recursive=True)):
            path = Path(name)
            if not path.is_file():
                continue
            written = file_commit_time(self.root, path) or _mtime(path)
            if newest is None or written > newest[0]:
                newest = (written, self.shown(path))
        return (newest[1], newest[0]) if newest else None

    def _last_release_time(self) -> tuple[str, dt.datetime] | None:

        candidates: list[tuple[dt.datetime, str]] = []
        changes = self.changes()
        if changes is not None and changes.base:
            try:
                when = tag_time(self.root, changes.base)
            except GitError:
                when = None
            if when:
                candidates.append((when, f"tag {changes.base}"))
        past = last_released(self.release.config.release_dir, self.release.env.name, exclude=self.release.paths.report)
        if past is not None:
            candidates.append((past.started, f"{past.version} ({past.path.name})"))
        if not candidates:
            return None
        when, what = max(candidates)
        return what, when

    # --- 3: the change summary -------------------------------------------------------------------
    def changes(self) -> "ChangeSummary | None":
        """The change summary (the context reads git once; None when git cannot say)."""
        if not self._changes_read:
            self._changes_read = True
            self._changes, self._changes_error = self.release.changes()
            if self._changes is not None:
                self.release.update_header()
            self._publish_scope()
        return self._changes

    def head_time(self) -> dt.datetime | None:

        changes = self.changes()
        if changes is None:
            return None
        try:
            return commit_time(self.root, changes.head_sha)
        except GitError:
            return None

    def check_changes(self) -> None:
        changes = self.changes()
        findings = gate.change_findings(changes, self._changes_error, self.settings.changes.required)
        if changes is None:
            self._conclude("changes", "Change summary", "not available.", findings)
            return
        since = f"`{changes.base}`" if changes.base else "the root commit (a first release)"
        scope = self.scope()
        text = (
            f"{len(changes.commits)} commit(s) from {since} to `{changes.head_sha[:12]}`: "
            f"{len(scope)} ticket(s), {len(changes.components)} component(s)."
        )
        details = (lambda section: section.text(render_changes(changes, self.excluded))) if changes.commits else None
        self._conclude("changes", "Change summary", text, findings, details=details)

    # --- 4: rollback readiness -------------------------------------------------------------------
    def check_rollback_images(self) -> None:

        settings = self.release.env.registry
        if settings is None:
            self._conclude("rollback", "Images", f"no registry configured for {self.release.env.name} (`registry:`): images not checked.", [])
            return
        target = self.release.choices.rollback_target
        try:
            registry = Registry.from_environment(
                settings.url, os.environ, settings.credentials_env, timeout=settings.timeout, verify_tls=settings.verify_tls
            )
        except RegistryError as exc:
            self._conclude("rollback", "Images", "the registry is misconfigured.", [Finding("rollback", str(exc))])
            return
        checks = []
        findings: list[Finding] = []
        roles = [("new version", self.release.invocation.version)] + ([("rollback target", target)] if target else [])
        for role, tag in roles:
            try:
                checks.append((role, registry.check(settings.repository, tag)))
            except InvalidReference as exc:
                findings.append(Finding("rollback", f"the {role} {tag} cannot be an image tag: {exc}"))
        findings += gate.image_findings(checks)
        rows = [[c.reference, role, "yes" if c.exists else f"no: {c.problem}", c.digest or ""] for role, c in checks]
        note = "" if target else " (the rollback target is unknown, so its image was not checked)"
        self._conclude(
            "rollback", "Images", f"checked in {settings.url} (repository `{settings.repository}`){note}.", findings,
            details=lambda section: section.table(["Image", "Role", "In the registry", "Digest"], rows),
        )

    def last_released_version(self) -> str:
        """The version of the last Released report for this environment (current_version.source: report)."""

        release_dir = self.release.config.release_dir
        finished = (r for r in past_releases(release_dir, self.release.env.name, exclude=self.release.paths.report) if r.verdict)
        last = next(finished, None)
        if last is not None and last.verdict == "Rollback-Failed":
            pytest.fail(
                f"no rollback target: the last release to {self.release.env.name} ({last.path.name}) ended "
                "Rollback-Failed, so what serves is unknown; check it and pass --release-rollback-to=VERSION"
            )
        released = last if last is not None and last.released else next((r for r in finished if r.released), None)
        if released is None:
            pytest.fail(
                "no rollback target: pass --release-rollback-to=VERSION or configure "
                f"environments.{self.release.env.name}.current_version.url (no Released report for "
                f"{self.release.env.name} in {release_dir} to read it from)"
            )
        return released.version

    # --- 5: restrictions -------------------------------------------------------------------------
    def check_change_window(self) -> None:
        calendar = self.settings.change_windows
        if calendar.empty:
            self._conclude("window", "Change window", "no change windows, blackouts or freezes configured.", [])
            return
        now = self.release.clock.now()
        decision = calendar.decide(now)
        local = now.astimezone(_zone(calendar.timezone)).strftime("%a %Y-%m-%d %H:%M %Z")
        text = f"{'open' if decision.open else 'closed'} at {local} ({calendar.timezone})."
        self._conclude("window", "Change window", text, gate.window_findings(decision, calendar.timezone))

    def check_approvals(self) -> None:

        policy = self.settings.approvals
        given, by = list(self.options.approved_by), "--release-approved-by"
        if policy.required == 0 and not given:
            self._conclude("approvals", "Approvals", f"none required for {self.release.env.name}.", [])
            return
        if not given and self.release.asker.interactive():
            typed = self.release.asker.text(
                f"{policy.required} approval(s) required for {self.release.invocation.version} to {self.release.env.name}"
                + (f" (four-eyes: not {self.releaser})" if policy.four_eyes else "")
                + ". Approved by (names, comma-separated):"
            )
            by = f"typed at the terminal by {self.releaser}"
            for name in (typed or "").split(","):
                name = name.strip()
                if name:
                    try:
                        given.append(gate.check_name(name, "approver"))
                    except ValueError as exc:
                        self.section.text(f"Ignored: {exc}")
        decision = check_approvals(policy, self.releaser, given)
        hint = "" if given else ": pass --release-approved-by=NAME[,NAME]"
        self.approval = (decision, by)
        rule = f"{policy.required} required" + (", four-eyes" if policy.four_eyes else "") + (f", approvers: {', '.join(policy.approvers)}" if policy.approvers else "")
        counted = ", ".join(decision.approved_by) or "nobody"
        text = f"{rule}; approved by {counted} ({by}); released by {self.releaser} ({self.releaser_source})."
        self._conclude("approvals", "Approvals", text, gate.approval_findings(decision, hint))

    def write_approval_file(self, decision_by: str) -> Path | None:
        """manual_approvals/approval_<version>_<env>.md, before anything is deployed; a later
        attempt appends its own record, so the file is the history of approvals for that pair."""

        if self.approval is None or not self.approval[0].approved_by:
            return None
        decision, by = self.approval
        release = self.release
        version, env = release.invocation.version, release.env.name
        path = release.config.release_dir / "manual_approvals" / f"approval_{version}_{env}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        policy = self.settings.approvals
        sha = release.choices.git_sha
        scope = self.scope()
        record = "\n".join(
            [
                f"## Approval recorded {timestamp(release.clock.now())}",
                "",
                "| | |",
                "|---|---|",
                f"| Version | {version}{f' ({sha[:12]})' if sha else ''} |",
                f"| Environment | {env} ({release.env.kind}) |",
                f"| Released by | {self.releaser} ({self.releaser_source}) |",
                f"| Approved by | {', '.join(decision.approved_by)} |",
                f"| Approvals required | {policy.required}{' (four-eyes)' if policy.four_eyes else ''} |",
                f"| Given through | {by} |",
                f"| Gate decision | A) proceed, by {decision_by} |",
                f"| Scope | {len(scope)} ticket(s){': ' + ', '.join(scope) if scope else ''} |",
                f"| Release report | `{release.paths.report.name}` |",
                "",
            ]
        )
        previous = path.read_text(encoding="utf-8") if path.exists() else f"# Approval of {version} to {env}\n\n"
        write_atomically(path, release.redactor.redact(previous.rstrip("\n") + "\n\n" + record))
        return path

    # --- 6: the tracker --------------------------------------------------------------------------
    def check_tracker(self) -> None:

        changes = self.changes()
        scope = self.scope()
        stray = [k for k in self.excluded if not changes or k not in changes.tickets]
        notes = [Finding("tracker", f"--release-exclude-ticket={k}: not in the change summary's tickets", blocking=False) for k in stray]
        try:
            tracker = tracker_for(self.release)
        except TrackerError as exc:
            self._tracker_stops(exc, scope)
            return
        if tracker is None:
            if scope:
                notes.append(Finding("tracker", f"no tracker configured: the status of {', '.join(scope)} was not checked", blocking=False))
            self._conclude("tracker", "Tracker", f"none configured (`tracker:` or `_docs/tracker.yaml`); {len(scope)} ticket(s) in scope.", notes)
            return
        for key in scope:
            try:
                self.statuses[key] = tracker.status(key)
            except TrackerError as exc:
                if exc.stops_release:
                    self._tracker_stops(exc, scope)
                    return
                self.statuses[key] = TicketProblem(exc.kind, str(exc))
        blocking_statuses = self._blocking_statuses()
        self._tracker_notes = notes
        findings = gate.tracker_findings(self.statuses, scope, blocking_statuses) + notes
        blockers = gate.blocking(findings)
        deferred = bool(blockers) and all(f.ticket for f in blockers) and self.person
        rows = [
            [k, self.statuses[k].kind if isinstance(self.statuses[k], TicketProblem) else self.statuses[k],
             "yes" if any(f.ticket == k and f.blocking for f in findings) else "no"]
            for k in scope
        ]
        name = getattr(tracker, "name", type(tracker).__name__)
        text = f"{len(scope)} ticket(s) in scope checked in {name}; {', '.join(blocking_statuses)} block."
        if deferred:
            text += " A person at the terminal decides at the gate: exclude the blocking tickets (C) or abort (B)."
        details = (lambda section: section.table(["Ticket", "Status", "Blocks?"], rows)) if rows else None
        self._conclude("tracker", "Tracker", text, findings, deferred=deferred, details=details)

    def _blocking_statuses(self) -> tuple[str, ...]:

        settings = getattr(self.release.config, "tracker", None)
        return tuple(getattr(settings, "blocking_statuses", None) or TrackerSettings.blocking_statuses)

    def _tracker_stops(self, exc: Exception, scope: Sequence[str]) -> None:
        """Unauthorized or unreachable: nothing the tracker says can be trusted; stop, leave a note."""

        release = self.release
        text = "\n".join(
            [
                f"The pre-release gate of {release.invocation.version} to {release.env.name} could not check the tickets in scope "
                f"({', '.join(scope) or 'none found yet'}):",
                "",
                f"> {exc}",
                "",
                "What to do:",
                "",
                "1. Fix the tracker access named above (credentials in the environment, the URL, the network).",
                "2. Re-run the release; nothing was deployed and no ticket was moved.",
                f"3. The release report: `{release.paths.report}`.",
            ]
        )
        try:
            leftover = write_leftover(
                release.config.root, f"tracker {release.invocation.version} {release.env.name}", text,
                now=release.clock.now(), redact=release.redactor.redact,
            )
            where = f"; leftover: {self.shown(leftover)}"
        except OSError as exc2:
            where = f"; the leftover could not be written: {exc2}"
        self._conclude("tracker", "Tracker", "could not be asked.", [Finding("tracker", f"{exc}{where}")])

    # --- 7: the gate decision --------------------------------------------------------------------
    def summary(self) -> gate.GateSummary:
        release = self.release
        scope = self.scope()
        if self._tracker_notes is not None:  # the scope may have changed (C): judge the tickets again
            self.findings["tracker"] = gate.tracker_findings(self.statuses, scope, self._blocking_statuses()) + self._tracker_notes
        mine = [f for findings in self.findings.values() for f in findings]
        others = [r for r in release.state.abort_reasons if r not in self.failed_messages]
        blocking = tuple(others) + tuple(f.message for f in mine if f.blocking)
        risks = tuple(f.describe() for f in mine if not f.blocking)
        resolvable = tuple(sorted({f.ticket for f in mine if f.blocking and f.ticket}))
        return gate.GateSummary(
            env=release.env.name, kind=release.env.kind, version=release.invocation.version,
            git_sha=release.choices.git_sha, rollback_target=release.choices.rollback_target,
            changes=self._changes, scope=scope, excluded=dict(self.excluded), risks=risks, blocking=blocking,
            # only when nothing else blocks and no check failed: excluding tickets must be enough
            resolvable=resolvable if not release.state.abort_reasons and all(f.ticket for f in mine if f.blocking) else (),
            choices=gate.menu(bool(blocking), bool(scope)),
        )

    def decide(self) -> str:
        """Present the summary and get A (proceed), B (abort) or C (edit the scope, again)."""
        release = self.release
        section = self.section
        section.code(lambda: self.summary_lines, title="Gate summary")
        while True:
            summary = self.summary()
            self.summary_lines = summary.lines()
            release.say("\n".join(self.summary_lines))
            release.flush()
            answer = gate.automatic_answer(
                has_blocking=bool(summary.blocking or release.state.abort_reasons), resolvable=bool(summary.resolvable),
                confirm=release.invocation.confirm, auto_proceed=release.env.auto_proceed,
                env=release.env.name, person=release.asker.interactive(),
            )
            if answer is None:
                letter = release.asker.choose("Pre-release gate:", summary.choices)
                if letter is None:
                    self._record_decision(None, "nobody could be asked")
                    pytest.fail(gate.no_answer_message(release.env.name))
                if letter == "C":
                    self._edit_scope(summary)
                    continue
                answer = gate.GateAnswer(letter, f"{self.releaser} at the terminal")
            self._record_decision(answer.letter, answer.by)
            if answer.letter == "A":
                path = self.write_approval_file(answer.by)
                if path is not None:
                    section.text(f"**Approval recorded:** `{self.shown(path)}`.")
                    release.flush()
                return "A"
            if release.state.abort_reasons:
                pytest.skip(f"the gate blocks: {len(summary.blocking)} blocking issue(s), listed in the gate summary")
            if summary.blocking:
                pytest.fail(f"aborted at the pre-release gate by {answer.by}: " + "; ".join(summary.blocking))
            pytest.fail(f"aborted at the pre-release gate by {answer.by}")

    def _edit_scope(self, summary: gate.GateSummary) -> None:
        release = self.release
        key = release.asker.text(f"Ticket to exclude from the release scope ({', '.join(summary.scope)}):")
        if key is None:
            self._record_decision(None, "nobody answered")
            pytest.fail(gate.no_answer_message(release.env.name))
        key = key.strip()
        if key not in summary.scope:
            release.say(f"{key!r} is not in the release scope ({', '.join(summary.scope)})")
            return
        self.excluded[key] = f"{self.releaser} at the terminal"
        self._publish_scope()
        self.section.text(f"**Scope edited (C):** {key} excluded by {self.releaser} at the terminal; the gate was assembled again.")
        release.flush()

    def _record_decision(self, letter: str | None, by: str) -> None:
        if letter is None:
            text = f"**Decision:** none ({by}): Aborted."
        else:
            text = f"**Decision:** {letter}) {gate.GATE_CHOICES[letter]} (by {by})."
        self.section.text(text)
        self.decision = (letter, by)
        self.release.flush()
        self.release.pytest_config.hook.pytest_release_decision(release=self.release, phase=Phase.GATE, decision=text.replace("**", ""), by=by)


def render_changes(changes: "ChangeSummary", excluded: dict[str, str]) -> str:
    """The change summary as nested Markdown: component, then kind, then commits."""
    lines = ["**Changes by component and kind**", ""]
    for component, kinds in changes.by_component.items():
        reports = changes.component_reports.get(component)
        lines.append(f"- **{component}**" + (f" (implementation reports: {', '.join(reports)})" if reports else ""))
        for kind, commits in kinds.items():
            title = gate.KIND_TITLES[kind]
            lines.append(f"  - {title}{'es' if title.endswith('fix') else 's'} ({len(commits)})")
            for commit in commits[:_LIST_LIMIT]:
                tickets = []
                for t in commit.tickets:
                    reports = changes.reports.get(t)
                    mark = " (excluded)" if t in excluded else ""
                    tickets.append(f"{t}{mark}" + (f" [{', '.join(reports)}]" if reports else ""))
                suffix = f" — {', '.join(tickets)}" if tickets else ""
                lines.append(f"    - `{commit.sha[:8]}` {commit.subject}{suffix}")
            if len(commits) > _LIST_LIMIT:
                lines.append(f"    - ... and {len(commits) - _LIST_LIMIT} more")
    if changes.tickets_without_report:
        lines += ["", "Tickets without an implementation report: " + ", ".join(changes.tickets_without_report)]
    return "\n".join(lines)


def _blocks(finding: Finding, deferred: bool) -> str:
    if finding.overridden:
        return f"overridden: {finding.overridden}"
    if not finding.blocking:
        return "no (open risk)"
    return "yes, unless excluded at the gate" if deferred and finding.ticket else "yes"


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def _zone(name: str) -> Any:

    return ZoneInfo(name)


def _login() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return None


GATE_RUN = pytest.StashKey[GateRun]()


def discover_current_version(ctx: ReleaseContext, url: str | None = None) -> str:
    """The version serving now: asked of `url` (default `current_version.url`), or with
    `current_version.source: report`, read from the last Released report for this environment."""
    if url is None:
        if ctx.env.current_version_source == "report":
            return gate_run(ctx).last_released_version()
        url = ctx.env.current_version_url
    try:
        return ctx.serving_version(url)
    except ServingUnknown as exc:
        pytest.fail(f"no rollback target: {exc}")


def decide(ctx: ReleaseContext) -> None:
    """The runbook's A/B/C on the assembled gate summary: proceed, abort, or edit the scope."""
    gate_run(ctx).decide()


def gate_run(ctx: ReleaseContext) -> GateRun:
    """What phase 1 found and decided, made on first use.

    Later phases read the scope from it: `gate_run().scope()` (tickets after exclusions) and
    `gate_run().changes()` (the change summary, None without git); both are also on
    `choices.tickets` and `choices.change_summary`."""
    run = ctx.stash.get(GATE_RUN, None)
    if run is None:
        run = ctx.stash[GATE_RUN] = GateRun(ctx)
    return run


def note_rollback_target_not_serving(ctx: ReleaseContext) -> None:
    """An explicit --release-rollback-to that differs from what serves now is an open risk: the
    rollback would not restore the state before the release."""
    target = ctx.invocation.rollback_to
    if target is None or not ctx.env.current_version_url:
        return
    try:
        serving = ctx.serving_version()
    except ServingUnknown as exc:
        text = f"--release-rollback-to={target}, and the version serving now could not be read: {exc}"
    else:
        if serving == target:
            return
        text = f"--release-rollback-to={target}, but {serving} serves {ctx.env.name} now: a rollback would not restore it"
    gate_run(ctx).note_risk("rollback-target", "Rollback target", text)


PROBE_BYTES = 64 * 1024  # a write the size of a large report, flushed to the disk


def check_release_dir(ctx: ReleaseContext) -> None:
    """Before anything is touched: the release dir takes a real write (fsynced) and has room
    for the reports (core.gate.MIN_RELEASE_DIR_FREE), so a full disk aborts here rather than
    rolling back a deploy whose record could not be kept."""
    release_dir = ctx.config.release_dir
    problem = free = None
    try:
        fd, probe = tempfile.mkstemp(dir=release_dir, prefix=".write-probe-")
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
        stats = os.statvfs(release_dir)
        free = stats.f_bavail * stats.f_frsize
    except OSError as exc:
        problem = exc.strerror or str(exc)
    finding = gate.release_dir_finding(str(release_dir), free, problem)
    text = finding.message if finding else f"`{release_dir}` takes a write and has {free // (1024 * 1024) if free else 0} MiB free."
    gate_run(ctx)._conclude("release-dir", "Release dir", text, [finding] if finding else [])


def read_alerts_before(ctx: ReleaseContext) -> None:
    """watch.alerts: the alerts firing before the change, reported and stashed as the watch's
    pre-change set (they count only if they get worse). Unknown is a blocking finding: without
    it, an alert that was already firing could not be told from one the release raised."""
    source = ctx.alerts()
    if source is None:
        return
    seen = source.read()
    if seen.error:
        pytest.fail(f"alerts unknown before the release: {seen.error} (the alerts firing before the change must be known to judge the release by its alerts)")
    ctx.stash[ALERTS_BEFORE] = seen
    policy = ctx.policy().alerts
    assert policy is not None
    words = pre_existing_words(policy, seen.firing)
    ctx.say(f"alerts: {words}")
    ctx.section_note("Alerts", f"{source.describe()} answers for {policy.selector}; {words}.")
