"""The pre-release gate's rules: evidence in, findings out, and the A/B/C decision.

Pure: every input (parsed criteria, test results, the change summary, registry answers, the
calendar's decision, approvals, ticket statuses, times) is handed in by phase 1
(`gate_checks.py`), which does the reading. Each rule returns `Finding`s: a blocking finding
stops the release; a non-blocking one is an open risk shown in the gate summary. Findings about
test evidence (acceptance criteria, the test report, performance evidence) are the only ones a
person may override, and only with a recorded reason."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from pytest_release.adapters.acceptance import CriterionFinding
    from pytest_release.adapters.git import ChangeSummary
    from pytest_release.adapters.registry import ImageCheck
    from pytest_release.core.restrictions import ApprovalDecision, CalendarDecision

KIND_TITLES = {"breaking": "breaking change", "security": "security fix", "feature": "feature", "fix": "fix", "other": "other change"}
_NAME = re.compile(r"[\w][\w.@+' -]{0,98}[\w]|[\w]")
_TICKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.#/-]{0,63}")


@dataclass(frozen=True)
class Finding:
    """One thing the gate found. `ticket` is set when excluding that ticket from the scope
    resolves it; `overridden` holds the reason when a person overrode it."""

    check: str
    message: str
    blocking: bool = True
    overridable: bool = False
    ticket: str | None = None
    overridden: str | None = None

    def describe(self) -> str:
        if self.overridden:
            return f"{self.message} (overridden: {self.overridden})"
        return self.message


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


def apply_override(findings: Sequence[Finding], reason: str | None) -> list[Finding]:
    """With a reason, overridable blocking findings stop blocking and carry the reason."""
    if not reason:
        return list(findings)
    return [
        replace(f, blocking=False, overridden=reason) if f.blocking and f.overridable else f
        for f in findings
    ]


# --- options ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateOptions:
    """The gate's command-line answers, validated before anything runs."""

    approved_by: tuple[str, ...] = ()
    exclude_tickets: tuple[str, ...] = ()
    release_by: str | None = None

    @classmethod
    def from_values(
        cls, approved_by: Sequence[str] | None, exclude_tickets: Sequence[str] | None, release_by: str | None
    ) -> "GateOptions":
        names: list[str] = []
        for value in approved_by or ():
            parts = [p.strip() for p in value.split(",")]
            for part in parts:
                names.append(check_name(part, "--release-approved-by"))
        keys = [check_ticket(k.strip(), "--release-exclude-ticket") for value in exclude_tickets or () for k in value.split(",")]
        return cls(tuple(names), tuple(dict.fromkeys(keys)), check_name(release_by.strip(), "--release-by") if release_by is not None else None)


def check_name(value: str, option: str) -> str:
    if not _NAME.fullmatch(value or ""):
        raise ValueError(
            f"{option}={value[:60]!r} is not a name: use letters, digits, spaces, '.', '_', '-', '@', '+' or "
            "an apostrophe (up to 100 characters), comma-separated for several"
        )
    return value


def check_ticket(value: str, option: str) -> str:
    if not _TICKET.fullmatch(value or ""):
        raise ValueError(f"{option}={value[:60]!r} is not a ticket key (like PROJ-123)")
    return value


def releaser_identity(explicit: str | None, environ: Mapping[str, str], login: str | None) -> tuple[str, str]:
    """Who runs this release, and how that was found: the four-eyes rule compares against it."""
    if explicit:
        return explicit, "--release-by"
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR", "USER", "USERNAME"):
        value = (environ.get(variable) or "").strip()
        if value:
            return value, f"${variable}"
    return (login or "unknown"), "the login name"


# --- 1 and 2: acceptance criteria, test reports, performance evidence ------------------------
# gate.flaky: what a test that passed only on a retry is worth. "risk": it counts as passed and
# is an open risk (a retry is how CI copes with a known flake, and the pass is real);
# "block": it blocks like a failure.
FLAKY_POLICIES = ("risk", "block")


def acceptance_findings(criteria_findings: Sequence["CriterionFinding"]) -> list[Finding]:
    return [
        Finding("acceptance", f"{cf.criterion.id}: {cf.problem}", blocking=cf.blocking, overridable=True)
        for cf in criteria_findings
    ]


def report_notes(notes: Sequence[str]) -> list[Finding]:
    """Files passed over and cases left out while reading the run: shown, never blocking (a
    missing test still blocks its criterion as "not found")."""
    return [Finding("acceptance", note, blocking=False) for note in notes]


def stale_report_finding(report_time: dt.datetime | None, head_time: dt.datetime | None, report: str) -> list[Finding]:
    """A test report older than the commit being released proves an earlier version."""
    if report_time is None or head_time is None or report_time >= head_time:
        return []
    return [
        Finding(
            "acceptance",
            f"the test report {report} ({_utc(report_time)}) is older than the HEAD commit ({_utc(head_time)}): "
            "it may not cover the version being released",
            blocking=False,
        )
    ]


