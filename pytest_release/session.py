"""Release mode's hooks: one ReleaseSession per pytest session, registered by plugin.py.

It collects the six phases (and the user's tests that join them), keeps them in order and
chained through pytest-dependency, feeds every outcome into the Release state machine, and turns
the end of the session, however it comes, into a verdict: a rollback still runs from here when
-x, --maxfail, Ctrl-C, SIGTERM or a timeout cut the session short after the live system changed."""

from __future__ import annotations

import fnmatch
import sys
import importlib.util
from pathlib import Path
from typing import Any, Generator

import pytest
from _pytest.junitxml import xml_key

from pytest_release import ci
from pytest_release.adapters.lock import LockBusy, acquire
from pytest_release.clock import RealClock
from pytest_release.config import Config
from pytest_release.context import ReleaseContext
from pytest_release.core.release import Outcome, Phase, Verdict
from pytest_release.fixtures import CONTEXT_KEY, PHASE_KEY
from pytest_release.options import Invocation
from pytest_release.phases import commit, rollback, smoke

# Located, not imported: the phase modules are collected by pytest, and the package sits above
# everything here in the layers (it imports the phases).
SUITE_DIR = Path(importlib.util.find_spec("release_suite").origin or "").resolve().parent  # type: ignore[union-attr]
STANDALONE_SUITE_FILE = SUITE_DIR / "standalone_rollback.py"  # --release-rollback-only's one check


def suite_files() -> dict[Path, Phase]:
    """release_suite/phaseN_*.py -> the phase N; validated, not assumed. A phase may have several
    modules (phase5_traffic_shift.py, phase5_watch_window.py): they run in name order, and each
    depends on the ones before it."""
    files = {}
    for path in sorted(SUITE_DIR.glob("phase*_*.py")):
        number = int(path.stem[len("phase"):].split("_", 1)[0])
        files[path] = list(Phase)[number - 1]
    if sorted(set(files.values()), key=lambda p: p.number) != list(Phase):
        raise pytest.UsageError(f"{SUITE_DIR}: expected at least one module per phase, found {[p.name for p in files]}")
    return files


def _empty_parametrization(item: pytest.Item) -> bool:
    """pytest's stand-in for a check parametrized over nothing (no canary steps, no endpoints)."""
    mark = item.get_closest_marker("skip")
    return mark is not None and str(mark.kwargs.get("reason", "")).startswith("got empty parameter set")


def _order_in_phase(item: pytest.Item, suite: dict[Path, Phase]) -> int:
    """Inside a phase the suite's own checks run first (a project's execute-phase test runs
    after the deploy, not before the .env check), then the project's tests; a check that closes
    its phase (the gate decision) is named in its module's LAST_IN_PHASE and runs after them."""
    if item.path not in suite:
        return 1
    last = getattr(getattr(item, "module", None), "LAST_IN_PHASE", ())
    return 2 if getattr(item, "originalname", item.name) in last else 0


