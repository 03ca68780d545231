"""Phase 2's decision: which deployment strategy fits this release, and why.

Pure: the signals (breaking changes in the change summary, a restriction that forces a manual
release, what the environment supports) are handed in, and a recommendation comes out with its
reasons in words. Who then picks (an option, a person at a terminal, the environment's default)
is decided here too, so every rule is testable without a session.

The runbook's rules, in order:

1. Restrictions may force manual: then manual is the only acceptable choice (a different one
   needs --release-override-reason, and the override is recorded).
2. An environment that supports one strategy gets that one.
3. A breaking change (or an unknown change summary: unknown risk is treated as high) leans to
   canary, else blue-green, when the environment offers them.
4. Otherwise the environment's default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from pytest_release.core.blanks import blanks
from pytest_release.core.prose import prose_lines

STRATEGIES = ("all-at-once", "blue-green", "canary", "manual")

#: The menu's letters are fixed per strategy, whatever the environment offers.
LETTERS = {"all-at-once": "A", "blue-green": "B", "canary": "C", "manual": "D"}
LABELS = {
    "all-at-once": "all-at-once: every user gets the new version at once",
    "blue-green": "blue-green: deploy to the idle side, smoke-test it, then switch",
    "canary": "canary: move traffic over in steps, judging each",
    "manual": "manual: an operator deploys by checklist; the release records",
}
GRADUAL = ("canary", "blue-green")  # preferred in this order for a risky change
WHY = {
    "canary": "canary exposes only the first step's share of the traffic to the new version",
    "blue-green": "blue-green smoke-tests the new version before any user sees it and switches back at once",
}


@dataclass(frozen=True)
class Signals:
    """What the recommendation is based on."""

    env: str
    supported: tuple[str, ...]
    default: str
    breaking: tuple[str, ...] | None  # one line per breaking change; None: the change summary is unknown
    commits: int = 0
    since: str | None = None  # the change summary's base (a tag), None: the root commit
    summary_error: str | None = None  # why there is no change summary
    manual_required: str | None = None  # the restriction that forces a manual release


@dataclass(frozen=True)
class Recommendation:
    strategy: str | None  # None: the environment offers nothing the restrictions allow
    reasons: tuple[str, ...]
    forced: bool = False  # restrictions leave no choice
    conflict: str | None = None  # why no supported strategy is acceptable


@dataclass(frozen=True)
class Choice:
    strategy: str
    by: str
    asked: bool = False


def recommend(s: Signals) -> Recommendation:
    """The runbook's recommendation with its reasons (see the module docstring for the rules)."""
    if s.manual_required:
        why = f"restrictions require a manual release: {s.manual_required}"
        if "manual" in s.supported:
            return Recommendation("manual", (why,), forced=True)
        conflict = (
            f"{why}, but environment {s.env} does not offer the manual strategy "
            f"(strategies: {', '.join(s.supported)})"
        )
        return Recommendation(None, (why,), forced=True, conflict=conflict)
    risk = _risk_reasons(s)
    if len(s.supported) == 1:
        only = s.supported[0]
        return Recommendation(only, (f"{only} is the only strategy environment {s.env} supports", *risk))
    risky = s.breaking is None or bool(s.breaking)
    if risky:
        for strategy in GRADUAL:
            if strategy in s.supported:
                return Recommendation(strategy, (*risk, WHY[strategy]))
        return Recommendation(
            s.default, (*risk, f"environment {s.env} offers neither canary nor blue-green: its default, {s.default}")
        )
    return Recommendation(s.default, (*risk, f"a low-risk change: the default of environment {s.env}, {s.default}"))


def _risk_reasons(s: Signals) -> tuple[str, ...]:
    since = s.since or "the root commit"
    if s.breaking is None:
        return (f"the change summary is unknown ({s.summary_error or 'not available'}): the risk is treated as high",)
    if not s.breaking:
        return (f"no breaking change in {_count(s.commits, 'commit')} since {since}",)
    listed = "; ".join(s.breaking[:3]) + (f"; and {len(s.breaking) - 3} more" if len(s.breaking) > 3 else "")
    return (f"{_count(len(s.breaking), 'breaking change')} since {since}: {listed}",)


def menu(supported: Sequence[str], recommended: str | None) -> dict[str, str]:
    """The A/B/C/D question: only what the environment supports, in letter order."""
    items = sorted((LETTERS[s], s) for s in supported)
    return {letter: LABELS[s] + (" (recommended)" if s == recommended else "") for letter, s in items}


def strategy_for(letter: str) -> str:
    return {v: k for k, v in LETTERS.items()}[letter]


