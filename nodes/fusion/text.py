"""Byte-level text tokens: the UTF-8 bytes of the user's text are the tokens (0-255), so no
vocabulary file is needed. Sans-IO: ``TextQueue`` holds what is still to be tokenized.

What a micro-turn's text is: the text of its ``TextDelta``s in order, except a recogniser's
partial hypotheses (``Heard`` with ``final=False``: the next one revises them, and the final
one carries the whole utterance). A final delta ends an utterance: a ``\\n`` byte follows it,
so consecutive utterances do not run together.

At most ``max_bytes`` bytes go into one turn; the rest waits for the next turns (user text
is never cut short by a long paste). A cut falls on a character boundary when one fits.
The queue is bounded (``max_pending`` bytes): past it the OLDEST bytes are dropped and
counted in ``dropped``, because the newest text is what the conversation is about.
"""

from __future__ import annotations

from collections.abc import Iterable

from flow.messages import TextDelta
from nodes.types import Heard


def turn_text(deltas: Iterable[TextDelta]) -> bytes:
    """The UTF-8 bytes that ``deltas`` contribute to the sequence (see the module doc)."""
    parts: list[bytes] = []
    for d in deltas:
        if isinstance(d, Heard) and not d.final:
            continue
        if d.text:
            parts.append(d.text.encode("utf-8"))
        if d.final:
            parts.append(b"\n")
    return b"".join(parts)


class TextQueue:
    """Pending text bytes, handed out at most ``max_bytes`` per turn."""

    def __init__(self, max_bytes: int, max_pending: int) -> None:
        if max_bytes < 1 or max_pending < max_bytes:
            raise ValueError(f"need 1 <= max_bytes ({max_bytes}) <= max_pending ({max_pending})")
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self._pending = bytearray()
        self.dropped = 0  #: bytes lost to the ``max_pending`` bound

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, data: bytes) -> None:
        self._pending += data
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            del self._pending[:excess]
            # Do not start on the middle of a character.
            skip = 0
            while skip < len(self._pending) and self._pending[skip] & 0xC0 == 0x80:
                skip += 1
            del self._pending[:skip]
            self.dropped += excess + skip

    def take(self) -> bytes:
        """This turn's bytes (possibly empty)."""
        pending = self._pending
        n = min(self.max_bytes, len(pending))
        if n < len(pending):
            cut = n
            while cut > 0 and pending[cut] & 0xC0 == 0x80:  # continuation byte
                cut -= 1
            if cut > 0:
                n = cut
        out = bytes(pending[:n])
        del pending[:n]
        return out

    def clear(self) -> None:
        self._pending.clear()
