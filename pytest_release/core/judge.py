"""The watch-window judge (runbook Phase 5): one poll's metric samples against the pre-release
baseline and the policy's thresholds -> ok, soft breach or hard breach, with the reasons in words.

Pure on purpose: no I/O, no clock, no pytest. The watch phase owns the polling loop and the
clock; this module owns the decision, so every rule is testable with plain numbers and a
backtest can replay a recorded window through exactly the code that decides a live one.

Conventions the rest of the plugin relies on:

* A *ratio* always means "how many times worse than the baseline": value / baseline for a
  higher-is-worse metric ("up"), baseline / value for a lower-is-worse one ("down", e.g. request
  rate dropping). So 2.0 is twice as bad whichever way the metric points.
* A ratio within a relative 1e-9 of a threshold counts as reaching it, so 0.3 against a
  baseline of 0.2 is a 1.5x soft breach even though the float quotient 0.3 / 0.2 is
  1.4999999999999998.
* Only the last poll is judged; earlier polls matter only for the rules that need history (how
  long a metric has had no data, how many health checks failed in a row).
* The judge never raises on numbers: NaN, -inf and negative values (counter resets) are "no
  data"; +inf is the worst possible reading of a higher-is-worse metric (for a lower-is-worse
  metric it is merely very high, ratio 0); a missing, negative or non-finite baseline is
  "no baseline".
* Floor: the effective baseline is max(baseline, floor), so a zero or tiny baseline cannot turn
  one error into a breach. For a lower-is-worse metric the value is also raised to the floor
  (ratio = max(baseline, floor) / max(value, floor)): movements under the floor are noise either
  way. With floor 0, a lower-is-worse value of 0 against a positive baseline is infinitely worse.
* No baseline: if the effective baseline (max(baseline, floor)) is 0 or unknown, a value of 0
  is 1.0x (unchanged) and any other finite value cannot be compared and is classified OK with
  the explanation "no baseline". Give a metric a `floor` if a rise from nothing must count.
* No data before a metric's first data in the window is not a finding until it has lasted
  `no_data_after` (data can take a minute to flow); once data has flowed, a poll without it is
  a soft finding. Either, lasting `no_data_after`, is hard. The reason says what happened: too
  little traffic, the backend not answering, or the metric absent; "observability is itself
  broken" only for the last two.
* Traffic: a metric computed from requests (`needs_traffic`: error rate, p99 latency) is no data
  in a poll with no requests, or fewer than `min_requests` (default 10 per poll): too little
  traffic to judge is never a pass. A lower-is-worse metric with `lost` (request_rate: 0.1)
  under that fraction of a baseline that had traffic is a hard breach of its own, "traffic lost".
* Health: from the health-check script (Poll.health_ok) and, with `health_metric`, a PromQL
  query's value in the poll (> 0 healthy; 0 or no series failed; not checked when the backend
  did not answer). A poll without any check neither passes nor fails; the streak counts
  failures among the checks that ran, newest first.
* Equal times: consecutive polls with the same `elapsed` are one observation (a backend that
  answers twice for one instant, duplicated scrapes). They are merged worst-first: the worst
  usable value per metric, the most requests, a failed health check if any failed. So the order
  in which equal samples arrive never changes a decision.
* A window that ends while a metric has no data has not shown the release to be healthy:
  `core.timeline.judge_end` turns that into a soft breach (escalate: extend, accept or roll back).
* Numbers are never printed as `inf`: an unbounded ratio is said in words ("none at all").
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "Classification",
    "MetricReading",
    "MetricRule",
    "Poll",
    "Status",
    "WatchDecision",
    "WatchPolicy",
    "evidence",
    "format_elapsed",
    "has_data",
    "health_reading",
    "judge",
    "no_data_words",
    "ratio_words",
    "summarize",
    "traffic_words",
    "DEFAULT_HEALTH_FAILURES_HARD",
    "DEFAULT_MIN_REQUESTS",
    "DEFAULT_NO_DATA_AFTER",
    "DEFAULT_RULES",
    "HEALTH_METRIC",
    "default_rule",
]

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
        if self.lost is not None:
            if self.direction != "down":
                raise ValueError(f"{where}: lost applies to a lower-is-worse metric (direction 'down') only")
            if not _is_real(self.lost) or not 0 < self.lost < 1:
                raise ValueError(
                    f"{where}: lost must be a fraction of the baseline between 0 and 1 (0.1: under 10%"
                    f" of the baseline is traffic lost), got {self.lost!r}"
                )


#: The runbook's rules for the standard metrics: the one home of every rule default (release.yaml
#: only overrides them). Why each value: docs/configuration.md, "Watch window".
DEFAULT_RULES: dict[str, MetricRule] = {
    # hard at 2x: the runbook's "error-rate >= 2x baseline"; floor 1%: a zero baseline must not
    # turn one error in a quiet minute into a rollback.
    "error_rate": MetricRule("error_rate", "up", 1.5, 2.0, 0.01, needs_traffic=True),
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

    def __post_init__(self) -> None:
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
    # Why a metric is None, per metric, as the provider saw it ("newest sample 30s old").
    missing: Mapping[str, str] | None = None
    # The data range each value rests on (start, end), per metric, when the provider knows it.
    coverage: Mapping[str, tuple[Any, Any]] | None = None


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


# --- formatting ------------------------------------------------------------------------------


def _as_float(x: object) -> float | None:
    if x is None:
        return None
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _fmt_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    if seconds < 0:
        return "-" + _fmt_duration(-seconds)
    if math.isinf(seconds):
        return "unbounded"
    whole = int(math.floor(seconds + 0.5))
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"


def format_elapsed(seconds: float) -> str:
    """T+ notation of the runbook: T+45s, T+7m, T+7m30s (minutes never roll into hours)."""
    s = _as_float(seconds)
    if s is None or math.isnan(s):
        return "T+?"
    if s < 0:
        return "T-" + _fmt_duration(-s)
    return "T+" + _fmt_duration(s)


def _fmt_num(x: float | None) -> str:
    if x is None:
        return "none"
    if math.isinf(x):
        return "infinite" if x > 0 else "minus infinite"
    return f"{x:.6g}"


def _fmt_factor(t: float) -> str:
    if math.isfinite(t) and t == int(t):
        return f"{t:.1f}x"
    short = f"{t:g}"
    return f"{short if float(short) == t else repr(t)}x"


def _fmt_ratio(r: float, below: float | None = None) -> str:
    """Two decimals ("1.02"), one when the second is zero ("31.0"); more when rounding would
    make a ratio that stayed under `below` print as reaching it (1.499 -> "1.499", not "1.5")."""
    if math.isinf(r):
        return "unbounded"
    if r >= 1e6:
        return f"{r:.3g}"
    for decimals in range(2, 13):
        text = f"{r:.{decimals}f}"
        if below is None or float(text) < below:
            break
    else:
        return repr(r)
    if decimals == 2 and text.endswith("0"):
        text = text[:-1]
    return text


# --- one metric ------------------------------------------------------------------------------


def _lookup(mapping: Any, key: str) -> Any:
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except Exception:
        return None


def _sample(raw: object) -> tuple[float | None, str | None]:
    """(usable value, None) or (None, why it is no data)."""
    if raw is None:
        return None, "no sample"
    value = _as_float(raw)
    if value is None:
        return None, f"value {raw!r} is not a number"
    if math.isnan(value):
        return None, "value is NaN"
    if value < 0:
        if math.isinf(value):
            return None, "value is -inf"
        return None, f"value {_fmt_num(value)} is negative (a counter reset?)"
    return value + 0.0, None  # + 0.0 turns -0.0 into 0.0


def _clean_baseline(raw: object) -> float | None:
    value = _as_float(raw)
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value + 0.0


def _effective_baseline(baseline: float | None, floor: float) -> float | None:
    if baseline is None:
        return floor if floor > 0 else None
    return max(baseline, floor)


def _requests(poll: Poll) -> float | None:
    r = _as_float(poll.requests)
    if r is None or math.isnan(r) or r < 0:
        return None  # unknown (or a reset counter): min_requests does not apply
    return r


def _low_traffic(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    """Too few requests to judge a metric computed from them. No requests at all is always too
    few, whatever min_requests says: a ratio or quantile of nothing is no data, never 0."""
    if not rule.needs_traffic:
        return False  # a request-rate drop or a CPU reading is exactly what to see at low traffic
    requests = _requests(poll)
    return requests is not None and (requests == 0 or requests < policy.min_requests)


def _has_data(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    value, _ = _sample(_lookup(poll.values, rule.name))
    return value is not None and not _low_traffic(policy, rule, poll)


def has_data(policy: WatchPolicy, rule: MetricRule, poll: Poll) -> bool:
    """Whether `poll` has a usable sample of `rule`'s metric (with enough traffic to judge it)."""
    return _has_data(policy, rule, poll)


