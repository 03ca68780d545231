"""What registering every encoded form of a secret costs the redactor.

Builds two redactors over the same secrets in the same run: (a) the plain values only (what the
redactor registered before encoded forms), compiled into the same prefix-tree regex; (b) the real
`Redactor`, with base64 at three alignments, URL, JSON and XML forms and escape-sequence removal.
Redacts the same lines with each: clean deploy output, output with colour codes, and output where
one line in a hundred carries a secret in some encoded form. Prints forms, build time, MB/s and
the ratio (b)/(a) per kind of text.

    python benchmarks/redact_forms.py [--secrets 20] [--mb 20]
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_release.core.redact import MASK, Redactor, _prefix_tree_regex  # noqa: E402


class PlainOnly:
    """The baseline: the values themselves, one prefix-tree regex, no sanitizing."""

    def __init__(self, secrets: list[str]) -> None:
        self.pattern = re.compile(_prefix_tree_regex(secrets))

    def redact(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern.search(text) else text


def lines(kind: str, secrets: list[str], mb: int) -> list[str]:
    out, size, i = [], 0, 0
    while size < mb << 20:
        line = f"2026-11-26T10:00:{i % 60:02d}.000Z step {i:06d}: pulling layer sha256:{i:064x} ... ok"
        if kind == "colour":
            line = f"\x1b[32m{line}\x1b[0m"
        elif kind == "encoded secrets" and i % 100 == 0:
            s = secrets[i % len(secrets)]
            line += " auth=" + (base64.b64encode(f"u:{s}".encode()).decode() if i % 200 else urllib.parse.quote(s, safe=""))
        out.append(line)
        size += len(line) + 1
        i += 1
    return out


def rate(redactor, text_lines: list[str]) -> float:
    start = time.perf_counter()
    for line in text_lines:
        redactor.redact(line)
    seconds = time.perf_counter() - start
    return sum(len(l) + 1 for l in text_lines) / (1 << 20) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    secrets = [f"tok/{i:03d}+Kq9-{'x' * (10 + i % 20)}" for i in range(args.secrets)]
    start = time.perf_counter()
    plain = PlainOnly(secrets)
    plain_build = time.perf_counter() - start
    start = time.perf_counter()
    full = Redactor(secrets)
    full_build = time.perf_counter() - start
    print(f"{args.secrets} secrets: plain {len(secrets)} forms built in {plain_build * 1000:.1f} ms; "
          f"all forms {len(full)} built in {full_build * 1000:.1f} ms")
    for kind in ("clean", "colour", "encoded secrets"):
        text_lines = lines(kind, secrets, args.mb)
        a, b = rate(plain, text_lines), rate(full, text_lines)
        print(f"{kind:16s} plain-only {a:7.1f} MB/s   all forms + sanitize {b:7.1f} MB/s   ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
