"""A grammar-constrained CTC Viterbi decoder, in numpy: phone posteriors in, words out.

A second recogniser beside pocketsphinx: a CTC acoustic model (trained elsewhere) gives,
for each 20 ms frame, log-probabilities over 40 classes (``CLASSES``: 0 is the CTC blank,
then the 39 ARPABET phones of ``PHONES``); this module finds the word sequence of a JSGF
grammar (``grammar.build_grammar``) that best explains them, streaming::

    graph = cached_graph(build_grammar())        # once per grammar (0.5-1 s)
    search = CtcSearch(graph)                    # one per utterance
    search.advance(logprobs)                     # (frames, 40) log-softmax, any chunks
    search.best()                                # [(word, start frame, end frame), ...]
    search.final()                               # the same, ending where the grammar may

How it is built (the grammar and the lexicon in ``ctc_grammar``):

* **Grammar.** pocketsphinx compiles the JSGF text to a finite-state grammar
  (``Jsgf.build_fsg``), written out in its FSG text format and read back
  (``compile_jsgf``): states, word arcs and null (epsilon) arcs, each with its
  probability. pocketsphinx normalises a rule's alternatives (JSGF weights included:
  ``/0.1/ <plural>`` is a tenth of the others' share) and ``+`` costs 1/2 per turn, so the
  grammar's log-probabilities are those pocketsphinx itself decodes with. Null arcs are
  folded away by their best-path closure (``_null_closure``: Dijkstra, so null cycles are
  harmless): a word's arrival state reaches the departure states of the next words through
  one closure edge each.
* **Lexicon.** Each word's pronunciations from pocketsphinx's dictionary (``word``,
  ``word(2)``, ...), plus the accents' variants (``pronunciations.variants``) and any a
  caller gives (``Lexicon``).
* **Search graph.** Each (word arc, pronunciation) is a *chain* in the standard CTC
  topology with a trailing blank: ``p1 _ p2 _ ... pn _``, where each state loops on
  itself, a blank between two different phones may be skipped and one between equal
  phones may not. The trailing blank is the silence after the word, and a blank state
  before the first word (the ``INIT`` chain) the silence before it. A chain is left from
  its last phone or its trailing blank into its arc's arrival state; a chain whose first
  phone equals the last phone of the word before it may be entered only after a blank
  (else "cat so" would read as "cats so": one run of S frames split across two words).
  That is tracked per grammar state as the best arrival through a blank and the best
  arrival through a phone, with that phone: exact for the blank, and on the safe side for
  the phone (when the best phone arrival has the entering word's first phone, the word
  waits for a blank rather than take the second best).
* **Search.** Frame-synchronous log-domain Viterbi, vectorised over the flat array of
  chain states (self-loop / predecessor / skip / word entry: no sparse matrix), with
  grammar states handled between frames by segment maxima (``np.maximum.reduceat``)
  over arrivals and closure edges. No beam: every state is updated each frame. Each
  token carries one history id, the word boundary it entered its chain through; the
  boundaries' winners (chain, its history, its end frame) are recorded per frame and
  grammar state (two small arrays a frame), which is all the backtrace needs.

Scores: acoustic log-probabilities as given, plus ``lm_weight`` times the grammar's
log-probabilities, minus ``word_penalty`` per word. Times are frames (``FRAME_MS`` each),
a word's end exclusive and before its trailing silence.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import numpy as np

from .ctc_grammar import (
    BLANK,
    CLASSES,
    PHONE_CLASS,
    PHONES,
    Fsa,
    Lexicon,
    compile_jsgf,
    default_dictionary,
    null_closure,
    parse_fsg,
    read_dictionary,
)

__all__ = ["BLANK", "CLASSES", "FRAME_MS", "PHONES", "PHONE_CLASS", "CtcGraph", "CtcSearch",
           "Fsa", "Lexicon", "cached_graph", "compile_jsgf", "default_dictionary", "parse_fsg",
           "read_dictionary"]

FRAME_MS = 20  #: one frame of the acoustic model
#: Defaults of ``CtcSearch``: grammar log-probabilities count as they are, and each word
#: costs one nat more (short glue words otherwise slip into the gaps of a peaky model).
LM_WEIGHT = 1.0
WORD_PENALTY = 1.0

_NEG = np.float32(-np.inf)


# -- search graph ----------------------------------------------------------------------------

def _segments(keys: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal values in sorted ``keys``."""
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


