"""A graph: node declarations and edge declarations, validated before anything runs.

Graphs usually come from YAML (``flow.loader``); tests and programs can build one in
Python with ``Graph.build``. Both go through ``validate``, which reports every problem it
finds, each as ``file:line: message`` when the graph came from a file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .edge import DEFAULT_CAPACITY, Policy
from .errors import GraphError
from .node import Node
from .registry import Registry, UnknownNodeType, default_registry


@dataclass(frozen=True)
class NodeDecl:
    id: str
    type_name: str
    cls: type[Node]
    params: msgspec.Struct
    line: int | None = None


@dataclass(frozen=True)
class EdgeDecl:
    src: str
    src_port: str
    dst: str
    dst_port: str
    policy: Policy = Policy.BLOCK
    capacity: int = DEFAULT_CAPACITY
    max_time: int | None = None
    feedback: bool = False
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


_EDGE_TEXT = re.compile(r"^\s*([\w-]+)\.([\w-]+)\s*->\s*([\w-]+)\.([\w-]+)\s*$")


def parse_edge_text(text: str) -> tuple[str, str, str, str] | None:
    """``'a.out -> b.in'`` -> ``('a', 'out', 'b', 'in')``, None if malformed."""
    m = _EDGE_TEXT.match(text)
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None


@dataclass
class Graph:
    name: str
    nodes: dict[str, NodeDecl]
    edges: list[EdgeDecl]
    path: str | None = None
    #: Line of each top-level section, for messages about the graph as a whole.
    lines: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str, nodes: dict[str, tuple[type[Node] | str, dict[str, Any]]],
              edges: list[str | EdgeDecl], *, registry: Registry | None = None) -> Graph:
        """Build and validate a graph in Python::

            Graph.build("g", {"src": (Source, {}), "out": ("sink.wav", {"path": "o.wav"})},
                        ["src.audio -> out.audio"])
        """
        reg = registry
        issues: list[str] = []
        decls: dict[str, NodeDecl] = {}
        for node_id, (kind, raw) in nodes.items():
            if isinstance(kind, str):
                try:
                    node_cls = (reg or default_registry()).get(kind)
                except UnknownNodeType as exc:
                    issues.append(f"node {node_id!r}: {exc}")
                    continue
                type_name = kind
            else:
                node_cls, type_name = kind, kind.type_name or kind.__name__
            try:
                params = msgspec.convert(raw, node_cls.Params, strict=False)
            except msgspec.ValidationError as exc:
                issues.append(f"node {node_id!r} ({type_name}): {_with_path(exc)}")
                continue
            decls[node_id] = NodeDecl(node_id, type_name, node_cls, params)
        edge_decls: list[EdgeDecl] = []
        for e in edges:
            if isinstance(e, EdgeDecl):
                edge_decls.append(e)
                continue
            parts = parse_edge_text(e)
            if parts is None:
                issues.append(f"malformed edge {e!r}: expected 'node.port -> node.port'")
                continue
            edge_decls.append(EdgeDecl(*parts))
        graph = cls(name, decls, edge_decls)
        issues += validate(graph)
        if issues:
            raise GraphError(issues)
        return graph

    def where(self, line: int | None) -> str:
        """``'path:line: '`` prefix for a message (empty for graphs built in Python)."""
        if self.path and line:
            return f"{self.path}:{line}: "
        if self.path:
            return f"{self.path}: "
        return ""


def _with_path(exc: msgspec.ValidationError) -> str:
    """msgspec says ``... - at `$.rate` ``; we say ``at with.rate``."""
    return str(exc).replace("`$.", "`with.").replace("`$`", "`with`")


def validate(graph: Graph) -> list[str]:
    """Every structural problem of the edges: unknown nodes/ports, direction, types,
    fan-in, undeclared cycles, bad capacities. Returns messages (empty if valid)."""
    issues: list[str] = []
    fed: dict[tuple[str, str], list[EdgeDecl]] = {}
    ok_edges: list[EdgeDecl] = []
    for e in graph.edges:
        where = graph.where(e.line)
        bad = False
        src_decl, dst_decl = graph.nodes.get(e.src), graph.nodes.get(e.dst)
        for node_id in (e.src, e.dst):
            if node_id not in graph.nodes:
                hint = _did_you_mean(node_id, list(graph.nodes))
                issues.append(f"{where}edge '{e}': unknown node {node_id!r}{hint}")
                bad = True
        if bad or src_decl is None or dst_decl is None:
            continue
        src_cls, dst_cls = src_decl.cls, dst_decl.cls
        out_spec = src_cls.outputs.get(e.src_port)
        in_spec = dst_cls.inputs.get(e.dst_port)
        if out_spec is None:
            if e.src_port in src_cls.inputs:
                issues.append(f"{where}edge '{e}': {e.src}.{e.src_port} is an input; an edge "
                              f"goes from an output (outputs of {src_decl.type_name}: "
                              f"{_names(src_cls.outputs)})")
            else:
                hint = _did_you_mean(e.src_port, list(src_cls.outputs))
                issues.append(f"{where}edge '{e}': node {e.src!r} ({src_decl.type_name}) has no "
                              f"output {e.src_port!r}{hint} (outputs: {_names(src_cls.outputs)})")
            bad = True
        if in_spec is None:
            if e.dst_port in dst_cls.outputs:
                issues.append(f"{where}edge '{e}': {e.dst}.{e.dst_port} is an output; an edge "
                              f"goes to an input (inputs of {dst_decl.type_name}: "
                              f"{_names(dst_cls.inputs)})")
            else:
                hint = _did_you_mean(e.dst_port, list(dst_cls.inputs))
                issues.append(f"{where}edge '{e}': node {e.dst!r} ({dst_decl.type_name}) has no "
                              f"input {e.dst_port!r}{hint} (inputs: {_names(dst_cls.inputs)})")
            bad = True
        if bad or out_spec is None or in_spec is None:
            continue
        if not issubclass(out_spec.type, in_spec.type):
            issues.append(
                f"{where}edge '{e}': type mismatch: {e.src}.{e.src_port} is "
                f"Out[{out_spec.type_name}] but {e.dst}.{e.dst_port} is In[{in_spec.type_name}]"
                f" ({out_spec.type_name} is not a {in_spec.type_name})")
            continue
        if e.capacity < 1:
            issues.append(f"{where}edge '{e}': capacity must be at least 1, got {e.capacity}")
        if e.max_time is not None and e.max_time <= 0:
            issues.append(f"{where}edge '{e}': max_time must be positive")
        if e.feedback and e.policy is Policy.BLOCK:
            issues.append(f"{where}edge '{e}': a feedback edge cannot use policy 'block' "
                          "(a full cycle of blocking edges deadlocks); use drop_oldest, "
                          "drop_newest or latest")
        fed.setdefault((e.dst, e.dst_port), []).append(e)
        ok_edges.append(e)
    for (node_id, port), feeding in fed.items():
        spec = graph.nodes[node_id].cls.inputs[port]
        if len(feeding) > 1 and not spec.fan_in:
            first = feeding[0]
            for extra in feeding[1:]:
                issues.append(
                    f"{graph.where(extra.line)}edge '{extra}': input {node_id}.{port} is "
                    f"already fed by '{first}'"
                    + (f" (line {first.line})" if first.line else "")
                    + f"; {graph.nodes[node_id].type_name}.{port} does not allow fan-in")
    issues += _cycles(graph, [e for e in ok_edges if not e.feedback])
    return issues


def _cycles(graph: Graph, edges: list[EdgeDecl]) -> list[str]:
    succ: dict[str, list[EdgeDecl]] = {n: [] for n in graph.nodes}
    for e in edges:
        succ[e.src].append(e)
    color: dict[str, int] = dict.fromkeys(graph.nodes, 0)
    issues: list[str] = []
    stack: list[EdgeDecl] = []

    def visit(n: str) -> None:
        color[n] = 1
        for e in succ[n]:
            if color[e.dst] == 1:
                i = next((k for k, s in enumerate(stack) if s.src == e.dst), 0)
                cyc = [*stack[i:], e]
                path = " -> ".join([c.src for c in cyc] + [e.dst])
                issues.append(f"{graph.where(e.line)}edge '{e}' closes a cycle ({path}); "
                              "mark the edge that feeds back with 'feedback: true'")
            elif color[e.dst] == 0:
                stack.append(e)
                visit(e.dst)
                stack.pop()
        color[n] = 2

    for n in graph.nodes:
        if color[n] == 0:
            visit(n)
    return issues


def _names(ports: dict[str, Any]) -> str:
    return ", ".join(ports) if ports else "none"


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
