"""Print the backtest decision timeline of every labelled history (tests/support/histories.py)
on the defaults: a release.yaml that names the metrics' job and nothing else.

    python -m tests.support.run_histories [NAME ...]

Starts a private Prometheus (the Debian package), backfills every history, runs the backtest
of the 15-minute window after each deploy and prints its lines, then stops Prometheus."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import yaml

from pytest_release.backtest import BacktestRange, run_backtest, timeline_lines
from pytest_release.config import load_config
from pytest_release.metrics.factory import make_provider
from pytest_release.metrics.window import watch_policy
from pytest_release.clock import SimulatedClock
from tests.support.histories import HEALTH_QUERY, HISTORIES, T0, every_openmetrics
from tests.support.prometheus_server import start_prometheus


def default_config(tmp: Path, url: str, job: str, health_query: str = "") -> Path:
    """A release.yaml that names the metrics' job (and a health query, if given) and nothing else."""
    path = tmp / f"release-{job}.yaml"
    env: dict = {"kind": "staging", "metrics": {"provider": "prometheus", "url": url, "names": {"selector": f'job="{job}"'}}}
    if health_query:
        env["watch"] = {"health_query": health_query}
    path.write_text(yaml.safe_dump({"environments": {"staging": env}}))
    return path


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_prometheus(Path(tmp), backfill=every_openmetrics())
        try:
            for history in HISTORIES:
                if names and history.name not in names:
                    continue
                query = HEALTH_QUERY.replace("$job", history.name) if history.health else ""
                env = load_config(default_config(Path(tmp), server.url, history.name, query)).environment("staging")
                provider = make_provider(env, config_path=Path(tmp), clock=SimulatedClock(start=T0))
                rng = BacktestRange(T0, T0 + dt.timedelta(seconds=env.watch.duration))
                timeline = run_backtest(provider, watch_policy(env.watch), rng, interval=env.watch.interval,
                                        baseline_seconds=env.watch.baseline, env=history.name, kind="staging")
                print(f"=== {history.name}: {history.shape} (label {history.label})")
                for line in timeline_lines(timeline)[3:]:
                    print(line)
                provider.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
