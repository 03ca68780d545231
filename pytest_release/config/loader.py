"""release.yaml -> frozen dataclasses.

A bad config is a usage error before anything runs, so every problem names the file and the key
path (`environments.staging.watch.duration`) and says what was expected. Unknown keys are errors
too: a typo in a threshold must not silently fall back to a default."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from pytest_release.adapters.git import DEFAULT_TICKET_PATTERN
from pytest_release.adapters.registry import InvalidReference, validate_reference
from pytest_release.metrics.backends import FLAVORS
from pytest_release.core.gate import FLAKY_POLICIES
from pytest_release.config.model import (
    DEFAULT_CANARY_WEIGHTS,
    DEFAULT_WATCH,
    CanarySettings,
    CanaryStep,
    ChangeSettings,
    Config,
    ConfigError,
    DeploySettings,
    Environment,
    GateSettings,
    ManualSettings,
    MetricRuleSettings,
    MetricsSettings,
    RegistrySettings,
    SmokeEndpoint,
    SmokeSettings,
    SmokeTestAccount,
    TagSettings,
    TrackerSettings,
    TrafficSettings,
    WatchSettings,
)
from pytest_release.config.schema import (
    MAX_DURATION,
    EnvUse,
    _bool,
    _duration,
    _factor,
    _int,
    _limit,
    _Node,
    _number,
    _positive_duration,
    _ranged,
    _str,
    _str_list,
    _whole,
    basic_auth_env,
    expand_env,
)
from pytest_release.config.source import Mapping as YamlMapping
from pytest_release.config.source import read_yaml
from pytest_release.core import restrictions as r
from pytest_release.core.escalation import parse_soft_breach_answer
from pytest_release.core.strategy import STRATEGIES
from pytest_release.core.tags import check_tag_pattern
from pytest_release.metrics.promql import STANDARD_METRICS
from pytest_release.core.judge import (
    DEFAULT_HEALTH_FAILURES_HARD,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_NO_DATA_AFTER,
    DEFAULT_RULES,
    HEALTH_METRIC,
    MetricRule,
    default_rule,
)
from pytest_release.core.watch_model import DEFAULT_CONFIDENCE
from pytest_release.config.announcements import _read_annotations, _read_notify
from pytest_release.config.alerts import check_alerts_source, read_alerts


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: release config not found (pass --release-config=PATH)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the release config is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the release config: {exc.strerror}") from None
    raw = read_yaml(text, path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    used = EnvUse()
    try:
        raw = expand_env(raw, environ, path, used)
        return _read_config(path, raw)
    except ConfigError as exc:
        # A message may quote a value it could not use; one that came from ${VAR} is named, not shown.
        raise ConfigError(used.scrub(str(exc))) from None


def _merge(base: Any, override: Any) -> Any:
    """`override` over `base`, key by key; a mapping keeps the line of each key it took."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = YamlMapping(base)
        merged.line = getattr(override, "line", 0) or getattr(base, "line", 0)
        merged.lines = {**getattr(base, "lines", {}), **getattr(override, "lines", {})}
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override if override is not None else base


_SHARED_SECTIONS = ("deploy", "smoke", "metrics", "watch", "traffic", "current_version", "gate", "registry", "notify", "annotations")


