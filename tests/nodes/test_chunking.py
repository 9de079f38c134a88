"""The sans-IO micro-turn arithmetic, tested synchronously (and with Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flow import MS, S, TextDelta, VideoFrame
from nodes.chunking import Chunking

RATE = 16_000
N = 3200  # samples per 200 ms at 16 kHz


def ramp(start: int, n: int) -> np.ndarray:
    """Samples that carry their own absolute index, so placement can be checked exactly."""
    return (np.arange(start, start + n) % 4096).astype(np.float32) / 4096


def pts_of(sample: int) -> int:
    return sample * S // RATE


def test_defaults_are_200ms_of_16khz_mono() -> None:
    c = Chunking(200 * MS)
    assert (c.n, c.sample_rate, c.slots) == (3200, 16_000, 1)


def test_contiguous_frames_make_exact_chunks() -> None:
    c = Chunking(200 * MS)
    chunks = []
    for i in range(0, 2 * N, 320):
        chunks += c.push_audio(pts_of(i), ramp(i, 320), RATE)
    assert [ch.index for ch in chunks] == [0, 1]
    assert [ch.pts for ch in chunks] == [0, 200 * MS]
    np.testing.assert_array_equal(np.concatenate([ch.audio for ch in chunks]), ramp(0, 2 * N))
    assert all(ch.filled == 0 and ch.late == 0 for ch in chunks)


def test_a_frame_spanning_windows_is_split() -> None:
    c = Chunking(200 * MS)
    chunks = c.push_audio(0, ramp(0, 2 * N + 100), RATE)
    assert [len(ch.audio) for ch in chunks] == [N, N]
    chunks += c.flush()
    assert len(chunks) == 3
    np.testing.assert_array_equal(chunks[2].audio[:100], ramp(2 * N, 100))
    assert chunks[2].filled == N - 100
    assert not chunks[2].audio[100:].any()


def test_a_gap_is_filled_with_silence_and_counted() -> None:
    c = Chunking(200 * MS)
    c.push_audio(0, ramp(0, 1000), RATE)
    chunks = c.push_audio(pts_of(5000), ramp(5000, 1000), RATE)
    assert len(chunks) == 1
    assert chunks[0].filled == N - 1000
    assert not chunks[0].audio[1000:].any()
    rest = c.flush()
    assert rest[0].filled == (5000 - N) + (2 * N - 6000)
    np.testing.assert_array_equal(rest[0].audio[5000 - N:6000 - N], ramp(5000, 1000))
    assert c.stats.filled == chunks[0].filled + rest[0].filled


def test_small_jitter_is_contiguous() -> None:
    c = Chunking(200 * MS, tolerance=2 * MS)
    c.push_audio(0, ramp(0, 320), RATE)
    c.push_audio(pts_of(320) + MS, ramp(320, 320), RATE)  # 1 ms off: jitter
    chunks = c.flush()
    np.testing.assert_array_equal(chunks[0].audio[:640], ramp(0, 640))
    assert c.stats.filled == N - 640


def test_late_audio_goes_into_the_current_chunk_and_is_counted() -> None:
    c = Chunking(200 * MS)
    c.push_audio(0, ramp(0, 320), RATE)
    closed = c.advance_to(200 * MS)  # the source stalled past the deadline
    assert [ch.index for ch in closed] == [0]
    assert closed[0].filled == N - 320
    c.push_audio(pts_of(320), ramp(320, 320), RATE)  # window 0 was emitted: late
    chunk = c.flush()[0]
    assert chunk.index == 1
    assert chunk.late == 1
    np.testing.assert_array_equal(chunk.audio[:320], ramp(320, 320))
    assert c.stats.late == 1


def test_video_keeps_the_latest_frame_per_slot() -> None:
    c = Chunking(200 * MS, fps=10)  # two slots of 100 ms
    img = np.zeros((4, 4, 3), np.uint8)
    frames = [VideoFrame(pts=t * MS, image=img) for t in (0, 40, 80, 120, 160, 240)]
    for f in frames:
        c.push_video(f)
    chunks = c.push_audio(0, ramp(0, N + 1), RATE)
    assert chunks[0].video == (frames[2], frames[4])
    assert c.flush()[0].video == (frames[5],)


def test_text_lands_in_its_window_and_late_text_in_the_current_one() -> None:
    c = Chunking(200 * MS)
    a = TextDelta(pts=50 * MS, text="a", final=True)
    b = TextDelta(pts=450 * MS, text="b", final=True)
    c.push_text(a)
    c.push_text(b)
    first = c.push_audio(0, ramp(0, N), RATE)
    assert first[0].text == (a,)
    late = TextDelta(pts=10 * MS, text="late", final=True)
    c.push_text(late)
    rest = c.flush()
    assert [ch.index for ch in rest] == [1, 2]
    assert rest[0].text == (late,) and rest[0].late == 1
    assert rest[1].text == (b,)


def test_int16_and_stereo_are_converted() -> None:
    c = Chunking(200 * MS)
    stereo = np.stack([np.full(N, 16384, np.int16), np.zeros(N, np.int16)], axis=1)
    chunk = c.push_audio(0, stereo, RATE)[0]
    assert chunk.audio.dtype == np.float32
    assert np.all(chunk.audio == 0.25)


def test_a_different_rate_is_refused_with_a_hint() -> None:
    c = Chunking(200 * MS)
    with pytest.raises(ValueError, match=r"48000 Hz.*16000 Hz.*sample_rate: 16000"):
        c.push_audio(0, np.zeros(960, np.float32), 48_000)


def test_a_period_that_is_not_whole_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number of samples"):
        Chunking(S // 3, 16_000)


def test_ten_minutes_without_drift() -> None:
    c = Chunking(200 * MS)
    count = 0
    for i in range(0, 10 * 60 * RATE, 320):
        for ch in c.push_audio(pts_of(i), ramp(i, 320), RATE):
            assert ch.pts == count * 200 * MS == ch.index * 200 * MS
            np.testing.assert_array_equal(ch.audio, ramp(count * N, N))
            count += 1
    assert count == 3000
    assert c.cursor == 10 * 60 * RATE
    assert c.stats.filled == 0 and c.stats.overlap == 0


frame_plan = st.lists(
    st.tuples(st.integers(1, 2000),  # frame size in samples
              st.integers(0, 3),  # gap kind: 0 none, 1 jitter, 2 gap, 3 backwards
              st.integers(0, 5000)),  # size of gap / jitter
    min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(frame_plan, st.sampled_from([(200 * MS, 16_000), (100 * MS, 8_000), (200 * MS, 48_000)]),
       st.lists(st.integers(0, 20 * S), max_size=5))
def test_every_sample_lands_exactly_once(plan: list[tuple[int, int, int]],
                                         config: tuple[int, int], stalls: list[int]) -> None:
    """Random frame sizes, jitter, gaps, overlaps and clock deadlines: each input sample
    appears exactly once, in order, every chunk has exactly ``n`` samples and the next
    index, and the silence counted is exactly what is not input."""
    period, rate = config
    c = Chunking(period, rate, tolerance=2 * MS)
    tol = 2 * MS * rate // S
    chunks = []
    sent: list[np.ndarray] = []
    pos = 0  # the pts (in samples) this source believes it is at
    serial = 1
    stalls = sorted(stalls)
    for size, kind, amount in plan:
        if kind == 1:
            pos += amount % (tol + 1)
        elif kind == 2:
            pos += amount
        elif kind == 3:
            pos = max(0, pos - amount)
        while stalls and stalls[0] <= pos * S // rate:
            chunks += c.advance_to(stalls.pop(0))
        x = np.arange(serial, serial + size, dtype=np.float32)  # nonzero, unique
        serial += size
        sent.append(x)
        chunks += c.push_audio(pos * S // rate, x, rate)
        pos += size
    chunks += c.flush()
    n = period * rate // S
    assert [ch.index for ch in chunks] == list(range(len(chunks)))
    assert all(len(ch.audio) == n and ch.pts == ch.index * period for ch in chunks)
    audio = np.concatenate([ch.audio for ch in chunks])
    nonzero = audio[audio != 0]
    np.testing.assert_array_equal(nonzero, np.concatenate(sent))
    assert sum(ch.filled for ch in chunks) == len(audio) - len(nonzero) == c.stats.filled
    # The last chunk holds the last sample: flush pads one window at most.
    assert chunks[-1].audio.any()


@given(st.lists(st.tuples(st.sampled_from(["audio", "text", "video", "advance"]),
                          st.integers(0, 3 * S)), max_size=80),
       st.sampled_from([1.0, 5.0, 25.0]))
def test_text_once_video_capped(events: list[tuple[str, int]], fps: float) -> None:
    """Random interleavings of audio, text, video and deadlines: every text delta comes out
    exactly once, in its own window or (late) a later one; no chunk holds more video
    frames than the fps cap allows, and each frame lies in or before its chunk."""
    c = Chunking(200 * MS, fps=fps)
    img = np.zeros((2, 2, 3), np.uint8)
    chunks = []
    texts = []
    for i, (kind, t) in enumerate(events):
        if kind == "audio":
            chunks += c.push_audio(t, np.ones(320, np.float32), RATE)
        elif kind == "text":
            delta = TextDelta(pts=t, text=str(i))
            texts.append(delta)
            c.push_text(delta)
        elif kind == "video":
            c.push_video(VideoFrame(pts=t, image=img))
        else:
            chunks += c.advance_to(t)
    chunks += c.flush()
    out = [(d, ch) for ch in chunks for d in ch.text]
    assert sorted(d.text for d, _ in out) == sorted(d.text for d in texts)
    assert all(d.pts < ch.pts + ch.period for d, ch in out if ch.late == 0)
    assert all(d.pts // (200 * MS) <= ch.index for d, ch in out)
    slots = max(1, int(fps / 5 + 1e-9))
    assert all(len(ch.video) <= slots for ch in chunks)
    assert all(v.pts < ch.pts + ch.period for ch in chunks for v in ch.video)
    assert [ch.index for ch in chunks] == list(range(len(chunks)))
