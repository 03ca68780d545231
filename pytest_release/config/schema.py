"""The value grammars of release.yaml: numbers with their ranges, durations, factors, `${VAR}`
expansion, and a key-path-aware node whose errors name the file, the line and the key path."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from pytest_release.config.model import ConfigError
from pytest_release.config.source import Mapping as YamlMapping
from pytest_release.config.source import Sequence as YamlSequence
from pytest_release.config.source import line_of
from pytest_release.core.durations import parse_duration
from pytest_release.core.blanks import MARKER

# --- parsing helpers -----------------------------------------------------------------------
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: The longest duration any key accepts: a week. Longer is a typo (`60h` for `60m`), and beyond
#: it timers and datetimes overflow.
MAX_DURATION = 7 * 24 * 3600.0
#: What `${VAR}` expansion may grow the config to, in characters: far above any real config,
#: far below what would exhaust memory when an expanded value is copied by aliases.
MAX_EXPANDED_CHARS = 10_000_000


class _Node:
    """A mapping being read, with its key path, so errors can say exactly where."""

    def __init__(self, file: Path, path: str, data: Any, line: int | None = None) -> None:
        self.file, self.path = file, path
        self.line = line_of(data) or line
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        return ".".join(p for p in (self.path, key) if p) or "(top level)"

    def line_of(self, key: str | None = None) -> int | None:
        data = getattr(self, "data", None)
        return (line_of(data, key.split(".", 1)[0]) if key is not None else None) or line_of(data) or self.line

    def fail(self, message: str, key: str | None = None) -> None:
        line = self.line_of(key)
        raise ConfigError(f"{self.file}{f':{line}' if line else ''}: {self.where(key)}: {message}")

    def get(self, key: str, default: Any = None, convert: Callable[[Any], Any] | None = None) -> Any:
        self.read.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if convert is None:
            return value
        try:
            return convert(value)
        except (ValueError, TypeError, OverflowError) as exc:
            self.fail(str(exc), key)

    def child(self, key: str) -> "_Node":
        self.read.add(key)
        return _Node(self.file, self.where(key), self.data.get(key), line=self.line_of(key))

    def item(self, key: str, index: int, data: Any) -> "_Node":
        """The node of item `index` of the list under `key`."""
        items = self.data.get(key)
        return _Node(self.file, f"{self.where(key)}[{index}]", data, line=line_of(items, index) or self.line_of(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.read, key=str)
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), sorted(self.read), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(self.read))})"
            self.fail(f"unknown key{hint}", key)


def _typed(kind: type, what: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"expected {what}, got {_shown(value)}")
        return value

    return convert


def _shown(value: Any) -> str:
    """A value for a message: its repr, cut short (a pasted blob must not fill the terminal)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_str = _typed(str, "a string")
_bool = _typed(bool, "true or false")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_shown(value)}")
    return value


def _number(value: Any) -> float:
    """A finite number: YAML's .nan and .inf are refused (a threshold of NaN compares false with
    everything, so a rule would never fire)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"expected a number of a sensible size, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_shown(value)}")
    return number


def _ranged(
    convert: Callable[[Any], Any], *, low: float | None = None, high: float | None = None, above: float | None = None
) -> Callable[[Any], Any]:
    """`convert`, then a range check: `low <= value <= high`, or `value > above`."""

    def check(value: Any) -> Any:
        result = convert(value)
        if above is not None and not result > above:
            raise ValueError(f"must be greater than {above:g}, got {_shown(value)}")
        if low is not None and not result >= low:
            raise ValueError(f"must be {low:g} or more, got {_shown(value)}")
        if high is not None and not result <= high:
            raise ValueError(f"must be at most {high:g}, got {_shown(value)}")
        return result

    return check


def _whole(low: int, high: int) -> Callable[[Any], int]:
    return _ranged(_int, low=low, high=high)  # type: ignore[return-value]


def _duration(value: Any) -> float:
    """A duration: finite, at most MAX_DURATION (zero allowed; see `_positive`)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a duration like '90s', '15m' or '1h', got {_shown(value)}")
    seconds = parse_duration(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"a duration is at most 7 days ({MAX_DURATION:g}s), got {_shown(value)}")
    return seconds


def _positive(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        result = convert(value)
        if not result > 0:
            raise ValueError(f"must be greater than zero, got {_shown(value)}")
        return result

    return check


_positive_duration = _positive(_duration)


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_shown(value)}")
    return tuple(value)


#: The largest breach factor: beyond 1000x the baseline a rule no longer judges anything (write
#: `null` to disable it instead).
MAX_FACTOR = 1000.0


