"""The ``microturn`` command.

Subcommands are a table (``COMMANDS``): name -> (module, one-line help). A subcommand's
module exposes two functions and is imported only when that subcommand runs, so
``microturn check`` never pays for aiohttp or torch::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...   # the exit status; None is 0

To add one, add a line to ``COMMANDS``, as the WebRTC server's ``serve`` does::

    "serve": ("flow.server.cli", "serve a graph to browsers over WebRTC"),

An installed package adds one without touching this file, through the
``microturn.commands`` entry-point group (name = the module; its docstring's first
sentence is the help), as the ears' ``adapt-ears`` does::

    [project.entry-points."microturn.commands"]
    "adapt-ears" = "nodes.asr.adapt_command"

A built-in name cannot be taken over by a package: neither one of ``COMMANDS`` nor one
that microturn itself declares in ``microturn.commands`` (``skills``, ``init``). Between two
packages the first found keeps a name. Either way a warning names the package left out
and the command that is used instead.

Exit statuses: what ``run`` returns, 0 where it returns None (a command that returns
nothing succeeded, as a Python function that falls off its end); 1 a node failed while
running, or ``run`` returned something else (named in one ``error:`` line); 2 a usage or
graph error (every problem printed on stderr as ``file:line: message``); 130 interrupted by
Ctrl-C. A ``FlowError`` raised by ``run`` is printed as one ``error: ...`` line, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import re
import reprlib
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import TextIO

from .errors import FlowError, GraphError, NodeFailed
from .registry import one_per_name, package_of

COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("flow.commands.check", "check a graph file; print every problem (exit 2 if any)"),
    "run": ("flow.commands.run", "run a graph until its input ends"),
    "nodes": ("flow.commands.nodes", "list node types with their ports and parameters"),
    "draw": ("flow.commands.draw", "print a graph as Mermaid text (or Graphviz DOT)"),
    "schema": ("flow.commands.schema", "print a JSON Schema of the graph format for editors"),
    "graphs": ("flow.commands.graphs", "list the graphs installed packages ship, by name"),
    "serve": ("flow.server.cli", "serve a graph to browsers over WebRTC"),
}

log = logging.getLogger("microturn.cli")

#: The entry-point group through which installed packages add subcommands.
COMMANDS_GROUP = "microturn.commands"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def installed_commands() -> dict[str, tuple[str, str]]:
    """Subcommands that installed packages declare (``microturn.commands``): name ->
    (module, the package it comes from). Nothing is imported. A name is one command, as a
    node type's is (``flow.registry.one_per_name``): microturn's own keeps it."""
    declared = importlib.metadata.entry_points(group=COMMANDS_GROUP)
    return {name: (ep.value.partition(":")[0].strip(), package_of(ep))
            for name, ep in one_per_name(declared, "command").items()}


def all_commands() -> dict[str, tuple[str, str]]:
    """``COMMANDS``, then the installed packages' commands whose names are still free; a
    package's help says where it is from until its module is imported (``_package_help``)."""
    table = dict(COMMANDS)
    for name, (module, dist) in installed_commands().items():
        if name in table:
            log.warning("the %r command of %s is shadowed by the built-in one", name, dist)
            continue
        table[name] = (module, f"(from {dist})")
    return table


def _package_help(module_name: str, origin: str) -> str:
    """A package's command's help: its module docstring's first line, and where it is from
    (imports the module: only for the one command that runs, or to list them all)."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken package must not break the list of commands
        return f"unavailable: {_import_failure(exc)} {origin}"
    first = summary(module.__doc__ or "")
    return f"{first} {origin}" if first else origin


def _import_failure(exc: Exception) -> str:
    """Why a command's module did not import, in one line: an ``ImportError`` says it
    itself ("No module named 'torch'"); anything else also needs its type's name."""
    if isinstance(exc, ImportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def summary(doc: str) -> str:
    """A docstring's first sentence as one line of help: its first paragraph may wrap over
    several lines, and reStructuredText's double backquotes are dropped."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    sentence = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0]
    return re.sub(r"``([^`]*)``", r"\1", sentence).rstrip(".")


def _command_name(argv: Sequence[str], table: dict[str, tuple[str, str]]) -> str | None:
    """The subcommand named on the command line (the first word that is one)."""
    for word in argv:
        if word in table:
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
    # -v is taken after the subcommand too ("microturn run g.yaml -v"), where people add it
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="log more (-v: info, -vv: debug; a failed node's traceback)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    table = all_commands()
    chosen = _command_name(argv, table)
    module = None
    for name, (module_name, help_text) in table.items():
        if name != chosen:
            if chosen is None and name not in COMMANDS:  # the list of commands is shown
                help_text = _package_help(module_name, help_text)
            sub.add_parser(name, help=help_text, description=help_text, parents=[verbose])
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            if name in COMMANDS and not isinstance(exc, ImportError):
                raise  # a bug in microturn itself: show its traceback
            raise FlowError(f"the {name!r} command is unavailable: {_import_failure(exc)}"
                            ) from exc
        missing = [f"{f}()" for f in ("add_arguments", "run")
                   if not callable(getattr(module, f, None))]
        if missing:
            raise FlowError(f"the {name!r} command is unavailable: its module {module_name} "
                            f"has no {' or '.join(missing)} (see microturn's "
                            "docs/writing-nodes.md, section 6)")
        if name not in COMMANDS:
            help_text = _package_help(module_name, help_text)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text,
                                            parents=[verbose]))
    return parser, module


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes, as ``logging.lastResort``
    does (a stream kept from the start would outlive a redirection)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]  # read-only: the current stderr
        return sys.stderr


class _Lines(logging.Formatter):
    """A record as a line like the CLI's own ``error: ...``: ``warning: ...``; with
    ``names``, the logger's name after the level (``info: microturn.server: ...``)."""

    def __init__(self, names: bool) -> None:
        super().__init__("%(name)s: %(message)s" if names else "%(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().formatMessage(record)}"


def log_to_stderr(level: int | None = None, *, names: bool = False) -> None:
    """Print log records on stderr from ``level`` up (None: leave the level, warnings by
    default), each as one ``warning: ...`` line (``names``: with the logger's name, for
    -v). Without it, Python prints a warning as its bare message."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Stderr)), None)
    if handler is None:
        handler = _Stderr()
        root.addHandler(handler)
    handler.setFormatter(_Lines(names))
    if level is not None:
        root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.
    Log records show on stderr while it runs (``log_to_stderr``), from the start: finding
    the commands may warn."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    log_to_stderr()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    finally:  # as it was: a program or a test may call main more than once
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def _main(argv: list[str]) -> int:
    try:
        parser, module = build_parser(argv)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.verbose:
        log_to_stderr(logging.DEBUG if args.verbose > 1 else logging.INFO, names=True)
    if module is None:  # pragma: no cover - argparse requires a known command
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        status = module.run(args)
    except GraphError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        n = len(exc.issues)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return EXIT_USAGE
    except NodeFailed as exc:
        if args.verbose:  # the node's own traceback: where in its code it raised
            traceback.print_exception(exc.exc, file=sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
        else:
            print(f"error: {exc} (-v shows its traceback)", file=sys.stderr)
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
    if status is None:
        return EXIT_OK
    if isinstance(status, int):
        return status
    print(f"error: the {args.command!r} command's run() returned {reprlib.repr(status)} (a "
          f"{type(status).__name__}), not an exit status: an int, or None for 0",
          file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
