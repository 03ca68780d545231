"""pytest hooks: options, markers, and switching a session into release mode.

Without `--release-env` this module only adds options, a marker and hook specs: a normal test
run is unchanged. With it, `session.ReleaseSession` is registered and does the work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .invocation import Invocation

HELP_ENV = "Run a release to this environment (one of release.yaml's environments). Turns release mode on."
HELP_VERSION = "The version (image tag) to release."
HELP_ROLLBACK_TO = "The version to roll back to; by default the version serving now (discovered in phase 1)."
HELP_CONFIG = "The release config file (default: release.yaml in the current directory, else in the rootdir)."
HELP_STRATEGY = "Deployment strategy: all-at-once, blue-green, canary or manual (default: the environment's)."
HELP_CONFIRM = "Answer the pre-release gate with 'proceed' when nobody is at a terminal (CI)."
HELP_SOFT = "Answer a soft breach in the watch window: continue, rollback or extend:DURATION (CI)."
HELP_OVERRIDE = "Why a gate is overridden; recorded in the report wherever an override applies."
RELEASE_MARKER = (
    "release_phase(name): in release mode, run this test as part of a release phase "
    "(gate, strategy, execute, smoke, watch, commit), with that phase's rollback semantics."
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

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
    parser.addini("release_config", HELP_CONFIG, default=None)
    parser.addini("release_confirm", HELP_CONFIRM, type="bool", default=False)
    parser.addini("release_on_soft_breach", HELP_SOFT, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", RELEASE_MARKER)
    env = config.getoption("release_env")
    if env is None:
        if config.getoption("release_version") is not None:
            raise pytest.UsageError("--release-version needs --release-env: a release needs both")
        return
    if config.pluginmanager.hasplugin("xdist") and (config.getoption("numprocesses", None) or config.getoption("dist", "no") != "no"):
        raise pytest.UsageError("-n/--dist (pytest-xdist) cannot run a release: its phases run in order in one process")
    if not config.pluginmanager.hasplugin("dependency"):
        raise pytest.UsageError("release mode needs pytest-dependency (is it disabled with -p no:dependency?)")
    from .config import ConfigError, load_config

    invocation = _invocation(config)
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
    # pytest-timeout's thread method ends the process with os._exit: no report, no rollback.
    config.option.timeout_method = "signal"
    from . import fixtures
    from .session import ReleaseSession

    config.pluginmanager.register(ReleaseSession(config, invocation, release_config), ReleaseSession.NAME)
    config.pluginmanager.register(fixtures, "release-fixtures")


def _invocation(config: pytest.Config) -> "Invocation":
    from .invocation import Invocation, InvocationError

    config_path = config.getoption("release_config")
    if config_path is None:
        ini_value = config.getini("release_config")
        if ini_value:
            config_path = str(config.rootpath / ini_value)
        else:
            cwd_default = Path(config.invocation_params.dir) / "release.yaml"
            config_path = str(cwd_default if cwd_default.exists() else config.rootpath / "release.yaml")
    confirm = config.getoption("release_confirm")
    try:
        return Invocation.from_options(
            env=config.getoption("release_env"),
            version=config.getoption("release_version"),
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
