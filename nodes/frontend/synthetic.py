"""Synthetic ``FusedTurn``s in the tokenizer's layout, for tests and benchmarks (no torch).

They are built by the tokenizer's own ``fuse`` (``TURN AUDIO <dMel> [VIDEO <patches>]
[TEXT <bytes>] OUTPUT <slots>``) from seeded random content, so the model is always tested
on the layout the tokenizer really produces.
"""

from __future__ import annotations

import numpy as np

from nodes.fusion.sequence import fuse
from nodes.types import FusedTurn

PERIOD = 200_000_000


def synthetic_turn(index: int, *, seed: int = 0, audio_frames: int = 16, text: str = "",
                   patches: int = 0, output_slots: int = 4) -> FusedTurn:
    """A deterministic random micro-turn (``seed`` and ``index`` pick its content)."""
    rng = np.random.default_rng((seed, index))
    dmel = rng.integers(0, 16, (audio_frames, 80), dtype=np.uint8)
    frames = []
    if patches:
        pixels = rng.integers(0, 256, (patches, 40 * 40 * 3), dtype=np.uint8)
        grid = np.stack([np.arange(patches) // 8, np.arange(patches) % 8], 1).astype(np.int16)
        frames.append((pixels, grid))
    return fuse(index, index * PERIOD, dmel, frames, text.encode(), output_slots)
