"""The metrics provider an environment's `metrics:` settings describe.

Shared by the release (phase 1 onwards) and the backtest, so both read exactly the same queries
with the same credentials."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import pytest

from pytest_release.metrics import MetricsProvider
from pytest_release.metrics.prometheus import PrometheusProvider
from pytest_release.metrics.promql import MetricNames, default_queries
from pytest_release.metrics.scrape import ScrapeProvider

if TYPE_CHECKING:
    from pytest_release.clock import Clock
    from pytest_release.config import Environment


def make_provider(env: "Environment", *, config_path: Path, clock: "Clock", environ: Mapping[str, str] | None = None) -> MetricsProvider:
    """A ScrapeProvider or PrometheusProvider for `env`; a missing URL is a usage error naming
    the key. Credentials are read from the environment variables the settings name."""
    environ = os.environ if environ is None else environ
    settings = env.metrics
    if not settings.url:
        raise pytest.UsageError(f"{config_path}: environments.{env.name}.metrics.url is required")

    names = MetricNames(**settings.names)
    if settings.provider == "scrape":

        return ScrapeProvider(settings.url, names, timeout=settings.timeout, clock=clock)

    queries = default_queries(names)
    queries.update(settings.queries)
    token = environ.get(settings.bearer_token_env) if settings.bearer_token_env else None
    basic = None
    if settings.basic_auth_env:
        user_var, password_var = settings.basic_auth_env
        basic = (environ.get(user_var, ""), environ.get(password_var, ""))
    return PrometheusProvider(
        settings.url, queries, timeout=settings.timeout, bearer_token=token, basic_auth=basic,
        verify_tls=settings.verify_tls, headers=settings.headers, query_params=settings.query_params,
        flavor=settings.flavor, max_sample_age=settings.max_sample_age,
    )
