"""release.yaml -> frozen dataclasses.

A bad config is a usage error before anything runs, so every problem names the file and the key
path (`environments.staging.watch.duration`) and says what was expected. Unknown keys are errors
too: a typo in a threshold must not silently fall back to a default."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

STRATEGIES = ("all-at-once", "blue-green", "canary", "manual")
SOFT_BREACH_ANSWERS = ("continue", "rollback", "extend")
DEFAULT_WATCH = {"staging": 15 * 60.0, "production": 60 * 60.0}


class ConfigError(Exception):
    """release.yaml is unusable; the message names the file and the key path."""


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploySettings:
    idle_timeout: float = 300.0
    total_timeout: float | None = None
    kill_grace: float = 10.0
    output_head: int = 200
    output_tail: int = 800


@dataclass(frozen=True)
class SmokeEndpoint:
    name: str
    path: str
    method: str = "GET"
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 200
    expect_fields: tuple[str, ...] = ()
    component: str = "service"

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class SmokeSettings:
    base_url: str | None = None
    request_timeout: float = 10.0
    budget: float = 300.0
    concurrency: int = 8
    endpoints: tuple[SmokeEndpoint, ...] = ()


@dataclass(frozen=True)
class MetricRuleSettings:
    name: str
    direction: str = "up"
    soft: float | None = 1.5
    hard: float | None = None
    floor: float = 0.0


@dataclass(frozen=True)
class MetricsSettings:
    provider: str = "prometheus"
    url: str | None = None
    timeout: float = 10.0
    verify_tls: bool = True
    bearer_token_env: str | None = None
    basic_auth_env: tuple[str, str] | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    queries: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WatchSettings:
    duration: float
    interval: float = 60.0
    baseline: float = 300.0
    no_data_after: float = 180.0
    min_requests: float = 0.0
    health_check: bool = True
    health_timeout: float = 10.0
    health_failures_hard: int = 2
    rules: tuple[MetricRuleSettings, ...] = ()
    on_soft_breach: str | None = None
    rollback_duration: float = 300.0


@dataclass(frozen=True)
class TrafficSettings:
    """A built-in load for quiet environments: without requests there is no signal to watch."""

    rate: float
    paths: tuple[str, ...] = ("/",)
    timeout: float = 5.0


@dataclass(frozen=True)
class Environment:
    name: str
    kind: str
    strategies: tuple[str, ...]
    default_strategy: str
    auto_proceed: bool
    deploy: DeploySettings
    smoke: SmokeSettings
    metrics: MetricsSettings
    watch: WatchSettings
    traffic: TrafficSettings | None
    current_version_url: str | None
    current_version_field: str

    @property
    def production(self) -> bool:
        return self.kind == "production"


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    release_dir: Path
    deploy_script: Path
    health_script: Path
    env_file: Path
    env_example: Path
    environments: Mapping[str, Environment]

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"{self.path}: environments: no environment named {name!r} (configured: {known})"
            ) from None


DEFAULT_RULES = {
    "error_rate": {"direction": "up", "soft": 1.5, "hard": 2.0, "floor": 0.01},
    "p99_latency": {"direction": "up", "soft": 1.5, "hard": 3.0, "floor": 0.05},
    "request_rate": {"direction": "down", "soft": 1.5, "hard": None, "floor": 0.0},
    "saturation": {"direction": "up", "soft": 1.5, "hard": None, "floor": 0.05},
}


# --- parsing helpers -----------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_duration(value: Any) -> float:
    """'90s', '5m', '1h30m' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '15m', got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and value.strip() and any(match.groups()):
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            return h * 3600 + m * 60 + s
    raise ValueError(f"expected a duration like '90s', '15m' or '1h', got {value!r}")