def performance_findings(
    required: bool,
    why: str,
    latest: tuple[str, dt.datetime] | None,
    last_release: tuple[str, dt.datetime] | None,
) -> list[Finding]:
    """Required performance evidence must exist and be newer than the last release."""
    if not required:
        return []
    if latest is None:
        return [Finding("performance", f"performance evidence is required ({why}) but no report exists", overridable=True)]
    name, written = latest
    if last_release is not None and written <= last_release[1]:
        return [
            Finding(
                "performance",
                f"the latest performance report {name} ({_utc(written)}) is not newer than the last release "
                f"{last_release[0]} ({_utc(last_release[1])}): measure this version",
                overridable=True,
            )
        ]
    return []


# --- 3: the change summary -------------------------------------------------------------------
def change_findings(summary: "ChangeSummary | None", error: str | None, required: bool) -> list[Finding]:
    if summary is None:
        why = error or "no change summary"
        if required:
            return [Finding("changes", f"no change summary: {why} (set gate.changes.required: false to release without one)")]
        return [Finding("changes", f"no change summary: {why}", blocking=False)]
    findings = []
    if summary.shallow:
        findings.append(
            Finding(
                "changes",
                "the clone is shallow: the last release tag or older commits may be missing, so the change range "
                "may be wrong (fetch the full history, e.g. actions/checkout with fetch-depth: 0)",
                blocking=False,
            )
        )
    if not summary.commits:
        since = summary.base or "the root commit"
        findings.append(Finding("changes", f"no commit since {since}: this release changes nothing in the code", blocking=False))
    if summary.tickets_without_report:
        findings.append(
            Finding(
                "changes",
                "no implementation report mentions " + ", ".join(summary.tickets_without_report),
                blocking=False,
            )
        )
    return findings


def in_scope(tickets: Sequence[str], excluded: Iterable[str]) -> tuple[str, ...]:
    gone = set(excluded)
    return tuple(t for t in tickets if t not in gone)


# --- 4: rollback readiness -------------------------------------------------------------------
def image_findings(checks: Sequence[tuple[str, "ImageCheck"]]) -> list[Finding]:
    """`checks` pairs a role ("new version", "rollback target") with the registry's answer."""
    findings = []
    for role, check in checks:
        if check.exists:
            continue
        problem = check.problem or "not found"
        if problem == "not found":
            advice = "push it before releasing" if role == "new version" else "no rollback path: push it again or choose another --release-rollback-to"
            findings.append(Finding("rollback", f"the {role} image {check.reference} is not in the registry: {advice}"))
        else:
            findings.append(Finding("rollback", f"the {role} image {check.reference} could not be checked: {problem}"))
    return findings


# --- 5: restrictions -------------------------------------------------------------------------
def window_findings(decision: "CalendarDecision", timezone: str) -> list[Finding]:
    if decision.open:
        return []
    return [
        Finding(
            "window",
            f"{'; '.join(decision.reasons)}: releases are closed now; next opening {decision.next_opening_text(timezone)}",
        )
    ]


def approval_findings(decision: "ApprovalDecision", hint: str) -> list[Finding]:
    if decision.ok:
        return []
    return [Finding("approvals", f"{problem}{hint if i == 0 else ''}") for i, problem in enumerate(decision.problems)]


# --- 6: the tracker --------------------------------------------------------------------------
@dataclass(frozen=True)
class TicketProblem:
    """A tracker answer that is not a status: kind as in tracker.TrackerError.KINDS."""

    kind: str
    message: str


def tracker_findings(
    statuses: Mapping[str, str | TicketProblem],
    scope: Sequence[str],
    blocking_statuses: Sequence[str],
) -> list[Finding]:
    """Tickets still being worked on block (move-and-deploy is not allowed); so does a ticket
    the tracker does not know. Either is resolved by excluding the ticket from the scope."""
    blockers = {s.casefold() for s in blocking_statuses}
    findings = []
    for key in scope:
        status = statuses.get(key)
        if isinstance(status, TicketProblem):
            if status.kind == "unknown":
                findings.append(Finding("tracker", status.message, ticket=key))
            else:
                findings.append(Finding("tracker", status.message))
        elif status is not None and status.casefold() in blockers:
            findings.append(
                Finding(
                    "tracker",
                    f"{key} is {status}: finish it first (move-and-deploy is not allowed), or exclude it from the scope",
                    ticket=key,
                )
            )
    return findings