def traffic_words(policy: WatchPolicy, requests: float | None) -> str:
    """ "0 requests in the last 1m", "0.3 requests in the last 1m (0.005/s)"."""
    span = _fmt_duration(policy.interval)
    if requests is None:
        return f"an unknown number of requests in the last {span}"
    if requests == 0:
        return f"0 requests in the last {span}"
    per_second = f" ({_fmt_num(requests / policy.interval)}/s)" if policy.interval > 0 else ""
    return f"{_fmt_num(requests)} requests in the last {span}{per_second}"


def _elapsed(poll: Poll) -> float:
    e = _as_float(poll.elapsed)
    return math.nan if e is None else e


def _ratio(rule: MetricRule, value: float, eb: float | None) -> float | None:
    """How many times worse than the baseline; None when there is nothing to compare with."""
    if rule.direction == "up":
        if math.isinf(value):
            return math.inf
        if not eb:
            return 1.0 if value == 0 else None
        return value / eb
    if eb is None:
        return None
    # The floor is a noise level for both sides: a lower-is-worse value under it counts as the
    # floor, or a floor would *create* breaches (baseline 0.5/s, floor 1/s, value 0.5/s -> 2x).
    value = max(value, rule.floor)
    if value == 0:
        return 1.0 if eb == 0 else math.inf
    return eb / value


