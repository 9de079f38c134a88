"""A ``Recognizer`` in a worker process: decoding off this interpreter's GIL.

    rec = RecognizerProcess(pause=240 * MS)  # launches the worker, which loads the model
    rec.wait_ready()                         # (or the first call waits for it)
    rec.set_grammar(jsgf)
    hyps = rec.feed(samples, pts)            # the same Hypothesis list as in-process
    rec.close()

Why: pocketsphinx holds the GIL while it decodes (20-80 ms per 200 ms micro-turn of
speech), so decoding in a thread still stalls the event loop that paces every session,
and the stalls of several sessions add up (bench/README.md, ``## webrtc``). In its own
process the decoder runs beside the loop, on another core when there is one.

Contract: one long-lived process per ``RecognizerProcess``, a fresh interpreter (never a
fork of this process, which has threads) holding its own ``Recognizer(**kwargs)``. Every
method is a blocking round trip over a ``multiprocessing.Pipe``: call them from a thread
(``clock.run_blocking``), where the wait in ``recv`` releases the GIL. Audio travels as
raw float32 bytes, hypotheses come back as plain tuples and are rebuilt as
``Hypothesis``/``Word``, so results equal in-process decoding exactly. One caller at a
time (like ``Recognizer``).

Failure: an exception in the worker comes back as ``WorkerError`` naming the call and the
remote exception (its traceback as a note); the worker keeps serving. A worker that died
or stopped answering raises ``WorkerError`` too, and is not restarted (its decoder state
is gone: the caller's session ends). Lifetime: ``close()`` ends the worker (politely, then
by force) and reaps it; the worker also exits by itself when its end of the pipe closes,
so a parent that crashes or is killed leaves no process behind. It ignores SIGINT (a
Ctrl-C in the terminal is the parent's to handle).
"""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from flow.errors import FlowError

if TYPE_CHECKING:
    from .recognizer import Hypothesis

#: Waits for the worker (real seconds). Loading the model takes ~0.5 s on an idle core;
#: a loaded 2-core machine starting many sessions at once needs far more.
START_TIMEOUT = 120.0
CALL_TIMEOUT = 60.0  #: a feed takes milliseconds; a minute means the worker is stuck
CLOSE_TIMEOUT = 2.0

_HypTuple = tuple[str, tuple[tuple[str, int, int], ...], int, int, bool]


class WorkerError(FlowError, RuntimeError):
    """The recogniser's worker process failed a call, died, or stopped answering."""


