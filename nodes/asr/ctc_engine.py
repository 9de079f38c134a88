"""The phone network and the grammar search behind the ``Recognizer``, in place of
pocketsphinx's decoder (``acoustic_model: phonenet``).

``CtcDecoder`` has the part of ``pocketsphinx.Decoder``'s interface that ``Recognizer``
uses: a pronunciation dictionary (``lookup_word``, ``add_word``), grammars by name
(``add_jsgf_string``, ``activate_search``, ``remove_search``) and one utterance at a time
(``start_utt``, ``process_raw``, ``seg``, ``end_utt``). The ``Recognizer`` keeps what it
does around the decoder: the voice-activity detector that opens and closes utterances,
partials each micro-turn, holding back a unit word, finals at pauses.

During an utterance, each output frame of the network (``phone_net``) is searched for
good once ``CONTEXT`` frames of audio follow it (its output no longer changes but for the
utterance's mean, which is taken over the loud frames so far); a partial (``seg``)
searches the newer frames on a fork of the search, as far as the audio goes, and shows
its last word only once the path has reached that word's last phone: a word is not told
before it is said. The final continues the same search to the end of the utterance (a
second search of the whole utterance with its final mean gave the same finals on 96
stand-in clips, for a cost that grows with the utterance: docs/ears.md, twenty-fourth
round).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .ctc_decode import (
    PHONE_CLASS,
    CtcGraph,
    CtcSearch,
    Lexicon,
    default_dictionary,
    read_dictionary,
)
from .phone_net import PhoneNet
from .wordcheck import LogMel

_ALT = re.compile(r"^(.*)\((\d+)\)$")


class Segment(NamedTuple):
    """A word of the best path, as ``pocketsphinx.Segment`` has it: 10 ms frames from the
    utterance's start, the end frame included."""

    word: str
    start_frame: int
    end_frame: int


class CtcDecoder:
    """See the module's docstring. ``model``: a phone network's ``.npz``."""

    def __init__(self, model: str | Path | None = None) -> None:
        self._net = PhoneNet(model) if model is not None else PhoneNet()
        self._dict = read_dictionary(default_dictionary())
        self._extra: dict[str, list[str]] = {}
        self._graphs: dict[str, CtcGraph] = {}
        self._graph: CtcGraph | None = None
        self._search: CtcSearch | None = None
        self._mel = LogMel()
        self._committed = 0  # output frames searched for good
        self._tentative = np.zeros((0, 40), np.float32)
        self._final: list[Segment] | None = None
        self._ended = False
        self._dirty = False

    # -- the dictionary ------------------------------------------------------------------

    def lookup_word(self, word: str) -> str | None:
        m = _ALT.match(word)
        base, k = (m.group(1), int(m.group(2)) - 1) if m else (word, 0)
        have = list(self._dict.get(base, ())) + self._extra.get(base, [])
        return have[k] if 0 <= k < len(have) else None

    def add_word(self, word: str, phones: str, update: bool = True) -> None:
        m = _ALT.match(word)
        base = m.group(1) if m else word
        said = " ".join(phones.upper().split())
        bad = [p for p in said.split() if p not in PHONE_CLASS]
        if bad or not said:
            raise RuntimeError(f"no such phone: {bad[:1]}")
        self._extra.setdefault(base, []).append(said)

    # -- grammars --------------------------------------------------------------------------

    def add_jsgf_string(self, name: str, jsgf: str) -> None:
        self._graphs[name] = CtcGraph.from_jsgf(jsgf, Lexicon(self._extra, accents=()))

    def activate_search(self, name: str) -> None:
        self._graph = self._graphs[name]

    def remove_search(self, name: str) -> None:
        self._graphs.pop(name, None)

    # -- an utterance --------------------------------------------------------------------

    def start_utt(self) -> None:
        if self._graph is None:
            raise RuntimeError("CtcDecoder: no grammar")
        self._search = CtcSearch(self._graph)
        self._mel = LogMel()
        self._committed = 0
        self._tentative = np.zeros((0, 40), np.float32)
        self._final = None
        self._ended = False
        self._dirty = False

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> None:
        pcm = np.frombuffer(data, np.int16).astype(np.float32) / 32767.0
        self._mel.add(pcm)
        self._dirty = True

    def end_utt(self) -> None:
        """The utterance is over; its final is searched for when ``seg`` asks (so that an
        utterance dropped without one, ``Recognizer.reset``, costs nothing)."""
        self._ended = True

    def seg(self) -> list[Segment] | None:
        if self._ended:
            if self._final is None:
                self._final = self._final_words()
            return self._final
        if self._search is None:
            return None
        self._update()
        if not len(self._tentative):
            return _segments(self._search.best(said=True))
        guess = self._search.fork()
        guess.advance(self._tentative)
        return _segments(guess.best(said=True))

    def _final_words(self) -> list[Segment]:
        if self._search is None:
            return []
        self._update()
        search, self._search = self._search, None
        search.advance(self._tentative)
        return _segments(search.final())

    def _update(self) -> None:
        if not self._dirty or self._search is None:
            return
        self._dirty = False
        feats = self._mel.features()
        lp = self._net.logprobs(feats, self._committed)
        # output frame j reads input frames up to 2 j + 2 context + 1; the last two of
        # ``feats`` are padding (``LogMel``)
        done = max(0, (len(feats) - 4) // 2 - self._net.context - self._committed)
        if done:
            self._search.advance(lp[:done])
            self._committed += done
        self._tentative = lp[done:]


def _segments(words: Sequence[tuple[str, int, int]]) -> list[Segment]:
    return [Segment(w, 2 * a, 2 * b - 1) for w, a, b in words]
