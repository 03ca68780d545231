"""Phase 6's records outside the live system: tracker tickets, the release tag, retrospectives.

What the verdict demands is decided by pure functions (`plan_for`, `decide_tag`); `settle` carries
it out once per session. A step that fails is never skipped quietly: it is listed in the report,
added to the release's `incomplete` reasons, and a leftover entry says what a person must do.
The verdict itself does not change: what is serving is what the release verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from pytest_release.adapters.git import GitError, _git, create_tag
from pytest_release.adapters.leftovers import write_leftover
from pytest_release.adapters.tracker import tracker_for
from pytest_release.config import TagSettings
from pytest_release.core.release import Phase, Verdict
from pytest_release.core.tags import tag_name
from pytest_release.phases.commit.retrospective import write_retrospective
from pytest_release.report.document import timestamp

if TYPE_CHECKING:
    from pytest_release.config import TagSettings
    from pytest_release.context import ReleaseContext

DEFAULT_RELEASED_STATUS = "Released"
DEFAULT_READY_STATUS = "Ready for Release"


# --- what the verdict demands (pure) ------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    ticket_status: str | None  # where the tickets in scope must go; None: they stay where they are
    tag: bool
    retrospectives: tuple[str, ...]  # "cycle", "incident"
    why_no_tickets: str = ""


def plan_for(verdict: Verdict, *, standalone: bool, released_status: str, ready_status: str) -> Plan:
    """The runbook's phase 6, path by path."""
    if standalone:
        return Plan(None, False, (), "a standalone rollback has no release scope")
    if verdict is Verdict.RELEASED:
        return Plan(released_status, True, ("cycle",))
    if verdict is Verdict.RELEASED_WITH_OVERRIDE:
        return Plan(released_status, True, ("cycle", "incident"))
    if verdict is Verdict.ROLLED_BACK:
        return Plan(ready_status, False, ("incident",))
    if verdict is Verdict.ROLLBACK_FAILED:
        return Plan(None, False, ("incident",), "the system is in an unknown state: a person decides where the tickets go")
    return Plan(None, False, (), "an aborted release moves no ticket")


@dataclass(frozen=True)
class TagDecision:
    make: bool
    name: str | None
    reason: str  # why not, or what


def decide_tag(settings: "TagSettings", *, version: str, env: str, root: Path, toplevel: Path | None, toplevel_error: str = "") -> TagDecision:
    """Whether to tag, and the tag's name. `toplevel` is the git work tree holding `root`.

    `enabled: auto` (the default) tags only when the project root is the top level of its git
    work tree: a project inside someone else's repository (the demo inside the plugin's source
    tree, a monorepo's service directory) is never tagged by accident."""
    name = tag_name(settings.pattern, version, env)
    if settings.enabled == "false":
        return TagDecision(False, name, "tagging is off (tag.enabled: false)")
    if settings.environments and env not in settings.environments:
        return TagDecision(False, name, f"environment {env} does not tag (tag.environments: {', '.join(settings.environments)})")
    if settings.enabled == "auto":
        if toplevel is None:
            return TagDecision(False, name, f"the project root {root} is not in a git work tree{f' ({toplevel_error})' if toplevel_error else ''}")
        if toplevel.resolve() != root.resolve():
            return TagDecision(
                False, name,
                f"the project root {root} is not the top level of its git work tree {toplevel} "
                "(tag.enabled: auto tags only a project's own repository; set tag.enabled: true to tag anyway)",
            )
    return TagDecision(True, name, f"tag {name}")


# --- what happened ------------------------------------------------------------------------------
@dataclass
class TicketMove:
    key: str
    target: str
    ok: bool
    detail: str