def _read_config(path: Path, raw: dict[str, Any]) -> Config:
    top = _Node(path, "", raw)
    root = path.resolve().parent

    def project_path(key: str, default: str) -> Path:
        value = top.get(key, default, _str)
        resolved = (root / value).resolve()
        return resolved

    shared = {key: top.get(key) for key in _SHARED_SECTIONS}
    envs_node = top.child("environments")
    if not envs_node.data:
        envs_node.fail("at least one environment is required")
    environments: dict[str, Environment] = {}
    for name in list(envs_node.data):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", name):
            envs_node.fail("an environment name is letters, digits, '-' and '_' (at most 63)", str(name))
        raw_env = envs_node.get(name) or {}
        if not isinstance(raw_env, dict):
            envs_node.fail(f"expected a mapping, got {type(raw_env).__name__}", name)
        merged = YamlMapping(raw_env)
        merged.line = getattr(raw_env, "line", 0) or (envs_node.line_of(name) or 0)
        merged.lines = dict(getattr(raw_env, "lines", {}))
        for key in _SHARED_SECTIONS:
            if shared[key] is not None or key in raw_env:
                merged[key] = _merge(shared[key], raw_env.get(key))
                if key not in merged.lines and top.line_of(key):
                    merged.lines[key] = top.line_of(key)  # type: ignore[assignment]
        environments[name] = _read_environment(_Node(path, envs_node.where(name), merged))
    config = Config(
        path=path.resolve(),
        root=root,
        release_dir=project_path("release_dir", "_docs/04_release"),
        deploy_script=project_path("deploy_script", "scripts/deploy.sh"),
        health_script=project_path("health_script", "scripts/health-check.sh"),
        env_file=project_path("env_file", ".env"),
        env_example=project_path("env_example", ".env.example"),
        environments=environments,
    )
    config = replace(
        config,
        lock_dir=project_path("lock_dir", str(config.release_dir / ".locks")),
        deployment_procedures=project_path("deployment_procedures", "_docs/04_deploy/deployment_procedures.md"),
    )
    config = replace(config, tag=_read_tag(top.child("tag"), environments))
    config = replace(config, tracker=_read_tracker(top))
    top.read.update(key for key in raw if isinstance(key, str) and key.startswith("x-"))  # anchors for `<<: *name`
    top.finish()
    return config


def _read_tag(node: _Node, environments: Mapping[str, Any]) -> TagSettings:
    enabled = node.get("enabled", "auto", lambda v: str(v).lower() if isinstance(v, bool) else _str(v))
    if enabled not in ("auto", "true", "false"):
        node.fail(f"expected auto, true or false, got {enabled!r}", "enabled")

    pattern = node.get("pattern", "release/{version}", _str)
    try:
        check_tag_pattern(pattern)
    except ValueError as exc:
        node.fail(str(exc), "pattern")
    remote = node.get("remote", "origin", _str)
    if not remote or remote.startswith("-"):
        node.fail(f"not a git remote name: {remote!r}", "remote")
    only = node.get("environments", (), _str_list)
    for name in only:
        if name not in environments:
            node.fail(f"no environment named {name!r} (configured: {', '.join(sorted(environments))})", "environments")
    settings = TagSettings(enabled=enabled, pattern=pattern, push=node.get("push", False, _bool), remote=remote, environments=only)
    node.finish()
    return settings


def _default_kind(name: str) -> str:
    return "production" if name.lower() in ("prod", "production", "live") or name.lower().startswith("prod") else "staging"


