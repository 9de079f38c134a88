"""nodes.espeak: the ctypes wrapper over espeak-ng (real synthesis, no mocks)."""

from __future__ import annotations

import subprocess
import sys
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from nodes import espeak

SENTENCE = "Convert twenty dollars to euros."


def _voiced_seconds(samples: np.ndarray, rate: int) -> float:
    """Time from the first to the last sample above -40 dBFS."""
    loud = np.nonzero(np.abs(samples) > 0.01)[0]
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0]) / rate


def test_synthesize_gives_plausible_speech() -> None:
    audio = espeak.synthesize(SENTENCE, sample_rate=16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02  # not silence
    # Five words at 175 wpm: roughly 1.5 to 2.5 s.
    assert 1.0 < _voiced_seconds(audio, 16000) < 3.0


def test_duration_follows_text_length_and_rate() -> None:
    short = espeak.synthesize("stop", sample_rate=16000)
    long = espeak.synthesize(SENTENCE + " " + SENTENCE, sample_rate=16000)
    assert _voiced_seconds(short, 16000) < 0.8
    assert _voiced_seconds(long, 16000) > 2.5
    slow = espeak.synthesize(SENTENCE, rate=100, sample_rate=16000)
    fast = espeak.synthesize(SENTENCE, rate=350, sample_rate=16000)
    assert _voiced_seconds(slow, 16000) > 2 * _voiced_seconds(fast, 16000)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000, espeak.NATIVE_RATE])
def test_sample_rate_scales_length(rate: int) -> None:
    native = espeak.synthesize(SENTENCE, sample_rate=espeak.NATIVE_RATE)
    other = espeak.synthesize(SENTENCE, sample_rate=rate)
    # espeak's length varies by a few ms between calls (wave-generator state).
    assert abs(other.size / rate - native.size / espeak.NATIVE_RATE) < 0.03


def test_resampler_streams_without_seams() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(22050) / espeak.NATIVE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    whole = espeak.Resampler(24000)
    ref = np.concatenate([whole.push(tone), whole.flush()])
    parts = espeak.Resampler(24000)
    cuts = np.sort(rng.choice(np.arange(1, tone.size), 20, replace=False))
    streamed = np.concatenate([parts.push(b) for b in np.split(tone, cuts)] + [parts.flush()])
    assert ref.size == streamed.size == round(tone.size * 24000 / espeak.NATIVE_RATE)
    np.testing.assert_allclose(streamed, ref, atol=1e-5)
    # A 440 Hz tone stays a 440 Hz tone: count zero crossings over the middle second.
    mid = streamed[1000:-1000]
    crossings = np.count_nonzero(np.diff(np.signbit(mid)))
    assert abs(crossings / 2 / (mid.size / 24000) - 440) < 3


def test_stream_delivers_blocks_as_produced_and_can_abort() -> None:
    blocks: list[np.ndarray] = []
    assert espeak.stream(SENTENCE * 3, blocks.append, sample_rate=24000) is True
    assert len(blocks) > 10
    assert all(b.dtype == np.float32 for b in blocks)
    # Each block is a small piece (first audio long before the whole text is done).
    assert max(b.size for b in blocks) < 0.1 * 24000

    got: list[np.ndarray] = []

    def first_only(block: np.ndarray) -> bool:
        got.append(block)
        return False

    before = espeak.synthesize("stop").size
    assert espeak.stream(SENTENCE * 3, first_only, sample_rate=24000) is False
    assert len(got) == 1
    # Nothing of the aborted text leaks into the next synthesis.
    assert abs(espeak.synthesize("stop").size - before) < 0.03 * 16000


def test_stream_reraises_callback_errors() -> None:
    def boom(block: np.ndarray) -> None:
        raise RuntimeError("sink broke")

    with pytest.raises(RuntimeError, match="sink broke"):
        espeak.stream(SENTENCE, boom)
    # The engine is still usable afterwards.
    assert espeak.synthesize("stop").size > 0


