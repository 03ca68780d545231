"""release.yaml from a hostile or unlucky world: every error happens at load, before anything runs.

Numbers out of range (negative, NaN, infinite, huge), keys written twice, alias bombs (plain and
through `${VAR}` expansion), cycles; errors carry the file, the line and the key path; no message
shows a value that came from the environment. A property test proves that whatever numbers a
config holds, it is refused at load or every policy built from it later can be built."""

from __future__ import annotations

import math
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pytest_release.config import ConfigError, load_config
from pytest_release.core.judge import Poll, judge
from pytest_release.metrics.window import watch_policy
from pytest_release.phases.traffic_shift import step_policy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refused(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, text), environ=environ or {})
    return str(excinfo.value)


# --- numbers ---------------------------------------------------------------------------------
BAD_NUMBERS = [
    ("watch: {min_requests: -10}", "watch.min_requests", "must be 0 or more"),
    ("watch: {min_requests: .nan}", "watch.min_requests", "expected a finite number"),
    ("watch: {min_requests: .inf}", "watch.min_requests", "expected a finite number"),
    ("watch: {min_requests: 1.0e+400}", "watch.min_requests", "expected a finite number"),
    ("watch: {rules: {error_rate: {floor: -1}}}", "watch.rules.error_rate.floor", "must be 0 or more"),
    ("watch: {rules: {error_rate: {floor: .nan}}}", "watch.rules.error_rate.floor", "expected a finite number"),
    ("watch: {rules: {error_rate: {hard: .inf}}}", "watch.rules.error_rate.hard", "expected a finite number"),
    ("watch: {rules: {p99_latency: {soft: .nan}}}", "watch.rules.p99_latency.soft", "expected a finite number"),
    ("watch: {rules: {error_rate: {hard: 1}}}", "watch.rules.error_rate.hard", "must be above 1"),
    ("watch: {rules: {error_rate: {hard: 1.0e+9}}}", "watch.rules.error_rate.hard", "at most 1000"),
    ("watch: {duration: .nan}", "watch.duration", "expected a duration"),
    ("watch: {duration: .inf}", "watch.duration", "expected a duration"),
    ("watch: {duration: 0}", "watch.duration", "greater than zero"),
    ("watch: {duration: -5}", "watch.duration", "cannot be negative"),
    ("watch: {duration: 99999999h}", "watch.duration", "at most 7 days"),
    ("watch: {interval: 1.0e+300}", "watch.interval", "at most 7 days"),
    ("watch: {no_data_after: 0s}", "watch.no_data_after", "greater than zero"),
    ("watch: {health_failures_hard: 0}", "watch.health_failures_hard", "must be 1 or more"),
    ("watch: {health_failures_hard: 2.5}", "watch.health_failures_hard", "expected a whole number"),
    ("watch: {on_soft_breach: 'extend:9999h'}", "watch.on_soft_breach", "at most 7 days"),
    ("deploy: {idle_timeout: .inf}", "deploy.idle_timeout", "expected a duration"),
    ("deploy: {kill_grace: -1}", "deploy.kill_grace", "cannot be negative"),
    ("deploy: {output_head: 100000000000000000000000000}", "deploy.output_head", "at most 1e+06"),
    ("deploy: {output_tail: 0}", "deploy.output_tail", "must be 1 or more"),
    ("smoke: {concurrency: 0}", "smoke.concurrency", "must be 1 or more"),
    ("smoke: {budget: .nan}", "smoke.budget", "expected a duration"),
    ("smoke: {base_url: 'http://127.0.0.1', endpoints: [{path: /, status: 700}]}", "smoke.endpoints[0].status", "at most 599"),
    ("traffic: {rate: .nan}", "traffic.rate", "expected a finite number"),
    ("traffic: {rate: -1}", "traffic.rate", "greater than 0"),
    ("traffic: {rate: 1.0e+9}", "traffic.rate", "at most 1000"),
    ("canary: {min_requests: -1}", "canary.min_requests", "must be 0 or more"),
    ("canary: {step_analysis: .inf}", "canary.step_analysis", "expected a duration"),
    ("metrics: {timeout: 0}", "metrics.timeout", "greater than zero"),
    ("gate: {approvals: {required: 100000000000000000000}}", "gate.approvals.required", "at most 100"),
]


