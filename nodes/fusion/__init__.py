"""Early-fusion tokenizing: one micro-turn of audio, video and text -> one token sequence.

No learned encoder (numpy only; torch is never imported here): dMel audio frames
(``dmel``), raw 40x40 image patches (``patches``), UTF-8 byte text (``text``), interleaved
into a ``FusedTurn`` (``sequence``) by the ``fusion.tokenizer`` node (``node``).
"""

from .dmel import DMelStream, dmel
from .node import FusionTokenizer, TokenizerParams, TurnTokenizer
from .patches import frame_to_patches, patches_to_frame, resize_frame
from .sequence import check_turn, fuse
from .text import TextQueue, turn_text

__all__ = [
    "DMelStream", "FusionTokenizer", "TextQueue", "TokenizerParams", "TurnTokenizer",
    "check_turn", "dmel", "frame_to_patches", "fuse", "patches_to_frame", "resize_frame",
    "turn_text",
]
