"""A canary step judged against the pre-release baseline (today's `canary.baseline: pre-release`)
and against the stable version over the same interval (`canary.baseline: stable`), in the same
run, on simulated traffic: requests and errors drawn per poll (a binomial per version, seeded),
judged poll by poll by the real judges (core.timeline.WindowJudge, core.canary_compare.CanaryVsStable).

Scenarios (a 5% canary, `rate` requests/s in all, a step of `polls` polls of `interval` seconds):
  healthy             both versions at the baseline error rate
  shared-fault        both versions degraded alike (the shared dependency fails `--fault` of requests)
  canary-bad          the canary alone at 3x the baseline error rate (5x with --factor)
  canary-bad+shared   the canary worse than the stable version, during the shared fault

Prints, per scenario and mode: the share of steps that rolled back (hard), escalated (soft, first
finding) or passed, and for the bad canaries the mean poll of detection; and the judging time
per poll of each mode, and its ratio.

    python benchmarks/canary_baseline.py [--trials 400] [--rate 50] [--interval 60] [--polls 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_release.core.canary_compare import CanaryVsStable, PairedPoll  # noqa: E402
from pytest_release.core.judge import DEFAULT_RULES, Poll, Status, WatchPolicy  # noqa: E402
from pytest_release.core.timeline import WindowJudge  # noqa: E402

BASE_ERRORS = 0.005


def binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def side(rng: random.Random, t: float, requests: int, p: float) -> Poll:
    errors = binomial(rng, requests, p)
    return Poll(elapsed=t, values={"error_rate": errors / requests if requests else None}, requests=requests)


def run(mode: str, canary_p: float, stable_p: float, args: argparse.Namespace, rng: random.Random) -> tuple[str, int | None, float]:
    policy = WatchPolicy(rules=(DEFAULT_RULES["error_rate"],), min_requests=10, interval=args.interval)
    baseline = {"error_rate": BASE_ERRORS}
    judge = WindowJudge(policy, baseline) if mode == "pre-release" else CanaryVsStable(policy, baseline)
    total = int(args.rate * args.interval)
    canary_n = round(total * 0.05)
    spent = 0.0
    for k in range(1, args.polls + 1):
        t = k * args.interval
        canary, stable = side(rng, t, canary_n, canary_p), side(rng, t, total - canary_n, stable_p)
        poll = PairedPoll(elapsed=t, values=canary.values, requests=canary.requests, stable=stable)
        started = time.perf_counter()
        step = judge.step(poll, final=k == args.polls)
        spent += time.perf_counter() - started
        if step.decision.status is Status.HARD:
            return "rolled back", k, spent
        if step.ask:
            return "escalated", k, spent
    return "passed", None, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--fault", type=float, default=0.05, help="the shared fault's error share")
    parser.add_argument("--factor", type=float, default=3.0, help="the bad canary's error rate, x the stable version's")
    args = parser.parse_args()
    scenarios = {
        "healthy": (BASE_ERRORS, BASE_ERRORS),
        "shared-fault": (args.fault, args.fault),
        "canary-bad": (BASE_ERRORS * args.factor, BASE_ERRORS),
        "canary-bad+shared": (min(1.0, args.fault * args.factor), args.fault),
    }
    print(f"{args.trials} steps per scenario, {args.rate:g} req/s, 5% canary, {args.polls} polls of {args.interval:g}s, baseline error rate {BASE_ERRORS}")
    print(f"{'scenario':20} {'mode':12} {'rolled back':>12} {'escalated':>10} {'passed':>8} {'mean poll':>10}")
    times = {"pre-release": 0.0, "stable": 0.0}
    polls = {"pre-release": 0, "stable": 0}
    for name, (canary_p, stable_p) in scenarios.items():
        for mode in ("pre-release", "stable"):
            rng = random.Random(f"{name}-{args.trials}")  # the same traffic for both modes
            counts = {"rolled back": 0, "escalated": 0, "passed": 0}
            at: list[int] = []
            for _ in range(args.trials):
                outcome, k, spent = run(mode, canary_p, stable_p, args, rng)
                counts[outcome] += 1
                times[mode] += spent
                polls[mode] += k or args.polls
                if k is not None:
                    at.append(k)
            share = {key: f"{100 * value / args.trials:.1f}%" for key, value in counts.items()}
            mean = f"{sum(at) / len(at):.2f}" if at else "—"
            print(f"{name:20} {mode:12} {share['rolled back']:>12} {share['escalated']:>10} {share['passed']:>8} {mean:>10}")
    per = {mode: times[mode] / max(polls[mode], 1) * 1e6 for mode in times}
    print(f"judging per poll: pre-release {per['pre-release']:.0f} µs, stable {per['stable']:.0f} µs"
          f" (ratio {per['stable'] / per['pre-release']:.2f}x: three comparisons per metric instead of one)")


if __name__ == "__main__":
    main()
