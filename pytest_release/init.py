"""`pytest --release-init`: set an existing project up for releases, instead of a session.

It writes release.yaml (the environments inferred from `_docs/04_deploy/environment_strategy.md`
and `observability.md` where they exist, else `staging` and `production` skeletons) and, where
missing, `scripts/deploy.sh` and `scripts/health-check.sh` templates that honour the deploy
contract, and `.env.example`. It never overwrites a file: what exists is left as it is and said.
Whatever it could not infer is a blank, `<FILL: what goes here>`, that every reader refuses
(release.yaml is then a usage error naming the key; a deploy script with one is a phase-2
defect), so a half-set-up project can never deploy. It prints the blanks and the next command."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import jinja2
import pytest

from pytest_release.core.blanks import blank, blanks
from pytest_release.core.project_docs import EnvironmentGuess, Inference, infer
from pytest_release.options import InvocationError, init_target

DOCS = Path("_docs") / "04_deploy"
TEMPLATES = "pytest_release.init_templates"


@dataclass(frozen=True)
class Planned:
    path: Path  # relative to the project root
    text: str
    executable: bool = False


def _template(name: str) -> str:
    return resources.files(TEMPLATES).joinpath(name).read_text(encoding="utf-8")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _environment_context(guess: EnvironmentGuess, found: Inference) -> dict[str, object]:
    name = guess.name
    provider = "prometheus" if found.metrics_url else "scrape"
    return {
        "name": name,
        "kind": guess.kind,
        "strategies": guess.strategies or ["all-at-once"],
        "version_url": guess.version_url or blank(f"{name}: a URL answering JSON with the deployed version, like https://{name}.example.com/version"),
        "base_url": guess.base_url or blank(f"{name}: the service's base URL for the smoke test, like https://{name}.example.com"),
        "provider": provider,
        "metrics_url": found.metrics_url
        or blank(f"{name}: the service's /metrics URL (or provider: prometheus and the Prometheus URL)"),
        "requests_total": found.requests_total or blank(f"{name}: the request counter's name, like http_requests_total"),
        "duration_histogram": found.duration_histogram
        or blank(f"{name}: the latency histogram's name, like http_request_duration_seconds"),
    }


def plan(root: Path, config_name: str = "release.yaml") -> tuple[list[Planned], Inference, list[str]]:
    """What init would write under `root` (files that exist are not in it), what it inferred, and
    the documents it read."""
    strategy_doc, observability_doc = root / DOCS / "environment_strategy.md", root / DOCS / "observability.md"
    found = infer(_read(strategy_doc), _read(observability_doc))
    sources = [str(p.relative_to(root)) for p in (strategy_doc, observability_doc) if p.exists()]
    guesses = found.environments or [EnvironmentGuess("staging", "staging"), EnvironmentGuess("production", "production")]
    environment = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    config_text = environment.from_string(_template("release.yaml.j2")).render(
        environments=[_environment_context(g, found) for g in guesses], sources=sources,
    )
    planned = [
        Planned(Path(config_name), config_text),
        Planned(Path("scripts/deploy.sh"), _template("deploy.sh"), executable=True),
        Planned(Path("scripts/health-check.sh"), _template("health-check.sh"), executable=True),
        Planned(Path(".env.example"), _template("env.example")),
    ]
    return planned, found, sources


def write_new(root: Path, planned: Planned) -> bool:
    """Create the file exclusively: False (and nothing written) when it exists."""
    path = root / planned.path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if planned.executable else 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(planned.text)
    return True


def run_init(root: Path, config_name: str, write: Callable[[str], None]) -> int:
    planned, found, sources = plan(root, config_name)
    write(f"release init in {root}")
    if sources:
        write("read: " + ", ".join(sources))
    else:
        write(f"no {DOCS}/environment_strategy.md or observability.md: staging and production skeletons")
    for note in found.notes:
        write(f"inferred: {note}")
    left: list[tuple[Path, str]] = []
    for item in planned:
        if write_new(root, item):
            write(f"wrote {item.path}")
            left += [(item.path, hint) for hint in blanks(item.text)]
        else:
            write(f"kept {item.path}: it exists (never overwritten)")
    if left:
        write(f"could not infer ({len(left)}): fill in each blank marked FILL; a release refuses to start while one is left:")
        for path, hint in left:
            write(f"  {path}: {hint}")
    env_file = root / ".env"
    if not env_file.exists():
        write("then create .env with every key of .env.example (never commit it)")
    first = found.environments[0].name if found.environments else "staging"
    write(f"next: pytest --release-env={first} --release-version=VERSION")
    return 0


def init_main(config: pytest.Config, session: pytest.Session) -> int:
    """Run by `pytest_cmdline_main` inside pytest's session wrapper; returns the exit status."""
    try:
        target = init_target(config)
    except InvocationError as exc:
        raise pytest.UsageError(str(exc)) from None
    terminal = config.pluginmanager.getplugin("terminalreporter")
    if terminal is None:
        write: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    else:
        terminal.ensure_newline()
        terminal.section("release init", bold=True)
        write = terminal.write_line
    return run_init(target.parent, target.name, write)
