"""The ``microturn`` command.

Subcommands are a table (``COMMANDS``): name -> (module, one-line help). A subcommand's
module exposes two functions and is imported only when that subcommand runs, so
``microturn check`` never pays for aiohttp or torch::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...      # the exit status

To add one, add a line to ``COMMANDS``, as the WebRTC server's ``serve`` does::

    "serve": ("flow.server.cli", "serve a graph to browsers over WebRTC"),

Exit statuses: 0 success; 1 a node failed while running; 2 a usage or graph error (every
problem printed on stderr as ``file:line: message``); 130 interrupted by Ctrl-C. A
``FlowError`` raised by ``run`` is printed as one ``error: ...`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from .errors import FlowError, GraphError, NodeFailed

COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("flow.commands.check", "check a graph file; print every problem (exit 2 if any)"),
    "run": ("flow.commands.run", "run a graph until its input ends"),
    "nodes": ("flow.commands.nodes", "list node types with their ports and parameters"),
    "draw": ("flow.commands.draw", "print a graph as Mermaid text (or Graphviz DOT)"),
    "schema": ("flow.commands.schema", "print a JSON Schema of the graph format for editors"),
    "serve": ("flow.server.cli", "serve a graph to browsers over WebRTC"),
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word that is one)."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, ModuleType | None]:
    """A parser knowing every subcommand's name and help, and the arguments of the one in
    ``argv`` (whose module it imports and returns)."""
    parser = argparse.ArgumentParser(
        prog="microturn", description="Compose, check and run microturn dataflow graphs.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: info, -vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _command_name(argv)
    module = None
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise FlowError(f"the {name!r} command is unavailable: {exc}") from exc
            module.add_arguments(p)
    return parser, module


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, module = build_parser(argv)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.verbose:  # otherwise leave logging to the subcommand (warnings still show)
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if module is None:  # pragma: no cover - argparse requires a known command
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        return int(module.run(args))
    except GraphError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        n = len(exc.issues)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return EXIT_USAGE
    except NodeFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `microturn nodes | head`: the reader left, nothing is wrong
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
