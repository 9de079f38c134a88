"""fusion.tokenizer as a node: Chunks in, FusedTurns out, on the fake clock."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from flow import MS, GraphError, NodeFailed, TextDelta, VideoFrame
from flow.graph import Graph
from flow.testing import run_node
from nodes.fusion import TokenizerParams, TurnTokenizer, check_turn, dmel, patches_to_frame
from nodes.fusion.patches import resize_frame
from nodes.types import TOK_OUTPUT, Chunk, FusedTurn, Modality

PERIOD = 200 * MS


def audio(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return (rng.standard_normal(3200) * 0.05).astype(np.float32)


def camera(i: int, pts: int) -> VideoFrame:
    img = np.random.default_rng(1000 + i).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return VideoFrame(pts=pts, image=img)


def chunk(i: int, video: tuple[VideoFrame, ...] = (), text: tuple[TextDelta, ...] = (),
          rate: int = 16_000) -> Chunk:
    return Chunk(pts=i * PERIOD, index=i, period=PERIOD, audio=audio(i), sample_rate=rate,
                 video=video, text=text)


def test_chunks_become_fused_turns() -> None:
    chunks = [chunk(i, video=(camera(i, i * PERIOD + 10 * MS), camera(i + 50, i * PERIOD
                                                                       + 110 * MS)),
                    text=(TextDelta(pts=i * PERIOD, text="hi"),) if i == 2 else ())
              for i in range(6)]
    result = run_node("fusion.tokenizer", {"output_slots": 8}, inputs={"chunks": chunks})
    turns = result.of("turns", FusedTurn)
    assert [t.index for t in turns] == list(range(6))
    assert [t.pts for t in turns] == [c.pts for c in chunks]
    for t in turns:
        check_turn(t)
        assert t.tokens[-1] == TOK_OUTPUT and t.output_slots == 8
        assert (t.modality == Modality.AUDIO).sum() == 16
        assert (t.modality == Modality.VIDEO).sum() == 48  # the latest frame only
    # Streaming over chunks gives the offline dMel of the whole signal.
    whole = np.concatenate([c.audio for c in chunks])
    np.testing.assert_array_equal(np.concatenate([t.dmel for t in turns]), dmel(whole))
    # The patches are the latest frame of each chunk, resized, and reassemble exactly.
    for t, c in zip(turns, chunks, strict=True):
        expected = resize_frame(c.video[-1].image, 240, 320, "nearest")
        np.testing.assert_array_equal(patches_to_frame(t.patches, t.patch_pos, 240, 320),
                                      expected)
    text_turn = turns[2]
    assert bytes(text_turn.tokens[4:6].astype(np.uint8)) == b"hi"
    assert (text_turn.modality == Modality.TEXT).sum() == 2


def test_fps_cap_uses_media_time_windows() -> None:
    """fps 2.5: one frame per 400 ms window, so every other 200 ms turn has one."""
    chunks = [chunk(i, video=(camera(i, i * PERIOD + 5 * MS),)) for i in range(8)]
    result = run_node("fusion.tokenizer", {"fps": 2.5}, inputs={"chunks": chunks})
    with_video = [(t.modality == Modality.VIDEO).any() for t in result.of("turns")]
    assert with_video == [True, False] * 4
    none = run_node("fusion.tokenizer", {"fps": 0}, inputs={"chunks": chunks})
    assert not any((t.modality == Modality.VIDEO).any() for t in none.of("turns"))


def test_long_text_spreads_over_turns() -> None:
    chunks = [chunk(0, text=(TextDelta(text="x" * 30, final=True),)), chunk(1), chunk(2)]
    result = run_node("fusion.tokenizer", {"max_text_bytes": 12}, inputs={"chunks": chunks})
    n_text = [int((t.modality == Modality.TEXT).sum()) for t in result.of("turns")]
    assert n_text == [12, 12, 7]  # 30 bytes + the newline that ends the utterance


def test_text_still_waiting_when_the_chunks_end_goes_out_in_turns_of_silence() -> None:
    """A long paste in the last chunk is not cut short: turns of silence follow, at the
    micro-turn cadence, until all of it has gone out."""
    chunks = [chunk(0), chunk(1, text=(TextDelta(text="x" * 30, final=True),))]
    result = run_node("fusion.tokenizer", {"max_text_bytes": 12}, inputs={"chunks": chunks})
    turns = result.of("turns")
    assert [int((t.modality == Modality.TEXT).sum()) for t in turns] == [0, 12, 12, 7]
    assert [t.index for t in turns] == [0, 1, 2, 3]
    assert [t.pts for t in turns] == [c * chunks[0].period for c in range(4)]


def test_a_gap_in_chunk_indices_restarts_the_audio_history() -> None:
    tok = TurnTokenizer()
    first = tok.turn(chunk(0))
    after_gap = tok.turn(chunk(5))
    assert tok.gaps == 1
    np.testing.assert_array_equal(first.dmel, dmel(audio(0)))
    np.testing.assert_array_equal(after_gap.dmel, dmel(audio(5)))


def test_wrong_sample_rate_fails_naming_the_fix() -> None:
    with pytest.raises(NodeFailed, match=r"48000 Hz.*needs 16000 Hz"):
        run_node("fusion.tokenizer", {}, inputs={"chunks": [chunk(0, rate=48_000)]})


@pytest.mark.parametrize("bad, field", [
    ({"sample_rate": 44_100}, "sample_rate"), ({"width": 330}, "with.width"),
    ({"output_slots": -1}, "with.output_slots"), ({"resize": "cubic"}, "with.resize"),
    ({"max_text_bytes": 64, "max_pending_text_bytes": 8}, "max_pending_text_bytes")])
def test_bad_params_are_load_errors(bad: dict[str, object], field: str) -> None:
    with pytest.raises(GraphError, match=field):
        Graph.build("g", {"tok": ("fusion.tokenizer", bad)}, [])


def test_defaults() -> None:
    p = TokenizerParams()
    assert (p.sample_rate, p.width, p.height, p.output_slots) == (16_000, 320, 240, 8)


def test_tokenizer_does_not_import_torch() -> None:
    code = "import sys, nodes.fusion; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
