"""YAML that remembers where everything came from.

PyYAML builds plain dicts and lists and forgets line numbers; it also accepts duplicate
keys silently (the last one wins), which hides mistakes in a graph. ``parse`` composes the
node tree itself, so that it can return the plain value together with the line of every
mapping key and sequence item (by path), and report each duplicate key with both lines.

Paths are tuples of keys and indices: ``("nodes", "tts", "with", "rate")``. For a mapping
entry the recorded line is the key's line; for a sequence item, the item's first line.
Lines are 1-based.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C composer is much faster; both produce the same node tree
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]


@dataclass
class Source:
    """A parsed YAML document: its plain value, the line of each path, and the problems
    found while reading it (each ``(line, message)``)."""

    value: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest recorded ancestor."""
        p = tuple(path)
        while p:
            line = self.lines.get(p)
            if line is not None:
                return line
            p = p[:-1]
        return self.lines.get(())


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` is where the parser gave up (None if unknown)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse(text: str) -> Source:
    """Parse one YAML document. Raises ``YamlSyntaxError`` if it is not YAML.

    An empty document gives ``Source(None)``.
    """
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line, message = _describe(exc)
            lines = text.splitlines()
            if line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1]:
                message += "; indent with spaces: YAML does not allow tabs"
            raise YamlSyntaxError(line, message) from None
        except yaml.YAMLError as exc:
            raise YamlSyntaxError(None, f"YAML syntax error: {exc}") from None
        except RecursionError:
            raise YamlSyntaxError(None, "YAML syntax error: nested too deeply") from None
        src = Source(None)
        if root is None:
            return src
        src.lines[()] = root.start_mark.line + 1
        builder = _Builder(loader, src)
        try:
            src.value = builder.build(root, ())
        except yaml.MarkedYAMLError as exc:  # e.g. a bad !!timestamp or unknown tag
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            raise YamlSyntaxError(line, f"YAML error: {exc.problem or exc}") from None
        except RecursionError:
            raise YamlSyntaxError(None, "YAML error: nested too deeply") from None
        return src
    finally:
        loader.dispose()


def _describe(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """``(line, "YAML syntax error: found a tab (in the mapping that starts at line 2)")``."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.problem and exc.context and "next token" not in exc.context:
        context = exc.context.removeprefix("while ").replace("parsing ", "")
        where = exc.context_mark
        if where is not None and where.line + 1 != line:
            context += f" that starts at line {where.line + 1}"
        message += f" (in {context})"
    return line, message


class _Builder:
    def __init__(self, loader: Any, src: Source) -> None:
        self.loader = loader
        self.src = src
        self.active: set[int] = set()  # ids of collection nodes being built (alias loops)

    def build(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            self.src.problems.append(
                (node.start_mark.line + 1, "a YAML alias refers to a collection that contains it"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for i, item in enumerate(node.value):
                    self.src.lines.setdefault((*path, i), item.start_mark.line + 1)
                    items.append(self.build(item, (*path, i)))
                return items
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            problem = exc.problem or "cannot read this value"
        # PyYAML's tag constructors (!!int, !!float, !!timestamp) raise whatever int(),
        # float() or datetime() raise on a bad value.
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.src.problems.append(
            (node.start_mark.line + 1, f"cannot read {node.tag} value {node.value!r}: {problem}"))
        return node.value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        own = {id(k) for k, _ in node.value}
        if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
            self.loader.flatten_mapping(node)  # resolve `<<: *base` as PyYAML would
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        merged: set[Any] = set()  # keys from `<<`: a later key overrides them, by design
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.src.problems.append((line, "a mapping key must be a plain name, "
                                                "not a list or mapping"))
                continue
            key = self.scalar(key_node)
            if key in seen and key not in merged and id(key_node) in own:
                where = "/".join(str(p) for p in path) or "the top level"
                self.src.problems.append(
                    (line, f"duplicate key {key!r} in {where} (first defined at line "
                           f"{seen[key]}); YAML would silently keep only the last one"))
                continue
            seen[key] = line
            if id(key_node) not in own:
                merged.add(key)
            else:
                merged.discard(key)
            self.src.lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key))
        return out
