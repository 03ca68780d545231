"""pytest hooks: options, markers, and switching a session into release mode.

Without `--release-env` this module only adds options, a marker and hook specs: a normal test
run is unchanged. With it, `session.ReleaseSession` is registered and does the work."""

from __future__ import annotations

import pytest

from pytest_release import hookspecs, options

RELEASE_MARKER = (
    "release_phase(name): in release mode, run this test as part of a release phase "
    "(gate, strategy, execute, smoke, watch, commit), with that phase's rollback semantics."
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", RELEASE_MARKER)
    if options.mode(config) != "release":
        return  # an ordinary test run, or a backtest (pytest_cmdline_main runs it instead)
    if config.pluginmanager.hasplugin("xdist") and (config.getoption("numprocesses", None) or config.getoption("dist", "no") != "no"):
        raise pytest.UsageError("-n/--dist (pytest-xdist) cannot run a release: its phases run in order in one process")
    if not config.pluginmanager.hasplugin("dependency"):
        raise pytest.UsageError("release mode needs pytest-dependency (is it disabled with -p no:dependency?)")
    invocation = options.read(config)
    # Release mode only: loading the config, the phases and their adapters is what a normal
    # test run with the plugin installed must not pay for.
    from pytest_release import announce, fixtures
    from pytest_release.config import ConfigError, load_config
    from pytest_release.recorder import ReleaseRecorder
    from pytest_release.session import ReleaseSession

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
    strategy = invocation.strategy or environment.default_strategy
    if invocation.manual_result is not None and strategy != "manual":
        raise pytest.UsageError(f"--release-manual-result answers the manual strategy, but this release uses {strategy}")
    # pytest-timeout's thread method ends the process with os._exit: no report, no rollback.
    config.option.timeout_method = "signal"
    config.stash[fixtures.INVOCATION_KEY] = invocation
    config.stash[fixtures.RELEASE_CONFIG_KEY] = release_config
    config.pluginmanager.register(ReleaseSession(config, invocation, release_config), ReleaseSession.NAME)
    config.pluginmanager.register(ReleaseRecorder(config), ReleaseRecorder.NAME)
    config.pluginmanager.register(announce.Announcer(), announce.Announcer.NAME)  # notifications, annotations, project mode
    config.pluginmanager.register(fixtures, "release-fixtures")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> "int | None":
    """`--release-backtest`, `--release-stats` and `--release-init` replace the test session, the
    way `--fixtures` does."""
    mode = options.mode(config)
    if mode not in ("backtest", "stats", "init"):
        return None
    # These modes only, like the imports above: each is a command of its own.
    from _pytest.main import wrap_session

    from pytest_release.backtest import backtest_main
    from pytest_release.init import init_main
    from pytest_release.stats import stats_main

    return wrap_session(config, {"backtest": backtest_main, "stats": stats_main, "init": init_main}[mode])
