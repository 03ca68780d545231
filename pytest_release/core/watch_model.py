"""The watch judge's vocabulary: statuses, rules and their defaults, the policy, a poll, a
reading and a decision. Every rule default lives here, beside MetricRule (release.yaml only
overrides); core.judge explains the conventions they follow.

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from pytest_release.core.alerts import AlertPolicy, AlertsSeen

_REL_TOL = 1e-9
_DIRECTIONS = ("up", "down")
_STATUS_RANK = {"ok": 0, "soft": 1, "hard": 2}


class Status(enum.Enum):
    """The watch window's verdict on one poll. Ordered: OK < SOFT < HARD."""

    OK = "ok"
    SOFT = "soft"
    HARD = "hard"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self.value]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """The most severe of `statuses`; OK when there are none."""
        return max(statuses, key=lambda s: s.rank, default=cls.OK)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.rank >= other.rank


class Classification(enum.Enum):
    """One metric's reading in one poll. NO_DATA is not a pass: it becomes a hard breach once
    the metric has been silent for the policy's `no_data_after`."""

    OK = "ok"
    SOFT = "soft"
    HARD = "hard"
    NO_DATA = "no-data"
    # A ratio rule with `evidence`: this poll's ratio breaches, the counts since the change do not
    # yet show it (core.evidence). Never a pass, never a finding; a window ending so: judge_end.
    INCONCLUSIVE = "inconclusive"


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@dataclass(frozen=True)
class MetricRule:
    """How one metric is judged against its baseline."""

    name: str
    direction: str = "up"
    soft: float | None = 1.5
    hard: float | None = 2.0
    floor: float = 0.0
    # Computed from the requests themselves (an error ratio, a latency quantile): a poll with
    # fewer than `min_requests` requests has no value of it worth judging (no data, never a pass).
    needs_traffic: bool = False
    # Lower-is-worse metrics only: a value under this fraction of a baseline that had traffic is
    # a hard breach of its own ("traffic lost"), whatever `hard` says. None disables it.
    lost: float | None = None
    # Absolute limits (an SLO), judged beside the ratio: above `max` (higher-is-worse metrics) or
    # below `min` (lower-is-worse) is a breach of severity `limit`, whatever the baseline was.
    max: float | None = None
    min: float | None = None
    limit: str = "hard"
    # A proportion of the poll's requests (Poll.requests): a soft or hard ratio stands only when
    # the counts since the change show it at the policy's confidence (core.evidence).
    evidence: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"metric rule name must be a non-empty string, got {self.name!r}")
        where = f"metric rule {self.name!r}"
        if self.direction not in _DIRECTIONS:
            raise ValueError(
                f"{where}: direction must be 'up' (higher is worse) or 'down' (lower is worse),"
                f" got {self.direction!r}"
            )
        for label in ("soft", "hard"):
            factor = getattr(self, label)
            if factor is None:
                continue
            if not _is_real(factor) or not factor > 1:
                raise ValueError(
                    f"{where}: {label} factor must be a number greater than 1 (a multiple of the"
                    f" baseline) or None to disable it, got {factor!r}"
                )
        if self.soft is not None and self.hard is not None and not self.soft < self.hard:
            raise ValueError(
                f"{where}: soft factor ({self.soft!r}) must be below the hard factor ({self.hard!r})"
            )
        if not _is_real(self.floor) or not math.isfinite(self.floor) or self.floor < 0:
            raise ValueError(
                f"{where}: floor must be a finite number >= 0 (the smallest baseline the metric is"
                f" compared with), got {self.floor!r}"
            )
        if not isinstance(self.evidence, bool):
            raise ValueError(f"{where}: evidence must be true or false, got {self.evidence!r}")
        if self.evidence and self.direction != "up":
            raise ValueError(f"{where}: evidence applies to a higher-is-worse share of requests (direction 'up') only")
        if self.lost is not None:
            if self.direction != "down":
                raise ValueError(f"{where}: lost applies to a lower-is-worse metric (direction 'down') only")
            if not _is_real(self.lost) or not 0 < self.lost < 1:
                raise ValueError(
                    f"{where}: lost must be a fraction of the baseline between 0 and 1 (0.1: under 10%"
                    f" of the baseline is traffic lost), got {self.lost!r}"
                )
        self._check_limits(where)

    def _check_limits(self, where: str) -> None:
        for label, side in (("max", "up"), ("min", "down")):
            limit = getattr(self, label)
            if limit is None:
                continue
            if not _is_real(limit) or not math.isfinite(limit) or limit < 0:
                raise ValueError(f"{where}: {label} must be a finite number >= 0 (an absolute limit), got {limit!r}")
            if self.direction != side:
                worse = "higher" if side == "up" else "lower"
                raise ValueError(
                    f"{where}: {label} applies to a metric where {worse} is worse (direction {side!r});"
                    f" this one has direction {self.direction!r}"
                )
        if self.limit not in ("hard", "soft"):
            raise ValueError(f"{where}: limit must be 'hard' (roll back) or 'soft' (escalate), got {self.limit!r}")


