"""``microturn check G.yaml ...``: load and validate graphs without running them."""

from __future__ import annotations

import argparse
import sys

from ..errors import GraphError
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
        print(f"{path}: ok ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")
    if problems:
        print(f"{problems} problem{'s' if problems != 1 else ''} found", file=sys.stderr)
        return 2
    return 0
