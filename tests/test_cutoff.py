"""The gate's rule on a previous release cut off before its verdict (core/cutoff.py)."""

from __future__ import annotations

from pytest_release.core import gate
from pytest_release.core.cutoff import cutoff_findings


def test_nothing_cut_off_is_no_finding():
    assert cutoff_findings(None, None, None) == []


def test_cut_off_before_the_live_system_is_an_open_risk():
    for phase in (None, (1, "Pre-Release Gate"), (2, "Strategy Select")):
        [finding] = cutoff_findings("release_v2_prod_x.md", "v2", phase)
        assert not finding.blocking and "before touching the live system" in finding.message


def test_cut_off_after_touching_the_live_system_blocks_until_overridden():
    for number, title in ((3, "Execute"), (4, "Smoke"), (5, "Watch"), (6, "Commit or Rollback")):
        [finding] = cutoff_findings("release_v2_prod_x.md", "v2", (number, title))
        assert finding.blocking and finding.overridable
        assert f"was cut off in phase {number} ({title}), after touching the live system" in finding.message
        assert gate.apply_override([finding], None)[0].blocking
        overridden = gate.apply_override([finding], "v1 serves, checked")[0]
        assert not overridden.blocking and overridden.describe().endswith("(overridden: v1 serves, checked)")
