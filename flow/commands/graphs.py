"""``microturn graphs [NAME ...]``: the graphs installed packages ship, by name.

Each is listed with the package it comes from and the first line of its leading comment;
``--path`` prints only the files' paths (``microturn graphs --path assistant``), to copy
one and make it one's own.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from ..catalog import packaged_graphs
from ..errors import FlowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="name", help="only these graphs")
    parser.add_argument("--path", action="store_true", help="print only the files' paths")


def run(args: argparse.Namespace) -> int:
    graphs = packaged_graphs()
    unknown = [n for n in args.names if n not in graphs]
    if unknown:
        raise FlowError(f"no installed package ships a graph named {', '.join(map(repr, unknown))} "
                        f"(packaged graphs: {', '.join(graphs) or 'none'})")
    chosen = [graphs[n] for n in args.names] if args.names else list(graphs.values())
    if args.path:
        print("\n".join(str(g.path) for g in chosen))
        return 0
    if not chosen:
        print("no installed package ships a graph (microturn.graphs entry points)")
        return 0
    width = min(shutil.get_terminal_size((100, 24)).columns, 100)
    blocks = []
    for g in chosen:
        lines = [f"{g.name}  (from {g.package})"]
        if g.summary:
            lines += textwrap.wrap(g.summary, width, initial_indent="  ",
                                   subsequent_indent="  ")
        lines.append(f"  {g.path}")
        blocks.append("\n".join(lines))
    print("\n".join(blocks))
    print("\nRun one by its name: microturn run NAME, microturn serve NAME. A graph's "
          "relative paths\nare from the current folder: `microturn init DIR` copies "
          "microturn's graphs with the\nsamples they read into DIR.")
    return 0