class ReleaseSession:
    NAME = "release-session"

    def __init__(self, config: pytest.Config, invocation: Invocation, release_config: Config) -> None:
        self.config = config
        self.invocation = invocation
        self.release_config = release_config
        self.ctx: ReleaseContext | None = None
        # --release-rollback-only: one check (standalone.SUITE_FILE) instead of the six phases
        self.standalone = invocation.rollback_only
        self.suite = _standalone_suite() if self.standalone else suite_files()
        self.remaining: dict[Phase, int] = {}
        self._terminal: Any = None
        self.report_open = False
        self.phases_collected = False
        self.env_lock: Any = None  # lock.EnvLock while this release holds its environment
        self.hook_errors: list[str] = []  # user hook implementations that raised
        # The suite directory (not its files) is the collection argument, so node ids read
        # "phase3_execute.py::test_deploy_script_succeeds" wherever the package is installed.
        config.args = list(config.args) + [str(SUITE_DIR)]
        config.option.verbose = max(config.option.verbose, 1)  # one line per check: the release's log

    # --- start ------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.config.option.collectonly:
            return  # listing the phases releases nothing: no report, no verdict
        clock = self.config.hook.pytest_release_make_clock(config=self.config) or RealClock()
        self._terminal = self.config.pluginmanager.getplugin("terminalreporter")
        self.ctx = _context_class(self.standalone)(
            pytest_config=self.config, invocation=self.invocation, config=self.release_config,
            clock=clock, write_line=self._write_line,
        )
        self.config.stash[CONTEXT_KEY] = self.ctx
        self.ctx.interrupts.install()  # the first SIGINT/SIGTERM stops the session, later ones are noted

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.ctx is None or not self.phases_collected:
            return

        busy: LockBusy | None = None
        try:  # one release per environment at a time: the lock comes before the report
            lock_dir = self.release_config.lock_dir or self.release_config.release_dir / ".locks"
            self.env_lock = acquire(lock_dir, self.invocation.env, self.invocation.version)
            self.ctx.hold_lock(self.env_lock)  # the lock records each deploy script's session
        except LockBusy as exc:
            busy = exc
        try:
            self.ctx.open_report()
        except OSError as exc:
            self._release_lock()
            raise pytest.UsageError(f"cannot write the release report under {self.release_config.release_dir}: {exc}") from None
        self.report_open = True
        if busy is not None or self.env_lock.taken_over is not None:
            note = str(busy) if busy is not None else self.env_lock.takeover_note()
            section = self.ctx.report.section("lock", "Release lock")
            section.status = "refused: nothing was run or touched" if busy is not None else "taken over"
            section.text(note)
            self.ctx.say(note)
            if busy is not None:
                self.ctx.state.abort(note)
                self.config.hook.pytest_deselected(items=list(session.items))
                session.items.clear()
            self.ctx.flush()
        if busy is None:
            smoke.note_missing(self.ctx)  # no smoke case at all: a leftover entry, before phase 1 aborts

    def _release_lock(self) -> None:
        if self.env_lock is not None:
            self.env_lock.release()

    def _write_line(self, line: str) -> None:
        if self._terminal is None:
            print(line, flush=True)
            return
        capman = self.config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled():
            self._terminal.ensure_newline()
            for part in line.splitlines() or [""]:
                self._terminal.write_line(f"[release] {part}")

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        ctx = self.ctx
        if ctx is None:
            return []
        c = ctx.choices
        if self.standalone:
            return [f"release: standalone rollback of {ctx.env.name} ({ctx.env.kind}) to {c.rollback_target}",
                    f"release config: {ctx.config.path}", f"release dir: {ctx.config.release_dir}"]
        return [
            f"release: {ctx.invocation.version} -> {ctx.env.name} ({ctx.env.kind}), strategy {c.strategy}, "
            f"rollback target {c.rollback_target or 'discovered in phase 1'}",
            f"release config: {ctx.config.path}",
            f"release dir: {ctx.config.release_dir}",
        ]

    # --- collection -------------------------------------------------------------------------
    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
        """Collect the phase modules whatever `python_files` says (and once only)."""
        if file_path in self.suite and not _matches_python_files(file_path, self.config):
            return pytest.Module.from_parent(parent, path=file_path)
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "smoke_case" in metafunc.fixturenames:
            names = [e.name for e in self.release_config.environment(self.invocation.env).smoke.endpoints]
            metafunc.parametrize("smoke_case", names, ids=names)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        seen: set[str] = set()
        for item in items:
            if item.nodeid in seen:
                continue  # a phase module that also matches python_files is collected twice
            seen.add(item.nodeid)
            phase = self._phase_of(item)
            if phase is None:
                dropped.append(item)
            else:
                item.stash[PHASE_KEY] = phase
                kept.append(item)
        # A suite check parametrized over nothing has no item, unless its phase would be empty.
        real = {i.stash[PHASE_KEY] for i in kept if not (i.path in self.suite and _empty_parametrization(i))}
        empty = [i for i in kept if i.path in self.suite and _empty_parametrization(i) and i.stash[PHASE_KEY] in real]
        if empty:
            dropped += empty
            kept = [i for i in kept if not any(i is e for e in empty)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # stable: keeps order inside a phase
        kept.sort(key=lambda i: (i.stash[PHASE_KEY].number, _order_in_phase(i, self.suite)))
        present = {i.stash[PHASE_KEY] for i in kept}
        missing = [p for p in ((Phase.COMMIT,) if self.standalone else Phase) if p not in present]
        if missing:
            raise pytest.UsageError(
                "a release runs all six phases, but these have no test left after selection (-k/-m/--deselect?): "
                + ", ".join(p.value for p in missing)
            )
        by_phase: dict[Phase, list[pytest.Item]] = {p: [] for p in Phase}
        for item in kept:
            by_phase[item.stash[PHASE_KEY]].append(item)
        for phase, phase_items in by_phase.items():
            self.remaining[phase] = len(phase_items)
            previous = by_phase[list(Phase)[phase.number - 2]] if phase.number > 1 else []
            for item in phase_items:
                depends = [self._dependency_name(p) for p in previous] if phase is not Phase.COMMIT else []
                if phase is not Phase.COMMIT and item.path in self.suite:  # earlier modules of the same phase
                    depends += [self._dependency_name(p) for p in phase_items if p.path in self.suite and p.path < item.path]
                item.add_marker(pytest.mark.dependency(name=self._dependency_name(item), depends=depends, scope="session"))
                if phase in (Phase.EXECUTE, Phase.WATCH, Phase.COMMIT):
                    item.add_marker(pytest.mark.timeout(0))  # these phases keep time themselves
                # Smoke items get what is left of the phase budget when they start: pytest_runtest_protocol.
        if self.ctx is not None:
            self.ctx.join_smoke_tests(i.name for i in by_phase[Phase.SMOKE] if i.path not in self.suite)
        items[:] = kept
        self.phases_collected = True

    def _phase_of(self, item: pytest.Item) -> Phase | None:
        if item.path in self.suite:
            return self.suite[item.path]
        if self.standalone:
            return None  # a standalone rollback verifies with the configured smoke cases only
        marker = item.get_closest_marker("release_phase")
        if marker is None:
            return None
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: release_phase takes one phase name, like release_phase('smoke')")
        try:
            return Phase.parse(marker.args[0])
        except ValueError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None

    @staticmethod
    def _dependency_name(item: pytest.Item) -> str:
        return f"release::{item.stash[PHASE_KEY].value}::{item.nodeid}"

    # --- running ----------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        ctx = self.ctx
        phase = item.stash.get(PHASE_KEY, None)
        if ctx is None or phase is None:
            return
        ctx.enter_phase(phase)
        section = ctx.section(phase)
        if section.started is None:
            for earlier in Phase:
                if earlier.number < phase.number:
                    self._close_phase(earlier)
            section.started = ctx.clock.now()
            ctx.say(f"phase {phase.number}: {phase.title}")
            ctx.flush()
        if phase.touches_live_system and item.path not in self.suite and (ctx.state.abort_reasons or ctx.state.triggers):
            pytest.skip("the release stopped earlier")
        if phase.touches_live_system and ctx.record_lost:  # nothing more is deployed without a record
            pytest.skip(f"the release stopped earlier: {ctx.redactor.redact(ctx.record_lost)}")
        if phase is Phase.SMOKE:
            smoke.check_budget(ctx)  # a case that starts after the phase budget ran out fails

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
        """The smoke phase has one budget: each smoke item's pytest-timeout (signal method) is set to
        what is left of it. pytest-timeout reads the marker as the protocol starts, so this wrapper
        runs first."""
        if self.ctx is not None and item.stash.get(PHASE_KEY, None) is Phase.SMOKE:
            smoke.apply_budget(self.ctx, item)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        ctx = self.ctx
        phase = item.stash.get(PHASE_KEY, None)
        if ctx is None or phase is None:
            return report
        self._redact(report)
        counts = report.when == "call" or (report.when == "setup" and not report.passed) or (report.when == "teardown" and report.failed)
        if counts:
            outcome = Outcome.PASSED if report.passed else Outcome.SKIPPED if report.skipped else Outcome.FAILED
            message = "" if report.passed else _message(call, report)
            if message and item.path not in self.suite and outcome is Outcome.FAILED:
                message = f"{phase.title.lower()} failure: {item.name}: {message}"
            ctx.state.record(phase, item.name, outcome, ctx.redactor.redact(message), ctx.clock.now())
            section = ctx.section(phase)
            if outcome is Outcome.FAILED:
                section.status = "failed"
                section.text(f"**FAILED** `{item.name}`: {message}")
            elif outcome is Outcome.SKIPPED and section.status != "failed":
                section.status = "skipped"
            elif section.status == "running" and outcome is Outcome.PASSED:
                pass
            ctx.flush()
        return report

    def _redact(self, report: pytest.TestReport) -> None:
        assert self.ctx is not None
        redact = self.ctx.redactor.redact
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # a skip: (path, line, reason)
            path, lineno, reason = report.longrepr
            report.longrepr = (path, lineno, redact(str(reason)))
        elif report.longrepr is not None:
            text = str(report.longrepr)
            if redact(text) != text:
                report.longrepr = redact(text)
        report.sections = [(title, redact(body)) for title, body in report.sections]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.ctx is not None:
            ci.lift_case_properties(self.config, report, self.ctx.redactor.redact)  # xunit2: suite properties only

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        phase = ctx.current_phase
        self.remaining[phase] = self.remaining.get(phase, 1) - 1
        if self.remaining[phase] == 0:
            self._close_phase(phase)

    def _close_phase(self, phase: Phase) -> None:
        ctx = self.ctx
        assert ctx is not None
        section = ctx.report.sections.get(phase.value)
        if section is None or section.finished is not None or section.started is None:
            return
        section.finished = ctx.clock.now()
        if section.status == "running":
            section.status = "passed"
        ctx.flush()
        self.config.hook.pytest_release_phase_finished(release=ctx, phase=phase, status=section.status)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if self.ctx is not None:
            self.ctx.state.interrupt("interrupted (Ctrl-C)")

    # --- the end ----------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        ctx = self.ctx
        if ctx is None or not self.report_open:
            return  # stopped before any phase could run (a usage error): pytest's status stands
        with ctx.interrupts.hold():  # a signal now would cut the rollback or the verdict short
            self._finish(ctx, session, exitstatus)

    def _finish(self, ctx: ReleaseContext, session: pytest.Session, exitstatus: int) -> None:
        state = ctx.state
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            state.interrupt("interrupted")
        if session.shouldfail and not state.triggers and not state.abort_reasons:
            state.interrupt(f"stopped early: {session.shouldfail}")
        for phase in Phase:
            self._close_phase(phase)
        if not state.checks and not state.abort_reasons and state.interrupted is None:
            state.abort(f"no phase ran (pytest exit status {int(exitstatus)}: collection errors?)")
        if state.needs_rollback():
            rollback.roll_back(ctx)
        try:
            verdict = commit.finish(ctx, self.config.hook)
        except Exception as exc:  # the report's last rendering failed: the verdict still stands
            state.incomplete.append(f"the report's final rendering failed: {type(exc).__name__}: {exc}")
            verdict = state.verdict()
        reasons = state.reason_chain()
        self.config.hook.pytest_release_verdict(release=ctx, verdict=verdict, reasons=reasons)
        self.config.hook.pytest_release_notify(release=ctx, event=_EVENTS[verdict], detail=ctx.redactor.redact(state.headline()))
        self._junit_properties(ctx, verdict)
        ci.publish(ctx, verdict, session)  # JUnit cases per watch poll, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT
        ctx.close()
        self._release_lock()
        session.exitstatus = ctx.commit_exit_code(verdict)

    def _junit_properties(self, ctx: ReleaseContext, verdict: Verdict) -> None:

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        for name, value in (
            ("release.env", ctx.env.name),
            ("release.version", ctx.invocation.version),
            ("release.verdict", verdict.value),
            ("release.reason", ctx.redactor.redact(ctx.state.headline())),
            ("release.report", str(ctx.paths.report)),
            ("release.rollback_target", ctx.choices.rollback_target or ""),
            ("release.strategy", ctx.choices.strategy),
        ):
            xml.add_global_property(name, value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        ctx = self.ctx
        if ctx is None or not self.report_open:
            return
        verdict = ctx.state.verdict()
        exit_code = ctx.commit_exit_code(verdict)
        tr = terminalreporter
        markup = {"green": True} if exit_code == 0 else {"red": True}
        tr.section("release verdict", bold=True, **markup)
        tr.write_line(ctx.redactor.redact(ctx.state.headline()), bold=True, **markup)
        for reason in ctx.state.reason_chain()[1:]:
            tr.write_line(f"  then: {ctx.redactor.redact(reason)}")
        tr.write_line(f"report: {ctx.paths.report}")
        if ctx.rollback_report is not None:
            tr.write_line(f"rollback report: {ctx.paths.rollback_report}")
        book = ctx.stash.get(commit.BOOKKEEPING, None)
        for path in book.leftovers if book is not None else ():
            tr.write_line(f"leftover: {path}", yellow=True)
        if ctx.state.incomplete:
            tr.write_line("INCOMPLETE: " + ctx.redactor.redact("; ".join(ctx.state.incomplete)), red=True, bold=True)
        failed = [text for ok, text in ctx.report.extra.get("self_check", ()) if not ok]
        for text in failed:
            tr.write_line(f"self-verification FAILED: {ctx.redactor.redact(text)}", red=True, bold=True)
        if ctx.report.extra.get("self_check") and not failed:
            tr.write_line(f"self-verification: all {len(ctx.report.extra['self_check'])} items hold")
        for problem in self.hook_errors:
            tr.write_line(f"user hook error: {problem}", yellow=True)
        tr.write_line(f"exit status: {exit_code}")
        if any("could not be written" in problem for problem in ctx.state.incomplete):
            # the report is not on disk: the verdict goes to stderr too, for whoever reads the log
            sys.stderr.write(f"pytest-release: {ctx.redactor.redact(ctx.state.headline())} (exit status {exit_code}; the report could not be written)\n")

    # --- user hooks: an implementation that raises is reported, never fatal ----------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_release_phase_finished(self) -> Generator[None, Any, Any]:
        return (yield from self._guard("pytest_release_phase_finished"))

    @pytest.hookimpl(wrapper=True)
    def pytest_release_verdict(self) -> Generator[None, Any, Any]:
        return (yield from self._guard("pytest_release_verdict"))

    @pytest.hookimpl(wrapper=True)
    def pytest_release_report_context(self) -> Generator[None, Any, Any]:
        return (yield from self._guard("pytest_release_report_context"))

    @pytest.hookimpl(wrapper=True)
    def pytest_release_notify(self) -> Generator[None, Any, Any]:
        return (yield from self._guard("pytest_release_notify"))

    @pytest.hookimpl(wrapper=True)
    def pytest_release_decision(self) -> Generator[None, Any, Any]:
        return (yield from self._guard("pytest_release_decision"))

    def _guard(self, name: str) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except Exception as exc:  # a broken notifier must not roll back a good release
            ctx = self.ctx
            text = f"{name} raised {type(exc).__name__}: {exc}"
            if ctx is not None:
                text = ctx.redactor.redact(text)
                ctx.say(f"user hook error (ignored): {text}")
                if getattr(ctx, "report", None) is not None:
                    ctx.report.section("hook-errors", "User hook errors").text(text)
                    ctx.flush()
            self.hook_errors.append(text)
            return []

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._release_lock()  # also when the session ended without reaching a verdict
        if self.ctx is not None:
            self.ctx.interrupts.restore()


_EVENTS = {
    Verdict.RELEASED: "released",
    Verdict.RELEASED_WITH_OVERRIDE: "released",
    Verdict.ROLLED_BACK: "rolled-back",
    Verdict.ABORTED: "aborted",
    Verdict.ROLLBACK_FAILED: "rollback-failed",
}


def _standalone_suite() -> dict[Path, Phase]:
    return {STANDALONE_SUITE_FILE: Phase.COMMIT}


def _context_class(standalone: bool) -> type[ReleaseContext]:
    return rollback.StandaloneRollbackContext if standalone else ReleaseContext


def _matches_python_files(path: Path, config: pytest.Config) -> bool:
    """Whether pytest's own python plugin will collect this file too."""
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("python_files"))


def _message(call: pytest.CallInfo[None], report: pytest.TestReport) -> str:
    """The reason a check did not pass, in one line: the text given to pytest.fail/skip."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    excinfo = call.excinfo
    if excinfo is None:
        return report.outcome
    value = excinfo.value
    msg = getattr(value, "msg", None)
    if isinstance(msg, str) and msg:
        return msg
    text = excinfo.exconly().strip().splitlines()
    return text[0][:500] if text else type(value).__name__
