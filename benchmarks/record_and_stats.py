"""What the release record and `--release-stats` cost.

1. The record is rewritten after every check: one write of a typical record (30 checks, 6 phases,
   a rollback) against one write of the Markdown report it sits beside (the same atomic
   write_atomically, fsync included), as a ratio in the same run.
2. `--release-stats` over a history of N releases: reading them from their records against
   reading them from their reports alone (the older-release path), as a ratio, and the time per
   release.

    python benchmarks/record_and_stats.py [--releases 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from pytest_release.core.dora import figures
from pytest_release.report.document import write_atomically
from pytest_release.report.record import SCHEMA, iso, write_record
from pytest_release.stats import gather

PHASES = ("gate", "strategy", "execute", "smoke", "watch", "commit")
UTC = dt.timezone.utc


def typical_record(index: int, start: dt.datetime) -> dict:
    failed = index % 5 == 0
    at = lambda seconds: iso(start + dt.timedelta(seconds=seconds))  # noqa: E731
    return {
        "schema": SCHEMA, "complete": True, "env": "production" if index % 2 else "staging", "kind": "production",
        "version": f"v{index}", "started": at(0), "updated": at(900), "finished": at(900),
        "verdict": "Rolled-Back" if failed else "Released", "exit_status": 10 if failed else 0,
        "headline": "Released", "reason_chain": ["every phase passed"], "live_touched_at": at(30),
        "report": f"release_v{index}.md",
        "phases": [{"phase": p, "number": n + 1, "title": p, "status": "passed", "started": at(n * 100), "finished": at(n * 100 + 90)}
                   for n, p in enumerate(PHASES)],
        "checks": [{"phase": PHASES[n % 6], "name": f"test_check_{n}", "outcome": "passed", "message": "", "at": at(n * 20)} for n in range(30)],
        "triggers": [{"kind": "rollback-trigger", "reason": "error_rate breached 2.4x", "at": at(600)}] if failed else [],
        "decisions": [{"phase": "gate", "decision": "Decision: A) Proceed", "by": "--release-confirm", "at": at(5)}],
        "events": [{"event": "started", "detail": "deploying", "at": at(30)}],
        "changes": {"base": "release/v0", "head": "0" * 40, "shallow": False, "tickets": [],
                    "commits": [{"sha": f"{n:040d}", "subject": "feat: x", "kind": "feature", "committed_at": at(-86400 + n)} for n in range(5)]},
        "rollback": {"target": "v0", "started": at(610), "finished": at(800), "succeeded": True, "verified": True, "detail": "", "report": None} if failed else None,
        "incomplete": [],
    }


def report_text(record: dict) -> str:
    sections = "".join(
        f"## Phase {p['number']}: {p['title']}\n\n_Started {p['started']} · finished {p['finished']} · **{p['status']}**_\n\n" + "text line\n" * 40
        for p in record["phases"]
    )
    return f"# Release {record['version']} to {record['env']}\n\n{sections}## Verdict\n\n**{record['verdict']}**\n"


def median_time(action, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        record = typical_record(5, start)
        text = report_text(record)
        writes = 50
        record_s = median_time(lambda: [write_record(root / "r.json", record, lambda s: s) for _ in range(writes)], args.rounds) / writes
        report_s = median_time(lambda: [write_atomically(root / "r.md", text) for _ in range(writes)], args.rounds) / writes
        print(f"one record write: {record_s * 1000:.2f} ms; one report write: {report_s * 1000:.2f} ms; ratio {record_s / report_s:.2f}")

        history = root / "history"
        history.mkdir()
        for index in range(args.releases):
            moment = start + dt.timedelta(hours=6 * index)
            stem = f"release_v{index}_{'production' if index % 2 else 'staging'}_{moment:%Y-%m-%d-%H%M}"
            data = typical_record(index, moment)
            (history / f"{stem}.md").write_text(report_text(data))
            (history / f"{stem}.json").write_text(json.dumps(data))
        now = start + dt.timedelta(days=args.releases)
        with_records = median_time(lambda: figures(gather(history, print), now=now), args.rounds)
        for path in history.glob("*.json"):
            path.unlink()
        reports_only = median_time(lambda: figures(gather(history, print), now=now), args.rounds)
        print(f"--release-stats over {args.releases} releases: {with_records:.3f} s from records "
              f"({with_records / args.releases * 1e6:.0f} us each), {reports_only:.3f} s from reports alone; "
              f"ratio records/reports {with_records / reports_only:.2f}")


if __name__ == "__main__":
    main()
