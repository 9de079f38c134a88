"""``microturn run G.yaml [--set node.param=value ...] [--stats]``: run one session.

The session runs on the real clock, on uvloop when it is installed, until every node has
finished (end of input drains the graph). Ctrl-C cancels every node, runs their teardowns
and exits 130. ``--stats`` prints every edge's and node's statistics on stderr at the end,
also after a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from ..clock import run as run_loop
from ..loader import load_graph
from ..session import Session
from . import add_graph_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    parser.add_argument("--stats", action="store_true",
                        help="print edge and node statistics on stderr at the end")
    parser.add_argument("--no-uvloop", action="store_true",
                        help="use asyncio's own event loop even if uvloop is installed")


def run(args: argparse.Namespace) -> int:
    graph = load_graph(args.graph, overrides=args.overrides)
    session = Session(graph)
    try:
        run_loop(session.run(), use_uvloop=not args.no_uvloop)
    finally:
        if args.stats:
            print(session.format_statistics(), file=sys.stderr)
    return 0