@dataclass
class Bookkeeping:
    verdict: Verdict
    ticket_target: str | None = None
    tracker_configured: bool = False
    tickets: list[TicketMove] = field(default_factory=list)
    ticket_note: str = ""
    tag_demanded: bool = False
    tag_created: str | None = None
    tag_ok: bool = True
    tag_note: str = "no tag: the verdict does not call for one"
    retrospectives_demanded: list[str] = field(default_factory=list)
    retrospectives_written: list[str] = field(default_factory=list)
    retrospective_paths: dict[str, Path] = field(default_factory=dict)
    leftovers: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    plan: Plan = field(default_factory=lambda: Plan(None, False, ()))

    @property
    def complete(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report's account of phase 6's bookkeeping, one line per step."""
        out = []
        if self.ticket_target is None:
            out.append(f"Tracker: no ticket moved ({self.ticket_note or 'none demanded'}).")
        elif not self.tracker_configured:
            out.append(f"Tracker: none configured (`tracker:` in release.yaml); no ticket moved to {self.ticket_target}.")
        elif not self.tickets:
            out.append(f"Tracker: no ticket in scope ({self.ticket_note}).")
        else:
            for move in self.tickets:
                out.append(f"Tracker: {move.key} -> {move.target}: {'ok' if move.ok else 'FAILED'} ({move.detail})")
        out.append(f"Git tag: {self.tag_note}")
        for kind in self.retrospectives_demanded:
            if kind in self.retrospectives_written:
                path = self.retrospective_paths.get(kind)
                out.append(f"Retrospective ({kind}): recorded" + (f" in `{path.name}`" if path else ""))
            else:
                out.append(f"Retrospective ({kind}): NOT recorded")
        for path in self.leftovers:
            out.append(f"Leftover written: `{path}`")
        return out


def summary_rows(ctx: "ReleaseContext", phases: Sequence[Phase] = tuple(Phase)) -> list[dict[str, str]]:
    """The verdict's summary table: one row per phase (also the tag message's body)."""

    rows = []
    for phase in phases:
        section = ctx.report.sections.get(phase.value)
        checks = [c for c in ctx.state.checks if c.phase is phase]
        rows.append(
            {
                "phase": f"{phase.number}. {phase.title}",
                "status": section.status if section else "not run",
                "started": timestamp(section.started) if section and section.started else "",
                "finished": timestamp(section.finished) if section and section.finished else "",
                "checks": f"{sum(c.outcome.value == 'passed' for c in checks)}/{len(checks)} passed" if checks else "",
            }
        )
    return rows


def tag_message(ctx: "ReleaseContext", verdict: Verdict) -> str:
    """The annotated tag's message: the verdict summary, readable with `git show TAG`."""

    rows = summary_rows(ctx)
    width = max(len(r["phase"]) for r in rows)
    lines = [
        f"{verdict.value}: {ctx.invocation.version} to {ctx.env.name} ({ctx.env.kind})",
        "",
        f"Verdict:         {verdict.value}",
        f"Environment:     {ctx.env.name}",
        f"Version:         {ctx.invocation.version}",
        f"Rollback target: {ctx.choices.rollback_target or 'unknown'}",
        f"Strategy:        {ctx.choices.strategy}",
        f"Started:         {timestamp(ctx.started_at)}",
        f"Committed:       {timestamp(ctx.clock.now())}",
        f"Report:          {_relative(ctx.paths.report, ctx.config.root)}",
        "",
        f"{'Phase'.ljust(width)}  {'Status'.ljust(9)}  Checks",
    ]
    for row in rows:  # phase 6 is still running while it tags: what it does is commit
        status = "committed" if row["phase"].startswith(f"{Phase.COMMIT.number}.") and row["status"] == "running" else row["status"]
        lines.append(f"{row['phase'].ljust(width)}  {status.ljust(9)}  {row['checks']}".rstrip())
    if ctx.state.overrides:
        lines += ["", *(f"Override: {o}" for o in ctx.state.overrides)]
    return ctx.redactor.redact("\n".join(lines) + "\n")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# --- carrying it out ----------------------------------------------------------------------------
