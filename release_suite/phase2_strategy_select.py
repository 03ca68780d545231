"""Phase 2: pick how the new version reaches users, within what the environment supports."""


def test_strategy_selected(release):
    release.select_strategy()