@pytest.mark.parametrize("section, key, message", BAD_NUMBERS)
def test_every_number_is_checked_at_load_with_file_line_and_key(tmp_path, section, key, message):
    text = refused(tmp_path, f"environments:\n  s:\n    {section}\n")
    assert text.startswith(f"{tmp_path / 'release.yaml'}:3: environments.s.{key}: "), text
    assert message in text


def test_the_issue_configs_are_refused_before_the_deploy(pytester: pytest.Pytester):
    """The three values of the issue (min_requests -10 and NaN, a negative floor), through pytest:
    exit 4, the deploy script never called, no report."""
    scripts = pytester.path / "scripts"
    scripts.mkdir()
    (scripts / "deploy.sh").write_text('#!/bin/sh\n# --rollback supported\necho "$@" >> "$(dirname "$0")/../deploy-calls"\n')
    (scripts / "deploy.sh").chmod(0o755)
    for value, key in (("watch: {min_requests: -10}", "watch.min_requests"), ("watch: {min_requests: .nan}", "watch.min_requests"),
                       ("watch: {rules: {error_rate: {floor: -1}}}", "watch.rules.error_rate.floor")):
        (pytester.path / "release.yaml").write_text(f"environments:\n  staging:\n    {value}\n")
        result = pytester.runpytest_subprocess("--release-env=staging", "--release-version=v2")
        assert result.ret == 4
        result.stderr.fnmatch_lines([f"ERROR: *release.yaml:3: environments.staging.{key}: *"])
        assert not (pytester.path / "deploy-calls").exists()
        assert not list(pytester.path.glob("_docs/04_release/*.md"))


# --- duplicate keys --------------------------------------------------------------------------
def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path):
    text = refused(tmp_path, """\
        environments:
          staging:
            watch:
              duration: 15m
              interval: 1m
              duration: 2h
        """)
    assert text == f"{tmp_path / 'release.yaml'}:6: duplicate key 'duration' (first at line 4): YAML would silently keep only the last one"


def test_a_second_environments_block_is_refused(tmp_path):
    text = refused(tmp_path, "environments:\n  staging: {}\n  production: {}\nrelease_dir: out\nenvironments:\n  staging: {}\n")
    assert ":5: duplicate key 'environments' (first at line 1)" in text


def test_duplicates_in_flow_mappings_and_of_equal_values_are_refused(tmp_path):
    assert "duplicate key 'a'" in refused(tmp_path, "environments: {s: {}}\nx-d: {a: 1, a: 2}\n")
    assert "duplicate key 1" in refused(tmp_path, "environments: {s: {}}\nx-d: {1: a, 0x1: b}\n")


def test_a_merge_key_may_be_overridden_and_shared_defaults_still_work(tmp_path):
    """`<<: *defaults` keeps YAML 1.1's meaning: the mapping's own keys win, with no duplicate error."""
    config = load_config(write(tmp_path, """\
        x-watch: &watch {duration: 20m, interval: 30s, rules: {error_rate: {hard: 3}}}
        environments:
          staging:
            watch: {<<: *watch, duration: 10m}
          qa: &qa
            watch: *watch
            strategies: [all-at-once, canary]
          qa2:
            <<: *qa
            kind: production
        """), environ={})
    staging, qa, qa2 = (config.environment(n) for n in ("staging", "qa", "qa2"))
    assert (staging.watch.duration, staging.watch.interval) == (600, 30)
    assert qa.watch.duration == 1200 and {r.name: r.hard for r in qa.watch.rules}["error_rate"] == 3
    assert qa2.production and qa2.strategies == ("all-at-once", "canary") and qa2.watch.duration == 1200


