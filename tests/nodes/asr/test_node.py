"""asr.pocketsphinx as a node on a fake clock: Heard out, vocabulary control, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from flow import AudioFrame, FakeClock, FlowError, Graph, NodeFailed, ParamError, Session
from flow.testing import harness, run_node
from nodes.asr import SetVocabulary
from nodes.types import Chunk, Heard

from .conftest import PERIOD, RATE, chunks, timeline


def test_partials_then_final_with_media_times() -> None:
    audio = timeline(0.4, "start the stopwatch", 0.8, "no wait it was thirty dollars", 0.8)
    result = run_node("asr.pocketsphinx", {}, inputs={"chunks": chunks(audio)}, pace="pts")
    heard = result.of("heard", Heard)
    finals = [h for h in heard if h.final]
    assert [h.text for h in finals] == ["start the stopwatch", "no wait it was thirty dollars"]
    assert all(h.role == "user" for h in heard)
    assert not heard[0].final and heard[0].text  # a partial came before the first final
    for h in finals:
        assert h.start <= h.words[0][1] < h.words[-1][2] <= h.end
        assert h.text == " ".join(w for w, _, _ in h.words)
    # Emitted as the micro-turns are decoded: never before the audio they describe.
    for h, t in zip(heard, result.times["heard"], strict=True):
        assert t >= h.end - PERIOD
    # pts is when it was known: a micro-turn's end; for a final, past the word it ends on
    # (the pause that closed it had to be heard), so a deadline counted from pts is fair.
    assert all(h.pts % PERIOD == 0 and h.pts >= h.end for h in heard)
    assert all(h.pts > h.end for h in finals)


def test_audio_frames_int16_work_like_chunks() -> None:
    audio = timeline(0.4, "start the stopwatch", 0.6)
    pcm = (audio * 32767).astype(np.int16)
    frames = [AudioFrame(pts=k * PERIOD // 2, samples=pcm[k * 1600:(k + 1) * 1600],
                         sample_rate=RATE) for k in range(len(pcm) // 1600)]
    result = run_node("asr.pocketsphinx", {}, inputs={"audio": frames}, pace="pts")
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["start the stopwatch"]


def test_sample_rate_mismatch_is_a_clear_error() -> None:
    wrong = Chunk(pts=0, index=0, period=PERIOD, audio=np.zeros(1600, np.float32),
                  sample_rate=8000)
    with pytest.raises(NodeFailed, match=r"8000 Hz but the ears need 16000 Hz") as info:
        run_node("asr.pocketsphinx", {}, inputs={"chunks": [wrong]})
    assert isinstance(info.value.exc, ParamError)


def test_wrong_model_rate_parameter() -> None:
    with pytest.raises(FlowError, match=r"needs 16000 Hz, got 8000 - at with.sample_rate"):
        run_node("asr.pocketsphinx", {"sample_rate": 8000}, inputs={"chunks": []})


def test_unknown_words_name_themselves() -> None:
    with pytest.raises(FlowError, match=r"not in the pronunciation dictionary: blorptastic"):
        run_node("asr.pocketsphinx", {"words": ["zebra", "blorptastic"]},
                 inputs={"chunks": []})


def test_yaml_words_stay_when_a_front_end_sends_its_own() -> None:
    from nodes.asr.params import Vocabulary

    v = Vocabulary(("stop",), ("dollars",), ("cat", "kangaroo"), (), ("okay",))
    new = v.updated(SetVocabulary(words=("dog",), keywords=("hello computer",)),
                    own_words=("kangaroo",))
    assert new.words == ("dog", "kangaroo")
    assert new.keywords == ("hello computer",)
    assert (new.phrases, new.number_contexts, new.fillers) == (("stop",), ("dollars",),
                                                               ("okay",))


def test_beam_must_be_a_probability() -> None:
    with pytest.raises(FlowError, match=r"beam must be between 0 and 1.*at with.beam"):
        run_node("asr.pocketsphinx", {"beam": 2.0}, inputs={"chunks": []})


def test_garbage_must_be_a_weight() -> None:
    with pytest.raises(FlowError, match=r"garbage must be a weight from 0.*at with.garbage"):
        run_node("asr.pocketsphinx", {"garbage": -0.5}, inputs={"chunks": []})


def test_word_check_must_be_a_file() -> None:
    with pytest.raises(FlowError, match=r"word_check 'nope.npz' is not a file.*at with.word_check"):
        run_node("asr.pocketsphinx", {"word_check": "nope.npz"}, inputs={"chunks": []})


def test_word_check_must_be_a_classifier(tmp_path) -> None:
    bogus = tmp_path / "notes.npz"
    bogus.write_text("not numbers")
    with pytest.raises(FlowError, match=r"notes.npz is not a word classifier's .npz.*"
                                        r"at with.word_check"):
        run_node("asr.pocketsphinx", {"word_check": str(bogus)}, inputs={"chunks": []})
    np.savez(tmp_path / "half.npz", words=np.array(["cat"]))
    with pytest.raises(FlowError, match=r"it lacks mu, sd, .*at with.word_check"):
        run_node("asr.pocketsphinx", {"word_check": str(tmp_path / "half.npz")},
                 inputs={"chunks": []})


def test_without_torch_auto_goes_without_the_word_check_and_espeak_names_torch(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """``pip install 'microturn[asr]'`` has no torch, which builds the word classifier: one
    already built is used (numpy alone runs it); with none, ``auto`` warns and hears without
    it, and asking for it by name says what to install."""
    import importlib.util

    from nodes.asr import wordcheck_build

    built = wordcheck_build.ensure()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else find_spec(name, *a))
    assert wordcheck_build.already_built() == built  # found without asking torch's version
    result = run_node("asr.pocketsphinx", {"acoustic_model": "espeak", "word_check": "espeak"},
                      inputs={"chunks": chunks(timeline(0.4, "start the stopwatch", 0.6))})
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["start the stopwatch"]
    monkeypatch.setattr(wordcheck_build, "already_built", lambda without=(): None)
    audio = timeline(0.4, "start the stopwatch", 0.6)
    with caplog.at_level("WARNING"):
        result = run_node("asr.pocketsphinx", {"acoustic_model": "espeak"},
                          inputs={"chunks": chunks(audio)})
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["start the stopwatch"]
    assert any("no word check" in r.getMessage() for r in caplog.records)
    with pytest.raises(NodeFailed, match=r"'torch' is not installed; install it with: pip "
                                         r"install 'torch'"):
        run_node("asr.pocketsphinx", {"acoustic_model": "espeak", "word_check": "espeak"},
                 inputs={"chunks": []})


def test_a_word_check_file_reaches_the_worker(tmp_path) -> None:
    """A classifier given as a file is used in the worker process, on finals."""
    from .test_wordcheck import rigged_npz

    check = rigged_npz(tmp_path / "bear.npz", ("bear", "the"), "bear")
    audio = timeline(0.4, "there was a dog in the garden", 0.8)
    result = run_node("asr.pocketsphinx", {"word_check": str(check)},
                      inputs={"chunks": chunks(audio)})
    assert [h.text for h in result.of("heard", Heard) if h.final] == \
        ["there was a dog in bear garden"]


def test_the_garbage_loop_reaches_the_worker_and_stays_after_a_new_vocabulary() -> None:
    """The weight is the node's: a front end's SetVocabulary rebuilds the grammar with it,
    and the worker process adds the loop's pseudo-words itself."""
    audio = timeline(0.4, "my sister went to the shop this morning", 1.0, "stop", 0.6)
    vocab = SetVocabulary(phrases=("stop",), number_contexts=(), words=())
    params = {"garbage": 0.01, "acoustic_model": "espeak", "beam": 1e-80}
    result = run_node("asr.pocketsphinx", params,
                      inputs={"control": [vocab], "chunks": chunks(audio)})
    finals = [h.text for h in result.of("heard", Heard) if h.final]
    assert "…" in finals[0].split() and "stop" in finals[-1].split()


