"""sink.wav: a continuous timeline on disk, streamed, with a valid header; the file
appears whole under its name when the node ends, and a run that never started leaves an
earlier one's file as it was."""

from __future__ import annotations

import asyncio
import stat
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from flow import MS, AudioFrame, FakeClock, Graph, Node, NodeFailed, Out, ParamError, S, Session
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


# -- the file appears whole, or not at all --------------------------------------------------

OLD = b"RIFF an earlier run's file"


def parts(folder: Path) -> list[str]:
    """The hidden files a sink writes into before its file is moved into place."""
    return sorted(p.name for p in folder.rglob("*.part"))


class SlowStart(Node):
    """A node whose start-up takes 10 ms and then fails (as source.file's does on a file
    that is not there), or that is still going when the session is stopped. It notes what
    the sink, set up by then, has written."""

    audio: Out[AudioFrame]

    async def setup(self) -> None:
        await self.clock.sleep(10 * MS)
        self.seen = parts(Path(self.context.services["folder"]))
        if self.context.services["fail"]:
            raise ParamError("nosuch.wav: no such file")
        await self.clock.sleep(S)

    async def run(self) -> None:
        await self.audio.send(frame(0))


def start_and_end(folder: Path, path: Path, fail: bool) -> Session:
    graph = Graph.build("g", {"out": ("sink.wav", {"path": str(path)}), "src": SlowStart},
                        ["src.audio -> out.audio"])
    session = Session(graph, clock=FakeClock(), services={"folder": str(folder), "fail": fail})

    async def main() -> None:
        task = asyncio.create_task(session.run())
        await session.context.clock.sleep(20 * MS)
        session.stop()  # the failure has ended it already, or it is still starting
        await task

    if fail:
        with pytest.raises(NodeFailed, match="no such file"):
            session.context.clock.run(main())  # type: ignore[attr-defined]
    else:
        session.context.clock.run(main())  # type: ignore[attr-defined]
        assert session.stopped
    assert not session.opened.is_set()
    return session


@pytest.mark.parametrize("fail", [True, False], ids=["a setup failed", "stopped"])
def test_a_run_that_never_started_leaves_the_earlier_file_as_it_was(tmp_path: Path,
                                                                    fail: bool) -> None:
    """The user's report: `microturn run graphs/echo.yaml --set src.path=nosuch.wav`
    exited 2 and left out/echo.wav an empty WAV in place of the last run's output."""
    path = tmp_path / "echo.wav"
    path.write_bytes(OLD)
    session = start_and_end(tmp_path, path, fail)
    # the sink had begun writing when the session ended
    assert len(session.nodes["src"].seen) == 1  # type: ignore[attr-defined]
    assert path.read_bytes() == OLD
    assert parts(tmp_path) == []


def test_a_run_that_never_started_creates_no_folder(tmp_path: Path) -> None:
    start_and_end(tmp_path, tmp_path / "out" / "new" / "echo.wav", fail=True)
    assert list(tmp_path.iterdir()) == []


def test_a_finished_run_replaces_the_file_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "o.wav"
    path.write_bytes(OLD)
    path.chmod(0o600)
    run_node("sink.wav", {"path": str(path)}, inputs={"audio": [frame(0), frame(20)]})
    params, x = read(path)
    assert params.nframes == 640 and (x == 1000).all()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a private recording stays private
    assert parts(tmp_path) == []


@pytest.mark.parametrize("how", ["stop", "cancel"])
def test_a_session_stopped_mid_run_leaves_a_finished_wav_in_place(tmp_path: Path,
                                                                   how: str) -> None:
    """Ctrl-C and SIGTERM cancel the task awaiting ``run()``; a server calls ``stop()``.
    Until then the file is only the hidden part; then what was written is the file."""
    import av

    path = tmp_path / "o.wav"
    path.write_bytes(OLD)
    graph = Graph.build("g", {"src": ("source.tone", {"duration": "60s", "pace": "realtime"}),
                              "out": ("sink.wav", {"path": str(path)})},
                        ["src.audio -> out.audio"])
    clock = FakeClock()
    session = Session(graph, clock=clock)

    async def main() -> None:
        task = asyncio.create_task(session.run())
        await clock.sleep(500 * MS)
        assert path.read_bytes() == OLD and len(parts(tmp_path)) == 1
        if how == "stop":
            session.stop()
            await task
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    clock.run(main())
    assert parts(tmp_path) == []
    params, x = read(path)
    assert 0.4 * RATE <= params.nframes <= 0.6 * RATE and x.any()
    assert path.stat().st_size == 44 + 2 * params.nframes
    with av.open(str(path)) as c:  # a player reads it to the end
        assert sum(f.samples for f in c.decode(audio=0)) == params.nframes


class FailsAfterThree(Node):
    audio: Out[AudioFrame]

    async def run(self) -> None:
        for i in range(3):
            await self.audio.send(frame(20 * i))
        raise RuntimeError("the microphone went away")


def test_a_failure_mid_run_leaves_what_was_written_finished_in_place(tmp_path: Path) -> None:
    path = tmp_path / "o.wav"
    path.write_bytes(OLD)
    graph = Graph.build("g", {"src": FailsAfterThree, "out": ("sink.wav", {"path": str(path)})},
                        ["src.audio -> out.audio"])
    with pytest.raises(NodeFailed, match="microphone"):
        run_graph(graph, outputs=[])
    params, x = read(path)
    assert params.nframes == 960 and (x == 1000).all()
    assert parts(tmp_path) == []


def test_a_path_that_cannot_be_written_is_a_start_up_mistake(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(NodeFailed) as info:
        run_node("sink.wav", {"path": str(tmp_path / "a-file" / "o.wav")},
                 inputs={"audio": [frame(0)]})
    assert isinstance(info.value.exc, ParamError) and "cannot write it" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
