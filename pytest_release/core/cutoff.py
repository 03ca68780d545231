"""The gate's rule about a previous release that was cut off before its verdict.

A release killed with `kill -9` (or by a power cut, an OOM kill, a CI runner that vanished)
leaves a report without a verdict and nobody who rolled it back. What the next release must do
depends on how far it got: cut off in phases 1-2 it changed nothing (an open risk, noted);
cut off in phases 3-6 it changed, or may have changed, the live system, and nothing verified
what serves since then. That is a blocking finding: a person checks what serves and says so
with `--release-override-reason`. Pure: phase 1 (phases/gate.py) reads the report
(adapters/history.py) and hands in what it found."""

from __future__ import annotations

from pytest_release.core.gate import Finding

CHECK = "previous-release"
FIRST_LIVE_PHASE = 3  # phase 3 (Execute) runs the deploy script: from here the live system may have changed


def cutoff_findings(report: str | None, version: str | None, last_phase: tuple[int, str] | None) -> list[Finding]:
    """Findings about the newest unfinished release report `report` (a file name), if any.

    `last_phase` is the furthest `(number, title)` section it reached (None: it stopped before
    phase 1 began)."""
    if report is None:
        return []
    where = "before phase 1 began" if last_phase is None else f"in phase {last_phase[0]} ({last_phase[1]})"
    if last_phase is None or last_phase[0] < FIRST_LIVE_PHASE:
        return [Finding(
            CHECK, f"the previous release {version} ({report}) was cut off {where}, before touching the live system",
            blocking=False,
        )]
    return [Finding(
        CHECK,
        f"the previous release {version} ({report}) was cut off {where}, after touching the live system: it has "
        "no verdict and nothing rolled it back or verified what serves since. Check what serves, then start "
        "again with --release-override-reason saying what you found",
        blocking=True, overridable=True,
    )]