def test_an_unknown_top_level_key_is_still_an_error_unless_it_starts_with_x(tmp_path):
    assert ":1: defaults: unknown key" in refused(tmp_path, "defaults: &d {a: 1}\nenvironments: {s: {}}\n")


# --- aliases -----------------------------------------------------------------------------------
def bomb(leaf: str, levels: int = 9) -> str:
    lines = [f'l0: &l0 [{", ".join([leaf] * 9)}]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + f"\nenvironments: {{s: {{smoke: {{base_url: 'http://x', endpoints: [{{path: /, json: *l{levels - 1}}}]}}}}}}\n"


@pytest.mark.parametrize("leaf", ['"lol"', '"${LOL}"', '"${LOL:-lol}"'])
def test_an_alias_bomb_is_refused_in_under_a_second(tmp_path, leaf):
    path = write(tmp_path, bomb(leaf))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"release\.yaml:\d+: the config expands to more than 100000 values .*alias bomb"):
        load_config(path, environ={"LOL": "x" * 1000})
    assert time.perf_counter() - start < 1.0


def test_a_merge_key_bomb_is_refused_too(tmp_path):
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for level in range(1, 12):
        lines.append(f"m{level}: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 8)}], k{level}: 1}}")
    path = write(tmp_path, "\n".join(lines) + "\nenvironments: {s: {}}\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(path, environ={})
    assert time.perf_counter() - start < 1.0


def test_a_config_of_moderate_aliasing_loads(tmp_path):
    """Below the budget aliases are ordinary: 100 smoke cases sharing one header mapping."""
    cases = ", ".join(f"{{name: c{i}, path: /p{i}, headers: *h}}" for i in range(100))
    config = load_config(write(tmp_path, f"x-h: &h {{X-Test: '${{T:-1}}'}}\nenvironments: {{s: {{smoke: {{base_url: 'http://x', endpoints: [{cases}]}}}}}}\n"), environ={})
    assert len(config.environment("s").smoke.endpoints) == 100


def test_an_alias_cycle_is_refused(tmp_path):
    assert "refers to a value that contains it" in refused(tmp_path, "environments: {s: {}}\nx-a: &a [1, *a]\n")


def test_a_huge_variable_copied_by_aliases_is_refused(tmp_path):
    text = "x-a: &a ['${BIG}', '${BIG}', '${BIG}', '${BIG}']\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx-c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nenvironments: {s: {}}\n"
    message = refused(tmp_path, text, environ={"BIG": "y" * 40_000})
    assert "grows the config past 10000000 characters" in message and "yyyy" not in message


# --- lines -------------------------------------------------------------------------------------
def test_errors_name_the_line_of_the_value_of_a_shared_section_and_of_a_list_item(tmp_path):
    path = tmp_path / "release.yaml"
    assert refused(tmp_path, "watch:\n  interval: often\nenvironments:\n  s: {}\n").startswith(f"{path}:2: environments.s.watch.interval: ")
    text = refused(tmp_path, "environments:\n  s:\n    smoke:\n      base_url: http://x\n      endpoints:\n        - {path: /}\n        - {path: nope}\n")
    assert text.startswith(f"{path}:7: environments.s.smoke.endpoints[1].path: ")
    assert refused(tmp_path, "environments:\n  s:\n\n    wach: {}\n").startswith(f"{path}:4: environments.s.wach: unknown key")


# --- values from the environment -----------------------------------------------------------------
SECRET_VALUE = "Sup3r-S3cret-t0ken"


@pytest.mark.parametrize(
    "text, shown",
    [
        ("environments:\n  s:\n    watch: {duration: '${FOO_TOKEN}'}\n", "got the value of ${FOO_TOKEN}"),
        ("environments:\n  s:\n    smoke: {coverage: '${FOO_TOKEN}'}\n", "got the value of ${FOO_TOKEN}"),
        ("environments:\n  s:\n    strategies: ['${FOO_TOKEN}']\n", "unknown strategy the value of ${FOO_TOKEN}"),
        ("environments:\n  s:\n    smoke: {base_url: 'http://x', endpoints: [{path: /, method: 'X${FOO_TOKEN}'}]}\n", "${FOO_TOKEN}"),
        ("environments:\n  s:\n    kind: 'prod-${FOO_TOKEN}'\n", "got 'prod-${FOO_TOKEN}' (expanded)"),
        ("environments:\n  s:\n    registry: {url: 'https://r', repository: 'a/${FOO_TOKEN}'}\n", "${FOO_TOKEN}"),
    ],
)
def test_messages_never_echo_a_value_from_the_environment(tmp_path, text, shown):
    message = refused(tmp_path, text, environ={"FOO_TOKEN": SECRET_VALUE})
    assert SECRET_VALUE not in message and SECRET_VALUE.lower() not in message.lower()
    assert shown in message, message


# --- no policy built from a loaded config can raise ------------------------------------------------
HOSTILE = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1.0000001, 1000, 1001, -0.0, 1e-300, 1e308, 604800, 604801]),
)
SANE = st.one_of(st.integers(min_value=1, max_value=900), st.floats(min_value=1.0001, max_value=999.0))
NUMBERS = st.one_of(SANE, SANE, SANE, SANE, SANE, SANE, HOSTILE)  # mostly loadable, so both paths run
DURATIONS = st.one_of(NUMBERS, st.sampled_from(["1s", "90s", "15m", "1h", "168h", "169h", "0s", "99999h", "1h30m"]))
WHOLE = st.one_of(*[st.integers(min_value=1, max_value=20)] * 6, HOSTILE)
SHORT = st.one_of(*[st.integers(min_value=1, max_value=60)] * 6, DURATIONS)
LONG = st.one_of(*[st.integers(min_value=60, max_value=3600)] * 6, DURATIONS)


