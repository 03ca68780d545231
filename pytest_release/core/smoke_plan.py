"""Before anything is deployed: are the smoke tests fit for this environment and strategy?

Pure: the configured catalogue and the chosen strategy in, findings out. Three questions, each
from the runbook:

- Coverage: every public endpoint has a read and, where it accepts one, a write. An endpoint is
  a path of a component; a path listed in `smoke.read_only` accepts no write.
- Safety: a production smoke test must not touch real customer data. On a `kind: production`
  environment every writing case needs `test_data: true`, unless a `smoke.test_account` is
  configured (its headers go with every case, so writes land in the test account).
- Target: where the cases are sent. Blue-green smoke-tests the idle side at `preview_url` before
  any user is switched; a canary's own address is `preview_url` too when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # the settings it judges; the core imports nothing of the package at run time
    from pytest_release.config import SmokeEndpoint, SmokeSettings

READS = ("GET", "HEAD")


@dataclass(frozen=True)
class SmokePlan:
    target: str  # the base URL the configured cases go to
    target_why: str
    gaps: tuple[str, ...] = ()  # coverage: what a complete catalogue would add
    unsafe: tuple[str, ...] = ()  # production writes that could touch customer data
    notes: tuple[str, ...] = field(default_factory=tuple)


def coverage_gaps(endpoints: Sequence[SmokeEndpoint], read_only: Sequence[str]) -> list[str]:
    """Per (component, path): a missing read, and a missing write unless the path is read-only."""
    by_endpoint: dict[tuple[str, str], set[str]] = {}
    for e in endpoints:
        by_endpoint.setdefault((e.component, e.path), set()).add("write" if e.writes else "read")
    gaps = []
    for (component, path), kinds in by_endpoint.items():
        where = f"{component} {path}"
        if "read" not in kinds:
            gaps.append(f"{where}: no read case (a GET)")
        if "write" not in kinds and path not in read_only:
            gaps.append(f"{where}: no write case (list the path under smoke.read_only if it accepts none)")
    return gaps


def unsafe_writes(endpoints: Sequence[SmokeEndpoint], settings: SmokeSettings, production: bool) -> list[str]:
    """Writing cases that could touch real data on a production environment."""
    if not production or settings.test_account is not None:
        return []
    return [
        f"{e.name} ({e.method} {e.path}) writes without test_data: true and no smoke.test_account is configured"
        for e in endpoints
        if e.writes and not e.test_data
    ]


def target(settings: SmokeSettings, strategy: str) -> tuple[str, str]:
    """The base URL the smoke cases go to now, and why in words."""
    if strategy == "blue-green" and settings.preview_url:
        return settings.preview_url, "the idle side, before any user is switched to it"
    if strategy == "canary" and settings.preview_url:
        return settings.preview_url, "the canary's own address, so every case reaches the new version"
    return settings.base_url or "", "the environment's address"


def review(settings: SmokeSettings, *, strategy: str, production: bool) -> SmokePlan:
    url, why = target(settings, strategy)
    notes = []
    if strategy == "canary" and not settings.preview_url:
        notes.append(
            "canary without smoke.preview_url: the cases go through the shared address, so most of them "
            "may reach the old version; configure the canary's own address as preview_url"
        )
    gaps = () if settings.coverage == "off" else tuple(coverage_gaps(settings.endpoints, settings.read_only))
    return SmokePlan(
        target=url, target_why=why, gaps=gaps,
        unsafe=tuple(unsafe_writes(settings.endpoints, settings, production)), notes=tuple(notes),
    )


def leftover_missing(env: str, kind: str) -> str:
    return (
        f"The release to **{env}** ({kind}) stopped before anything was deployed: it has no smoke tests.\n\n"
        "A release must prove the new version serves before users rely on it, and it never improvises\n"
        "smoke tests. To resolve, either:\n\n"
        f"- list the public endpoints under `environments.{env}.smoke.endpoints` in release.yaml (a read\n"
        "  and, where the endpoint accepts one, a write each), or\n"
        "- mark the project's own smoke tests with `@pytest.mark.release_phase(\"smoke\")`.\n\n"
        "Then release again."
    )


def leftover_unsafe(env: str, unsafe: Sequence[str]) -> str:
    listed = "\n".join(f"- {line}" for line in unsafe)
    return (
        f"The release to **{env}** (production) stopped before anything was deployed: its smoke tests\n"
        "would write to production without a test account or a test-data marker, and production smoke\n"
        f"tests must not touch real customer data.\n\n{listed}\n\n"
        f"To resolve, either configure `environments.{env}.smoke.test_account` (a name and the headers\n"
        "that make the service act as that account) or mark each writing case `test_data: true` once\n"
        "it provably touches only test data. Then release again."
    )
