"""Message types shared by the built-in nodes (the engine's core types live in
``flow.messages``). Third-party nodes may use these too: they are part of the public API."""

from __future__ import annotations

import enum
from typing import Any

import msgspec
import numpy as np

from flow.messages import Message, TextDelta, VideoFrame


class Chunk(Message, frozen=True, kw_only=True):
    """One micro-turn of input: media time ``[pts, pts + period)``, ``pts = index * period``.

    ``audio`` holds exactly ``period * sample_rate`` samples (mono float32 in [-1, 1]);
    ``video`` the latest frame(s) of the window (fps-capped); ``text`` what was typed or
    heard in it. ``filled`` counts samples of silence inserted for missing audio, ``late``
    the inputs that arrived after their window closed (they are put in this chunk).
    """

    index: int
    period: int
    audio: np.ndarray
    sample_rate: int
    video: tuple[VideoFrame, ...] = ()
    text: tuple[TextDelta, ...] = ()
    filled: int = 0
    late: int = 0

    @property
    def duration(self) -> int:
        return self.period


class Heard(TextDelta, frozen=True, kw_only=True):
    """Words a recogniser heard: ``text`` between media times ``start`` and ``end``.
    Partial hypotheses (``final=False``) may be revised by the next one."""

    start: int = 0
    end: int = 0
    words: tuple[tuple[str, int, int], ...] = ()  #: (word, start ns, end ns)


class Modality(enum.IntEnum):
    """What each position of a fused sequence is."""

    TEXT = 0  #: a text token (user's typed/heard text)
    AUDIO = 1  #: one dMel frame (80 channels x 4 bits)
    VIDEO = 2  #: one raw 40x40 RGB patch
    MARKER = 3  #: a structural token (turn start, modality separators)
    OUTPUT = 4  #: a slot for the model's own output token


# Text vocabulary: bytes 0-255, then structural tokens.
TEXT_BYTES = 256
TOK_TURN = 256  #: start of a micro-turn's input
TOK_AUDIO = 257  #: audio follows
TOK_VIDEO = 258  #: video follows
TOK_TEXT = 259  #: user text follows
TOK_OUTPUT = 260  #: the model's output slot follows
TOK_SILENT = 261  #: model output: nothing to say this micro-turn
TOK_EOS = 262  #: model output: end of its utterance
TEXT_VOCAB = 263


class FusedTurn(Message, frozen=True, kw_only=True):
    """One micro-turn as the model sees it: an interleaved sequence, in model order.

    Position i has modality ``modality[i]``. The rows of ``tokens`` (TEXT and MARKER ids),
    ``dmel`` (AUDIO) and ``patches`` (VIDEO) are consumed in sequence order by the
    positions of their modality. The last ``output_slots`` positions are OUTPUT: the
    model's own output of this turn goes there.
    """

    index: int
    modality: np.ndarray  #: uint8 (n,)
    tokens: np.ndarray  #: int32 (n_text_or_marker,)
    dmel: np.ndarray  #: uint8 (n_audio, 80), levels 0..15
    patches: np.ndarray  #: uint8 (n_video, 40*40*3), raw RGB
    patch_pos: np.ndarray  #: int16 (n_video, 2): patch row, column in the frame
    output_slots: int = 0

    @property
    def length(self) -> int:
        return int(self.modality.shape[0])


class Action(Message, frozen=True, kw_only=True):
    """What the front end decided this micro-turn: ``silent``, ``speak`` or ``delegate``.
    ``text`` is what it says (speak) or asks (delegate); ``reaction`` (ns) is the time from
    the input that triggered it to the decision, when known."""

    kind: str
    text: str = ""
    turn: int = 0
    reaction: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class DelegateRequest(Message, frozen=True, kw_only=True):
    """A question for the back end, with the conversation so far."""

    id: int
    query: str
    context: tuple[tuple[str, str], ...] = ()  #: (role, text) pairs, oldest first
    tool: str | None = None
    args: dict[str, Any] = msgspec.field(default_factory=dict)


class BackendResult(Message, frozen=True, kw_only=True):
    """An answer (or a piece of one) from the back end, for the front end to weave in."""

    id: int
    text: str
    final: bool = True
    error: str | None = None
