"""What `pytest --release-init` can learn from a project's deploy docs, the runbook's inputs:
`_docs/04_deploy/environment_strategy.md` (the environments, their URLs and strategies) and
`observability.md` (the metrics backend and the metric names).

Pure: texts in, guesses out, each with where it came from; whatever is not found is left for a
blank (`core/blanks.py`) rather than guessed. The docs are prose written by people, so only what
is unambiguous is taken: an environment is a heading or a table row naming a known environment
word; a URL is one written in that environment's own section or row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KNOWN_ENVIRONMENTS = (
    "dev", "development", "test", "testing", "qa", "sandbox", "demo", "uat", "stage", "staging",
    "preprod", "pre-production", "preproduction", "prod", "production", "live",
)
PRODUCTION_WORDS = ("prod", "production", "live")
_STRATEGY_WORDS = {
    "all-at-once": re.compile(r"\ball[- ]at[- ]once\b|\brecreate\b", re.I),
    "blue-green": re.compile(r"\bblue[-/ ]green\b", re.I),
    "canary": re.compile(r"\bcanary\b", re.I),
    "manual": re.compile(r"\bmanual(?:ly)?\b", re.I),
}
_URL = re.compile(r"https?://[^\s)>|`'\"\]]+")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_METRIC = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^`]*\})?`")
_BACKEND_WORDS = re.compile(r"prometheus|victoria|thanos|mimir|cortex", re.I)


@dataclass
class EnvironmentGuess:
    name: str
    kind: str
    strategies: list[str] = field(default_factory=list)
    base_url: str | None = None
    version_url: str | None = None
    found_in: str = ""


@dataclass
class Inference:
    environments: list[EnvironmentGuess] = field(default_factory=list)
    metrics_url: str | None = None
    requests_total: str | None = None
    duration_histogram: str | None = None
    notes: list[str] = field(default_factory=list)  # what was found, and where


def env_name(text: str) -> str | None:
    """`Production`, `**Staging** environment`, `qa (internal)` -> a known environment name."""
    words = re.sub(r"[*_`]", "", text).strip().lower()
    words = re.sub(r"\s*\(.*?\)\s*", " ", words)
    words = re.sub(r"\b(environment|env|cluster|stack)s?\b", "", words).strip(" :-.")
    candidate = words.replace(" ", "-")
    return candidate if candidate in KNOWN_ENVIRONMENTS else None


def kind_of(name: str) -> str:
    return "production" if any(name == w or name.startswith(w) for w in PRODUCTION_WORDS) else "staging"


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """(environment, its text, line number): each heading naming an environment with the text
    under it, and each table row whose first cell names one."""
    found: list[tuple[str, str, int]] = []
    lines = text.splitlines()
    current: tuple[str, int, int] | None = None  # name, level, start line
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if current is not None and level <= current[1]:
                found.append((current[0], "\n".join(body), current[2]))
                current, body = None, []
            name = env_name(heading.group(2))
            if name is not None:
                if current is not None:
                    found.append((current[0], "\n".join(body), current[2]))
                current, body = (name, level, number), []
                continue
        row = _ROW.match(line)
        if row:
            cells = [c.strip() for c in row.group(1).split("|")]
            name = env_name(cells[0]) if cells else None
            if name is not None:
                found.append((name, " | ".join(cells[1:]), number))
                continue
        if current is not None:
            body.append(line)
    if current is not None:
        found.append((current[0], "\n".join(body), current[2]))
    return found


def infer(environment_strategy: str | None, observability: str | None) -> Inference:
    result = Inference()
    if environment_strategy:
        seen: dict[str, EnvironmentGuess] = {}
        for name, body, line in _blocks(environment_strategy):
            guess = seen.get(name)
            if guess is None:
                guess = seen[name] = EnvironmentGuess(name, kind_of(name), found_in=f"environment_strategy.md line {line}")
            guess.strategies += [s for s, pattern in _STRATEGY_WORDS.items() if pattern.search(body) and s not in guess.strategies]
            for url in _URL.findall(body):
                url = url.rstrip(".,;:")
                if url.rstrip("/").endswith("/version") and guess.version_url is None:
                    guess.version_url = url
                elif guess.base_url is None and not _BACKEND_WORDS.search(url):
                    guess.base_url = url.rstrip("/")
        result.environments = list(seen.values())
        for guess in result.environments:
            result.notes.append(
                f"environment {guess.name} ({guess.kind}) from {guess.found_in}"
                + (f": strategies {', '.join(guess.strategies)}" if guess.strategies else "")
                + (f", base URL {guess.base_url}" if guess.base_url else "")
            )
    if observability:
        for line in observability.splitlines():
            if result.metrics_url is None and _BACKEND_WORDS.search(line):
                urls = _URL.findall(line)
                if urls:
                    result.metrics_url = urls[0].rstrip(".,;:/")
                    result.notes.append(f"metrics backend {result.metrics_url} from observability.md")
            for metric in _METRIC.findall(line):
                if result.requests_total is None and metric.endswith("_requests_total"):
                    result.requests_total = metric
                    result.notes.append(f"request counter {metric} from observability.md")
                elif result.duration_histogram is None and re.search(r"_(request_)?duration_seconds(_bucket)?$", metric):
                    result.duration_histogram = metric.removesuffix("_bucket")
                    result.notes.append(f"latency histogram {result.duration_histogram} from observability.md")
    return result
