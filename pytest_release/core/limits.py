"""Absolute limits beside the relative rules: an SLO such as "p99 under 300 ms" or "at least
5 requests/s", stated in release.yaml as `watch.rules.<metric>.max` / `.min`.

A relative rule asks "how much worse than before the release?"; a limit asks "is it acceptable
at all?". Both judge every poll and the worse classification wins, so a team's SLO holds even
when the baseline was already bad (a ratio of 1.0x against a slow baseline is no excuse) or
missing. Being *at* the limit is within it: "p99 under 300 ms" read as "at most 300 ms".

Pure: no I/O, no clock, no pytest."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_release.core.watch_model import Classification, MetricRule
from pytest_release.core.words import _fmt_num


@dataclass(frozen=True)
class LimitBreach:
    """A value beyond one of its rule's absolute limits."""

    classification: Classification  # HARD or SOFT: the rule's `limit` setting
    limit: float
    words: str  # "above its limit 0.3 (hard)"


def breached_limit(rule: MetricRule, value: float) -> LimitBreach | None:
    """The absolute limit `value` is beyond, if any; None when within every limit."""
    severity = Classification.HARD if rule.limit == "hard" else Classification.SOFT
    if rule.max is not None and value > rule.max:
        return LimitBreach(severity, rule.max, f"above its limit {_fmt_num(rule.max)} ({rule.limit})")
    if rule.min is not None and value < rule.min:
        return LimitBreach(severity, rule.min, f"below its limit {_fmt_num(rule.min)} ({rule.limit})")
    return None


def limit_words(rule: MetricRule) -> str:
    """The limits a rule has, for a reading within them: "within its limit 0.3"; "" without."""
    parts = [f"max {_fmt_num(rule.max)}" if rule.max is not None else "", f"min {_fmt_num(rule.min)}" if rule.min is not None else ""]
    shown = ", ".join(p for p in parts if p)
    return f"within its limit ({shown}, {rule.limit})" if shown else ""