def _reaches(ratio: float, factor: float | None) -> bool:
    return factor is not None and ratio >= factor * (1 - _REL_TOL)


def _classify(rule: MetricRule, ratio: float | None) -> tuple[Classification, float | None]:
    nearest = rule.soft if rule.soft is not None else rule.hard
    if ratio is None or ratio <= 1.0:
        # No worse than the baseline never breaches, however close to 1 a factor is set (the
        # rounding tolerance below must not turn "unchanged" into a breach).
        return Classification.OK, nearest
    if _reaches(ratio, rule.hard):
        return Classification.HARD, rule.hard
    if _reaches(ratio, rule.soft):
        return Classification.SOFT, rule.soft
    return Classification.OK, nearest


def _baseline_words(rule: MetricRule, baseline: float | None, eb: float | None) -> str:
    if eb is None:
        return "no baseline"
    if baseline is None or baseline < rule.floor:
        return f"the floor {_fmt_num(rule.floor)} (baseline {_fmt_num(baseline)})"
    if rule.floor > 0:
        return f"the baseline {_fmt_num(baseline)} (floor {_fmt_num(rule.floor)})"
    return f"the baseline {_fmt_num(baseline)}"


def _verdict_words(rule: MetricRule, classification: Classification) -> str:
    if classification is Classification.HARD:
        return f"hard at {_fmt_factor(rule.hard)}"  # type: ignore[arg-type]
    if classification is Classification.SOFT:
        hard = f", hard at {_fmt_factor(rule.hard)}" if rule.hard is not None else ", never hard"
        return f"soft at {_fmt_factor(rule.soft)}{hard}"  # type: ignore[arg-type]
    if rule.soft is not None:
        return f"ok below soft {_fmt_factor(rule.soft)}"
    if rule.hard is not None:
        return f"ok below hard {_fmt_factor(rule.hard)}"
    return "ok (no thresholds: recorded only)"


