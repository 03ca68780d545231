"""Reading the `_docs/` Markdown conventions: only prose counts, never an example in a code block."""

from __future__ import annotations

import re
from typing import Iterator

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def prose_lines(text: str) -> Iterator[str]:
    """The lines of a Markdown document outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield line
