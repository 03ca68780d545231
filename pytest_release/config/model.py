"""release.yaml as frozen dataclasses: what a loaded config is (pytest_release.config.loader reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from pytest_release.adapters.git import DEFAULT_TICKET_PATTERN
from pytest_release.core.judge import (  # noqa: F401  (DEFAULT_RULES re-exported by config)
    DEFAULT_HEALTH_FAILURES_HARD,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_NO_DATA_AFTER,
    DEFAULT_RULES,
    MetricRule,
    default_rule,
)
from pytest_release.core.restrictions import ApprovalPolicy, ChangeCalendar
from pytest_release.core.watch_model import DEFAULT_CONFIDENCE


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
class ManualSettings:
    """The manual strategy: the operator's steps, when release.yaml lists them (otherwise they
    come from the deployment procedures document)."""

    checklist: tuple[str, ...] = ()


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
    test_data: bool = False  # a write that touches only test data (required on production without a test account)

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class SmokeTestAccount:
    """Who the smoke cases act as on a production environment: its headers go with every case."""

    name: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeSettings:
    base_url: str | None = None
    request_timeout: float = 10.0
    budget: float = 300.0
    concurrency: int = 8
    endpoints: tuple[SmokeEndpoint, ...] = ()
    preview_url: str | None = None  # reaches only the new version: a blue-green idle side, a canary's own address
    read_only: tuple[str, ...] = ()  # paths that accept no write, so need no write case
    coverage: str = "warn"  # warn | fail | off: a path without its read or write case
    test_account: SmokeTestAccount | None = None


@dataclass(frozen=True)
class CanaryStep:
    weight: int  # percent of the traffic on the new version after this step
    analysis: float  # seconds judged after the step (the last step gets the full watch window instead)


DEFAULT_CANARY_WEIGHTS = (5, 25, 50, 100)


@dataclass(frozen=True)
class CanarySettings:
    """How a canary release moves traffic: one deploy-script call per step, each judged briefly."""

    steps: tuple[CanaryStep, ...] = tuple(CanaryStep(w, 300.0) for w in DEFAULT_CANARY_WEIGHTS)
    interval: float | None = None  # None: the watch interval, at most the step's analysis
    selector: str = ""  # label matchers for the new version's own metrics; {version} is replaced
    rules: tuple[str, ...] | None = None  # None: every watch rule, or error_rate and p99_latency with a selector
    min_requests: float | None = None  # None: watch.min_requests
    # What a step's canary is compared with: "stable" (the version it replaces, read over the same
    # interval through `stable_selector`; the default when both selectors are set) or
    # "pre-release" (the baseline recorded before the deploy). core.canary_compare judges it.
    baseline: str = "pre-release"
    stable_selector: str = ""  # label matchers for the stable version's series; {stable} is replaced


@dataclass(frozen=True)
class MetricRuleSettings:
    """One watch rule as release.yaml states it: only the keys it sets. The defaults live beside
    the judge's rule (core.judge.DEFAULT_RULES, default_rule); None in `overrides` turns a
    threshold off."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> MetricRule:
        """The judge's rule: its default for this metric with the overrides on top."""
        return replace(default_rule(self.name), name=self.name, **self.overrides)

    @property
    def direction(self) -> str:
        return self.rule.direction

    @property
    def soft(self) -> float | None:
        return self.rule.soft

    @property
    def hard(self) -> float | None:
        return self.rule.hard

    @property
    def floor(self) -> float:
        return self.rule.floor


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
    # Per-backend query settings (docs/configuration.md "Backends"): parameters added to every
    # query, request headers, the backend's flavour (auto: from its build-info), and how old the
    # newest sample may be before a value counts as no data (None: the poll's window).
    query_params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    flavor: str = "auto"
    max_sample_age: float | None = None


@dataclass(frozen=True)
class AlertsSettings:
    """watch.alerts: firing alerts as watch signals (read by config.alerts; judged by core.alerts)."""

    source: str  # alertmanager | prometheus (the ALERTS series of the watch's metrics backend)
    selector: tuple[tuple[str, str, str], ...]  # label matchers: (name, operator, value)
    url: str | None = None  # Alertmanager's base URL (alertmanager only)
    severity_label: str = "severity"
    severities: Mapping[str, str] = field(default_factory=lambda: {"critical": "hard", "warning": "soft"})
    unmapped: str = "soft"
    timeout: float = 5.0
    verify_tls: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)  # values are secrets: never shown
    bearer_token_env: str | None = None
    basic_auth_env: tuple[str, str] | None = None


@dataclass(frozen=True)
class WatchSettings:
    duration: float
    interval: float = 60.0
    baseline: float = 300.0
    no_data_after: float = DEFAULT_NO_DATA_AFTER
    min_requests: float = DEFAULT_MIN_REQUESTS
    health_check: bool = True
    health_timeout: float = 10.0
    health_failures_hard: int = DEFAULT_HEALTH_FAILURES_HARD
    rules: tuple[MetricRuleSettings, ...] = ()
    on_soft_breach: str | None = None
    rollback_duration: float = 300.0
    health_query: str = ""  # PromQL: healthy while its value is > 0 (read as the `health` query)
    alerts: AlertsSettings | None = None  # watch.alerts; None: alerts are not read
    confidence: float = DEFAULT_CONFIDENCE  # the evidence test's, for rules with `evidence`


