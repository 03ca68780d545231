"""The blanks `pytest --release-init` leaves for a person to fill: `<FILL: what goes here>`.

One marker for every file init writes, so that each reader refuses a blank instead of running with
it: release.yaml is a usage error naming the key (config/schema.py), a deploy script that still
has one is a defect found in phase 2, before anything is deployed (core/strategy.py)."""

from __future__ import annotations

import re

MARKER = "<FILL"
_BLANK = re.compile(r"<FILL(?::\s*([^>]*))?>")


def blank(hint: str) -> str:
    """The marker for one blank, saying what goes there."""
    return f"<FILL: {hint}>"


def blanks(text: str) -> list[str]:
    """The hints of every blank left in `text`, in order."""
    return [match.group(1) or "" for match in _BLANK.finditer(text)]