def begin(ctx: "ReleaseContext", *, standalone: bool = False) -> Bookkeeping:
    """The bookkeeping the verdict demands, not yet carried out."""
    verdict = ctx.state.verdict()
    released, ready = tracker_statuses(ctx)
    plan = plan_for(verdict, standalone=standalone, released_status=released, ready_status=ready)
    book = Bookkeeping(verdict=verdict, ticket_target=plan.ticket_status, ticket_note=plan.why_no_tickets)
    book.plan = plan
    if not plan.tag:
        book.tag_note = (
            "no tag: the release was aborted" if verdict is Verdict.ABORTED
            else "no tag: a standalone rollback tags nothing" if standalone
            else f"no tag: the verdict is {verdict.value}"
        )
    return book


def settle(ctx: "ReleaseContext", book: Bookkeeping) -> None:
    """Carry out `book`'s plan. Failures become problems (and leftovers), never exceptions; an
    interrupt (Ctrl-C, SIGTERM) is recorded as what it left undone, then goes on."""
    plan = book.plan
    steps: list[tuple[str, Any]] = []
    if plan.ticket_status is not None:
        steps.append(("tracker tickets", lambda: _move_tickets(ctx, book, plan.ticket_status)))
    if plan.tag:
        steps.append(("git tag", lambda: _tag(ctx, book, book.verdict)))
    for kind in plan.retrospectives:
        steps.append((f"{kind} retrospective", lambda kind=kind: _retrospective(ctx, book, kind)))
    done = 0
    try:
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # a defect here must not cost the verdict: record it, go on
                detail = ctx.redactor.redact(f"{type(exc).__name__}: {exc}")
                book.problems.append(f"{name}: failed unexpectedly: {detail}")
                _leftover(ctx, book, name, f"{name} of {ctx.invocation.version} in {ctx.env.name} failed unexpectedly: "
                          f"{detail}\n\nWhat to do: do it by hand (see `{ctx.paths.report}`).")
            done += 1
    except KeyboardInterrupt:
        left = ", ".join(name for name, _ in steps[done:])
        book.problems.append(f"interrupted before finishing: {left}")
        _leftover(ctx, book, "bookkeeping interrupted", f"The session was interrupted during phase 6's bookkeeping of "
                  f"{ctx.invocation.version} in {ctx.env.name} ({book.verdict.value}). Not done: {left}.\n\n"
                  f"What to do: do these by hand (see `{ctx.paths.report}`).")
        raise
    finally:
        for problem in book.problems:
            if problem not in ctx.state.incomplete:
                ctx.state.incomplete.append(problem)


def tracker_statuses(ctx: "ReleaseContext") -> tuple[str, str]:
    """(released status, pre-release status) from release.yaml's tracker settings."""
    tracker = getattr(ctx.config, "tracker", None)
    released = getattr(tracker, "released_status", None) or DEFAULT_RELEASED_STATUS
    ready = getattr(tracker, "ready_status", None) or DEFAULT_READY_STATUS
    return released, ready


def tickets_in_scope(ctx: "ReleaseContext") -> tuple[list[str], str]:
    """The tickets the pre-release gate put in scope, and where that list came from."""
    for holder in (ctx.choices, ctx):
        for name in ("tickets", "scope_tickets"):
            value = getattr(holder, name, None)
            if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
                return list(value), "the release scope of the pre-release gate"
        summary = getattr(holder, "change_summary", None)
        tickets = getattr(summary, "tickets", None)
        if isinstance(tickets, (list, tuple)):
            return [str(t) for t in tickets], "the change summary of the pre-release gate"
    summary, error = ctx.changes()
    if summary is None:
        return [], f"no change summary: {error}"
    return list(summary.tickets), "the git log since the last release tag"


def _tracker(ctx: "ReleaseContext") -> Any:
    """The configured tracker, or None; raises what tracker_for raises (a TrackerError)."""

    return tracker_for(ctx)


def file_tracker_guard(tracker_file: Path, root: Path, toplevel: Path | None) -> str | None:
    """Why a file tracker must not be rewritten, or None.

    Like `tag.enabled: auto`: a project that lives inside another git repository (the demo in
    this source tree) must not change that repository's tracked files behind its back."""
    if toplevel is None or toplevel.resolve() == root.resolve():
        return None
    if not tracker_file.resolve().is_relative_to(toplevel.resolve()):
        return None
    return (
        f"not moved: the file tracker {tracker_file} belongs to the git repository {toplevel}, "
        f"not to the project at {root} (the same rule as tag.enabled: auto)"
    )