#: The runbook's rules for the standard metrics: the one home of every rule default (release.yaml
#: only overrides them). Why each value: docs/configuration.md, "Watch window".
DEFAULT_RULES: dict[str, MetricRule] = {
    # hard at 2x: the runbook's "error-rate >= 2x baseline"; floor 1%: a zero baseline must not
    # turn one error in a quiet minute into a rollback.
    # evidence: a share of the requests, so a breach stands only when the counts show it
    # (core.evidence): one error in twenty requests is not 5x a 1% baseline.
    "error_rate": MetricRule("error_rate", "up", 1.5, 2.0, 0.01, needs_traffic=True, evidence=True),
    # hard at 3x: the runbook's "p99 latency >= 3x baseline"; floor 50 ms: jitter below it is noise.
    "p99_latency": MetricRule("p99_latency", "up", 1.5, 3.0, 0.05, needs_traffic=True),
    # soft only, except traffic lost (under 10% of a baseline that had traffic): a hard finding.
    "request_rate": MetricRule("request_rate", "down", 1.5, None, 0.0, lost=0.1),
    # soft only: the runbook calls capacity warnings soft; floor 5%: idle CPU jitter is noise.
    "saturation": MetricRule("saturation", "up", 1.5, None, 0.05),
}

#: Watch-level defaults (the judge's policy). Reasons: docs/configuration.md, "Watch window".
DEFAULT_NO_DATA_AFTER = 180.0  # the runbook: no data within the first 3 minutes is a hard breach
DEFAULT_MIN_REQUESTS = 10.0  # per poll: under 10 requests one error is >= 10% and a p99 is the max
DEFAULT_HEALTH_FAILURES_HARD = 2  # the runbook: a health failure persisting 2 intervals is hard
DEFAULT_CONFIDENCE = 0.99  # the evidence test's (core.evidence): 99:1 odds, h = ln 99 = 4.6
#: The name of the poll value a PromQL health query (watch.health_query) is read into.
HEALTH_METRIC = "health"


def default_rule(name: str) -> MetricRule:
    """The rule a metric gets before release.yaml overrides anything: the runbook's for a standard
    metric; for any other query higher-is-worse, soft at 1.5x and never hard (a custom metric's
    meaning is unknown, so it can escalate but not roll back on its own)."""
    return DEFAULT_RULES.get(name) or MetricRule(name, "up", 1.5, None, 0.0)


