"""A graph: node declarations and edge declarations, validated before anything runs.

Graphs usually come from YAML (``flow.loader``); tests and programs can build one in
Python with ``Graph.build``. Both go through ``check``, which reports every problem it
finds, each as ``file:line: message`` when the graph came from a file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .edge import Policy, default_capacity
from .errors import GraphError
from .node import Node
from .params import convert_params
from .registry import NodeTypeLoadError, Registry, UnknownNodeType, default_registry


@dataclass(frozen=True)
class NodeDecl:
    id: str
    type_name: str
    cls: type[Node]
    params: msgspec.Struct
    line: int | None = None
    #: the file ``line`` is in, where not the graph's own (a graph it ``extends``)
    file: str | None = None
    #: its parameters as written (``with:``, variables read, before defaults): what a graph
    #: that extends this one changes (``flow.extends``)
    written: dict[str, Any] | None = None


@dataclass(frozen=True)
class EdgeDecl:
    src: str
    src_port: str
    dst: str
    dst_port: str
    policy: Policy = Policy.BLOCK
    #: None: 16, or 1024 with a ``max_time`` (which is then the bound that applies)
    capacity: int | None = None
    max_time: int | None = None
    feedback: bool = False
    line: int | None = None
    #: the file ``line`` is in, where not the graph's own (a graph it ``extends``)
    file: str | None = None
    #: where it was written, when ``line`` is another's: an edge of the base graph that
    #: meets a node this graph replaced is reported at that node ("inherited from ...")
    via: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.policy, str) and not isinstance(self.policy, Policy):
            object.__setattr__(self, "policy", Policy(self.policy))  # EdgeDecl(policy="latest")

    @property
    def limit(self) -> int:
        """The message count this edge holds at most."""
        return default_capacity(self.max_time) if self.capacity is None else self.capacity

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


_EDGE_TEXT = re.compile(r"^\s*([\w-]+)\.([\w-]+)\s*->\s*([\w-]+)\.([\w-]+)\s*$")
#: A node id: edges name ports as ``id.port``, so no dots or spaces.
NODE_ID = re.compile(r"^[A-Za-z_][\w-]*$")


def parse_edge_text(text: str) -> tuple[str, str, str, str] | None:
    """``'a.out -> b.in'`` -> ``('a', 'out', 'b', 'in')``, None if malformed."""
    m = _EDGE_TEXT.match(text)
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None


def edge_text_hint(text: str) -> str:
    """Why ``text`` is not ``node.port -> node.port``, as precisely as we can tell."""
    expected = "expected 'node.port -> node.port'"
    if "->" not in text:
        return f"{expected} (no '->' found)"
    for end in text.split("->", 1):
        end = end.strip()
        if not end:
            return f"{expected} (one end is empty)"
        if end.count(".") != 1:
            return f"{expected} ({end!r} is not node.port)"
    return f"{expected} (names use letters, digits, '_' and '-')"


def bad_node_id(node_id: object) -> str:
    return (f"invalid node id {node_id!r}: use letters, digits, '_' and '-', starting with a "
            "letter or '_' (edges name ports as id.port)")


@dataclass(frozen=True)
class Issue:
    """One problem with a graph. ``origin`` says where it came from when that is not a
    line of the file (``--set tts.rate=0``)."""

    line: int | None
    message: str
    origin: str = ""
    #: the file ``line`` is in, where not the graph's own (a graph it ``extends``)
    file: str | None = None

    @classmethod
    def of(cls, decl: NodeDecl | EdgeDecl, message: str) -> Issue:
        """A problem at a node's or an edge's declaration, in whichever file that is."""
        return cls(decl.line, message, file=decl.file, origin=getattr(decl, "via", ""))

    def format(self, path: str | None) -> str:
        path = self.file or path
        where = ""
        if path:
            where = f"{path}:{self.line}: " if self.line else f"{path}: "
        elif self.line:
            where = f"line {self.line}: "
        if self.origin:
            where += f"{self.origin}: "
        return where + self.message


def raise_issues(issues: list[Issue], path: str | None) -> None:
    """Raise one ``GraphError`` with every issue, in file order, if there are any."""
    if issues:
        # the graph's own file first, then those it extends, each in line order
        ordered = sorted(issues, key=lambda i: (i.file is not None, i.file or "", i.line or 0))
        raise GraphError([i.format(path) for i in ordered])


@dataclass
class Graph:
    name: str
    nodes: dict[str, NodeDecl]
    edges: list[EdgeDecl]
    path: str | None = None
    #: Line of each top-level section, for messages about the graph as a whole.
    lines: dict[str, int] = field(default_factory=dict)
    #: warnings found while loading (``file:line: warning: ...``), said by check and run
    notes: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, name: str, nodes: dict[str, Any], edges: list[Any], *,
              registry: Registry | None = None) -> Graph:
        """Build and validate a graph in Python::

            Graph.build("g", {"src": Source, "out": ("sink.wav", {"path": "o.wav"})},
                        ["src.audio -> out.audio"])

        A node is its type (a class, or a registered name), alone or with its parameters
        (a mapping, or the class's ``Params``); an edge is ``"a.out -> b.in"``, a mapping
        as in YAML (``{"from": "a.out", "to": "b.in", "policy": "latest"}``) or an
        ``EdgeDecl``. Raises ``GraphError`` listing every problem, as ``load_graph`` does.
        """
        if not isinstance(nodes, dict):
            raise GraphError(f"nodes: a mapping of node id -> type, or (type, parameters); "
                             f"got {type(nodes).__name__}")
        if isinstance(edges, (str, dict)) or not isinstance(edges, (list, tuple)):
            raise GraphError(f"edges: a list of edges (['a.out -> b.in', ...]); got "
                             f"{type(edges).__name__}")
        issues: list[Issue] = []
        decls: dict[str, NodeDecl] = {}
        skip: set[str] = set()
        for node_id, spec in nodes.items():
            kind, raw = _node_spec(spec)
            if kind is None:
                issues.append(Issue(None, f"node {node_id!r}: expected a node type, or (type, "
                                          f"parameters); got {spec!r}"))
                continue
            if isinstance(raw, msgspec.Struct):
                raw = msgspec.to_builtins(raw)
            if not NODE_ID.match(node_id):
                issues.append(Issue(None, bad_node_id(node_id)))
            if isinstance(kind, str):
                try:
                    node_cls = (registry or default_registry()).get(kind)
                except (UnknownNodeType, NodeTypeLoadError) as exc:
                    issues.append(Issue(None, f"node {node_id!r}: {exc}"))
                    skip.add(node_id)
                    continue
                type_name = kind
            else:
                node_cls, type_name = kind, kind.type_name or kind.__name__
            params, problems = convert_params(node_cls.Params, raw)
            for p in problems:
                issues.append(Issue(None, f"node {node_id!r} ({type_name}): {p.message} - at "
                                          f"{p.where}{p.hint}"))
            decls[node_id] = NodeDecl(node_id, type_name, node_cls, params)  # type: ignore[arg-type]
        edge_decls: list[EdgeDecl] = []
        for e in edges:
            if isinstance(e, EdgeDecl):
                edge_decls.append(e)
                continue
            if isinstance(e, dict):
                decl, wrong = _edge_mapping(e)
                issues += [Issue(None, p) for p in wrong]
                if decl is not None:
                    edge_decls.append(decl)
                continue
            if not isinstance(e, str):
                issues.append(Issue(None, f"an edge is 'a.out -> b.in', a mapping as in YAML "
                                          f"or an EdgeDecl; got {e!r}"))
                continue
            parts = parse_edge_text(e)
            if parts is None:
                issues.append(Issue(None, f"malformed edge {e!r}: {edge_text_hint(e)}"))
                continue
            edge_decls.append(EdgeDecl(*parts))
        graph = cls(name, decls, edge_decls)
        issues += check(graph, skip=skip)
        raise_issues(issues, None)
        return graph

    def where(self, line: int | None, file: str | None = None) -> str:
        """``'path:line: '`` prefix for a message (empty for graphs built in Python);
        ``file``: the line's, where not the graph's own (``decl.file``)."""
        path = file or self.path
        if path and line:
            return f"{path}:{line}: "
        if path:
            return f"{path}: "
        return ""


def _node_spec(spec: Any) -> tuple[type[Node] | str | None, Any]:
    """``Graph.build``'s node: (its type, its parameters), or (None, None) if malformed."""
    if isinstance(spec, str) or (isinstance(spec, type) and issubclass(spec, Node)):
        return spec, {}
    if isinstance(spec, tuple) and 1 <= len(spec) <= 2:
        kind = spec[0]
        if isinstance(kind, str) or (isinstance(kind, type) and issubclass(kind, Node)):
            return kind, spec[1] if len(spec) == 2 else {}
    return None, None


_EDGE_FIELDS = ("from", "to", "policy", "capacity", "max_time", "feedback")


def _edge_mapping(item: dict[str, Any]) -> tuple[EdgeDecl | None, list[str]]:
    """An edge written as in YAML, ``{"from": "a.out", "to": "b.in", ...}`` (``max_time``
    a duration, ``"400ms"``, or ns): the edge, or None, and what is wrong with it."""
    from .units import parse_duration

    label = f"edge '{item.get('from', '?')} -> {item.get('to', '?')}'"
    problems = [f"{label}: unknown key {k!r} (an edge has: {', '.join(_EDGE_FIELDS)})"
                for k in item if k not in _EDGE_FIELDS]
    ends = parse_edge_text(f"{item.get('from')} -> {item.get('to')}")
    if ends is None:
        problems.append(f"{label}: 'from' and 'to' must be node.port")
    feedback = item.get("feedback", False)
    policy = item.get("policy", Policy.DROP_OLDEST if feedback else Policy.BLOCK)
    try:
        policy = Policy(policy)
    except ValueError:
        problems.append(f"{label}: unknown policy {policy!r} (policies: "
                        f"{', '.join(p.value for p in Policy)})")
    capacity, raw_time = item.get("capacity"), item.get("max_time")
    if capacity is not None and (type(capacity) is not int or capacity < 1):
        problems.append(f"{label}: 'capacity' must be a whole number of messages >= 1")
    max_time: int | None = None
    if isinstance(raw_time, str):
        try:
            max_time = parse_duration(raw_time)
        except ValueError as exc:
            problems.append(f"{label}: max_time: {exc}")
    elif type(raw_time) is int and raw_time > 0:
        max_time = raw_time
    elif raw_time is not None:
        problems.append(f"{label}: 'max_time' must be a duration ('400ms') or ns above 0")
    if not isinstance(feedback, bool):
        problems.append(f"{label}: 'feedback' must be True or False")
    if problems or ends is None:
        return None, problems
    return EdgeDecl(*ends, policy=policy, capacity=capacity, max_time=max_time,
                    feedback=feedback), []


def validate(graph: Graph) -> list[str]:
    """Every structural problem of the edges as ``file:line: message`` strings (empty if
    the graph is valid). See ``check``."""
    return [i.format(graph.path) for i in check(graph)]


def check(graph: Graph, *, skip: set[str] | frozenset[str] = frozenset()) -> list[Issue]:
    """Every structural problem of the edges: unknown nodes/ports, direction, types,
    fan-in, duplicate edges, undeclared cycles, feedback edges on no cycle, bad capacities.
    Of edges that touch a node in ``skip`` (one whose type is unknown, so its ports are
    too) only the other end is checked."""
    issues: list[Issue] = []
    fed: dict[tuple[str, str], list[EdgeDecl]] = {}
    ok_edges: list[EdgeDecl] = []
    seen: dict[tuple[str, str, str, str], EdgeDecl] = {}
    for e in graph.edges:
        if e.src in skip or e.dst in skip:  # the other end may still be checked alone
            for node_id, port, output in ((e.src, e.src_port, True), (e.dst, e.dst_port, False)):
                decl = graph.nodes.get(node_id)
                if node_id not in skip and decl is not None:
                    issues += [Issue.of(e, f"edge '{e}': {p}")
                               for p in _port_problems(decl, port, output=output)]
            continue
        problems = _edge_problems(graph, e)
        if problems:
            issues += [Issue.of(e, f"edge '{e}': {p}") for p in problems]
            continue
        key = (e.src, e.src_port, e.dst, e.dst_port)
        first = seen.get(key)
        if first is not None:
            at = _line_of(first)
            issues.append(Issue.of(e, f"edge '{e}' is declared twice{at}; remove one"))
            continue
        seen[key] = e
        fed.setdefault((e.dst, e.dst_port), []).append(e)
        ok_edges.append(e)
    for (node_id, port), feeding in fed.items():
        decl = graph.nodes[node_id]
        if len(feeding) > 1 and not decl.cls.inputs[port].fan_in:
            first = feeding[0]
            at = _line_of(first)
            for extra in feeding[1:]:
                issues.append(Issue.of(
                    extra,
                    f"edge '{extra}': input {node_id}.{port} is already fed by '{first}'{at}; "
                    f"{decl.type_name}.{port} does not allow fan-in (merge the streams in a "
                    "node, or declare the port In(fan_in=True))"))
    issues += _cycles(graph, [e for e in ok_edges if not e.feedback])
    issues += _open_feedback(ok_edges)
    return issues


def _port_problems(decl: NodeDecl, port: str, *, output: bool) -> list[str]:
    """What is wrong with one end of an edge: a port the node lacks, or one the wrong way."""
    cls = decl.cls
    ports, others = (cls.outputs, cls.inputs) if output else (cls.inputs, cls.outputs)
    if port in ports:
        return []
    kind, other = ("output", "input") if output else ("input", "output")
    if port in others:
        return [f"{decl.id}.{port} is an {other}; an edge goes {'from' if output else 'to'} "
                f"an {kind} ({kind}s of {decl.type_name}: {_names(ports)})"]
    return [f"node {decl.id!r} ({decl.type_name}) has no {kind} {port!r}"
            f"{_did_you_mean(port, list(ports))} ({kind}s: {_names(ports)})"]


def _edge_problems(graph: Graph, e: EdgeDecl) -> list[str]:
    """What is wrong with one edge on its own (empty if nothing)."""
    src_decl, dst_decl = graph.nodes.get(e.src), graph.nodes.get(e.dst)
    if src_decl is None or dst_decl is None:
        return [f"unknown node {n!r}{_did_you_mean(n, list(graph.nodes))} "
                f"(nodes: {_names(graph.nodes)})"
                for n in dict.fromkeys((e.src, e.dst)) if n not in graph.nodes]
    problems = _port_problems(src_decl, e.src_port, output=True) + \
        _port_problems(dst_decl, e.dst_port, output=False)
    out_spec = src_decl.cls.outputs.get(e.src_port)
    in_spec = dst_decl.cls.inputs.get(e.dst_port)
    if out_spec is not None and in_spec is not None and not issubclass(out_spec.type,
                                                                        in_spec.type):
        problems.append(
            f"type mismatch: {e.src}.{e.src_port} is Out[{out_spec.type_name}] but "
            f"{e.dst}.{e.dst_port} is In[{in_spec.type_name}] ({out_spec.type_name} is not "
            f"{_article(in_spec.type_name)} {in_spec.type_name})")
    if e.capacity is not None and e.capacity < 1:
        problems.append(f"capacity must be at least 1, got {e.capacity}")
    if e.max_time is not None and e.max_time <= 0:
        problems.append(f"max_time must be positive, got {e.max_time}ns")
    if e.feedback and e.policy is Policy.BLOCK:
        problems.append("a feedback edge cannot use policy 'block' (a full cycle of blocking "
                        "edges deadlocks); use drop_oldest, drop_newest or latest")
    return problems


def _cycles(graph: Graph, edges: list[EdgeDecl]) -> list[Issue]:
    """One issue per edge that closes a cycle of non-feedback edges (iterative DFS, so a
    long chain cannot exhaust the stack)."""
    succ: dict[str, list[EdgeDecl]] = {n: [] for n in graph.nodes}
    for e in edges:
        succ[e.src].append(e)
    color: dict[str, int] = dict.fromkeys(graph.nodes, 0)  # 0 new, 1 on path, 2 done
    issues: list[Issue] = []
    for root in graph.nodes:
        if color[root]:
            continue
        color[root] = 1
        path: list[EdgeDecl] = []  # edges from root to the node on top of `todo`
        todo: list[tuple[str, int]] = [(root, 0)]
        while todo:
            n, i = todo[-1]
            if i == len(succ[n]):
                color[n] = 2
                todo.pop()
                if path:
                    path.pop()
                continue
            todo[-1] = (n, i + 1)
            e = succ[n][i]
            if color[e.dst] == 1:
                k = next((j for j, s in enumerate(path) if s.src == e.dst), len(path))
                names = [s.src for s in path[k:]] + [e.src, e.dst]
                issues.append(Issue.of(e, f"edge '{e}' closes a cycle "
                                            f"({' -> '.join(names)}); mark the edge that "
                                            "feeds back with 'feedback: true'"))
            elif color[e.dst] == 0:
                color[e.dst] = 1
                path.append(e)
                todo.append((e.dst, 0))
    return issues


def _line_of(decl: EdgeDecl) -> str:
    """`` (line 12)``, `` (base.yaml:12)`` for a line of a graph extended, or nothing."""
    if not decl.line:
        return ""
    return f" ({decl.file}:{decl.line})" if decl.file else f" (line {decl.line})"


def _article(noun: str) -> str:
    """'an' before a vowel sound as type names spell it (an AudioFrame, a TextDelta)."""
    return "an" if noun[:1].lower() in "aeio" else "a"


def _open_feedback(edges: list[EdgeDecl]) -> list[Issue]:
    """One issue per feedback edge that closes no cycle: nothing leads from its target back
    to its source. Such an edge is a mistake, not a harmless marker: it changes the edge
    (default policy drop_oldest, and its end of stream does not end the node it feeds)."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        succ.setdefault(e.src, set()).add(e.dst)
    issues: list[Issue] = []
    for e in edges:
        if not e.feedback:
            continue
        seen, todo = {e.dst}, [e.dst]
        while todo and e.src not in seen:
            for n in succ.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        if e.src not in seen:
            issues.append(Issue.of(e, f"edge '{e}': feedback: true, but this edge closes no "
                                        f"cycle (nothing leads from {e.dst} back to {e.src}); "
                                        "remove 'feedback: true' (it marks the edge that "
                                        "closes a cycle)"))
    return issues


def _names(items: dict[str, Any]) -> str:
    return ", ".join(items) if items else "none"


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
