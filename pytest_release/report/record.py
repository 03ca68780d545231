"""The release record: `release_<version>_<env>_<stamp>.json` beside each Markdown report.

The report is for people; the record is the same release for programs (dashboards, the DORA
figures of `--release-stats`, audits). It is rewritten whole and swapped into place atomically
after every check, phase, decision and trigger, so a crash (even `kill -9`) leaves a valid JSON
document that says how far the release got: `"complete": false` and `"verdict": null` until the
verdict is known. Every string passes through the release's redactor before it is written.

The schema ("pytest-release/release/1") is documented field by field in docs/report-format.md;
`read_record` is its one reader, so a field has one home."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

from pytest_release.report.document import write_atomically

SCHEMA = "pytest-release/release/1"

#: The keys every record has, whatever the release got to (readers may rely on them).
REQUIRED_KEYS = (
    "schema", "complete", "env", "kind", "version", "started", "updated", "finished", "verdict",
    "exit_status", "live_touched_at", "reason_chain", "phases", "checks", "triggers", "decisions",
    "changes", "rollback",
)


class RecordError(ValueError):
    """A file that is not a release record of a known schema; the message names the file."""


def record_path(report_path: Path) -> Path:
    """The record shares the report's stem: release_v2_staging_2026-03-01-1200[-2].json."""
    return report_path.with_suffix(".json")


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def parse_time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{where}: expected an ISO 8601 time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string of a JSON-able value (keys included) through the redactor."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redacted(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(v, redact) for v in value]
    return value


def write_record(path: Path, record: dict[str, Any], redact: Callable[[str], str]) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing or record.get("schema") != SCHEMA:
        raise ValueError(f"release record for {path.name} lacks {missing or 'its schema'}")  # a programming error
    text = json.dumps(redacted(record, redact), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    write_atomically(path, text)


def read_record(path: Path) -> dict[str, Any]:
    """A record from disk, checked against the schema's required keys."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise RecordError(f"{path}: schema: expected {SCHEMA!r}, got {got!r}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise RecordError(f"{path}: missing key(s): {', '.join(missing)}")
    for key in ("phases", "checks", "triggers", "decisions", "reason_chain"):
        if not isinstance(data[key], list):
            raise RecordError(f"{path}: {key}: expected a list, got {type(data[key]).__name__}")
    return data
