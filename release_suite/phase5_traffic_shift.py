"""Phase 5, before the watch window: users move to the new version the way the strategy says.

Canary: one check per step. The first step was deployed in phase 3 and smoke-tested in phase 4;
its check judges it. Each later step moves more traffic (`--canary-weight`) and is judged for
`canary.step_analysis`, except the last (100%), which the watch window judges. A breach at any
step fails its check, so the release rolls back from that step.

Blue-green: the switch from the old side to the smoke-tested idle side.

All-at-once and manual have nothing here: phase 3 moved all traffic. The checks exist for the
strategies this session may run (the one chosen in CI; every supported one when a person picks
in phase 2), and do nothing for a strategy that was not chosen."""

import pytest

from pytest_release.adapters.prompt import Asker
from pytest_release.core.strategy import planned_strategies
from pytest_release.fixtures import INVOCATION_KEY, RELEASE_CONFIG_KEY
from pytest_release.phases import traffic_shift


def pytest_generate_tests(metafunc):
    invocation = metafunc.config.stash[INVOCATION_KEY]
    env = metafunc.config.stash[RELEASE_CONFIG_KEY].environment(invocation.env)
    interactive = Asker(metafunc.config, print).interactive()
    planned = planned_strategies(invocation.strategy, env.strategies, env.default_strategy, interactive)
    if "canary_step" in metafunc.fixturenames:
        steps = traffic_shift.plan(env.canary) if "canary" in planned else []
        metafunc.parametrize("canary_step", steps, ids=[s.id for s in steps])
    if "side" in metafunc.fixturenames:
        sides = ["idle-to-live"] if "blue-green" in planned else []
        metafunc.parametrize("side", sides, ids=sides)


def _stopped(release) -> bool:
    return bool(release.state.triggers or release.state.abort_reasons)


def test_canary_step(release, canary_step):
    if _stopped(release):
        pytest.skip("an earlier step failed: no more traffic moves to the new version")
    traffic_shift.canary_step(release, canary_step)


def test_blue_green_switch(release, side):
    if _stopped(release):
        pytest.skip("the release stopped earlier: users stay on the old side")
    traffic_shift.switch(release)
