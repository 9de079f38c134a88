"""Streaming recognition over ``pocketsphinx.Decoder``: audio in, hypotheses out. No asyncio.

    rec = Recognizer(jsgf=build_grammar())
    for hyp in rec.feed(samples, pts):      # float32 mono at 16 kHz, media time of sample 0
        ...                                 # partial hypotheses, then a final at each pause
    rec.flush()                             # final of the utterance still open, if any

Utterances are cut by an energy voice-activity detector (``EnergyVad``, 30 ms frames:
pocketsphinx's WebRTC-style ``Vad`` calls a faint noise floor speech often enough that a
pause never ends): one starts at the first ``onset`` of speech (with ``preroll`` of audio
before it, so a word's first phone is not lost) and ends after ``pause`` of non-speech;
then the decoder's best path becomes the final. ``feed`` gives one partial per call while
an utterance is open (the decoder's best path so far), so a caller feeding 200 ms
micro-turns gets a partial each micro-turn. Times are media times in ns (``pts`` of the
audio plus decoder frames). With ``confirm_units`` (the default) a partial holds back an
amount's unit word ("dollars") until the best path ``look`` (150 ms) earlier agrees on it
(``_confirmed``).

A faint deterministic noise floor (-66 dBFS) is added before decoding: exact digital
silence (zeros from a padded file or a filled gap) makes the decoder's features degenerate
and costs a lot of accuracy (issue 5's feasibility study). ``feed`` takes 30-100 ms of CPU
per 200 ms of speech (39 ms on average with pauses, on a loaded 2-core VM): callers on an
event loop run it in a worker thread.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pocketsphinx

from .grammar import GARBAGE, UNHEARD, amount_units, content_words, has_garbage, jsgf_words
from .pronunciations import DEFAULT_ACCENTS, AccentVariants, add
from .wordcheck import HELD, JOINED, LogMel, Span, WordCheck, amount_opinion, second_opinion

S = 1_000_000_000
MS = 1_000_000
FRAME_NS = 10 * MS  #: the decoder's frame step (frate 100)
NOISE_FLOOR = 0.0005  #: dither amplitude (float, full scale 1.0): about -66 dBFS
#: Decoder settings for the grammar search, tuned on the TUNED voices of bench/ears.py:
#: a low word insertion probability (default 0.65: short glue words got inserted all
#: over), initial cepstral means of espeak-like speech (the model's default belongs to
#: another channel: a session's first utterances came out worse), and no lattice
#: best-path pass at the end (it is slow on a looping grammar and gained nothing). Wider
#: beams than the defaults (1e-48, 7e-29): on 18 tuning clips WER 0.18 -> 0.14 for 1.5x
#: the CPU; 1e-80 gave 0.10 for 3.5x, too much for a 2-core machine that also speaks.
GRAMMAR_CONFIG: dict[str, Any] = {
    "wip": 0.01, "bestpath": False, "beam": 1e-60, "wbeam": 1e-40, "pbeam": 1e-60,
    "cmninit": "60,-0.4,1.1,11,-17.7,4.3,-12.2,-11.3,-7.9,-0.8,7.9,-10.3,4.8",
}
GRAMMAR_CACHE = 4  #: compiled grammars kept for switching back (``Recognizer._activate``)
_ALT = re.compile(r"\(\d+\)$")
_NOT_WORDS = frozenset({"<s>", "</s>", "<sil>", "[noise]", "[speech]", "<unk>"})

log = logging.getLogger("microturn.asr")


class Word(NamedTuple):
    text: str
    start: int  #: media time, ns
    end: int


class Hypothesis(NamedTuple):
    """What was heard in one utterance so far (``final=False``) or in the whole of it."""

    text: str
    words: tuple[Word, ...]
    start: int  #: media time the utterance began (ns)
    end: int  #: media time of the audio decoded so far / of the utterance's end
    final: bool
    #: media time of the end of the audio fed when it was made: ``end`` for a partial; for
    #: a final, the end of the feed that completed the pause closing the utterance (its
    #: ``end`` keeps only a little of the pause)
    at: int


class EnergyVad:
    """Speech / non-speech per frame from its level, against an adaptive noise floor.

    A frame is speech when its RMS is above ``max(min_level, floor * ratio)``; ``floor``
    follows the quietest recent frames (down at once, up slowly: 1% per frame), so a
    steady background (a fan, a dither) is not speech. Sans-IO and deterministic.
    """

    def __init__(self, *, min_level: float = 0.004, ratio: float = 4.0) -> None:
        self.min_level = min_level
        self.ratio = ratio
        self.floor = min_level / ratio

    def is_speech(self, frame: np.ndarray) -> bool:
        """``frame``: int16 samples."""
        x = frame.astype(np.float32) / 32768.0
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        speech = rms > max(self.min_level, self.floor * self.ratio)
        self.floor = min(rms, self.floor * 1.01) if rms > 1e-5 else self.floor
        return speech


class Recognizer:
    """One stream's decoder and its utterance segmentation. Not thread-safe: one caller.

    ``jsgf``: a grammar (``grammar.build_grammar``); without one, ``open_vocabulary``
    selects pocketsphinx's English language model, else ``set_grammar`` must come before
    the first ``feed``. ``beam``: the search beam (``GRAMMAR_CONFIG`` has 1e-60;
    pocketsphinx's default 1e-48 costs half the CPU and makes more errors). ``pause``:
    silence that ends an utterance (ns). ``onset``: speech needed to open one.
    ``max_utterance``: an utterance is cut (final) after this. ``acoustic_model``: a model
    directory (``nodes.asr.adapt``), or a phone network's ``.npz`` (decoded against the
    grammar by ``nodes.asr.ctc_engine``; ``beam`` does not apply); None: the English model
    the wheel ships.
    ``pronunciations``: words added to the dictionary (a word -> its phones; beside the
    dictionary's own for a word it has). ``accents``: rules of
    ``nodes.asr.pronunciations.ACCENTS`` whose variants of every grammar word the decoder
    also takes (``()``: the dictionary's alone). ``word_check``: a word classifier's
    ``.npz`` (``nodes.asr.wordcheck``) that gives a second opinion on the amounts and
    the content words of each hypothesis (a partial's glue words wait for the final);
    None: the decoder's words alone.
    """

    def __init__(self, *, jsgf: str | None = None, open_vocabulary: bool = False,
                 sample_rate: int = 16000,
                 pause: int = 240 * MS, onset: int = 60 * MS, preroll: int = 200 * MS,
                 max_utterance: int = 20 * S, beam: float | None = None,
                 confirm_units: bool = True, look: int = 150 * MS,
                 acoustic_model: str | None = None,
                 pronunciations: Mapping[str, Sequence[str]] | None = None,
                 accents: Sequence[str] = DEFAULT_ACCENTS,
                 word_check: str | None = None) -> None:
        if sample_rate != 16000:
            raise ValueError(f"the pocketsphinx model needs 16000 Hz audio, got {sample_rate} Hz")
        self.sample_rate = sample_rate
        config: dict[str, Any] = {"samprate": sample_rate, "logfn": os.devnull}
        if acoustic_model is not None:  # a model directory (nodes.asr.adapt)
            config["hmm"] = acoustic_model
        self._searchable = open_vocabulary
        if not open_vocabulary:
            config.update(GRAMMAR_CONFIG, lm=None)
        if beam is not None:  # wbeam keeps its distance to beam (1e-60 -> 1e-40)
            config.update(beam=beam, pbeam=beam, wbeam=min(1e-10, beam * 1e20))
        if acoustic_model is not None and acoustic_model.endswith(".npz"):
            from .ctc_engine import CtcDecoder  # a phone network (acoustic_model: phonenet)

            if open_vocabulary:
                raise ValueError("a phone network decodes against a grammar only, not with "
                                 "open_vocabulary")

            self._decoder: Any = CtcDecoder(acoustic_model)
        else:
            self._decoder = pocketsphinx.Decoder(**config)
        self._variants = AccentVariants(accents)
        self._garbage = False  # the garbage loop's pseudo-words are in the dictionary
        self.add_pronunciations(pronunciations or {})
        self._vad = EnergyVad()
        self._frame = 30 * sample_rate // 1000  # samples per VAD frame
        self._grammar_n = 0
        #: compiled grammars by their text, most recently used last: compiling one takes
        #: 0.3-0.8 s, and a dialog switches back and forth between a few (a stopwatch's
        #: idle and running phrases), so a switch back is only an activation
        self._searches: dict[str, str] = {}
        self._confirm = confirm_units
        self._look = look * sample_rate // S
        self._units: frozenset[str] = frozenset()
        self._last_path: list[str] = []  # the previous partial's words, before holding back
        self._pending_grammar: str | None = None
        self._content: frozenset[str] = frozenset()  # the grammar's content words
        self._check = WordCheck(word_check) if word_check is not None else None
        self._mel = LogMel()  # the open utterance's features, for the check
        #: the check's decisions on the open utterance's amounts
        self._memo: dict[Span, tuple[str, float]] = {}
        self._seen: dict[Span, np.ndarray] = {}  # the network on a partial's content words
        if jsgf is not None:
            self._activate(jsgf)
        self._pause_frames = max(1, -(-pause * sample_rate // S) // self._frame)
        self._onset_frames = max(1, -(-onset * sample_rate // S) // self._frame)
        self._max_samples = max_utterance * sample_rate // S
        self._rng = np.random.default_rng(0)
        # Audio since the last VAD frame boundary and recent audio (for the preroll).
        self._tail = np.zeros(0, np.int16)
        self._tail_start = 0  # absolute sample index of _tail[0]
        self._recent: deque[tuple[int, np.ndarray]] = deque()
        self._preroll = preroll * sample_rate // S
        self._next = None  # type: int | None  # expected sample index of the next feed
        # Utterance state.
        self._in_utt = False
        self._utt_start = 0  # absolute sample index
        self._fed = 0  # absolute sample index fed to the decoder so far
        self._speech_run = 0
        self._silence_run = 0

    # -- vocabulary ----------------------------------------------------------------------------

    def unknown_words(self, words: set[str]) -> list[str]:
        """The words the pronunciation dictionary does not know, sorted."""
        return sorted(w for w in words if self._decoder.lookup_word(w) is None)

    def add_pronunciations(self, pronunciations: Mapping[str, Sequence[str]]) -> None:
        """Add words to the dictionary (a word -> its phones, as
        ``pronunciations.normalize_pronunciations`` gives them), beside the dictionary's
        own for a word it has; grammars compiled from now on take them, and their accents'
        variants. ``ValueError`` if pocketsphinx refuses one."""
        add(self._decoder, pronunciations)
        self._variants.forget(pronunciations)

    def set_grammar(self, jsgf: str) -> None:
        """Switch to a new grammar: now when no utterance is open, else when it ends.
        ``ValueError`` if pocketsphinx cannot parse it."""
        if self._in_utt:
            self._pending_grammar = jsgf
        else:
            self._activate(jsgf)

    @property
    def grammars_compiled(self) -> int:
        """How many grammars this decoder has compiled (a switch back to a cached one does
        not count)."""
        return self._grammar_n

    def _activate(self, jsgf: str) -> None:
        name = self._searches.pop(jsgf, None)
        if name is None:
            self._grammar_n += 1
            name = f"g{self._grammar_n}"
            self._variants.cover(self._decoder, jsgf_words(jsgf))
            if has_garbage(jsgf) and not self._garbage:
                add(self._decoder, {w: [p] for w, p in GARBAGE.items()})
                self._garbage = True
            self._decoder.add_jsgf_string(name, jsgf)
        self._searches[jsgf] = name
        self._decoder.activate_search(name)
        self._units = amount_units(jsgf)
        self._content = content_words(jsgf)
        self._searchable = True
        while len(self._searches) > GRAMMAR_CACHE:
            old = next(iter(self._searches))
            self._decoder.remove_search(self._searches.pop(old))

    # -- audio -------------------------------------------------------------------------------

    @property
    def in_utterance(self) -> bool:
        return self._in_utt

    def feed(self, samples: np.ndarray, pts: int) -> list[Hypothesis]:
        """Decode mono float samples whose first sample is at media time ``pts`` (ns).

        Returns the finals of utterances that ended in this audio, then (if one is still
        open) its partial. Audio must come in order; a gap closes the open utterance.
        """
        start = pts * self.sample_rate // S
        pcm = self._to_pcm(samples)
        out: list[Hypothesis] = []
        if self._next is not None and start != self._next:
            out += self.flush()
            self._tail = np.zeros(0, np.int16)
            self._recent.clear()
        if not self._tail.size:
            self._tail_start = start
        self._next = start + pcm.size
        self._remember(start, pcm)
        buf = np.concatenate((self._tail, pcm)) if self._tail.size else pcm
        base = self._tail_start
        n_frames = buf.size // self._frame
        for k in range(n_frames):
            a = k * self._frame
            frame = buf[a:a + self._frame]
            final = self._step(self._vad.is_speech(frame), base + a)
            if final is not None:
                out.append(final)
        self._tail = buf[n_frames * self._frame:]
        self._tail_start = base + n_frames * self._frame
        if self._in_utt:
            if self._confirm and self._units and self._next - self._fed > self._look:
                # Look at the best path a little before the end too: the partial's amount
                # must agree with it (``_confirmed``), a look costs one backtrace.
                self._feed_decoder(self._next - self._look)
                self._last_path = self._texts(self._words())
            self._feed_decoder(self._next)
            partial = self._hypothesis(final=False)
            out.append(partial)
        return out

    def flush(self) -> list[Hypothesis]:
        """End the open utterance, if any, and return its final."""
        if not self._in_utt:
            return []
        return [self._end_utterance(self._next or self._fed)]

    def reset(self) -> None:
        """Drop the open utterance without a final (an interruption made it stale)."""
        if self._in_utt:
            self._decoder.end_utt()
            self._in_utt = False
            self._after_utterance()
        self._speech_run = 0

    # -- internals ---------------------------------------------------------------------------

    def _to_pcm(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        noise = self._rng.uniform(-NOISE_FLOOR, NOISE_FLOOR, x.size).astype(np.float32)
        return (np.clip(x + noise, -1.0, 1.0) * 32767.0).astype(np.int16)

    def _remember(self, start: int, pcm: np.ndarray) -> None:
        self._recent.append((start, pcm))
        while len(self._recent) > 1 and (start - self._recent[1][0]) >= self._preroll:
            self._recent.popleft()

    def _audio(self, a: int, b: int) -> np.ndarray:
        """Remembered samples in ``[a, b)`` (absolute indices)."""
        parts = []
        for s0, pcm in self._recent:
            lo, hi = max(a, s0), min(b, s0 + pcm.size)
            if lo < hi:
                parts.append(pcm[lo - s0:hi - s0])
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def _step(self, speech: bool, at: int) -> Hypothesis | None:
        """One VAD frame starting at sample ``at``: open/close utterances."""
        end = at + self._frame
        if not self._in_utt:
            self._speech_run = self._speech_run + 1 if speech else 0
            if self._speech_run >= self._onset_frames:
                onset = end - self._speech_run * self._frame
                first = max(onset - self._preroll, self._recent[0][0])
                self._start_utterance(first)
            return None
        self._silence_run = 0 if speech else self._silence_run + 1
        if self._silence_run >= self._pause_frames or end - self._utt_start >= self._max_samples:
            # Keep a little of the pause in the utterance: the decoder ends words better.
            cut = end - max(0, self._silence_run - 2) * self._frame
            return self._end_utterance(cut)
        return None

    def _start_utterance(self, first: int) -> None:
        if self._pending_grammar is not None:
            self._activate(self._pending_grammar)
            self._pending_grammar = None
        if not self._searchable:
            raise RuntimeError("Recognizer: no grammar; call set_grammar() before feed() "
                               "or create it with open_vocabulary=True")
        self._decoder.start_utt()
        self._last_path = []
        self._mel = LogMel()
        self._memo = {}
        self._seen = {}
        self._in_utt = True
        self._utt_start = self._fed = first
        self._silence_run = 0

    def _feed_decoder(self, upto: int) -> None:
        if upto > self._fed:
            pcm = self._audio(self._fed, upto)
            if pcm.size:
                self._decoder.process_raw(pcm.tobytes(), False, False)
                if self._check is not None:
                    self._mel.add(pcm.astype(np.float32) / 32767.0)
            self._fed = upto

    def _end_utterance(self, cut: int) -> Hypothesis:
        self._feed_decoder(cut)
        # The best path so far, in case no path reaches the grammar's end: then the final
        # search has nothing (a word cut off, an accent the grammar does not fit), and the
        # partial path is a better final than none (measured: 3 of 8 en-029 clips came out
        # empty without it).
        at = max(self._next or 0, cut) * S // self.sample_rate
        fallback = self._hypothesis(final=True, at=at)
        self._decoder.end_utt()
        self._in_utt = False
        hyp = self._hypothesis(final=True, at=at)
        if not hyp.text:
            hyp = fallback._replace(end=hyp.end)
        if self._check is not None and hyp.words:
            hyp = self._second_opinion(hyp)
        self._mel = LogMel()
        self._after_utterance()
        return hyp

    def _second_opinion(self, hyp: Hypothesis) -> Hypothesis:
        """``hyp`` with the word classifier's opinion on its amounts and, in a final, on
        its content words (``nodes.asr.wordcheck``)."""
        assert self._check is not None
        amounts = any(w.text in self._units for w in hyp.words)
        content = any(w.text in self._content for w in hyp.words)
        if not amounts and not (content or (hyp.final and self._content)):
            return hyp

        @functools.cache
        def feats() -> np.ndarray:  # the utterance so far, made only if a word is asked about
            return self._mel.features()

        t0 = self._utt_start * S // self.sample_rate

        def spans_of(words: Sequence[Word]) -> list[Span]:
            return [Span(w.text, (w.start - t0) // FRAME_NS, (w.end - w.start) // FRAME_NS)
                    for w in words]

        words = list(hyp.words)
        if amounts:
            texts = amount_opinion(self._check, feats, spans_of(words), self._units,
                                   memo=self._memo, partial=not hyp.final)
            words = _rewritten(words, texts)
        if self._content and (hyp.final or content):
            # a partial's content words too: the count skill answers "how many" from the
            # partial, with the words before the question
            texts = second_opinion(self._check, feats, spans_of(words), self._content,
                                   memo=None if hyp.final else self._seen,
                                   partial=not hyp.final)
            words = _rewritten(words, texts)
        if words == list(hyp.words):
            return hyp
        return hyp._replace(text=" ".join(w.text for w in words), words=tuple(words))

    def _after_utterance(self) -> None:
        self._speech_run = 0
        self._silence_run = 0
        if self._pending_grammar is not None:
            self._activate(self._pending_grammar)
            self._pending_grammar = None

    def _hypothesis(self, *, final: bool, at: int | None = None) -> Hypothesis:
        t0 = self._utt_start * S // self.sample_rate
        words = self._words()
        end = self._fed * S // self.sample_rate
        if not final and self._confirm:
            words = self._confirmed(words)
        hyp = Hypothesis(" ".join(w.text for w in words), tuple(words), t0, end, final,
                         end if at is None else at)
        if not final and self._check is not None and words:
            hyp = self._second_opinion(hyp)
        return hyp

    def _words(self) -> list[Word]:
        """The decoder's best path so far, as words with media times."""
        t0 = self._utt_start * S // self.sample_rate
        words = []
        # seg() is None when no path reached the grammar's end (noise, a cut-off word).
        for seg in self._decoder.seg() or ():
            w = _ALT.sub("", seg.word).lower()
            if w in _NOT_WORDS or w[:1] in "([+" or not w:
                continue
            start, end = t0 + seg.start_frame * FRAME_NS, t0 + (seg.end_frame + 1) * FRAME_NS
            if w in GARBAGE:  # a run of the garbage loop's phones: one word not known
                if words and words[-1].text == UNHEARD:
                    start = words.pop().start
                w = UNHEARD
            words.append(Word(w, start, end))
        return words

    def _texts(self, words: list[Word]) -> list[str]:
        return ["<unit>" if w.text in self._units else w.text for w in words]  # dollar = dollars

    def _confirmed(self, words: list[Word]) -> list[Word]:
        """A partial up to (not including) a unit word that the last look at the best
        path (``look`` before the end of this audio, or else the previous partial) did not
        have at the same place: an amount is only told once two looks agree on it.

        Measured: the decoder's best path often ends in a unit word too early ("three
        dollars" while "three hundred ..." is being said) or briefly turns the words after
        an amount into another one ("four dollar" for "for lunch"); a front end acting
        on the first partial with an amount said those. Other words are not held back
        (a barge-in needs the first words at once).
        """
        texts = self._texts(words)
        same = 0
        for a, b in zip(texts, self._last_path, strict=False):
            if a != b:
                break
            same += 1
        self._last_path = texts
        cut = next((i for i in range(same, len(texts)) if texts[i] == "<unit>"), len(texts))
        return words[:cut]


def _rewritten(words: Sequence[Word], texts: Sequence[str]) -> list[Word]:
    """``words`` with the texts of the word check's opinion; a word it ``JOINED`` to the
    one before becomes part of it; a partial ends before the words it ``HELD``."""
    out: list[Word] = []
    for w, t in zip(words, texts, strict=True):
        if t == HELD:
            break
        if t == JOINED and out:
            out[-1] = out[-1]._replace(end=w.end)
        else:
            out.append(w._replace(text=t))
    return out
