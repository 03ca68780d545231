"""The value grammars of release.yaml: durations, factors, `${VAR}` expansion, and a key-path-aware node."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from pytest_release.config.model import ConfigError
from pytest_release.core.blanks import MARKER

# --- parsing helpers -----------------------------------------------------------------------
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Node:
    """A mapping being read, with its key path, so errors can say exactly where."""

    def __init__(self, file: Path, path: str, data: Any) -> None:
        self.file, self.path = file, path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        return ".".join(p for p in (self.path, key) if p) or "(top level)"

    def fail(self, message: str, key: str | None = None) -> None:
        raise ConfigError(f"{self.file}: {self.where(key)}: {message}")

    def get(self, key: str, default: Any = None, convert: Callable[[Any], Any] | None = None) -> Any:
        self.read.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if convert is None:
            return value
        try:
            return convert(value)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), key)

    def child(self, key: str) -> "_Node":
        self.read.add(key)
        return _Node(self.file, self.where(key), self.data.get(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, sorted(self.read), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(self.read))})"
            self.fail(f"unknown key{hint}", key)


def _typed(kind: type, what: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {what}, got {value!r}")
        return value

    return convert


_str = _typed(str, "a string")
_bool = _typed(bool, "true or false")
_int = _typed(int, "a whole number")
_number = _typed(float, "a number")


def _positive(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        value = convert(value)
        if value <= 0:
            raise ValueError(f"must be greater than zero, got {value!r}")
        return value

    return check


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _factor(value: Any) -> float:
    value = _number(value)
    if value <= 1:
        raise ValueError(f"a breach factor is a multiple of the baseline and must be above 1, got {value!r}")
    return value


def expand_env(value: Any, environ: Mapping[str, str], where: Callable[[str], str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the loaded YAML."""
    if isinstance(value, dict):
        return {k: expand_env(v, environ, lambda m, k=k: where(f"{k}: {m}")) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ, lambda m, i=i: where(f"[{i}]: {m}")) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if MARKER in value:
        raise ConfigError(where(f"still the blank pytest --release-init left, {value!r}: fill it in"))

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(where(f"environment variable {name} is not set (write ${{{name}:-default}} for a default)"))

    return _ENV_REF.sub(substitute, value)


# --- loading -------------------------------------------------------------------------------
