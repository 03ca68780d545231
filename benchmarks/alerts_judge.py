"""What watch.alerts costs the judge: a day of polls at a 1-minute interval (1,440), judged
through core.timeline (the live window's and the backtest's judge) without alerts, with
`watch.alerts` set and no alert firing, and with 20 alerts firing every poll (5 of them
pre-existing), in the same run. Prints each wall time and the ratios to the baseline.

    python benchmarks/alerts_judge.py [--polls 1440] [--alerts 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_release.core.alerts import Alert, AlertPolicy, AlertsSeen  # noqa: E402
from pytest_release.core.judge import DEFAULT_RULES, Poll, WatchPolicy  # noqa: E402
from pytest_release.core.timeline import judge_timeline  # noqa: E402


def polls(count: int, seen: AlertsSeen | None) -> list[Poll]:
    values = {"error_rate": 0.001, "p99_latency": 0.12, "request_rate": 25.0, "saturation": 0.3, "requests": 1500.0}
    return [Poll(elapsed=60.0 * (k + 1), values=values, requests=1500.0, alerts=seen) for k in range(count)]


def timed(policy: WatchPolicy, data: list[Poll], repeat: int) -> float:
    baseline = {"error_rate": 0.001, "p99_latency": 0.12, "request_rate": 25.0, "saturation": 0.3}
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        judge_timeline(policy, baseline, data)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=1440)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plain = WatchPolicy(rules=tuple(DEFAULT_RULES.values()))
    firing = tuple(
        Alert.of({"alertname": f"Alert{i}", "service": "orders", "instance": f"10.0.0.{i}:80", "severity": "info" if i % 4 else "warning"})
        for i in range(args.alerts)
    )
    policy = replace(plain, alerts=AlertPolicy(severities={"critical": "hard", "warning": "ignore", "info": "ignore"}, before=firing[:5]))
    base = timed(plain, polls(args.polls, None), args.repeat)
    quiet = timed(policy, polls(args.polls, AlertsSeen()), args.repeat)
    busy = timed(policy, polls(args.polls, AlertsSeen(firing=firing)), args.repeat)
    print(f"{args.polls} polls, best of {args.repeat}")
    print(f"  no watch.alerts:                 {base * 1000:8.1f} ms  (1.00x)")
    print(f"  watch.alerts, nothing firing:    {quiet * 1000:8.1f} ms  ({quiet / base:.2f}x)")
    print(f"  watch.alerts, {args.alerts} firing ({min(5, args.alerts)} before): {busy * 1000:8.1f} ms  ({busy / base:.2f}x)")


if __name__ == "__main__":
    main()