@dataclass(frozen=True)
class TrafficSettings:
    """A built-in load for quiet environments: without requests there is no signal to watch."""

    rate: float
    paths: tuple[str, ...] = ("/",)
    timeout: float = 5.0


@dataclass(frozen=True)
class ChangeSettings:
    """The change summary (phase 1): which commits are in scope and how they are grouped."""

    tag_pattern: str | None = None  # glob of release tags; None: derived from tag.pattern
    ticket_pattern: str = DEFAULT_TICKET_PATTERN
    components: Mapping[str, str] = field(default_factory=dict)  # path prefix or glob -> name
    paths: tuple[str, ...] = ()  # git pathspecs relative to the project root; () = the whole repo
    required: bool = True  # no git repository / no history: a blocking finding (else an open risk)


@dataclass(frozen=True)
class GateSettings:
    """Phase 1's inputs. Paths are relative to the project root (the directory of release.yaml)."""

    acceptance_criteria: str = "_docs/00_problem/acceptance_criteria.md"
    test_reports: tuple[str, ...] = ("_docs/06_metrics/**/*.xml",)  # globs: the newest run of JUnit files
    flaky: str = "risk"  # a pass after failed attempts: risk (counts, shown as an open risk) | block
    restrictions: str = "_docs/00_problem/restrictions.md"
    performance_evidence: str = "auto"  # auto (as restrictions.md says) | required | optional
    perf_reports: str = "_docs/06_metrics/perf_*.md"
    implementation_reports: str = "_docs/03_implementation"
    changes: ChangeSettings = field(default_factory=ChangeSettings)
    change_windows: ChangeCalendar = field(default_factory=ChangeCalendar)
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)


@dataclass(frozen=True)
class RegistrySettings:
    """Where the images live; credentials come from <credentials_env>_USERNAME/_PASSWORD/_TOKEN."""

    url: str
    repository: str
    credentials_env: str = "RELEASE_REGISTRY"
    timeout: float = 10.0
    verify_tls: bool = True


@dataclass(frozen=True)
class TrackerSettings:
    """The issue tracker (one per project); credentials come from <credentials_env>_USERNAME/_TOKEN."""

    backend: str = "file"  # file | jira
    path: str = "_docs/tracker.yaml"
    url: str | None = None
    credentials_env: str = "RELEASE_TRACKER"
    timeout: float = 10.0
    verify_tls: bool = True
    blocking_statuses: tuple[str, ...] = ("In Progress", "Code Review")
    released_status: str = "Released"
    ready_status: str = "Ready for Release"


NOTIFY_CHANNEL_TYPES = ("slack", "webhook", "command")


@dataclass(frozen=True)
class NotifyChannel:
    """One place notifications go. `url` (slack, webhook) is a secret: it is redacted everywhere."""

    type: str  # slack | webhook | command
    url: str | None = None
    argv: tuple[str, ...] = ()  # command: the program and its arguments; the event JSON comes on stdin
    events: tuple[str, ...] = ()  # () = every event
    name: str = ""  # how the report names it (default: the type and its position)


@dataclass(frozen=True)
class NotifySettings:
    """Built-in notifications: each state change goes to every channel, once."""

    channels: tuple[NotifyChannel, ...] = ()
    timeout: float = 5.0  # per request (or per command run)
    retries: int = 2  # further attempts after a failure that may pass (429, 5xx, no connection)
    max_wait: float = 30.0  # cap on the waiting between attempts, per message (Retry-After included)
    report_url: str | None = None  # where readers find the report; {report} is its file name


@dataclass(frozen=True)
class AnnotationSettings:
    """Grafana annotations (HTTP API /api/annotations): the deploy, the watch window, the verdict."""

    url: str  # Grafana's base URL, like https://grafana.example.com
    token_env: str = "GRAFANA_TOKEN"  # the variable holding a service account token (sent as a bearer token)
    dashboard_uid: str | None = None  # None: organisation-wide annotations
    panel_id: int | None = None
    tags: tuple[str, ...] = ()  # added to env, version and verdict
    timeout: float = 5.0
    retries: int = 2
    max_wait: float = 30.0


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
    manual: ManualSettings = field(default_factory=ManualSettings)
    current_version_source: str = "url"  # url | report (the last Released report for this environment)
    gate: GateSettings = field(default_factory=GateSettings)
    registry: RegistrySettings | None = None
    canary: CanarySettings = field(default_factory=CanarySettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    annotations: AnnotationSettings | None = None

    @property
    def production(self) -> bool:
        return self.kind == "production"


@dataclass(frozen=True)
class TagSettings:
    """The git tag of a Released release (phase 6). `enabled` is auto, true or false: auto tags
    only when the project root is the top level of its git work tree."""

    enabled: str = "auto"
    pattern: str = "release/{version}"
    push: bool = False
    remote: str = "origin"
    environments: tuple[str, ...] = ()  # empty: every environment tags


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
    lock_dir: Path | None = None  # one lock file per environment; default <release_dir>/.locks
    deployment_procedures: Path | None = None  # where the manual strategy's checklist may come from
    tag: TagSettings = field(default_factory=TagSettings)
    tracker: TrackerSettings | None = None  # None: _docs/tracker.yaml when it exists (see tracker.py)

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"{self.path}: environments: no environment named {name!r} (configured: {known})"
            ) from None