def choose(
    *, option: str | None, supported: Sequence[str], default: str, env: str, answer: str | None, asked: bool
) -> Choice:
    """Who picks: --release-strategy, else the only supported strategy, else a person's answer
    (a letter), else the environment's default (CI, no terminal)."""
    if option:
        return Choice(option, "--release-strategy")
    if len(supported) == 1:
        return Choice(supported[0], f"the only strategy of environment {env}")
    if answer is not None:
        return Choice(strategy_for(answer), "a person at the terminal", asked=True)
    nobody = " (nobody could be asked)" if asked else ""
    return Choice(default, f"default of environment {env}{nobody}")


def needs_question(option: str | None, supported: Sequence[str]) -> bool:
    return option is None and len(supported) > 1


def planned_strategies(option: str | None, supported: Sequence[str], default: str, interactive: bool) -> tuple[str, ...]:
    """The strategies this session may end up running, known before phase 2 decides: the option,
    or every supported one when a person at a terminal will pick, else the default. The traffic
    shift's items (canary steps, the blue-green switch) are made for these."""
    if option:
        return (option,)
    if interactive and len(supported) > 1:
        return tuple(supported)
    return (default,)


def first_deploy_args(strategy: str, canary_weights: Sequence[int]) -> list[str]:
    """The deploy script's strategy arguments for phase 3: a canary starts at its first step."""
    if strategy == "canary" and canary_weights:
        return ["--canary-weight", str(canary_weights[0])]
    return []


#: The deploy-script flag each strategy needs beyond `--strategy` (the documented contract).
SCRIPT_FLAGS = {"canary": "--canary-weight", "blue-green": "--switch"}


def script_defect(strategy: str, script_text: str) -> str | None:
    """Why a deploy script cannot run `strategy`, read from its text like phase 1's --rollback
    check: found before anything is deployed rather than halfway through a canary."""
    left = blanks(script_text)
    if left:
        return f"still has {len(left)} blank(s) that pytest --release-init left to fill in: {left[0]}"
    flag = SCRIPT_FLAGS.get(strategy)
    if flag is None or flag in script_text:
        return None
    return f"does not handle {flag}, so it cannot run a {strategy} release"


def deploy_reaches_users(strategy: str, args: Sequence[str]) -> bool:
    """Does this deploy-script call change what users get? A blue-green deploy goes to the idle
    side, so only its switch does; a failure before the switch therefore aborts, not rolls back."""
    if strategy == "blue-green":
        return "--switch" in args
    return True


def serves_everyone(strategy: str, args: Sequence[str]) -> bool:
    """After this deploy-script call, is every user on the new version, so that what serves can
    be checked against it? A canary only at 100%, blue-green only after its switch."""
    if strategy == "canary":
        weights = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--canary-weight"]
        return not weights or weights[-1] == "100"
    return deploy_reaches_users(strategy, args)


# --- restrictions.md ------------------------------------------------------------------------
_MANUAL_LINE = re.compile(
    r"^[\s>*+-]*(?:\*\*|__)?\s*(?:deploy(?:ment)?\s+|release\s+)?strategy\s*(?:\((?P<scope>[^)]*)\))?\s*(?:\*\*|__)?\s*:"
    r"\s*(?:\*\*|__)?\s*manual\b(?P<rest>.*)$",
    re.IGNORECASE,
)


def manual_required_by(text: str, env: str, kind: str) -> str | None:
    """The line of `restrictions.md` that forces a manual release here, or None.

    The convention, like the gate's `Performance evidence: required`: one line outside code
    fences, `Deployment strategy: manual` (also `Strategy:` or `Release strategy:`), optionally
    scoped to environments or kinds, `Deployment strategy (production, dr-site): manual`, and
    optionally followed by why."""
    for line in prose_lines(text):
        match = _MANUAL_LINE.match(line)
        if not match:
            continue
        scope = match.group("scope")
        if scope is not None:
            names = {part.strip().lower() for part in scope.split(",") if part.strip()}
            if env.lower() not in names and kind.lower() not in names:
                continue
        return line.strip().strip("*_-> ").strip()
    return None


def summary_lines(s: Signals, rec: Recommendation, choices: dict[str, str]) -> list[str]:
    """The STRATEGY SELECT box for the terminal and the report."""
    rule = "═" * 62
    out = [rule, "STRATEGY SELECT", rule, f"Environment:  {s.env} (supports {', '.join(s.supported)}; default {s.default})"]
    out.append(f"Recommended:  {rec.strategy or 'none of the supported strategies'}")
    out += [f"  - {reason}" for reason in rec.reasons]
    if rec.conflict:
        out.append(f"  ! {rec.conflict}")
    if choices:
        out.append(rule)
        out += [f"{letter}) {label}" for letter, label in choices.items()]
    out.append(rule)
    return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