def _git_toplevel(root: Path) -> Path | None:

    try:
        return Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except GitError:
        return None


def _move_tickets(ctx: "ReleaseContext", book: Bookkeeping, target: str) -> None:
    redact = ctx.redactor.redact
    try:
        tracker = _tracker(ctx)
    except Exception as exc:
        book.tracker_configured = True
        problem = f"tracker: could not be opened: {redact(str(exc))}"
        book.problems.append(problem)
        _leftover(ctx, book, "tracker", _tracker_leftover_text(ctx, target, [("(all tickets in scope)", problem)]))
        return
    if tracker is None:
        book.ticket_note = "no tracker configured"
        return
    tracker_file = getattr(tracker, "path", None)
    if tracker_file is not None:
        guard = file_tracker_guard(Path(tracker_file), ctx.config.root, _git_toplevel(ctx.config.root))
        if guard:
            book.ticket_note = guard
            return
    book.tracker_configured = True
    tickets, source = tickets_in_scope(ctx)
    book.ticket_note = f"from {source}"
    failures: list[tuple[str, str]] = []
    for key in tickets:
        try:
            before = tracker.status(key)
            if before == target:
                book.tickets.append(TicketMove(key, target, True, f"already {target}"))
                continue
            tracker.move(key, target)
            book.tickets.append(TicketMove(key, target, True, f"moved from {before}"))
        except Exception as exc:  # TrackerError, and anything a backend lets through
            detail = redact(str(exc) or type(exc).__name__)
            book.tickets.append(TicketMove(key, target, False, detail))
            failures.append((key, detail))
    if failures:
        book.problems.append(
            f"tracker: {len(failures)} of {len(tickets)} ticket(s) not moved to {target}: "
            + "; ".join(f"{key}: {detail}" for key, detail in failures)
        )
        _leftover(ctx, book, "tracker", _tracker_leftover_text(ctx, target, failures))


def _tracker_leftover_text(ctx: "ReleaseContext", target: str, failures: Sequence[tuple[str, str]]) -> str:
    verdict = ctx.state.verdict().value
    lines = [
        f"The release of {ctx.invocation.version} to {ctx.env.name} ended **{verdict}**, but the tracker did not "
        f"confirm every move to **{target}**:",
        "",
        *(f"- {key}: {detail}" for key, detail in failures),
        "",
        "What to do:",
        "",
        f"1. Fix what the tracker answered (credentials, permissions, the workflow's transition to {target}).",
        f"2. Move each ticket above to **{target}** by hand and confirm it in the tracker.",
        f"3. Note the fix in the release report: `{ctx.paths.report}`.",
        "",
        "Until then the tracker does not match what is serving: do not start another release of this scope.",
    ]
    return "\n".join(lines)