class CtcGraph:
    """The CTC search graph of one grammar and lexicon (immutable; share it between
    searches). Chain 0 is ``INIT``, the silence before the first word: one blank state.

    Sizes: ``n_states`` (emitting states, two per phone of each chain, plus two),
    ``n_chains``, ``n_arcs`` (grammar word arcs), ``n_edges`` (closure edges from arrival
    to departure states).
    """

    INIT = 0

    def __init__(self, fsa: Fsa, lexicon: Lexicon) -> None:
        self.fsa = fsa
        words = sorted({w for _, _, w, _ in fsa.arcs})
        missing = []
        for w in words:
            try:
                lexicon.prons(w)
            except ValueError:
                missing.append(w)
        if missing:
            raise ValueError(f"no pronunciation for the grammar's word(s) "
                             f"{', '.join(map(repr, missing))}")
        self.words: tuple[str, ...] = ("", *words)  # id 0: INIT's (none)
        word_id = {w: i for i, w in enumerate(self.words)}

        # Chains, ordered by arrival state so that arrivals are contiguous segments.
        chains: list[tuple[int, int, int, float, tuple[str, ...]]] = []  # dst, src, wid, lp, ph
        for a, b, w, lp in fsa.arcs:
            for phones in lexicon.prons(w):
                chains.append((b, a, word_id[w], lp, phones))
        chains.sort(key=lambda c: c[0])
        chains.insert(0, (fsa.start, -1, 0, 0.0, ()))  # INIT: arrives at the start state
        n_chains = len(chains)

        # Flat states: 0 a dead state (stays -inf), 1 INIT's blank, then the chains.
        labels = [BLANK, BLANK]
        prev_ok = [False, False]
        skip_ok = [False, False]
        first = np.zeros(n_chains, np.int64)      # first phone's state (0 for INIT)
        last = np.zeros(n_chains, np.int64)       # last phone's state (0: dead, for INIT)
        tail = np.zeros(n_chains, np.int64)       # trailing blank's state
        tail[0] = 1
        chain_of = [0, 0]
        for c, (_, _, _, _, phones) in enumerate(chains[1:], start=1):
            first[c] = len(labels)
            for k, p in enumerate(phones):
                labels += [PHONE_CLASS[p], BLANK]
                prev_ok += [k > 0, True]
                skip_ok += [k > 0 and p != phones[k - 1], False]
                chain_of += [c, c]
            last[c] = len(labels) - 2
            tail[c] = len(labels) - 1
        self.labels = np.array(labels, np.int64)
        self.prev_pen = np.where(prev_ok, 0.0, -np.inf).astype(np.float32)
        self.skip_pen = np.where(skip_ok, 0.0, -np.inf).astype(np.float32)
        self.chain_of = np.array(chain_of, np.int64)
        self.first, self.last, self.tail = first, last, tail
        self.chain_word = np.array([c[2] for c in chains], np.int64)
        self.chain_logp = np.array([c[3] for c in chains], np.float32)
        self.first_phone = np.array([PHONE_CLASS[c[4][0]] if c[4] else -1 for c in chains],
                                    np.int64)
        self.last_phone = np.array([PHONE_CLASS[c[4][-1]] if c[4] else -1 for c in chains],
                                   np.int64)

        # Arrival states (chain destinations) and departure states (chain sources).
        dst = np.array([c[0] for c in chains], np.int64)
        self.arr_starts = _segments(dst)
        arrivals = dst[self.arr_starts]
        departures = sorted({c[1] for c in chains[1:]})
        dep_index = {s: i for i, s in enumerate(departures)}
        self.chain_dep = np.array([dep_index.get(c[1], -1) for c in chains], np.int64)
        # Closure edges arrival -> departure (and -> final), best path each.
        closure = null_closure(fsa, arrivals.tolist())
        edges = [(dep_index[t], i, lp) for i, a in enumerate(arrivals.tolist())
                 for t, lp in closure[a].items() if t in dep_index]
        edges.sort()
        e = np.array(edges, np.float64).reshape(-1, 3)
        self.edge_to = e[:, 0].astype(np.int64)
        self.edge_from = e[:, 1].astype(np.int64)
        self.edge_logp = e[:, 2].astype(np.float32)
        self.dep_starts = _segments(self.edge_to)
        if len(self.dep_starts) != len(departures):
            raise ValueError("CtcGraph: a word of the grammar can never be reached")
        fin = [(i, closure[a][fsa.final]) for i, a in enumerate(arrivals.tolist())
               if fsa.final in closure[a]]
        self.final_from = np.array([i for i, _ in fin], np.int64)
        self.final_logp = np.array([lp for _, lp in fin], np.float32)
        self.n_departures = len(departures)
        self.n_states = len(labels)
        self.n_chains = n_chains
        self.n_arcs = len(fsa.arcs)
        self.n_edges = len(edges)

    @classmethod
    def from_jsgf(cls, jsgf: str, lexicon: Lexicon | None = None) -> CtcGraph:
        """The graph of a JSGF grammar (``lexicon``: ``Lexicon()`` if None)."""
        return cls(compile_jsgf(jsgf), lexicon or Lexicon())

    def __repr__(self) -> str:
        return (f"CtcGraph({self.n_states} states, {self.n_chains} chains, {self.n_arcs} "
                f"word arcs, {self.n_edges} closure edges, {len(self.words) - 1} words)")


