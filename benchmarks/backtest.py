"""How long a 24-hour backtest at a 1-minute interval takes, with range queries (what
`--release-backtest` does) and with one instant query per metric per poll (what a live window
does, poll by poll), in the same run against the same private Prometheus.

The Prometheus is real (the Debian package): 25 hours of a service scraped every 15 s are written
as OpenMetrics and backfilled with promtool, with a p99 drift and an error spike in the middle so
the judge has something to find. Both paths must reach the same decisions; the script checks it.

Prints the backfill and start-up time, each path's wall time (queries and judging), the
number of HTTP queries each made, and the ratio.

    python benchmarks/backtest.py [--hours 24] [--interval 60] [--scrape 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_release.backtest import BacktestRange, run_backtest, timeline_json  # noqa: E402
from pytest_release.core.judge import DEFAULT_RULES, WatchPolicy  # noqa: E402
from pytest_release.metrics.prometheus import PrometheusProvider  # noqa: E402
from pytest_release.metrics.promql import MetricNames, default_queries  # noqa: E402
from tests.support.prometheus_server import scenario_openmetrics, start_prometheus  # noqa: E402

POLICY = WatchPolicy(rules=tuple(DEFAULT_RULES.values()))  # the runbook's


class CountingProvider(PrometheusProvider):
    """Counts the HTTP queries sent (one per metric per instant query, one per metric per range chunk)."""

    queries_sent = 0

    def _query(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.queries_sent += 1
        return super()._query(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval, seconds")
    parser.add_argument("--scrape", type=int, default=15, help="scrape step of the backfilled data, seconds")
    args = parser.parse_args()

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    release_at = start + dt.timedelta(minutes=30)
    minutes = args.hours * 60 + 60
    middle = 30 + args.hours * 30
    text = scenario_openmetrics(
        start, minutes, step_s=args.scrape, rps=20,
        latency_at=lambda m: 0.34 if middle <= m < middle + 90 else 0.2,
        error_ratio_at=lambda m: 0.2 if middle + 120 <= m < middle + 125 else 0.0,
    )
    with tempfile.TemporaryDirectory(prefix="backtest-bench-") as tmp:
        t0 = time.perf_counter()
        server = start_prometheus(Path(tmp), backfill=text)
        setup = time.perf_counter() - t0
        try:
            rng = BacktestRange(release_at, release_at + dt.timedelta(hours=args.hours))
            queries = default_queries(MetricNames(selector='job="demo"'))
            results = {}
            for method in ("range", "instant"):
                with CountingProvider(server.url, queries, timeout=30) as provider:
                    t0 = time.perf_counter()
                    timeline = run_backtest(provider, POLICY, rng, interval=args.interval, baseline_seconds=300, method=method)
                    seconds = time.perf_counter() - t0
                    results[method] = (seconds, provider.queries_sent, timeline)
        finally:
            server.stop()

    polls = len(results["range"][2].entries)
    a, b = timeline_json(results["range"][2]), timeline_json(results["instant"][2])
    a.pop("method"), b.pop("method")
    same = a == b
    summary = a["summary"]
    print(f"data: {args.hours + 1:g} h of a service scraped every {args.scrape} s, backfilled and started in {setup:.1f} s")
    print(f"backtest: {args.hours:g} h at a {args.interval:g} s interval = {polls} polls x {len(queries)} metrics")
    for method in ("range", "instant"):
        seconds, sent, _ = results[method]
        print(f"  {method:<8} {seconds:8.2f} s  {sent:6d} HTTP queries")
    ratio = results["instant"][0] / results["range"][0]
    print(f"ratio instant/range: {ratio:.1f}x")
    print(
        f"same decisions: {'yes' if same else 'NO'} ({summary['ok']} ok, {summary['soft']} soft, {summary['hard']} hard; "
        f"rollback at {summary['rollback']['elapsed'] if summary['rollback'] else 'none'})"
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
