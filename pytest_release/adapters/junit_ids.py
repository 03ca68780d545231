"""How an acceptance criterion's test id finds its results in a JUnit report.

Each tool's natural spelling of a test matches (docs/acceptance-criteria.md, "Test ids"):

- pytest node ids with any path (`integration-tests/test_e2e.py::test_login`): the id is
  turned into the `classname`/`name` pytest writes for it, and xunit1's `file` attribute
  spells the node id directly;
- `Class#method` and `Class.method`, fully qualified or with the simple class name; a JUnit 5
  `create()` or `create(String)[1]` is also matched by `create`;
- PHPUnit's `Namespace\\Class::method`, from the `class` attribute (data sets included);
- jest and mocha `file > describe > test`, where the report knows the file (a `file`
  attribute, or jest-junit's `usePathForSuiteName`);
- Go's `pkg.TestX/sub`, with the full import path or the package's last element.

A suite-level failure (`TestResult.suite_level`) is found by every id of a test of its suite.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_release.adapters.junit import TestResult

__all__ = ["closest", "find", "index", "preferred", "spellings"]

_SUITES = "\x00suites"  # index key of the suite-level results
_CALL = re.compile(r"([A-Za-z_$][\w$]*)\(.*\)\Z")  # JUnit 5: create(), create(String)
_PARAMS = re.compile(r"([\w$.()-]+?)\[.*\]\Z")  # pytest test_x[a-b], JUnit 5 create(String)[1]
_DATA_SET = " with data set "  # PHPUnit: testAdd with data set #0
_OWNED_BY = (".", "::", "#", "/", " > ", " › ", " ")
_TITLE_SEPARATORS = re.compile(r"\s+(?:›|>|»)\s+|\s+")


def spellings(result: "TestResult") -> tuple[str, ...]:
    """Every id under which the result is found directly."""
    c = result.classname
    if result.suite_level:
        return (c,)
    ids: list[str] = []
    short = _short(c)
    for name in dict.fromkeys((result.name, _base(result.name))):
        if c:
            ids += [f"{c}::{name}", f"{c}.{name}", f"{c}#{name}"]
        if short:
            ids += [f"{short}#{name}", f"{short}.{name}", f"{short}::{name}"]
        if result.klass:
            ids += [f"{result.klass}::{name}", f"{result.klass}#{name}"]
        ids.append(name)
    node = _nodeid(result)
    if node:
        ids.append(node)
    return tuple(dict.fromkeys(ids))


def preferred(result: "TestResult") -> str:
    """The one spelling shown for a result (in "closest ids" hints)."""
    c, name = result.classname, result.name
    if result.suite_level:
        return c
    node = _nodeid(result)
    if node:
        return node
    if result.klass:
        return f"{result.klass}::{name}"
    if not c or name.startswith(c):
        return name
    return f"{c}::{name}" if " " in c else f"{c}.{name}"


def index(results: Iterable["TestResult"]) -> dict[str, list["TestResult"]]:
    table: dict[str, list[TestResult]] = {}
    for result in results:
        if result.suite_level:
            table.setdefault(_SUITES, []).append(result)
        for spelling in spellings(result):
            table.setdefault(spelling, []).append(result)
    return table


def find(table: dict[str, list["TestResult"]], results: Sequence["TestResult"], test_id: str) -> tuple["TestResult", ...]:
    found: dict[int, TestResult] = {}
    for key in (test_id, *_query_forms(test_id)):
        for result in table.get(key, ()):
            found.setdefault(id(result), result)
    for result in _by_file_and_title(results, test_id):
        found.setdefault(id(result), result)
    owners = {(r.source, owner) for r in found.values() if not r.suite_level for owner in (r.suite, r.classname)}
    for failure in table.get(_SUITES, ()):
        if (failure.source, failure.classname) in owners or _owns(failure.classname, test_id):
            found.setdefault(id(failure), failure)
    return tuple(found.values())


def closest(labels: Sequence[str], test_id: str, n: int = 3) -> list[str]:
    """The labels (one per result, see `preferred`) most like `test_id`."""
    return difflib.get_close_matches(test_id, list(labels), n=n, cutoff=0.5)


# --- helpers ---------------------------------------------------------------------------------
def _query_forms(test_id: str) -> list[str]:
    """Other spellings of the id as the criteria author wrote it: a pytest node id becomes
    pytest's own classname::name (its path with "/" as "." and without ".py")."""
    path, sep, rest = test_id.partition("::")
    if not sep or not path.endswith(".py") or not rest:
        return []
    head, bracket, params = test_id.partition("[")
    names = head.split("::")
    names[0] = re.sub(r"\.py\Z", "", _path(names[0]).replace("/", "."))
    names[-1] += bracket + params
    if len(names) < 2 or not all(names):
        return []
    return [f"{'.'.join(names[:-1])}::{names[-1]}"]


def _by_file_and_title(results: Sequence["TestResult"], test_id: str) -> list["TestResult"]:
    """jest and mocha: `src/checkout.test.js > Checkout > applies a coupon`."""
    parts = [p.strip() for p in test_id.split(" > ")]
    if len(parts) < 2 or "." not in parts[0].rsplit("/", 1)[-1]:
        return []
    file, title = _path(parts[0]), _title(" ".join(parts[1:]))
    out = []
    for result in results:
        where = [p for p in (result.file, result.suite) if p]
        if not any(_same_file(_path(w), file) for w in where):
            continue
        if title in (_title(result.name), _title(f"{result.classname} {result.name}")):
            out.append(result)
    return out


def _owns(suite: str, test_id: str) -> bool:
    for name in filter(None, (suite, _short(suite))):
        if test_id == name or any(test_id.startswith(name + sep) for sep in _OWNED_BY):
            return True
    return False


def _nodeid(result: "TestResult") -> str | None:
    """pytest xunit1's `file` attribute gives the node id exactly, whatever the path."""
    if not result.file or not result.file.endswith(".py") or not result.classname:
        return None
    file = result.file.replace("\\", "/")
    module = file[: -len(".py")].replace("/", ".")
    if result.classname == module:
        return f"{file}::{result.name}"
    if result.classname.startswith(module + "."):
        return "::".join([file, *result.classname[len(module) + 1 :].split("."), result.name])
    return None


def _short(classname: str) -> str | None:
    """`com.acme.ApiTest` -> `ApiTest`, `github.com/acme/shop/cart` -> `cart`; None for prose."""
    if not classname or " " in classname:
        return None
    short = classname.rsplit("/", 1)[-1]
    if "/" not in classname:
        short = short.rsplit(".", 1)[-1]
    return short if short and short != classname else None


def _base(name: str) -> str:
    """The method a parametrised or data-set test belongs to; the name itself otherwise."""
    if _DATA_SET in name:
        name = name.split(_DATA_SET, 1)[0]
    match = _PARAMS.match(name)
    if match:
        name = match.group(1)
    match = _CALL.match(name)
    return match.group(1) if match else name


def _path(value: str) -> str:
    value = value.replace("\\", "/")
    while value.startswith("./"):
        value = value[2:]
    return value


def _same_file(reported: str, wanted: str) -> bool:
    return reported == wanted or reported.endswith("/" + wanted) or wanted.endswith("/" + reported)


def _title(text: str) -> str:
    return _TITLE_SEPARATORS.sub(" ", text.strip())