def _unreached(rule: MetricRule, classification: Classification) -> float | None:
    if classification is Classification.SOFT:
        return rule.hard
    if classification is Classification.OK:
        return rule.soft if rule.soft is not None else rule.hard
    return None


@dataclass(frozen=True)
class _Finding:
    status: Status
    reason: str
    trigger: str
    metric: str = ""
    key: str = ""  # for a soft finding: what a person is asked about (see WatchDecision.soft_keys)


def _fmt_percent(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:.2g}%" if pct < 1 else f"{pct:.3g}%"


def _lost(rule: MetricRule, value: float, baseline: float | None) -> bool:
    """Under `rule.lost` of a baseline that had traffic (the raw baseline: a floor is no traffic)."""
    return rule.lost is not None and baseline is not None and baseline > 0 and value < rule.lost * baseline


def _judge_lost(rule: MetricRule, value: float, baseline: float, eb: float | None, at: str) -> tuple[MetricReading, _Finding]:
    name = rule.name
    share = value / baseline
    explanation = (
        f"{name} {_fmt_num(value)} is {_fmt_percent(share)} of the baseline {_fmt_num(baseline)}: traffic lost"
        f" (hard under {_fmt_percent(rule.lost or 0)} of the baseline)"
    )
    reading = MetricReading(
        metric=name, value=value, baseline=baseline, effective_baseline=eb, ratio=_ratio(rule, value, eb),
        classification=Classification.HARD, threshold=rule.lost, explanation=explanation,
    )
    trigger = f"traffic lost at {at}: {name} {_fmt_num(value)}, {_fmt_percent(share)} of the baseline {_fmt_num(baseline)}"
    return reading, _Finding(Status.HARD, f"hard breach at {at}: {explanation}", trigger, name)


def _judge_value(
    rule: MetricRule, value: float, baseline: float | None, eb: float | None, at: str
) -> tuple[MetricReading, _Finding | None]:
    if _lost(rule, value, baseline):
        assert baseline is not None
        return _judge_lost(rule, value, baseline, eb, at)
    ratio = _ratio(rule, value, eb)
    classification, threshold = _classify(rule, ratio)
    name = rule.name
    if ratio is None:
        explanation = (
            f"{name} {_fmt_num(value)} has no baseline to compare with"
            f" (baseline {_fmt_num(baseline)}, no floor); not judged"
        )
    else:
        shown = _fmt_ratio(ratio, _unreached(rule, classification))
        where = _baseline_words(rule, baseline, eb)
        if eb is None:
            size = "unchanged (1.0x): 0 with no baseline"
        elif math.isinf(value):
            size = f"beyond any finite value, against {where}"
        elif math.isinf(ratio):
            size = f"none at all, against {where}"
        elif rule.direction == "up":
            size = f"{shown}x {where}"
        elif value < rule.floor:
            size = f"{shown}x below {where}, counting the value as the floor"
        else:
            size = f"{shown}x below {where}"
        explanation = f"{name} {_fmt_num(value)} is {size}; {_verdict_words(rule, classification)}"
    reading = MetricReading(
        metric=name,
        value=value,
        baseline=baseline,
        effective_baseline=eb,
        ratio=ratio,
        classification=classification,
        threshold=threshold,
        explanation=explanation,
    )
    if classification not in (Classification.SOFT, Classification.HARD):
        return reading, None
    status = Status(classification.value)
    assert ratio is not None
    if math.isinf(ratio):
        trigger = (
            f"{name} breached baseline without bound (value {_fmt_num(value)},"
            f" baseline {_fmt_num(eb)}) at {at}"
        )
    else:
        below = "" if rule.direction == "up" else " below"
        trigger = f"{name} breached {_fmt_ratio(ratio)}x{below} baseline at {at}"
    return reading, _Finding(status, f"{status.value} breach at {at}: {explanation}", trigger, name, key=name)


