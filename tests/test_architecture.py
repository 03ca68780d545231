"""The layers README's Architecture section describes, kept true by the suite: the import
contracts in pyproject.toml (import-linter), and no import hidden inside a function to get round
them (only plugin.py's inert path defers imports, each with its reason)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_release"


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _function_local_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines += [sub.lineno for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))]
    return sorted(set(lines))


#: Deferred imports outside plugin.py, each with its reason (and only in the one function named).
DEFERRED = {
    # scipy.stats takes ~1 s to import; only a judged window with an evidence rule needs it, so a
    # test run that never watches a release (the inert path) must not pay for it.
    ("pytest_release/core/evidence.py", "_binom"): "scipy.stats",
}


def _deferred_lines(path: Path) -> list[int]:
    """The lines of the imports DEFERRED allows in `path`."""
    rel = str(path.relative_to(ROOT))
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and (rel, node.name) in DEFERRED:
            lines += [
                sub.lineno for sub in ast.walk(node)
                if isinstance(sub, ast.ImportFrom) and sub.module == DEFERRED[(rel, node.name)]
            ]
    return lines


def test_no_function_local_imports_outside_plugin_py():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in PACKAGE.rglob("*.py")
        if path.name != "plugin.py"
        and (lines := [n for n in _function_local_imports(path) if n not in _deferred_lines(path)])
    }
    assert not found, f"imports inside functions (hoist them; an import circle is a layering bug): {found}"


def test_plugin_py_defers_imports_only_with_a_reason():
    source = (PACKAGE / "plugin.py").read_text().splitlines()
    for lineno in _function_local_imports(PACKAGE / "plugin.py"):
        first = lineno - 1  # the block of imports this one belongs to, and the line above it
        while first > 0 and (not source[first - 1].strip() or source[first - 1].strip().startswith(("from ", "import "))):
            first -= 1
        block = "\n".join(source[max(0, first - 1):lineno])
        assert "#" in block, f"plugin.py:{lineno}: a deferred import without its reason"


def test_the_checker_sees_a_function_local_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    import json\n    return json\n")
    assert _function_local_imports(sample) == [4]
