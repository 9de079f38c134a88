"""``microturn serve [GRAPH.yaml]``: serve a graph to browsers over WebRTC.

Hooked into ``flow.cli``'s subcommand table as ``add_arguments(parser)`` and
``run(args) -> int``; also runnable alone as ``python -m flow.server``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from ..catalog import packaged_graphs, resolve
from ..cli import log_to_stderr
from ..errors import FlowError, missing
from ..graph import Graph
from ..units import S, parse_duration
from .ice import AUDIO_JITTER_CAPACITY

log = logging.getLogger("microturn.server")

#: Served when no graph is given: the first that exists (relative to the current directory),
#: else the packaged graph of the same name (``flow.catalog``), so that a pip install serves
#: the assistant from any folder. Not graphs/assistant.yaml: that one reads a file and
#: writes a WAV, not a browser.
DEFAULT_GRAPHS = ("graphs/assistant_webrtc.yaml", "graphs/echo_webrtc.yaml")
HELP = "serve a graph to browsers over WebRTC"


# argparse types: a value out of range is refused when the command line is read (exit 2,
# naming the flag), not found out by the first client (a port of 70000, a prefetch the
# jitter buffer never reaches, a message rate of 0 that refuses every message).

def _timeout(text: str) -> int:
    """A duration above zero."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration above 0, got {text!r}")
    return value


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer from ``low`` to ``high`` (inclusive; no upper bound if None)."""
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {text!r}"
                                             ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {value}")
        return value

    return integer


def _rate(text: str) -> float:
    """A finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", nargs="?", help="graph YAML, or the name of a packaged graph "
                   "(default: graphs/assistant_webrtc.yaml here, else the packaged "
                   "assistant_webrtc, else echo_webrtc)")
    p.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    p.add_argument("--port", type=_integer(0, 65535), default=8080,
                   help="HTTP port (default 8080; 0: any)")
    p.add_argument("--ice-host", action="append", metavar="IP",
                   help="offer only this address as an ICE host candidate (repeatable); "
                   "127.0.0.1 for loopback, which ICE never offers by default")
    p.add_argument("--token", default=os.environ.get("MICROTURN_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' on POST /offer, GET /sessions "
                   "and DELETE /sessions/ID; / , /metrics and /healthz stay open "
                   "(default: $MICROTURN_TOKEN)")
    p.add_argument("--max-sessions", type=_integer(1), default=8,
                   help="sessions at once (503 beyond)")
    p.add_argument("--idle-timeout", type=_timeout, default=30 * S, metavar="DURATION",
                   help="close a session when the client sent nothing for this long (30s)")
    p.add_argument("--connect-timeout", type=_timeout, default=10 * S, metavar="DURATION",
                   help="close a session whose connection is not up this long after its "
                   "answer, so that offers that never connect cannot hold every slot (10s)")
    p.add_argument("--max-body", type=_integer(1), default=64 * 1024, metavar="BYTES",
                   help="largest request body accepted (413 beyond)")
    p.add_argument("--max-message", type=_integer(1), default=4096, metavar="BYTES",
                   help="largest data-channel message accepted from a client")
    p.add_argument("--message-rate", type=_rate, default=20.0, metavar="PER_S",
                   help="data-channel messages per second a client may send (average)")
    p.add_argument("--jitter-prefetch", type=_integer(0, AUDIO_JITTER_CAPACITY - 1), default=1,
                   metavar="PACKETS",
                   help="inbound audio packets aiortc's jitter buffer holds before playing "
                   f"(aiortc's own default is 4, i.e. 80 ms; 0 keeps aiortc's; at most "
                   f"{AUDIO_JITTER_CAPACITY - 1})")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a node parameter")
    p.add_argument("--log-level", default="info", type=str.lower,
                   choices=["debug", "info", "warning", "error"],
                   help="what the server logs on stderr (%(default)s)")


def _graph_path(arg: str | None) -> Path:
    if arg:
        return resolve(arg)
    for candidate in DEFAULT_GRAPHS:
        if Path(candidate).exists():
            return Path(candidate)
    packaged = packaged_graphs()
    for candidate in DEFAULT_GRAPHS:
        if Path(candidate).stem in packaged:
            return packaged[Path(candidate).stem].path
    raise FlowError(f"no graph given, none of {', '.join(DEFAULT_GRAPHS)} exists here, and no "
                    "installed package ships one of that name")


def no_browser(graph: Graph) -> str | None:
    """A warning for a graph that no browser can talk to: it has no ``webrtc.*`` node."""
    if any(d.type_name.startswith("webrtc.") for d in graph.nodes.values()):
        return None
    return (f"graph {graph.name} has no webrtc.* node: a browser can neither send to it nor "
            "hear it (serve graphs/assistant_webrtc.yaml or echo_webrtc.yaml)")


async def serve(args: argparse.Namespace) -> None:
    from ..loader import load_graph

    webrtc = [("aiohttp", "aiohttp", "webrtc"), ("aiortc", "aiortc", "webrtc")]
    for lacking in missing(webrtc, __name__):
        raise lacking  # rather than a traceback at the import below
    from . import ice
    from .app import make_app, start
    from .sessions import Limits, SessionManager

    graph = load_graph(_graph_path(args.graph), overrides=args.set or None)
    if (warning := no_browser(graph)) is not None:
        log.warning("%s", warning)
    if args.ice_host:
        ice.restrict_host_candidates(args.ice_host)
    limits = Limits(max_sessions=args.max_sessions, idle_timeout=args.idle_timeout,
                    connect_timeout=args.connect_timeout,
                    max_message_bytes=args.max_message, message_rate=args.message_rate,
                    message_burst=max(1, int(args.message_rate * 2)),
                    jitter_prefetch=args.jitter_prefetch or None)
    manager = SessionManager(graph, limits=limits)
    app = make_app(manager, token=args.token, max_body=args.max_body)
    runner, (host, port) = await start(app, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too: a closed terminal or a supervisor's reload must drain like a stop (each
    # client told why), not kill the process under its sessions; unless it is ignored, as
    # `nohup` asks, so that the server outlives the terminal.
    def signalled() -> None:
        if stop.is_set():  # a second one: the operator will not wait for the drain
            print("a second signal: exiting without waiting for the sessions",
                  file=sys.stderr, flush=True)
            os._exit(1)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if sig is not signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN:
            loop.add_signal_handler(sig, signalled)
    # Everything loaded so far (modules, the graph) lives as long as the server: move it out
    # of the collector's view, so that a full collection, which stalls every session's
    # audio at once, walks only the sessions' objects (measured: ~65k objects, 20-30 ms).
    gc.freeze()
    # Only now: whoever reads this line may signal at once and must get a graceful stop.
    print(f"serving {graph.name} on http://{host}:{port}/", flush=True)
    try:
        await stop.wait()
    finally:
        print("shutting down: closing every session", file=sys.stderr, flush=True)
        await runner.cleanup()
        print(f"closed {manager.closed['shutdown']} session(s) at shutdown; "
              f"{manager.opened} served in all", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..clock import run as run_loop

    level = logging.getLevelNamesMapping()[args.log_level.upper()]
    if verbose := getattr(args, "verbose", 0):  # `microturn -v serve`: the more verbose
        level = min(level, logging.DEBUG if verbose > 1 else logging.INFO)
    log_to_stderr(level, names=True)
    if args.log_level != "debug":  # aioice logs every connectivity check at info
        logging.getLogger("aioice").setLevel(logging.WARNING)
    try:
        run_loop(serve(args))
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microturn serve", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