@functools.lru_cache(maxsize=4)
def cached_graph(jsgf: str, accents: tuple[str, ...] | None = None) -> CtcGraph:
    """``CtcGraph.from_jsgf`` with pocketsphinx's dictionary and ``accents`` (None: the
    ears' default), the last few kept."""
    return CtcGraph.from_jsgf(jsgf, Lexicon(accents=accents))


# -- search ----------------------------------------------------------------------------------

def _segmax(values: np.ndarray, starts: np.ndarray, seg_of: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of ``values`` (runs starting at ``starts``; ``seg_of`` each value's
    segment): the maximum and the index of its first occurrence."""
    best = np.maximum.reduceat(values, starts)
    idx = np.where(values == best[seg_of], np.arange(len(values)), len(values))
    return best, np.minimum.reduceat(idx, starts)


Word = tuple[str, int, int]  # word, start frame, end frame (exclusive)


class CtcSearch:
    """One utterance's Viterbi search over ``graph``; feed frames with ``advance``.

    ``lm_weight`` scales the grammar's log-probabilities; ``word_penalty`` (nats) is
    subtracted for each word. Memory: the state arrays (12 bytes a state) and 16 bytes
    per departure state and frame for the backtrace (17 kB a frame, under 1 MB a second,
    with the default grammar). Not thread-safe.
    """

    def __init__(self, graph: CtcGraph, *, lm_weight: float = LM_WEIGHT,
                 word_penalty: float = WORD_PENALTY) -> None:
        self.graph = g = graph
        self.lm_weight = lm_weight
        self.word_penalty = word_penalty
        self.frames = 0
        self._score = np.full(g.n_states, _NEG, np.float32)
        self._hist = np.full(g.n_states, -1, np.int64)
        self._tail_end = np.zeros(g.n_chains, np.int64)  # a trailing blank's word end
        self._offset = 0.0  # subtracted from the scores so far (they stay near 0)
        # Per chain: what entering it adds (grammar arc, word penalty).
        self._entry_cost = (lm_weight * g.chain_logp - word_penalty).astype(np.float32)
        self._edge_cost = (lm_weight * g.edge_logp).astype(np.float32)
        self._final_cost = (lm_weight * g.final_logp).astype(np.float32)
        self._arr_of = np.repeat(np.arange(len(g.arr_starts)),
                                 np.diff(np.r_[g.arr_starts, g.n_chains]))
        self._dep_of = np.repeat(np.arange(len(g.dep_starts)),
                                 np.diff(np.r_[g.dep_starts, len(g.edge_to)]))
        # Chains entered from the grammar (all but INIT): their departure state, first
        # phone and first state.
        self._dep = g.chain_dep[1:]
        self._first_phone = g.first_phone[1:]
        self._first = g.first[1:]
        self._entry_cost = self._entry_cost[1:]
        self._width = 2 * g.n_departures  # history ids per frame boundary
        #: per frame boundary k (before frame k): for each departure state, through a
        #: blank then through a phone, the chain that won it, that chain's history id
        #: and its word's end frame
        self._records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        #: after the last frame: arrival states' best scores through a blank and through
        #: a phone, and the chains that won them
        self._arrival: tuple[np.ndarray, ...] = ()
        #: before the next frame: departure states' best scores through a blank and
        #: through a phone, and the phone of the latter
        self._departure: tuple[np.ndarray, ...] = ()
        exits_b = np.full(g.n_chains, _NEG, np.float32)
        exits_b[0] = 0.0  # before any frame: at the start state, as if after a blank
        self._boundary(exits_b, np.full(g.n_chains, _NEG, np.float32),
                       np.full(g.n_chains, -1, np.int64), np.full(g.n_chains, -1, np.int64),
                       np.zeros(g.n_chains, np.int64))

    def fork(self) -> CtcSearch:
        """A copy to advance on its own (a partial's guess at frames that may still
        change), leaving this search where it is: cheap, since a frame replaces the
        state arrays rather than change them, and the records only grow."""
        other = copy.copy(self)
        other._records = list(self._records)
        return other

    # -- the frame loop --------------------------------------------------------------------

    def advance(self, logprobs: np.ndarray) -> None:
        """Decode more frames: ``logprobs`` (frames, 40), the model's log-softmax."""
        x = np.asarray(logprobs, np.float32)
        if x.ndim != 2 or x.shape[1] != CLASSES:
            raise ValueError(f"advance: expected (frames, {CLASSES}) log-probabilities, "
                             f"got shape {x.shape}")
        for row in x:
            self._frame(row)

    def _frame(self, emit: np.ndarray) -> None:
        g = self.graph
        s, h = self._score, self._hist
        t = self.frames
        # Entering chains (their first phone) and INIT (only at the very first frame).
        dep_b, dep_p, dep_phone = self._departure
        eb = dep_b[self._dep]
        ep = np.where(dep_phone[self._dep] != self._first_phone, dep_p[self._dep], _NEG)
        via_p = ep > eb
        entry = np.maximum(eb, ep) + self._entry_cost
        entry_hist = t * self._width + via_p * g.n_departures + self._dep

        best = s.copy()
        hist = h.copy()
        prev = np.empty_like(s)
        prev[0] = _NEG
        np.add(s[:-1], g.prev_pen[1:], out=prev[1:])
        take = prev > best
        best = np.where(take, prev, best)
        hist[1:] = np.where(take[1:], h[:-1], hist[1:])
        tail_from_phone = take[g.tail]
        skip = np.empty_like(s)
        skip[:2] = _NEG
        np.add(s[:-2], g.skip_pen[2:], out=skip[2:])
        take = skip > best
        best = np.where(take, skip, best)
        hist[2:] = np.where(take[2:], h[:-2], hist[2:])
        f = self._first
        take = entry > best[f]
        best[f] = np.where(take, entry, best[f])
        hist[f] = np.where(take, entry_hist, hist[f])
        if t == 0:
            best[1], hist[1] = 0.0, -1
        best += emit[g.labels]
        best[0] = _NEG
        top = float(best.max())
        if np.isfinite(top):
            best -= top
            self._offset += top
        self._score, self._hist = best, hist
        self.frames = t + 1
        self._tail_end = np.where(tail_from_phone, t, self._tail_end)
        # Leaving chains, into the grammar for the next frame.
        self._boundary(best[g.tail], best[g.last], hist[g.tail], hist[g.last],
                       self._tail_end)

    def _boundary(self, exits_b: np.ndarray, exits_p: np.ndarray, hist_b: np.ndarray,
                  hist_p: np.ndarray, end_b: np.ndarray) -> None:
        """Grammar states after frame ``self.frames - 1``: chains' exits (through their
        trailing blank, through their last phone) -> arrival states -> departure states;
        records the winners."""
        g = self.graph
        arr_b, win_b = _segmax(exits_b, g.arr_starts, self._arr_of)
        arr_p, win_p = _segmax(exits_p, g.arr_starts, self._arr_of)
        self._arrival = (arr_b, arr_p, win_b, win_p)
        dep_b, via_b = _segmax(arr_b[g.edge_from] + self._edge_cost, g.dep_starts,
                               self._dep_of)
        dep_p, via_p = _segmax(arr_p[g.edge_from] + self._edge_cost, g.dep_starts,
                               self._dep_of)
        chain_b = win_b[g.edge_from[via_b]]
        chain_p = win_p[g.edge_from[via_p]]
        self._departure = (dep_b, dep_p, np.where(np.isfinite(dep_p), g.last_phone[chain_p], -1))
        self._records.append((
            np.concatenate([chain_b, chain_p]).astype(np.int32),
            np.concatenate([hist_b[chain_b], hist_p[chain_p]]),
            np.concatenate([end_b[chain_b], np.full(len(chain_p), self.frames)]).astype(
                np.int32)))

    # -- results ---------------------------------------------------------------------------

    def _trace(self, chain: int, hist: int, end: int) -> list[Word]:
        g = self.graph
        out: list[Word] = []
        while chain != CtcGraph.INIT:
            k, slot = divmod(hist, self._width)
            out.append((g.words[g.chain_word[chain]], k, end))
            chains, hists, ends = self._records[k]
            chain, hist, end = int(chains[slot]), int(hists[slot]), int(ends[slot])
        return out[::-1]

    def best(self, *, said: bool = False) -> list[Word]:
        """The best path so far, ending in any state: its last word may be one still
        being said (its end is then the frames so far), unless ``said``: then a last
        word is there only once the path has reached its last phone."""
        if not self.frames:
            return []
        g = self.graph
        i = int(np.argmax(self._score))
        c = int(g.chain_of[i])
        end = int(self._tail_end[c]) if i == g.tail[c] else self.frames
        words = self._trace(c, int(self._hist[i]), end)
        if said and words and i != g.tail[c] and i != g.last[c]:
            words.pop()
        return words

    def final(self) -> list[Word]:
        """The best path that the grammar lets end here (``best`` if there is none)."""
        g = self.graph
        arr_b, arr_p, win_b, win_p = self._arrival
        sb = arr_b[g.final_from] + self._final_cost
        sp = arr_p[g.final_from] + self._final_cost
        if not self.frames or not len(sb) or not np.isfinite(max(sb.max(), sp.max())):
            return self.best()
        ib, ip = int(np.argmax(sb)), int(np.argmax(sp))
        if sb[ib] >= sp[ip]:
            c = int(win_b[g.final_from[ib]])
            return self._trace(c, int(self._hist[g.tail[c]]), int(self._tail_end[c]))
        c = int(win_p[g.final_from[ip]])
        return self._trace(c, int(self._hist[g.last[c]]), self.frames)

    def score(self) -> float:
        """The best path's total log-score so far (any state)."""
        return float(self._score.max()) + self._offset


# -- a speed check ---------------------------------------------------------------------------

def _synthetic(phones: Sequence[str], *, frames_per_phone: int = 4, blank_frames: int = 2,
               rng: np.random.Generator | None = None, noise: float = 1.0) -> np.ndarray:
    """Peaky log-posteriors of ``phones`` (blank frames around each phone), with noise."""
    rng = rng or np.random.default_rng(0)
    seq = [BLANK] * blank_frames
    for p in phones:
        seq += [PHONE_CLASS[p]] * frames_per_phone + [BLANK] * blank_frames
    logits = rng.normal(0.0, noise, (len(seq), CLASSES))
    logits[np.arange(len(seq)), seq] += 8.0
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


if __name__ == "__main__":  # python -m nodes.asr.ctc_decode: graph size and speed
    import time

    from .grammar import build_grammar

    t0 = time.perf_counter()
    graph = cached_graph(build_grammar())
    print(f"{graph} built in {time.perf_counter() - t0:.2f} s")
    lex = Lexicon()
    text = "how many animals so far it cost three hundred and twenty five dollars"
    phones = [p for w in text.split() for p in lex.prons(w)[0]]
    x = np.tile(_synthetic(phones), (3, 1))
    search = CtcSearch(graph)
    t0 = time.process_time()
    for i in range(0, len(x), 10):
        search.advance(x[i:i + 10])
        search.best()
    cpu = time.process_time() - t0
    print(f"{len(x)} frames ({len(x) * FRAME_MS / 1000:.1f} s of audio) in {cpu * 1000:.0f} ms "
          f"CPU: {cpu / len(x) * 10 * 1000:.2f} ms per 10 frames, "
          f"{len(x) / cpu:.0f} frames/s (with best() after each 10)")
    print(" ".join(w for w, _, _ in search.final()))
