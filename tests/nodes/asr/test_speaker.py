"""Adapting the ears to the speaker during a session: what is kept of the speech, the
adaptation in its own process, and the node swapping the adapted recogniser in."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from flow import FlowError
from flow.testing import run_node
from nodes.asr import speaker
from nodes.asr.speaker import SpeakerSpeech, adapt_to_speaker
from nodes.types import Heard

from .conftest import PERIOD, RATE, chunks, speech, timeline

S = 1_000_000_000
MS = 1_000_000
STEP = RATE // 5


def ramp_fed(speaker: SpeakerSpeech, seconds: float) -> np.ndarray:
    """Feed ``seconds`` of a ramp (sample k has the value k) in micro-turns; return it."""
    audio = np.arange(int(seconds * RATE), dtype=np.float32)
    for k in range(audio.size // STEP):
        speaker.audio(audio[k * STEP:(k + 1) * STEP], k * PERIOD)
    return audio


def test_a_final_keeps_its_words_and_its_audio_with_a_margin() -> None:
    speaker = SpeakerSpeech(every=2 * S, margin=100 * MS)
    audio = ramp_fed(speaker, 3.0)
    assert speaker.final("it  cost five dollars", 1 * S + 50 * MS, 2 * S)
    (got, text), = speaker.take()
    assert text == "it cost five dollars"
    np.testing.assert_array_equal(got, audio[int(0.95 * RATE):int(2.1 * RATE)])


def test_a_final_with_words_not_known_is_not_kept() -> None:
    speaker = SpeakerSpeech(every=2 * S)
    ramp_fed(speaker, 3.0)
    assert not speaker.final("it cost … dollars", 1 * S, 2 * S)  # no transcript to align
    assert speaker.take() == []


def test_adaptation_is_due_after_every_stretch_of_speech_and_take_counts_again() -> None:
    speaker = SpeakerSpeech(every=2 * S)
    ramp_fed(speaker, 6.0)
    assert speaker.final("start the stopwatch", 0, 1 * S) and not speaker.due
    assert speaker.final("stop", 2 * S, 3 * S + 500 * MS) and speaker.due
    assert len(speaker.take()) == 2 and not speaker.due
    assert speaker.final("stop", 4 * S, 5 * S)
    assert not speaker.due and len(speaker.take()) == 3  # everything kept is adapted on


def test_only_the_most_recent_speech_is_kept() -> None:
    speaker = SpeakerSpeech(every=1 * S, keep=2 * S)
    ramp_fed(speaker, 6.0)
    for k in range(5):
        speaker.final(f"word{k}", k * S, k * S + 900 * MS)
    assert [t for _, t in speaker.take()] == ["word3", "word4"]
    assert speaker.kept == 2 * 900 * MS


def test_nothing_is_kept_without_words_or_once_the_audio_is_gone() -> None:
    speaker = SpeakerSpeech(every=1 * S, ring=2 * S)
    ramp_fed(speaker, 5.0)
    assert not speaker.final("", 4 * S, 5 * S)
    assert not speaker.final("stop", 0, 1 * S)  # older than the ring
    assert speaker.final("stop", 4 * S, 4 * S + 500 * MS)
    with pytest.raises(ValueError, match="every <= keep"):
        SpeakerSpeech(every=60 * S, keep=30 * S)


def test_adapt_to_speaker_writes_a_model_in_another_process(tmp_path) -> None:
    from nodes.asr.adapt import BASE_MODEL

    texts = ["start the stopwatch", "it cost forty two dollars"]
    pairs = [(speech(t), t) for t in texts]
    report = adapt_to_speaker(pairs, BASE_MODEL, tmp_path / "m")
    assert report["utterances"] == 2 and report["aligned"] == 2 and report["frames"] > 100
    assert report["nice"] == min(os.nice(0) + speaker.NICE, 19)  # below the decoding
    assert {"means", "mdef", "feat.params"} <= set(os.listdir(tmp_path / "m"))
    with pytest.raises(RuntimeError, match="not in the pronunciation dictionary: blorp"):
        adapt_to_speaker([(speech("stop"), "blorp")], BASE_MODEL, tmp_path / "n")
    # A word the ears were given the phones of aligns with them.
    report = adapt_to_speaker([(speech("hello microturn"), "hello microturn")], BASE_MODEL,
                              tmp_path / "o",
                              pronunciations={"microturn": ("M AY K R OW T ER N",)},
                              accents=("h-dropping",))
    assert report["aligned"] == 1


TEXTS = ("there was a horse in the park", "it cost forty two dollars for lunch",
         "how many animals so far", "start the stopwatch", "set a timer for ten seconds")


def session(params: dict, texts: tuple[str, ...] = TEXTS) -> tuple[list[str], object]:
    params = {"acoustic_model": "espeak", "beam": 1e-80, **params}
    parts: list[str | float] = [0.4]
    for t in texts:
        parts += [t, 0.7]
    result = run_node("asr.pocketsphinx", params,
                      inputs={"chunks": chunks(timeline(*parts))}, pace="pts")
    finals = [h.text for h in result.of("heard", Heard) if h.final]
    return finals, result.session.nodes["node"]


@pytest.mark.parametrize("worker_process", [False, True])
def test_the_node_swaps_in_models_adapted_to_the_speaker(worker_process: bool) -> None:
    finals, node = session({"speaker_adaptation": True, "adapt_every": "3s",
                            "worker_process": worker_process})
    assert finals == list(TEXTS)  # no utterance lost or cut where the recogniser changed
    assert node.adaptations >= 2
    assert node._models is not None and not os.path.exists(node._models)  # cleaned up


def test_without_speaker_adaptation_nothing_is_kept() -> None:
    finals, node = session({"worker_process": False}, TEXTS[:2])
    assert finals == list(TEXTS[:2])
    assert node.adaptations == 0 and node._speaker is None


def test_a_failed_adaptation_is_logged_and_the_session_goes_on(monkeypatch, caplog) -> None:
    def fail(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("adapting to the speaker failed: the disk is full")

    monkeypatch.setattr(speaker, "adapt_to_speaker", fail)
    with caplog.at_level(logging.WARNING):
        finals, node = session({"speaker_adaptation": True, "adapt_every": "2s",
                                "worker_process": False})
    assert finals == list(TEXTS)
    assert node.adaptations == 0
    assert "adapting to the speaker failed: the disk is full" in caplog.text


def test_a_bad_adaptation_interval_names_its_field() -> None:
    with pytest.raises(FlowError, match=r"every <= keep.* - at with.adapt_every"):
        run_node("asr.pocketsphinx", {"speaker_adaptation": True, "adapt_every": "10min"},
                 inputs={"chunks": []})
    with pytest.raises(FlowError, match=r"at with.adapt_every"):
        run_node("asr.pocketsphinx", {"speaker_adaptation": True, "adapt_every": "soon"},
                 inputs={"chunks": []})


def test_a_session_that_ends_while_adapting_kills_the_adaptation(monkeypatch) -> None:
    """On the real clock: the adaptation starts after the first utterance and would take
    two minutes; the session ends a few seconds later and does not wait for it. (On the
    virtual clock time stands still while it runs, so a session would wait for it.)"""
    import asyncio
    import subprocess
    import sys

    from flow import Graph, RealClock
    from flow.testing import run_graph_async

    children: list[subprocess.Popen[str]] = []

    def slow(pairs, base, out, timeout, started, *dictionary) -> dict:  # type: ignore[no-untyped-def]
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 text=True)
        children.append(child)
        started(child)
        child.wait()
        raise RuntimeError("adapting to the speaker failed: killed")

    monkeypatch.setattr(speaker, "adapt_to_speaker", slow)
    audio = timeline(0.4, "it cost forty two dollars", 0.8,
                     "we saw a dog near the farm and then we saw a cat in the park", 0.6)
    graph = Graph.build("t", {"node": ("asr.pocketsphinx", {
        "acoustic_model": "espeak", "worker_process": False, "speaker_adaptation": True,
        "adapt_every": "1s"})}, [])
    result = asyncio.run(run_graph_async(graph, {"node.chunks": chunks(audio)},
                                         ["node.heard"], pace="pts", clock=RealClock()))
    finals = [h.text for h in result.outputs["node.heard"] if h.final]
    assert finals[:1] == ["it cost forty two dollars"] and len(finals) == 2
    assert len(children) == 1 and children[0].wait(5) == -9  # killed, not waited for
