"""A private, real Prometheus for the test suite, and deterministic data to put in it.

Two ways to get data in:
- backfill: `scenario_openmetrics(...)` writes counters and histogram buckets with explicit
  timestamps for a described traffic pattern; `start_prometheus(..., backfill=text)` turns them
  into TSDB blocks with `promtool tsdb create-blocks-from openmetrics` before Prometheus starts.
  Query them with an explicit evaluation time; nothing depends on the wall clock.
- scraping: `start_prometheus(..., scrape_targets=["127.0.0.1:PORT"])` scrapes every second.
  The first sample appears only about 5 s after start (target discovery runs every 5 s).

Fixtures: `prometheus_factory` (function scope) and `module_prometheus_factory` (module scope)
return `start(...)` with the same arguments as `start_prometheus` minus the directory, and stop
every server they started at teardown. A missing binary fails the test; it never skips."""

from __future__ import annotations

import atexit
import datetime as dt
import math
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import pytest
import requests

from pytest_release.metrics.promql import MetricNames

INSTALL_HINT = "install the Debian package prometheus (apt-get install prometheus)"
READY_DEADLINE_S = 10.0

#: prometheus_client's default histogram buckets.
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

Timestamp = Union[float, dt.datetime]
Backfill = Union[str, Iterable[tuple[Timestamp, str]]]


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {INSTALL_HINT}", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server -----------------------------------------------------------------------------

_running: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:  # a crashed or interrupted session must not leave servers behind
    for process in list(_running):
        if process.poll() is None:
            process.kill()


