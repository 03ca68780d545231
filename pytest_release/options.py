"""Every option and ini key of pytest-release: declared (`add_options`) and read once (`read`).

What the person asked for on the command line is validated before anything else happens.

Version and environment strings become file names and script arguments, so they are checked
against a strict grammar here: `../x`, `v1;rm -rf /`, an empty string or 300 characters are a
usage error, never a file or a process."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from pytest_release.core.escalation import parse_soft_breach_answer
from pytest_release.core.gate import GateOptions
from pytest_release.core.manual import parse_answer
from pytest_release.core.strategy import STRATEGIES

HELP_ENV = "Run a release to this environment (one of release.yaml's environments). Turns release mode on."
HELP_VERSION = "The version (image tag) to release."
HELP_ROLLBACK_TO = "The version to roll back to; by default the version serving now (discovered in phase 1)."
HELP_CONFIG = "The release config file (default: release.yaml in the current directory, else in the rootdir)."
HELP_STRATEGY = "Deployment strategy: all-at-once, blue-green, canary or manual (default: the environment's)."
HELP_CONFIRM = "Answer the pre-release gate with 'proceed' when nobody is at a terminal (CI)."
HELP_SOFT = "Answer a soft breach in the watch window: continue, rollback or extend:DURATION (CI)."
HELP_OVERRIDE = "Why a gate is overridden; recorded in the report wherever an override applies."
HELP_APPROVED_BY = "Pre-release gate: who approved this release (NAME[,NAME]; repeatable), when approvals are required (CI)."
HELP_EXCLUDE_TICKET = "Pre-release gate: take ticket KEY out of the release scope (the gate's answer C; repeatable)."
HELP_RELEASE_BY = "Who runs this release, for the four-eyes rule (default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, $USER)."
HELP_MANUAL_RESULT = (
    "Manual strategy: the operator's report when nobody is at a terminal (CI): done or failed, "
    "optionally followed by what happened ('failed: step 3 timed out'); recorded verbatim."
)
HELP_SKIP_WATCH = (
    "Skip the watch window (an emergency override): needs --release-override-reason; the verdict is "
    "then Released-with-override and an incident retrospective is written."
)
HELP_BACKTEST = (
    "START..END (ISO 8601, e.g. 2026-01-01T10:00Z..2026-01-02T10:00Z): deploy nothing; judge the "
    "environment's historical metrics as if a release had started at START and print the decision timeline."
)
HELP_BACKTEST_JSON = "With --release-backtest: also write the decision timeline as JSON to this file."
HELP_ROLLBACK_ONLY = (
    "Standalone rollback: run deploy.sh --rollback to --release-rollback-to=VERSION in --release-env and verify it "
    "(smoke test, short watch window), with its own report. --release-version is then optional (the version being "
    "replaced; by default the one serving now). Exit 0 rolled back and verified, 12 Rollback-Failed, 11 not started."
)
HELP_STATS = (
    "Deploy nothing: print the DORA figures of the release history (deployment frequency, lead time for changes, "
    "change failure rate, time to restore) per environment and month, from the release records and reports under "
    "release_dir. --release-env keeps one environment."
)
HELP_SINCE = "With --release-stats: only releases started on or after this date (YYYY-MM, YYYY-MM-DD or ISO 8601)."
HELP_STATS_JSON = "With --release-stats: also write the figures as JSON (schema pytest-release/stats/1) to this file."
HELP_STATS_CHART = "With --release-stats: also write an SVG chart of the figures to this file."
HELP_INIT = (
    "Set up this project for releases: write release.yaml (environments inferred from _docs/04_deploy/ where it "
    "exists), and, where missing, scripts/deploy.sh, scripts/health-check.sh and .env.example templates. "
    "Never overwrites a file; prints what it could not infer and the next command."
)

#: The options that only make sense with --release-stats, and their names on the command line.
STATS_ONLY = {"release_since": "--release-since", "release_stats_json": "--release-stats-json", "release_stats_chart": "--release-stats-chart"}

def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("release", "software release (pytest-release)")
    group.addoption("--release-env", dest="release_env", metavar="ENV", help=HELP_ENV)
    group.addoption("--release-version", dest="release_version", metavar="VERSION", help=HELP_VERSION)
    group.addoption("--release-rollback-to", dest="release_rollback_to", metavar="VERSION", help=HELP_ROLLBACK_TO)
    group.addoption("--release-config", dest="release_config", metavar="PATH", help=HELP_CONFIG)
    group.addoption("--release-strategy", dest="release_strategy", metavar="STRATEGY", help=HELP_STRATEGY)
    group.addoption("--release-confirm", dest="release_confirm", action="store_true", default=None, help=HELP_CONFIRM)
    group.addoption("--release-on-soft-breach", dest="release_on_soft_breach", metavar="ANSWER", help=HELP_SOFT)
    group.addoption("--release-override-reason", dest="release_override_reason", metavar="TEXT", help=HELP_OVERRIDE)
    group.addoption("--release-approved-by", dest="release_approved_by", metavar="NAME[,NAME]", action="append", help=HELP_APPROVED_BY)
    group.addoption("--release-exclude-ticket", dest="release_exclude_ticket", metavar="KEY", action="append", help=HELP_EXCLUDE_TICKET)
    group.addoption("--release-by", dest="release_by", metavar="NAME", help=HELP_RELEASE_BY)
    group.addoption("--release-manual-result", dest="release_manual_result", metavar="done|failed", help=HELP_MANUAL_RESULT)
    group.addoption("--release-skip-watch", dest="release_skip_watch", action="store_true", default=False, help=HELP_SKIP_WATCH)
    group.addoption("--release-rollback-only", dest="release_rollback_only", action="store_true", default=False, help=HELP_ROLLBACK_ONLY)
    group.addoption("--release-backtest", dest="release_backtest", metavar="START..END", help=HELP_BACKTEST)
    group.addoption("--release-backtest-json", dest="release_backtest_json", metavar="FILE", help=HELP_BACKTEST_JSON)
    group.addoption("--release-stats", dest="release_stats", action="store_true", default=False, help=HELP_STATS)
    group.addoption("--release-since", dest="release_since", metavar="DATE", help=HELP_SINCE)
    group.addoption("--release-stats-json", dest="release_stats_json", metavar="FILE", help=HELP_STATS_JSON)
    group.addoption("--release-stats-chart", dest="release_stats_chart", metavar="FILE", help=HELP_STATS_CHART)
    group.addoption("--release-init", dest="release_init", action="store_true", default=False, help=HELP_INIT)
    parser.addini("release_config", HELP_CONFIG, default=None)
    parser.addini("release_confirm", HELP_CONFIRM, type="bool", default=False)
    parser.addini("release_on_soft_breach", HELP_SOFT, default=None)


def release_config_path(config: pytest.Config) -> str:
    """--release-config, else the ini key, else release.yaml in the current directory or the rootdir."""
    config_path = config.getoption("release_config")
    if config_path is None:
        ini_value = config.getini("release_config")
        if ini_value:
            config_path = str(config.rootpath / ini_value)
        else:
            cwd_default = Path(config.invocation_params.dir) / "release.yaml"
            config_path = str(cwd_default if cwd_default.exists() else config.rootpath / "release.yaml")
    return config_path


VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
ENV_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


class InvocationError(ValueError):
    """A bad option value; the message names the option."""


def check_version(value: str, option: str) -> str:
    if not VERSION_PATTERN.fullmatch(value or "") or ".." in value:
        raise InvocationError(
            f"{option}={value[:80]!r}{'...' if len(value) > 80 else ''} is not a valid version: use 1-128 letters, "
            "digits, '.', '_', '+' or '-', starting with a letter or digit"
        )
    return value


def check_env(value: str, option: str = "--release-env") -> str:
    if "," in value or " " in value.strip():
        raise InvocationError(
            f"{option}={value!r} names several environments: one release targets exactly one "
            "environment (promote staging -> production as two releases)"
        )
    if not ENV_PATTERN.fullmatch(value or ""):
        raise InvocationError(f"{option}={value[:80]!r} is not a valid environment name: letters, digits, '-' and '_'")
    return value


@dataclass(frozen=True)
class Invocation:
    """Every option of a release, validated, read once (`read`); nothing else reads pytest's options."""

    env: str
    version: str
    config_path: Path
    rollback_to: str | None = None
    strategy: str | None = None
    confirm: bool = False
    on_soft_breach: str | None = None
    override_reason: str | None = None
    gate: GateOptions = field(default_factory=GateOptions)  # --release-approved-by, -exclude-ticket, --release-by
    manual_result: str | None = None  # --release-manual-result, validated
    skip_watch: bool = False
    rollback_only: bool = False  # a standalone rollback: version is then the one being replaced

    @classmethod
    def from_options(
        cls,
        *,
        env: str | None,
        version: str | None,
        config_path: str,
        rollback_to: str | None,
        strategy: str | None,
        confirm: bool,
        on_soft_breach: str | None,
        override_reason: str | None,
        rootdir: Path,
        soft_breach_source: str = "--release-on-soft-breach",
    ) -> "Invocation":
        if not env or version is None:
            missing = "--release-version" if env else "--release-env"
            raise InvocationError(f"{missing} is required: a release needs both --release-env and --release-version")
        check_env(env)
        check_version(version, "--release-version")
        if rollback_to is not None:
            check_version(rollback_to, "--release-rollback-to")
            if rollback_to == version:
                raise InvocationError(f"--release-rollback-to={rollback_to} is the version being released")
        if strategy is not None and strategy not in STRATEGIES:
            raise InvocationError(f"--release-strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if on_soft_breach is not None:
            try:
                parse_soft_breach_answer(on_soft_breach)
            except ValueError as exc:
                raise InvocationError(f"{soft_breach_source}: {exc}") from None
        if override_reason is not None and not override_reason.strip():
            raise InvocationError("--release-override-reason must say why")
        path = Path(config_path)
        if not path.is_absolute():
            path = rootdir / path
        return cls(env, version, path, rollback_to, strategy, confirm, on_soft_breach, override_reason)


UNKNOWN_VERSION = "unknown"  # a standalone rollback's replaced version, until it is discovered
_NOT_WITH_ROLLBACK_ONLY = {
    "release_strategy": "--release-strategy",
    "release_skip_watch": "--release-skip-watch",
    "release_manual_result": "--release-manual-result",
}


def mode(config: pytest.Config) -> str | None:
    """What this session is: None (an ordinary test run: the plugin stays out of the way),
    "init", "stats", "backtest" or "release"; a UsageError for an option that needs another one."""
    if config.getoption("release_init", False):
        return "init"
    if config.getoption("release_stats", False):
        return "stats"
    for dest, flag in STATS_ONLY.items():
        if config.getoption(dest, None) is not None:
            raise pytest.UsageError(f"{flag} needs --release-stats")
    if config.getoption("release_backtest", None) is not None:
        return "backtest"
    if config.getoption("release_backtest_json", None) is not None:
        raise pytest.UsageError("--release-backtest-json needs --release-backtest=START..END")
    if config.getoption("release_env") is not None:
        return "release"
    if config.getoption("release_version") is not None:
        raise pytest.UsageError("--release-version needs --release-env: a release needs both")
    if config.getoption("release_rollback_only", False):
        raise pytest.UsageError("--release-rollback-only needs --release-env=ENV and --release-rollback-to=VERSION")
    return None


def read(config: pytest.Config) -> Invocation:
    """Every option and ini key of a release, validated; a UsageError names the option (or ini
    key) a bad value came from."""
    rollback_only = bool(config.getoption("release_rollback_only", False))
    version = config.getoption("release_version")
    if rollback_only:
        if config.getoption("release_rollback_to") is None:
            raise pytest.UsageError("--release-rollback-only needs --release-rollback-to=VERSION: the version to roll back to")
        for dest, option in _NOT_WITH_ROLLBACK_ONLY.items():
            if config.getoption(dest, None):
                raise pytest.UsageError(f"{option} does not apply to --release-rollback-only (a standalone rollback deploys nothing new)")
        version = version or UNKNOWN_VERSION
    confirm = config.getoption("release_confirm")
    soft, soft_source = config.getoption("release_on_soft_breach"), "--release-on-soft-breach"
    if not soft:
        soft, soft_source = config.getini("release_on_soft_breach") or None, "ini release_on_soft_breach"
    try:
        invocation = Invocation.from_options(
            env=config.getoption("release_env"),
            version=version,
            config_path=release_config_path(config),
            rollback_to=config.getoption("release_rollback_to"),
            strategy=config.getoption("release_strategy"),
            confirm=bool(config.getini("release_confirm") if confirm is None else confirm),
            on_soft_breach=soft,
            override_reason=config.getoption("release_override_reason"),
            rootdir=Path(config.invocation_params.dir),
            soft_breach_source=soft_source,
        )
        gate = GateOptions.from_values(
            config.getoption("release_approved_by", None),
            config.getoption("release_exclude_ticket", None),
            config.getoption("release_by", None),
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    skip_watch = bool(config.getoption("release_skip_watch", False))
    if skip_watch and not invocation.override_reason:
        raise pytest.UsageError(
            "--release-skip-watch needs --release-override-reason=TEXT: the watch window is mandatory, "
            "and skipping it is an override that must say why (the verdict becomes Released-with-override)"
        )
    manual_result = config.getoption("release_manual_result")
    if manual_result is not None and parse_answer(manual_result) is None:
        raise pytest.UsageError(f"--release-manual-result={manual_result!r}: expected done or failed, optionally followed by what happened ('failed: step 3 timed out')")
    return replace(invocation, gate=gate, manual_result=manual_result, skip_watch=skip_watch, rollback_only=rollback_only)


@dataclass(frozen=True)
class BacktestRequest:
    """`--release-backtest=START..END`: which environment, which range, where the JSON goes."""

    env: str
    config_path: Path
    range_text: str
    json_path: Path | None


def read_backtest(config: pytest.Config) -> BacktestRequest:
    env_name = config.getoption("release_env")
    if not env_name:
        raise pytest.UsageError("--release-backtest needs --release-env=ENV: the environment whose metrics are judged")
    if config.getoption("release_version", None):
        raise pytest.UsageError("--release-backtest deploys nothing: leave out --release-version")
    try:
        check_env(env_name)
    except InvocationError as exc:
        raise pytest.UsageError(str(exc)) from None
    json_path = config.getoption("release_backtest_json", None)
    return BacktestRequest(
        env=env_name, config_path=Path(release_config_path(config)), range_text=config.getoption("release_backtest"),
        json_path=Path(config.invocation_params.dir, json_path) if json_path else None,
    )


@dataclass(frozen=True)
class StatsRequest:
    """`--release-stats` and its companions, validated."""

    env: str | None
    since: dt.datetime | None
    since_text: str | None
    config_path: Path
    json_path: Path | None
    chart_path: Path | None


def parse_since(value: str) -> dt.datetime:
    """YYYY-MM, YYYY-MM-DD or an ISO 8601 time (UTC unless it says otherwise)."""
    text = value.strip()
    for pattern in ("%Y-%m", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvocationError(f"--release-since={value!r}: expected YYYY-MM, YYYY-MM-DD or an ISO 8601 time like 2026-03-01T00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def stats_request(config: pytest.Config) -> StatsRequest:
    """The stats options; InvocationError names a bad one."""
    if config.getoption("release_version", None):
        raise InvocationError("--release-stats deploys nothing: leave out --release-version")
    env = config.getoption("release_env")
    if env:
        check_env(env)
    since_text = config.getoption("release_since")
    base = Path(config.invocation_params.dir)
    json_path, chart_path = config.getoption("release_stats_json"), config.getoption("release_stats_chart")
    return StatsRequest(
        env=env or None, since=parse_since(since_text) if since_text else None, since_text=since_text,
        config_path=Path(release_config_path(config)),
        json_path=base / json_path if json_path else None, chart_path=base / chart_path if chart_path else None,
    )


def init_target(config: pytest.Config) -> Path:
    """Where `--release-init` writes release.yaml: --release-config, else ./release.yaml."""
    if config.getoption("release_env", None) or config.getoption("release_version", None):
        raise InvocationError("--release-init sets a project up and releases nothing: leave out --release-env and --release-version")
    target = Path(config.invocation_params.dir, config.getoption("release_config", None) or "release.yaml")
    if not target.parent.is_dir():
        raise InvocationError(f"--release-init: {target.parent} is not a directory")
    return target