def _read_environment(node: _Node) -> Environment:
    name = node.path.rsplit(".", 1)[-1]
    kind = node.get("kind", _default_kind(name), _str)
    if kind not in DEFAULT_WATCH:
        node.fail(f"expected 'staging' or 'production', got {kind!r}", "kind")
    strategies = node.get("strategies", ("all-at-once",), _str_list)
    for strategy in strategies:
        if strategy not in STRATEGIES:
            node.fail(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})", "strategies")
    default_strategy = node.get("default_strategy", strategies[0], _str)
    if default_strategy not in strategies:
        node.fail(f"{default_strategy!r} is not in this environment's strategies {list(strategies)}", "default_strategy")
    current = node.child("current_version")
    current_url = current.get("url", None, _str)
    current_field = current.get("field", "version", _str)
    current_source = current.get("source", "url" if current_url else "report", _str)
    if current_source not in ("url", "report"):
        current.fail(f"expected url (ask current_version.url) or report (the last Released report), got {current_source!r}", "source")
    if current_source == "url" and not current_url:
        current.fail("source url needs current_version.url", "source")
    current.finish()
    env = Environment(
        name=name,
        kind=kind,
        strategies=strategies,
        default_strategy=default_strategy,
        auto_proceed=node.get("auto_proceed", False, _bool),
        deploy=_read_deploy(node.child("deploy")),
        smoke=_read_smoke(node.child("smoke")),
        metrics=_read_metrics(node.child("metrics")),
        watch=_read_watch(node.child("watch"), kind),
        traffic=_read_traffic(node.child("traffic")) if node.data.get("traffic") else None,
        current_version_url=current_url,
        current_version_field=current_field,
        manual=_read_manual(node.child("manual")),
        current_version_source=current_source,
        gate=_read_gate(node.child("gate")),
        registry=_read_registry(node.child("registry")) if node.data.get("registry") else None,
        notify=_read_notify(node.child("notify")),
        annotations=_read_annotations(node.child("annotations")) if node.data.get("annotations") else None,
    )
    env = replace(env, canary=_read_canary(node.child("canary"), env.watch))
    env = _metrics_match_rules(node, env)
    env = _health_query(node, env)
    check_alerts_source(node, env)
    if "blue-green" in strategies and not env.smoke.preview_url:
        node.fail(
            "blue-green needs smoke.preview_url: the idle side is smoke-tested at its own address before the switch",
            "smoke.preview_url",
        )
    node.read.add("registry")
    node.read.add("traffic")
    node.read.add("annotations")
    node.finish()
    return env


def _metrics_match_rules(node: _Node, env: Environment) -> Environment:
    """Every judged metric must be measurable, and every added query is judged: a rule without a
    query would read as "no data" (a hard breach) in every release; a query without a rule gets
    the default rule (higher is worse, soft at 1.5x)."""

    metrics, watch = env.metrics, env.watch
    if metrics.provider == "scrape":
        if metrics.queries:
            node.fail("queries are PromQL: they need metrics.provider prometheus (scrape reads the standard metrics only)", "metrics.queries")
        for rule in watch.rules:
            if rule.name not in STANDARD_METRICS:
                node.fail(
                    f"the scrape provider cannot measure {rule.name!r} (it reads {', '.join(STANDARD_METRICS)}): "
                    "use metrics.provider prometheus with a query for it, or remove the rule",
                    f"watch.rules.{rule.name}",
                )
        return env
    measured = set(STANDARD_METRICS) | set(metrics.queries)
    for rule in watch.rules:
        if rule.name not in measured:
            node.fail(f"no query measures {rule.name!r}: add metrics.queries.{rule.name} (PromQL)", f"watch.rules.{rule.name}")
    raw_rules = node.data.get("watch", {}).get("rules") if isinstance(node.data.get("watch"), dict) else None
    disabled = {n for n, r in (raw_rules or {}).items() if isinstance(r, dict) and r.get("enabled") is False}
    judged = {rule.name for rule in watch.rules} | disabled
    extra = tuple(MetricRuleSettings(name=name) for name in metrics.queries if name not in judged and name not in STANDARD_METRICS and name != HEALTH_METRIC)
    return replace(env, watch=replace(watch, rules=watch.rules + extra)) if extra else env


def _read_deploy(node: _Node) -> DeploySettings:
    settings = DeploySettings(
        idle_timeout=node.get("idle_timeout", 300.0, _positive_duration),
        total_timeout=node.get("total_timeout", None, _positive_duration),
        kill_grace=node.get("kill_grace", 10.0, _ranged(_duration, high=600)),
        output_head=node.get("output_head", 200, _whole(1, 1_000_000)),
        output_tail=node.get("output_tail", 800, _whole(1, 1_000_000)),
    )
    node.finish()
    return settings


def _read_manual(node: _Node) -> ManualSettings:
    checklist = node.get("checklist", (), _str_list)
    if any(not step.strip() for step in checklist):
        node.fail("a checklist step cannot be empty", "checklist")
    settings = ManualSettings(checklist=tuple(step.strip() for step in checklist))
    node.finish()
    return settings