# --- 7: the gate summary and the decision -----------------------------------------------------
@dataclass(frozen=True)
class GateSummary:
    """What the person deciding sees: the runbook's PRE-RELEASE GATE box."""

    env: str
    kind: str
    version: str
    git_sha: str | None
    rollback_target: str | None
    changes: "ChangeSummary | None"
    scope: tuple[str, ...]
    excluded: Mapping[str, str]  # ticket -> who excluded it
    risks: tuple[str, ...]
    blocking: tuple[str, ...]
    resolvable: tuple[str, ...] = ()  # tickets whose exclusion would resolve a blocking finding
    choices: Mapping[str, str] = field(default_factory=dict)

    def component_lines(self) -> list[str]:
        if self.changes is None:
            return []
        scope = set(self.scope)
        lines = []
        for component, kinds in self.changes.by_component.items():
            counts = ", ".join(_count(len(commits), KIND_TITLES[kind]) for kind, commits in kinds.items())
            tickets = sorted({t for commits in kinds.values() for c in commits for t in c.tickets if t in scope})
            lines.append(f"- {component}: {counts}" + (f" ({', '.join(tickets)})" if tickets else ""))
        return lines

    def lines(self) -> list[str]:
        rule = "═" * 62
        components = len(self.changes.components) if self.changes else 0
        if self.changes is None:
            changes = "unknown (no change summary)"
        else:
            since = self.changes.base or "the root commit (first release)"
            changes = f"{_count(len(self.scope), 'ticket')}, {_count(components, 'component')} ({_count(len(self.changes.commits), 'commit')} since {since})"
        out = [
            rule,
            "PRE-RELEASE GATE",
            rule,
            f"Target env:      {self.env} ({self.kind})",
            f"Target version:  {self.version}" + (f" ({self.git_sha[:12]})" if self.git_sha else " (no git sha)"),
            f"Rollback target: {self.rollback_target or 'unknown'}",
            f"Changes:         {changes}",
            *(f"  {line}" for line in self.component_lines()),
        ]
        if self.scope:
            out.append(f"  tickets: {', '.join(self.scope)}")
        for key, by in self.excluded.items():
            out.append(f"  excluded: {key} (by {by})")
        out += _listing("Open risks:     ", self.risks) + _listing("Blocking issues:", self.blocking)
        out.append(rule)
        out += [f"{letter}) {text}" for letter, text in self.choices.items()]
        out.append(rule)
        return out


GATE_CHOICES = {
    "A": "Proceed to Strategy Select",
    "B": "Abort: fix the blocking issue and re-invoke",
    "C": "Edit release scope: exclude a ticket and reassemble",
}


def menu(has_blocking: bool, has_tickets: bool) -> dict[str, str]:
    """The answers that make sense now: no A while something blocks, no C without tickets."""
    return {k: v for k, v in GATE_CHOICES.items() if not (k == "A" and has_blocking) and not (k == "C" and not has_tickets)}


@dataclass(frozen=True)
class GateAnswer:
    letter: str  # "A" proceed | "B" abort
    by: str


def automatic_answer(*, has_blocking: bool, resolvable: bool, confirm: bool, auto_proceed: bool, env: str, person: bool) -> GateAnswer | None:
    """The answer that needs no person, or None when a person must be asked.

    Something blocks: abort, unless a person is there and excluding tickets could resolve it.
    Nothing blocks: `--release-confirm` or the environment's `auto_proceed` proceed."""
    if has_blocking:
        if person and resolvable and not confirm:
            return None
        return GateAnswer("B", "the gate, because something blocks")
    if confirm:
        return GateAnswer("A", "--release-confirm")
    if auto_proceed:
        return GateAnswer("A", f"environments.{env}.auto_proceed (nothing blocks)")
    return None


def no_answer_message(env: str) -> str:
    return (
        "the pre-release gate needs an answer and nobody can be asked here: pass --release-confirm to proceed (A), "
        "fix what blocks and re-invoke (B), or pass --release-exclude-ticket=KEY to edit the scope (C); "
        f"environments.{env}.auto_proceed: true lets a gate with nothing blocking proceed on its own"
    )


# --- helpers ---------------------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else ("es" if noun.endswith("x") else "s"))


def _listing(title: str, items: Sequence[str]) -> list[str]:
    if not items:
        return [f"{title} none"]
    return [f"{title} {len(items)}", *(f"  - {item}" for item in items)]


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


#: What a release dir must have free before anything is touched: the report, its rollback report,
#: the charts and a few megabytes of deploy output beside them. Less, and a report write could
#: fail mid-deploy: the release would then roll back, so it is better not to start.
MIN_RELEASE_DIR_FREE = 16 * 1024 * 1024


def release_dir_finding(release_dir: str, free: int | None, problem: str | None, needed: int = MIN_RELEASE_DIR_FREE) -> Finding | None:
    """The release dir must take a write and have `needed` bytes free (None: it does)."""
    if problem is not None:
        return Finding("release-dir", f"the release dir {release_dir} cannot be written: {problem}")
    if free is not None and free < needed:
        return Finding(
            "release-dir",
            f"the release dir {release_dir} has {free // 1024} KiB free, less than the {needed // (1024 * 1024)} MiB a "
            "release needs for its reports and the deploy output: free some space first",
        )
    return None
