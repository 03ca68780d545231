"""The reference docs under docs/ against the code they describe: a config key, an option, a hook,
an exit status, a deploy-script argument or a report heading that the code has and the docs do
not fails here. Key lists are derived from the code itself, so what is added later is caught.

Config keys come two ways: every key path `config.py` reads while loading the docs' complete
example and the shipped configs (instrumented `_Node`), and every key name `config.py` asks for
anywhere (its source, parsed), which also covers sections read only when present."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_release import hookspecs
from pytest_release.config import announcements as config_announcements
from pytest_release.config import loader as config_module
from pytest_release.core.release import USAGE_ERROR_EXIT, Verdict

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "configuration.md"
SHIPPED_CONFIGS = [
    ROOT / "examples" / "demo" / "release.yaml",
    ROOT / "examples" / "kubernetes" / "release.yaml",
    ROOT / "examples" / "kubernetes" / "release-argo.yaml",
]


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def complete_example(tmp_path: Path) -> Path:
    block = re.findall(r"```yaml\n(.*?)```", CONFIG_DOC.read_text(), re.S)[-1]
    path = tmp_path / "release.yaml"
    path.write_text(block)
    return path


def normalize(path: str) -> str:
    path = re.sub(r"^environments\.[^.\[]+", "environments.<env>", path)
    path = re.sub(r"\[\d+\]", "[]", path)
    return re.sub(r"\.rules\.[^.\[]+", ".rules.<metric>", path)


def read_key_paths(monkeypatch: pytest.MonkeyPatch, *files: Path) -> set[str]:
    """Every key path config.py reads (gets, children, keys it marks as read) while loading."""
    nodes: list = []
    original = config_module._Node.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        nodes.append(self)

    monkeypatch.setattr(config_module._Node, "__init__", init)
    paths: set[str] = set()
    for file in files:
        nodes.clear()
        config_module.load_config(file, environ={"DEMO_PORT": "8711", "PROMETHEUS_URL": "http://prometheus:9090"})
        for node in nodes:
            paths.update(normalize(node.where(key)) for key in node.read)
    return paths


def key_names_in_source() -> set[str]:
    """Literal key names config.py reads: `.get("k")`, `.child("k")`, `project_path("k")`,
    `.read.add("k")`, `.read.update(("k", ...))` and the shared sections."""
    tree = ast.parse(inspect.getsource(config_module) + "\n" + inspect.getsource(config_announcements))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("get", "child", "project_path", "add"):
                names.add(node.args[0].value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" and node.args and isinstance(node.args[0], ast.Tuple):
            names.update(e.value for e in node.args[0].elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    for value in config_module._SHARED_SECTIONS:
        names.add(value)
    return {n for n in names if re.fullmatch(r"[a-z][a-z0-9_]*", n)}


def documented_keys() -> set[str]:
    """The key paths in the first column of configuration.md's tables."""
    keys = set()
    for line in CONFIG_DOC.read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if match:
            keys.add(match.group(1))
    return keys


# --- configuration --------------------------------------------------------------------------------
def test_the_complete_example_loads(tmp_path):
    config = config_module.load_config(complete_example(tmp_path), environ={})
    assert set(config.environments) == {"staging", "production"}


def test_every_key_config_py_reads_is_in_the_reference(tmp_path, monkeypatch):
    paths = read_key_paths(monkeypatch, complete_example(tmp_path), *SHIPPED_CONFIGS)
    documented = documented_keys()
    missing = sorted(p for p in paths if p not in documented)
    assert not missing, f"keys config.py reads that docs/configuration.md does not list: {missing}"


def test_every_key_name_in_config_py_is_in_the_reference():
    segments = {part for key in documented_keys() for part in re.split(r"[.\[\]]+", key) if part}
    missing = sorted(key_names_in_source() - segments)
    assert not missing, f"key names config.py asks for that docs/configuration.md does not list: {missing}"


def test_the_reference_lists_no_key_that_does_not_exist(tmp_path, monkeypatch):
    paths = read_key_paths(monkeypatch, complete_example(tmp_path), *SHIPPED_CONFIGS)
    names = key_names_in_source()
    stale = sorted(k for k in documented_keys() if k not in paths and re.split(r"[.\[\]]+", k.rstrip("]"))[-1] not in names)
    assert not stale, f"docs/configuration.md lists keys config.py does not read: {stale}"


def test_a_new_key_would_be_caught(tmp_path, monkeypatch):
    """The instrument sees a key as soon as config.py reads it, present in the file or not."""
    original = config_module._read_tag

    def with_extra_key(node, environments):
        node.get("sign_with", None)
        return original(node, environments)

    monkeypatch.setattr(config_module, "_read_tag", with_extra_key)
    paths = read_key_paths(monkeypatch, complete_example(tmp_path))
    assert "tag.sign_with" in paths and "tag.sign_with" not in documented_keys()


