"""How fast run_script streams a very chatty deploy, and how much memory that costs the plugin.

A child process writes N MB of ~100-byte lines (one line per MB carries a secret, so the
redaction path is exercised). It runs twice in the same process:

  (a) through run_script, every line timestamped, redacted and added to an OutputLog with a side
      file in a temporary directory (the way Phase 3 records a deploy);
  (b) with its output sent straight to /dev/null (what the child costs on its own).

Prints MB, seconds and MB/s for each, their ratio, and the growth of this process's resident
memory during (a), sampled from /proc/self/status and from getrusage. Target: growth < 50 MB.

    python benchmarks/deploy_stream.py [--mb 500]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_release.adapters.deploy import OutputLog, run_script  # noqa: E402
from pytest_release.core.redact import Redactor  # noqa: E402

SECRET = "bench-s3cr3t-7f6e5d4c3b2a1908"

GENERATOR = r"""
import sys
mb, secret = int(sys.argv[1]), sys.argv[2]
lines = [f"2026-11-26 step {i:05d}: pulling layer sha256:{i:064x} ... ok\n" for i in range(10_000)]
lines[5_000] = f"2026-11-26 step 05000: registry login with token {secret} ok\n"
block = "".join(lines).encode()
block = block[: 1 << 20]
block = block[: block.rfind(b"\n") + 1]
out = sys.stdout.buffer
written, target = 0, mb << 20
while written < target:
    out.write(block)
    written += len(block)
out.flush()
"""


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class PeakRss:
    """Samples this process's resident set size in a thread while the block runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.baseline = self.peak = rss_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_kb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kb())


def secret_in_file(path: Path, secret: bytes) -> bool:
    overlap = b""
    with path.open("rb") as f:
        while chunk := f.read(16 << 20):
            if secret in overlap + chunk:
                return True
            overlap = chunk[-len(secret):]
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="megabytes of output to generate (default 500)")
    args = parser.parse_args()
    argv = [sys.executable, "-c", GENERATOR, str(args.mb), SECRET]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    redactor = Redactor.from_environment(
        {"DEPLOY_TOKEN": SECRET, "DB_PASSWORD": "pw-0a1b2c3d4e5f", "REGION": "eu-west-1"},
        {"GITHUB_TOKEN": "ghp_0123456789abcdef0123", "HOME": "/root"},
    )

    with tempfile.TemporaryDirectory(prefix="deploy-stream-") as tmp:
        side = Path(tmp) / "deploy-output.log"
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with PeakRss() as memory, OutputLog(side_file=side) as log:
            begun = time.perf_counter()
            result = run_script(argv, cwd=Path(tmp), env=env, on_line=log.add, redactor=redactor,
                                idle_timeout=60)
            streamed_s = time.perf_counter() - begun
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        side_bytes = side.stat().st_size
        leaked = secret_in_file(side, SECRET.encode())

    begun = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    devnull_s = time.perf_counter() - begun

    mb = result.bytes / (1 << 20)
    print(f"outcome            {result.outcome} (exit {result.exit_code}), {result.lines:,} lines")
    print(f"(a) run_script     {mb:8.1f} MB  {streamed_s:7.2f} s  {mb / streamed_s:8.1f} MB/s"
          f"   (OutputLog {len(log.render_lines())} lines kept, {log.omitted:,} left out;"
          f" side file {side_bytes / (1 << 20):.1f} MB)")
    print(f"(b) to /dev/null   {mb:8.1f} MB  {devnull_s:7.2f} s  {mb / devnull_s:8.1f} MB/s")
    print(f"ratio (a)/(b)      {streamed_s / devnull_s:8.1f}x slower")
    print(f"RSS growth (a)     {(memory.peak - memory.baseline) / 1024:8.1f} MB peak over baseline"
          f" {memory.baseline / 1024:.1f} MB (sampled VmRSS); "
          f"ru_maxrss +{(maxrss_after - maxrss_before) / 1024:.1f} MB")
    print(f"secret in side file: {'YES - LEAK' if leaked else 'no'}")
    return 0 if result.ok and not leaked else 1


if __name__ == "__main__":
    raise SystemExit(main())
