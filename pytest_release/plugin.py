"""pytest hooks: options, markers, and switching a session into release mode.

Without `--release-env` this module only adds options, a marker and hook specs: a normal test
run is unchanged. With it, `session.ReleaseSession` is registered and does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_release.options import Invocation

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
RELEASE_MARKER = (
    "release_phase(name): in release mode, run this test as part of a release phase "
    "(gate, strategy, execute, smoke, watch, commit), with that phase's rollback semantics."
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_release import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
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
    parser.addini("release_config", HELP_CONFIG, default=None)
    parser.addini("release_confirm", HELP_CONFIRM, type="bool", default=False)
    parser.addini("release_on_soft_breach", HELP_SOFT, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", RELEASE_MARKER)
    if config.getoption("release_backtest", None) is not None:
        return  # a backtest releases nothing: pytest_cmdline_main runs it instead of a session
    if config.getoption("release_backtest_json", None) is not None:
        raise pytest.UsageError("--release-backtest-json needs --release-backtest=START..END")
    env = config.getoption("release_env")
    if env is None:
        if config.getoption("release_version") is not None:
            raise pytest.UsageError("--release-version needs --release-env: a release needs both")
        if config.getoption("release_rollback_only", False):
            raise pytest.UsageError("--release-rollback-only needs --release-env=ENV and --release-rollback-to=VERSION")
        return
    if config.pluginmanager.hasplugin("xdist") and (config.getoption("numprocesses", None) or config.getoption("dist", "no") != "no"):
        raise pytest.UsageError("-n/--dist (pytest-xdist) cannot run a release: its phases run in order in one process")
    if not config.pluginmanager.hasplugin("dependency"):
        raise pytest.UsageError("release mode needs pytest-dependency (is it disabled with -p no:dependency?)")
    from pytest_release.config import ConfigError, load_config

    invocation = _invocation(config)
    from pytest_release.phases.gate import options_from

    try:
        options_from(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("release_skip_watch", False) and not invocation.override_reason:
        raise pytest.UsageError(
            "--release-skip-watch needs --release-override-reason=TEXT: the watch window is mandatory, "
            "and skipping it is an override that must say why (the verdict becomes Released-with-override)"
        )
    try:
        release_config = load_config(invocation.config_path)
        environment = release_config.environment(invocation.env)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if invocation.strategy and invocation.strategy not in environment.strategies:
        raise pytest.UsageError(
            f"--release-strategy={invocation.strategy} is not supported by environment {invocation.env} "
            f"(supported: {', '.join(environment.strategies)})"
        )
    manual_result = config.getoption("release_manual_result")
    if manual_result is not None:
        from pytest_release.phases.manual import parse_answer

        strategy = invocation.strategy or environment.default_strategy
        if parse_answer(manual_result) is None:
            raise pytest.UsageError(f"--release-manual-result={manual_result!r}: expected done or failed, optionally followed by what happened ('failed: step 3 timed out')")
        if strategy != "manual":
            raise pytest.UsageError(f"--release-manual-result answers the manual strategy, but this release uses {strategy}")
    # pytest-timeout's thread method ends the process with os._exit: no report, no rollback.
    config.option.timeout_method = "signal"
    from pytest_release import fixtures
    from pytest_release.session import ReleaseSession

    config.pluginmanager.register(ReleaseSession(config, invocation, release_config), ReleaseSession.NAME)
    config.pluginmanager.register(fixtures, "release-fixtures")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> "int | None":
    """`--release-backtest` replaces the test session, the way `--fixtures` does."""
    if config.getoption("release_backtest", None) is None:
        return None
    from _pytest.main import wrap_session

    from pytest_release.backtest import backtest_main

    return wrap_session(config, backtest_main)


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


def _invocation(config: pytest.Config) -> "Invocation":
    from pytest_release.options import Invocation, InvocationError

    config_path = release_config_path(config)
    confirm = config.getoption("release_confirm")
    version = config.getoption("release_version")
    if config.getoption("release_rollback_only", False):
        from pytest_release.phases.standalone import check_options

        version = check_options(config)
    try:
        return Invocation.from_options(
            env=config.getoption("release_env"),
            version=version,
            config_path=config_path,
            rollback_to=config.getoption("release_rollback_to"),
            strategy=config.getoption("release_strategy"),
            confirm=bool(config.getini("release_confirm") if confirm is None else confirm),
            on_soft_breach=config.getoption("release_on_soft_breach") or config.getini("release_on_soft_breach") or None,
            override_reason=config.getoption("release_override_reason"),
            rootdir=Path(config.invocation_params.dir),
        )
    except InvocationError as exc:
        raise pytest.UsageError(str(exc)) from None
