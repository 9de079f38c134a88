"""Synthetic ``FusedTurn``s in the tokenizer's layout, for tests and benchmarks (no torch).

Layout: ``TURN AUDIO <dMel frames> [TEXT <bytes>] [VIDEO <patches>] OUTPUT <slots>``.
"""

from __future__ import annotations

import numpy as np

from nodes.types import (
    TOK_AUDIO,
    TOK_OUTPUT,
    TOK_TEXT,
    TOK_TURN,
    TOK_VIDEO,
    FusedTurn,
    Modality,
)

PERIOD = 200_000_000


def synthetic_turn(index: int, *, seed: int = 0, audio_frames: int = 16, text: str = "",
                   patches: int = 0, output_slots: int = 4) -> FusedTurn:
    """A deterministic random micro-turn (``seed`` and ``index`` pick its content)."""
    rng = np.random.default_rng((seed, index))
    mod: list[int] = [int(Modality.MARKER)] * 2 + [int(Modality.AUDIO)] * audio_frames
    ids: list[int] = [TOK_TURN, TOK_AUDIO]
    data = text.encode()
    if data:
        mod += [Modality.MARKER] + [Modality.TEXT] * len(data)
        ids += [TOK_TEXT, *data]
    if patches:
        mod += [Modality.MARKER] + [Modality.VIDEO] * patches
        ids += [TOK_VIDEO]
    mod += [Modality.MARKER] + [Modality.OUTPUT] * output_slots
    ids += [TOK_OUTPUT]
    grid = np.stack([np.arange(patches) // 8, np.arange(patches) % 8], 1).astype(np.int16)
    return FusedTurn(
        pts=index * PERIOD, index=index,
        modality=np.asarray(mod, dtype=np.uint8),
        tokens=np.asarray(ids, dtype=np.int32),
        dmel=rng.integers(0, 16, (audio_frames, 80), dtype=np.uint8),
        patches=rng.integers(0, 256, (patches, 40 * 40 * 3), dtype=np.uint8),
        patch_pos=grid, output_slots=output_slots)