class _Node:
    """A mapping being read, with its key path, so errors can say exactly where."""

    def __init__(self, file: Path, path: str, data: Any) -> None:
        self.file, self.path = file, path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        return ".".join(p for p in (self.path, key) if p) or "(top level)"

    def fail(self, message: str, key: str | None = None) -> None:
        raise ConfigError(f"{self.file}: {self.where(key)}: {message}")

    def get(self, key: str, default: Any = None, convert: Callable[[Any], Any] | None = None) -> Any:
        self.read.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if convert is None:
            return value
        try:
            return convert(value)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), key)

    def child(self, key: str) -> "_Node":
        self.read.add(key)
        return _Node(self.file, self.where(key), self.data.get(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, sorted(self.read), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(self.read))})"
            self.fail(f"unknown key{hint}", key)


def _typed(kind: type, what: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {what}, got {value!r}")
        return value

    return convert


_str = _typed(str, "a string")
_bool = _typed(bool, "true or false")
_int = _typed(int, "a whole number")
_number = _typed(float, "a number")


def _positive(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        value = convert(value)
        if value <= 0:
            raise ValueError(f"must be greater than zero, got {value!r}")
        return value

    return check


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _factor(value: Any) -> float:
    value = _number(value)
    if value <= 1:
        raise ValueError(f"a breach factor is a multiple of the baseline and must be above 1, got {value!r}")
    return value


def expand_env(value: Any, environ: Mapping[str, str], where: Callable[[str], str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the loaded YAML."""
    if isinstance(value, dict):
        return {k: expand_env(v, environ, lambda m, k=k: where(f"{k}: {m}")) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ, lambda m, i=i: where(f"[{i}]: {m}")) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(where(f"environment variable {name} is not set (write ${{{name}:-default}} for a default)"))

    return _ENV_REF.sub(substitute, value)


# --- loading -------------------------------------------------------------------------------
def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: release config not found (pass --release-config=PATH)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the release config: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = expand_env(raw, environ, lambda m: f"{path}: {m}")
    return _read_config(path, raw)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override if override is not None else base


_SHARED_SECTIONS = ("deploy", "smoke", "metrics", "watch", "traffic", "current_version")


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
        merged = dict(raw_env)
        for key in _SHARED_SECTIONS:
            if shared[key] is not None or key in raw_env:
                merged[key] = _merge(shared[key], raw_env.get(key))
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
    top.finish()
    return config


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
    )
    node.read.add("traffic")
    node.finish()
    return env


def _read_deploy(node: _Node) -> DeploySettings:
    settings = DeploySettings(
        idle_timeout=node.get("idle_timeout", 300.0, _positive(parse_duration)),
        total_timeout=node.get("total_timeout", None, _positive(parse_duration)),
        kill_grace=node.get("kill_grace", 10.0, parse_duration),
        output_head=node.get("output_head", 200, _positive(_int)),
        output_tail=node.get("output_tail", 800, _positive(_int)),
    )
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
                status=ep.get("status", 201 if method == "POST" else 200, _int),
                expect_fields=ep.get("expect_fields", (), _str_list),
                component=ep.get("component", "service", _str),
            )
        )
        ep.finish()
    settings = SmokeSettings(
        base_url=node.get("base_url", None, _str),
        request_timeout=node.get("request_timeout", 10.0, _positive(parse_duration)),
        budget=node.get("budget", 300.0, _positive(parse_duration)),
        concurrency=node.get("concurrency", 8, _positive(_int)),
        endpoints=tuple(endpoints),
    )
    if settings.endpoints and not settings.base_url:
        node.fail("smoke endpoints need a base_url", "base_url")
    node.finish()
    return settings


def _read_metrics(node: _Node) -> MetricsSettings:
    provider = node.get("provider", "prometheus", _str)
    if provider not in ("prometheus", "scrape"):
        node.fail(f"expected 'prometheus' or 'scrape', got {provider!r}", "provider")
    names = node.get("names", {})
    queries = node.get("queries", {})
    for key, value in (("names", names), ("queries", queries)):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            node.fail("expected a mapping of names to strings", key)
    basic = node.child("basic_auth_env")
    basic_pair = None
    if basic.data:
        basic_pair = (basic.get("username", None, _str), basic.get("password", None, _str))
        if None in basic_pair:
            basic.fail("needs both 'username' and 'password' (names of environment variables)")
    basic.finish()
    settings = MetricsSettings(
        provider=provider,
        url=node.get("url", None, _str),
        timeout=node.get("timeout", 10.0, _positive(parse_duration)),
        verify_tls=node.get("verify_tls", True, _bool),
        bearer_token_env=node.get("bearer_token_env", None, _str),
        basic_auth_env=basic_pair,  # type: ignore[arg-type]
        names=dict(names),
        queries=dict(queries),
    )
    node.finish()
    return settings


def _read_watch(node: _Node, kind: str) -> WatchSettings:
    rules_node = node.child("rules")
    rules = []
    names = list(DEFAULT_RULES) + [n for n in rules_node.data if n not in DEFAULT_RULES]
    for name in names:
        defaults = DEFAULT_RULES.get(name, {"direction": "up", "soft": 1.5, "hard": None, "floor": 0.0})
        rule = rules_node.child(name)
        if rule.data.get("enabled", True) is False:
            rule.read.add("enabled")
            rule.finish()
            continue
        direction = rule.get("direction", defaults["direction"], _str)
        if direction not in ("up", "down"):
            rule.fail("expected 'up' (higher is worse) or 'down' (lower is worse)", "direction")
        soft = rule.get("soft", defaults["soft"], _factor) if "soft" not in rule.data or rule.data["soft"] is not None else None
        hard = rule.get("hard", defaults["hard"], _factor) if "hard" not in rule.data or rule.data["hard"] is not None else None
        rule.read.update(("soft", "hard", "enabled"))
        if soft is not None and hard is not None and soft >= hard:
            rule.fail(f"soft ({soft}) must be below hard ({hard})", "soft")
        rules.append(
            MetricRuleSettings(
                name=name, direction=direction, soft=soft, hard=hard,
                floor=rule.get("floor", defaults["floor"], _number),
            )
        )
        rule.finish()
    rules_node.finish()
    on_soft = node.get("on_soft_breach", None, _str)
    if on_soft is not None:
        try:
            parse_soft_breach_answer(on_soft)
        except ValueError as exc:
            node.fail(str(exc), "on_soft_breach")
    settings = WatchSettings(
        duration=node.get("duration", DEFAULT_WATCH[kind], _positive(parse_duration)),
        interval=node.get("interval", 60.0, _positive(parse_duration)),
        baseline=node.get("baseline", 300.0, _positive(parse_duration)),
        no_data_after=node.get("no_data_after", 180.0, _positive(parse_duration)),
        min_requests=node.get("min_requests", 0.0, _number),
        health_check=node.get("health_check", True, _bool),
        health_timeout=node.get("health_timeout", 10.0, _positive(parse_duration)),
        health_failures_hard=node.get("health_failures_hard", 2, _positive(_int)),
        rules=tuple(rules),
        on_soft_breach=on_soft,
        rollback_duration=node.get("rollback_duration", 300.0, _positive(parse_duration)),
    )
    if settings.interval > settings.duration:
        node.fail(f"interval ({settings.interval:g}s) is longer than the window ({settings.duration:g}s)", "interval")
    node.finish()
    return settings


def _read_traffic(node: _Node) -> TrafficSettings:
    settings = TrafficSettings(
        rate=node.get("rate", None, _positive(_number)) or node.fail("a request rate per second is required", "rate"),  # type: ignore[func-returns-value]
        paths=node.get("paths", ("/",), _str_list),
        timeout=node.get("timeout", 5.0, _positive(parse_duration)),
    )
    node.finish()
    return settings


def parse_soft_breach_answer(value: str) -> tuple[str, float]:
    """'continue' | 'rollback' | 'extend:10m' -> (action, extension seconds)."""
    action, _, rest = value.partition(":")
    action = action.strip().lower()
    if action not in SOFT_BREACH_ANSWERS or (action == "extend") != bool(rest):
        raise ValueError(f"expected continue, rollback or extend:DURATION (like extend:10m), got {value!r}")
    return action, (parse_duration(rest) if rest else 0.0)
