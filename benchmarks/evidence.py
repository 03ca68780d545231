"""Today's point rule against the evidence rule (core.evidence), on seeded simulated traffic.

For each request rate (requests/s), baseline error rate and window length, N windows of 1-minute
polls are drawn: requests per poll ~ Poisson(rate x 60), errors ~ Binomial(requests, p). Each
window is judged by the real WindowJudge (core.timeline, the live window's and the backtest's
judge) on the default error_rate rule, once with `evidence: false` (today's point rule) and once
with the evidence test, on the same draws:

* healthy release (p = the baseline): false rollbacks (any hard decision) and escalations (a
  soft question, no hard one), including a window that ends inconclusive or without data;
* a real 2x regression (p = 2 x the baseline): the share rolled back, the median polls to the
  first hard decision, and the share never rolled back.

Prints one table. Speed is not the point here; the figures are.

    python benchmarks/evidence.py [--windows 500] [--seed 14] [--confidence 0.95]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_release.core.timeline import WindowJudge, judge_end  # noqa: E402
from pytest_release.core.watch_model import DEFAULT_RULES, Poll, Status, WatchPolicy  # noqa: E402

RATES = (0.2, 0.5, 1.0, 5.0, 50.0, 500.0)
BASELINES = (0.01, 0.05)
WINDOWS = (10, 30)


def draw(rng: np.random.Generator, rate: float, p: float, polls: int) -> list[Poll]:
    out = []
    for i in range(polls):
        n = int(rng.poisson(rate * 60))
        k = int(rng.binomial(n, p)) if n else 0
        out.append(Poll(elapsed=60.0 * (i + 1), values={"error_rate": k / n if n else None}, requests=float(n)))
    return out


def run(policy: WatchPolicy, baseline: float, polls: list[Poll]) -> tuple[str, int | None]:
    """('hard' | 'traffic' | 'soft' | 'ok', polls to the first hard decision); 'traffic': hard
    for too little traffic (the no-data rule under min_requests), not for the error rate."""
    window = WindowJudge(policy, {"error_rate": baseline})
    asked = False
    for index, poll in enumerate(polls):
        step = window.step(poll, final=index == len(polls) - 1)
        if step.decision.status is Status.HARD:
            return ("traffic" if "too little traffic" in (step.decision.trigger or "") else "hard"), index + 1
        if step.ask:
            asked = True
            window.accept(step.asked_about)
    return ("soft" if asked else "ok"), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--confidence", type=float, default=None)
    args = parser.parse_args()
    rule = DEFAULT_RULES["error_rate"]
    new = WatchPolicy(rules=(rule,), interval=60.0)
    if args.confidence is not None:
        new = replace(new, confidence=args.confidence)
    rules = {"point": WatchPolicy(rules=(replace(rule, evidence=False),), interval=60.0), "evidence": new}
    print(f"{args.windows} windows per cell, seed {args.seed}, confidence {new.confidence}, 1-minute polls,"
          f" min_requests {new.min_requests:g}, no_data_after {new.no_data_after:g}s")
    head = (f"{'req/s':>6} {'base':>5} {'polls':>5} {'rule':>8} | {'healthy: rollback':>17} {'escalate':>8} |"
            f" {'2x: rollback':>12} {'median polls':>12} {'never':>6}")
    print("healthy rollback: hard on the error rate (+ hard for too little traffic: the no-data rule,"
          " the same for both rules); 2x rollback: any hard, median polls to it")
    print(head)
    print("-" * len(head))
    started = time.perf_counter()
    for rate in RATES:
        for p0 in BASELINES:
            for length in WINDOWS:
                rng = np.random.default_rng([args.seed, int(rate * 10), int(p0 * 100), length])
                healthy = [draw(rng, rate, p0, length) for _ in range(args.windows)]
                broken = [draw(rng, rate, 2 * p0, length) for _ in range(args.windows)]
                for name, policy in rules.items():
                    h = [run(policy, p0, w)[0] for w in healthy]
                    b = [run(policy, p0, w) for w in broken]
                    delays = [d for outcome, d in b if outcome in ("hard", "traffic") and d is not None]
                    quiet = f" +{h.count('traffic') / len(h):.0%}" if h.count("traffic") else ""
                    hard_share = f"{h.count('hard') / len(h):.1%}{quiet}"
                    median = f"{statistics.median(delays):.0f}" if delays else "-"
                    print(
                        f"{rate:>6g} {p0:>5.0%} {length:>5} {name:>8} |"
                        f" {hard_share:>17} {h.count('soft') / len(h):>8.1%} |"
                        f" {len(delays) / len(b):>12.1%} {median:>12} {1 - len(delays) / len(b):>6.1%}",
                        flush=True,
                    )
    print(f"({time.perf_counter() - started:.0f}s)")


if __name__ == "__main__":
    main()
