"""A canary step judged against the stable version, in the report: per poll and metric both
series and the pre-release baseline side by side, the comparison that decided and its outcome,
the request counts each side rests on; after the step, every finding in words."""

from __future__ import annotations

import math

from pytest_release.core.canary_compare import PairedDecision, SideBySide
from pytest_release.core.judge import Poll, format_elapsed
from pytest_release.report.document import Block, Section

HEADERS = ("T+", "Status", "Metric", "Canary", "Stable", "Pre-release baseline", "Compared", "Outcome")


def _num(x: float | None) -> str:
    if x is None:
        return "no data"
    if math.isinf(x):
        return "infinite"
    return f"{x:.4g}"


def _times(*pairs: tuple[float | None, str]) -> str:
    """" (1.00x stable, 40.00x pre-release)": the ratios that were computed."""
    shown = [f"{'unbounded' if math.isinf(r) else f'{r:.2f}x'} {what}".strip() for r, what in pairs if r is not None]
    return f" ({', '.join(shown)})" if shown else ""


def _requests(count: float | None) -> str:
    return "" if count is None else f", {count:.0f} req"


def side_by_side_table(section: Section, title: str, canary_series: str, stable_series: str) -> Block:
    """The step's table; rows are added by `add_poll`."""
    headers = list(HEADERS)
    headers[3], headers[4] = f"Canary {canary_series}", f"Stable {stable_series}"
    return section.table(headers, title=title)


def _outcome(row: SideBySide) -> str:
    return row.outcome if row.outcome in ("ok", "no-data") else f"**{row.outcome}**"


def add_poll(block: Block, poll: Poll, decision: PairedDecision) -> None:
    """One row per metric of the poll: canary (its ratio to the stable version and to the
    pre-release baseline), stable (its ratio to the pre-release baseline), the baseline."""
    at, status = format_elapsed(poll.elapsed), decision.status.value
    for row in decision.side_by_side:
        canary = _num(row.canary) + _times((row.vs_stable, "stable"), (row.canary_vs_pre, "pre-release"))
        stable = _num(row.stable) + _times((row.stable_vs_pre, "pre-release"))
        block.rows.append([
            at, status, row.metric, canary + _requests(poll.requests), stable + _requests(decision.stable_requests),
            _num(row.pre_release), row.comparison, _outcome(row),
        ])


def findings(decisions: list[PairedDecision]) -> list[str]:
    """Every finding of the step's polls, once each, in the order they came."""
    seen: list[str] = []
    for decision in decisions:
        for reason in decision.reasons:
            if reason not in seen:
                seen.append(reason)
    return seen


def summary(decision: PairedDecision) -> str:
    """One terminal line per poll: "error_rate 0.2 vs stable 0 (20.00x) hard · ... · status hard"."""
    parts = []
    for row in decision.side_by_side:
        if row.comparison.endswith("stable") and row.vs_stable is not None:
            parts.append(f"{row.metric} {_num(row.canary)} vs stable {_num(row.stable)}{_times((row.vs_stable, ''))} {row.outcome}")
        else:
            parts.append(f"{row.metric} {_num(row.canary)}{_times((row.canary_vs_pre, 'pre-release'))} {row.outcome}")
    if decision.health_failures:
        parts.append(f"health failed x{decision.health_failures}")
    parts.append(f"status {decision.status.value}")
    return " · ".join(parts)