def _factor(value: Any) -> float:
    factor = _number(value)
    if factor <= 1:
        raise ValueError(f"a breach factor is a multiple of the baseline and must be above 1, got {_shown(value)}")
    if factor > MAX_FACTOR:
        raise ValueError(f"a breach factor is at most {MAX_FACTOR:g} (null disables the breach), got {_shown(value)}")
    return factor


# --- ${VAR} expansion ------------------------------------------------------------------------
class EnvUse:
    """What `${VAR}` expansion put into the config, so that no message echoes it: an expanded
    string is named by what was written (`the value of ${FOO_TOKEN}`), never by its value."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # variable -> value substituted
        self.written: dict[str, str] = {}  # expanded string -> the string as written
        self.chars = 0

    def scrub(self, message: str) -> str:
        for expanded in sorted(self.written, key=len, reverse=True):
            written = self.written[expanded]
            name = f"the value of {written}" if _ENV_REF.fullmatch(written) else f"{written!r} (expanded)"
            for form in (repr(expanded), repr(expanded).replace("'", '"')):
                message = message.replace(form, name)
        for variable, value in sorted(self.values.items(), key=lambda kv: len(kv[1]), reverse=True):
            if len(value) >= 4:  # shorter values are no secret (the redactor's rule too) and too common
                message = re.sub(re.escape(value), lambda _m, v=variable: f"${{{v}}}", message, flags=re.IGNORECASE)
        return message


_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|ms|s)\s*$")


def _limit(value: Any) -> float:
    """An absolute limit in the metric's own unit: a number, a percentage ("1%" is 0.01, for
    error_rate) or a time ("300ms", "0.5s", for p99_latency, which is in seconds)."""
    if isinstance(value, str):
        match = _LIMIT.match(value)
        if not match:
            raise ValueError(f"expected a number, a percentage like '1%' or a time like '300ms', got {_shown(value)}")
        number, unit = float(match.group(1)), match.group(2)
        return number / 100 if unit == "%" else number / 1000 if unit == "ms" else number
    number = _number(value)
    if number < 0:
        raise ValueError(f"an absolute limit cannot be negative, got {_shown(value)}")
    return number


def basic_auth_env(node: "_Node") -> tuple[str, str] | None:
    """`basic_auth_env: {username: VAR, password: VAR}` under `node`: the names of the environment
    variables holding the credentials (never the values), both or neither."""
    basic = node.child("basic_auth_env")
    pair = None
    if basic.data:
        pair = (basic.get("username", None, _str), basic.get("password", None, _str))
        if None in pair:
            basic.fail("needs both 'username' and 'password' (names of environment variables)")
    basic.finish()
    return pair  # type: ignore[return-value]


def expand_env(value: Any, environ: Mapping[str, str], file: Path, used: EnvUse | None = None, path: str = "", line: int | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the loaded YAML, keeping the lines
    each mapping and list remembers. An unset variable is an error naming the key path."""
    used = used if used is not None else EnvUse()
    if isinstance(value, dict):
        out = YamlMapping()
        out.line, out.lines = line_of(value) or 0, dict(getattr(value, "lines", {}))
        for key, item in value.items():
            out[key] = expand_env(item, environ, file, used, f"{path}.{key}" if path else str(key), line_of(value, key) or line)
        return out
    if isinstance(value, list):
        seq = YamlSequence()
        seq.line, seq.lines = line_of(value) or 0, list(getattr(value, "lines", []))
        for index, item in enumerate(value):
            seq.append(expand_env(item, environ, file, used, f"{path}[{index}]", line_of(value, index) or line))
        return seq
    if isinstance(value, str) and MARKER in value:
        raise ConfigError(f"{file}{f':{line}' if line else ''}: {path or '(top level)'}: still the blank pytest --release-init left, {value!r}: fill it in")
    if not isinstance(value, str) or "${" not in value:
        return value
    where = f"{file}{f':{line}' if line else ''}: {path or '(top level)'}"

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            used.values[name] = environ[name]
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (write ${{{name}:-default}} for a default)")

    expanded = _ENV_REF.sub(substitute, value)
    used.chars += len(expanded)
    if used.chars > MAX_EXPANDED_CHARS:
        raise ConfigError(
            f"{where}: expanding ${{VAR}} references grows the config past {MAX_EXPANDED_CHARS} characters "
            "(a large variable copied by YAML aliases?): refused"
        )
    if expanded != value:
        used.written[expanded] = value
    return expanded
