"""``microturn draw G.yaml [--dot]``: the graph as Mermaid text or Graphviz DOT."""

from __future__ import annotations

import argparse
import sys

from ..catalog import resolve
from ..draw import to_dot, to_mermaid
from ..loader import load_graph
from . import add_graph_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    parser.add_argument("--dot", action="store_true",
                        help="Graphviz DOT instead of Mermaid (pipe it to `dot -Tsvg`)")


def run(args: argparse.Namespace) -> int:
    graph = load_graph(resolve(args.graph), overrides=args.overrides)
    sys.stdout.write(to_dot(graph) if args.dot else to_mermaid(graph))
    return 0