def _read_smoke(node: _Node) -> SmokeSettings:
    endpoints = []
    raw = node.get("endpoints", [])
    if not isinstance(raw, list):
        node.fail("expected a list of endpoints", "endpoints")
    seen: set[str] = set()
    for index, item in enumerate(raw):
        ep = _Node(node.file, f"{node.where('endpoints')}[{index}]", item)
        path = ep.get("path", None, _str)
        if not path or not path.startswith("/"):
            ep.fail("an endpoint needs a path starting with '/'", "path")
        method = ep.get("method", "GET", _str).upper()
        if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            ep.fail(f"unknown HTTP method {method!r}", "method")
        name = ep.get("name", f"{method} {path}", _str)
        if name in seen:
            ep.fail(f"duplicate smoke case name {name!r}", "name")
        seen.add(name)
        headers = ep.get("headers", {})
        if not isinstance(headers, dict):
            ep.fail("expected a mapping of header names to values", "headers")
        endpoints.append(
            SmokeEndpoint(
                name=name,
                path=path,
                method=method,
                json=ep.get("json"),
                headers={str(k): str(v) for k, v in headers.items()},
                status=ep.get("status", 201 if method == "POST" else 200, _whole(100, 599)),
                expect_fields=ep.get("expect_fields", (), _str_list),
                component=ep.get("component", "service", _str),
                test_data=ep.get("test_data", False, _bool),
            )
        )
        ep.finish()
    coverage = node.get("coverage", "warn", _str)
    if coverage not in ("warn", "fail", "off"):
        node.fail(f"expected warn, fail or off, got {coverage!r}", "coverage")
    read_only = node.get("read_only", (), _str_list)
    for path in read_only:
        if not path.startswith("/"):
            node.fail(f"a path starts with '/', got {path!r}", "read_only")
    settings = SmokeSettings(
        base_url=node.get("base_url", None, _str),
        request_timeout=node.get("request_timeout", 10.0, _positive_duration),
        budget=node.get("budget", 300.0, _positive_duration),
        concurrency=node.get("concurrency", 8, _whole(1, 1000)),
        endpoints=tuple(endpoints),
        preview_url=node.get("preview_url", None, _str),
        read_only=read_only,
        coverage=coverage,
        test_account=_read_test_account(node.child("test_account")),
    )
    if settings.endpoints and not settings.base_url:
        node.fail("smoke endpoints need a base_url", "base_url")
    if settings.test_account is not None:  # every case acts as the test account, a rollback's too
        account = settings.test_account.headers
        settings = replace(settings, endpoints=tuple(replace(e, headers={**account, **e.headers}) for e in settings.endpoints))
    node.finish()
    return settings


def _read_test_account(node: _Node) -> SmokeTestAccount | None:
    if not node.data:
        return None
    name = node.get("name", None, _str)
    if not name:
        node.fail("a test account needs a name (who the smoke cases act as)", "name")
    headers = node.get("headers", {})
    if not isinstance(headers, dict) or not headers:
        node.fail("expected a mapping of the headers that identify the test account", "headers")
    node.finish()
    return SmokeTestAccount(name=name, headers={str(k): str(v) for k, v in headers.items()})


