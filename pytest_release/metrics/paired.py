"""The watch window's loop for a canary step judged against the stable version: every poll reads
the canary's and the stable version's metrics for the same instant and interval (two `sample`
calls with the same `at`, `window` and `not_before`), and hands both, as one
`core.canary_compare.PairedPoll`, to the step's judge (`CanaryVsStable`). Everything else (the
poll grid, soft answers, extensions, the health check once per poll) is `WatchWindow`'s."""

from __future__ import annotations

from typing import Any, Mapping

from pytest_release.core.canary_compare import CanaryVsStable, PairedPoll
from pytest_release.core.judge import Poll, WatchPolicy
from pytest_release.metrics import MetricsProvider, judged_reasons
from pytest_release.metrics.window import WatchOutcome, WatchWindow


def _side(provider: MetricsProvider, sampled: Mapping[str, float | None], elapsed: float) -> Poll:
    values = dict(sampled)
    coverage = dict(getattr(sampled, "coverage", None) or {})
    return Poll(
        elapsed=elapsed, values=values, requests=values.get("requests"), error=getattr(provider, "last_error", None),
        missing=judged_reasons(sampled) or None, coverage=coverage or None,
    )


class PairedWatchWindow(WatchWindow):
    """`WatchWindow` over two providers, the canary's (`provider`) and the stable version's."""

    def __init__(self, *, stable_provider: MetricsProvider, canary_series: str, stable_series: str, **kwargs: Any) -> None:
        def make_judge(policy: WatchPolicy, baseline: Mapping[str, float | None]) -> Any:
            return CanaryVsStable(policy, baseline, canary_series=canary_series, stable_series=stable_series)

        super().__init__(window_judge=make_judge, **kwargs)
        self.stable_provider = stable_provider

    def run(self) -> WatchOutcome:
        if not self.historical:
            self.stable_provider.sample(self.clock.now(), self.interval)  # prime on the stable version
        return super().run()

    def _poll(self, elapsed: float) -> Poll:
        at = self.clock.now()
        canary = _side(self.provider, self.provider.sample(at, self.interval, self._not_before), elapsed)
        stable = _side(self.stable_provider, self.stable_provider.sample(at, self.interval, self._not_before), elapsed)
        healthy = self.health() if self.health else None
        return PairedPoll(
            elapsed=elapsed, values=canary.values, requests=canary.requests, health_ok=healthy, error=canary.error,
            missing=canary.missing, coverage=canary.coverage, stable=stable,
        )