def test_chunks_iterates_and_aborts_when_closed() -> None:
    pieces = list(espeak.chunks(SENTENCE, sample_rate=16000))
    assert len(pieces) > 5
    total = sum(p.size for p in pieces)
    assert abs(total / 16000 - espeak.synthesize(SENTENCE).size / 16000) < 0.03
    it = espeak.chunks(SENTENCE * 5, sample_rate=16000)
    next(it)
    it.close()  # joins the worker: returns only once espeak has stopped
    assert espeak.synthesize("stop").size > 0


def test_unknown_voice_is_a_clear_error() -> None:
    with pytest.raises(espeak.UnknownVoice, match=r"'en-usa'.*did you mean 'en-us'"):
        espeak.check_voice("en-usa")
    with pytest.raises(espeak.UnknownVoice):
        espeak.synthesize("hello", voice="no-such-voice")
    with pytest.raises(espeak.UnknownVoice):
        list(espeak.chunks("hello", voice="no-such-voice"))


def test_voices_and_variants() -> None:
    found = espeak.voices()
    assert any("en-us" in v.languages for v in found)
    assert all(v.identifier for v in found)
    for name in ("en-us+f3", "en-gb", "en-GB", "zh", "gmw/en", "English (Great Britain)"):
        espeak.check_voice(name)
    female = espeak.synthesize("hello", voice="en-us+f3")
    assert female.size > 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rate": 10}, "rate must be"), ({"pitch": 101}, "pitch must be"),
    ({"sample_rate": 100}, "sample_rate must be")])
def test_bad_parameters(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        espeak.synthesize("hello", **kwargs)


def test_empty_text_is_silence() -> None:
    assert espeak.synthesize("").size == 0
    assert espeak.synthesize("  \n").size == 0


def test_phonemes_are_the_voices_and_speak_back_as_the_text() -> None:
    assert espeak.phonemes("how many", voice="en-us") == "h,aU m'Eni"
    assert espeak.phonemes("how many", voice="en-gb-x-gbcwmd") == ",aU m'Eni"  # drops the h
    assert espeak.phonemes("Stop. Start", voice="en-us").count("st") == 2  # every clause
    assert espeak.phonemes("") == ""
    said = espeak.phonemes(SENTENCE)
    again = espeak.synthesize(f"[[{said}]]", phoneme_input=True)
    assert abs(_voiced_seconds(again, 16000) - _voiced_seconds(espeak.synthesize(SENTENCE),
                                                               16000)) < 0.3
    # Without phoneme_input the brackets' content is read as text, letter by letter.
    spelled = espeak.synthesize(f"[[{said}]]")
    assert _voiced_seconds(spelled, 16000) > 2 * _voiced_seconds(again, 16000)


def test_concurrent_calls_are_serialised() -> None:
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            voice = "en-us" if i % 2 else "en-gb"
            results[i] = espeak.synthesize(f"Number {i}, " + SENTENCE, voice=voice,
                                           rate=150 + 20 * i, sample_rate=16000)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(1.0 < _voiced_seconds(a, 16000) < 4.0 for a in results.values())
    # Faster rate, shorter audio: each call used its own parameters.
    assert _voiced_seconds(results[0], 16000) > _voiced_seconds(results[5], 16000)


ROOT = Path(__file__).resolve().parents[2]


def test_bundled_samples_regenerate_identically() -> None:
    """examples/media/make_samples.py is deterministic: regenerating two samples (one
    with several voices and pauses) in fresh processes gives the committed bytes."""
    script = ROOT / "examples" / "media" / "make_samples.py"
    run = subprocess.run([sys.executable, str(script), "--check", "stop", "stopwatch_session"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok ") == 2


def test_bundled_samples_are_16k_mono_int16_and_small() -> None:
    files = sorted((ROOT / "examples" / "media").glob("*.wav"))
    assert {"hello.wav", "convert_dollars.wav", "stop.wav"} <= {f.name for f in files}
    for f in files:
        with wave.open(str(f)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
    # the demo monologue (about 2 MB) plus the short samples (about 1 MB)
    assert sum(f.stat().st_size for f in files) < 4 * 1024 * 1024