class RecognizerProcess:
    """``Recognizer(**kwargs)`` in its own process, with the same calls (blocking)."""

    def __init__(self, *, call_timeout: float = CALL_TIMEOUT, **kwargs: Any) -> None:
        """Launch the worker (a few ms) and hand it ``kwargs`` for its ``Recognizer``; it
        loads the model meanwhile. ``wait_ready()`` (or the first call) waits for that."""
        self._timeout = call_timeout
        self._lock = threading.Lock()  # one round trip at a time; close() waits for it
        self._closed = False
        self._ready = False
        self._conn, child = multiprocessing.Pipe(duplex=True)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(child.fileno()), *sys.path],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL)  # stdout may be a benchmark's one JSON line
        except BaseException:
            self._conn.close()
            raise
        finally:
            child.close()  # only the worker holds its end: its death reads as EOF here
        self.pid: int = self._process.pid
        self.sample_rate: int = int(kwargs.get("sample_rate", 16000))
        try:
            self._conn.send(("start", kwargs))
        except OSError:
            pass  # the worker died at once: wait_ready() says how

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the worker's ``Recognizer`` is built (the model loaded). Raises
        ``WorkerError`` if it could not be built (the worker then exits; ``close()``
        still reaps it)."""
        if not self._ready:
            self.sample_rate = self._call("start", timeout=timeout)
            self._ready = True

    # -- the Recognizer's calls --------------------------------------------------------------

    def feed(self, samples: np.ndarray, pts: int) -> list[Hypothesis]:
        raw = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        return _hypotheses(self._call("feed", raw, pts))

    def flush(self) -> list[Hypothesis]:
        return _hypotheses(self._call("flush"))

    def set_grammar(self, jsgf: str) -> None:
        self._call("set_grammar", jsgf)

    def unknown_words(self, words: set[str]) -> list[str]:
        result: list[str] = self._call("unknown_words", sorted(words))
        return result

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """End the worker and wait for it. Safe to call twice, and while a call is in
        flight in another thread (a cancelled session): the worker is killed so that the
        call returns at once with an error, then the pipe is closed."""
        if self._closed:
            return
        self._closed = True
        if not self._lock.acquire(blocking=False):
            self._process.kill()
            self._lock.acquire()
        try:
            self._conn.close()  # the worker reads EOF and exits
        finally:
            self._lock.release()
        try:
            self._process.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> RecognizerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the round trip ------------------------------------------------------------------------

    def _call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        """One round trip: send ``(op, *args)``, wait for the answer. ``op == "start"``
        only reads the answer to the message ``__init__`` sent."""
        if op != "start" and not self._ready:
            self.wait_ready()
        wait = self._timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                raise WorkerError(f"asr worker (pid {self.pid}): {op}() after close()")
            try:
                if op != "start":
                    self._conn.send((op, *args))
                if not self._conn.poll(wait):
                    self._process.kill()
                    raise WorkerError(f"asr worker (pid {self.pid}): no answer to {op}() "
                                      f"within {wait:g} s; killed it")
                reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerError(f"asr worker (pid {self.pid}) died during {op}() "
                                  f"({self._death()})") from exc
        status, value = reply
        if status == "ok":
            return value
        kind, message, remote_tb = value
        err = WorkerError(f"asr worker (pid {self.pid}): {op}() failed: {kind}: {message}")
        err.add_note(f"in the worker:\n{remote_tb}")
        raise err

    def _death(self) -> str:
        try:
            code = self._process.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "its pipe closed"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


def _hypotheses(raw: list[_HypTuple]) -> list[Hypothesis]:
    from .recognizer import Hypothesis, Word

    return [Hypothesis(text, tuple(Word(*w) for w in words), start, end, final)
            for text, words, start, end, final in raw]


def _plain(hyps: list[Hypothesis]) -> list[_HypTuple]:
    return [(h.text, tuple((w.text, w.start, w.end) for w in h.words), h.start, h.end,
             h.final) for h in hyps]


#: The worker's command line: ``python -c _BOOT FD PATH...``. A fresh interpreter rather
#: than multiprocessing's ``spawn``, which re-runs the parent's ``__main__`` script in the
#: child: that fails for a script without an ``if __name__ == "__main__"`` guard (measured:
#: "An attempt has been made to start a new process before ... bootstrapping") and costs
#: the script's imports. The parent's ``sys.path`` comes along so the same code is found.
_BOOT = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
         "sys.path[:] = sys.argv[2:] + sys.path; "
         f"from {__name__} import main; main(int(sys.argv[1]))")


def main(fd: int) -> None:
    """The worker process: serve the connection on file descriptor ``fd``. SIGINT is
    ignored (set first thing in ``_BOOT``): a Ctrl-C is the parent's to handle, and the
    worker ends when the parent closes the pipe."""
    conn = Connection(fd)
    try:
        _serve(conn)
    finally:
        conn.close()


def _serve(conn: Connection) -> None:
    """Build the Recognizer (the first message carries its arguments), then answer calls
    until EOF."""
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
                result: Any = _plain(rec.feed(np.frombuffer(raw, np.float32), pts))
            elif op == "flush":
                result = _plain(rec.flush())
            elif op == "set_grammar":
                rec.set_grammar(args[0])
                result = None
            elif op == "unknown_words":
                result = rec.unknown_words(set(args[0]))
            else:
                raise ValueError(f"unknown call {op!r}")
        except Exception as exc:
            if not _reply_error(conn, exc):
                return
            continue
        if not _reply(conn, ("ok", result)):
            return


def _reply(conn: Connection, msg: tuple[str, Any]) -> bool:
    try:
        conn.send(msg)
    except OSError:
        return False  # the parent is gone
    return True


def _reply_error(conn: Connection, exc: Exception) -> bool:
    return _reply(conn, ("error", (type(exc).__name__, str(exc), traceback.format_exc())))
