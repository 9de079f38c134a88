"""Node types, found through the ``microturn.nodes`` entry-point group.

Built-in nodes are registered exactly like a third-party plugin's: in ``pyproject.toml``::

    [project.entry-points."microturn.nodes"]
    "speech.espeak" = "nodes.speech_espeak:EspeakSpeech"

A graph may also name a class by its import path, ``use: my_nodes:Slow``: imported on
first use, from the Python path and the graph file's folder (``flow.loader``), so a
graph's own node needs no package while it is being written.

A name is one type. Where two packages declare the same name, microturn's own type keeps
it, else the package found first does; either way a warning names both packages, so a
plugin never takes over a type without a word (and which one wins never depends on the
order packages were installed in, where a built-in is concerned).
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from .errors import BUILT_IN, FlowError
from .node import Node

GROUP = "microturn.nodes"
#: ``use: my_nodes:Slow``: a Node class by its import path, for a graph's own nodes
CLASS_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

log = logging.getLogger("microturn.registry")


class UnknownNodeType(FlowError, KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {self.suggestions[0]!r}?" if self.suggestions else ""
        super().__init__(f"unknown node type {name!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class NodeTypeLoadError(FlowError, ImportError):
    """An entry point is registered but its module failed to import."""


class Registry:
    """Maps node type names to classes. Entry points are imported lazily, on first use,
    so that listing or checking one graph does not import every plugin (and torch)."""

    def __init__(self) -> None:
        self._entries: dict[str, EntryPoint | type[Node]] = {}
        self._origins: dict[str, str] = {}

    @classmethod
    def from_entry_points(cls, group: str = GROUP) -> Registry:
        reg = cls()
        reg._entries.update(one_per_name(entry_points(group=group), "node type"))
        return reg

    def register(self, name: str, node_cls: type[Node]) -> None:
        if not (isinstance(node_cls, type) and issubclass(node_cls, Node)):
            raise TypeError(f"{node_cls!r} is not a Node subclass")
        self._entries[name] = node_cls
        self._origins.pop(name, None)
        if not node_cls.__dict__.get("type_name"):
            node_cls.type_name = name

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:Class"``, imported on first use as an entry point is
        (for a program that lists its own types without packaging them)."""
        self._entries[name] = EntryPoint(name=name, value=target, group=GROUP)
        self._origins.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Where a type comes from: its entry point's ``module:Class``, or the class's
        qualified name for one registered in Python."""
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownNodeType(name, self.names())
        if isinstance(entry, EntryPoint):
            return entry.value
        return self._origins.get(name) or f"{entry.__module__}:{entry.__qualname__}"

    def load_all(self) -> dict[str, type[Node] | NodeTypeLoadError]:
        """Every type's class, or the error that importing it raised (for listings that
        must go on past a broken plugin)."""
        out: dict[str, type[Node] | NodeTypeLoadError] = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except NodeTypeLoadError as exc:
                out[name] = exc
        return out

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> type[Node]:
        entry = self._entries.get(name)
        if entry is None and CLASS_PATH.match(name):  # a class of one's own, unpackaged
            self.register_lazy(name, name)
            entry = self._entries[name]
        if entry is None:
            raise UnknownNodeType(name, self.names())
        if isinstance(entry, EntryPoint):
            try:
                loaded = entry.load()
            except Exception as exc:
                raise NodeTypeLoadError(
                    f"node type {_named(name, entry.value)} failed to import: "
                    f"{type(exc).__name__}: {exc}") from exc
            if not (isinstance(loaded, type) and issubclass(loaded, Node)):
                raise NodeTypeLoadError(
                    f"node type {_named(name, entry.value)} is not a Node subclass")
            if not loaded.__dict__.get("type_name"):
                loaded.type_name = name
            self._entries[name] = loaded
            self._origins[name] = entry.value
            return loaded
        return entry


def _named(name: str, target: str) -> str:
    """``'speech.espeak' (nodes.speech_espeak:EspeakSpeech)``, or the path once when the
    type is named by it (``use: my_nodes:Gain``)."""
    return repr(name) if name == target else f"{name!r} ({target})"


def package_of(ep: EntryPoint) -> str:
    """The distribution that declares an entry point, for messages about clashes."""
    return ep.dist.name if ep.dist is not None else "an installed package"


def one_per_name(declared: Iterable[EntryPoint], what: str) -> dict[str, EntryPoint]:
    """Entry points by name, one for each: microturn's own where it declares the name, else
    the first package's found. Every other package that declares the name is named in a
    warning with the one that keeps it (``what``: "node type", "command")."""
    claims: dict[str, list[tuple[str, EntryPoint]]] = {}
    for ep in declared:
        dist = package_of(ep)
        held = claims.setdefault(ep.name, [])
        if all(other != dist for other, _ in held):  # one package seen twice on the path
            held.append((dist, ep))
    chosen: dict[str, EntryPoint] = {}
    for name, held in claims.items():
        dist, ep = next((c for c in held if c[0] == BUILT_IN), held[0])
        for other, lost in held:
            if lost is not ep:
                log.warning("%s %r is declared by %s (%s) and by %s (%s): %s's is used",
                            what, name, dist, ep.value, other, lost.value, dist)
        chosen[name] = ep
    return chosen


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of installed node types (built-ins and plugins)."""
    global _default
    if _default is None:
        _default = Registry.from_entry_points()
    return _default


def import_hint(type_name: str, exc: NodeTypeLoadError) -> str:
    """Where a ``module:Class`` type was looked for, or which module of its name was found
    instead (the Python path comes first: a ``nodes.py`` beside the graph loses to
    microturn's own ``nodes`` package)."""
    if not (CLASS_PATH.match(type_name) and exc.__cause__):
        return ""
    module = sys.modules.get(type_name.partition(":")[0])
    found = getattr(module, "__file__", None)
    if isinstance(exc.__cause__, AttributeError) and found:
        return (f" (the module imported is {found}; if that is not yours, another of that "
                "name comes first on the Python path: rename yours)")
    return " (a module:Class type is imported from the Python path and the graph file's folder)"
