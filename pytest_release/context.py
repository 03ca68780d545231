"""The release in progress, as the phase modules see it (the `release` fixture).

It ties the pure state machine to its I/O: the report on disk, the terminal, the deploy script,
the metrics backend. Phase modules call it in the runbook's order; it holds no decisions of its own
beyond wiring (those live in release, analysis and gate)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pytest

from pytest_release.adapters.deploy import OutputLog, ScriptResult, run_script
from pytest_release.adapters.envfile import parse_env_file
from pytest_release.adapters.notify import notify_secrets
from pytest_release.adapters.prompt import Asker
from pytest_release.adapters.traffic import TrafficGenerator
from pytest_release.clock import Clock
from pytest_release.config import Config, Environment
from pytest_release.core import judge as analysis
from pytest_release.core.redact import Redactor
from pytest_release.core.release import Phase, Release, Verdict
from pytest_release.metrics import MetricsProvider
from pytest_release.options import Invocation
from pytest_release.report.document import (
    Autoflush,
    MarkdownReport,
    Section,
    claim_report_paths,
    timestamp,
)

if TYPE_CHECKING:
    from pytest_release.phases.gate import GateRun


@dataclass
class Paths:
    report: Path
    rollback_report: Path

    def side_file(self, suffix: str) -> Path:
        """A file next to the report that shares its name: release_..._deploy.log and the like."""
        return self.report.with_name(self.report.stem + suffix)


@dataclass
class Choices:
    """What was decided during the release, for the report header and later phases."""

    strategy: str
    strategy_by: str
    rollback_target: str | None
    rollback_target_source: str
    baseline: dict[str, float | None] = field(default_factory=dict)
    git_sha: str | None = None


class ReleaseContext:
    def __init__(
        self,
        *,
        pytest_config: pytest.Config,
        invocation: Invocation,
        config: Config,
        clock: Clock,
        write_line: Callable[[str], None],
    ) -> None:
        self.pytest_config = pytest_config
        self.invocation = invocation
        self.config = config
        self.env: Environment = config.environment(invocation.env)
        self.clock = clock
        self._write_line = write_line
        self.state = Release(env=invocation.env, version=invocation.version, rollback_target=invocation.rollback_to)
        self.started_at = clock.now()
        self.env_values = self._read_env_values()
        self.redactor = Redactor.from_environment({**self.env_values, **self._configured_credentials()}, os.environ)
        self.choices = Choices(
            strategy=invocation.strategy or self.env.default_strategy,
            strategy_by="--release-strategy" if invocation.strategy else f"default of environment {self.env.name}",
            rollback_target=invocation.rollback_to,
            rollback_target_source="--release-rollback-to" if invocation.rollback_to else "not yet known",
        )
        self.rollback_report: MarkdownReport | None = None
        self.asker = Asker(
            pytest_config, lambda text: write_line(text.rstrip("\n")),
            on_ask=lambda question: pytest_config.hook.pytest_release_notify(
                release=self, event="asked", detail=self.redactor.redact((question.strip().splitlines() or [""])[0])),
        )
        self._provider: MetricsProvider | None = None
        self._traffic: TrafficGenerator | None = None

    def open_report(self) -> None:
        """Claim the report's file name and write its header: the first thing on disk, once the
        session is known to be runnable (a usage error leaves no report behind)."""
        report_path, rollback_path = claim_report_paths(
            self.config.release_dir, self.invocation.version, self.invocation.env, self.started_at
        )
        self.paths = Paths(report_path, rollback_path)
        self.report = MarkdownReport(report_path, "release-report.md.j2", self.redactor.redact)
        self.report.extra.update(env=self.invocation.env, version=self.invocation.version)
        self.update_header()
        self.report.flush()
        self.say(f"release report: {report_path}")

    def __repr__(self) -> str:
        return f"<release {self.invocation.version} to {self.invocation.env}>"

    # --- the report and the terminal -------------------------------------------------------
    paths: Paths
    report: MarkdownReport

    def _configured_credentials(self) -> dict[str, str]:
        """Values of the variables release.yaml names as credentials: secret whatever their name."""
        metrics = self.env.metrics
        names = [metrics.bearer_token_env, *(metrics.basic_auth_env or ()), self.env.annotations and self.env.annotations.token_env]
        found = {name: os.environ[name] for name in names if name and os.environ.get(name)}
        return {**found, **notify_secrets(self.env.notify)}  # webhook URLs are secrets too

    def _read_env_values(self) -> dict[str, str]:
        try:
            return parse_env_file(self.config.env_file)
        except Exception:  # reported by the env-file check in phase 3; redact what can be read
            return {}

    def update_header(self) -> None:
        c = self.choices
        self.report.header.clear()
        self.report.header.update(
            {
                "Environment": f"{self.env.name} ({self.env.kind})",
                "Version": self.invocation.version + (f" ({c.git_sha[:12]})" if c.git_sha else ""),
                "Rollback target": f"{c.rollback_target or 'unknown'} ({c.rollback_target_source})",
                "Strategy": f"{c.strategy} ({c.strategy_by})",
                "Config": str(self.config.path),
                "Release dir": str(self.config.release_dir),
                "Started": timestamp(self.started_at),
                "Host": socket.gethostname(),
            }
        )

    def section(self, phase: Phase) -> Section:
        return self.report.phase(phase)

    def say(self, line: str) -> None:
        """A line in the terminal, redacted like everything else."""
        self._write_line(self.redactor.redact(line))

    def flush(self, throttle: float = 0.0) -> None:
        self.report.flush(throttle)
        if self.rollback_report is not None:
            self.rollback_report.flush(throttle)

    # --- the deploy script -----------------------------------------------------------------
    def script_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env_values)
        env.update(
            RELEASE_ENV=self.invocation.env,
            RELEASE_VERSION=self.invocation.version,
            RELEASE_STRATEGY=self.choices.strategy,
        )
        if self.choices.rollback_target:
            env["RELEASE_ROLLBACK_TARGET"] = self.choices.rollback_target
        return env

    def deploy_argv(self, *extra: str) -> list[str]:
        return [str(self.config.deploy_script), "--env", self.invocation.env, *extra]

    def run_deploy_script(
        self, argv: Sequence[str], section: Section, report: MarkdownReport, log_suffix: str, label: str | None = None
    ) -> ScriptResult:
        """Run the deploy script, streaming each timestamped line into `section` as it comes.

        The report is rewritten at least every half second while the script runs, so what it
        printed so far is on disk whatever happens next. Interrupted (Ctrl-C, SIGTERM), the
        script's group is stopped by run_script, what ran is recorded, and the interrupt goes on."""
        from pytest_release.adapters.deploy import interrupted_result

        settings = self.env.deploy
        log = OutputLog(head=settings.output_head, tail=settings.output_tail, side_file=self.paths.side_file(log_suffix))
        section.text(f"`{' '.join(argv)}` (full output: `{log.side_file.name if log.side_file else '-'}`)")
        section.code(log.render_lines, title=f"Output ({label})" if label else "Output")
        report.flush()

        def on_line(line: str) -> None:
            with report.lock:
                log.add(line)

        def record(result: ScriptResult) -> None:
            with report.lock:
                section.table(
                    ["Exit code", "Outcome", "Lines", "Left out of this report", "Duration"],
                    [[result.exit_code, result.outcome, result.lines, log.omitted, f"{result.seconds:.1f}s"]],
                )
                if result.process_snapshot:
                    snapshot = result.process_snapshot
                    section.code(lambda: snapshot.splitlines(), title="Processes of the script's group when it was stopped")
                if result.error:
                    section.text(f"Error: {result.error}")
                if result.notes:
                    section.bullets(result.notes, title="Notes")
            report.flush()

        try:
            with Autoflush(report):
                result = run_script(
                    argv,
                    cwd=self.config.root,
                    env=self.script_env(),
                    on_line=on_line,
                    idle_timeout=settings.idle_timeout,
                    total_timeout=settings.total_timeout,
                    kill_grace=settings.kill_grace,
                    redactor=self.redactor,
                    now=self.clock.now,
                )
        except BaseException as exc:
            partial = interrupted_result(exc)
            if partial is not None:
                record(partial)
            raise
        finally:
            log.close()
        record(result)
        return result

    # --- observability ---------------------------------------------------------------------
    @property
    def historical_metrics(self) -> bool:
        return self.env.metrics.provider != "scrape"

    def metrics(self) -> MetricsProvider:
        if self._provider is None:
            self._provider = self._make_provider()
        return self._provider

    def _make_provider(self) -> MetricsProvider:
        from pytest_release.metrics.factory import make_provider

        return make_provider(self.env, config_path=self.config.path, clock=self.clock)

    def traffic(self) -> TrafficGenerator | None:
        if self.env.traffic is None or not self.env.smoke.base_url:
            return None
        if self._traffic is None:
            self._traffic = TrafficGenerator(self.env.smoke.base_url, self.env.traffic, self.clock)
        return self._traffic

    def policy(self) -> analysis.WatchPolicy:
        from pytest_release.metrics.window import watch_policy

        return watch_policy(self.env.watch)

    def close(self) -> None:
        for resource in (self._traffic, self._provider):
            if resource is not None:
                try:
                    resource.close()
                except Exception:
                    pass
        self._traffic = self._provider = None

    # --- end of the session ----------------------------------------------------------------
    def finish(self, hook: Any) -> Verdict:
        """Render the verdict into the report for the last time and return it.

        Phase 6's bookkeeping runs here when phase 6 did not get to it (a rollback started from
        the end of a cut-short session); then the runbook's self-verification checklist is
        evaluated against what is on disk and rendered into the same report."""
        from pytest_release.phases import bookkeeping, selfcheck

        book = self.commit_bookkeeping()
        verdict = self.state.verdict()
        chain = self.state.reason_chain()
        summary = bookkeeping.summary_rows(self, self.commit_phases())
        self.report.extra.update(
            verdict=verdict.value,
            headline_reason="" if verdict in (Verdict.RELEASED, Verdict.RELEASED_WITH_OVERRIDE) else chain[0],
            exit_code=self.commit_exit_code(verdict),
            finished=timestamp(self.clock.now()),
            reason_chain=chain,
            summary=summary,
        )
        context: dict[str, Any] = {"sections": [], "verdict": verdict.value, "reasons": list(chain), "summary": [dict(r) for r in summary]}
        hook.pytest_release_report_context(release=self, context=context)
        sections = []
        for entry in context.get("sections") or []:
            if isinstance(entry, (tuple, list)) and len(entry) == 2:
                sections.append((str(entry[0]), str(entry[1])))
            else:
                self.say(f"pytest_release_report_context: ignored a section that is not a (title, markdown) pair: {entry!r:.80}")
        self.report.extra_sections = sections
        self.flush()  # the verdict is on disk before the checklist looks for it
        facts = selfcheck.gather(self, book, self.commit_phases(), standalone=self.commit_standalone())
        self.report.extra["self_check"] = [tuple(item) for item in selfcheck.evaluate(facts)]
        self.flush()
        return verdict

    # --- phase 6: what a verdict demands besides the live system ----------------------------
    def commit_bookkeeping(self) -> Any:
        """Tracker moves, the release tag and retrospectives, as the verdict demands: once per
        session (phase 6 calls it; `finish` calls it when phase 6 did not run)."""
        from pytest_release.phases import bookkeeping

        book = getattr(self, "_bookkeeping", None)
        if book is not None:
            return book
        book = self._bookkeeping = bookkeeping.begin(self, standalone=self.commit_standalone())
        commit_section = self.report.sections.get(Phase.COMMIT.value)
        if commit_section is not None and commit_section.started is not None:
            section = commit_section
        else:
            section = self.report.section("bookkeeping", "Tracker, tag and retrospective (after the session was cut short)")
            section.started = self.clock.now()
        try:
            bookkeeping.settle(self, book)
        finally:
            section.bullets(book.lines(), title="Tracker, tag and retrospective" if section is commit_section else "")
            if section is not commit_section:
                section.finished = self.clock.now()
                section.status = "incomplete" if book.problems else "done"
            self.flush()
        return book

    def commit_standalone(self) -> bool:
        """True in a standalone rollback (`--release-rollback-only`; see standalone.py)."""
        return False

    def commit_phases(self) -> tuple[Phase, ...]:
        """The phases this session runs: all six (a standalone rollback runs only phase 6)."""
        return tuple(Phase)

    def commit_exit_code(self, verdict: Verdict) -> int:
        return verdict.exit_code

    # --- what the phases do ----------------------------------------------------------------
    current_phase: Phase = Phase.GATE
    smoke_user_cases: tuple[str, ...] = ()

    def section_note(self, title: str, text: str) -> None:
        self.section(self.current_phase).text(f"**{title}:** {text}")
        self.flush()

    def discover_current_version(self, url: str | None = None) -> str:
        """The version serving now: asked of `url` (default `current_version.url`), or with
        `current_version.source: report`, read from the last Released report for this environment."""
        if url is None:
            if self.env.current_version_source == "report":
                return self.gate_run().last_released_version()
            url = self.env.current_version_url
            assert url, "config validation requires current_version.url for source: url"
        import requests

        try:
            response = requests.get(url, timeout=self.env.smoke.request_timeout)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            pytest.fail(f"no rollback target: could not read the deployed version from {url}: {exc}")
        value = body.get(self.env.current_version_field) if isinstance(body, dict) else None
        if not isinstance(value, str):
            pytest.fail(f"no rollback target: {url} has no string field {self.env.current_version_field!r}")
        from pytest_release.options import InvocationError, check_version

        try:
            return check_version(value, f"the version reported by {url}")
        except InvocationError as exc:
            pytest.fail(f"no rollback target: {exc}")

    def smoke_case_names(self) -> list[str]:
        return [e.name for e in self.env.smoke.endpoints] + list(self.smoke_user_cases)

    def decide_gate(self) -> None:
        """The runbook's A/B/C on the assembled gate summary: proceed, abort, or edit the scope."""
        self.gate_run().decide()

    def gate_run(self) -> "GateRun":
        """What phase 1 found and decided (pytest_release.gate_checks), made on first use.

        Later phases read the scope from it: `gate_run().scope()` (tickets after exclusions) and
        `gate_run().changes()` (the change summary, None without git); both are also on
        `choices.tickets` and `choices.change_summary`."""
        run = self.__dict__.get("_gate_run")
        if run is None:
            from pytest_release.phases.gate import GateRun

            run = self._gate_run = GateRun(self)
        return run

    def select_strategy(self) -> None:
        """Phase 2: a recommendation with its reasons, then the choice (A/B/C/D by a person at a
        terminal; --release-strategy or the environment's default in CI); both are recorded."""
        from pytest_release.core import strategy as plan

        __tracebackhide__ = True
        env, c = self.env, self.choices
        signals = self.strategy_signals()
        rec = plan.recommend(signals)
        self.strategy_recommendation = rec
        asked = plan.needs_question(self.invocation.strategy, env.strategies)
        menu = plan.menu(env.strategies, rec.strategy) if asked else {}
        lines = plan.summary_lines(signals, rec, menu)
        section = self.section(Phase.STRATEGY)
        section.code(lambda: lines, title="Recommendation")
        self.say("\n".join(lines))
        self.flush()
        answer = self.asker.choose("Choose the deployment strategy:", menu) if asked else None
        choice = plan.choose(
            option=self.invocation.strategy, supported=env.strategies, default=env.default_strategy, env=env.name,
            answer=answer, asked=asked,
        )
        c.strategy, c.strategy_by = choice.strategy, f"{choice.by}; recommended {rec.strategy or 'none'}"
        section.table(
            ["Recommended", "Chosen", "Chosen by", "Supported here"],
            [[rec.strategy or "none", c.strategy, choice.by, ", ".join(env.strategies)]],
        )
        section.bullets(rec.reasons, title="Why this recommendation")
        if rec.strategy and c.strategy != rec.strategy:
            section.text(f"Chosen against the recommendation ({rec.strategy}).")
        self.say(f"strategy: {c.strategy} (chosen by {choice.by}; recommended {rec.strategy or 'none'})")
        self.update_header()
        self.flush()
        if c.strategy not in env.strategies:
            pytest.fail(f"strategy {c.strategy} is not supported by {env.name} (supported: {', '.join(env.strategies)})")
        if rec.forced and c.strategy != "manual":
            why = rec.conflict or rec.reasons[0]
            if not self.invocation.override_reason:
                pytest.fail(f"{why}; {c.strategy} was chosen ({choice.by}): choose manual, or pass --release-override-reason")
            self.state.override(f"strategy {c.strategy} instead of the manual release restrictions require: {self.invocation.override_reason}")
            section.text(f"**Override:** {c.strategy} instead of manual ({why}). Reason given: {self.invocation.override_reason}")
            self.flush()
        try:
            script_text = self.config.deploy_script.read_text(encoding="utf-8", errors="replace")
        except OSError:
            script_text = None  # phase 1 reports a missing script
        defect = plan.script_defect(c.strategy, script_text) if script_text is not None else None
        if defect:
            pytest.fail(f"deploy-script defect: {self.config.deploy_script} {defect}")

    def strategy_signals(self) -> Any:
        """What the recommendation rests on: the change summary's breaking changes, a restriction
        that forces manual, the environment's strategies."""
        from pytest_release.core import strategy as plan

        summary, error = self.strategy_change_summary()
        breaking = None
        if summary is not None:
            breaking = tuple(f"{c.subject} ({c.sha[:8]})" for c in summary.of_kind("breaking"))
        return plan.Signals(
            env=self.env.name, supported=self.env.strategies, default=self.env.default_strategy, breaking=breaking,
            commits=len(summary.commits) if summary is not None else 0, since=getattr(summary, "base", None),
            summary_error=error, manual_required=self.strategy_manual_restriction(),
        )

    def strategy_change_summary(self) -> tuple[Any, str | None]:
        """The pre-release gate's change summary when it left one, else read from git now."""
        for holder in (self.choices, self):
            summary = getattr(holder, "change_summary", None)
            if summary is not None and hasattr(summary, "of_kind"):
                return summary, None
        from pytest_release.adapters.git import DEFAULT_TICKET_PATTERN, change_summary

        changes = getattr(getattr(self.env, "gate", None), "changes", None)
        try:
            summary = change_summary(
                self.config.root,
                tag_pattern=getattr(changes, "tag_pattern", None) or "release/*",
                components=getattr(changes, "components", None) or None,
                ticket_pattern=getattr(changes, "ticket_pattern", None) or DEFAULT_TICKET_PATTERN,
            )
        except Exception as exc:  # no git, no repository, no history: the risk is unknown
            return None, str(exc)
        return summary, None

    def strategy_manual_restriction(self) -> str | None:
        """The line of restrictions.md that forces a manual release here (see strategy.py)."""
        from pytest_release.core.strategy import manual_required_by

        relative = getattr(getattr(self.env, "gate", None), "restrictions", None) or "_docs/00_problem/restrictions.md"
        try:
            text = (self.config.root / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return manual_required_by(text, self.env.name, self.env.kind)

    def strategy_deploy_args(self) -> list[str]:
        """The deploy script's arguments for the chosen strategy's first deploy (phase 3)."""
        from pytest_release.core.strategy import first_deploy_args

        return first_deploy_args(self.choices.strategy, [s.weight for s in self.env.canary.steps])

    def strategy_deploy_reaches_users(self, args: Sequence[str]) -> bool:
        from pytest_release.core.strategy import deploy_reaches_users

        return deploy_reaches_users(self.choices.strategy, args)

    def strategy_switch(self) -> None:
        """Blue-green: switch users to the idle side, which passed its smoke test."""
        from pytest_release.phases.bluegreen import switch

        __tracebackhide__ = True
        if self.choices.strategy == "blue-green":
            switch(self)

    def canary_step(self, step: Any) -> None:
        """One canary step in phase 5 (its traffic, then its analysis); nothing for other strategies."""
        from pytest_release.phases.canary import run_step

        __tracebackhide__ = True
        if self.choices.strategy == "canary":
            run_step(self, step)

    def measure_baseline(self) -> None:
        from pytest_release.metrics.window import measure_baseline

        w = self.env.watch
        self.say(f"measuring the baseline of the serving version for {w.baseline:g}s")
        baseline = measure_baseline(self.metrics(), self.clock, w.baseline, historical=self.historical_metrics, traffic=self.traffic())
        self.choices.baseline = baseline
        self.section(Phase.EXECUTE).table(
            ["Metric", "Baseline"],
            [[name, "no data" if value is None else f"{value:.6g}"] for name, value in sorted(baseline.items())],
            title=f"Baseline over {w.baseline:g}s before the deploy",
        )
        self.flush()

    def require_live_go_ahead(self) -> None:
        if not self.state.may_touch_live_system():
            pytest.skip("not touching the live system: an earlier check did not pass")

    def deploy(
        self,
        extra_args: Sequence[str] = (),
        *,
        section: Section | None = None,
        log_suffix: str = "_deploy.log",
        label: str | None = None,
    ) -> ScriptResult:
        """`deploy.sh --env ENV --version VERSION --strategy STRATEGY [extra_args...]`.

        A strategy with steps calls this once per step with that step's documented arguments
        (`extra_args=["--canary-weight", "5"]`), and may give each step its own report `section`,
        side-log `log_suffix` (like "_deploy_canary-5.log") and output block `label`."""
        if isinstance(extra_args, (str, bytes)):
            raise TypeError("extra_args is a sequence of arguments, like ['--canary-weight', '5'], not one string")
        extra = [str(arg) for arg in extra_args] or self.strategy_deploy_args()  # none given: the strategy's first step
        if not log_suffix.endswith(".log") or "/" in log_suffix or "\\" in log_suffix:
            raise ValueError(f"log_suffix names a file beside the report, like '_deploy_canary-5.log', got {log_suffix!r}")
        c = self.choices
        steps = f" {' '.join(extra)}" if extra else ""
        self.say(f"deploying {self.invocation.version} to {self.env.name} ({c.strategy}{steps}); rollback target {c.rollback_target}")
        first = self.state.live_touched_at is None
        if self.strategy_deploy_reaches_users(extra):  # blue-green deploys to the idle side: users see nothing yet
            self.state.touch_live_system(self.clock.now())
        if first:
            self.pytest_config.hook.pytest_release_notify(release=self, event="started", detail=f"deploying {self.invocation.version}")
        argv = self.deploy_argv("--version", self.invocation.version, "--strategy", c.strategy, *extra)
        return self.run_deploy_script(argv, section or self.section(Phase.EXECUTE), self.report, log_suffix, label=label)

    def smoke_result(self, name: str) -> Any:
        """One configured smoke case's result. Every case starts (concurrently) on the first call;
        pytest-timeout interrupts the wait when the phase budget runs out."""
        from pytest_release.adapters.smoke import SmokeRunner
        from pytest_release.core.smoke_plan import target

        smoke = self.env.smoke
        runner = getattr(self, "_smoke_runner", None)
        if runner is None:
            url, why = target(smoke, self.choices.strategy)
            runner = self._smoke_runner = SmokeRunner(url, smoke.endpoints, concurrency=smoke.concurrency, request_timeout=smoke.request_timeout)
            section = self.section(Phase.SMOKE)
            section.text(
                f"{len(smoke.endpoints)} configured case(s) against {url} ({why}), {smoke.concurrency} at a time, "
                f"within the phase budget of {analysis.format_elapsed(smoke.budget)[2:]}."
            )
            self._smoke_table = section.table(["Case", "Request", "Status", "Result", "Time"])
        endpoint = runner.endpoints[name]
        try:
            result = runner.result(name)
        except pytest.fail.Exception as exc:  # pytest-timeout: the phase budget ran out during this wait
            self._smoke_table.rows.append([name, f"{endpoint.method} {endpoint.path}", "", "FAILED: the phase budget ran out", ""])
            self.smoke_stop()
            self.flush()
            pytest.fail(f"Timeout: the smoke phase budget of {analysis.format_elapsed(smoke.budget)[2:]} ran out waiting for {name} ({exc})")
        self._smoke_table.rows.append(
            [result.name, f"{result.method} {result.path}", result.status, "passed" if result.ok else f"FAILED: {result.problem}", f"{result.elapsed:.2f}s"]
        )
        if not result.ok and self.choices.strategy == "blue-green" and self.state.live_touched_at is None:
            self.smoke_note_idle_side()
        if runner.all_handed_out:
            self.smoke_stop()
        self.flush()
        return result

    def smoke_note_idle_side(self) -> None:
        """Blue-green, a smoke failure before the switch: say once what serves whom."""
        if getattr(self, "_smoke_idle_noted", False):
            return
        self._smoke_idle_noted = True
        text = (
            f"The idle side runs {self.invocation.version} and failed its smoke test before the switch: users were never "
            f"switched and stay on {self.choices.rollback_target or 'the live side'}; nothing needs rolling back. "
            "The idle side keeps the failed version for investigation until the next deploy replaces it."
        )
        self.section(Phase.SMOKE).text(f"**Blue-green, before the switch:** {text}")
        self.say(f"blue-green: {text}")

    def smoke_stop(self) -> None:
        runner = getattr(self, "_smoke_runner", None)
        if runner is not None:
            runner.close()

    def smoke_base_url(self) -> str:
        """Where smoke tests go now: the idle side before a blue-green switch, a canary's own
        address, else the environment's. For the project's own release_phase('smoke') tests."""
        from pytest_release.core.smoke_plan import target

        return target(self.env.smoke, self.choices.strategy)[0]

    def smoke_apply_budget(self, item: pytest.Item) -> None:
        """Give a smoke item's pytest-timeout (signal method) what is left of the phase budget,
        or its own timeout marker's value if that is shorter. The budget starts with the first."""
        from pytest_release.adapters.smoke import SmokeBudget

        budget = getattr(self, "_smoke_budget", None)
        if budget is None:
            budget = self._smoke_budget = SmokeBudget(self.env.smoke.budget)
        own = item.get_closest_marker("timeout")
        value = (own.args[0] if own.args else own.kwargs.get("timeout")) if own is not None else None
        try:
            seconds = float(value) if value is not None else None
        except (TypeError, ValueError):
            seconds = None  # pytest-timeout reports a bad marker itself
        item.add_marker(pytest.mark.timeout(budget.timeout_for(seconds), method="signal"), append=False)

    def smoke_check_budget(self) -> None:
        budget = getattr(self, "_smoke_budget", None)
        if budget is not None and budget.exhausted():
            self.smoke_stop()
            pytest.fail(f"Timeout: the smoke phase budget of {analysis.format_elapsed(budget.seconds)[2:]} ran out before this case started")

    def smoke_leftover(self, topic: str, text: str) -> Path:
        """A leftover entry (once per topic per release) under _docs/_process_leftovers/."""
        from pytest_release.adapters.leftovers import write_leftover

        written = self.__dict__.setdefault("_smoke_leftovers", {})
        if topic not in written:
            written[topic] = write_leftover(self.config.root, topic, text, now=self.clock.now(), redact=self.redactor.redact)
            self.say(f"leftover entry: {written[topic]}")
        return written[topic]

    def smoke_note_missing(self) -> None:
        """No smoke case at all for this environment: the leftover entry is written as the session
        starts, since the gate (phase 1) then stops the release before phase 2 could."""
        from pytest_release.core.smoke_plan import leftover_missing

        if self.smoke_case_names() or self.commit_standalone():
            return
        path = self.smoke_leftover(f"smoke tests missing for {self.env.name}", leftover_missing(self.env.name, self.env.kind))
        self.section(Phase.GATE).text(f"**Smoke tests missing** for {self.env.name}: leftover entry `{path}`.")
        self.flush()

    def smoke_check_plan(self) -> None:
        """Phase 2, before anything is deployed: smoke cases exist, production writes are safe, the
        catalogue covers every endpoint's read and write (a warning or, with coverage: fail, a stop)."""
        from pytest_release.core.smoke_plan import (
            leftover_missing,
            leftover_unsafe,
            review,
        )

        __tracebackhide__ = True
        env, smoke = self.env, self.env.smoke
        if not self.smoke_case_names():
            path = self.smoke_leftover(f"smoke tests missing for {env.name}", leftover_missing(env.name, env.kind))
            pytest.fail(f"smoke tests missing for {env.name}: Aborted before anything was deployed; leftover entry {path}")
        plan = review(smoke, strategy=self.choices.strategy, production=env.production)
        section = self.section(Phase.STRATEGY)
        account = smoke.test_account.name if smoke.test_account else "none"
        own = len(self.smoke_user_cases)
        section.table(
            ["Smoke plan", ""],
            [
                ["Target", f"{plan.target} ({plan.target_why})" if smoke.endpoints else "the project's own tests decide"],
                ["Cases", f"{len(smoke.endpoints)} configured, {own} of the project's own (release_phase('smoke'))"],
                ["Concurrency", smoke.concurrency],
                ["Phase budget", analysis.format_elapsed(smoke.budget)[2:]],
                ["Test account", account],
            ],
        )
        if plan.notes:
            section.bullets(plan.notes, title="Smoke notes")
            for note in plan.notes:
                self.say(f"smoke: {note}")
        problems = []
        if plan.gaps:
            section.bullets(plan.gaps, title=f"Smoke coverage gaps (smoke.coverage: {smoke.coverage})")
            for gap in plan.gaps:
                self.say(f"smoke coverage {'gap' if smoke.coverage == 'fail' else 'warning'}: {gap}")
            if smoke.coverage == "fail":
                problems.append("smoke coverage incomplete: " + "; ".join(plan.gaps))
        if plan.unsafe:
            section.bullets(plan.unsafe, title="Unsafe production smoke writes")
            path = self.smoke_leftover(f"unsafe production smoke tests for {env.name}", leftover_unsafe(env.name, plan.unsafe))
            problems.append(
                "production smoke tests would write without a test account or test-data marker: "
                + "; ".join(plan.unsafe) + f"; leftover entry {path}"
            )
        self.flush()
        if problems:
            pytest.fail("; ".join(problems))

    def watch(self) -> Any:
        """Phase 5: poll the metrics against the baseline for the window, recording every poll;
        a hard breach ends it at once, a soft one asks (see `_answer_soft_breach`)."""
        from pytest_release.metrics.window import WatchOutcome, WatchWindow
        from pytest_release.phases.rollback import health_check_for
        from pytest_release.report.watch import WatchRecorder, duration_words

        w = self.env.watch
        section = self.section(Phase.WATCH)
        if self.pytest_config.getoption("release_skip_watch", None):
            reason = self.invocation.override_reason or ""
            section.status = "skipped by override"
            section.text(
                f"**The watch window was SKIPPED by override.** Reason given: {reason}. The verdict is "
                "Released-with-override and an incident retrospective is written."
            )
            self.state.override(f"watch window skipped (--release-skip-watch): {reason}")
            self.say(f"watch window SKIPPED by override: {reason}")
            self.flush()
            return WatchOutcome("skipped", None, notes=[f"skipped by override: {reason}"])
        policy = self.policy()
        recorder = WatchRecorder(
            section=section, policy=policy, baseline=self.choices.baseline, duration=w.duration, interval=w.interval,
            chart_path=lambda metric: self.paths.side_file(f"_{metric}.svg"), say=self.say, flush=self.flush,
            now=self.clock.now, baseline_seconds=w.baseline,
        )
        self.say(f"watching {self.env.name} for {duration_words(w.duration)} (a poll every {duration_words(w.interval)})")
        self.flush()
        window = WatchWindow(
            provider=self.metrics(), policy=policy, baseline=self.choices.baseline, clock=self.clock,
            duration=w.duration, interval=w.interval, historical=self.historical_metrics, traffic=self.traffic(),
            health=health_check_for(self), on_poll=recorder.on_poll,
            on_soft=lambda decision: self._answer_soft_breach(decision, section),
        )
        outcome = window.run()
        if outcome.notes:
            section.bullets(outcome.notes, title="Notes")
        if outcome.extended_by:
            section.text(f"The window was extended by {duration_words(outcome.extended_by)} to {duration_words(window.total)}.")
        self.flush()
        return outcome

    def _answer_soft_breach(self, decision: analysis.WatchDecision, section: Section) -> Any:
        """The runbook's escalation: continue, roll back, or extend by N minutes. Answered by
        --release-on-soft-breach, else watch.on_soft_breach, else a person at a terminal; with
        none of them the release rolls back, and the report says why."""
        from pytest_release.config import parse_duration, parse_soft_breach_answer
        from pytest_release.metrics.window import SoftAnswer
        from pytest_release.report.watch import duration_words

        w = self.env.watch
        section.text(f"**Soft breach at {analysis.format_elapsed(decision.elapsed or 0.0)}: escalated** (the findings are under Decisions).")
        self.flush()
        answer, by = self.invocation.on_soft_breach, f"--release-on-soft-breach={self.invocation.on_soft_breach}"
        if answer is None and w.on_soft_breach is not None:
            answer, by = w.on_soft_breach, f"environments.{self.env.name}.watch.on_soft_breach={w.on_soft_breach}"
        if answer is None:
            letter = self.asker.choose(
                "SOFT BREACH in the watch window:\n  " + "\n  ".join(decision.reasons),
                {"A": "Continue watch: accept the drift, keep polling", "B": "Roll back now", "C": "Extend the watch window by N minutes"},
            )
            if letter is not None:
                by = "a person at the terminal"
                answer = {"A": "continue", "B": "rollback"}.get(letter)
                if letter == "C":
                    text = self.asker.text("Extend by how long? (like 5m or 90s; empty for 5m)")
                    try:
                        seconds = parse_duration(text or "5m")
                    except ValueError:
                        self.say(f"{text!r} is not a duration like 5m or 90s: extending by 5m")
                        seconds = 300.0
                    answer = f"extend:{seconds:g}s"
        if answer is None:
            nobody = "CI is set" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "no terminal"
            why = (
                f"nobody could be asked ({nobody}) and neither --release-on-soft-breach nor watch.on_soft_breach "
                "gives an answer: rolling back, the safe default"
            )
            section.text(f"**Soft breach not answered:** {why}.")
            self.say(f"soft breach not answered: {why}")
            self.flush()
            return SoftAnswer("rollback", 0.0, f"no answer: {why}")
        action, seconds = parse_soft_breach_answer(answer)
        words = {"continue": "A) continue: drift accepted", "rollback": "B) roll back now", "extend": f"C) extend the window by {duration_words(seconds)}"}[action]
        section.text(f"**Soft breach answered:** {words} (by {by}).")
        self.say(f"soft breach answered: {words} (by {by})")
        self.flush()
        return SoftAnswer(action, seconds, f"answered {action} by {by}")

    def roll_back(self) -> tuple[bool, str]:
        from pytest_release.phases.rollback import roll_back

        chain = self.state.triggers or [f"session interrupted: {self.state.interrupted}"]
        return roll_back(self, chain[0])

    def commit(self) -> None:
        """Path A: record Released, then move the tickets, tag and record the cycle retrospective."""
        self.state.commit()
        self.section(Phase.COMMIT).text(f"**Released** {self.invocation.version} to {self.env.name}.")
        self.flush()
        self.commit_bookkeeping()
