"""pytest hooks: options, markers, and switching a session into release mode.

Without `--release-env` this module only adds options, a marker and hook specs: a normal test
run is unchanged. With it, `session.ReleaseSession` is registered and does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_release.options import Invocation

RELEASE_MARKER = (
    "release_phase(name): in release mode, run this test as part of a release phase "
    "(gate, strategy, execute, smoke, watch, commit), with that phase's rollback semantics."
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_release import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from . import (
        options,  # the declarations only; nothing else of the package loads in inert mode
    )

    options.add_options(parser)


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
    from pytest_release import announce, fixtures
    from pytest_release.session import ReleaseSession

    config.pluginmanager.register(ReleaseSession(config, invocation, release_config), ReleaseSession.NAME)
    config.pluginmanager.register(announce.Announcer(), announce.Announcer.NAME)  # notifications, annotations, project mode
    config.pluginmanager.register(fixtures, "release-fixtures")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> "int | None":
    """`--release-backtest` replaces the test session, the way `--fixtures` does."""
    if config.getoption("release_backtest", None) is None:
        return None
    from _pytest.main import wrap_session

    from pytest_release.backtest import backtest_main

    return wrap_session(config, backtest_main)


def _invocation(config: pytest.Config) -> "Invocation":
    from pytest_release.options import Invocation, InvocationError, release_config_path

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
