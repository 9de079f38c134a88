"""Graphs in YAML, validated before anything runs.

The format, exactly (other keys are errors)::

    graph: say                                   # a name (default: the file's stem)
    nodes:
      text:  {use: source.text, with: {path: examples/hello.txt}}
      voice: {use: speech.espeak, with: {voice: en-us, rate: 175}}
      out:   {use: sink.wav, with: {path: out/hello.wav}}
    edges:
      - text.text -> voice.text
      - {from: voice.audio, to: out.audio, policy: drop_oldest, capacity: 16, max_time: 400ms}
      - {from: back.result, to: front.results, feedback: true}

Edge fields: ``policy`` (block, drop_oldest, drop_newest, latest; default block, and
drop_oldest for a feedback edge, since a cycle of blocking edges can deadlock),
``capacity`` (messages, >= 1, default 16), ``max_time`` (a duration with a unit: ``400ms``,
``1.5s``; given without a capacity, it is the bound: the count is then only a safety net of
1024), ``feedback`` (true declares the edge that closes a cycle).

Every problem is reported at once, in file order, each as ``path:LINE: message`` naming the
node id, port or field, the bad value and a hint; ``load_graph`` raises one ``GraphError``
carrying all of them. Parameters are checked against each node type's ``Params``.

Strings in parameters may name environment variables, as docker-compose does:
``${NAME}``, ``${NAME:-default}``, ``$NAME``, and ``$$`` for a literal ``$``
(``flow.interpolate``); one that is not set and has no default is an error at its line.
Top-level keys that start with ``x-`` are the user's own (a home for YAML anchors).
``extends: base.yaml`` writes a graph as changes to another (``flow.extends``): nodes
replaced, given parameters over the base's, removed with ``null``, and edges added.

Paths in parameters are not rewritten: like any command-line tool's, a relative path is
relative to the current directory of the process, not to the graph file.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path as FsPath
from typing import Any

from .edge import Policy
from .errors import GraphError
from .extends import (
    base_params,
    base_path,
    covered,
    deep_merge,
    merge,
    not_in_base,
    unfed,
)
from .graph import (
    NODE_ID,
    EdgeDecl,
    Graph,
    Issue,
    NodeDecl,
    bad_node_id,
    check,
    edge_text_hint,
    parse_edge_text,
    raise_issues,
)
from .interpolate import interpolate_tree
from .node import Node
from .overrides import Override, Overrides, by_node, override_paths, set_nested
from .params import convert_params, describe, format_path, show
from .registry import (
    CLASS_PATH,
    NodeTypeLoadError,
    Registry,
    UnknownNodeType,
    default_registry,
    import_hint,
)
from .units import parse_duration
from .yamlsource import Path, Source, YamlSyntaxError, parse

TOP_KEYS = ("graph", "extends", "nodes", "edges")
NODE_KEYS = ("use", "with")
EDGE_KEYS = ("from", "to", "policy", "capacity", "max_time", "feedback", "remove")
POLICIES = [p.value for p in Policy]
_END = re.compile(r"^([\w-]+)\.([\w-]+)$")



def load_graph(path: str | os.PathLike[str], *, registry: Registry | None = None,
               overrides: Overrides | None = None, env: Mapping[str, str] | None = None
               ) -> Graph:
    """Read, check and build the graph in ``path``. Raises ``GraphError`` with every
    problem. ``overrides``: ``["node.param=value", ...]`` (the value is read as YAML) or
    ``{"node.param": value}``, applied over the file's ``with:`` and checked the same way.
    ``env``: the variables ``${NAME}`` in parameters read (default: ``os.environ``).
    """
    shown = os.fspath(path)
    return load_graph_text(_read(shown), shown, registry=registry, overrides=overrides,
                           env=env)


def load_graph_text(text: str, path: str = "<string>", *, registry: Registry | None = None,
                    overrides: Overrides | None = None, env: Mapping[str, str] | None = None
                    ) -> Graph:
    """Like ``load_graph`` for YAML text; ``path`` is only used in messages."""
    loader = _Loader(path, registry or default_registry(), os.environ if env is None else env)
    return loader.load(text, overrides)


def _read(path: str) -> str:
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GraphError(f"{path}: cannot read graph: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise GraphError(f"{path}: not a UTF-8 text file ({exc.reason})") from None


class _Loader:
    def __init__(self, path: str, registry: Registry, env: Mapping[str, str],
                 chain: tuple[str, ...] = ()) -> None:
        self.path = path
        self.registry = registry
        self.env = env
        self.issues: list[Issue] = []
        self.src = Source(None)
        self.chain = chain  # the files extending this one, to refuse a cycle
        self.removed: set[str] = set()  # base nodes a child removes (null)
        #: base edges a child removes (remove: true), by their ends, with their line
        self.unlinked: dict[tuple[str, str, str, str], int | None] = {}
        self.extending = False  # extends another: its edges may be removed
        #: parameters the graph extending this one sets itself (a variable read there
        #: needs no value here): node -> paths, () for the whole node
        self.covered: dict[str, list[tuple[Any, ...]]] = {}

    def error(self, at: Path | int | None, message: str, origin: str = "") -> None:
        line = at if isinstance(at, int) or at is None else self.src.line(at)
        self.issues.append(Issue(line, message, origin))

    def load(self, text: str, overrides: Overrides | None) -> Graph:
        try:
            self.src = parse(text)
        except YamlSyntaxError as exc:  # nothing else can be checked
            raise GraphError(Issue(exc.line, exc.message).format(self.path)) from None
        for line, problem in self.src.problems:
            self.error(line, problem)
        doc = self.src.value
        if not isinstance(doc, dict):
            got = "an empty file" if doc is None else describe(doc)
            self.error((), f"a graph is a mapping with keys {', '.join(TOP_KEYS)}; got {got}")
            raise_issues(self.issues, self.path)
        for key in doc:
            if key not in TOP_KEYS and not (isinstance(key, str) and key.startswith("x-")):
                self.error((key,), f"unknown top-level key {key!r}{_hint(key, TOP_KEYS)} "
                                   f"(a graph has: {', '.join(TOP_KEYS)}; keys that "
                                   f"start with x- are yours, for YAML anchors)")
        base = None
        self.extending = "extends" in doc
        if "extends" in doc:
            base = self.base(doc["extends"], covered(doc.get("nodes"),
                                                     override_paths(overrides)))
        name = self.graph_name(doc)
        nodes = self.nodes(doc.get("nodes"), "nodes" in doc, overrides, base)
        edges = self.edges(doc.get("edges"))
        decls = {d.id: d for d in nodes.values() if d is not None}
        dropped: list[EdgeDecl] = []
        if base is not None:
            decls, edges, dropped = merge(base, decls, self.removed, edges, self.unlinked)
            for where, message in not_in_base(base, self.unlinked):
                self.error(where, message)
        graph = Graph(name, decls, edges, self.path,
                      {k: self.src.lines[(k,)] for k in doc if (k,) in self.src.lines})
        graph.notes += unfed(dropped, edges, self.removed, self.path,
                             lambda node_id: self.src.line(("nodes", node_id)))
        self.issues += check(graph, skip={k for k, d in nodes.items() if d is None})
        raise_issues(self.issues, self.path)
        return graph

    def base(self, value: Any, covered: dict[str, list[tuple[Any, ...]]]) -> Graph:
        """The graph ``extends: value`` names, loaded and checked on its own (its own
        mistakes at its own lines, this file's line said last; a variable it reads where
        this graph sets the value, ``covered``, needs none)."""
        if not isinstance(value, str) or not value.strip():
            self.error(("extends",), "'extends' names the graph file this one changes "
                                     f"(relative to this file); got {describe(value)}")
            raise_issues(self.issues, self.path)
        try:
            path = os.fspath(base_path(self.path, value))
        except GraphError as exc:
            self.error(("extends",), f"extends: {exc}")
            raise_issues(self.issues, self.path)
        if not os.path.isfile(path):
            self.error(("extends",), f"extends {value!r}: no such graph file ({path}: the "
                                     "path is from this file's folder)")
            raise_issues(self.issues, self.path)
        key = os.path.realpath(path)
        own = os.path.realpath(self.path) if self.path != "<string>" else self.path
        if key in self.chain or key == own:
            cycle = " -> ".join(os.path.basename(p) for p in (*self.chain, own, key))
            self.error(("extends",), f"extends {value!r}: a graph cannot extend itself "
                                     f"({cycle})")
            raise_issues(self.issues, self.path)
        loader = _Loader(path, self.registry, self.env, (*self.chain, own))
        loader.covered = covered
        try:
            return loader.load(_read(path), None)
        except GraphError as exc:
            line = self.src.line(("extends",))
            raise GraphError([*exc.issues, Issue(line, f"extends {value!r}: the graph it "
                                                       "extends has the problems above"
                                                 ).format(self.path)]) from None

    def graph_name(self, doc: dict[Any, Any]) -> str:
        name = doc.get("graph")
        if "graph" not in doc:
            stem = FsPath(self.path).stem
            return stem if self.path != "<string>" and stem else "graph"
        if not isinstance(name, str) or not name.strip():
            self.error(("graph",), f"'graph' is the graph's name, a string; got {describe(name)}")
            return "graph"
        return name

    # -- nodes ----------------------------------------------------------------------------

    def nodes(self, raw: Any, present: bool, overrides: Overrides | None,
              base: Graph | None = None) -> dict[str, NodeDecl | None]:
        """Each declared node id -> its NodeDecl, or None if its type is unknown. With a
        ``base`` (``extends``): also its nodes that ``--set`` changes, and ``null`` removes
        one (``self.removed``)."""
        if base is not None and (not present or raw == {}):
            raw = {}
        elif not present:
            self.error((), "the graph has no 'nodes' (a mapping of node id -> {use: TYPE, "
                           "with: {...}})")
            raw = {}
        elif not isinstance(raw, dict) or not raw:
            self.error(("nodes",), "'nodes' must map node ids to {use: TYPE, with: {...}}; got "
                                   + ("no nodes" if not raw else describe(raw)))
            raw = {}
        inherited = base.nodes if base is not None else {}
        given, wrong = by_node([*inherited, *raw], overrides)
        for origin, message in wrong:
            self.error(None, message, origin)
        out: dict[str, NodeDecl | None] = {}
        for node_id, spec in raw.items():
            at: Path = ("nodes", node_id)
            if not isinstance(node_id, str) or not NODE_ID.match(node_id):
                self.error(at, bad_node_id(node_id))
                out[str(node_id)] = None  # edges naming it are not checked either
                continue
            was = inherited.get(node_id)
            if base is not None and spec is None:
                if was is None:
                    self.error(at, f"node {node_id!r}: null removes a node of the graph this "
                                   f"one extends, and {base.name} has no {node_id!r}"
                                   f"{_hint(node_id, list(inherited))}")
                for _, _, origin in given.get(node_id, []):
                    self.error(None, f"node {node_id!r} is removed by this graph (null): "
                                     "there is nothing to set", origin)
                self.removed.add(node_id)
                continue
            if base is not None and isinstance(spec, dict) and "use" not in spec:
                if was is None:
                    self.error(at, f"node {node_id!r}: {base.name} has no node {node_id!r} "
                                   f"to change{_hint(node_id, list(inherited))} (a new node "
                                   "needs 'use')")
                    out[node_id] = None
                    continue
                # parameters over the base node's: its type, its values under these
                spec = {**spec, "use": was.type_name}
                out[node_id] = self.node(node_id, spec, given.get(node_id, []),
                                         under=base_params(was))
                continue
            out[node_id] = self.node(node_id, spec, given.get(node_id, []))
        for node_id, changes in given.items():  # a base node only --set changes
            was = inherited.get(node_id)
            if node_id in raw or was is None:
                continue
            decl = self.node(node_id, {"use": was.type_name}, changes, under=base_params(was))
            if decl is not None:
                out[node_id] = dataclasses.replace(
                    decl, line=was.line, file=was.file or (base.path if base else None))
        return out

    def node(self, node_id: str, spec: Any, given: list[Override],
             under: dict[str, Any] | None = None) -> NodeDecl | None:
        """One node's declaration; ``under``: the parameters of the base node it changes
        (``extends``), already interpolated, which its own ``with`` goes over."""
        at: Path = ("nodes", node_id)
        if not isinstance(spec, dict):
            self.error(at, f"node {node_id!r} must be a mapping like {{use: TYPE, with: "
                           f"{{...}}}}; got {describe(spec)}")
            return None
        for key in spec:
            if key not in NODE_KEYS:
                self.error((*at, key), f"node {node_id!r}: unknown key {key!r}"
                                       f"{_hint(key, NODE_KEYS)} (a node has: use, with)")
        type_name = spec.get("use")
        if "use" not in spec or not isinstance(type_name, str):
            got = "" if "use" not in spec else f"; got {describe(type_name)}"
            self.error(at if "use" not in spec else (*at, "use"),
                       f"node {node_id!r}: 'use' must name a node type (see `microturn "
                       f"nodes`){got}")
            return None
        if CLASS_PATH.match(type_name):
            self.importable_beside_graph()
        try:
            cls: type[Node] = self.registry.get(type_name)
        except UnknownNodeType as exc:
            self.error((*at, "use"), f"node {node_id!r}: {exc} (see `microturn nodes`)")
            return None
        except NodeTypeLoadError as exc:
            self.error((*at, "use"), f"node {node_id!r}: {exc}{import_hint(type_name, exc)}")
            return None
        raw = spec.get("with")
        unknown: list[tuple[Any, ...]] = []  # values of variables that are not set
        if isinstance(raw, dict):
            raw, unset = interpolate_tree(raw, self.env)
            unknown = [sub for sub, _ in unset]
            # a --set replaces the value anyway, as does the graph extending this one
            set_anyway = [*(tuple(k) for k, _, _ in given), *self.covered.get(node_id, [])]
            unset = [(sub, m) for sub, m in unset
                     if not any(tuple(k) == tuple(sub[:len(k)]) for k in set_anyway)]
            for sub, message in unset:
                self.error((*at, "with", *sub), f"node {node_id!r} ({type_name}): {message}"
                                                f" - at with{format_path(sub)}")
        if under is not None and (raw is None or isinstance(raw, dict)):
            raw = deep_merge(under, raw or {})
        origins: dict[str, str] = {}  # parameter -> the --set that gave it
        if given:
            raw = copy.deepcopy(raw) if isinstance(raw, dict) else {} if raw is None else raw
        if isinstance(raw, dict):
            for keys, value, origin in given:
                set_nested(raw, keys, value)
                origins[keys[0]] = origin
        params, problems = convert_params(cls.Params, raw)
        for p in problems:
            if any(p.path and sub[:len(p.path)] == p.path[:len(sub)] for sub in unknown):
                continue  # the value is not known: said above
            head = p.path[0] if p.path else None
            origin = origins.get(head, "") if isinstance(head, str) else ""
            where: Path = (*at, "with", *p.path) if "with" in spec else at
            self.error(None if origin else where,
                       f"node {node_id!r} ({type_name}): {p.message} - at {p.where}{p.hint}",
                       origin)
        if params is not None:
            for missing in cls.missing_dependencies(params):
                self.error((*at, "use"), f"node {node_id!r} ({type_name}): {missing}")
        return NodeDecl(node_id, type_name, cls, params,  # type: ignore[arg-type]
                        self.src.line(at),
                        written=raw if isinstance(raw, dict) else {} if raw is None else None)

    def importable_beside_graph(self) -> None:
        """``use: my_nodes:Slow`` finds ``my_nodes.py`` beside the graph file too (after
        the Python path, so it never hides an installed module)."""
        if self.path == "<string>":
            return
        folder = os.path.abspath(os.path.dirname(self.path))
        if folder not in sys.path:
            sys.path.append(folder)

    # -- edges ----------------------------------------------------------------------------

    def edges(self, raw: Any) -> list[EdgeDecl]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(("edges",), f"'edges' must be a list of edges; got {describe(raw)}")
            return []
        out: list[EdgeDecl] = []
        for i, item in enumerate(raw):
            decl = self.edge(("edges", i), item)
            if decl is not None:
                out.append(decl)
        return out

    def edge(self, at: Path, item: Any) -> EdgeDecl | None:
        line = self.src.line(at)
        if isinstance(item, str):
            parts = parse_edge_text(item)
            if parts is None:
                self.error(at, f"malformed edge {item!r}: {edge_text_hint(item)}")
                return None
            return EdgeDecl(*parts, line=line)
        if not isinstance(item, dict):
            self.error(at, "an edge is 'a.out -> b.in' or {from: a.out, to: b.in, ...}; got "
                           f"{describe(item)}")
            return None
        label = f"edge '{item.get('from', '?')} -> {item.get('to', '?')}'"
        keys = EDGE_KEYS if self.extending else EDGE_KEYS[:-1]
        for key in item:
            if key not in keys:
                self.error((*at, key), f"{label}: unknown key {key!r}{_hint(key, keys)} "
                                       f"(an edge has: {', '.join(keys)})")
        ends: list[tuple[str, str]] = []
        for key in ("from", "to"):
            value = item.get(key)
            m = _END.match(value) if isinstance(value, str) else None
            if m is None:
                what = "missing" if key not in item else f"got {describe(value)}"
                self.error((*at, key) if key in item else at,
                           f"{label}: '{key}' must be node.port; {what}")
            else:
                ends.append((m.group(1), m.group(2)))
        if "remove" in item and keys is EDGE_KEYS:
            if item["remove"] is not True or set(item) - {"from", "to", "remove"}:
                self.error((*at, "remove"), f"{label}: an edge that goes is only "
                                            "{from, to, remove: true}")
            elif len(ends) == 2:
                self.unlinked[(*ends[0], *ends[1])] = line
            return None
        feedback = item.get("feedback", False)
        if not isinstance(feedback, bool):
            self.error((*at, "feedback"), f"{label}: 'feedback' must be true or false; got "
                                          f"{describe(feedback)}")
            feedback = True  # assume the cycle is meant: no second error about it
        policy = Policy.DROP_OLDEST if feedback else Policy.BLOCK
        if "policy" in item:
            value = item["policy"]
            if value in POLICIES:
                policy = Policy(value)
            else:
                self.error((*at, "policy"), f"{label}: unknown policy {show(value)}"
                                            f"{_hint(str(value), POLICIES)} (policies: "
                                            f"{', '.join(POLICIES)})")
        capacity = item.get("capacity")  # None: the default for its max_time
        if capacity is not None and (type(capacity) is not int or capacity < 1):
            self.error((*at, "capacity"), f"{label}: 'capacity' must be a whole number of "
                                          f"messages >= 1; got {describe(capacity)}")
            capacity = None
        max_time: int | None = None
        if item.get("max_time") is not None:
            max_time = self.duration((*at, "max_time"), label, item["max_time"])
        if len(ends) < 2:
            return None
        (src, src_port), (dst, dst_port) = ends
        return EdgeDecl(src, src_port, dst, dst_port, policy, capacity, max_time,
                        feedback, line)

    def duration(self, at: Path, label: str, value: Any) -> int | None:
        field = at[-1]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.error(at, f"{label}: '{field}' needs a unit; got {show(value)} (write e.g. "
                           f"'{value}ms' or '{value}s')")
            return None
        try:
            ns = parse_duration(value)
        except ValueError:
            self.error(at, f"{label}: '{field}' must be a duration like '400ms' or '1.5s'; "
                           f"got {describe(value)}")
            return None
        if ns <= 0:
            self.error(at, f"{label}: '{field}' must be more than zero; got {show(value)}")
            return None
        return ns


def _hint(name: Any, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