def test_default_beam_still_hears_a_command() -> None:
    audio = timeline(0.4, "start the stopwatch", 0.6)
    result = run_node("asr.pocketsphinx", {"beam": 1e-48}, inputs={"chunks": chunks(audio)})
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["start the stopwatch"]


def test_recognition_never_waits_behind_the_shared_thread_pool() -> None:
    """Every thread of the loop's shared pool is busy (other sessions synthesising, say):
    the ears still hear, on their own thread. Only their close uses the shared pool."""
    audio = timeline(0.4, "start the stopwatch", 0.8)
    graph = Graph.build("t", {"node": ("asr.pocketsphinx", {})}, [])
    wrapped, stores, _ = harness(graph, {"node.chunks": chunks(audio)}, ["node.heard"])
    clock = FakeClock()
    busy = threading.Event()

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        occupied = loop.run_in_executor(None, busy.wait)
        task = asyncio.create_task(Session(wrapped, clock=clock).run())
        give_up = time.monotonic() + 60  # real seconds: only bounds a failing run
        try:
            while not any(h.final for h in stores["node.heard"]):  # type: ignore[attr-defined]
                assert time.monotonic() < give_up, "the ears waited for the shared pool"
                await asyncio.sleep(0)
        finally:
            busy.set()
        await occupied
        await task
        return [h.text for h in stores["node.heard"] if h.final]  # type: ignore[attr-defined]

    assert clock.run(main()) == ["start the stopwatch"]