@dataclass(frozen=True)
class WatchPolicy:
    """Every threshold the judge uses. Built from release.yaml by the config layer."""

    rules: tuple[MetricRule, ...]
    no_data_after: float = DEFAULT_NO_DATA_AFTER
    min_requests: float = DEFAULT_MIN_REQUESTS
    health_failures_hard: int = DEFAULT_HEALTH_FAILURES_HARD
    # The poll value that says healthy (> 0) or not (0, or no series): a PromQL health query's.
    # None: health comes from the health-check script only (Poll.health_ok).
    health_metric: str | None = None
    health_query: str = ""  # the query's text, for the words of a health finding
    # Seconds each poll covers, for words only ("0 requests in the last 1m").
    interval: float = 60.0
    # watch.alerts: how firing alerts are judged and which fired before the change (core.alerts);
    # None: alerts are not read.
    alerts: "AlertPolicy | None" = None
    # The evidence test's confidence (rules with `evidence`): see core.evidence.
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if not _is_real(self.confidence) or not 0.5 < self.confidence < 1:
            raise ValueError(
                f"watch policy: confidence must be a number between 0.5 and 1 (0.95: 95%), got {self.confidence!r}"
            )
        try:
            rules = tuple(self.rules)
        except TypeError:
            raise ValueError(
                f"watch policy: rules must be a sequence of MetricRule, got {self.rules!r}"
            ) from None
        object.__setattr__(self, "rules", rules)
        seen: set[str] = set()
        for rule in rules:
            if not isinstance(rule, MetricRule):
                raise ValueError(f"watch policy: every rule must be a MetricRule, got {rule!r}")
            if rule.name in seen:
                raise ValueError(f"watch policy: metric {rule.name!r} has more than one rule")
            seen.add(rule.name)
        if (
            not _is_real(self.no_data_after)
            or math.isnan(self.no_data_after)
            or self.no_data_after < 0
        ):
            raise ValueError(
                "watch policy: no_data_after must be a number of seconds >= 0 (math.inf disables"
                f" the no-data breach), got {self.no_data_after!r}"
            )
        if (
            not _is_real(self.min_requests)
            or not math.isfinite(self.min_requests)
            or self.min_requests < 0
        ):
            raise ValueError(
                f"watch policy: min_requests must be a finite number >= 0, got {self.min_requests!r}"
            )
        if (
            not isinstance(self.health_failures_hard, int)
            or isinstance(self.health_failures_hard, bool)
            or self.health_failures_hard < 1
        ):
            raise ValueError(
                "watch policy: health_failures_hard must be a whole number >= 1 (consecutive failed"
                f" health checks that make a hard breach), got {self.health_failures_hard!r}"
            )


@dataclass(frozen=True)
class Poll:
    """One interval of the watch window, as the metrics provider and health check saw it."""

    elapsed: float
    values: Mapping[str, float | None]
    requests: float | None = None
    health_ok: bool | None = None
    # Why the backend gave no values this poll (unreachable, timed out), in words; None when it
    # answered. Named in the no-data explanation so "no data" says whose fault it is.
    error: str | None = None
    # Why a metric is None, per metric, when the data cannot tell (the backend answered as of
    # another time, no window fits after the change yet): named in the no-data words instead of
    # "no sample". Every driver fills it alike (metrics.judged_reasons).
    missing: Mapping[str, str] | None = None
    # The data range each value rests on (start, end), per metric, when the provider knows it.
    coverage: Mapping[str, tuple[Any, Any]] | None = None
    # The alerts firing at this poll, or why they could not be read (core.alerts); None when
    # the window does not read alerts.
    alerts: "AlertsSeen | None" = None


@dataclass(frozen=True)
class MetricReading:
    """One metric in the judged poll, with the arithmetic that classified it."""

    metric: str
    value: float | None
    baseline: float | None
    effective_baseline: float | None
    ratio: float | None
    classification: Classification
    threshold: float | None
    explanation: str
    # For NO_DATA readings: the T+ (seconds) since which the metric has had no usable sample
    # (0.0 when it never had one). None otherwise.
    no_data_since: float | None = None
    # For NO_DATA readings: whether the metric had data earlier in the window, and why it has
    # none now: "traffic" (too few requests to judge it), "backend" (the backend did not
    # answer) or "absent" (no usable sample).
    had_data: bool = False
    cause: str | None = None
    detail: str = ""  # the why of a NO_DATA reading, in words ("0 requests in the last 1m")
    # The evidence test behind a ratio rule's soft, hard or INCONCLUSIVE reading
    # (core.evidence.Evidence); None where it did not run.
    evidence: Any = None


@dataclass(frozen=True)
class WatchDecision:
    status: Status
    readings: tuple[MetricReading, ...]
    reasons: tuple[str, ...]
    trigger: str | None
    # T+ (seconds) of the judged poll; None when there was no poll.
    elapsed: float | None = None
    # Health checks failed in a row up to the judged poll (polls without a check are skipped).
    health_failures: int = 0
    # What `trigger` is about: a rule's metric name, or "health"; None without a trigger.
    trigger_metric: str | None = None
    # One key per soft finding ("p99_latency", "no-data:p99_latency", "health@T+4m",
    # "end:p99_latency"): a person is asked about a key once (core.timeline).
    soft_keys: tuple[str, ...] = ()
