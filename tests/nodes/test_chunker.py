"""The chunker node on the fake clock: exact boundaries over ten minutes, deadlines for
stalled live sources, late input, and the end of input."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from flow import MS, AudioFrame, Graph, In, Node, NodeFailed, Out, ParamError, S, TextDelta
from flow.testing import run_graph, run_node
from nodes.chunker import Chunker
from nodes.source_tone import tone
from nodes.types import Chunk
from tests.nodes.test_source_file import encode_av

RATE = 16_000


def frames(start_ms: int, end_ms: int, rate: int = RATE) -> list[AudioFrame]:
    """20 ms frames of a ramp that encodes each sample's absolute index."""
    out = []
    for t in range(start_ms, end_ms, 20):
        i0 = t * rate // 1000
        x = (np.arange(i0, i0 + rate // 50) % 8192).astype(np.float32) / 8192 + 1e-4
        out.append(AudioFrame(pts=t * MS, samples=x, sample_rate=rate))
    return out


def schedule(plan: list[tuple[int, AudioFrame]]) -> type[Node]:
    """A source that sends each frame at a given clock time (ns after t0), whatever its
    pts says: a live source that stalls and then catches up."""

    class Player(Node):
        audio: Out[AudioFrame]

        async def run(self) -> None:
            for at, frame in plan:
                await self.clock.sleep_until(self.context.t0 + at)
                await self.audio.send(frame)

    return Player


def live(source: type[Node] | str, params: dict[str, object], **chunker: object):
    graph = Graph.build("live", {"src": (source, params),
                                 "chunker": ("chunker", {"pace": "realtime", **chunker})},
                        ["src.audio -> chunker.audio"])
    return run_graph(graph)


def test_ten_minutes_of_live_audio_without_drift() -> None:
    """A live 16 kHz source for 10 simulated minutes: 3,000 chunks, chunk k at media time
    k * 200 ms, emitted when its last frame arrives (never by the deadline), each sample
    exactly where the tone puts it."""
    seen: list[tuple[int, int, int, int]] = []  # index, pts, arrival, filled
    errors: list[int] = []

    class Check(Node):
        chunks: In[Chunk]

        async def on_chunks(self, c: Chunk) -> None:
            seen.append((c.index, c.pts, self.now(), c.filled))
            expected = tone("sine", c.index * 3200, 3200, rate=RATE, frequency=440.0,
                            amplitude=0.5)
            if not np.array_equal(c.audio, expected):
                errors.append(c.index)

    graph = Graph.build("ten", {
        "src": ("source.tone", {"duration": "10min", "pace": "realtime"}),
        "chunker": ("chunker", {"pace": "realtime"}),
        "check": (Check, {})}, ["src.audio -> chunker.audio", "chunker.chunks -> check.chunks"])
    r = run_graph(graph, outputs=[])
    assert len(seen) == 3000
    assert seen == [(k, k * 200 * MS, k * 200 * MS + 180 * MS, 0) for k in range(3000)]
    assert errors == []
    assert r.end_time == 10 * 60 * S - 20 * MS


def test_a_stalled_source_gets_silence_at_the_deadline() -> None:
    plan = [(f.pts, f) for f in frames(0, 100) + frames(700, 800)]
    r = live(schedule(plan), {}, wait="50ms")
    chunks: list[Chunk] = r.outputs["chunker.chunks"]
    emitted = r.times["chunker.chunks"]
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert emitted == [250 * MS, 450 * MS, 650 * MS, 780 * MS]
    assert [c.filled for c in chunks] == [1600, 3200, 3200, 1600]
    assert [c.late for c in chunks] == [0, 0, 0, 0]
    np.testing.assert_array_equal(chunks[3].audio[1600:],
                                  np.concatenate([f.samples for f in frames(700, 800)]))


def test_late_audio_goes_into_the_current_chunk_and_is_counted() -> None:
    early, late = frames(0, 100), frames(100, 200)
    plan = [(f.pts, f) for f in early] + [(300 * MS, f) for f in late]
    r = live(schedule(plan), {}, wait="50ms")
    chunks: list[Chunk] = r.outputs["chunker.chunks"]
    assert [c.index for c in chunks] == [0, 1]
    assert r.times["chunker.chunks"][0] == 250 * MS
    assert chunks[0].filled == 1600 and chunks[0].late == 0
    assert chunks[1].late == 5
    np.testing.assert_array_equal(chunks[1].audio[:1600],
                                  np.concatenate([f.samples for f in late]))
    assert chunks[1].filled == 1600  # end of input pads the last chunk
    node = r.session.nodes["chunker"]
    assert isinstance(node, Chunker)
    assert node.chunk_statistics().late == 5


def late_warnings(caplog: pytest.LogCaptureFixture) -> list[object]:
    return [rec for rec in caplog.records if "slower than real time" in rec.getMessage()]


def test_late_audio_is_warned_of_once_and_shown_by_stats(
        caplog: pytest.LogCaptureFixture) -> None:
    """A graph that falls behind real time says so: one warning, and the counters in
    ``--stats`` (the session's statistics table). Audio on time for 3 s, then held up."""
    plan = [(f.pts, f) for f in frames(0, 3000)] + [(3300 * MS, f)
                                                    for f in frames(3000, 3100)]
    with caplog.at_level("WARNING", logger="microturn.node.chunker"):
        r = live(schedule(plan), {}, wait="50ms")
    assert len(late_warnings(caplog)) == 1  # five late frames, one warning
    extra = r.session.statistics().nodes[1].extra
    assert (extra["late"], extra["filled"], extra["chunks"]) == (5, 4800, 17)
    assert "chunker: chunks 17, samples_in 49600, filled 4800, late 5" in (
        r.session.format_statistics())


def test_a_late_start_is_counted_not_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    """A live session starts with a backlog (a browser's first packets in a burst): late
    input in the first two seconds after the first input is counted, not warned of;
    lateness that persists past them is."""
    start = [(f.pts, f) for f in frames(0, 100)] + [(300 * MS, f) for f in frames(100, 200)]
    on_time = [(f.pts, f) for f in frames(1000, 2600)]  # after a gap: no backlog
    with caplog.at_level("WARNING", logger="microturn.node.chunker"):
        r = live(schedule(start + on_time), {}, wait="50ms")
    assert late_warnings(caplog) == []
    assert r.session.statistics().nodes[1].extra["late"] == 5
    later = [(3000 * MS, f) for f in frames(2600, 2700)]  # past its deadline, 2.85 s
    with caplog.at_level("WARNING", logger="microturn.node.chunker"):
        r = live(schedule(start + on_time + later), {}, wait="50ms")
    assert len(late_warnings(caplog)) == 1
    assert r.session.statistics().nodes[1].extra["late"] == 10


def test_media_pace_never_looks_at_the_clock() -> None:
    """A fast source with gaps: windows close by media time only, not by deadlines."""
    r = run_node("chunker", {}, inputs={"audio": frames(0, 100) + frames(700, 800)})
    chunks: list[Chunk] = r.outputs["chunks"]
    assert [c.filled for c in chunks] == [1600, 3200, 3200, 1600]
    assert r.times["chunks"] == [0, 0, 0, 0]


def test_end_of_input_flushes_a_padded_partial_chunk() -> None:
    r = run_node("chunker", {}, inputs={"audio": frames(0, 260)})
    chunks: list[Chunk] = r.outputs["chunks"]
    assert [len(c.audio) for c in chunks] == [3200, 3200]
    assert chunks[1].filled == 3200 - 960
    assert not chunks[1].audio[960:].any()


def test_text_and_video_ride_along() -> None:
    words = [TextDelta(pts=50 * MS, text="hi", final=True),
             TextDelta(pts=330 * MS, text="there", final=True)]
    r = run_node("chunker", {}, inputs={"audio": frames(0, 400), "text": words}, pace="pts")
    chunks: list[Chunk] = r.outputs["chunks"]
    assert [c.text for c in chunks] == [(words[0],), (words[1],)]


def test_text_alone_drives_the_windows() -> None:
    words = [TextDelta(pts=50 * MS, text="a", final=True),
             TextDelta(pts=650 * MS, text="b", final=True)]
    r = run_node("chunker", {}, inputs={"text": words})
    chunks: list[Chunk] = r.outputs["chunks"]
    assert [(c.index, c.text) for c in chunks] == [(0, (words[0],)), (1, ()), (2, ()),
                                                   (3, (words[1],))]
    assert all(c.filled == 3200 for c in chunks)


def test_a_different_sample_rate_is_a_clear_error() -> None:
    with pytest.raises(NodeFailed) as info:
        run_node("chunker", {}, inputs={"audio": frames(0, 40, rate=48_000)})
    assert isinstance(info.value.exc, ParamError)
    assert "48000 Hz" in str(info.value) and "resample upstream" in str(info.value)


def test_bad_period_is_a_parameter_error() -> None:
    with pytest.raises(NodeFailed, match="whole number of samples"):
        run_node("chunker", {"period": "0.1ms", "sample_rate": 15_000})
    with pytest.raises(Exception, match="period"):
        run_node("chunker", {"period": "200"})


def test_chunk_audio_turns_chunks_back_into_frames() -> None:
    r = run_node("chunker", {}, inputs={"audio": frames(0, 400)})
    back = run_node("chunk.audio", {}, inputs={"chunks": r.outputs["chunks"]})
    out: list[AudioFrame] = back.outputs["audio"]
    assert [(f.pts, f.num_samples, f.sample_rate) for f in out] == [
        (0, 3200, RATE), (200 * MS, 3200, RATE)]
    assert out[0].samples is r.outputs["chunks"][0].audio  # no copy


def test_params_reject_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"periodd": "200ms"}, Chunker.Params)


def test_a_video_file_gives_chunks_with_the_latest_frame(tmp_path: Path) -> None:
    encode_av(tmp_path / "a.mp4", "mp4", "aac", "libx264", RATE)
    graph = Graph.build("av", {
        "src": ("source.file", {"path": str(tmp_path / "a.mp4"), "pace": "realtime",
                                "sample_rate": RATE, "channels": 1}),
        "chunker": ("chunker", {"fps": 5})},
        ["src.audio -> chunker.audio", "src.video -> chunker.video"])
    chunks: list[Chunk] = run_graph(graph).outputs["chunker.chunks"]
    assert [c.index for c in chunks] == list(range(6))  # 1.024 s of AAC: 6 windows
    assert [[v.pts for v in c.video] for c in chunks[:5]] == [
        [100 * MS], [300 * MS], [500 * MS], [700 * MS], [900 * MS]]