def _read_canary(node: _Node, watch: WatchSettings) -> CanarySettings:
    default_analysis = node.get("step_analysis", 300.0, _positive_duration)
    raw = node.get("steps", list(DEFAULT_CANARY_WEIGHTS))
    if not isinstance(raw, list) or not raw:
        node.fail("expected a list of traffic percentages like [5, 25, 50, 100]", "steps")
    steps: list[CanaryStep] = []
    for index, item in enumerate(raw):
        where = f"steps[{index}]"
        analysis = default_analysis
        if isinstance(item, dict):
            step = _Node(node.file, node.where(where), item)
            weight = step.get("weight", None, _int)
            analysis = step.get("analysis", default_analysis, _positive_duration)
            step.finish()
        else:
            weight = item
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            node.fail(f"a step is a whole percentage from 1 to 100 (or {{weight: N, analysis: 1m}}), got {weight!r}", where)
        if steps and weight <= steps[-1].weight:
            node.fail(f"steps must increase: {weight} follows {steps[-1].weight}", where)
        steps.append(CanaryStep(weight, analysis))
    if steps[-1].weight != 100:
        node.fail(f"the last step must be 100 (all traffic on the new version), got {steps[-1].weight}", "steps")
    rule_names = [r.name for r in watch.rules]
    rules = node.get("rules", None, _str_list)
    for name in rules or ():
        if name not in rule_names:
            node.fail(f"{name!r} is not one of this environment's watch rules ({', '.join(rule_names)})", "rules")
    selector = node.get("selector", "", _str)
    stable_selector = node.get("stable_selector", "", _str)
    settings = CanarySettings(
        steps=tuple(steps),
        interval=node.get("interval", None, _positive_duration),
        selector=selector,
        rules=rules,
        min_requests=node.get("min_requests", None, _ranged(_number, low=0)),
        baseline=_canary_baseline(node, selector, stable_selector),
        stable_selector=stable_selector,
    )
    node.finish()
    return settings


def _canary_baseline(node: _Node, selector: str, stable_selector: str) -> str:
    """`canary.baseline`: stable when both versions' selectors are set, else pre-release."""
    paired = bool(selector.strip() and stable_selector.strip())
    baseline = node.get("baseline", "stable" if paired else "pre-release", _str)
    if baseline not in ("stable", "pre-release"):
        node.fail(f"expected 'stable' or 'pre-release', got {baseline!r}", "baseline")
    if baseline == "stable" and not paired:
        node.fail("'stable' needs canary.selector and canary.stable_selector (the series of each version)", "baseline")
    return baseline


def _read_metrics(node: _Node) -> MetricsSettings:
    provider = node.get("provider", "prometheus", _str)
    if provider not in ("prometheus", "scrape"):
        node.fail(f"expected 'prometheus' or 'scrape', got {provider!r}", "provider")
    names = node.get("names", {})
    queries = node.get("queries", {})
    for key, value in (("names", names), ("queries", queries)):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            node.fail("expected a mapping of names to strings", key)
    query_params = _string_map(node, "query_params")
    headers = _string_map(node, "headers")
    flavor = node.get("flavor", "auto", _str)
    if flavor not in FLAVORS:
        node.fail(f"expected one of {', '.join(FLAVORS)}, got {flavor!r}", "flavor")
    if provider == "scrape":
        for key in ("query_params", "headers", "flavor", "max_sample_age"):
            if key in node.data:
                node.fail("applies to a Prometheus-compatible API only (metrics.provider prometheus)", key)
    basic_pair = basic_auth_env(node)
    settings = MetricsSettings(
        provider=provider,
        url=node.get("url", None, _str),
        timeout=node.get("timeout", 10.0, _positive_duration),
        verify_tls=node.get("verify_tls", True, _bool),
        bearer_token_env=node.get("bearer_token_env", None, _str),
        basic_auth_env=basic_pair,  # type: ignore[arg-type]
        names=dict(names),
        queries=dict(queries),
        query_params=query_params,
        headers=headers,
        flavor=flavor,
        max_sample_age=node.get("max_sample_age", None, _positive_duration),
    )
    node.finish()
    return settings


_RULE_KEYS = {
    "direction": _str, "soft": _factor, "hard": _factor, "floor": _ranged(_number, low=0), "lost": _number,
    "needs_traffic": _bool, "evidence": _bool, "max": _limit, "min": _limit, "limit": _str,
}
_NULLABLE_RULE_KEYS = ("soft", "hard", "lost", "max", "min")


def _string_map(node: _Node, key: str) -> dict[str, str]:
    """A mapping of names to scalar values, as strings (`nocache: 1` means "1")."""
    value = node.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        node.fail("expected a mapping of names to values", key)
    out: dict[str, str] = {}
    for name, raw in value.items():
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        if raw is None or isinstance(raw, (dict, list)):
            node.fail("expected a single value (a string or a number)", f"{key}.{name}")
        out[name] = str(raw)
    return out