@dataclass
class PrometheusServer:
    url: str
    port: int
    data_dir: Path
    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds. Safe to call twice, or after kill()."""
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _running.discard(self.process)

    def kill(self) -> None:
        """SIGKILL and wait: the backend vanishes as it would in a crash."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        _running.discard(self.process)

    def query(self, promql: str, at: Timestamp | None = None) -> dict[str, Any]:
        """The raw `/api/v1/query` answer (for assertions that want to see Prometheus itself)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = _epoch(at)
        return requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_prometheus(
    tmp_path: Path,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    backfill: Backfill | Sequence[str] | None = None,
    *,
    job: str = "demo",
    metrics_path: str = "/metrics",
    extra_args: Sequence[str] = (),
) -> PrometheusServer:
    """Start a private Prometheus on 127.0.0.1 with its data under `tmp_path` and wait for
    `/-/ready`. `backfill` (OpenMetrics text, a list of such texts, or (timestamp,
    "name{labels} value") pairs) is written into the data dir with promtool first. The caller stops it (or use the fixtures)."""
    binary = require_binary("prometheus")
    base = Path(tmp_path)
    for attempt in range(3):  # free_port() can race with another process taking the port
        port = free_port()
        home = base / f"prometheus-{port}"
        data_dir = home / "data"
        data_dir.mkdir(parents=True)
        if isinstance(backfill, (list, tuple)) and backfill and all(isinstance(b, str) for b in backfill):
            for text in backfill:  # several scenarios: one set of blocks each
                backfill_blocks(data_dir, text)
        elif backfill is not None:
            backfill_blocks(data_dir, backfill)
        config_file = home / "prometheus.yml"
        config_file.write_text(_config(scrape_targets, scrape_interval, job, metrics_path))
        log_file = home / "prometheus.log"
        argv = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
            "--web.enable-lifecycle",
            *extra_args,
        ]
        with open(log_file, "wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _running.add(process)
        server = PrometheusServer(f"http://127.0.0.1:{port}", port, data_dir, config_file, log_file, process)
        failure = _wait_ready(server)
        if failure is None:
            return server
        server.kill()
        if "address already in use" not in server.log_tail(50) or attempt == 2:
            pytest.fail(f"Prometheus did not start: {failure}\n{server.log_tail()}", pytrace=False)
    raise AssertionError("unreachable")


def _wait_ready(server: PrometheusServer) -> str | None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if not server.running:
            return f"it exited with status {server.process.returncode}"
        try:
            if requests.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return f"/-/ready did not answer 200 within {READY_DEADLINE_S:g} s"


def _config(targets: Sequence[str], interval: str, job: str, metrics_path: str) -> str:
    lines = ["global:", f"  scrape_interval: {interval}", f"  evaluation_interval: {interval}", "scrape_configs:"]
    if not targets:
        return "\n".join(lines) + " []\n"
    quoted = ", ".join(f'"{t}"' for t in targets)
    lines += [
        f"  - job_name: {job}",
        f"    scrape_interval: {interval}",
        f"    scrape_timeout: {interval}",
        f"    metrics_path: {metrics_path}",
        "    static_configs:",
        f"      - targets: [{quoted}]",
    ]
    return "\n".join(lines) + "\n"


# --- backfill -------------------------------------------------------------------------------


def backfill_blocks(data_dir: Path, data: Backfill) -> str:
    """Write `data` as TSDB blocks into `data_dir` (before Prometheus starts on it).

    Text is used as is (it must end with `# EOF`); pairs are sorted by time and given their
    timestamps. promtool silently drops a sample older than the previous one of its series,
    and refuses a file without `# EOF`."""
    text = data if isinstance(data, str) else openmetrics_from_samples(data)
    if not text.rstrip().endswith("# EOF"):
        raise ValueError("OpenMetrics text must end with '# EOF' (promtool refuses it otherwise)")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / f"backfill-{time.monotonic_ns()}.om"
    source.write_text(text if text.endswith("\n") else text + "\n")
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        capture_output=True, text=True, timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"promtool could not backfill {source}:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return done.stdout


def openmetrics_from_samples(samples: Iterable[tuple[Timestamp, str]]) -> str:
    """`# EOF`-terminated OpenMetrics from (timestamp, 'name{labels} value') pairs, in time order."""
    timed = sorted(((_epoch(ts), line.strip()) for ts, line in samples), key=lambda pair: pair[0])
    return "".join(f"{line} {_fmt(ts)}\n" for ts, line in timed) + "# EOF\n"


MinuteFunction = Callable[[float], float]


def scenario_openmetrics(
    start: dt.datetime,
    minutes: float,
    step_s: int = 15,
    *,
    rps: float | MinuteFunction = 10.0,
    error_ratio_at: MinuteFunction = lambda minute: 0.0,
    latency_at: MinuteFunction = lambda minute: 0.2,
    cpu_at: MinuteFunction = lambda minute: 0.25,
    present_at: Callable[[float], bool] = lambda minute: True,
    job: str = "demo",
    instance: str = "127.0.0.1:8000",
    names: MetricNames = MetricNames(),
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    error_status: str = "500",
    error_series_from_start: bool = True,
) -> str:
    """OpenMetrics text for a service observed every `step_s` seconds for `minutes` minutes.

    Every callable takes the minute since `start` (a float) at the beginning of each step and
    describes the traffic of that step: `rps` requests per second, `error_ratio_at` the fraction
    answered `error_status`, `latency_at` the p99 latency in seconds, `cpu_at` CPU seconds per
    second. The bucket counts are shaped so that Prometheus's `histogram_quantile(0.99, ...)`
    over a steady stretch gives `latency_at` exactly (a p99 below 0.99 × the first bucket bound,
    or above the last finite one, is clamped the way Prometheus clamps it). Counters and buckets
    are floats, so rates come out exact. `present_at(minute)` false leaves the sample out (the
    service ran, nobody scraped it): "no samples for the first 4 minutes" is
    `present_at=lambda m: m >= 4`. With `error_series_from_start=False` the error series
    appears only with the first error, as prometheus_client does it.

    Example: errors 30% from minute 7: `error_ratio_at=lambda m: 0.3 if m >= 7 else 0.0`."""
    rate_at = rps if callable(rps) else (lambda minute, value=float(rps): value)
    finite = sorted(float(b) for b in buckets if not math.isinf(b))
    bounds = [*finite, math.inf]
    base = {"job": job, "instance": instance}
    ok_labels = {**base, names.status_label: "200"}
    err_labels = {**base, names.status_label: error_status}
    steps = int(round(minutes * 60 / step_s))

    ok = err = cpu = latency_sum = 0.0
    cumulative_buckets = [0.0] * len(bounds)
    seen_error = error_series_from_start
    requests_lines: list[str] = []
    histogram_lines: list[str] = []
    cpu_lines: list[str] = []
    for k in range(steps + 1):
        if k > 0:
            minute = (k - 1) * step_s / 60
            count = max(0.0, rate_at(minute)) * step_s
            errors = count * min(1.0, max(0.0, error_ratio_at(minute)))
            ok += count - errors
            err += errors
            seen_error = seen_error or errors > 0
            p99 = latency_at(minute)
            for index, fraction in p99_shape(p99, bounds).items():
                for above in range(index, len(bounds)):
                    cumulative_buckets[above] += fraction * count
            latency_sum += p99 * count
            cpu += max(0.0, cpu_at(minute)) * step_s
        minute_now = k * step_s / 60
        if not present_at(minute_now):
            continue
        ts = _fmt(start.timestamp() + k * step_s)
        requests_lines.append(f"{names.requests_total}{_labels(ok_labels)} {_fmt(ok)} {ts}")
        if seen_error:
            requests_lines.append(f"{names.requests_total}{_labels(err_labels)} {_fmt(err)} {ts}")
        hist = names.duration_histogram
        for bound, value in zip(bounds, cumulative_buckets):
            histogram_lines.append(f"{hist}_bucket{_labels({**base, 'le': _le(bound)})} {_fmt(value)} {ts}")
        histogram_lines.append(f"{hist}_count{_labels(base)} {_fmt(cumulative_buckets[-1])} {ts}")
        histogram_lines.append(f"{hist}_sum{_labels(base)} {_fmt(latency_sum)} {ts}")
        cpu_lines.append(f"process_cpu_seconds_total{_labels(base)} {_fmt(cpu)} {ts}")

    out: list[str] = []
    if names.requests_total.endswith("_total"):
        out.append(f"# TYPE {names.requests_total[: -len('_total')]} counter")
    out += requests_lines
    out.append(f"# TYPE {names.duration_histogram} histogram")
    out += histogram_lines
    out.append("# TYPE process_cpu_seconds counter")
    out += cpu_lines
    out.append("# EOF")
    return "\n".join(out) + "\n"


def p99_shape(p99: float, bounds: Sequence[float]) -> dict[int, float]:
    """Fractions of one step's requests per bucket index (non-cumulative) such that
    interpolating the 0.99 quantile inside the buckets gives `p99`."""
    if p99 > bounds[-2]:
        return {len(bounds) - 1: 1.0}  # all beyond the last finite bound: Prometheus answers that bound
    j = next(i for i, bound in enumerate(bounds) if p99 <= bound)
    low = bounds[j - 1] if j > 0 else 0.0
    x = (p99 - low) / (bounds[j] - low)
    if x > 0.99:  # spill some requests into the next bucket up
        spill = 1 - 0.99 / x
        return {j: 1 - spill, j + 1: spill}
    if j == 0:  # nothing can go below 0: p99 is at least 0.99 × the first bound
        return {0: 1.0}
    below = (0.99 - x) / (1 - x)
    return {j - 1: below, j: 1 - below}


def _labels(labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels.items())
    return "{" + body + "}"


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _epoch(ts: Timestamp) -> float:
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is None:
            raise ValueError(f"{ts!r} has no timezone")
        return ts.timestamp()
    return float(ts)


# --- fixtures -------------------------------------------------------------------------------


class PrometheusFactory:
    """Starts servers under one directory and stops them all at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[PrometheusServer] = []

    def __call__(self, scrape_targets: Sequence[str] = (), scrape_interval: str = "1s", backfill: Backfill | Sequence[str] | None = None, **kwargs: Any) -> PrometheusServer:
        server = start_prometheus(self.base, scrape_targets, scrape_interval, backfill, **kwargs)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[PrometheusFactory]:
    factory = PrometheusFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def module_prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusFactory]:
    factory = PrometheusFactory(tmp_path_factory.mktemp("prometheus"))
    try:
        yield factory
    finally:
        factory.stop_all()


__all__ = [
    "DEFAULT_BUCKETS", "INSTALL_HINT", "PrometheusFactory", "PrometheusServer", "backfill_blocks",
    "free_port", "module_prometheus_factory", "openmetrics_from_samples", "p99_shape", "prometheus_factory",
    "require_binary", "scenario_openmetrics", "start_prometheus",
]
