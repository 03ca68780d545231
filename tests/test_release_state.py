"""The verdict state machine, without a pytest session, a network or a clock."""

import datetime as dt

import pytest

from pytest_release.core.release import Outcome, Phase, Release, Verdict

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def passing(release, *phases):
    for phase in phases:
        release.record(phase, f"check-{phase.value}", Outcome.PASSED, "", T)


def test_all_phases_passing_and_committed_is_released():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    assert release.may_touch_live_system()
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE, Phase.SMOKE, Phase.WATCH)
    assert not release.needs_rollback()
    assert release.may_commit()
    release.commit()
    assert release.verdict() is Verdict.RELEASED
    assert release.verdict().exit_code == 0
    assert release.headline() == "Released"


def test_override_is_released_with_override_and_still_exit_zero():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE, Phase.SMOKE, Phase.WATCH)
    release.override("emergency fix, watch skipped")
    release.commit()
    assert release.verdict() is Verdict.RELEASED_WITH_OVERRIDE
    assert release.verdict().exit_code == 0
    assert "override: emergency fix, watch skipped" in release.reason_chain()


@pytest.mark.parametrize("phase", [Phase.GATE, Phase.STRATEGY])
def test_failure_before_the_live_system_is_touched_aborts(phase):
    release = Release("staging", "v2", "v1")
    release.record(phase, "check", Outcome.FAILED, "no rollback target", T)
    assert not release.may_touch_live_system()
    assert not release.needs_rollback()
    assert release.verdict() is Verdict.ABORTED
    assert release.verdict().exit_code == 11
    assert release.headline() == "Aborted: no rollback target"


def test_dependency_skips_after_a_failure_are_not_new_causes():
    release = Release("staging", "v2", "v1")
    release.record(Phase.GATE, "check", Outcome.FAILED, "deploy script missing", T)
    release.record(Phase.STRATEGY, "pick", Outcome.SKIPPED, "depends on check", T)
    assert release.reason_chain() == ["deploy script missing"]


def test_a_skip_with_no_earlier_failure_is_a_no_go():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE)
    release.record(Phase.SMOKE, "user smoke", Outcome.SKIPPED, "needs a token", T)
    assert release.needs_rollback()
    assert "Smoke Test: user smoke was skipped (needs a token)" in release.reason_chain()


@pytest.mark.parametrize("phase", [Phase.EXECUTE, Phase.SMOKE, Phase.WATCH])
def test_failure_after_touching_the_live_system_rolls_back(phase):
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    release.record(phase, "check", Outcome.FAILED, f"{phase.value} failure", T)
    assert release.needs_rollback()
    assert not release.may_commit()
    release.start_rollback(T)
    assert not release.needs_rollback()  # once: never a second rollback
    release.finish_rollback(True, "v1 is serving again")
    assert release.verdict() is Verdict.ROLLED_BACK
    assert release.verdict().exit_code == 10
    assert release.reason_chain() == [f"{phase.value} failure", "rollback succeeded: v1 is serving again"]


def test_failed_rollback_is_rollback_failed():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    release.trigger_rollback("error_rate breached 3.0x baseline at T+7m")
    release.start_rollback(T)
    release.finish_rollback(False, "the rollback script failed (exit code 1)")
    assert release.verdict() is Verdict.ROLLBACK_FAILED
    assert release.verdict().exit_code == 12


def test_rollback_started_but_never_finished_is_rollback_failed():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    release.trigger_rollback("smoke test failure: write")
    release.start_rollback(T)
    assert release.verdict() is Verdict.ROLLBACK_FAILED
    assert "rollback started but did not finish" in release.reason_chain()


def test_interruption_after_touching_needs_rollback_even_when_all_passed_so_far():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE, Phase.SMOKE)
    release.interrupt("interrupted (Ctrl-C)")
    assert release.needs_rollback()
    assert not release.may_commit()


def test_interruption_before_touching_aborts_without_rollback():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE)
    release.interrupt("SIGTERM received")
    assert not release.needs_rollback()
    assert release.verdict() is Verdict.ABORTED
    assert release.reason_chain() == ["session interrupted: SIGTERM received"]


def test_touched_but_neither_committed_nor_rolled_back_is_unknown_state():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE, Phase.SMOKE, Phase.WATCH)
    assert release.verdict() is Verdict.ROLLBACK_FAILED


def test_commit_is_refused_when_a_phase_never_passed():
    release = Release("staging", "v2", "v1")
    passing(release, Phase.GATE, Phase.STRATEGY)
    release.touch_live_system(T)
    passing(release, Phase.EXECUTE, Phase.SMOKE)  # no watch
    release.commit()
    assert release.verdict() is not Verdict.RELEASED


@pytest.mark.parametrize(
    "name, phase",
    [("gate", Phase.GATE), ("Smoke", Phase.SMOKE), ("smoke-test", Phase.SMOKE), ("watch_window", Phase.WATCH), ("5", Phase.WATCH)],
)
def test_phase_names_parse(name, phase):
    assert Phase.parse(name) is phase


def test_unknown_phase_name_is_explained():
    with pytest.raises(ValueError, match="unknown release phase 'smok'.*gate, strategy, execute, smoke, watch, commit"):
        Phase.parse("smok")
