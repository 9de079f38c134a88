"""The worker process's side of ``worker.RecognizerProcess``: serve one ``Recognizer``
over a connection until the parent closes it.

Runs in a fresh interpreter started by ``worker._BOOT``, which stands in for the packages
above this module so that their ``__init__`` (the engine, ``flow``) is not imported: this
module and what it imports (``recognizer``: numpy and pocketsphinx) are all the worker
loads. Protocol: the first message is ``("start", kwargs)`` for ``Recognizer(**kwargs)``;
then ``(call, *args)`` for ``feed`` (raw float32 bytes, pts), ``flush``, ``set_grammar``,
``unknown_words`` and ``add_pronunciations``. Each is answered ``("ok", result)``
(hypotheses as plain tuples) or ``("error", (type name, message, traceback))``. EOF on the
connection ends the worker.
"""

from __future__ import annotations

import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .recognizer import Hypothesis

HypTuple = tuple[str, tuple[tuple[str, int, int], ...], int, int, bool, int]


def main(fd: int) -> None:
    """Serve the connection on file descriptor ``fd``. SIGINT is ignored (``_BOOT`` sets
    that first): a Ctrl-C is the parent's to handle, and the worker ends when the parent
    closes the pipe or dies."""
    conn = Connection(fd)
    try:
        _serve(conn)
    finally:
        conn.close()


def _serve(conn: Connection) -> None:
    try:
        _, kwargs = conn.recv()
    except (EOFError, OSError):
        return
    try:
        from .recognizer import Recognizer

        rec = Recognizer(**kwargs)
    except Exception as exc:
        _reply_error(conn, exc)
        return
    if not _reply(conn, ("ok", rec.sample_rate)):
        return
    while True:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed its end, or died
        try:
            if op == "feed":
                raw, pts = args
                result: Any = plain(rec.feed(np.frombuffer(raw, np.float32), pts))
            elif op == "flush":
                result = plain(rec.flush())
            elif op == "set_grammar":
                rec.set_grammar(args[0])
                result = None
            elif op == "unknown_words":
                result = rec.unknown_words(set(args[0]))
            elif op == "add_pronunciations":
                rec.add_pronunciations(args[0])
                result = None
            else:
                raise ValueError(f"unknown call {op!r}")
        except Exception as exc:
            if not _reply_error(conn, exc):
                return
            continue
        if not _reply(conn, ("ok", result)):
            return


def plain(hyps: list[Hypothesis]) -> list[HypTuple]:
    """Hypotheses as plain tuples: cheap to pickle, and unpickling them in the parent
    needs no import of the recogniser's module."""
    return [(h.text, tuple((w.text, w.start, w.end) for w in h.words), h.start, h.end,
             h.final, h.at) for h in hyps]


def _reply(conn: Connection, msg: tuple[str, Any]) -> bool:
    try:
        conn.send(msg)
    except OSError:
        return False  # the parent is gone
    return True


def _reply_error(conn: Connection, exc: Exception) -> bool:
    return _reply(conn, ("error", (type(exc).__name__, str(exc), traceback.format_exc())))
