"""``microturn check G.yaml ...``: load and validate graphs without running them."""

from __future__ import annotations

import argparse
import sys

from ..errors import GraphError
from ..graph import Graph
from ..loader import load_graph


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graphs", nargs="+", metavar="graph", help="graph YAML file(s)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
        help="check with a parameter overridden, as `run --set` would; repeatable")


def run(args: argparse.Namespace) -> int:
    """Every problem of every graph on stderr; 0 if all are valid, else 2."""
    problems = 0
    for path in args.graphs:
        try:
            graph = load_graph(path, overrides=args.overrides)
        except GraphError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            problems += len(exc.issues)
            continue
        for warning in warnings(graph):
            print(warning, file=sys.stderr)
        print(f"{path}: ok ({_count(len(graph.nodes), 'node')}, "
              f"{_count(len(graph.edges), 'edge')})")
    if problems:
        print(f"{problems} problem{'s' if problems != 1 else ''} found", file=sys.stderr)
        return 2
    return 0


def warnings(graph: Graph) -> list[str]:
    """What is legal but most likely a mistake: in a graph of several nodes, a node that no
    edge touches (it runs, and nothing reaches it or leaves it)."""
    if len(graph.nodes) < 2:
        return []
    touched = {e.src for e in graph.edges} | {e.dst for e in graph.edges}
    return [f"{graph.where(d.line)}warning: node {d.id!r} ({d.type_name}) is connected to "
            "nothing (no edge names it)" for d in graph.nodes.values() if d.id not in touched]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
