"""A second opinion on amounts and content words: a word classifier on the audio.

pocketsphinx's model is a mixture of Gaussians adapted to espeak speech from eleven voice
variants; on an accent and a variant it never heard it loses content words into glue ("a
bear" heard as "a then") or makes them up out of glue ("there was" heard as "the a
wolves"). A small convolutional network that classifies one word's stretch of audio, trained
on espeak speech in many more variants (``nodes.asr.wordcheck_build``), tells those apart
better (docs/ears.md, fifteenth round). The recogniser keeps its own segmentation and
words; the network only decides, word by word, whether a *content word* (a word of the
grammar's ``<word>`` or ``<plural>`` rules: the animals of the count skill) was said:

- a word heard as a glue word becomes the content word the network names, when it gives
  that word at least ``sure`` and the heard word at most ``doubt``;
- a content word becomes what the network names, on the same terms, when that is not a
  content word;
- a content word heard twice in a row ("a sheep sheep" for "a chicken": one word the
  decoder cut in two) is one word over both stretches: the content word the network is
  sure of there, or else the word heard (docs/ears.md, twenty-first round);
- a content word with no determiner before it becomes "…" (the recogniser's
  ``UNHEARD``) when the network gives it less than ``CONTENT_FLOOR`` and all the content
  words together less than ``CONTENT_MASS``: no content word was said there ("okay" heard
  as "okay sheep"). The grammar has a singular only after a determiner, so these are the
  bare plurals the network knows, the words that are their own plural ("sheep", "deer");
  after a determiner ("an owl" heard as "an goat", "another tiger") something was said
  there, most often an animal heard as another, which still counts one (docs/ears.md,
  twenty-second round).

A final's every word is asked about; a partial's content words only (``partial``), once
per place (``memo``): the count skill answers "how many" from a partial, counting the
words before the question.

The same network judges amounts (``amount_opinion``), on every partial that tells one (the
reply is made from the first) and on the final:

- a number word of an amount that the network gives at most ``doubt`` becomes the number
  word it likes best of those that keep the amount's shape ("five hundred" -> "nine
  hundred", "thirty four" -> "thirty one"; never "thirty six" -> "thirteen six"), when that
  word has at least ``AMONG`` of what the fitting words and the heard one share, and at
  least ``FLOOR`` ("to" and "for" count as "two" and "four": the network hears them alike);
- a unit word ("dollars") becomes the word the network names when it is sure of a word that
  is not a number ("thirty six dollars" heard for "okay so it was"), and becomes "…" (the
  recogniser's ``UNHEARD``: a word no skill listens for) when the network gives it less
  than ``UNIT_FLOOR``, sure of another word or not: no amount is told ("two dollar" heard
  in "the shop this"; docs/ears.md, eighteenth round). A unit it never learnt ("dollar":
  its data says "dollars") is judged as its plural or singular; one it never learnt in
  any form (a plugin skill's "miles") is not judged;
- a unit word and the "and" after it become one multiplier ("six dollars and three hundred
  ... dollars" -> "six thousand three hundred ... dollars") when the network hears the
  two stretches together as "thousand" or "hundred", at least ``MERGE`` and more than the
  unit word, and the amounts either side make one number with it: an accent that says
  "thousand" with a stop for its "th" is heard so (docs/ears.md, twenty-first round). In
  a partial, an amount waits (``HELD``) while the words after such an "and" are no
  number yet, or while the network is not sure of a unit word (less than ``SURE``) with
  an "and" and at most one word after it: the reply is made from the first partial that
  tells an amount.

Every other word stays as the decoder heard it. An amount's word is asked about once per
place (``memo``): the partials and the final agree wherever the decoder keeps it in place,
and a partial whose amount is unchanged costs nothing. In numpy (``WordCheck`` loads the
weights ``wordcheck_build`` exports).

Features: 40 log mel energies every 10 ms (25 ms windows), less the mean of the
utterance's loudest frames; a word is its frames (with three either side) resampled to 32,
their deltas, and its log duration.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np

from .grammar import DETERMINERS, UNHEARD
from .numbers import NUMBER_WORDS, find_numbers

RATE = 16000
WIN, HOP, NFFT, N_MELS = 400, 160, 512, 40
T = 32  #: frames a word is resampled to
CONTEXT = 3  #: frames kept either side of a word
LOUD_DB = 35.0  #: frames within this of the loudest are the utterance's speech (for the mean)
SURE = 0.6  #: the network's probability of its word, needed to change one
DOUBT = 0.1  #: the network's probability of the heard word, at most, to change it
AMONG = 0.6  #: an amount's word becomes the network's number word if it has this share ...
FLOOR = 0.05  #: ... of the numbers that fit, and at least this probability
UNIT_FLOOR = 0.01  #: a unit word the network gives less is not one: no amount is told
#: the number words a unit word and the "and" after it may be heard for, together
MULTIPLIERS = ("thousand", "hundred")
#: a content word the network gives less than this, where it gives all the content words
#: together less than ``CONTENT_MASS``, is no content word: ``UNHEARD``
CONTENT_FLOOR = 0.05
CONTENT_MASS = 0.2
MERGE = 0.3  #: ... when the network gives one at least this, and more than the unit word
JOINED = ""  #: ``amount_opinion``'s word for an "and" joined to the word before it
#: what a partial may end in after a unit word that the next words could join it to
#: ("an": "and" as the decoder first hears it)
JOINERS = frozenset({"and", "an"})
HELD = "<held>"  #: ``amount_opinion``'s word for the words of a partial's amount that waits
#: words the network cannot tell from a number word, taken as that number in an amount
HOMOPHONES = {"to": "two", "too": "two", "for": "four"}


def _mel_bank(n: int = N_MELS, lo: float = 64.0, hi: float = 7600.0) -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges = 700.0 * (10 ** (np.linspace(mel(np.array(lo)), mel(np.array(hi)), n + 2)
                            / 2595.0) - 1.0)
    bins = np.floor((NFFT + 1) * edges / RATE).astype(int)
    bank = np.zeros((n, NFFT // 2 + 1), np.float32)
    for i in range(n):
        a, b, c = bins[i], bins[i + 1], bins[i + 2]
        bank[i, a:b] = (np.arange(a, b) - a) / max(1, b - a)
        bank[i, b:c] = (c - np.arange(b, c)) / max(1, c - b)
    return bank


_BANK = _mel_bank()
_WINDOW = np.hanning(WIN).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """float 16 kHz mono -> (frames, 40): frame ``k`` is centred near ``k`` * 10 ms, less
    the mean of the loudest frames (those within ``LOUD_DB`` of the loudest)."""
    mel = LogMel()
    mel.add(audio)
    return mel.features()


class LogMel:
    """``log_mel`` of a growing utterance: each call of ``features`` computes only the
    frames the audio added since the last (a partial asks about the utterance so far)."""

    def __init__(self) -> None:
        self._audio: list[np.ndarray] = []
        self._frames: list[np.ndarray] = []  # log mel energies, before the mean is taken
        self._done = 0  # frames computed

    def add(self, audio: np.ndarray) -> None:
        """More audio: float 16 kHz mono."""
        self._audio.append(np.asarray(audio, np.float32).reshape(-1))

    def features(self) -> np.ndarray:
        """``log_mel`` of all the audio added so far."""
        x = np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)
        self._audio = [x]
        if x.size < WIN:  # less than one window: padded, and nothing kept
            return _normalized(_energies(np.pad(x, (0, WIN - x.size)), 0, 1))
        n = 1 + (x.size - WIN) // HOP
        if n > self._done:
            self._frames.append(_energies(x, self._done, n - self._done))
            self._done = n
        return _normalized(np.concatenate(self._frames))


def _energies(x: np.ndarray, first: int, n: int) -> np.ndarray:
    """Log mel energies of frames ``first`` .. ``first + n - 1`` of ``x`` (pre-emphasised
    here: frame k covers samples [160 k, 160 k + 400))."""
    a = first * HOP
    seg = x[max(0, a - 1):a + (n - 1) * HOP + WIN]
    pre = seg[1:] - 0.97 * seg[:-1]
    if a == 0:
        pre = np.append(seg[:1], pre)
    frames = pre[np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]] * _WINDOW
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2
    return np.log(power @ _BANK.T + 1e-8).astype(np.float32)


def _normalized(f: np.ndarray) -> np.ndarray:
    energy = f.mean(1)
    loud = energy > energy.max() - LOUD_DB / 10.0 * np.log(10.0)
    f = f - f[loud].mean(0)
    # frame k covers samples [160 k, 160 k + 400): one frame of padding in front puts
    # frame k near the decoder's frame k (10 ms each, counted from the same sample)
    return np.pad(f, ((1, 2), (0, 0)), mode="edge")


def word_features(feats: np.ndarray, start: int, frames: int) -> tuple[np.ndarray, float]:
    """One word's input: (2 * 40, ``T``) (frames and deltas) and its log duration."""
    a = max(0, start - CONTEXT)
    b = min(len(feats), max(start + frames + CONTEXT, a + 2))
    x = feats[a:b]
    at = np.linspace(0, len(x) - 1, T)
    lo = np.floor(at).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (at - lo)[:, None].astype(np.float32)
    y = x[lo] * (1 - w) + x[hi] * w
    dy = np.gradient(y, axis=0)
    return np.concatenate((y, dy), 1).T.astype(np.float32), float(np.log(max(frames, 1) / 30.0))


