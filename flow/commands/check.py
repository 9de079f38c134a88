"""``microturn check G.yaml ...``: load and validate graphs without running them;
``--print`` shows each as loaded (``extends`` merged, ``--set`` applied), as YAML."""

from __future__ import annotations

import argparse
import sys

from ..catalog import resolve
from ..dump import graph_yaml
from ..edge import Policy
from ..errors import GraphError
from ..graph import Graph
from ..loader import load_graph
from ..messages import Message
from ..node import Node


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graphs", nargs="+", metavar="graph",
                        help="graph YAML file(s), or names of graphs installed packages ship "
                        "(`microturn graphs`)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
        help="check with a parameter overridden, as `run --set` would; repeatable")
    parser.add_argument(
        "--print", dest="show", action="store_true",
        help="print each graph as loaded (extends merged, --set applied, variables read), "
             "as YAML with the file:line each part comes from")


def run(args: argparse.Namespace) -> int:
    """Every problem of every graph on stderr; 0 if all are valid, else 2."""
    problems = 0
    for path in args.graphs:
        try:
            graph = load_graph(resolve(path), overrides=args.overrides)
        except GraphError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            problems += len(exc.issues)
            continue
        for warning in warnings(graph):
            print(warning, file=sys.stderr)
        if args.show:
            print(graph_yaml(graph), end="")
            continue
        print(f"{path}: ok ({_count(len(graph.nodes), 'node')}, "
              f"{_count(len(graph.edges), 'edge')})")
    if problems:
        print(f"{problems} problem{'s' if problems != 1 else ''} found", file=sys.stderr)
        return 2
    return 0


def warnings(graph: Graph) -> list[str]:
    """What is legal but most likely a mistake: in a graph of several nodes, a node that no
    edge touches (it runs, and nothing reaches it or leaves it); an edge bound that bounds
    nothing (``max_time`` on messages without a duration, a ``capacity`` on ``latest``)."""
    out = list(graph.notes)
    if len(graph.nodes) >= 2:
        touched = {e.src for e in graph.edges} | {e.dst for e in graph.edges}
        out += [f"{graph.where(d.line, d.file)}warning: node {d.id!r} ({d.type_name}) is "
                "connected to nothing (no edge names it)"
                for d in graph.nodes.values() if d.id not in touched]
    for d in graph.nodes.values():
        feeding = [e for e in graph.edges if e.dst == d.id]
        if feeding and all(e.feedback for e in feeding) and d.cls.run is Node.run:
            out.append(f"{graph.where(d.line, d.file)}warning: node {d.id!r} ({d.type_name}) "
                       "is fed only through feedback edges and has no run(): nothing outside "
                       "its cycle can end it, so the graph never ends (feed it, or remove it)")
    for e in graph.edges:
        at = graph.where(e.line, e.file)
        src = graph.nodes.get(e.src)
        spec = src.cls.outputs.get(e.src_port) if src is not None else None
        if e.max_time is not None and e.capacity is None and spec is not None \
                and e.policy is not Policy.LATEST \
                and getattr(spec.type, "duration", None) is Message.duration:
            out.append(f"{at}warning: edge '{e}': max_time bounds nothing, "
                       f"since {spec.type_name} messages have no media duration; the edge "
                       f"holds up to {e.limit} of them (give a capacity)")
        if e.policy is Policy.LATEST and e.capacity not in (None, 1):
            out.append(f"{at}warning: edge '{e}': capacity {e.capacity} is "
                       "ignored: policy latest keeps only the newest message")
        if e.policy is Policy.LATEST and e.max_time is not None:
            out.append(f"{at}warning: edge '{e}': max_time is ignored: "
                       "policy latest keeps only the newest message")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
