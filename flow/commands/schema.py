"""``microturn schema``: a JSON Schema of the graph format, for editors.

For VS Code's YAML extension, for instance: ``microturn schema -o graph.schema.json`` and
a first line ``# yaml-language-server: $schema=graph.schema.json`` in the graph file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import FlowError
from ..schema import graph_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the schema to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    text = json.dumps(graph_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise FlowError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0
