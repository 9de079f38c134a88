"""The recogniser in a worker process (``nodes.asr.worker``) and the ears node using it:
the same hypotheses as in-process decoding, vocabulary changes, errors, and no process
left behind however a session ends."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from flow import FakeClock, NodeFailed
from flow.graph import Graph
from flow.session import Session
from flow.testing import harness, run_node
from nodes.asr import SetVocabulary
from nodes.asr.grammar import build_grammar
from nodes.asr.recognizer import Hypothesis, Recognizer
from nodes.asr.worker import RecognizerProcess, WorkerError
from nodes.types import Heard

from .conftest import CHUNK, PERIOD, RATE, chunks, timeline

S = 1_000_000_000


def children() -> set[int]:
    """Live child processes of this test process (zombies count: nobody reaped them)."""
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            found.add(int(entry))
    return found


def worker_of(session: Session) -> RecognizerProcess:
    worker = getattr(session.nodes["ears"], "_worker", None)
    assert isinstance(worker, RecognizerProcess)
    return worker


def decode(rec: Recognizer | RecognizerProcess, audio: np.ndarray) -> list[Hypothesis]:
    out = []
    for k in range(len(audio) // CHUNK):
        out += rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
    return out + rec.flush()


def test_same_hypotheses_as_in_process() -> None:
    audio = timeline(0.4, "it cost a hundred and five dollars", 0.6, "start the stopwatch",
                     0.8)
    before = children()
    local = Recognizer(jsgf=build_grammar())
    with RecognizerProcess() as remote:
        assert remote.pid in children() - before
        remote.set_grammar(build_grammar())
        got = decode(remote, audio)
    assert got == decode(local, audio)
    assert [h.text for h in got if h.final] == ["it cost a hundred and five dollars",
                                                "start the stopwatch"]
    final = next(h for h in got if h.final)
    assert type(final).__name__ == "Hypothesis" and type(final.words[0]).__name__ == "Word"
    assert children() == before


def test_node_in_a_worker_matches_the_node_in_a_thread() -> None:
    audio = timeline(0.4, "no wait it was thirty dollars", 0.8)
    # The espeak-adapted model: the default one hears this clip right or as "... dollars i"
    # depending on what espeak synthesised before in the process (nodes/espeak.py).
    runs = [run_node("asr.pocketsphinx", {"worker_process": proc, "acoustic_model": "espeak"},
                     inputs={"chunks": chunks(audio)}, pace="pts") for proc in (True, False)]
    (a, b) = runs
    assert a.outputs["heard"] == b.outputs["heard"]
    assert a.times["heard"] == b.times["heard"]
    assert [h.text for h in a.of("heard", Heard) if h.final] == [
        "no wait it was thirty dollars"]


def said_twice_with_a_change(text: str, fillers: list[str], worker_process: bool,
                             **change: Any) -> list[str]:
    """The finals of ``text`` said twice, with a ``SetVocabulary(**change)`` between."""
    say = timeline(0.4, text, 1.0)
    n = len(say) // CHUNK
    feed = chunks(say) + chunks(say, first=n)
    control = SetVocabulary(pts=feed[n].pts - PERIOD // 2, **change)
    params = {"phrases": ["start the stopwatch"], "fillers": fillers,
              "worker_process": worker_process}
    result = run_node("asr.pocketsphinx", params,
                      inputs={"chunks": feed, "control": [control]}, pace="pts")
    return [h.text for h in result.of("heard", Heard) if h.final]


@pytest.mark.parametrize("worker_process", [True, False])
def test_vocabulary_changes_while_running(worker_process: bool) -> None:
    """A SetVocabulary reaches the decoder (in its worker, or in this process) and takes
    effect at the next utterance."""
    before = children()
    # "blorptastic" is not in the dictionary: dropped with a warning, the rest applies.
    finals = said_twice_with_a_change("hello computer", ["okay"], worker_process,
                                      keywords=("hello computer", "blorptastic"))
    assert len(finals) == 2
    assert finals[0] != "hello computer"
    assert finals[1] == "hello computer"
    assert children() == before  # teardown ended the worker


def test_an_error_in_the_worker_comes_back_and_the_worker_goes_on() -> None:
    with RecognizerProcess() as rec:
        with pytest.raises(WorkerError, match=r"set_grammar\(\) failed: ValueError") as info:
            rec.set_grammar("this is not JSGF")
        assert any("Traceback" in note for note in info.value.__notes__)
        assert rec.unknown_words({"zebra", "blorptastic"}) == ["blorptastic"]
        assert rec.alive


def test_the_worker_runs_numpy_on_one_thread_unless_told_otherwise(monkeypatch) -> None:
    def environ(pid: int) -> dict[str, str]:
        with open(f"/proc/{pid}/environ", "rb") as f:
            pairs = [kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv]
        return {k.decode(): v.decode() for k, v in pairs}

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    with RecognizerProcess() as rec:
        rec.wait_ready()
        env = environ(rec.pid)
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert env["MKL_NUM_THREADS"] == "2"  # the user's own setting stands
    assert env["PATH"] == os.environ["PATH"]


def test_a_recognizer_that_cannot_be_built_is_an_error_at_start() -> None:
    before = children()
    rec = RecognizerProcess(sample_rate=8000)
    with pytest.raises(WorkerError, match=r"start\(\) failed: ValueError: .*16000 Hz"):
        rec.wait_ready()
    rec.close()
    assert children() == before


def test_a_worker_that_dies_ends_its_session_only() -> None:
    """Two sessions on one loop; one's worker is killed mid-speech: that session fails
    with a ``WorkerError`` saying so, the other hears everything, no process is left."""
    audio = timeline(0.4, "start the stopwatch", 0.6, "stop", 0.6)
    graph = Graph.build("ears", {"ears": ("asr.pocketsphinx", {"worker_process": True})}, [])
    clock = FakeClock()
    before = children()

    async def main() -> tuple[list[BaseException | None], list[Heard]]:
        runs = [harness(graph, {"ears.chunks": chunks(audio)}, pace="pts") for _ in "ab"]
        sessions = [Session(g, clock=clock, id=name)
                    for (g, _, _), name in zip(runs, "ab", strict=True)]
        tasks = [asyncio.create_task(s.run()) for s in sessions]
        await clock.sleep_until(S)  # media time 1 s: "start the stopwatch" is being decoded
        victim = worker_of(sessions[0])
        assert victim.alive and children() - before == {worker_of(s).pid for s in sessions}
        os.kill(victim.pid, signal.SIGKILL)
        done = await asyncio.gather(*tasks, return_exceptions=True)
        return list(done), [h for h in runs[1][1]["ears.heard"] if isinstance(h, Heard)]

    (failed, ok), heard_b = clock.run(main())
    assert isinstance(failed, NodeFailed) and failed.node_id == "ears"
    assert isinstance(failed.exc, WorkerError)
    assert "died during feed()" in str(failed) and "SIGKILL" in str(failed)
    assert ok is None
    assert [h.text for h in heard_b if h.final] == ["start the stopwatch", "stop"]
    assert children() == before


def _stop_once_the_worker_runs(graph: Graph, started: Callable[[Session], Awaitable[None]],
                               ) -> None:
    """Run ``graph`` until ``started`` returns, check its one worker is up, stop the
    session: it ends (stopped) and no worker is left."""
    clock = FakeClock()
    before = children()

    async def main() -> None:
        session = Session(graph, clock=clock)
        task = asyncio.create_task(session.run())
        await started(session)
        assert len(children() - before) == 1
        session.stop()
        await task

    clock.run(main())
    assert children() == before


def test_a_cancelled_session_leaves_no_worker() -> None:
    audio = timeline(0.4, "start the stopwatch", 0.6)
    graph = Graph.build("ears", {"ears": ("asr.pocketsphinx", {"worker_process": True})}, [])
    g, _, _ = harness(graph, {"ears.chunks": chunks(audio)}, pace="pts")

    async def decoding(session: Session) -> None:
        await session.context.clock.sleep_until(S // 2)

    _stop_once_the_worker_runs(g, decoding)


def test_a_session_cancelled_while_the_model_loads_leaves_no_worker() -> None:
    graph = Graph.build("ears", {"ears": ("asr.pocketsphinx", {"worker_process": True})}, [])

    async def launched(session: Session) -> None:
        ears = session.nodes["ears"]
        for _ in range(100):  # a few turns of the loop: setup() launches, then awaits the model
            if getattr(ears, "_worker", None) is not None:
                break
            await asyncio.sleep(0)

    _stop_once_the_worker_runs(graph, launched)


def test_close_during_a_call_ends_the_call_and_the_worker() -> None:
    """A cancelled session's teardown closes the worker while its last call may still be
    in flight in an executor thread: that call fails at once, nothing is left."""
    import threading

    audio = timeline(0.4, "it cost a hundred and five dollars for lunch", 0.4)
    before = children()
    rec = RecognizerProcess()
    rec.set_grammar(build_grammar())
    errors: list[BaseException] = []

    def long_call() -> None:
        try:
            rec.feed(np.tile(audio, 4), 0)  # one call of several seconds of speech
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=long_call)
    caller.start()
    rec.close()
    caller.join()
    assert len(errors) == 1 and isinstance(errors[0], WorkerError)
    assert re.search(r"died during feed\(\)|feed\(\) after close\(\)", str(errors[0]))
    assert children() == before


@pytest.mark.slow
def test_a_killed_parent_leaves_no_orphan() -> None:
    """Real time: a parent process is killed with SIGKILL (no teardown runs) and its
    worker must notice the closed pipe and exit by itself; that takes real seconds."""
    code = ("from nodes.asr.worker import RecognizerProcess\n"
            "rec = RecognizerProcess(); rec.wait_ready()\n"
            "print(rec.pid, flush=True)\n"
            "import sys; sys.stdin.read()\n")  # wait until killed
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        watch = os.pidfd_open(worker)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdin:
            parent.stdin.close()
        if parent.stdout:
            parent.stdout.close()
    try:
        exited, _, _ = select.select([watch], [], [], 30.0)  # readable once it has exited
    finally:
        os.close(watch)
    assert exited, f"worker {worker} outlived its killed parent"


def test_sample_rate_and_pid_are_known_before_ready() -> None:
    with RecognizerProcess() as rec:
        assert rec.sample_rate == RATE and rec.pid > 0
        rec.wait_ready()
        assert rec.alive
    assert not rec.alive
    with pytest.raises(WorkerError, match=r"after close\(\)"):
        rec.flush()


@pytest.mark.parametrize("worker_process", [True, False])
def test_a_new_wake_word_brings_its_pronunciation(worker_process: bool,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A keyword the dictionary lacks, sent while running with its phones, is heard from
    the next utterance on; a bad pronunciation in the same message is dropped alone."""
    finals = said_twice_with_a_change(
        "hello microturn", ["okay", "hello"], worker_process,
        keywords=("hello microturn", "hello blorp"),
        pronunciations={"microturn": "M AY K R OW T ER N", "blorp": "B L XX"})
    assert len(finals) == 2
    assert finals[0] != "hello microturn"
    assert finals[1] == "hello microturn"
    said = caplog.text
    assert "ignoring a pronunciation: the pronunciation of 'blorp' has 'XX'" in said
    assert "ignoring words not in the dictionary: blorp" in said