_TRAFFIC_REMEDY = (
    "an environment without users needs `traffic:` (the built-in load generator) to be judged"
)


def _judge_no_data(
    policy: WatchPolicy,
    rule: MetricRule,
    polls: Sequence[Poll],
    value: float | None,
    why: str,
    cause: str,
    baseline: float | None,
    eb: float | None,
) -> tuple[MetricReading, _Finding | None]:
    """No usable value now. Before the metric's first data in the window this is no finding until
    it has lasted `no_data_after` (data may take a while to flow); once data has flowed, any
    poll without it is a soft finding; lasting `no_data_after`, either is hard."""
    last = polls[-1]
    since, had_data = 0.0, False
    for poll in reversed(polls[:-1]):
        if _has_data(policy, rule, poll):
            since, had_data = _elapsed(poll), True
            break
    gap = _elapsed(last) - since
    breached = gap >= policy.no_data_after  # False for a NaN gap
    name = rule.name
    if math.isinf(policy.no_data_after):
        limit = "no-data breach disabled"
    else:
        limit = f"hard after {_fmt_duration(policy.no_data_after)} without data"
    at = format_elapsed(_elapsed(last))
    when = f"since {format_elapsed(since)}" if had_data else "since the window started"
    explanation = f"{name} has no data ({why}); none {when}, {_fmt_duration(gap)} so far, {limit}"
    reading = MetricReading(
        metric=name,
        value=value,
        baseline=baseline,
        effective_baseline=eb,
        ratio=None,
        classification=Classification.NO_DATA,
        threshold=None,
        explanation=explanation,
        no_data_since=since,
        had_data=had_data,
        cause=cause,
        detail=why,
    )
    if not breached and not had_data:
        return reading, None
    if cause == "traffic":
        what = f"too little traffic to judge {name} {when}"
        detail = f"{why}; {_TRAFFIC_REMEDY}"
    elif cause == "backend":
        what = f"no data for {name} {when}: the metrics backend did not answer"
        detail = why
    else:
        what = f"no data for {name} {when}"
        detail = why
    if not breached:
        reason = f"soft breach at {at}: {what} ({detail}; {_fmt_duration(gap)} so far, {limit})"
        return reading, _Finding(Status.SOFT, reason, what, name, key=f"no-data:{name}")
    broken = "" if cause == "traffic" else ": observability is itself broken"
    trigger = f"{what} ({_fmt_duration(gap)} without data; {detail}){broken}"
    return reading, _Finding(Status.HARD, f"hard breach at {at}: {trigger}", trigger, name)


def _judge_metric(
    policy: WatchPolicy, rule: MetricRule, raw_baseline: object, polls: Sequence[Poll]
) -> tuple[MetricReading, _Finding | None]:
    last = polls[-1]
    baseline = _clean_baseline(raw_baseline)
    eb = _effective_baseline(baseline, rule.floor)
    value, why = _sample(_lookup(last.values, rule.name))
    if value is None:
        error = last.error if isinstance(last.error, str) and last.error else None
        if error is not None and why == "no sample":
            return _judge_no_data(policy, rule, polls, None, error, "backend", baseline, eb)
        told = _lookup(last.missing, rule.name)
        if why == "no sample" and isinstance(told, str) and told:
            why = told
        return _judge_no_data(policy, rule, polls, None, why or "no sample", "absent", baseline, eb)
    if _low_traffic(policy, rule, last):
        why = f"{traffic_words(policy, _requests(last))}, under min_requests {_fmt_num(policy.min_requests)} per poll"
        if _requests(last) == 0:
            why = traffic_words(policy, 0.0)
        return _judge_no_data(policy, rule, polls, value, why, "traffic", baseline, eb)
    return _judge_value(rule, value, baseline, eb, format_elapsed(_elapsed(last)))


