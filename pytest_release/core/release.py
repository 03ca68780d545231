"""The release as a state machine: which phases ran, what triggered a rollback, which verdict.

Pure: no I/O, no clock (times are passed in). Every path to a verdict goes through here, whether
phase 6 ran or the session was cut short, so the rules live in one place and are unit-tested."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


class Phase(enum.Enum):
    GATE = "gate"
    STRATEGY = "strategy"
    EXECUTE = "execute"
    SMOKE = "smoke"
    WATCH = "watch"
    COMMIT = "commit"

    @property
    def number(self) -> int:
        return list(Phase).index(self) + 1

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def touches_live_system(self) -> bool:
        """A failure here means the new version may be serving: roll back, don't just stop."""
        return self in (Phase.EXECUTE, Phase.SMOKE, Phase.WATCH)

    @classmethod
    def parse(cls, name: str) -> "Phase":
        wanted = name.strip().lower().replace("_", "-")
        for phase in cls:
            if wanted in (phase.value, phase.title.lower().replace(" ", "-"), str(phase.number)):
                return phase
        names = ", ".join(p.value for p in cls)
        raise ValueError(f"unknown release phase {name!r}: expected one of {names}")


_TITLES = {
    Phase.GATE: "Pre-Release Gate",
    Phase.STRATEGY: "Strategy Select",
    Phase.EXECUTE: "Execute",
    Phase.SMOKE: "Smoke Test",
    Phase.WATCH: "Watch Window",
    Phase.COMMIT: "Commit or Rollback",
}


class Verdict(enum.Enum):
    RELEASED = "Released"
    RELEASED_WITH_OVERRIDE = "Released-with-override"
    ROLLED_BACK = "Rolled-Back"
    ABORTED = "Aborted"
    ROLLBACK_FAILED = "Rollback-Failed"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Verdict.RELEASED: 0,
    Verdict.RELEASED_WITH_OVERRIDE: 0,
    Verdict.ROLLED_BACK: 10,
    Verdict.ABORTED: 11,
    Verdict.ROLLBACK_FAILED: 12,
}
USAGE_ERROR_EXIT = 4


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class CheckRecord:
    phase: Phase
    name: str
    outcome: Outcome
    message: str
    at: dt.datetime


@dataclass
class Release:
    """What happened so far, and what must happen next."""

    env: str
    version: str
    rollback_target: str | None = None
    checks: list[CheckRecord] = field(default_factory=list)
    live_touched_at: dt.datetime | None = None
    triggers: list[str] = field(default_factory=list)
    abort_reasons: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    interrupted: str | None = None
    rollback_started_at: dt.datetime | None = None
    rollback_result: tuple[bool, str] | None = None
    committed: bool = False
    incomplete: list[str] = field(default_factory=list)

    # --- recording -------------------------------------------------------------------------
    def record(self, phase: Phase, name: str, outcome: Outcome, message: str, at: dt.datetime) -> None:
        self.checks.append(CheckRecord(phase, name, outcome, message, at))
        if outcome is Outcome.PASSED or phase is Phase.COMMIT:
            return
        if outcome is Outcome.SKIPPED and (self.abort_reasons or self.triggers):
            return  # skipped because an earlier check failed: a consequence, not a cause
        reason = message or f"{phase.title}: {name} {outcome.value}"
        if outcome is Outcome.SKIPPED:
            reason = f"{phase.title}: {name} was skipped ({message or 'no reason given'})"
        if self.live_touched_at is None:
            self.abort_reasons.append(reason)
        else:
            self.triggers.append(reason)

    def touch_live_system(self, at: dt.datetime) -> None:
        """Called just before the deploy script starts: from now on stopping means rolling back."""
        if self.live_touched_at is None:
            self.live_touched_at = at

    def trigger_rollback(self, reason: str) -> None:
        """A rollback decided inside a phase (hard breach, a person's choice) rather than by a failed check."""
        self.triggers.append(reason)

    def abort(self, reason: str) -> None:
        self.abort_reasons.append(reason)

    def override(self, reason: str) -> None:
        self.overrides.append(reason)

    def interrupt(self, why: str) -> None:
        if self.committed:
            return  # verified and committed: stopping during phase 6's bookkeeping changes nothing live
        if self.interrupted is None:
            self.interrupted = why

    def start_rollback(self, at: dt.datetime) -> None:
        self.rollback_started_at = at

    def finish_rollback(self, ok: bool, detail: str) -> None:
        self.rollback_result = (ok, detail)

    def commit(self) -> None:
        self.committed = True

    # --- questions -------------------------------------------------------------------------
    def passed(self, phase: Phase) -> bool:
        """Every check of `phase` passed, and there was at least one."""
        records = [c for c in self.checks if c.phase is phase]
        return bool(records) and all(c.outcome is Outcome.PASSED for c in records)

    def may_touch_live_system(self) -> bool:
        return not self.abort_reasons and self.passed(Phase.GATE) and self.passed(Phase.STRATEGY)

    def needs_rollback(self) -> bool:
        """The live system was touched and the release did not get through execute, smoke and watch."""
        if self.live_touched_at is None or self.rollback_started_at is not None:
            return False
        if self.triggers or self.interrupted:
            return True
        return not all(self.passed(p) for p in (Phase.EXECUTE, Phase.SMOKE, Phase.WATCH))

    def may_commit(self) -> bool:
        return (
            self.live_touched_at is not None
            and not self.triggers
            and not self.interrupted
            and all(self.passed(p) for p in Phase if p is not Phase.COMMIT)
        )

    def verdict(self) -> Verdict:
        if self.rollback_started_at is not None:
            ok = self.rollback_result is not None and self.rollback_result[0]
            return Verdict.ROLLED_BACK if ok else Verdict.ROLLBACK_FAILED
        if self.live_touched_at is None:
            return Verdict.ABORTED
        if self.committed and self.may_commit():
            return Verdict.RELEASED_WITH_OVERRIDE if self.overrides else Verdict.RELEASED
        # Touched, not rolled back, not committed: the session ended in between (a crash,
        # or a rollback that could not even start). Nobody knows what is serving.
        return Verdict.ROLLBACK_FAILED

    def reason_chain(self) -> list[str]:
        """Why the verdict is what it is, first cause first."""
        chain = list(self.abort_reasons) + list(self.triggers)
        if self.interrupted:
            chain.append(f"session interrupted: {self.interrupted}")
        if self.rollback_started_at is not None and self.rollback_result is not None:
            ok, detail = self.rollback_result
            chain.append(("rollback succeeded: " if ok else "rollback FAILED: ") + detail)
        elif self.rollback_started_at is not None:
            chain.append("rollback started but did not finish")
        if self.live_touched_at is not None and self.rollback_started_at is None and not self.committed:
            chain.append("the live system was changed and neither committed nor rolled back")
        chain.extend(f"override: {o}" for o in self.overrides)
        chain.extend(f"incomplete: {i}" for i in self.incomplete)
        if not chain:
            verdict = self.verdict()
            chain.append("every phase passed" if verdict is Verdict.RELEASED else verdict.value)
        return chain

    def headline(self) -> str:
        """One line for terminals and JUnit: the verdict and its first cause."""
        verdict = self.verdict()
        chain = self.reason_chain()
        if verdict in (Verdict.RELEASED, Verdict.RELEASED_WITH_OVERRIDE):
            return verdict.value
        return f"{verdict.value}: {chain[0]}"