# -- the network, in numpy ---------------------------------------------------------------------

def conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, dilation: int = 1,
           stride: int = 1) -> np.ndarray:
    """1-d convolution, 'same' padding: x (N, C, T), w (O, C, K) -> (N, O, ceil(T / stride))
    (also the phone network's, ``phone_net``)."""
    k = w.shape[2]
    p = dilation * (k // 2)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p)))
    t = (x.shape[2] + stride - 1) // stride
    cols = np.stack([xp[:, :, j * dilation: j * dilation + stride * (t - 1) + 1: stride]
                     for j in range(k)], axis=2)  # N, C, K, T
    flat = cols.reshape(x.shape[0], -1, t)  # N, C * K, T
    return np.matmul(w.reshape(w.shape[0], -1), flat) + b[None, :, None]


class WordCheck:
    """The classifier ``wordcheck_build`` exported (an ``.npz``)."""

    #: what the file holds besides ``words``
    PARAMETERS = ("mu", "sd", "c1w", "c1b", "c2w", "c2b", "c3w", "c3b", "f1w", "f1b", "f2w",
                  "f2b")

    def __init__(self, path: str | os.PathLike) -> None:
        """``ValueError`` if ``path`` is not such a file."""
        try:
            with np.load(path) as z:
                missing = [k for k in ("words", *self.PARAMETERS) if k not in z.files]
                if missing:
                    raise ValueError(f"it lacks {', '.join(missing)}")
                self.words: tuple[str, ...] = tuple(str(w) for w in z["words"])
                self._p = {k: z[k].astype(np.float32) for k in self.PARAMETERS}
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"{os.fspath(path)} is not a word classifier's .npz: {exc}") \
                from exc
        self.index = {w: i for i, w in enumerate(self.words)}

    def probabilities(self, x: np.ndarray, log_durations: np.ndarray) -> np.ndarray:
        """(N, 80, T) word inputs and their log durations -> (N, words) probabilities."""
        p = self._p
        h = (x - p["mu"]) / p["sd"]
        h = np.maximum(conv1d(h, p["c1w"], p["c1b"]), 0)
        h = np.maximum(conv1d(h, p["c2w"], p["c2b"]), 0)
        h = h[:, :, :h.shape[2] // 2 * 2].reshape(h.shape[0], h.shape[1], -1, 2).max(3)
        h = np.maximum(conv1d(h, p["c3w"], p["c3b"]), 0)
        h = h.reshape(h.shape[0], h.shape[1], 4, -1).mean(3).reshape(h.shape[0], -1)
        h = np.concatenate((h, log_durations[:, None].astype(np.float32)), 1)
        h = np.maximum(h @ p["f1w"].T + p["f1b"], 0)
        z = h @ p["f2w"].T + p["f2b"]
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


class Span(NamedTuple):
    """A word and where it is in the utterance's frames (10 ms)."""

    text: str
    start: int
    frames: int


#: an utterance's ``log_mel``, or a function that makes it (called only if a word is asked)
Features = np.ndarray | Callable[[], np.ndarray]


def second_opinion(check: WordCheck, feats: Features, spans: Sequence[Span],
                   content: Iterable[str], sure: float = SURE, doubt: float = DOUBT,
                   memo: dict[Span, np.ndarray] | None = None,
                   partial: bool = False) -> list[str]:
    """The words of ``spans`` after the network's opinion on which are content words
    (the rules are in the module's docstring). ``partial``: the spans are a partial's,
    and only its content words are asked about (a glue word becomes one at the final);
    ``memo``: the network's probabilities by span, reused and added to, so that a partial
    asks only about the words whose place changed."""
    content = frozenset(content)
    texts = [s.text for s in spans]
    if not content:
        return texts
    memo = {} if memo is None else memo
    # a content word said twice in a row is one word the decoder cut in two ("a chicken"
    # heard as "a sheep sheep"): one word over both stretches, the content word the
    # network is sure of there, or else the word heard
    twice = [i for i in range(len(texts) - 1)
             if texts[i] == texts[i + 1] in content and (i == 0 or texts[i - 1] != texts[i])]
    if twice:
        pairs = [_together(spans[i], spans[i + 1], texts[i]) for i in twice]
        for i, p in zip(twice, _asked(check, feats, pairs, memo), strict=True):
            top = int(p.argmax())
            if p[top] >= sure and check.words[top] in content:
                texts[i] = check.words[top]
            texts[i + 1] = JOINED
    # a word the network has not learnt is judged only if it is a content word (a plural
    # it never heard): then the network must be sure of a word that is not one
    asked = [i for i, s in enumerate(spans)
             if (s.text in content or (s.text in check.index and not partial))
             and texts[i] != JOINED and not (i + 1 < len(texts) and texts[i + 1] == JOINED)]
    if not asked:
        return texts
    learnt = [check.index[w] for w in content if w in check.index]
    for i, p in zip(asked, _asked(check, feats, [spans[i] for i in asked], memo),
                    strict=True):
        heard = texts[i]
        top = int(p.argmax())
        said = check.words[top]
        known = check.index.get(heard)
        bare = i == 0 or spans[i - 1].text not in DETERMINERS
        if p[top] >= sure and (known is None or p[known] <= doubt) \
                and (heard in content) != (said in content):
            texts[i] = said
        elif heard in content and bare and known is not None \
                and p[known] < CONTENT_FLOOR and p[learnt].sum() < CONTENT_MASS:
            texts[i] = UNHEARD  # no content word here, nor any other, in its opinion
    return texts


def _asked(check: WordCheck, feats: Features, spans: Sequence[Span],
           memo: dict[Span, np.ndarray]) -> list[np.ndarray]:
    """The network's probabilities for ``spans``, asking only about those not in ``memo``."""
    fresh = [s for s in dict.fromkeys(spans) if s not in memo]
    if fresh:
        memo.update(zip(fresh, _ask(check, feats, fresh), strict=True))
    return [memo[s] for s in spans]


def _together(first: Span, second: Span, text: str) -> Span:
    """One stretch from the start of ``first`` to the end of ``second``, named ``text``."""
    return Span(text, first.start, second.start + second.frames - first.start)


def _ask(check: WordCheck, feats: Features, spans: Sequence[Span]) -> np.ndarray:
    feats = feats() if callable(feats) else feats
    xs, ds = zip(*(word_features(feats, s.start, s.frames) for s in spans), strict=True)
    return check.probabilities(np.stack(xs), np.array(ds, np.float32))


def amount_opinion(check: WordCheck, feats: Features, spans: Sequence[Span],
                   units: Iterable[str], sure: float = SURE, doubt: float = DOUBT,
                   memo: dict[Span, tuple[str, float]] | None = None,
                   partial: bool = False) -> list[str]:
    """The words of ``spans`` after the network's opinion on their amounts: number
    expressions followed by one of ``units`` (the rules are in the module's docstring).
    ``memo``: decisions already taken (a word, and what the network gave the word heard),
    by span, reused and added to, so that the partials and the final of one utterance
    agree wherever the decoder put a word in the same place. ``partial``: the spans are a
    partial's, and where the words to come may still change an amount at their end, its
    unit word and every word after it are ``HELD``.
    """
    units = frozenset(units)
    forms = {u: _unit_word(check, u) for u in units}
    memo = {} if memo is None else memo
    spans, joined, waiting = _join_multipliers(check, feats, spans, forms, memo)
    texts = [s.text for s in spans]
    amounts = [(n.start, n.end) for n in find_numbers(texts)
               if n.end < len(texts) and texts[n.end] in units]
    asked = [i for a, b in amounts for i in range(a, b + 1)
             if texts[i] != "and" and (texts[i] in check.index
                                       or forms.get(texts[i]) is not None)]
    fresh = [i for i in asked if spans[i] not in memo]
    if fresh:
        for i, p in zip(fresh, _ask(check, feats, [spans[i] for i in fresh]), strict=True):
            memo[spans[i]] = _amount_word(check, p, texts, i, amounts, forms, sure, doubt)
    out = list(texts)
    for i in asked:
        out[i] = memo[spans[i]][0]
    # each word was judged alone: an amount whose words changed together must still have
    # its shape, or it keeps the words heard
    shapes = {(n.start, n.end) for n in find_numbers(out)}
    for a, b in amounts:
        if out[b] in units and (a, b) not in shapes:
            out[a:b] = texts[a:b]
    if partial:
        cut = min(waiting + _waiting(out, spans, units, memo, sure), default=None)
        if cut is not None:
            out[cut:] = [HELD] * (len(out) - cut)
    for k in joined:  # back to one word per span: a joined "and" is JOINED
        out.insert(k, HELD if out[k - 1] == HELD else JOINED)
    return out


def _waiting(out: list[str], spans: Sequence[Span], units: frozenset[str],
             memo: dict[Span, tuple[str, float]], sure: float) -> list[int]:
    """A partial's unit word that the network is not sure of (less than ``sure``) and that
    only an "and" follows, with at most one word after it and no number: the stretch may
    be the first part of a "thousand" (``_join_multipliers``) not all heard yet."""
    for b in range(max(0, len(out) - 3), len(out) - 1):
        if out[b] in units and out[b + 1] in JOINERS and spans[b] in memo \
                and memo[spans[b]][1] < sure \
                and not find_numbers([HOMOPHONES.get(t, t) for t in out[b + 2:]]):
            return [b]
    return []


def _join_multipliers(check: WordCheck, feats: Features, spans: Sequence[Span],
                      forms: dict[str, int | None], memo: dict[Span, tuple[str, float]]
                      ) -> tuple[list[Span], list[int], list[int]]:
    """``spans`` with each unit word that the network hears, together with the "and"
    after it, as a multiplier that makes one number of the amounts either side ("six
    dollars and three hundred ... dollars" for "six thousand three hundred ... dollars")
    made that one word, over both stretches; the indices of the "and"s so joined; and
    those (in the spans returned) of the unit words it hears so with no number after the
    "and" yet, whose amounts the words to come may still change."""
    texts = [s.text for s in spans]
    # "five dollars and for ...": a number word as the decoder first hears it
    said = [HOMOPHONES.get(t, t) for t in texts]
    after = {n.start: n for n in find_numbers(said)}
    words = [w for w in MULTIPLIERS if w in check.index]
    out, joined, waiting = list(spans), [], []
    for n in find_numbers(texts):
        b = n.end
        if b + 1 >= len(texts) or texts[b + 1] not in JOINERS \
                or forms.get(texts[b]) is None or not words:
            continue
        stretch = _together(spans[b], spans[b + 1], f"{texts[b]} {texts[b + 1]}")
        if stretch not in memo:
            p = _ask(check, feats, [stretch])[0]
            best = max(words, key=lambda w: p[check.index[w]])
            sure = float(p[check.index[best]])
            memo[stretch] = (best if sure >= MERGE and sure > p[forms[texts[b]]]
                             else texts[b], sure)
        word = memo[stretch][0]
        if word == texts[b]:
            continue
        trial = [*said[:b], word, *said[b + 2:]]
        if b + 2 in after and any(m.start == n.start and m.end >= after[b + 2].end - 1
                                  for m in find_numbers(trial)):
            out[b] = stretch._replace(text=word)
            joined.append(b + 1)
        else:
            waiting.append(b - len(joined))
    for k in reversed(joined):
        del out[k]
    return out, joined, waiting


def _unit_word(check: WordCheck, unit: str) -> int | None:
    """The network's word for ``unit``: itself, or else its plural or singular ("dollar"
    is asked about as "dollars", which its data says; they differ by one sound). None for
    a unit it never learnt in any form (a plugin skill's "miles"): that is not asked about."""
    other = unit.removesuffix("s") if unit.endswith("s") else unit + "s"
    return check.index.get(unit, check.index.get(other))


def _amount_word(check: WordCheck, p: np.ndarray, texts: list[str], i: int,
                 amounts: list[tuple[int, int]], forms: dict[str, int | None], sure: float,
                 doubt: float) -> tuple[str, float]:
    """What word ``i`` of an amount (or its unit word) is, in the network's opinion, and
    what the network gives the word heard."""
    heard = texts[i]
    p = p.copy()
    for like, number in HOMOPHONES.items():
        if like in check.index and number in check.index:
            p[check.index[number]] += p[check.index[like]]
            p[check.index[like]] = 0.0
    units = forms.keys()
    p_heard = float(p[forms[heard] if heard in forms else check.index[heard]])
    if p_heard > doubt:
        return heard, p_heard
    if heard in units:  # a unit word heard where the network hears a word not a number
        top = int(p.argmax())
        said = check.words[top]
        if p[top] >= sure and said not in NUMBER_WORDS and said not in units:
            return said, p_heard
        return UNHEARD if p_heard < UNIT_FLOOR else heard, p_heard
    # a number word: the number word the network likes best of those that keep every
    # amount's shape, if it likes it much better than the others and the heard one little
    fits = {}
    for word in NUMBER_WORDS - {"and", heard}:
        trial = [word if k == i else w for k, w in enumerate(texts)]
        shapes = {(n.start, n.end) for n in find_numbers(trial)}
        if word in check.index and all(a in shapes for a in amounts):
            fits[word] = float(p[check.index[word]])
    best = max(fits, key=fits.__getitem__, default=None)
    if best is None or fits[best] < FLOOR \
            or fits[best] < AMONG * (sum(fits.values()) + p_heard):
        return heard, p_heard
    return best, p_heard
