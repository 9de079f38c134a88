"""A graph as the YAML that gives it: what ``microturn check --print`` shows of a graph as
loaded (``extends`` merged, ``--set`` applied, variables read), each node and edge with
the file and line it comes from, as ``docker compose config`` shows a project's."""

from __future__ import annotations

from typing import Any

import msgspec
import yaml

from .edge import Policy
from .graph import EdgeDecl, Graph, NodeDecl
from .units import format_duration


def graph_yaml(graph: Graph) -> str:
    """YAML that loads back into the same graph (same types, parameters and edges)."""
    lines = [f"graph: {_flow(graph.name)}", "nodes:"]
    for decl in graph.nodes.values():
        lines.append(f"  {decl.id}:{_origin(graph, decl)}")
        lines.append(f"    use: {_flow(decl.type_name)}")
        written = _written(decl)
        if written:
            lines.append(f"    with: {_flow(written)}")
    lines.append("edges:" if graph.edges else "edges: []")
    for e in graph.edges:
        lines.append(f"  - {_edge(e)}{_origin(graph, e)}")
    return "\n".join(lines) + "\n"


def _written(decl: NodeDecl) -> dict[str, Any]:
    if decl.written is not None:
        return decl.written
    raw = msgspec.to_builtins(decl.params)  # a graph built in Python: every value
    return raw if isinstance(raw, dict) else {}


def _edge(e: EdgeDecl) -> str:
    extra: dict[str, Any] = {}
    if e.feedback:
        extra["feedback"] = True
    if e.policy is not (Policy.DROP_OLDEST if e.feedback else Policy.BLOCK):
        extra["policy"] = e.policy.value
    if e.capacity is not None:
        extra["capacity"] = e.capacity
    if e.max_time is not None:
        extra["max_time"] = format_duration(e.max_time)
    if not extra:
        return str(e)
    fields = {"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}", **extra}
    return _flow(fields)


def _origin(graph: Graph, decl: NodeDecl | EdgeDecl) -> str:
    where = decl.file or graph.path
    if not (where and decl.line):
        return ""
    via = getattr(decl, "via", "")
    return f"  # {where}:{decl.line}" + (f" ({via})" if via else "")


def _flow(value: Any) -> str:
    """One line of YAML (a mapping in braces), quoted where YAML needs it."""
    return str(yaml.safe_dump(value, default_flow_style=True, width=10**6,
                              sort_keys=False)).strip().removesuffix("...").strip()