# --- health ----------------------------------------------------------------------------------


def health_reading(policy: WatchPolicy, poll: Poll) -> tuple[bool | None, str]:
    """Healthy, failed or not checked (None), and in words why, from the health-check script
    (poll.health_ok) and the PromQL health query (the policy's health metric) together: failed
    if either failed. A query with no series is a failure (the target vanished); a backend that
    did not answer is no check at all (the no-data rules already blame the backend)."""
    script: bool | None = None
    if poll.health_ok is not None:
        try:
            script = bool(poll.health_ok)
        except Exception:
            script = None
    query: bool | None = None
    words = ""
    if policy.health_metric is not None and not (isinstance(poll.error, str) and poll.error):
        raw = _lookup(poll.values, policy.health_metric)
        value, _ = _sample(raw) if raw is not None else (None, None)
        shown = policy.health_query or policy.health_metric
        if value is None:
            query, words = False, f"health query {shown} returned no series"
        else:
            query = value > 0
            words = f"health query {shown} = {_fmt_num(value)}"
    checks = [c for c in (script, query) if c is not None]
    if not checks:
        return None, ""
    if script is False and policy.health_metric is not None:
        words = "health-check script failed" + (f"; {words}" if query is False else "")
    return all(checks), words


def _health_ok(poll: Poll) -> bool | None:
    if poll.health_ok is None:
        return None
    try:
        return bool(poll.health_ok)
    except Exception:
        return None


def _health_streak(policy: WatchPolicy, polls: Sequence[Poll]) -> tuple[int, float, str, float]:
    """Failed health checks in a row, newest first, skipping polls where no check ran; the T+ of
    the newest failure, the words of the first failure of the streak and its T+."""
    streak = 0
    newest_failure = oldest_failure = math.nan
    first_words = ""
    for poll in reversed(polls):
        ok, words = health_reading(policy, poll)
        if ok is None:
            continue
        if ok:
            break
        if streak == 0:
            newest_failure = _elapsed(poll)
        oldest_failure, first_words = _elapsed(poll), words
        streak += 1
    return streak, newest_failure, first_words, oldest_failure


def _judge_health(
    policy: WatchPolicy, streak: int, failed_at: float, words: str, at: str, started: float
) -> _Finding | None:
    if streak == 0:
        return None
    n = policy.health_failures_hard
    when = format_elapsed(failed_at)
    how = f" ({words})" if words else ""
    if streak >= n:
        runs = "once" if streak == 1 else f"{streak} intervals in a row"
        trigger = f"health check failed {runs} at {when}{how}"
        return _Finding(
            Status.HARD, f"hard breach at {at}: {trigger} (hard at {n} in a row)", trigger, "health"
        )
    runs = "once (a single-interval blip)" if streak == 1 else f"{streak} intervals in a row"
    reason = f"soft breach at {at}: health check failed {runs} at {when}{how}; hard at {n} in a row"
    return _Finding(Status.SOFT, reason, f"health check failed {runs} at {when}", "health", key=f"health@{format_elapsed(started)}")


# --- the judge -------------------------------------------------------------------------------


