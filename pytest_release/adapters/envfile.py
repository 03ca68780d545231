"""The ``.env`` check of Phase 3: the file exists, every variable ``.env.example`` names is set,
and no placeholder secret is left in it.

Nothing here ever repeats a value: problems and parse errors name the file, the line and the
key, because the value is the secret the report must not contain.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_release.core.redact import looks_secret

__all__ = [
    "EnvFileError",
    "EnvFileProblem",
    "FILE_KEY",
    "check_env_file",
    "looks_like_placeholder",
    "parse_env_file",
]

FILE_KEY = "<file>"
"""The `key` of a problem with a whole file rather than one variable."""


class EnvFileError(ValueError):
    """A ``.env`` file that cannot be read as KEY=VALUE lines. The message names the file and
    line, never the line's content."""


@dataclass(frozen=True)
class EnvFileProblem:
    key: str
    problem: str

    def __str__(self) -> str:
        return self.problem if self.key == FILE_KEY else f"{self.key}: {self.problem}"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+")
_DOUBLE_QUOTE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$", "`": "`"}


def parse_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a dotenv file: ``KEY=VALUE`` and ``export KEY=VALUE`` lines, ``#`` comments, blank
    lines, single-quoted (literal) and double-quoted (backslash escapes) values, which may span
    lines. There is no variable or command expansion: ``$HOME`` stays ``$HOME``. A later line for
    the same key wins, as when the shell sources the file."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        raise EnvFileError(f"{path}:{lineno}: not valid UTF-8 text; save the file as UTF-8") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        lineno = index + 1
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\0" in line:
            raise EnvFileError(f"{path}:{lineno}: contains a NUL character, which no environment variable can hold")
        export = _EXPORT.match(stripped)
        if export:
            stripped = stripped[export.end():]
        if "=" not in stripped:
            raise EnvFileError(f"{path}:{lineno}: expected KEY=VALUE, found no '='")
        key, rest = stripped.split("=", 1)
        key = key.strip()
        if not key:
            raise EnvFileError(f"{path}:{lineno}: expected KEY=VALUE, the variable name is missing")
        if not _NAME.fullmatch(key):
            raise EnvFileError(
                f"{path}:{lineno}: invalid variable name (use letters, digits and '_', "
                f"not starting with a digit)"
            )
        rest = rest.lstrip(" \t")
        if rest[:1] in ("'", '"'):
            value, index = _quoted(path, key, lineno, rest, lines, index)
        else:
            value = _unquoted(rest)
        values[key] = value
    return values


def _unquoted(rest: str) -> str:
    # " #" starts a comment, as in the shell; a "#" inside a word ("pa#ss") is part of the value.
    comment = re.search(r"[ \t]#", rest)
    if comment:
        rest = rest[: comment.start()]
    return rest.strip()


def _quoted(
    path: Path, key: str, lineno: int, rest: str, lines: list[str], index: int
) -> tuple[str, int]:
    """Parse a quoted value starting at `rest` (the opening quote); it may continue over the
    following lines. Returns the value and the index of the next unread line."""
    quote = rest[0]
    text = rest[1:]
    chars: list[str] = []
    while True:
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch == quote:
                after = text[pos + 1:].strip()
                if after and not after.startswith("#"):
                    raise EnvFileError(
                        f"{path}:{lineno}: unexpected text after the closing quote of {key}"
                    )
                return "".join(chars), index
            if quote == '"' and ch == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                chars.append(_DOUBLE_QUOTE_ESCAPES.get(nxt, "\\" + nxt))
                pos += 2
                continue
            chars.append(ch)
            pos += 1
        if index >= len(lines):
            raise EnvFileError(f"{path}:{lineno}: the quoted value of {key} is never closed")
        if "\0" in lines[index]:
            raise EnvFileError(f"{path}:{index + 1}: contains a NUL character, which no environment variable can hold")
        chars.append("\n")
        text = lines[index]
        index += 1


