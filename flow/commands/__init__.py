"""The built-in ``microturn`` subcommands, one module each (see ``flow.cli``)."""

from __future__ import annotations

import argparse


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """The graph file and ``--set`` overrides, shared by check, run and draw."""
    parser.add_argument("graph", help="the graph's YAML file, or the name of a graph an "
                        "installed package ships (`microturn graphs` lists them)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
        help="override a node parameter (the value is read as YAML: 180, true, en-us); "
             "repeatable")
