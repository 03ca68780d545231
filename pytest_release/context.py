"""The release in progress, as the phase modules see it (the `release` fixture).

It ties the pure state machine to its I/O: the report on disk, the terminal, the deploy script,
the metrics backend. Phase modules call it in the runbook's order; it holds no decisions of its own
beyond wiring (those live in release, analysis and gate)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest

from . import analysis
from .clock import Clock
from .config import Config, Environment
from .deploy import OutputLog, ScriptResult, run_script
from .envfile import parse_env_file
from .invocation import Invocation
from .metrics import MetricsProvider
from .prompt import Asker
from .redact import Redactor
from .release import Phase, Release, Verdict
from .report import Autoflush, MarkdownReport, Section, claim_report_paths, timestamp
from .traffic import TrafficGenerator


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
        self.redactor = Redactor.from_environment(self.env_values, os.environ)
        self.choices = Choices(
            strategy=invocation.strategy or self.env.default_strategy,
            strategy_by="--release-strategy" if invocation.strategy else f"default of environment {self.env.name}",
            rollback_target=invocation.rollback_to,
            rollback_target_source="--release-rollback-to" if invocation.rollback_to else "not yet known",
        )
        self.rollback_report: MarkdownReport | None = None
        self.asker = Asker(pytest_config, lambda text: write_line(text.rstrip("\n")))
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

    def run_deploy_script(self, argv: Sequence[str], section: Section, report: MarkdownReport, log_suffix: str) -> ScriptResult:
        """Run the deploy script, streaming each timestamped line into `section` as it comes."""
        settings = self.env.deploy
        log = OutputLog(head=settings.output_head, tail=settings.output_tail, side_file=self.paths.side_file(log_suffix))
        section.text(f"`{' '.join(argv)}` (full output: `{log.side_file.name if log.side_file else '-'}`)")
        section.code(log.render_lines, title="Output")
        report.flush()

        def on_line(line: str) -> None:
            with report.lock:
                log.add(line)

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
        log.close()
        section.table(
            ["Exit code", "Outcome", "Lines", "Duration"],
            [[result.exit_code, result.outcome, result.lines, f"{(result.finished - result.started).total_seconds():.1f}s"]],
        )
        if result.process_snapshot:
            section.code(lambda: result.process_snapshot.splitlines(), title="Processes when the script was stopped")
        if result.error:
            section.text(f"Error: {result.error}")
        report.flush()
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
        settings = self.env.metrics
        if not settings.url:
            raise pytest.UsageError(f"{self.config.path}: environments.{self.env.name}.metrics.url is required")
        from .metrics.promql import MetricNames, default_queries

        names = MetricNames(**settings.names)
        if settings.provider == "scrape":
            from .metrics.scrape import ScrapeProvider

            return ScrapeProvider(settings.url, names, timeout=settings.timeout, clock=self.clock)
        from .metrics.prometheus import PrometheusProvider

        queries = default_queries(names)
        queries.update(settings.queries)
        token = os.environ.get(settings.bearer_token_env) if settings.bearer_token_env else None
        basic = None
        if settings.basic_auth_env:
            user_var, password_var = settings.basic_auth_env
            basic = (os.environ.get(user_var, ""), os.environ.get(password_var, ""))
        return PrometheusProvider(
            settings.url, queries, timeout=settings.timeout, bearer_token=token, basic_auth=basic,
            verify_tls=settings.verify_tls,
        )

    def traffic(self) -> TrafficGenerator | None:
        if self.env.traffic is None or not self.env.smoke.base_url:
            return None
        if self._traffic is None:
            self._traffic = TrafficGenerator(self.env.smoke.base_url, self.env.traffic, self.clock)
        return self._traffic

    def policy(self) -> analysis.WatchPolicy:
        w = self.env.watch
        rules = tuple(
            analysis.MetricRule(name=r.name, direction=r.direction, soft=r.soft, hard=r.hard, floor=r.floor)
            for r in w.rules
        )
        return analysis.WatchPolicy(
            rules=rules, no_data_after=w.no_data_after, min_requests=w.min_requests,
            health_failures_hard=w.health_failures_hard,
        )

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
        """Render the verdict into the report for the last time and return it."""
        verdict = self.state.verdict()
        chain = self.state.reason_chain()
        summary = []
        for phase in Phase:
            section = self.report.sections.get(phase.value)
            checks = [c for c in self.state.checks if c.phase is phase]
            summary.append(
                {
                    "phase": f"{phase.number}. {phase.title}",
                    "status": section.status if section else "not run",
                    "started": timestamp(section.started) if section and section.started else "",
                    "finished": timestamp(section.finished) if section and section.finished else "",
                    "checks": f"{sum(c.outcome.value == 'passed' for c in checks)}/{len(checks)} passed" if checks else "",
                }
            )
        self.report.extra.update(
            verdict=verdict.value,
            headline_reason="" if verdict in (Verdict.RELEASED, Verdict.RELEASED_WITH_OVERRIDE) else chain[0],
            exit_code=verdict.exit_code,
            finished=timestamp(self.clock.now()),
            reason_chain=chain,
            summary=summary,
        )
        context: dict[str, Any] = {"sections": []}
        hook.pytest_release_report_context(release=self, context=context)
        self.report.extra_sections = [(str(t), str(b)) for t, b in context["sections"]]
        self.flush()
        return verdict

    # --- what the phases do ----------------------------------------------------------------
    current_phase: Phase = Phase.GATE
    smoke_user_cases: tuple[str, ...] = ()

    def section_note(self, title: str, text: str) -> None:
        self.section(self.current_phase).text(f"**{title}:** {text}")
        self.flush()

    def discover_current_version(self, url: str) -> str:
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
        from .invocation import InvocationError, check_version

        try:
            return check_version(value, f"the version reported by {url}")
        except InvocationError as exc:
            pytest.fail(f"no rollback target: {exc}")

    def smoke_case_names(self) -> list[str]:
        return [e.name for e in self.env.smoke.endpoints] + list(self.smoke_user_cases)

    def decide_gate(self) -> None:
        """The runbook's A/B/C: proceed, abort, or edit the scope."""
        c = self.choices
        lines = [
            f"Target env:      {self.env.name} ({self.env.kind})",
            f"Target version:  {self.invocation.version}" + (f" ({c.git_sha[:12]})" if c.git_sha else ""),
            f"Rollback target: {c.rollback_target}",
            f"Strategy:        {c.strategy}",
            "Blocking issues: none",
        ]
        self.say("PRE-RELEASE GATE\n  " + "\n  ".join(lines))
        section = self.section(Phase.GATE)
        section.code(lambda: lines, title="Gate summary")
        if self.invocation.confirm:
            answer, by = "A", "--release-confirm"
        elif self.env.auto_proceed:
            answer, by = "A", f"environments.{self.env.name}.auto_proceed (no blocking finding)"
        else:
            answer = self.asker.choose(
                "Pre-release gate:", {"A": "Proceed to strategy select", "B": "Abort: fix the blocking issue and re-invoke"}
            )
            by = "a person at the terminal"
        if answer is None:
            pytest.fail(
                "the pre-release gate needs a decision and nobody can be asked here: pass --release-confirm to proceed"
            )
        section.text(f"**Decision:** {'A) proceed' if answer == 'A' else 'B) abort'} (by {by}).")
        self.flush()
        if answer != "A":
            pytest.fail(f"aborted at the pre-release gate by {by}")

    def select_strategy(self) -> None:
        c = self.choices
        if c.strategy not in self.env.strategies:
            pytest.fail(f"strategy {c.strategy} is not supported by {self.env.name} (supported: {', '.join(self.env.strategies)})")
        self.section(Phase.STRATEGY).table(
            ["Chosen", "By", "Supported here"], [[c.strategy, c.strategy_by, ", ".join(self.env.strategies)]]
        )
        self.update_header()
        self.flush()

    def measure_baseline(self) -> None:
        from .watch import measure_baseline

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

    def deploy(self) -> ScriptResult:
        c = self.choices
        self.say(f"deploying {self.invocation.version} to {self.env.name} ({c.strategy}); rollback target {c.rollback_target}")
        self.state.touch_live_system(self.clock.now())
        self.pytest_config.hook.pytest_release_notify(release=self, event="started", detail=f"deploying {self.invocation.version}")
        argv = self.deploy_argv("--version", self.invocation.version, "--strategy", c.strategy)
        return self.run_deploy_script(argv, self.section(Phase.EXECUTE), self.report, "_deploy.log")

    def smoke_result(self, name: str) -> Any:
        from .smoke import SmokeRunner

        runner = getattr(self, "_smoke_runner", None)
        if runner is None:
            smoke = self.env.smoke
            runner = self._smoke_runner = SmokeRunner(
                smoke.base_url or "", smoke.endpoints, concurrency=smoke.concurrency, request_timeout=smoke.request_timeout
            )
            self._smoke_table = self.section(Phase.SMOKE).table(["Case", "Request", "Status", "Result", "Time"])
        result = runner.result(name)
        self._smoke_table.rows.append(
            [result.name, f"{result.method} {result.path}", result.status, "passed" if result.ok else f"FAILED: {result.problem}", f"{result.elapsed:.2f}s"]
        )
        self.flush()
        return result

    def watch(self) -> Any:
        from .config import parse_soft_breach_answer
        from .rollback import format_readings, health_check_for
        from .watch import WatchWindow

        w = self.env.watch
        section = self.section(Phase.WATCH)
        section.text(f"Window {w.duration:g}s, a poll every {w.interval:g}s, judged against the baseline recorded before the deploy.")
        rows = section.table(["T+", "Status", "Readings"])
        self.say(f"watching {self.env.name} for {w.duration:g}s (a poll every {w.interval:g}s)")

        def on_poll(poll: analysis.Poll, decision: analysis.WatchDecision, remaining: float) -> None:
            rows.rows.append([analysis.format_elapsed(poll.elapsed), decision.status.value, format_readings(decision)])
            self.say(f"watch T+{poll.elapsed:.0f}s, {remaining:.0f}s left: {analysis.summarize(decision)}")
            self.flush()

        def on_soft(decision: analysis.WatchDecision) -> tuple[str, float]:
            section.bullets(decision.reasons, title="Soft breach")
            answer = self.invocation.on_soft_breach or w.on_soft_breach
            by = "--release-on-soft-breach" if self.invocation.on_soft_breach else "watch.on_soft_breach"
            if answer is None:
                letter = self.asker.choose(
                    "Soft breach: " + "; ".join(decision.reasons),
                    {"A": "Continue watch (accept the drift)", "B": "Roll back now", "C": "Extend the window by one window length"},
                )
                by = "a person at the terminal"
                answer = {"A": "continue", "B": "rollback", "C": f"extend:{w.duration:g}s"}.get(letter or "", None)
            if answer is None:
                section.text("Nobody could be asked and no --release-on-soft-breach was given: rolling back.")
                self.flush()
                return "rollback", 0.0
            action, seconds = parse_soft_breach_answer(answer)
            section.text(f"**Soft breach answered:** {action} (by {by}).")
            self.flush()
            return action, seconds

        window = WatchWindow(
            provider=self.metrics(), policy=self.policy(), baseline=self.choices.baseline, clock=self.clock,
            duration=w.duration, interval=w.interval, historical=self.historical_metrics, traffic=self.traffic(),
            health=health_check_for(self), on_poll=on_poll, on_soft=on_soft,
        )
        outcome = window.run()
        if outcome.notes:
            section.bullets(outcome.notes, title="Notes")
        self.flush()
        return outcome

    def roll_back(self) -> tuple[bool, str]:
        from .rollback import roll_back

        chain = self.state.triggers or [f"session interrupted: {self.state.interrupted}"]
        return roll_back(self, chain[0])

    def commit(self) -> None:
        self.state.commit()
        self.section(Phase.COMMIT).text(f"**Released** {self.invocation.version} to {self.env.name}.")
        self.flush()