def _tag(ctx: "ReleaseContext", book: Bookkeeping, verdict: Verdict) -> None:

    settings = tag_settings(ctx)
    root = ctx.config.root
    toplevel: Path | None = None
    error = ""
    try:
        toplevel = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except GitError as exc:
        error = str(exc)
    decision = decide_tag(settings, version=ctx.invocation.version, env=ctx.env.name, root=root, toplevel=toplevel, toplevel_error=error)
    if not decision.make:
        book.tag_note = f"not tagged: {decision.reason}"
        return
    book.tag_demanded = True
    name = decision.name or ""
    push_note = f", pushed to {settings.remote}" if settings.push else ""
    on_head = False  # the tag exists locally on the released commit (only a push may be missing)
    try:
        existing = _existing_tag_commit(root, name)
        head = _git(root, "rev-parse", "--verify", "HEAD^{commit}").strip()
        if existing is not None and existing != head:
            raise GitError(f"tag {name} already exists on commit {existing[:12]}, not on HEAD {head[:12]}")
        if existing is not None:
            on_head = True
            if settings.push:
                _git(root, "push", "--quiet", "--", settings.remote, f"refs/tags/{name}", timeout=300)
            book.tag_created = name
            book.tag_note = f"{name} already existed on HEAD {head[:12]} (an earlier release of this version){push_note}"
            return
        create_tag(root, name, tag_message(ctx, verdict), push=False)
        on_head = True
        if settings.push:
            _git(root, "push", "--quiet", "--", settings.remote, f"refs/tags/{name}", timeout=300)
        book.tag_created = name
        book.tag_note = f"created annotated tag {name} on {head[:12]}{push_note}"
    except GitError as exc:
        detail = ctx.redactor.redact(str(exc))
        if "auto-detect email" in detail or "tell me who you are" in detail.lower():
            detail += (" (an annotated tag needs a tagger: set git's user.name and user.email on this machine, "
                       "or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL in the job's environment)")
        book.tag_ok = False
        book.tag_created = name if on_head else None
        book.tag_note = f"{name} {'is on HEAD but was NOT pushed' if on_head else 'NOT created'}: {detail}"
        book.problems.append(f"git tag: {book.tag_note}")
        _leftover(ctx, book, "git tag", _tag_leftover_text(ctx, name, on_head, settings, detail))


def _existing_tag_commit(root: Path, name: str) -> str | None:

    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}").strip() or None
    except GitError:
        return None


def _tag_leftover_text(ctx: "ReleaseContext", name: str, created: bool, settings: "TagSettings", detail: str) -> str:
    commit = ctx.choices.git_sha or "<the commit that was released>"
    steps = [] if created else [f"git -C {ctx.config.root} tag --annotate --message='Released {ctx.invocation.version} to {ctx.env.name}' {name} {commit}"]
    if settings.push:
        steps.append(f"git -C {ctx.config.root} push {settings.remote} refs/tags/{name}")
    return "\n".join(
        [
            f"{ctx.invocation.version} was released to {ctx.env.name}, but the release tag {name} "
            f"{'is on the released commit but could not be pushed' if created else 'could not be created'}:",
            "",
            f"    {detail}",
            "",
            "What to do: fix the cause, then run",
            "",
            *(f"    {s}" for s in steps),
            "",
            "The next release's change summary starts at the last release tag: without this tag it would list "
            "this release's changes again.",
        ]
    )


def _retrospective(ctx: "ReleaseContext", book: Bookkeeping, kind: str) -> None:
    book.retrospectives_demanded.append(kind)
    try:

        path = write_retrospective(ctx, kind, ctx.state.reason_chain())
    except Exception as exc:
        detail = ctx.redactor.redact(f"{type(exc).__name__}: {exc}")
        book.problems.append(f"{kind} retrospective not recorded: {detail}")
        _leftover(
            ctx, book, f"{kind} retrospective",
            f"The {kind} retrospective of {ctx.invocation.version} in {ctx.env.name} ({ctx.state.verdict().value}) "
            f"could not be recorded: {detail}\n\nWhat to do: hold the retrospective by hand; the reason chain is in "
            f"`{ctx.paths.report}`.",
        )
        return
    book.retrospectives_written.append(kind)
    if isinstance(path, Path):
        book.retrospective_paths[kind] = path


def _leftover(ctx: "ReleaseContext", book: Bookkeeping, topic: str, text: str) -> None:
    try:

        path = write_leftover(
            ctx.config.root, f"{topic} {ctx.invocation.version} {ctx.env.name}", text,
            now=ctx.clock.now(), redact=ctx.redactor.redact,
        )
    except Exception as exc:
        book.problems.append(f"leftover for {topic} could not be written: {exc}")
        ctx.say(f"LEFTOVER (could not be written to disk: {exc}):\n{text}")
        return
    book.leftovers.append(path)
    ctx.say(f"leftover written: {path}")


def tag_settings(ctx: "ReleaseContext") -> "TagSettings":

    settings = getattr(ctx.config, "tag", None)
    return settings if isinstance(settings, TagSettings) else TagSettings()
