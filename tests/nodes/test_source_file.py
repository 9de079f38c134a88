"""source.file: every supported container decodes into exact 20 ms frames on media time."""

from __future__ import annotations

import asyncio
import fractions
from pathlib import Path

import av
import numpy as np
import pytest

from flow import MS, AudioFrame, FakeClock, Graph, NodeFailed, ParamError, Session, VideoFrame
from flow.testing import harness, run_node

RATE = 16_000


def sine(n: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)


def planes(block: np.ndarray, fmt_name: str) -> np.ndarray:
    """int16 ``(n, channels)`` as the array PyAV wants for an encoder's sample format."""
    data = block
    if fmt_name.startswith("flt"):
        data = block.astype(np.float32) / 32768
    elif fmt_name.startswith("s32"):
        data = block.astype(np.int32) << 16
    data = data.T if fmt_name.endswith("p") else data.reshape(1, -1)
    return np.ascontiguousarray(data)


def encode(path: Path, fmt: str, codec: str, *, rate: int = RATE, seconds: float = 1.0,
           layout: str = "mono") -> np.ndarray:
    """Write a 440 Hz tone with PyAV; returns the int16 samples that went in."""
    channels = 2 if layout == "stereo" else 1
    x = sine(int(rate * seconds), rate)
    container = av.open(str(path), "w", format=fmt)
    a = container.add_stream(codec, rate=rate, layout=layout)
    size = a.codec_context.frame_size or 1024
    fmt_name = a.codec_context.format.name
    for i in range(0, len(x), size):
        block = np.repeat(x[i:i + size, None], channels, axis=1)
        frame = av.AudioFrame.from_ndarray(planes(block, fmt_name), format=fmt_name,
                                           layout=layout)
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = fractions.Fraction(1, rate)
        for packet in a.encode(frame):
            container.mux(packet)
    for packet in a.encode(None):
        container.mux(packet)
    container.close()
    return x


def encode_av(path: Path, fmt: str, acodec: str, vcodec: str, rate: int) -> None:
    """One second of audio and 10 fps video interleaved."""
    container = av.open(str(path), "w", format=fmt)
    a = container.add_stream(acodec, rate=rate, layout="mono")
    v = container.add_stream(vcodec, rate=10)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    x = sine(rate, rate)
    size = a.codec_context.frame_size or 1024
    fmt_name = a.codec_context.format.name
    for k in range(10):
        image = np.full((48, 64, 3), 20 * k, np.uint8)
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
        vf.pts, vf.time_base = k, fractions.Fraction(1, 10)
        for packet in v.encode(vf):
            container.mux(packet)
    for i in range(0, len(x), size):
        frame = av.AudioFrame.from_ndarray(planes(x[i:i + size, None], fmt_name),
                                           format=fmt_name, layout="mono")
        frame.sample_rate, frame.pts = rate, i
        frame.time_base = fractions.Fraction(1, rate)
        for packet in a.encode(frame):
            container.mux(packet)
    for stream in (a, v):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()


def audio_of(result_audio: list[AudioFrame]) -> np.ndarray:
    return np.concatenate([f.samples for f in result_audio])


def assert_exact_frames(frames: list[AudioFrame]) -> None:
    """20 ms frames, contiguous: pts k * 20 ms (the last may be shorter)."""
    assert all(f.samples.dtype == np.float32 and f.sample_rate == RATE for f in frames)
    assert all(f.num_samples == 320 for f in frames[:-1])
    assert [f.pts for f in frames] == [k * 20 * MS for k in range(len(frames))]


def test_wav_is_sample_exact(tmp_path: Path) -> None:
    x = encode(tmp_path / "a.wav", "wav", "pcm_s16le")
    r = run_node("source.file", {"path": str(tmp_path / "a.wav"), "pace": "fast"})
    frames = r.outputs["audio"]
    assert_exact_frames(frames)
    np.testing.assert_array_equal(audio_of(frames), x.astype(np.float32) / 32768)
    assert r.outputs["video"] == []


@pytest.mark.parametrize("name,fmt,codec,rate", [
    ("a.mp3", "mp3", "libmp3lame", 16_000),
    ("a.ogg", "ogg", "libopus", 48_000),
])
def test_compressed_audio_decodes_and_resamples(tmp_path: Path, name: str, fmt: str,
                                                codec: str, rate: int) -> None:
    encode(tmp_path / name, fmt, codec, rate=rate)
    r = run_node("source.file", {"path": str(tmp_path / name), "pace": "fast",
                                 "sample_rate": RATE, "channels": 1})
    frames = r.outputs["audio"]
    assert_exact_frames(frames)
    x = audio_of(frames)
    assert abs(len(x) - RATE) <= 320  # one second, give or take codec padding
    # A lossy codec keeps the tone: compare power at 440 Hz against a neighbour.
    spectrum = np.abs(np.fft.rfft(x[:RATE]))
    assert spectrum[440] > 50 * spectrum[1000]


