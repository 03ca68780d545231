"""Phase 2: pick how the new version reaches users, within what the environment supports.

The recommendation (breaking changes lean to canary or blue-green, restrictions may force
manual) is shown with its reasons; a person at a terminal picks A/B/C/D, CI takes
--release-strategy or the environment's default. Then the smoke plan is checked before anything
is deployed: smoke cases exist, production writes touch only test data, every endpoint has its
read and write. A failure here means Aborted."""

from pytest_release.phases import smoke, strategy


def test_strategy_selected(release):
    strategy.select(release)


def test_smoke_plan(release):
    smoke.check_plan(release)
