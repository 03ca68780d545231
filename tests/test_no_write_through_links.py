"""Issue 16, point 5: nothing the release writes goes through a link somebody planted.

Each test plants the link (or hard link) from the issue on a real file system, lets the real
code write, and checks that the link's target is untouched and that what was refused is said
clearly. The last test does it in a whole release of the demo, during the deploy."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pytest_release.adapters.deploy import OutputLog
from pytest_release.adapters.leftovers import write_leftover
from pytest_release.adapters.tracker import FileTracker
from pytest_release.report.document import claim_new_file, open_new_or_own, write_atomically

PRECIOUS = "precious: must never change\n"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A file outside the release dir that a planted link points to."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text(PRECIOUS)
    return path


def test_a_planted_report_temp_link_is_never_written_through(tmp_path: Path, target: Path) -> None:
    report = tmp_path / "release_v2_prod_2026-01-01-1000.md"
    planted = tmp_path / f".{report.name}.tmp"  # the predictable name the report used to be staged at
    planted.symlink_to(target)
    write_atomically(report, "# Release v2 to prod\n")
    assert target.read_text() == PRECIOUS and planted.is_symlink()
    assert report.read_text() == "# Release v2 to prod\n" and not report.is_symlink()
    assert oct(report.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([report.name, planted.name, "outside"])  # no temp left


def test_a_link_at_the_report_itself_is_replaced_not_followed(tmp_path: Path, target: Path) -> None:
    report = tmp_path / "release_v2_prod_2026-01-01-1000.md"
    report.symlink_to(target)
    write_atomically(report, "new\n")
    assert target.read_text() == PRECIOUS and not report.is_symlink() and report.read_text() == "new\n"


def test_a_planted_tracker_temp_link_is_not_followed_by_the_phase_6_move(tmp_path: Path, target: Path) -> None:
    tracker = tmp_path / "_docs" / "tracker.yaml"
    tracker.parent.mkdir()
    tracker.write_text("SHOP-1: Ready for Release  # the release moves it\n")
    (tracker.parent / ".tracker.yaml.tmp").symlink_to(target)  # a pull request can commit this
    FileTracker(tracker).move("SHOP-1", "Released")
    assert target.read_text() == PRECIOUS
    assert tracker.read_text() == "SHOP-1: Released  # the release moves it\n"
    assert (tracker.parent / ".tracker.yaml.tmp").is_symlink()


def test_a_planted_deploy_log_link_is_refused_and_the_output_kept_in_the_report(tmp_path: Path, target: Path) -> None:
    side = tmp_path / "release_v2_prod_2026-01-01-1000_deploy.log"
    side.symlink_to(target)
    with OutputLog(head=5, tail=5, side_file=side) as log:
        log.add("2026-01-01T10:00:00.000Z deploy: starting v2")
    assert target.read_text() == PRECIOUS
    assert log.side_file is None
    first, second = log.render_lines()
    assert first == (f"[pytest-release] the full output is not kept in {side.name}: {side} is a symbolic link: "
                     "refusing to write through it; this report keeps its first and last lines")
    assert second.endswith("deploy: starting v2")


def test_a_planted_hard_link_as_deploy_log_is_refused(tmp_path: Path, target: Path) -> None:
    side = tmp_path / "release_v2_prod_2026-01-01-1000_deploy.log"
    os.link(target, side)
    with OutputLog(side_file=side) as log:
        log.add("line")
    assert target.read_text() == PRECIOUS
    assert "is a file with 2 hard links: refusing to write to it" in log.render_lines()[0]


def test_a_side_log_of_this_release_is_appended_to(tmp_path: Path) -> None:
    side = tmp_path / "release_v2_prod_2026-01-01-1000_rollback.log"
    for word in ("first", "second"):  # a second run of the same step appends to its own log
        with OutputLog(side_file=side) as log:
            log.add(word)
        assert log.side_problem is None
    assert side.read_text() == "first\nsecond\n"


def test_open_new_or_own_refuses_a_directory_or_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"fifo.log is not a regular file: refusing to write to it"):
        os.close(open_new_or_own(fifo))  # no reader: it would block forever if opened blocking
    (tmp_path / "dir.log").mkdir()
    with pytest.raises(OSError, match=r"dir.log is not a regular file: refusing to write to it"):
        os.close(open_new_or_own(tmp_path / "dir.log"))


def test_a_planted_link_at_a_report_name_is_skipped_not_written(tmp_path: Path, target: Path) -> None:
    (tmp_path / "release_v2_prod_2026-01-01-1000.md").symlink_to(target)
    path, suffix = claim_new_file(tmp_path, "release_v2_prod_2026-01-01-1000")
    assert (path.name, suffix) == ("release_v2_prod_2026-01-01-1000-2.md", "-2")
    assert target.read_text() == PRECIOUS


def test_a_planted_link_at_a_leftover_name_is_skipped(tmp_path: Path, target: Path) -> None:
    moment = dt.datetime(2026, 1, 1, 10, 0, 0, tzinfo=dt.timezone.utc)
    folder = tmp_path / "_docs" / "_process_leftovers"
    folder.mkdir(parents=True)
    (folder / "2026-01-01-100000_tracker-refused.md").symlink_to(target)
    written = write_leftover(tmp_path, "tracker refused", "SHOP-1 could not be moved", now=moment)
    assert written.name == "2026-01-01-100000_tracker-refused-2.md" and not written.is_symlink()
    assert "SHOP-1 could not be moved" in written.read_text()
    assert target.read_text() == PRECIOUS


def test_a_whole_release_with_planted_links_is_released_and_writes_through_none(demo_release, tmp_path: Path) -> None:
    # The simulated clock starts at 2026-01-01 00:00 UTC, so the names are known in advance.
    outside = tmp_path / "outside-the-release-dir"
    outside.mkdir()
    targets = {name: outside / name for name in ("deploy-log-target", "report-tmp-target")}
    for path in targets.values():
        path.write_text(PRECIOUS)
    release_dir = demo_release.release_dir
    release_dir.mkdir(parents=True, exist_ok=True)
    stem = "release_v2_local_2026-01-01-0000"
    (release_dir / f"{stem}_deploy.log").symlink_to(targets["deploy-log-target"])
    (release_dir / f".{stem}.md.tmp").symlink_to(targets["report-tmp-target"])

    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    assert demo_release.demo.version() == "v2"
    for path in targets.values():
        assert path.read_text() == PRECIOUS
    report = (release_dir / f"{stem}.md").read_text()
    assert f"[pytest-release] the full output is not kept in {stem}_deploy.log: " in report
    assert "is a symbolic link: refusing to write through it" in report
    assert "deploy of v2 to local complete" in report  # the output is in the report all the same
    assert "**Released**" in report