@pytest.mark.parametrize("name,fmt,acodec,vcodec,rate", [
    ("a.mp4", "mp4", "aac", "libx264", 16_000),
    ("a.webm", "webm", "libopus", "libvpx", 48_000),
])
def test_video_containers_give_audio_and_video(tmp_path: Path, name: str, fmt: str,
                                               acodec: str, vcodec: str, rate: int) -> None:
    encode_av(tmp_path / name, fmt, acodec, vcodec, rate)
    r = run_node("source.file", {"path": str(tmp_path / name), "pace": "fast",
                                 "sample_rate": RATE, "channels": 1})
    assert_exact_frames(r.outputs["audio"])
    video: list[VideoFrame] = r.outputs["video"]
    assert len(video) == 10
    assert [v.pts for v in video] == [k * 100 * MS for k in range(10)]
    assert video[0].image.shape == (48, 64, 3) and video[0].image.dtype == np.uint8
    # The picture brightens frame by frame (lossy, so roughly).
    levels = [float(v.image.mean()) for v in video]
    assert levels == sorted(levels) and levels[-1] - levels[0] > 100


def test_stereo_48k_is_resampled_to_16k_mono(tmp_path: Path) -> None:
    encode(tmp_path / "s.wav", "wav", "pcm_s16le", rate=48_000, layout="stereo")
    r = run_node("source.file", {"path": str(tmp_path / "s.wav"), "pace": "fast",
                                 "sample_rate": RATE, "channels": 1})
    frames = r.outputs["audio"]
    assert_exact_frames(frames)
    assert frames[0].samples.ndim == 1
    assert abs(sum(f.num_samples for f in frames) - RATE) <= 32


def test_native_format_keeps_channels(tmp_path: Path) -> None:
    encode(tmp_path / "s.wav", "wav", "pcm_s16le", rate=RATE, layout="stereo")
    r = run_node("source.file", {"path": str(tmp_path / "s.wav"), "pace": "fast"})
    f = r.outputs["audio"][0]
    assert f.samples.shape == (320, 2) and f.channels == 2


def test_realtime_sends_each_frame_at_its_pts(tmp_path: Path) -> None:
    encode(tmp_path / "a.wav", "wav", "pcm_s16le", seconds=0.5)
    r = run_node("source.file", {"path": str(tmp_path / "a.wav"), "pace": "realtime"})
    frames = r.outputs["audio"]
    assert r.times["audio"] == [f.pts for f in frames]
    assert r.end_time == frames[-1].pts


def test_loop_continues_media_time(tmp_path: Path) -> None:
    encode(tmp_path / "a.wav", "wav", "pcm_s16le", seconds=0.2)
    clock = FakeClock()
    graph = Graph.build("loop", {"src": ("source.file", {
        "path": str(tmp_path / "a.wav"), "pace": "realtime", "loop": True})}, [])
    wrapped, stores, _ = harness(graph, outputs=["src.audio"])

    async def main() -> None:
        session = Session(wrapped, clock=clock)
        task = asyncio.ensure_future(session.run())
        await clock.sleep_until(clock.now() + 690 * MS)
        session.stop()
        await task

    clock.run(main())
    frames = stores["src.audio"]
    assert [f.pts for f in frames] == [k * 20 * MS for k in range(35)]
    np.testing.assert_array_equal(frames[10].samples, frames[0].samples)  # second pass


def failure(params: dict[str, object]) -> ParamError:
    with pytest.raises(NodeFailed) as info:
        run_node("source.file", params)
    assert isinstance(info.value.exc, ParamError)
    return info.value.exc


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    err = failure({"path": str(tmp_path / "nope.wav")})
    assert str(err) == f"source.file: {tmp_path / 'nope.wav'}: no such file"


def test_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "noise.mp3"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    err = failure({"path": str(bad)})
    assert str(err).startswith(f"source.file: {bad}: cannot decode it")


def test_text_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n")
    assert str(bad) in str(failure({"path": str(bad)}))


def test_bad_parameters_are_refused_before_running() -> None:
    with pytest.raises(Exception, match="pace"):
        run_node("source.file", {"path": "x.wav", "pace": "slow"})
