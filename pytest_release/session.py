"""Release mode's hooks: one ReleaseSession per pytest session, registered by plugin.py.

It collects the six phases (and the user's tests that join them), keeps them in order and
chained through pytest-dependency, feeds every outcome into the Release state machine, and turns
the end of the session, however it comes, into a verdict: a rollback still runs from here when
-x, --maxfail, Ctrl-C, SIGTERM or a timeout cut the session short after the live system changed."""

from __future__ import annotations

import fnmatch
import signal
from pathlib import Path
from typing import Any, Generator

import pytest

import release_suite

from .clock import RealClock
from .config import Config
from .context import ReleaseContext
from .fixtures import CONTEXT_KEY
from .invocation import Invocation
from .release import Outcome, Phase, Verdict

PHASE_KEY = pytest.StashKey[Phase]()
SUITE_DIR = Path(release_suite.__file__).resolve().parent


def suite_files() -> dict[Path, Phase]:
    """release_suite/phaseN_*.py -> the phase N; validated, not assumed."""
    files = {}
    for path in sorted(SUITE_DIR.glob("phase*_*.py")):
        number = int(path.stem[len("phase"):].split("_", 1)[0])
        files[path] = list(Phase)[number - 1]
    if sorted(files.values(), key=lambda p: p.number) != list(Phase):
        raise pytest.UsageError(f"{SUITE_DIR}: expected one module per phase, found {[p.name for p in files]}")
    return files


class ReleaseSession:
    NAME = "release-session"

    def __init__(self, config: pytest.Config, invocation: Invocation, release_config: Config) -> None:
        self.config = config
        self.invocation = invocation
        self.release_config = release_config
        self.ctx: ReleaseContext | None = None
        self.suite = suite_files()
        self.remaining: dict[Phase, int] = {}
        self._previous_sigterm: Any = None
        self._terminal: Any = None
        self.report_open = False
        self.phases_collected = False
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
        self.ctx = ReleaseContext(
            pytest_config=self.config, invocation=self.invocation, config=self.release_config,
            clock=clock, write_line=self._write_line,
        )
        self.config.stash[CONTEXT_KEY] = self.ctx
        self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.ctx is None or not self.phases_collected:
            return
        try:
            self.ctx.open_report()
        except OSError as exc:
            raise pytest.UsageError(f"cannot write the release report under {self.release_config.release_dir}: {exc}") from None
        self.report_open = True

    def _write_line(self, line: str) -> None:
        if self._terminal is None:
            print(line, flush=True)
            return
        capman = self.config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled():
            self._terminal.ensure_newline()
            for part in line.splitlines() or [""]:
                self._terminal.write_line(f"[release] {part}")

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        """A cancelled CI job: take the same path as Ctrl-C so the rollback and verdict happen."""
        if self.ctx is not None:
            self.ctx.state.interrupt("SIGTERM received (job cancelled?)")
        raise KeyboardInterrupt("SIGTERM")

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        ctx = self.ctx
        if ctx is None:
            return []
        c = ctx.choices
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
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        kept.sort(key=lambda i: i.stash[PHASE_KEY].number)  # stable: keeps order inside a phase
        present = {i.stash[PHASE_KEY] for i in kept}
        missing = [p for p in Phase if p not in present]
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
                item.add_marker(pytest.mark.dependency(name=self._dependency_name(item), depends=depends, scope="session"))
                if phase in (Phase.EXECUTE, Phase.WATCH, Phase.COMMIT):
                    item.add_marker(pytest.mark.timeout(0))  # these phases keep time themselves
                elif phase is Phase.SMOKE and item.get_closest_marker("timeout") is None:
                    budget = self.release_config.environment(self.invocation.env).smoke.budget
                    item.add_marker(pytest.mark.timeout(budget, method="signal"))
        if self.ctx is not None:
            self.ctx.smoke_user_cases = tuple(i.name for i in by_phase[Phase.SMOKE] if i.path not in self.suite)
        items[:] = kept
        self.phases_collected = True

    def _phase_of(self, item: pytest.Item) -> Phase | None:
        if item.path in self.suite:
            return self.suite[item.path]
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
        ctx.current_phase = phase
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
        if report.longrepr is not None and not isinstance(report.longrepr, tuple):
            text = str(report.longrepr)
            if redact(text) != text:
                report.longrepr = redact(text)
        report.sections = [(title, redact(body)) for title, body in report.sections]

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
            with _signals_deferred(ctx):
                ctx.roll_back()
        verdict = ctx.finish(self.config.hook)
        reasons = state.reason_chain()
        self.config.hook.pytest_release_verdict(release=ctx, verdict=verdict, reasons=reasons)
        self.config.hook.pytest_release_notify(release=ctx, event=_EVENTS[verdict], detail=state.headline())
        self._junit_properties(ctx, verdict)
        ctx.close()
        session.exitstatus = verdict.exit_code

    def _junit_properties(self, ctx: ReleaseContext, verdict: Verdict) -> None:
        from _pytest.junitxml import xml_key

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
        tr = terminalreporter
        markup = {"green": True} if verdict.exit_code == 0 else {"red": True}
        tr.section("release verdict", bold=True, **markup)
        tr.write_line(ctx.redactor.redact(ctx.state.headline()), bold=True, **markup)
        for reason in ctx.state.reason_chain()[1:]:
            tr.write_line(f"  then: {ctx.redactor.redact(reason)}")
        tr.write_line(f"report: {ctx.paths.report}")
        if ctx.rollback_report is not None:
            tr.write_line(f"rollback report: {ctx.paths.rollback_report}")
        tr.write_line(f"exit status: {verdict.exit_code}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


_EVENTS = {
    Verdict.RELEASED: "released",
    Verdict.RELEASED_WITH_OVERRIDE: "released",
    Verdict.ROLLED_BACK: "rolled-back",
    Verdict.ABORTED: "aborted",
    Verdict.ROLLBACK_FAILED: "rollback-failed",
}


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


class _signals_deferred:
    """While the rollback runs, Ctrl-C and SIGTERM are noted, not obeyed: half a rollback is the
    worst state to leave a system in. (SIGKILL still ends everything; the report says
    "rollback started" before anything runs, so a cut-short rollback is visible.)"""

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx
        self.saved: dict[int, Any] = {}

    def _note(self, signum: int, frame: Any) -> None:
        self.ctx.say(f"signal {signal.Signals(signum).name} received during the rollback: finishing the rollback first")
        self.ctx.state.incomplete.append(f"{signal.Signals(signum).name} received during the rollback")

    def __enter__(self) -> "_signals_deferred":
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.saved[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)
