"""What the installed plugin costs a normal test run that does not ask for a release.

Generates a 2,000-test suite, then times `pytest -q` on it with the plugin loaded and with
`-p no:release`, alternating runs in the same process tree to share machine noise, and prints
the medians and their ratio. Target: within 3%.

    python benchmarks/inert_overhead.py [--tests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_suite(root: Path, tests: int) -> None:
    per_file = 100
    for index in range(tests // per_file):
        body = "\n".join(
            f"def test_{index}_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(per_file)
        )
        (root / f"test_generated_{index}.py").write_text(body)
    (root / "pytest.ini").write_text("[pytest]\n")


def timed(root: Path, *extra: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=root, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the generated suite failed:\n{result.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_suite(root, args.tests)
        timed(root)  # warm the file cache and bytecode
        with_plugin, without = [], []
        for _ in range(args.rounds):
            with_plugin.append(timed(root, "-p", "release"))
            without.append(timed(root, "-p", "no:release"))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"tests: {args.tests}, rounds: {args.rounds}")
    print(f"with the plugin (inert):  median {a:.3f}s  (min {min(with_plugin):.3f}s)")
    print(f"with -p no:release:       median {b:.3f}s  (min {min(without):.3f}s)")
    print(f"ratio: {a / b:.3f} ({(a / b - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
