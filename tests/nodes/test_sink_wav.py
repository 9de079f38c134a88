"""sink.wav: a continuous timeline on disk, streamed, with a valid header."""

from __future__ import annotations

import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from flow import MS, AudioFrame, Graph, NodeFailed, ParamError
from flow.testing import run_graph, run_node

RATE = 16_000


def frame(pts_ms: int, n: int = 320, value: int = 1000, rate: int = RATE) -> AudioFrame:
    return AudioFrame(pts=pts_ms * MS, samples=np.full(n, value / 32768, np.float32),
                      sample_rate=rate)


def read(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path)) as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), "<i2")


def test_frames_land_at_their_pts_with_silence_between(tmp_path: Path) -> None:
    path = tmp_path / "out" / "o.wav"  # the folder is created
    run_node("sink.wav", {"path": str(path)},
             inputs={"audio": [frame(100, value=1000), frame(500, value=-2000)]})
    params, x = read(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, RATE)
    assert len(x) == 500 * 16 + 320
    assert not x[:1600].any() and (x[1600:1920] == 1000).all()
    assert not x[1920:8000].any() and (x[8000:] == -2000).all()


def test_overlapping_frames_are_appended_not_mixed(tmp_path: Path) -> None:
    path = tmp_path / "o.wav"
    r = run_node("sink.wav", {"path": str(path)},
                 inputs={"audio": [frame(0, value=1), frame(0, value=2), frame(30, value=3)]})
    _, x = read(path)
    assert list(x[::320]) == [1, 2, 3] and len(x) == 960
    stats = r.session.nodes["node"].stats
    assert (stats.overlapped, stats.silence) == (320 + 160, 0)
    assert "node: frames 3, samples 960, silence 0, overlapped 480" in (
        r.session.format_statistics())


def test_float_int16_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "o.wav"
    stereo = AudioFrame(pts=0, samples=np.array([[0.5, -0.5]] * 10, np.float32),
                        sample_rate=RATE, channels=2)
    ints = AudioFrame(pts=0, samples=np.full(10, 1234, np.int16), sample_rate=RATE)
    run_node("sink.wav", {"path": str(path), "channels": 2},
             inputs={"audio": [stereo, ints]})
    params, x = read(path)
    assert params.nchannels == 2
    assert list(x[:2]) == [16384, -16384] and list(x[20:22]) == [1234, 1234]


def test_f32_format_round_trips(tmp_path: Path) -> None:
    import av

    path = tmp_path / "o.wav"
    samples = np.linspace(-1, 1, 320, dtype=np.float32)
    run_node("sink.wav", {"path": str(path), "format": "f32"},
             inputs={"audio": [AudioFrame(pts=0, samples=samples, sample_rate=RATE)]})
    with av.open(str(path)) as c:
        got = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    np.testing.assert_array_equal(got, samples)


def test_a_rate_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NodeFailed) as info:
        run_node("sink.wav", {"path": str(tmp_path / "o.wav"), "sample_rate": 24_000},
                 inputs={"audio": [frame(0)]})
    assert isinstance(info.value.exc, ParamError)
    assert "16000 Hz" in str(info.value) and "24000 Hz" in str(info.value)
    # The header is patched even after a failure: the file is a valid, empty WAV.
    params, x = read(tmp_path / "o.wav")
    assert params.framerate == 24_000 and len(x) == 0


def test_a_long_session_streams_with_flat_memory(tmp_path: Path) -> None:
    """A live 16 kHz tone: the file has every sample, and the peak of Python allocations
    during a one-minute run is no higher than during a ten-second one (nothing grows with
    the session) and a fraction of the file's 1.9 MB."""

    def peak(duration: str, path: Path) -> int:
        graph = Graph.build("long", {
            "src": ("source.tone", {"duration": duration, "pace": "realtime"}),
            "out": ("sink.wav", {"path": str(path)})}, ["src.audio -> out.audio"])
        tracemalloc.start()
        try:
            run_graph(graph, outputs=[])
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak("1s", tmp_path / "warm.wav")  # imports and first-use caches
    short = peak("10s", tmp_path / "short.wav")
    long = peak("60s", tmp_path / "long.wav")
    assert long < short + 50_000, (short, long)
    assert long < 200_000, long
    params, _ = read(tmp_path / "long.wav")
    assert params.nframes == 60 * RATE
    assert (tmp_path / "long.wav").stat().st_size == 44 + 60 * RATE * 2
