"""What the person asked for on the command line, validated before anything else happens.

Version and environment strings become file names and script arguments, so they are checked
against a strict grammar here: `../x`, `v1;rm -rf /`, an empty string or 300 characters are a
usage error, never a file or a process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pytest_release.config import STRATEGIES, parse_soft_breach_answer

VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
ENV_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


class InvocationError(ValueError):
    """A bad option value; the message names the option."""


def check_version(value: str, option: str) -> str:
    if not VERSION_PATTERN.fullmatch(value or "") or ".." in value:
        raise InvocationError(
            f"{option}={value[:80]!r}{'...' if len(value) > 80 else ''} is not a valid version: use 1-128 letters, "
            "digits, '.', '_', '+' or '-', starting with a letter or digit"
        )
    return value


def check_env(value: str, option: str = "--release-env") -> str:
    if "," in value or " " in value.strip():
        raise InvocationError(
            f"{option}={value!r} names several environments: one release targets exactly one "
            "environment (promote staging -> production as two releases)"
        )
    if not ENV_PATTERN.fullmatch(value or ""):
        raise InvocationError(f"{option}={value[:80]!r} is not a valid environment name: letters, digits, '-' and '_'")
    return value


@dataclass(frozen=True)
class Invocation:
    env: str
    version: str
    config_path: Path
    rollback_to: str | None = None
    strategy: str | None = None
    confirm: bool = False
    on_soft_breach: str | None = None
    override_reason: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        env: str | None,
        version: str | None,
        config_path: str,
        rollback_to: str | None,
        strategy: str | None,
        confirm: bool,
        on_soft_breach: str | None,
        override_reason: str | None,
        rootdir: Path,
    ) -> "Invocation":
        if not env or version is None:
            missing = "--release-version" if env else "--release-env"
            raise InvocationError(f"{missing} is required: a release needs both --release-env and --release-version")
        check_env(env)
        check_version(version, "--release-version")
        if rollback_to is not None:
            check_version(rollback_to, "--release-rollback-to")
            if rollback_to == version:
                raise InvocationError(f"--release-rollback-to={rollback_to} is the version being released")
        if strategy is not None and strategy not in STRATEGIES:
            raise InvocationError(f"--release-strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if on_soft_breach is not None:
            try:
                parse_soft_breach_answer(on_soft_breach)
            except ValueError as exc:
                raise InvocationError(f"--release-on-soft-breach: {exc}") from None
        if override_reason is not None and not override_reason.strip():
            raise InvocationError("--release-override-reason must say why")
        path = Path(config_path)
        if not path.is_absolute():
            path = rootdir / path
        return cls(env, version, path, rollback_to, strategy, confirm, on_soft_breach, override_reason)