def yaml_number(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"{value:.17e}"  # YAML 1.1 reads 1e+16 as a string: write 1.00000000000000000e+16
    return str(value) if not isinstance(value, str) else f"'{value}'"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    watch=st.fixed_dictionaries({}, optional={
        "duration": LONG, "interval": SHORT, "baseline": DURATIONS, "no_data_after": DURATIONS,
        "min_requests": NUMBERS, "health_failures_hard": WHOLE, "health_timeout": DURATIONS,
        "rollback_duration": DURATIONS,
    }),
    rule=st.fixed_dictionaries({}, optional={"soft": st.one_of(st.floats(1.01, 1.9), NUMBERS), "hard": st.one_of(st.floats(2, 10), NUMBERS), "floor": NUMBERS}),
    canary=st.fixed_dictionaries({}, optional={"min_requests": NUMBERS, "step_analysis": DURATIONS, "interval": DURATIONS}),
    observed=st.floats(allow_nan=True, allow_infinity=True),
)
def test_a_loaded_config_never_builds_a_policy_that_raises(tmp_path, watch, rule, canary, observed):
    """Either load_config refuses the numbers, or the watch policy, a canary step's policy and a
    judgement of a poll are all built without an exception."""
    def flow(mapping: dict) -> str:
        return "{" + ", ".join(f"{k}: {yaml_number(v)}" for k, v in mapping.items()) + "}"

    text = (
        "environments:\n  s:\n"
        f"    watch: {{{', '.join(f'{k}: {yaml_number(v)}' for k, v in watch.items())}{', ' if watch else ''}rules: {{error_rate: {flow(rule)}}}}}\n"
        f"    canary: {flow(canary)}\n"
    )
    path = tmp_path / "release.yaml"
    path.write_text(text)
    try:
        env = load_config(path, environ={}).environment("s")
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}:"), str(exc)  # refused with the file and line
        event("refused at load")
        return
    event("loaded")
    policy = watch_policy(env.watch)
    step = step_policy(policy, env.canary)
    for p in (policy, step):
        polls = [Poll(elapsed=float(i) * env.watch.interval, values={r.name: observed for r in p.rules}, requests=observed, health_ok=True) for i in range(3)]
        judge(p, {r.name: observed for r in p.rules}, polls)
    assert 0 < env.watch.interval <= env.watch.duration <= 7 * 24 * 3600
