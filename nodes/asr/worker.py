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
fork of this process, which has threads) running ``worker_main``, which holds its own
``Recognizer(**kwargs)`` and imports nothing else of microturn's. Every
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
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from flow.errors import FlowError

if TYPE_CHECKING:
    from .recognizer import Hypothesis
    from .worker_main import HypTuple

#: Waits for the worker (real seconds). Loading the model takes ~0.5 s on an idle core;
#: a loaded 2-core machine starting many sessions at once needs far more.
START_TIMEOUT = 120.0
CALL_TIMEOUT = 60.0  #: a feed takes milliseconds; a minute means the worker is stuck
CLOSE_TIMEOUT = 2.0


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
                [sys.executable, "-c", _BOOT, str(child.fileno()),
                 os.path.dirname(os.path.abspath(__file__)), *sys.path],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may be a benchmark's one JSON line
                env=_one_thread(os.environ))
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

    def add_pronunciations(self, pronunciations: dict[str, tuple[str, ...]]) -> None:
        self._call("add_pronunciations", pronunciations)

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


def _hypotheses(raw: list[HypTuple]) -> list[Hypothesis]:
    from .recognizer import Hypothesis, Word

    return [Hypothesis(text, tuple(Word(*w) for w in words), start, end, final, at)
            for text, words, start, end, final, at in raw]


def _one_thread(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: numpy's BLAS on one thread unless the user said otherwise.

    A worker decodes one stream; its numpy work (the word check's network) is a few small
    matrix products per hypothesis. Measured on the 2-core machine with another process
    busy: ten words took 16 ms with BLAS's default threads, which spin against the decoder
    and the other sessions' workers, and 2.2 ms on one thread."""
    env = dict(environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


#: The worker's command line: ``python -c _BOOT FD PACKAGE_DIR PATH...``.
#:
#: A fresh interpreter rather than multiprocessing's ``spawn``, which re-runs the parent's
#: ``__main__`` script in the child: that fails for a script without an ``if __name__ ==
#: "__main__"`` guard (measured: "An attempt has been made to start a new process before
#: ... bootstrapping") and costs the script's imports. The parent's ``sys.path`` comes
#: along so the same code is found. The packages above ``worker_main`` are stood in for by
#: empty modules with their real ``__path__``: their ``__init__`` imports the engine
#: (``flow``, 0.1 s idle and 0.3-0.4 s on a loaded machine, a third of a worker's start),
#: which the worker does not use.
_BOOT = """\
import os, signal, sys, types
signal.signal(signal.SIGINT, signal.SIG_IGN)
fd, here = int(sys.argv[1]), sys.argv[2]
sys.path[:0] = sys.argv[3:]
name, folder = "__PACKAGE__", here
while name:
    package = types.ModuleType(name)
    package.__path__ = [folder]
    sys.modules[name] = package
    name, folder = name.rpartition(".")[0], os.path.dirname(folder)
from __PACKAGE__.worker_main import main
main(fd)
""".replace("__PACKAGE__", __package__ or "nodes.asr")