def judge(
    policy: WatchPolicy, baseline: Mapping[str, float | None], polls: Sequence[Poll]
) -> WatchDecision:
    """Judge the LAST poll in `polls`, using the earlier ones only for the rules that need
    history (no-data duration, consecutive health failures).

    Findings are ordered metric breaches (in `policy.rules` order), then no-data breaches (same
    order), then health; `trigger` is the first hard one, worded for the rollback verdict.
    """
    polls = _merge_equal_times(policy, tuple(polls))
    if not polls:
        return WatchDecision(status=Status.OK, readings=(), reasons=(), trigger=None)
    at = format_elapsed(_elapsed(polls[-1]))
    readings: list[MetricReading] = []
    metric_findings: list[_Finding] = []
    no_data_findings: list[_Finding] = []
    for rule in policy.rules:
        reading, finding = _judge_metric(policy, rule, _lookup(baseline, rule.name), polls)
        readings.append(reading)
        if finding is not None:
            if reading.classification is Classification.NO_DATA:
                no_data_findings.append(finding)
            else:
                metric_findings.append(finding)
    streak, failed_at, words, started = _health_streak(policy, polls)
    health = _judge_health(policy, streak, failed_at, words, at, started)
    findings = metric_findings + no_data_findings + ([health] if health else [])
    status = Status.worst(f.status for f in findings)
    first_hard = next((f for f in findings if f.status is Status.HARD), None)
    return WatchDecision(
        status=status,
        readings=tuple(readings),
        reasons=tuple(f.reason for f in findings),
        trigger=first_hard.trigger if first_hard else None,
        elapsed=_elapsed(polls[-1]),
        health_failures=streak,
        trigger_metric=first_hard.metric if first_hard else None,
        soft_keys=tuple(f.key for f in findings if f.status is Status.SOFT and f.key),
    )


# --- equal times -----------------------------------------------------------------------------


def _same_time(a: Poll, b: Poll) -> bool:
    ea, eb = _elapsed(a), _elapsed(b)
    return ea == eb  # False for NaN: an unknown time is never "the same" as another


def _merge_equal_times(policy: WatchPolicy, polls: tuple[Poll, ...]) -> tuple[Poll, ...]:
    """Consecutive polls at the same time, merged worst-first (see the module docstring)."""
    if len(polls) < 2 or all(not _same_time(a, b) for a, b in zip(polls, polls[1:])):
        return polls
    merged: list[Poll] = []
    group: list[Poll] = [polls[0]]
    for poll in polls[1:]:
        if _same_time(group[-1], poll):
            group.append(poll)
        else:
            merged.append(_merge(policy, group))
            group = [poll]
    merged.append(_merge(policy, group))
    return tuple(merged)


def _merge(policy: WatchPolicy, group: list[Poll]) -> Poll:
    if len(group) == 1:
        return group[0]
    values: dict[str, object] = {}
    for rule in policy.rules:
        raws = [_lookup(p.values, rule.name) for p in group]
        usable = [v for v in (_sample(r)[0] for r in raws) if v is not None]
        if usable:
            values[rule.name] = max(usable) if rule.direction == "up" else min(usable)
        else:  # no usable sample: keep one that explains why, the same whatever the order
            values[rule.name] = min((r for r in raws), key=_no_data_order)
    if policy.health_metric is not None:  # the worst health reading: 0 or no series beats 1
        raws = [_lookup(p.values, policy.health_metric) for p in group]
        usable = [v for v in (_sample(r)[0] for r in raws) if v is not None]
        values[policy.health_metric] = min(usable) if len(usable) == len(raws) else None
    counts = [r for r in (_requests(p) for p in group) if r is not None]
    health = [h for h in (_health_ok(p) for p in group) if h is not None]
    errors = sorted(p.error for p in group if isinstance(p.error, str) and p.error)
    missing: dict[str, str] = {}
    for p in group:
        for metric, why in sorted(dict(p.missing or {}).items()):
            missing.setdefault(metric, why)
    return Poll(
        missing=missing or None,
        elapsed=_elapsed(group[0]),
        values=values,  # type: ignore[arg-type]
        requests=max(counts) if counts else None,
        health_ok=(all(health) if health else None),
        error=errors[0] if errors else None,
    )


def _no_data_order(raw: object) -> tuple[int, str]:
    """A total order over unusable samples, so the one kept does not depend on arrival order."""
    return (0 if raw is None else 1, repr(raw))


