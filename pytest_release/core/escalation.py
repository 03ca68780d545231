"""A soft breach escalates: the answers a release accepts (continue, roll back, extend the window)
and which answer counts when several could be given."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_release.core.durations import parse_duration

SOFT_BREACH_ANSWERS = ("continue", "rollback", "extend")


def parse_soft_breach_answer(value: str) -> tuple[str, float]:
    """'continue' | 'rollback' | 'extend:10m' -> (action, extension seconds)."""
    action, _, rest = value.partition(":")
    action = action.strip().lower()
    if action not in SOFT_BREACH_ANSWERS or (action == "extend") != bool(rest):
        raise ValueError(f"expected continue, rollback or extend:DURATION (like extend:10m), got {value!r}")
    return action, (parse_duration(rest) if rest else 0.0)


PERSON = "a person at the terminal"
LETTERS = {"A": "continue", "B": "rollback"}  # C: extend, by a duration asked next
DEFAULT_EXTENSION = 300.0  # C with no (or an unreadable) duration: five more minutes


@dataclass(frozen=True)
class Escalation:
    """How a soft breach was answered: the action, the extension, who answered, and why it was
    rolled back when nobody could answer."""

    action: str  # continue | rollback | extend
    seconds: float  # the extension, for extend
    by: str | None  # the option, the config key or the person; None when nobody answered
    unanswered: str | None = None  # why nobody answered (then the action is rollback)


def settle_soft_breach(
    *,
    option: str | None,
    configured: str | None,
    config_key: str,
    letter: str | None = None,
    extension: float | None = None,
    nobody: str = "no terminal",
) -> Escalation:
    """The precedence of answers: --release-on-soft-breach, then the environment's
    watch.on_soft_breach, then a person's letter (A/B/C, with C's `extension` in seconds); with
    none of them the release rolls back, the safe default, and says why."""
    if option is not None:
        action, seconds = parse_soft_breach_answer(option)
        return Escalation(action, seconds, f"--release-on-soft-breach={option}")
    if configured is not None:
        action, seconds = parse_soft_breach_answer(configured)
        return Escalation(action, seconds, f"{config_key}={configured}")
    if letter == "C":
        return Escalation("extend", DEFAULT_EXTENSION if extension is None else extension, PERSON)
    if letter in LETTERS:
        return Escalation(LETTERS[letter], 0.0, PERSON)
    why = (
        f"nobody could be asked ({nobody}) and neither --release-on-soft-breach nor watch.on_soft_breach "
        "gives an answer: rolling back, the safe default"
    )
    return Escalation("rollback", 0.0, None, why)
