"""The release in progress as the phases see it (the `release` fixture): only what they share.

The report and the terminal, the redacted secrets, the deploy script, the metrics backend, the
traffic generator and the clock, with what was decided so far (`choices`) and the state machine
(`state`). Each phase's own steps live in pytest_release.phases; a phase's own state is kept in
`stash` under a key its module declares, so no module adds attributes to this object."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pytest
import requests

from pytest_release.adapters.deploy import (
    OutputLog,
    ScriptResult,
    interrupted_result,
    run_script,
)
from pytest_release.adapters.envfile import parse_env_file
from pytest_release.adapters.git import ChangeSummary, GitError, change_summary
from pytest_release.adapters.lock import EnvLock
from pytest_release.adapters.notify import notify_secrets
from pytest_release.adapters.prompt import Asker
from pytest_release.adapters.signals import InterruptGate
from pytest_release.adapters.traffic import TrafficGenerator
from pytest_release.clock import Clock
from pytest_release.config import Config, Environment
from pytest_release.core import judge as analysis
from pytest_release.core.durations import parse_duration
from pytest_release.core.escalation import settle_soft_breach
from pytest_release.core.redact import Redactor
from pytest_release.core.release import Phase, Release, Verdict
from pytest_release.core.smoke_plan import target as smoke_target
from pytest_release.core.strategy import deploy_reaches_users, first_deploy_args
from pytest_release.core.tags import previous_release_glob
from pytest_release.adapters.alerts import ALERTS_BEFORE, AlertSource, make_alert_source
from pytest_release.metrics import MetricsProvider
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.window import HealthCheck, SoftAnswer, watch_policy
from pytest_release.options import Invocation, InvocationError, check_version
from pytest_release.report.document import (
    Autoflush,
    MarkdownReport,
    Section,
    claim_report_paths,
    timestamp,
)
from pytest_release.report.watch import duration_words


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
    tickets: tuple[str, ...] | None = None  # the gate's scope after exclusions (None: not read)
    excluded_tickets: Mapping[str, str] = field(default_factory=dict)  # key -> who excluded it
    change_summary: ChangeSummary | None = None  # the gate's, for phases 2 and 6

class ServingUnknown(Exception):
    """The serving version cannot be told: `args[0]` says why in full, `short` in a few words."""

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short


class ReleaseContext:
    paths: Paths  # set by open_report, before any phase runs
    report: MarkdownReport
    rollback_report: MarkdownReport | None  # once a rollback runs

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
        self._alerts: AlertSource | None = None
        self._changes: tuple[ChangeSummary | None, str | None] | None = None
        self.current_phase = Phase.GATE
        self.smoke_user_cases: tuple[str, ...] = ()  # the project's own release_phase("smoke") tests
        self.stash = pytest.Stash()  # each phase's own state, under keys its module declares
        self.record_lost: str | None = None  # why the report could not be written, once it could not
        self.interrupts = InterruptGate(self._interrupted_by, self._signal_noted)
        self.env_lock: EnvLock | None = None  # the environment's lock, once the session holds it

    def hold_lock(self, lock: EnvLock) -> None:
        """The session took the environment's lock: each deploy script's session is recorded in it."""
        self.env_lock = lock

    def open_report(self) -> None:
        """Claim the report's file name and write its header: the first thing on disk, once the
        session is known to be runnable (a usage error leaves no report behind)."""
        report_path, rollback_path = claim_report_paths(
            self.config.release_dir, self.invocation.version, self.invocation.env, self.started_at
        )
        self.paths = Paths(report_path, rollback_path)
        self.report = self.new_report(report_path, "release-report.md.j2")
        self.report.extra.update(env=self.invocation.env, version=self.invocation.version)
        self.update_header()
        self.report.flush()
        self.say(f"release report: {report_path}")

    def __repr__(self) -> str:
        return f"<release {self.invocation.version} to {self.invocation.env}>"

    # --- the report and the terminal -------------------------------------------------------

    def _configured_credentials(self) -> dict[str, str]:
        """Values of the variables release.yaml names as credentials: secret whatever their name."""
        metrics = self.env.metrics
        names = [metrics.bearer_token_env, *(metrics.basic_auth_env or ()), self.env.annotations and self.env.annotations.token_env]
        alerts = self.env.watch.alerts
        if alerts is not None:  # watch.alerts' credentials, and its header values (an auth header)
            names += [alerts.bearer_token_env, *(alerts.basic_auth_env or ())]
        found = {name: os.environ[name] for name in names if name and os.environ.get(name)}
        if alerts is not None:
            for key, value in alerts.headers.items():  # "Bearer TOKEN": the value and the token
                found.update({f"watch.alerts.headers.{key}": value, f"watch.alerts.headers.{key}.last": value.split()[-1] if value.split() else value})
        return {**found, **notify_secrets(self.env.notify)}  # webhook URLs are secrets too

    def _read_env_values(self) -> dict[str, str]:
        try:
            return parse_env_file(self.config.env_file)
        except Exception:  # reported by the env-file check in phase 3; redact what can be read
            return {}

    def new_report(self, path: Path, template: str) -> MarkdownReport:
        """A report of this release (the release report, the rollback report): redacted, and
        never stopping the release when the disk refuses a write."""
        return MarkdownReport(path, template, self.redactor.redact, on_write_error=self._report_not_written)

    def _report_not_written(self, path: Path, exc: OSError) -> None:
        """A report write failed (ENOSPC, EROFS, EACCES, EIO): the release goes on, the rollback
        included; the failure is said once per file and cause, and the record is incomplete."""
        problem = f"{path.name} could not be written: {exc.strerror or exc}"
        if problem in self.state.incomplete:
            return
        self.state.incomplete.append(problem)
        self.record_lost = self.record_lost or f"the release report could not be written: {problem}"
        # The audit trail is part of the release: without it, nothing more is deployed. Before
        # the live change that is an abort; after it, a rollback (which goes on writing blind).
        state = self.state
        if state.rollback_started_at is None:
            if state.live_touched_at is None:
                state.abort(f"the release report could not be written: {problem}")
            else:
                state.trigger_rollback(f"the release report could not be written: {problem}")
        self._write_line(self.redactor.redact(
            f"REPORT NOT WRITTEN: {problem}; the verdict is in this terminal, the JUnit XML and the exit status"
        ))

    def _interrupted_by(self, name: str) -> None:
        if name == "SIGTERM":  # Ctrl-C is recorded by the session's pytest_keyboard_interrupt
            self.state.interrupt("SIGTERM received (job cancelled?)")

    def _signal_noted(self, name: str, held: bool) -> None:
        what = "the rollback and the verdict" if self.state.rollback_started_at is not None else "the verdict"
        self.say(f"signal {name} received during the rollback: finishing the rollback first" if held and self.state.rollback_started_at is not None
                 else f"signal {name} received again: finishing {what} first")
        if held and self.state.rollback_started_at is not None and self.state.rollback_result is None:
            self.state.incomplete.append(f"{name} received during the rollback")

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
                "Metrics": self.metrics_settings(),
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
        settings = self.env.deploy
        log = OutputLog(head=settings.output_head, tail=settings.output_tail, side_file=self.paths.side_file(log_suffix))
        section.text(f"`{' '.join(argv)}` (full output: `{log.side_file.name if log.side_file else '-'}`)")
        section.code(log.render_lines, title=f"Output ({label})" if label else "Output")
        report.flush()

        def on_line(line: str) -> None:
            with report.lock:
                log.add(line)

        def on_start(pid: int) -> None:  # a later release must not deploy while this script runs
            if self.env_lock is not None:
                try:
                    self.env_lock.record_deploy(pid, self.redactor.redact(" ".join(argv)))
                except OSError as exc:
                    with report.lock:
                        section.text(f"The deploy script's session (pid {pid}) could not be recorded in the release lock: {exc}")

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
                    on_start=on_start,
                )
        except BaseException as exc:
            partial = interrupted_result(exc)
            if partial is not None:
                record(partial)
            raise
        finally:
            log.close()
            if self.env_lock is not None:
                try:  # ended, or its group stopped: nothing left to wait for
                    self.env_lock.clear_deploy()
                except OSError:
                    pass
        record(result)
        return result

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
        extra = [str(arg) for arg in extra_args] or first_deploy_args(self.choices.strategy, [s.weight for s in self.env.canary.steps])  # none given: the strategy's first step
        if not log_suffix.endswith(".log") or "/" in log_suffix or "\\" in log_suffix:
            raise ValueError(f"log_suffix names a file beside the report, like '_deploy_canary-5.log', got {log_suffix!r}")
        c = self.choices
        steps = f" {' '.join(extra)}" if extra else ""
        self.say(f"deploying {self.invocation.version} to {self.env.name} ({c.strategy}{steps}); rollback target {c.rollback_target}")
        first = self.state.live_touched_at is None
        if deploy_reaches_users(self.choices.strategy, extra):  # blue-green deploys to the idle side: users see nothing yet
            self.state.touch_live_system(self.clock.now())
        if first:
            self.pytest_config.hook.pytest_release_notify(release=self, event="started", detail=f"deploying {self.invocation.version}")
        argv = self.deploy_argv("--version", self.invocation.version, "--strategy", c.strategy, *extra)
        return self.run_deploy_script(argv, section or self.section(Phase.EXECUTE), self.report, log_suffix, label=label)

    # --- observability ---------------------------------------------------------------------
    @property
    def historical_metrics(self) -> bool:
        return self.env.metrics.provider != "scrape"

    def metrics(self) -> MetricsProvider:
        if self._provider is None:
            self._provider = self._make_provider()
        return self._provider

    def metrics_settings(self) -> str:
        """The backend as the judge sees it (flavour, detected or configured, the query settings in
        effect, when a sample is stale), for the report header; until phase 1 asked it, the URL."""
        line = getattr(self._provider, "settings_line", None)
        return line() if callable(line) else f"{self.env.metrics.provider} at {self.env.metrics.url or 'the smoke base URL'}"

    def _make_provider(self) -> MetricsProvider:
        return make_provider(self.env, config_path=self.config.path, clock=self.clock)

    def traffic(self) -> TrafficGenerator | None:
        if self.env.traffic is None or not self.env.smoke.base_url:
            return None
        if self._traffic is None:
            self._traffic = TrafficGenerator(self.env.smoke.base_url, self.env.traffic, self.clock)
        return self._traffic

    def policy(self) -> analysis.WatchPolicy:
        before = self.stash.get(ALERTS_BEFORE, None)  # phase 1's read (phases.gate.read_alerts_before)
        return watch_policy(self.env.watch, before.firing if before is not None else ())

    def alerts(self) -> AlertSource | None:
        """watch.alerts' source (Alertmanager or ALERTS), read once per poll of every watch; None
        when alerts are not configured."""
        if self._alerts is None and self.env.watch.alerts is not None:
            self._alerts = make_alert_source(self.env)
        return self._alerts

    def health_check(self) -> HealthCheck | None:
        """scripts/health-check.sh, run once per poll of any watch (the window, a canary step, the
        rollback's verification); None when the environment turns it off or has no script."""
        if not self.env.watch.health_check or not self.config.health_script.exists():
            return None
        return HealthCheck(
            [str(self.config.health_script), "--env", self.env.name], cwd=self.config.root,
            env=self.script_env(), timeout=self.env.watch.health_timeout,
        )

    def close(self) -> None:
        for resource in (self._traffic, self._provider, self._alerts):
            if resource is not None:
                try:
                    resource.close()
                except Exception:
                    pass
        self._traffic = self._provider = None
        self._alerts = None

    # --- a soft breach, escalated -----------------------------------------------------------
    def escalate(self, decision: analysis.WatchDecision, section: Section) -> SoftAnswer:
        """The runbook's escalation of a soft breach (the watch window's, a canary step's):
        continue, roll back, or extend by N minutes, answered as core.escalation orders it; a
        person at a terminal is asked only when neither the option nor the config answers."""
        w = self.env.watch
        section.text(f"**Soft breach at {analysis.format_elapsed(decision.elapsed or 0.0)}: escalated** (the findings are under Decisions).")
        self.flush()
        letter = extension = None
        if self.invocation.on_soft_breach is None and w.on_soft_breach is None:
            letter = self.asker.choose(
                "SOFT BREACH in the watch window:\n  " + "\n  ".join(decision.reasons),
                {"A": "Continue watch: accept the drift, keep polling", "B": "Roll back now", "C": "Extend the watch window by N minutes"},
            )
            if letter == "C":
                text = self.asker.text("Extend by how long? (like 5m or 90s; empty for 5m)")
                try:
                    extension = parse_duration(text or "5m")
                except ValueError:
                    self.say(f"{text!r} is not a duration like 5m or 90s: extending by 5m")
        ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        answer = settle_soft_breach(
            option=self.invocation.on_soft_breach, configured=w.on_soft_breach,
            config_key=f"environments.{self.env.name}.watch.on_soft_breach", letter=letter, extension=extension,
            nobody="CI is set" if ci else "no terminal",
        )
        if answer.unanswered:
            section.text(f"**Soft breach not answered:** {answer.unanswered}.")
            self.say(f"soft breach not answered: {answer.unanswered}")
            self.flush()
            self.pytest_config.hook.pytest_release_decision(release=self, phase=Phase.WATCH, decision="soft breach: roll back (no answer)", by="nobody could be asked")
            return SoftAnswer("rollback", 0.0, f"no answer: {answer.unanswered}")
        words = {
            "continue": "A) continue: drift accepted", "rollback": "B) roll back now",
            "extend": f"C) extend the window by {duration_words(answer.seconds)}",
        }[answer.action]
        section.text(f"**Soft breach answered:** {words} (by {answer.by}).")
        self.say(f"soft breach answered: {words} (by {answer.by})")
        self.flush()
        self.pytest_config.hook.pytest_release_decision(release=self, phase=Phase.WATCH, decision=f"soft breach: {words}", by=answer.by or "")
        return SoftAnswer(answer.action, answer.seconds, f"answered {answer.action} by {answer.by}")

    # --- what changed since the last release -----------------------------------------------
    def changes(self) -> tuple[ChangeSummary | None, str | None]:
        """The commits since the last release tag (core.tags: `tag.pattern`, or
        `gate.changes.tag_pattern`), read from git once: the gate judges them, phase 2 weighs
        their risk, phase 6 moves their tickets. (None, why) when git cannot say."""
        if self._changes is None:
            gate, c = self.env.gate, self.env.gate.changes
            try:
                summary = change_summary(
                    self.config.root,
                    tag_pattern=previous_release_glob(self.config.tag.pattern, self.env.name, c.tag_pattern),
                    components=c.components or None, ticket_pattern=c.ticket_pattern,
                    implementation_reports=self.config.root / gate.implementation_reports, paths=c.paths,
                )
            except GitError as exc:
                self._changes = (None, str(exc))
            else:
                self._changes = (summary, None)
                self.choices.git_sha = summary.head_sha
        return self._changes

    # --- what serves -----------------------------------------------------------------------
    def serving_version(self, url: str | None = None) -> str:
        """The version serving now, asked of `url` (default `current_version.url`); ServingUnknown
        says why it cannot be told. Phase 1 takes it as the rollback target; after a deploy, a
        switch, the last canary step or a rollback it must be the version that was deployed."""
        url = url or self.env.current_version_url
        if not url:
            raise ServingUnknown(f"no current_version.url for {self.env.name}", "not configured")
        try:
            response = requests.get(url, timeout=self.env.smoke.request_timeout)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ServingUnknown(f"could not read the deployed version from {url}: {exc}", f"{url} did not answer: {type(exc).__name__}") from None
        value = body.get(self.env.current_version_field) if isinstance(body, dict) else None
        if not isinstance(value, str):
            raise ServingUnknown(f"{url} has no string field {self.env.current_version_field!r}", f"{url} has no field {self.env.current_version_field!r}")
        try:
            return check_version(value, f"the version reported by {url}")
        except InvocationError as exc:
            raise ServingUnknown(str(exc), f"{url} did not answer: {type(exc).__name__}") from None

    def serving_problem(self, expected: str, after: str) -> str | None:
        """Why `expected` is not known to serve `after` a change (None when it does, or when
        the environment has no current_version.url to ask): a deploy script that exits 0
        without deploying is caught here, not in the watch window."""
        if not self.env.current_version_url:
            return None
        try:
            serving = self.serving_version()
        except ServingUnknown as exc:
            return f"{after}, the serving version could not be read: {exc}"
        if serving != expected:
            return f"{after} reported success but {serving} serves, not {expected}"
        self.say(f"{expected} serves {self.env.name} ({after})")
        return None

    # --- a standalone rollback (phases.rollback.StandaloneRollbackContext) overrides these ----
    def commit_standalone(self) -> bool:
        """True in a standalone rollback (`--release-rollback-only`; see standalone.py)."""
        return False

    def commit_phases(self) -> tuple[Phase, ...]:
        """The phases this session runs: all six (a standalone rollback runs only phase 6)."""
        return tuple(Phase)

    def commit_exit_code(self, verdict: Verdict) -> int:
        return verdict.exit_code

    # --- phases and the project's own tests -----------------------------------------------
    def enter_phase(self, phase: Phase) -> None:
        """Called as each phase's first check starts: section_note writes into its section."""
        self.current_phase = phase

    def join_smoke_tests(self, names: Iterable[str]) -> None:
        """The project's own release_phase("smoke") tests, known once collection is done."""
        self.smoke_user_cases = tuple(names)

    def section_note(self, title: str, text: str) -> None:
        self.section(self.current_phase).text(f"**{title}:** {text}")
        self.flush()

    def smoke_base_url(self) -> str:
        """Where smoke tests go now: the idle side before a blue-green switch, a canary's own
        address, else the environment's. For the project's own release_phase('smoke') tests."""
        return smoke_target(self.env.smoke, self.choices.strategy)[0]