# --- explaining a decision and the end of a window --------------------------------------------


def _recent_samples(polls: Sequence[Poll], metric: str, count: int) -> str:
    shown = []
    for poll in polls[-count:]:
        value, _ = _sample(_lookup(poll.values, metric))
        shown.append(f"{format_elapsed(_elapsed(poll))} {'no data' if value is None else _fmt_num(value)}")
    return ", ".join(shown)


def evidence(decision: WatchDecision, polls: Sequence[Poll], samples: int = 3) -> str:
    """The numbers behind a decision, in one line: for a hard breach its metric's value,
    baseline and threshold with the last `samples` samples; for a soft one every soft metric's.
    Empty for an OK decision."""
    if decision.status is Status.OK:
        return ""
    readings = {r.metric: r for r in decision.readings}
    if decision.status is Status.HARD:
        metrics = [decision.trigger_metric] if decision.trigger_metric else []
    else:
        metrics = [r.metric for r in decision.readings if r.classification is Classification.SOFT]
        if decision.health_failures:
            metrics.append("health")
    merged = _merge_equal_times_loose(polls)
    parts = []
    for metric in metrics:
        if metric == "health":
            n = decision.health_failures
            parts.append(f"health check failed {n} poll{'s' if n != 1 else ''} in a row")
            continue
        r = readings.get(metric or "")
        if r is None:
            continue
        part = r.explanation
        if r.classification is not Classification.NO_DATA:
            part += f"; samples {_recent_samples(merged, r.metric, samples)}"
        parts.append(part)
    return "; ".join(parts)


def _merge_equal_times_loose(polls: Sequence[Poll]) -> tuple[Poll, ...]:
    """Polls for display: the last of each run at the same time (no policy needed)."""
    out: list[Poll] = []
    for poll in polls:
        if out and _same_time(out[-1], poll):
            out[-1] = poll
        else:
            out.append(poll)
    return tuple(out)


def no_data_words(r: MetricReading) -> str:
    """A NO_DATA reading in a few words: "no data since T+7m", "no data yet", "not judged:
    0 requests in the last 1m"."""
    if r.cause == "traffic":
        return f"not judged: {r.detail}"
    if r.had_data and r.no_data_since is not None:
        return f"no data since {format_elapsed(r.no_data_since)}"
    return "no data yet"


def ratio_words(r: MetricReading, below: float | None = None) -> str:
    """A reading's ratio: "1.70x"; in words where a number would be infinite."""
    if r.ratio is None:
        return "no baseline"
    if math.isinf(r.ratio):
        if r.value is not None and math.isinf(r.value):
            return "beyond any finite value"
        return "none at all"
    return f"{_fmt_ratio(r.ratio, below)}x"


def summarize(decision: WatchDecision) -> str:
    """One line for the terminal while the window runs, e.g.
    "error_rate 1.02x · p99_latency 0.97x · status ok". Ratios are "times worse than baseline"
    for every metric, lower-is-worse ones included; no data says since when."""
    parts = []
    for r in decision.readings:
        if r.classification is Classification.NO_DATA:
            parts.append(f"{r.metric} {no_data_words(r)}")
        elif r.ratio is None:
            parts.append(f"{r.metric} no baseline")
        else:
            mark = (
                f" {r.classification.value}"
                if r.classification in (Classification.SOFT, Classification.HARD)
                else ""
            )
            below = r.threshold if r.classification is Classification.OK else None
            if math.isinf(r.ratio):
                shown = f"{_fmt_num(r.value)} ({ratio_words(r)}, baseline {_fmt_num(r.baseline)})"
            else:
                shown = ratio_words(r, below)
            parts.append(f"{r.metric} {shown}{mark}")
    if decision.health_failures:
        parts.append(f"health failed x{decision.health_failures}")
    parts.append(f"status {decision.status.value}")
    return " · ".join(parts)