# --- options, hooks, exit statuses -----------------------------------------------------------------
def test_every_option_is_documented():
    help_text = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], capture_output=True, text=True, check=True, cwd="/").stdout
    options = set(re.findall(r"--release-[a-z-]+", help_text))
    documented = set(re.findall(r"`(--release-[a-z-]+)", doc("options.md")))
    assert options and not options - documented, f"options missing from docs/options.md: {sorted(options - documented)}"
    assert not documented - options, f"docs/options.md lists options that do not exist: {sorted(documented - options)}"
    for ini in ("release_config", "release_confirm", "release_on_soft_breach"):
        assert f"`{ini}`" in doc("options.md")


def test_every_hook_and_its_arguments_are_documented():
    text = doc("hooks.md")
    specs = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("pytest_release_") and callable(fn)}
    assert len(specs) >= 5
    for name, fn in specs.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"{name} has no row in docs/hooks.md"
        for argument in inspect.signature(fn).parameters:
            assert f"`{argument}`" in row, f"{name}: argument {argument} is not in its row"
    for event in hookspecs.NOTIFY_EVENTS:
        assert f"| `{event}` |" in text, f"notify event {event} is not documented"


def test_every_notify_event_the_code_sends_is_a_documented_one():
    sent: set[str] = set()
    for path in (ROOT / "pytest_release").rglob("*.py"):
        sent.update(re.findall(r'event="([a-z-]+)"', path.read_text()))
    from pytest_release import session

    sent.update(session._EVENTS.values())
    assert sent and sent <= set(hookspecs.NOTIFY_EVENTS), sent - set(hookspecs.NOTIFY_EVENTS)


def test_every_exit_status_is_documented():
    text = doc("exit-statuses.md")
    for verdict in Verdict:
        assert re.search(rf"\| \*\*{verdict.exit_code}\*\* \| {re.escape(verdict.value)} \|", text), verdict
    assert f"| **{USAGE_ERROR_EXIT}** |" in text
    standalone = text.split("## Standalone rollback", 1)[1]
    assert "| **0** | Rolled-Back |" in standalone and "| **12** | Rollback-Failed |" in standalone


# --- the deploy script contract, the report format ---------------------------------------------------
def test_every_deploy_script_argument_and_variable_is_documented():
    text = doc("deploy-script.md")
    arguments: set[str] = set()
    for name in ("context.py", "phases/rollback.py", "phases/traffic_shift.py", "core/strategy.py"):
        source = (ROOT / "pytest_release" / name).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"--[a-z][a-z-]*", node.value):
                if not node.value.startswith("--release-"):  # pytest's own options, named in messages
                    arguments.add(node.value)
    assert {"--env", "--version", "--strategy", "--rollback"} <= arguments
    for argument in arguments:
        assert f"| `{argument}" in text, f"deploy-script argument {argument} has no row in docs/deploy-script.md"
    context_source = (ROOT / "pytest_release" / "context.py").read_text()
    script_env = inspect.getsource(__import__("pytest_release.context", fromlist=["ReleaseContext"]).ReleaseContext.script_env)
    variables = set(re.findall(r"\b(RELEASE_[A-Z_]+)\b", script_env))
    assert variables and "RELEASE_ENV" in variables and context_source
    for variable in variables:
        assert f"| `{variable}` |" in text, f"{variable} is not in docs/deploy-script.md"


def test_every_report_heading_is_documented():
    text = doc("report-format.md")
    templates = ROOT / "pytest_release" / "report" / "templates"
    for template in templates.glob("*.md.j2"):
        for line in template.read_text().splitlines():
            if re.match(r"#{2,} [A-Z]", line) and "{{" not in line:
                assert line in text, f"{template.name}: heading {line!r} is not in docs/report-format.md"
    for name in ("release_<version>_<env>_<YYYY-MM-DD-HHmm>.md", "rollback_<version>_<env>_<YYYY-MM-DD-HHmm>.md",
                 "standalone-rollback_<target>_<env>_<stamp>.md", "retrospectives/cycle_", "retrospectives/incident_",
                 "manual_approvals/approval_<version>_<env>.md", "_docs/_process_leftovers/"):
        assert name in text, name


def test_the_docs_link_to_each_other_and_every_link_resolves():
    index = doc("index.md")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not link {page.name}"
    for page in [*DOCS.glob("*.md"), ROOT / "examples" / "kubernetes" / "README.md"]:
        prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code is not linked
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", prose):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_the_release_fixture_offers_exactly_what_docs_hooks_md_lists():
    from pytest_release.context import ReleaseContext

    table = doc("hooks.md").split("## The release fixture", 1)[1]
    first_column = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    listed = {name for cell in first_column for name in re.findall(r"`([a-z_]+)", cell)}
    public = {name for name in vars(ReleaseContext) if not name.startswith("_")}
    public |= set(ReleaseContext.__annotations__)
    public |= set(re.findall(r"self\.([a-z][a-z_]*)\s*(?::[^=\n]*)?=", inspect.getsource(ReleaseContext.__init__)))
    assert sorted(public - listed) == [], "the release fixture offers these; docs/hooks.md does not list them"
    assert sorted(listed - public) == [], "docs/hooks.md lists these; the release fixture does not offer them"
