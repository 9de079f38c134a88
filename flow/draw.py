"""Pictures of a graph: Mermaid text (renders on GitHub and in most Markdown viewers) and
Graphviz DOT. Each node shows its id and type; each edge its ports, policy and capacity;
feedback edges are dashed."""

from __future__ import annotations

from .edge import Policy
from .graph import EdgeDecl, Graph
from .units import format_duration


def edge_label(e: EdgeDecl) -> str:
    """``audio → audio · drop_oldest/16, 400ms``; the default ``block/16`` is shown too,
    since capacity is what bounds the latency an edge can add."""
    policy = e.policy.value if isinstance(e.policy, Policy) else str(e.policy)
    # a `latest` edge holds one message whatever its declared capacity
    limits = policy if e.policy is Policy.LATEST else f"{policy}/{e.limit}"
    if e.max_time is not None:
        limits += f", {format_duration(e.max_time)}"
    if e.feedback:
        limits += ", feedback"
    return f"{e.src_port} → {e.dst_port} · {limits}"


def _mermaid_id(node_id: str) -> str:
    # Mermaid ids may not contain '-' reliably, nor clash with keywords like `end`.
    return "n_" + node_id.replace("-", "_2d_")


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(graph: Graph) -> str:
    """A ``flowchart LR`` in Mermaid syntax."""
    lines = ["flowchart LR"]
    for decl in graph.nodes.values():
        label = _mermaid_text(f"{decl.id}<br/><small>{decl.type_name}</small>")
        lines.append(f'    {_mermaid_id(decl.id)}["{label}"]')
    for e in graph.edges:
        arrow = "-.->" if e.feedback else "-->"
        lines.append(f'    {_mermaid_id(e.src)} {arrow}|"{_mermaid_text(edge_label(e))}"| '
                     f"{_mermaid_id(e.dst)}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """A Graphviz ``digraph`` (``microturn draw g.yaml --dot | dot -Tsvg > g.svg``)."""
    lines = [f"digraph {_dot_quote(graph.name)} {{",
             "    rankdir=LR;",
             '    node [shape=box, style="rounded", fontname="Helvetica"];',
             '    edge [fontname="Helvetica", fontsize=10];']
    for decl in graph.nodes.values():
        label = _dot_quote(decl.id)[:-1] + "\\n" + _dot_quote(decl.type_name)[1:]
        lines.append(f"    {_dot_quote(decl.id)} [label={label}];")
    for e in graph.edges:
        style = ", style=dashed, constraint=false" if e.feedback else ""
        lines.append(f"    {_dot_quote(e.src)} -> {_dot_quote(e.dst)} "
                     f"[label={_dot_quote(edge_label(e))}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
