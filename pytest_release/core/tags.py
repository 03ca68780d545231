"""Release tags: the one home of the tag pattern (`tag.pattern`, default `release/{version}`).

Phase 6 writes a tag by it; the pre-release gate, the strategy's risk signals and phase 6's ticket
scope all read "the changes since the last release" through the glob made from the same pattern,
unless `gate.changes.tag_pattern` names the earlier tags explicitly."""

from __future__ import annotations

import re
import string

DEFAULT_PATTERN = "release/{version}"
TAG_FIELDS = ("version", "env")
_REF_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+/-]*")


def tag_name(pattern: str, version: str, env: str) -> str:
    """The tag a release of `version` to `env` gets: `release/{version}` -> `release/v2`."""
    return string.Formatter().vformat(pattern, (), {"version": version, "env": env})


def tag_glob(pattern: str, env: str) -> str:
    """The glob of earlier releases' tags in `env`: `release/{version}` -> `release/*`."""
    return tag_name(pattern, "*", env)


def previous_release_glob(pattern: str, env: str, explicit: str | None = None) -> str:
    """Where "since the last release" starts: `gate.changes.tag_pattern` when set, else the
    glob of the tags phase 6 writes."""
    return explicit or tag_glob(pattern, env)


def check_tag_pattern(pattern: str) -> None:
    """ValueError unless `pattern` uses only {version} and {env}, uses {version}, and makes a
    valid git tag name."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise ValueError(f"not a valid tag pattern ({exc}): {pattern!r}") from None
    unknown = [f for f in fields if f not in TAG_FIELDS]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} in {pattern!r} (known: {{version}}, {{env}})")
    if "version" not in fields:
        raise ValueError(f"a tag pattern must contain {{version}}, got {pattern!r}")
    sample = tag_name(pattern, "1.0", "prod")
    if not _REF_NAME.fullmatch(sample) or ".." in sample or "//" in sample or sample.endswith((".lock", "/", ".")):
        raise ValueError(f"{pattern!r} does not make a valid git tag name (letters, digits, '.', '_', '+', '-', '/')")
