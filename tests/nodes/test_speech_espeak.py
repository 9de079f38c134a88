"""speech.espeak: clause-by-clause streaming synthesis, timeline, pacing and barge-in.

Everything runs on the fake clock with real espeak-ng synthesis (virtual time stands still
while espeak runs on its thread, so times are exact and the tests never sleep).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flow import MS, AudioFrame, Graph, In, Interrupt, Node, NodeFailed, ParamError, S, TextDelta
from flow.testing import run_graph, run_node
from nodes import espeak, speech_espeak
from nodes.speech_espeak import ClauseSplitter, EspeakSpeech, Framer

SENTENCE = "Convert twenty dollars to euros."
LONG = ("I can do that, but first let me check today's rates; the market moved a lot, "
        "and the numbers from this morning might already be stale.")


def _frames(result, port: str = "audio") -> list[AudioFrame]:
    return result.of(port, AudioFrame)


def _assert_contiguous(frames: list[AudioFrame]) -> None:
    for a, b in itertools.pairwise(frames):
        assert b.pts >= a.pts + a.duration, (a.pts, b.pts)


def _voiced(frames: list[AudioFrame]) -> float:
    audio = np.concatenate([f.samples for f in frames])
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    return (loud[-1] - loud[0]) / frames[0].sample_rate


# -- clause splitting (sans-IO) -------------------------------------------------------------


def test_splitter_cuts_at_punctuation_as_text_streams() -> None:
    s = ClauseSplitter()
    assert s.push("Hello") == []
    assert s.push(" there, how") == ["Hello there,"]
    assert s.push(" are you?") == ["how are you?"]
    assert s.push(" It costs 3.") == []  # might be 3.5: wait for the next delta
    assert s.push("5 euros; fine") == ["It costs 3.5 euros;"]
    assert s.flush() == ["fine"]
    assert s.flush() == []


def test_splitter_newlines_long_runs_and_empty_clauses() -> None:
    s = ClauseSplitter(max_chars=30)
    assert s.push("one\ntwo") == ["one"]
    words = " ".join(["word"] * 20)
    clauses = s.push(" " + words)
    assert clauses and all(len(c) <= 30 for c in clauses)
    s.clear()
    assert s.push("... , ! ") == []  # nothing to say
    assert s.flush() == []


@given(st.lists(st.text(alphabet="ab ,.!?\n3", max_size=12), max_size=20))
def test_splitter_loses_no_words(deltas: list[str]) -> None:
    s = ClauseSplitter(max_chars=15)
    out: list[str] = []
    for d in deltas:
        out += s.push(d)
    out += s.flush()
    said = " ".join(out)
    text = "".join(deltas)
    assert "".join(c for c in said if c.isalnum()) == "".join(c for c in text if c.isalnum())


# -- framing (sans-IO) ----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [24000, 16000, 11025])
def test_framer_makes_exact_contiguous_frames(rate: int) -> None:
    f = Framer(rate)
    f.start(5 * S)
    rng = np.random.default_rng(0)
    total = 0
    frames: list[AudioFrame] = []
    for _ in range(50):
        block = rng.standard_normal(int(rng.integers(1, 2000))).astype(np.float32)
        total += block.size
        frames += f.push(block)
    last = f.finish()
    assert last is not None
    frames.append(last)
    assert all(fr.num_samples == rate * 20 // 1000 for fr in frames)
    assert frames[0].pts == 5 * S
    for i, fr in enumerate(frames):
        assert fr.pts == 5 * S + i * fr.num_samples * S // rate
    assert len(frames) == -(-total // frames[0].num_samples)
    end = f.end
    f.start(end)  # continuing: no re-anchoring
    assert f.push(np.zeros(frames[0].num_samples, np.float32))[0].pts == end


# -- the node -------------------------------------------------------------------------------


def test_speaks_a_sentence_of_plausible_length_as_20ms_frames() -> None:
    result = run_node(EspeakSpeech, {"pace": "fast"},
                      {"text": [TextDelta(text=SENTENCE, final=True)]})
    frames = _frames(result)
    assert all(f.sample_rate == 24000 and f.num_samples == 480 for f in frames)
    assert all(f.samples.dtype == np.float32 for f in frames)
    assert frames[0].pts == 0
    _assert_contiguous(frames)
    assert 1.0 < _voiced(frames) < 3.0
    duration = frames[-1].pts + frames[-1].duration
    assert duration < 3.5 * S


def test_realtime_pace_plays_on_the_clock_from_the_texts_pts() -> None:
    result = run_node(EspeakSpeech, {"sample_rate": 16000, "lead": "0ms"},
                      {"text": [TextDelta(pts=2 * S, text=SENTENCE, final=True)]}, pace="pts")
    frames, times = _frames(result), result.times["audio"]
    assert frames[0].pts == 2 * S
    assert all(f.num_samples == 320 for f in frames)
    _assert_contiguous(frames)
    # Each frame leaves exactly when its audio is due (lead 0): a speaker's schedule.
    assert times == [f.pts for f in frames]


def test_first_audio_streams_before_synthesis_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """espeak is held after its first block until the first frame is out: if the node
    waited for a clause (or a reply) to be synthesised whole, this would time out."""
    first_frame_out = threading.Event()
    stalled: list[bool] = []
    syntheses: list[str] = []
    real_stream = espeak.stream

    def held_stream(text, on_chunk, **kw):
        if not kw.get("end_pause"):  # setup()'s warm-up, not a clause
            return real_stream(text, on_chunk, **kw)
        syntheses.append(text)

        def gate(block):
            keep = on_chunk(block)
            # espeak cannot go on until this returns: hold it after its first block.
            if len(syntheses) == 1 and not stalled:
                stalled.append(not first_frame_out.wait(timeout=10))
            return keep

        return real_stream(text, gate, **kw)

    monkeypatch.setattr(espeak, "stream", held_stream)

    class Probe(Node):
        audio: In[AudioFrame]

        async def on_audio(self, frame: AudioFrame) -> None:
            first_frame_out.set()

    graph = Graph.build("g", {"tts": (EspeakSpeech, {"pace": "fast"}), "probe": (Probe, {})},
                        ["tts.audio -> probe.audio"])
    run_graph(graph, {"tts.text": [TextDelta(text=LONG, final=True)]})
    assert stalled and not any(stalled)
    assert len(syntheses) == 4  # clause by clause
    assert syntheses[0] == "I can do that,"


def test_speaks_each_clause_as_its_text_arrives() -> None:
    deltas = [TextDelta(pts=0, text="Sure, "), TextDelta(pts=3 * S, text="twenty dollars is "),
              TextDelta(pts=int(3.1 * S), text="about eighteen euros.", final=True)]
    result = run_node(EspeakSpeech, {}, {"text": deltas}, pace="pts")
    frames, times = _frames(result), result.times["audio"]
    first = [f for f in frames if f.pts < 3 * S]
    assert first and times[0] < 50 * MS  # "Sure," is out long before the rest arrives
    later = [f for f in frames if f.pts >= 3 * S]
    # The next clause starts when its text was complete (its comma-less start waited).
    assert later and later[0].pts == int(3.1 * S)
    _assert_contiguous(frames)


def test_interrupt_stops_within_one_micro_turn_and_drops_the_rest() -> None:
    inputs = [TextDelta(text=LONG + " " + LONG, final=True), Interrupt(pts=1 * S)]
    full = run_node(EspeakSpeech, {}, {"text": inputs[:1]}, pace="pts")
    full_end = _frames(full)[-1].pts
    assert full_end > 8 * S
    result = run_node(EspeakSpeech, {}, {"text": inputs}, pace="pts")
    frames = _frames(result)
    cut = result.of("audio", Interrupt)
    assert len(cut) == 1
    i_cut = result.outputs["audio"].index(cut[0])
    t_cut = result.times["audio"][i_cut]
    assert t_cut == 1 * S
    # Nothing sent after the interrupt, and nothing sent was due later than one
    # micro-turn after it (in fact at most the 20 ms lead).
    assert all(t <= t_cut for t in result.times["audio"][:i_cut])
    assert not any(isinstance(m, AudioFrame) for m in result.outputs["audio"][i_cut + 1:])
    assert frames[-1].pts + frames[-1].duration <= 1 * S + 200 * MS
    assert frames[-1].pts >= 1 * S - 40 * MS  # it was talking right up to the interrupt
    # The session ends promptly: no ten seconds of dropped speech played to nobody.
    assert result.end_time < 1 * S + 200 * MS


def test_interrupt_also_drops_clauses_waiting_for_room() -> None:
    many = " ".join(f"item {i}," for i in range(3 * speech_espeak.MAX_PENDING))
    inputs = [TextDelta(text=many, final=True), Interrupt(pts=1 * S)]
    result = run_node(EspeakSpeech, {}, {"text": inputs}, pace="pts")
    frames = _frames(result)
    assert frames and frames[-1].pts < 1 * S + 200 * MS
    assert result.end_time < 1 * S + 200 * MS


def test_speaks_a_new_reply_after_an_interrupt() -> None:
    inputs = [TextDelta(text=LONG, final=True), Interrupt(pts=500 * MS),
              TextDelta(pts=2 * S, text="Okay, stopping.", final=True)]
    result = run_node(EspeakSpeech, {}, {"text": inputs}, pace="pts")
    frames = _frames(result)
    before = [f for f in frames if f.pts < 1 * S]
    after = [f for f in frames if f.pts >= 2 * S]
    assert before and after and after[0].pts == 2 * S
    assert not [f for f in frames if 1 * S <= f.pts < 2 * S]
    assert 0.5 < _voiced(after) < 2.0


def test_end_of_input_flushes_unterminated_text() -> None:
    result = run_node(EspeakSpeech, {"pace": "fast"},
                      {"text": [TextDelta(text="start the stopwatch")]})
    assert 0.4 < _voiced(_frames(result)) < 2.0


def test_bad_voice_is_a_param_error_at_setup() -> None:
    with pytest.raises(NodeFailed) as info:
        run_node(EspeakSpeech, {"voice": "en-usa"}, {"text": []})
    assert isinstance(info.value.exc, ParamError)
    assert "unknown espeak-ng voice 'en-usa'" in str(info.value.exc)
    assert str(info.value.exc).endswith("- at with.voice")
    assert "did you mean 'en-us'" in str(info.value.exc)


@pytest.mark.parametrize(("params", "match"), [
    ({"rate": 5}, "rate"), ({"sample_rate": 0}, "sample_rate"), ({"pace": "slow"}, "pace"),
    ({"lead": "1s"}, "lead"), ({"lead": "20"}, "lead"), ({"volume": 3}, "volume")])
def test_bad_params_are_load_errors(params: dict[str, object], match: str) -> None:
    with pytest.raises(Exception, match=match):
        Graph.build("g", {"tts": (EspeakSpeech, params)}, [])


def test_registered_as_speech_espeak() -> None:
    graph = Graph.build("g", {"tts": ("speech.espeak", {"voice": "en-gb+f3"})}, [])
    assert graph.nodes["tts"].cls is speech_espeak.EspeakSpeech


@pytest.mark.slow
def test_bench_prints_one_json_line() -> None:
    """bench/speech.py runs (a few replies on the real clock: the latency it measures is
    real time, so this takes about two seconds) and prints one JSON line."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "speech.py"
    run = subprocess.run([sys.executable, str(bench), "--replies", "3", "--repeats", "1"],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert 0 < result["rtf"] < 1
    assert 0 < result["ttfa_ms_median"]
    assert result["frames_after_interrupt"] == 0
