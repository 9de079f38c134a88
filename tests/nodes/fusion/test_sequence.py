"""The interleaved layout of one micro-turn, in model order."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.fusion.patches import frame_to_patches
from nodes.fusion.sequence import check_turn, fuse
from nodes.types import (
    TOK_AUDIO,
    TOK_OUTPUT,
    TOK_TEXT,
    TOK_TURN,
    TOK_VIDEO,
    Modality,
)

A, V, T, M, OUT = (Modality.AUDIO, Modality.VIDEO, Modality.TEXT, Modality.MARKER,
                 Modality.OUTPUT)


def levels(n: int = 16) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 16, (n, 80), dtype=np.uint8)


def frame(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    img = np.random.default_rng(seed).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    return frame_to_patches(img)  # 6 patches


def test_full_turn_order_markers_and_payloads() -> None:
    dm, fr = levels(), frame()
    turn = fuse(3, 600_000_000, dm, [fr], b"hi", output_slots=8)
    check_turn(turn)
    expected = [M, M, *[A] * 16, M, *[V] * 6, M, T, T, M, *[OUT] * 8]
    assert turn.modality.tolist() == expected
    assert turn.tokens.tolist() == [TOK_TURN, TOK_AUDIO, TOK_VIDEO, TOK_TEXT, 104, 105,
                                    TOK_OUTPUT]
    assert turn.tokens.dtype == np.int32 and turn.modality.dtype == np.uint8
    assert (turn.index, turn.pts, turn.output_slots, turn.length) == (3, 600_000_000, 8, 37)
    assert turn.dmel is dm
    np.testing.assert_array_equal(turn.patches, fr[0])
    np.testing.assert_array_equal(turn.patch_pos, fr[1])


def test_audio_only_turn_keeps_the_skeleton() -> None:
    turn = fuse(0, 0, levels(), output_slots=4)
    check_turn(turn)
    assert turn.modality.tolist() == [M, M, *[A] * 16, M, *[OUT] * 4]
    assert turn.tokens.tolist() == [TOK_TURN, TOK_AUDIO, TOK_OUTPUT]
    assert turn.patches.shape == (0, 4800) and turn.patch_pos.shape == (0, 2)


def test_two_frames_each_get_a_video_marker() -> None:
    turn = fuse(1, 0, levels(), [frame(1), frame(2)], b"", output_slots=0)
    check_turn(turn)
    assert turn.modality.tolist() == [M, M, *[A] * 16, M, *[V] * 6, M, *[V] * 6, M]
    assert turn.tokens.tolist() == [TOK_TURN, TOK_AUDIO, TOK_VIDEO, TOK_VIDEO, TOK_OUTPUT]
    assert turn.patches.shape == (12, 4800)
    np.testing.assert_array_equal(turn.patches[6:], frame(2)[0])


def test_check_turn_names_what_does_not_fit() -> None:
    turn = fuse(2, 0, levels(), output_slots=2)
    bad = type(turn)(pts=0, index=2, modality=turn.modality, tokens=turn.tokens,
                     dmel=turn.dmel[:3], patches=turn.patches, patch_pos=turn.patch_pos,
                     output_slots=2)
    with pytest.raises(ValueError, match="turn 2: dmel"):
        check_turn(bad)
