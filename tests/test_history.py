"""Earlier releases read from the report files in the release dir (pytest_release.history)."""

from __future__ import annotations

import datetime as dt

from pytest_release.adapters.history import interrupted_release, last_released, past_releases
from pytest_release.core.release import Phase
from pytest_release.report.document import MarkdownReport


def report(directory, name: str, version: str, env: str, verdict: str | None) -> None:
    body = f"# Release {version} to {env}\n\n| | |\n|---|---|\n"
    body += f"\n## Verdict\n\n**{verdict}**: why\n" if verdict else "\n## Verdict\n\n_Release in progress: no verdict yet._\n"
    (directory / name).write_text(body)


def test_newest_first_by_the_stamp_in_the_name_with_retries(tmp_path):
    report(tmp_path, "release_v1_prod_2026-01-01-1000.md", "v1", "prod", "Released")
    report(tmp_path, "release_v2_prod_2026-01-02-1000.md", "v2", "prod", "Rolled-Back")
    report(tmp_path, "release_v2_prod_2026-01-02-1000-2.md", "v2", "prod", "Aborted")
    report(tmp_path, "release_v3_prod_2026-01-03-0900.md", "v3", "prod", None)  # still running (or killed)
    report(tmp_path, "release_v9_my_prod_2026-01-04-0900.md", "v9", "my_prod", "Released")  # another env, same suffix
    (tmp_path / "release_v1_prod_2026-01-01-1000_deploy.log").write_text("not a report")

    history = list(past_releases(tmp_path, "prod"))
    assert [(r.version, r.verdict) for r in history] == [("v3", None), ("v2", "Aborted"), ("v2", "Rolled-Back"), ("v1", "Released")]
    assert history[-1].started == dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert last_released(tmp_path, "prod").version == "v1"  # a rolled-back release left v1 serving
    assert last_released(tmp_path, "prod", exclude=tmp_path / "release_v1_prod_2026-01-01-1000.md") is None
    assert last_released(tmp_path, "staging") is None
    assert last_released(tmp_path / "missing", "prod") is None


def test_released_with_override_counts_as_released(tmp_path):
    report(tmp_path, "release_v4_prod_2026-02-01-1000.md", "v4", "prod", "Released-with-override")
    assert last_released(tmp_path, "prod").version == "v4"


# --- a release cut off before its verdict (issue 16, point 2) ------------------------------------
def product_report(directory, name: str, version: str, phases, verdict: str | None = None) -> None:
    """A report as the product writes it: the release template with these phases' sections."""
    written = MarkdownReport(directory / name, "release-report.md.j2", lambda text: text)
    written.extra.update(env="prod", version=version)
    for phase in phases:
        written.phase(phase).text("did things")
    if verdict:
        written.extra.update(verdict=verdict, exit_code=0, finished="-", reason_chain=[], summary=[])
    written.flush()


def test_the_cut_off_release_and_the_phase_it_reached(tmp_path):
    product_report(tmp_path, "release_v1_prod_2026-01-01-1000.md", "v1", list(Phase), "Released")
    assert interrupted_release(tmp_path, "prod") is None
    product_report(tmp_path, "release_v2_prod_2026-01-02-1000.md", "v2", [Phase.GATE, Phase.STRATEGY, Phase.EXECUTE])
    cut = interrupted_release(tmp_path, "prod")
    assert cut is not None and cut.version == "v2" and cut.verdict is None
    assert cut.last_phase == (3, "Execute")
    # A later release refused at the lock (Aborted, nothing touched) does not hide it...
    product_report(tmp_path, "release_v3_prod_2026-01-02-1000-2.md", "v3", [], "Aborted")
    assert interrupted_release(tmp_path, "prod").version == "v2"
    # ...a later release that ended in a known state does.
    product_report(tmp_path, "release_v3_prod_2026-01-03-1000.md", "v3", list(Phase), "Rolled-Back")
    assert interrupted_release(tmp_path, "prod") is None


def test_a_report_cut_off_before_phase_1_has_no_phase(tmp_path):
    product_report(tmp_path, "release_v2_prod_2026-01-02-1000.md", "v2", [])
    cut = interrupted_release(tmp_path, "prod")
    assert cut is not None and cut.last_phase is None
    assert interrupted_release(tmp_path, "prod", exclude=cut.path) is None  # the report being written now
