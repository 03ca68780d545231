"""release.yaml: the model (frozen dataclasses), the value grammars, and the loader.

`pytest_release.config` stays the one import for all of it."""

from pytest_release.config.loader import load_config
from pytest_release.config.model import (
    DEFAULT_CANARY_WEIGHTS,
    DEFAULT_RULES,
    DEFAULT_WATCH,
    CanarySettings,
    CanaryStep,
    ChangeSettings,
    Config,
    ConfigError,
    DeploySettings,
    Environment,
    GateSettings,
    AlertsSettings,
    AnnotationSettings,
    ManualSettings,
    MetricRuleSettings,
    MetricsSettings,
    NotifyChannel,
    NotifySettings,
    RegistrySettings,
    SmokeEndpoint,
    SmokeSettings,
    SmokeTestAccount,
    TagSettings,
    TrackerSettings,
    TrafficSettings,
    WatchSettings,
)
from pytest_release.config.schema import expand_env
from pytest_release.core.durations import parse_duration
from pytest_release.core.escalation import SOFT_BREACH_ANSWERS, parse_soft_breach_answer
from pytest_release.core.strategy import STRATEGIES

__all__ = [
    "AlertsSettings",
    "AnnotationSettings",
    "CanarySettings",
    "CanaryStep",
    "ChangeSettings",
    "Config",
    "ConfigError",
    "DEFAULT_CANARY_WEIGHTS",
    "DEFAULT_RULES",
    "DEFAULT_WATCH",
    "DeploySettings",
    "Environment",
    "GateSettings",
    "ManualSettings",
    "MetricRuleSettings",
    "MetricsSettings",
    "NotifyChannel",
    "NotifySettings",
    "RegistrySettings",
    "SOFT_BREACH_ANSWERS",
    "STRATEGIES",
    "SmokeEndpoint",
    "SmokeSettings",
    "SmokeTestAccount",
    "TagSettings",
    "TrackerSettings",
    "TrafficSettings",
    "WatchSettings",
    "expand_env",
    "load_config",
    "parse_duration",
    "parse_soft_breach_answer",
]
