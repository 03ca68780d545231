"""Reading release.yaml's text into plain values that remember their line numbers.

A stricter YAML reading than `yaml.safe_load`, for a file that decides what a release does:

- a key written twice in one mapping is an error naming both lines (YAML's last-wins would run a
  two-hour window because of a forgotten second `duration:`, or drop every environment);
- aliases are expanded within a fixed budget (`MAX_NODES` values once every alias is counted as
  a copy), so an alias bomb ("billion laughs") is refused at once, before anything copies it;
  merge keys (`<<: *defaults`) work as in any YAML 1.1 loader;
- every mapping and list remembers the line of each of its entries (`Mapping.lines`,
  `Sequence.lines`), so an error found later, in a merged environment even, names the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pytest_release.config.model import ConfigError

#: The most values a config may hold once every alias is expanded. A real release.yaml has a few
#: hundred; the limit leaves room for a thousand smoke cases while refusing an alias bomb (whose
#: point is to be a billion) in the time it takes to count.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class Mapping(dict):  # type: ignore[type-arg]
    """A YAML mapping: a dict whose `lines` gives the 1-based line of each key."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}


class Sequence(list):  # type: ignore[type-arg]
    """A YAML sequence: a list whose `lines` gives the 1-based line of each item."""

    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []


def line_of(data: Any, key: Any = None) -> int | None:
    """The line of `key` in `data` (a Mapping key or a Sequence index), else of `data` itself."""
    lines = getattr(data, "lines", None)
    if key is not None and lines is not None:
        if isinstance(lines, dict) and key in lines:
            return lines[key]
        if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
            return lines[key]
    return getattr(data, "line", None) or None


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse duplicate keys and record lines."""

    def __init__(self, stream: str, file: Path) -> None:
        super().__init__(stream)
        self.file = file

    def construct_yaml_map(self, node: MappingNode):  # type: ignore[override]
        data = Mapping()
        data.line = node.start_mark.line + 1
        yield data
        self._refuse_duplicates(node)
        self.flatten_mapping(node)  # merge keys first; the mapping's own keys win
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=False)
            try:
                hash(key)
            except TypeError:
                raise ConfigError(f"{self.file}:{key_node.start_mark.line + 1}: a mapping key must be a plain value") from None
            data[key] = self.construct_object(value_node, deep=False)
            data.lines[key] = key_node.start_mark.line + 1

    def construct_yaml_seq(self, node: SequenceNode):  # type: ignore[override]
        data = Sequence()
        data.line = node.start_mark.line + 1
        yield data
        for item in node.value:
            data.append(self.construct_object(item, deep=False))
            data.lines.append(item.start_mark.line + 1)

    def _refuse_duplicates(self, node: MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True) if isinstance(key_node, ScalarNode) else id(key_node)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: refused when the mapping is built
            if first is not None:
                raise ConfigError(
                    f"{self.file}:{line}: duplicate key {_shown(key)} (first at line {first}): "
                    "YAML would silently keep only the last one"
                )
            seen[key] = line


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)


def _shown(key: Any) -> str:
    text = repr(key) if isinstance(key, str) else str(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_budget(root: Node, file: Path) -> None:
    """Count the values `root` expands to, each alias as a full copy; refuse past MAX_NODES or a
    cycle. Sizes are memoized per node, so the count costs one visit per distinct node."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # Iterative post-order walk: a deep document must not hit the recursion limit either.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, ScalarNode):
            sizes[key] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else list(node.value)
        if not children_done:
            if key in open_nodes:
                raise ConfigError(f"{file}:{node.start_mark.line + 1}: a YAML alias refers to a value that contains it (a cycle)")
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise ConfigError(f"{file}:{child.start_mark.line + 1}: a YAML alias refers to a value that contains it (a cycle)")
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        total = 1 + sum(sizes[id(child)] for child in children)
        if total > MAX_NODES:
            raise ConfigError(
                f"{file}:{node.start_mark.line + 1}: the config expands to more than {MAX_NODES} values once its YAML "
                "aliases are copied (an alias bomb?): refused before expanding it"
            )
        sizes[key] = total


def read_yaml(text: str, file: Path) -> Any:
    """The document in `text`, as Mapping/Sequence/scalars; ConfigError for anything refused."""
    loader = _Loader(text, file)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_budget(node, file)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
