"""Interleaving one micro-turn's tokens into a ``FusedTurn``, in the order the model reads:

    [TOK_TURN]
    [TOK_AUDIO]  dMel frame x n_audio            (16 for a 200 ms turn at 16 kHz)
    [TOK_VIDEO]  patch x n_patches               (once per frame; absent without a frame)
    [TOK_TEXT]   byte x n_bytes                  (absent without text)
    [TOK_OUTPUT] OUTPUT x output_slots           (the model's own output of this turn)

Marker and text positions take their ids from ``tokens`` in sequence order, AUDIO positions
the rows of ``dmel``, VIDEO positions the rows of ``patches`` (with their grid position in
``patch_pos``). The audio and output markers are always there, so every turn has the same
skeleton and the model always knows where its output goes.
"""

from __future__ import annotations

from collections.abc import Sequence

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

from .dmel import N_MELS
from .patches import PATCH_VALUES


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


_NO_PATCHES = _frozen(np.zeros((0, PATCH_VALUES), dtype=np.uint8))
_NO_POSITIONS = _frozen(np.zeros((0, 2), dtype=np.int16))


def fuse(index: int, pts: int, dmel: np.ndarray,
         frames: Sequence[tuple[np.ndarray, np.ndarray]] = (), text: bytes = b"",
         output_slots: int = 0) -> FusedTurn:
    """Build turn ``index`` from its dMel rows (n, 80) uint8, its frames as
    ``(patches, positions)`` pairs from ``frame_to_patches``, its text bytes and the number
    of output slots."""
    n_audio = int(dmel.shape[0])
    n_patches = [int(p.shape[0]) for p, _ in frames]
    n = (2 + n_audio + sum(1 + k for k in n_patches) + (1 + len(text) if text else 0)
         + 1 + output_slots)
    modality = np.empty(n, dtype=np.uint8)
    tokens = [TOK_TURN, TOK_AUDIO]
    modality[0] = modality[1] = Modality.MARKER
    i = 2
    modality[i:i + n_audio] = Modality.AUDIO
    i += n_audio
    for k in n_patches:
        tokens.append(TOK_VIDEO)
        modality[i] = Modality.MARKER
        modality[i + 1:i + 1 + k] = Modality.VIDEO
        i += 1 + k
    if text:
        tokens.append(TOK_TEXT)
        tokens.extend(text)
        modality[i] = Modality.MARKER
        modality[i + 1:i + 1 + len(text)] = Modality.TEXT
        i += 1 + len(text)
    tokens.append(TOK_OUTPUT)
    modality[i] = Modality.MARKER
    modality[i + 1:] = Modality.OUTPUT
    if len(frames) == 1:
        patches, positions = frames[0]
    elif frames:
        patches = np.concatenate([p for p, _ in frames])
        positions = np.concatenate([q for _, q in frames])
    else:
        patches, positions = _NO_PATCHES, _NO_POSITIONS
    return FusedTurn(pts=pts, index=index, modality=modality,
                     tokens=np.array(tokens, dtype=np.int32), dmel=dmel, patches=patches,
                     patch_pos=positions, output_slots=output_slots)


def check_turn(turn: FusedTurn) -> None:
    """Raise ``ValueError`` if ``turn``'s arrays do not fit its modality layout (for models
    that accept turns from other tokenizers, and for tests)."""
    m = turn.modality
    counts = np.bincount(m, minlength=len(Modality))
    problems = []
    if turn.tokens.shape != (counts[Modality.TEXT] + counts[Modality.MARKER],):
        problems.append(f"tokens {turn.tokens.shape} for {counts[Modality.TEXT]} text and "
                        f"{counts[Modality.MARKER]} marker positions")
    if turn.dmel.shape != (counts[Modality.AUDIO], N_MELS) or turn.dmel.dtype != np.uint8:
        problems.append(f"dmel {turn.dmel.shape} {turn.dmel.dtype} for "
                        f"{counts[Modality.AUDIO]} audio positions")
    elif turn.dmel.size and int(turn.dmel.max()) > 15:
        problems.append("dmel levels above 15")
    if turn.patches.shape != (counts[Modality.VIDEO], PATCH_VALUES):
        problems.append(f"patches {turn.patches.shape} for {counts[Modality.VIDEO]} video "
                        "positions")
    if turn.patch_pos.shape != (counts[Modality.VIDEO], 2):
        problems.append(f"patch_pos {turn.patch_pos.shape}")
    k = turn.output_slots
    if counts[Modality.OUTPUT] != k or (k and not (m[-k:] == Modality.OUTPUT).all()):
        problems.append(f"the last {k} positions must be the OUTPUT slots")
    if problems:
        raise ValueError(f"turn {turn.index}: " + "; ".join(problems))