def _read_watch(node: _Node, kind: str) -> WatchSettings:
    """The watch keys. Only what release.yaml sets is read here; every default lives beside the
    judge's rule (core.judge.DEFAULT_RULES, default_rule, WatchPolicy) and is applied there."""
    rules_node = node.child("rules")
    rules = []
    names = list(DEFAULT_RULES) + [n for n in rules_node.data if n not in DEFAULT_RULES]
    for name in names:
        rule = rules_node.child(name)
        if rule.data.get("enabled", True) is False:
            rule.read.add("enabled")
            rule.finish()
            continue
        overrides: dict[str, Any] = {}
        for key, convert in _RULE_KEYS.items():
            if key not in rule.data:
                rule.read.add(key)
                continue
            if key in _NULLABLE_RULE_KEYS and rule.data[key] is None:
                rule.read.add(key)
                overrides[key] = None  # null: this threshold is off
                continue
            overrides[key] = rule.get(key, None, convert)
        rule.read.add("enabled")
        base = default_rule(name)
        soft, hard = overrides.get("soft", base.soft), overrides.get("hard", base.hard)
        if soft is not None and hard is not None and soft >= hard:
            rule.fail(f"soft ({soft}) must be below hard ({hard})", "soft")
        try:
            MetricRule(**{**base.__dict__, "name": name, **overrides})
        except ValueError as exc:
            message = str(exc).split(": ", 1)[-1]
            where = next((k for k in ("lost", "soft", "hard", "floor", "evidence", "direction", "max", "min", "limit") if message.startswith(k)), None)
            rule.fail(message, where)
        rules.append(MetricRuleSettings(name=name, overrides=overrides))
        rule.finish()
    rules_node.finish()
    on_soft = node.get("on_soft_breach", None, _str)
    if on_soft is not None:
        try:
            _, extension = parse_soft_breach_answer(on_soft)
        except ValueError as exc:
            node.fail(str(exc), "on_soft_breach")
        if not 0 <= extension <= MAX_DURATION:
            node.fail(f"an extension is at most 7 days, got {on_soft!r}", "on_soft_breach")
    settings = WatchSettings(
        duration=node.get("duration", DEFAULT_WATCH[kind], _positive_duration),
        interval=node.get("interval", 60.0, _positive_duration),
        baseline=node.get("baseline", 300.0, _positive_duration),
        no_data_after=node.get("no_data_after", DEFAULT_NO_DATA_AFTER, _positive_duration),
        min_requests=node.get("min_requests", DEFAULT_MIN_REQUESTS, _non_negative),
        health_query=node.get("health_query", "", _str).strip(),
        health_check=node.get("health_check", True, _bool),
        health_timeout=node.get("health_timeout", 10.0, _positive_duration),
        health_failures_hard=node.get("health_failures_hard", DEFAULT_HEALTH_FAILURES_HARD, _whole(1, 1000)),
        rules=tuple(rules),
        on_soft_breach=on_soft,
        rollback_duration=node.get("rollback_duration", 300.0, _positive_duration),
        alerts=read_alerts(node.child("alerts")) if node.data.get("alerts") is not None else node.read.add("alerts"),
        confidence=node.get("confidence", DEFAULT_CONFIDENCE, _confidence),
    )
    if settings.interval > settings.duration:
        node.fail(f"interval ({settings.interval:g}s) is longer than the window ({settings.duration:g}s)", "interval")
    node.finish()
    return settings


def _confidence(value: Any) -> float:
    value = _number(value)
    if not 0.5 < value < 1:
        raise ValueError(f"must be a number between 0.5 and 1, exclusive (0.99: 99% confidence), got {value!r}")
    return value


def _non_negative(value: Any) -> float:
    value = _number(value)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"must be 0 or more (a finite number >= 0, requests per poll), got {value!r}")
    return value


