"""A soft breach escalates: the answers a release accepts (continue, roll back, extend the window)."""

from __future__ import annotations

from pytest_release.core.durations import parse_duration

SOFT_BREACH_ANSWERS = ("continue", "rollback", "extend")


def parse_soft_breach_answer(value: str) -> tuple[str, float]:
    """'continue' | 'rollback' | 'extend:10m' -> (action, extension seconds)."""
    action, _, rest = value.partition(":")
    action = action.strip().lower()
    if action not in SOFT_BREACH_ANSWERS or (action == "extend") != bool(rest):
        raise ValueError(f"expected continue, rollback or extend:DURATION (like extend:10m), got {value!r}")
    return action, (parse_duration(rest) if rest else 0.0)
