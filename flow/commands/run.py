"""``microturn run G.yaml [--set node.param=value ...] [--stats]``: run one session.

The session runs on the real clock, on uvloop when it is installed, until every node has
finished (end of input drains the graph). Ctrl-C cancels every node, runs their teardowns
and exits 130; SIGTERM and SIGHUP do the same and exit 128 + the signal's number (143,
129). ``--stats`` prints every edge's and node's statistics on stderr at the end,
also after a failure or Ctrl-C. A parameter that only a node's setup can judge (a file
that is not there, a voice espeak lacks) is reported as ``check`` reports a graph's
mistakes, ``file:line: node 'id' (type): ...``, with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..catalog import packaged_graphs, resolve
from ..clock import run as run_loop
from ..errors import GraphError, NodeFailed, ParamError
from ..graph import Graph
from ..loader import load_graph
from ..session import Session
from . import add_graph_arguments
from .check import warnings

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    parser.add_argument("--stats", action="store_true",
                        help="print edge and node statistics on stderr at the end")
    parser.add_argument("--no-uvloop", action="store_true",
                        help="use asyncio's own event loop even if uvloop is installed")


def run(args: argparse.Namespace) -> int:
    path = resolve(args.graph)
    graph = load_graph(path, overrides=args.overrides)
    for warning in warnings(graph):  # as `check` says them: a run is where most look first
        print(warning, file=sys.stderr)
    session = Session(graph)
    terminated: Terminated | None = None
    try:
        run_loop(until_signalled(session.run()), use_uvloop=not args.no_uvloop)
    except Terminated as exc:
        terminated = exc
    except NodeFailed as exc:
        if isinstance(exc.exc, ParamError):  # a parameter only setup could judge
            problem = setup_problem(graph, exc.node_id, exc.exc)
            decl = graph.nodes.get(exc.node_id)
            packaged = {g.path: g.name for g in packaged_graphs().values()}
            # the node is a packaged graph's: named as one, or inherited from one (extends)
            written = Path(decl.file) if decl is not None and decl.file else \
                path if path != Path(args.graph) else None
            if written in packaged and "no such file" in str(exc.exc):  # its samples
                name = packaged[written]
                change = (f"; or set it in {args.graph} ({exc.node_id}: {{with: ...}}) or "
                          "with --set") if written != path else ""
                problem = GraphError(f"{problem}; that is packaged graph {name}'s: `microturn "
                                     f"init DIR` copies it with the samples it reads{change}")
            raise problem from exc
        raise
    finally:
        if args.stats:
            print(session.format_statistics(), file=sys.stderr)
    if terminated is not None:
        print(f"terminated by {terminated.signal.name}", file=sys.stderr)
        return 128 + terminated.signal
    return 0


class Terminated(Exception):
    def __init__(self, sig: signal.Signals) -> None:
        super().__init__(sig.name)
        self.signal = sig


async def until_signalled(main: Coroutine[Any, Any, T]) -> T:
    """``main``, stopped as Ctrl-C stops it (every node cancelled, every teardown run, a
    sink's file finished) when SIGTERM or SIGHUP comes: what ``timeout``, ``docker stop``,
    systemd and a closed terminal send (SIGHUP only where it is not ignored, as ``nohup``
    makes it). Raises ``Terminated``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    got: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not got:  # a second signal waits for the teardowns, which are bounded
            got.append(sig)
            task.cancel()

    watched = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if sig is signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
            continue  # `nohup microturn run ...`: it must outlive the terminal
        try:
            loop.add_signal_handler(sig, stop, sig)
            watched.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not here (Windows)
            pass
    try:
        return await main
    except asyncio.CancelledError:
        if got:
            raise Terminated(got[0]) from None
        raise
    finally:
        for sig in watched:
            loop.remove_signal_handler(sig)


def setup_problem(graph: Graph, node_id: str, exc: ParamError) -> GraphError:
    """A node's ``ParamError`` (a file that is not there, a voice espeak lacks) as the
    graph mistake it is: ``file:line: node 'voice' (speech.espeak): ...``, exit status 2,
    as ``check`` reports the mistakes it can see without starting the nodes."""
    decl = graph.nodes.get(node_id)
    message = str(exc).removeprefix(f"node {node_id!r}: ")
    if decl is None:
        return GraphError(f"{graph.where(None)}node {node_id!r}: {message}")
    message = message.removeprefix(f"{decl.type_name}: ")
    return GraphError(f"{graph.where(decl.line, decl.file)}node {node_id!r} "
                      f"({decl.type_name}): {message}")