def check_env_file(
    env_path: str | os.PathLike[str], example_path: str | os.PathLike[str]
) -> tuple[dict[str, str], list[EnvFileProblem]]:
    """The values of `env_path` and what is wrong with them against `example_path`.

    Every key of the example must be set and non-empty, with no placeholder value; secret-looking
    keys must not keep the example's own value; a placeholder in any secret-looking key of the
    ``.env`` counts too. Problems are returned, not raised: the caller reports all of them at once.
    """
    env_path, example_path = Path(env_path), Path(example_path)
    problems: list[EnvFileProblem] = []
    example: dict[str, str] = {}
    if not example_path.is_file():
        problems.append(EnvFileProblem(
            FILE_KEY,
            f".env.example not found at {example_path}: cannot tell which variables the deploy needs",
        ))
    else:
        try:
            example = parse_env_file(example_path)
        except (EnvFileError, OSError) as exc:
            problems.append(EnvFileProblem(FILE_KEY, _describe(exc, example_path)))
    if not env_path.is_file():
        hint = f" (copy {example_path.name} to {env_path.name} and fill in its values)" if example else ""
        problems.append(EnvFileProblem(FILE_KEY, f".env not found at {env_path}{hint}"))
        return {}, problems
    try:
        values = parse_env_file(env_path)
    except (EnvFileError, OSError) as exc:
        problems.append(EnvFileProblem(FILE_KEY, _describe(exc, env_path)))
        return {}, problems

    for key, example_value in example.items():
        if key not in values:
            problems.append(EnvFileProblem(key, "missing"))
        elif not values[key].strip():
            problems.append(EnvFileProblem(key, "empty"))
        elif looks_like_placeholder(values[key]):
            problems.append(EnvFileProblem(key, "placeholder value"))
        elif looks_secret(key) and example_value.strip() and values[key] == example_value:
            problems.append(EnvFileProblem(key, "still the value from .env.example"))
    for key, value in values.items():
        if key not in example and looks_secret(key) and looks_like_placeholder(value):
            problems.append(EnvFileProblem(key, "placeholder value"))
    return values, problems


def _describe(exc: Exception, path: Path) -> str:
    if isinstance(exc, EnvFileError):
        return str(exc)
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return f"cannot read {path}: {reason}"


# Words that follow "example-", "dummy_" and the like in stand-in values.
_WORD = r"(?:value|token|key|api[-_]?key|secret|password|pass|passwd|user|username|host|url|id|com|org|net)"

_PLACEHOLDER = re.compile(
    r"""
    (?:change|replace)[-_ ]?(?:me|this).*                 # changeme, change-me-in-prod, replace_this
    | (?:fill|set|update)[-_ ]?(?:me|this|it|in)\b.*      # set-me, fill-in
    | replace[-_ ]with\b.*
    | (?:insert|enter|put|paste|add)[-_ ].*               # insert-token-here, enter your key
    | [a-z0-9_ -]*[-_ ]here                               # api-key-here, put_your_token_here
    | your(?:[-_ .].*|[a-z_]*)                            # your-token, YOUR_API_KEY, yourpassword
    | todo | tbd | tbc | fixme | n/a | none\ yet | not\ set | unset
    | (?:placeholder|dummy|example|sample|fake)(?:[-_ .]{_WORD})*  # example, dummy-token, example.com
    | (?:my|some|the)[-_ ]?{_WORD}
    | secret | password | passwd | pass | token | apikey | api[-_]key
    | <[^<>]*>                                            # <your token>
    | \[[a-z0-9_ .-]*\]                                   # [token]
    | \{\{.*\}\}                                          # {{ template }}
    | \$\{[^}]*\}                                         # ${VAR}: this file is never expanded
    | (?:[a-z]{1,8}[-_])?x{3,}(?:[-_.]?x+)*               # xxx, XXXX-XXXX, sk-xxxxxxxx
    | \.{2,} | … | \*+ | -+ | \?+ | _+
    """.replace("{_WORD}", _WORD),
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


def looks_like_placeholder(value: str) -> bool:
    """Whether the whole of `value` is a stand-in left for a human to replace ("changeme",
    "<token>", "xxxx", "your-api-key", "..."). Matching is on the whole value, so a real secret
    that merely contains "example" or "xxx" is not flagged."""
    return _PLACEHOLDER.fullmatch(value.strip()) is not None
