"""release.yaml: defaults, merging, and errors that name the file and the key path."""

import textwrap

import pytest

from pytest_release.config import (
    ConfigError,
    load_config,
    parse_duration,
    parse_soft_breach_answer,
)
from pytest_release.options import Invocation, InvocationError, check_env, check_version

MINIMAL = """
environments:
  staging: {}
  production: {}
"""


def write(tmp_path, text):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_follow_the_docs_convention_and_the_runbook(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.deploy_script == tmp_path / "scripts/deploy.sh"
    assert config.health_script == tmp_path / "scripts/health-check.sh"
    assert config.release_dir == tmp_path / "_docs/04_release"
    staging, production = config.environment("staging"), config.environment("production")
    assert staging.watch.duration == 15 * 60 and production.watch.duration == 60 * 60
    assert production.production and not staging.production
    assert staging.watch.interval == 60 and staging.watch.no_data_after == 180
    assert staging.deploy.idle_timeout == 300
    rules = {r.name: r for r in staging.watch.rules}
    assert rules["error_rate"].hard == 2.0 and rules["p99_latency"].hard == 3.0
    assert rules["error_rate"].soft == 1.5 and rules["saturation"].hard is None
    assert staging.strategies == ("all-at-once",) and staging.default_strategy == "all-at-once"


def test_top_level_sections_are_defaults_that_environments_override(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            watch: {interval: 30s, rules: {error_rate: {hard: 4}}}
            environments:
              a: {}
              b: {watch: {interval: 10s, rules: {error_rate: {floor: 0.05}}}}
            """,
        ),
        environ={},
    )
    a, b = config.environment("a"), config.environment("b")
    assert a.watch.interval == 30 and b.watch.interval == 10
    assert {r.name: r for r in b.watch.rules}["error_rate"].hard == 4
    assert {r.name: r for r in b.watch.rules}["error_rate"].floor == 0.05


def test_environment_variables_are_expanded_with_defaults(tmp_path):
    path = write(tmp_path, "environments:\n  s:\n    smoke: {base_url: 'http://127.0.0.1:${PORT:-80}', endpoints: [{path: /}]}\n")
    assert load_config(path, environ={"PORT": "9000"}).environment("s").smoke.base_url == "http://127.0.0.1:9000"
    assert load_config(path, environ={}).environment("s").smoke.base_url == "http://127.0.0.1:80"


@pytest.mark.parametrize(
    "text, message",
    [
        ("environments: {}", "environments: at least one environment is required"),
        ("environments:\n  s: {watch: {duration: soon}}", r"environments\.s\.watch\.duration: expected a duration"),
        ("environments:\n  s: {watch: {duraton: 5m}}", r"environments\.s\.watch\.duraton: unknown key \(did you mean 'duration'\?\)"),
        ("environments:\n  s: {strategies: [yolo]}", r"environments\.s\.strategies: unknown strategy 'yolo'"),
        ("environments:\n  s: {strategies: [canary], default_strategy: blue-green}", r"default_strategy: 'blue-green' is not in"),
        ("environments:\n  s: {watch: {rules: {error_rate: {soft: 3, hard: 2}}}}", r"rules\.error_rate\.soft: soft \(3\.0\) must be below hard"),
        ("environments:\n  s: {watch: {rules: {error_rate: {hard: 0.5}}}}", r"rules\.error_rate\.hard: a breach factor .* must be above 1"),
        ("environments:\n  s: {smoke: {base_url: 'http://x', endpoints: [{path: nope}]}}", r"smoke\.endpoints\[0\]\.path: an endpoint needs a path"),
        ("environments:\n  s: {metrics: {provider: graphite}}", r"metrics\.provider: expected 'prometheus' or 'scrape'"),
        ("environments:\n  s: {watch: {on_soft_breach: maybe}}", r"watch\.on_soft_breach: expected continue, rollback or extend"),
        ("environments:\n  s: {smoke: {endpoints: [{path: /}]}}", r"smoke\.base_url: smoke endpoints need a base_url"),
        ("environments:\n  s: {url: 'http://${NOPE}'}", r"environment variable NOPE is not set"),
        ("environments: [1, 2", r"release\.yaml:\d+:\d+: not valid YAML"),
        ("- just a list", r"expected a mapping at the top level"),
        ("releas_dir: x\nenvironments: {s: {}}", r"releas_dir: unknown key \(did you mean 'release_dir'\?\)"),
    ],
)
def test_bad_config_names_file_and_key_path(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load_config(write(tmp_path, text), environ={})
    assert str(tmp_path / "release.yaml") in str(excinfo.value)


def test_missing_config_says_which_option_points_elsewhere(tmp_path):
    with pytest.raises(ConfigError, match="release config not found .*--release-config"):
        load_config(tmp_path / "release.yaml")


def test_unknown_environment_lists_the_configured_ones(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(ConfigError, match="no environment named 'qa' \\(configured: production, staging\\)"):
        config.environment("qa")


@pytest.mark.parametrize("value, seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), (45, 45), ("0.5s", 0.5)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "5 minutes", -1, True, "m"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_soft_breach_answers():
    assert parse_soft_breach_answer("continue") == ("continue", 0.0)
    assert parse_soft_breach_answer("extend:10m") == ("extend", 600.0)
    for bad in ("extend", "rollback:5m", "panic"):
        with pytest.raises(ValueError):
            parse_soft_breach_answer(bad)


@pytest.mark.parametrize("version", ["../x", "v1;rm -rf /", "", "a" * 300, "-v1", "v1 v2", "v1/../../etc", "a..b", "v1\n"])
def test_hostile_versions_are_refused(version):
    with pytest.raises(InvocationError, match="not a valid version"):
        check_version(version, "--release-version")


@pytest.mark.parametrize("version", ["v2", "1.4.0", "2024.05.01-rc.1", "v1+build.7", "sha-3f9c2a7"])
def test_ordinary_versions_pass(version):
    assert check_version(version, "--release-version") == version


def test_several_environments_in_one_invocation_are_refused():
    with pytest.raises(InvocationError, match="one release targets exactly one environment"):
        check_env("staging,production")


def test_env_without_version_is_a_usage_error(tmp_path):
    with pytest.raises(InvocationError, match="--release-version is required"):
        Invocation.from_options(
            env="staging", version=None, config_path="release.yaml", rollback_to=None, strategy=None,
            confirm=False, on_soft_breach=None, override_reason=None, rootdir=tmp_path,
        )