def _health_query(node: _Node, env: Environment) -> Environment:
    """watch.health_query becomes the provider's `health` query, wrapped in min() so that one
    failing series (one instance down) reads as a failure, not hidden by a healthy one."""
    query = env.watch.health_query
    if not query:
        return env
    if env.metrics.provider != "prometheus":
        node.fail("a health query is PromQL: it needs metrics.provider prometheus", "watch.health_query")
    if HEALTH_METRIC in env.metrics.queries:
        node.fail(f"metrics.queries.{HEALTH_METRIC} is reserved for watch.health_query: rename the query", f"metrics.queries.{HEALTH_METRIC}")
    queries = {**env.metrics.queries, HEALTH_METRIC: f"min({query})"}
    return replace(env, metrics=replace(env.metrics, queries=queries))


def _read_traffic(node: _Node) -> TrafficSettings:
    settings = TrafficSettings(
        rate=node.get("rate", None, _ranged(_number, above=0, high=1000)) or node.fail("a request rate per second is required", "rate"),  # type: ignore[func-returns-value]
        paths=node.get("paths", ("/",), _str_list),
        timeout=node.get("timeout", 5.0, _positive_duration),
    )
    node.finish()
    return settings


def _read_gate(node: _Node) -> GateSettings:

    changes = node.child("changes")
    ticket_pattern = changes.get("ticket_pattern", DEFAULT_TICKET_PATTERN, _str)
    try:
        if re.compile(ticket_pattern).groups:
            changes.fail("use non-capturing groups (?:...) only: the whole match is the ticket key", "ticket_pattern")
    except re.error as exc:
        changes.fail(f"not a valid regular expression: {exc}", "ticket_pattern")
    components = changes.get("components", {})
    if not isinstance(components, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in components.items()):
        changes.fail("expected a mapping of path prefixes or globs to component names", "components")
    tag_pattern = changes.get("tag_pattern", None, _str)
    if tag_pattern is not None and (not tag_pattern.strip() or " " in tag_pattern):
        changes.fail(f"expected a tag glob like 'release/*', got {tag_pattern!r}", "tag_pattern")
    change_settings = ChangeSettings(
        tag_pattern=tag_pattern,
        ticket_pattern=ticket_pattern,
        components=dict(components),
        paths=changes.get("paths", (), _str_list),
        required=changes.get("required", True, _bool),
    )
    changes.finish()

    windows = node.child("change_windows")
    timezone = windows.get("timezone", "UTC", r.parse_timezone)

    def spans(key: str) -> tuple[r.WeeklySpan, ...]:
        raw = windows.get(key, [])
        if not isinstance(raw, list):
            windows.fail("expected a list of {days, from, to} periods", key)
        out = []
        for index, item in enumerate(raw):
            span = _Node(windows.file, f"{windows.where(key)}[{index}]", item)
            days = span.get("days", None, r.parse_days)
            start = span.get("from", None, r.parse_clock)
            end = span.get("to", None, lambda v: r.parse_clock(v, end=True))
            if days is None or start is None or end is None:
                span.fail("days, from and to are required (like {days: mon-fri, from: '09:00', to: '17:00'})")
            try:
                out.append(r.WeeklySpan(days, start, end, span.get("reason", "", _str)))
            except ValueError as exc:
                span.fail(str(exc))
            span.finish()
        return tuple(out)

    open_spans, blackouts = spans("open"), spans("blackouts")
    freezes = []
    raw_freezes = windows.get("freezes", [])
    if not isinstance(raw_freezes, list):
        windows.fail("expected a list of {from, to, reason} periods", "freezes")
    for index, item in enumerate(raw_freezes):
        freeze = _Node(windows.file, f"{windows.where('freezes')}[{index}]", item)
        start = freeze.get("from", None, lambda v: r.parse_moment(v, timezone))
        end = freeze.get("to", None, lambda v: r.parse_moment(v, timezone, end=True))
        if start is None or end is None:
            freeze.fail("from and to are required (dates like 2026-12-20, or '2026-12-20 18:00')")
        try:
            freezes.append(r.Freeze(start, end, freeze.get("reason", "", _str)))
        except ValueError as exc:
            freeze.fail(str(exc))
        freeze.finish()
    windows.finish()

    approvals = node.child("approvals")
    required = approvals.get("required", 0, _whole(0, 100))
    policy = r.ApprovalPolicy(
        required=required,
        four_eyes=approvals.get("four_eyes", True, _bool),
        approvers=approvals.get("approvers", (), _str_list),
    )
    approvals.finish()

    performance = node.get("performance_evidence", "auto", _str)
    if performance not in ("auto", "required", "optional"):
        node.fail(f"expected auto (as restrictions.md says), required or optional, got {performance!r}", "performance_evidence")
    flaky = node.get("flaky", GateSettings.flaky, _str)
    if flaky not in FLAKY_POLICIES:
        node.fail(f"expected risk (a pass after a retry counts, shown as an open risk) or block, got {flaky!r}", "flaky")
    reports = node.get("test_reports", GateSettings.test_reports, _str_list)
    if not reports or not all(pattern.strip() for pattern in reports):
        node.fail("expected one or more globs of JUnit XML files, like ['_docs/06_metrics/**/*.xml']", "test_reports")
    settings = GateSettings(
        acceptance_criteria=node.get("acceptance_criteria", GateSettings.acceptance_criteria, _str),
        test_reports=reports,
        flaky=flaky,
        restrictions=node.get("restrictions", GateSettings.restrictions, _str),
        performance_evidence=performance,
        perf_reports=node.get("perf_reports", GateSettings.perf_reports, _str),
        implementation_reports=node.get("implementation_reports", GateSettings.implementation_reports, _str),
        changes=change_settings,
        change_windows=r.ChangeCalendar(timezone, open_spans, blackouts, tuple(freezes)),
        approvals=policy,
    )
    node.finish()
    return settings


