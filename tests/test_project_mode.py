"""Project mode: a project that keeps `_docs/_autodev_state.md` gets the release's outcome and
the next step recorded there (Released: the retrospective; otherwise the user decides and nothing
is chained), in one marked block, the rest of the file untouched; a project without the file is
left alone. Real demo releases."""

from __future__ import annotations

from pytest_release.adapters.autodev_state import BEGIN, END

STATE = """# Autodev state

| Step | Status |
|---|---|
| 03_implementation | done |
| 04_deploy | done |

Notes kept by hand: keep me.
"""


def block(text: str) -> str:
    assert text.count(BEGIN) == 1 and text.count(END) == 1, text
    return text[text.index(BEGIN): text.index(END) + len(END)]


def test_the_outcome_and_next_step_are_recorded_and_the_rest_is_kept(demo_release, monkeypatch):
    state = demo_release.demo.path / "_docs" / "_autodev_state.md"
    state.write_text(STATE)
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    text = state.read_text()
    assert text.startswith(STATE)
    recorded = block(text)
    report = demo_release.reports()[0]
    assert "| Last release | Release of v2 to local |" in recorded
    assert "| Verdict | Released |" in recorded
    assert f"| Report | `_docs/04_release/{report.name}` |" in recorded
    assert "| Next step | retrospective: review the cycle retrospective, then the next feature cycle |" in recorded
    assert "| Chained | yes: the retrospective follows this release |" in recorded
    result.stdout.fnmatch_lines([f"*project mode: outcome recorded in {state} (next step: retrospective: *"])

    # the next release replaces the block: after a rollback the user owns the next step
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    result = demo_release.run("v3")
    assert result.ret == 10, result.stdout.str()
    text = state.read_text()
    assert text.startswith(STATE)
    recorded = block(text)
    assert "| Last release | Release of v3 to local |" in recorded and "| Verdict | Rolled-Back |" in recorded
    assert "| Next step | the user decides: Rolled-Back (deploy script failure: exit code 3); fix the cause, then release again |" in recorded
    assert "| Chained | no: nothing is chained after a release that did not ship |" in recorded
    assert "retrospective" not in recorded


def test_a_project_without_the_state_file_is_left_alone(demo_release):
    (demo_release.demo.path / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho deploying\n")
    before = sorted(p.name for p in (demo_release.demo.path / "_docs").iterdir())
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    assert not (demo_release.demo.path / "_docs" / "_autodev_state.md").exists()
    after = sorted(p.name for p in (demo_release.demo.path / "_docs").iterdir())
    assert set(after) - set(before) <= {"04_release"}  # the reports only
    assert "project mode" not in result.stdout.str()