def _read_registry(node: _Node) -> RegistrySettings:
    url = node.get("url", None, _str)
    repository = node.get("repository", None, _str)
    if not url:
        node.fail("the registry's URL is required (like https://registry.example.com)", "url")
    if not repository:
        node.fail("the image repository is required (like acme/orders)", "repository")

    try:
        validate_reference(repository, "latest")
    except InvalidReference as exc:
        node.fail(str(exc), "repository")
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        node.fail("must not carry credentials: they come from the environment", "url")
    settings = RegistrySettings(
        url=url,
        repository=repository,
        credentials_env=node.get("credentials_env", "RELEASE_REGISTRY", _env_prefix),
        timeout=node.get("timeout", 10.0, _positive_duration),
        verify_tls=node.get("verify_tls", True, _bool),
    )
    node.finish()
    return settings


def _read_tracker(top: _Node) -> TrackerSettings | None:
    if not top.data.get("tracker"):
        top.read.add("tracker")
        return None
    node = top.child("tracker")
    backend = node.get("backend", "file", _str)
    if backend not in ("file", "jira"):
        node.fail(f"expected file or jira, got {backend!r}", "backend")
    url = node.get("url", None, _str)
    if backend == "jira" and not url:
        node.fail("the jira backend needs the site's URL (like https://acme.atlassian.net)", "url")
    if url and "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        node.fail("must not carry credentials: they come from the environment", "url")
    blocking = node.get("blocking_statuses", TrackerSettings.blocking_statuses, _str_list)
    settings = TrackerSettings(
        backend=backend,
        path=node.get("path", TrackerSettings.path, _str),
        url=url,
        credentials_env=node.get("credentials_env", "RELEASE_TRACKER", _env_prefix),
        timeout=node.get("timeout", 10.0, _positive_duration),
        verify_tls=node.get("verify_tls", True, _bool),
        blocking_statuses=blocking,
        released_status=node.get("released_status", TrackerSettings.released_status, _str),
        ready_status=node.get("ready_status", TrackerSettings.ready_status, _str),
    )
    node.finish()
    return settings


def _env_prefix(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
        raise ValueError(f"expected the prefix of environment variable names (like RELEASE_TRACKER), got {value!r}")
    return value
