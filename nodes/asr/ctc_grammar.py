"""The CTC search's inputs: the grammar as a finite-state acceptor, and each word's phones.

    fsa = compile_jsgf(build_grammar())      # pocketsphinx's JSGF compiler, weights kept
    lexicon = Lexicon(accents=("h-dropping",))
    lexicon.prons("how")                     # (("HH", "AW"), ("AW",))

``ctc_decode.CtcGraph`` expands the one with the other into the search's states. The
phones are the acoustic model's classes (``PHONES``; class 0 is the CTC blank).
"""

from __future__ import annotations

import functools
import heapq
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: The acoustic model's phones in its class order: class ``i + 1`` is ``PHONES[i]``.
PHONES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F",
          "G", "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S",
          "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH")
BLANK = 0  #: the CTC blank's class
CLASSES = 1 + len(PHONES)
PHONE_CLASS = {p: i + 1 for i, p in enumerate(PHONES)}

_STRESS = re.compile(r"\d")


# -- grammar ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fsa:
    """A finite-state grammar: ``arcs`` (from, to, word, log-prob) and ``nulls`` (from,
    to, log-prob), the null arcs as pocketsphinx gives them (already closed)."""

    n_states: int
    start: int
    final: int
    arcs: tuple[tuple[int, int, str, float], ...]
    nulls: tuple[tuple[int, int, float], ...]


_PUBLIC = re.compile(r"^\s*public\s+<([^>]+)>", re.M)


def compile_jsgf(jsgf: str) -> Fsa:
    """The grammar of ``jsgf`` (its first public rule) as pocketsphinx compiles it;
    ``ValueError`` if pocketsphinx cannot."""
    import pocketsphinx

    public = _PUBLIC.search(jsgf)
    if not public:
        raise ValueError("compile_jsgf: the grammar has no public rule")
    with tempfile.TemporaryDirectory(prefix="ctc-jsgf-") as tmp:
        gram, fsg_path = os.path.join(tmp, "g.gram"), os.path.join(tmp, "g.fsg")
        with open(gram, "w", encoding="utf-8") as f:
            f.write(jsgf)
        try:
            parsed = pocketsphinx.Jsgf(gram)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"compile_jsgf: pocketsphinx cannot parse the grammar: {exc}") \
                from exc
        name = public.group(1)
        rule = parsed.get_rule(name if "." in name else f"{parsed.get_name()}.{name}")
        if rule is None:
            raise ValueError(f"compile_jsgf: no rule <{name}> in the grammar")
        # lw 1: the written probabilities are the rule weights themselves (the file holds
        # the log-probabilities divided by lw).
        fsg = parsed.build_fsg(rule, pocketsphinx.LogMath(), 1.0)
        fsg.writefile(fsg_path)
        with open(fsg_path, encoding="utf-8") as f:
            return parse_fsg(f.read())


def parse_fsg(text: str) -> Fsa:
    """Read pocketsphinx's FSG text format (``FSG_BEGIN`` ... ``FSG_END``)."""
    n_states = start = final = -1
    arcs: list[tuple[int, int, str, float]] = []
    nulls: list[tuple[int, int, float]] = []
    for line in text.splitlines():
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        key = f[0]
        if key in ("NUM_STATES", "N"):
            n_states = int(f[1])
        elif key in ("START_STATE", "S"):
            start = int(f[1])
        elif key in ("FINAL_STATE", "F"):
            final = int(f[1])
        elif key in ("TRANSITION", "T"):
            if len(f) not in (4, 5):
                raise ValueError(f"parse_fsg: malformed transition {line!r}")
            a, b, p = int(f[1]), int(f[2]), float(f[3])
            if not 0 < p <= 1:
                raise ValueError(f"parse_fsg: transition probability out of (0, 1]: {line!r}")
            if len(f) == 5:
                arcs.append((a, b, f[4], float(np.log(p))))
            elif a != b:
                nulls.append((a, b, float(np.log(p))))
    if min(n_states, start, final) < 0:
        raise ValueError("parse_fsg: NUM_STATES, START_STATE or FINAL_STATE missing")
    return Fsa(n_states, start, final, tuple(arcs), tuple(nulls))


def null_closure(fsa: Fsa, origins: Iterable[int]) -> dict[int, dict[int, float]]:
    """For each of ``origins``: the states its null arcs reach (itself included, at 0)
    with the best path's log-prob. Dijkstra on -log-prob, so null cycles do no harm."""
    adj: dict[int, list[tuple[int, float]]] = {}
    for a, b, lp in fsa.nulls:
        adj.setdefault(a, []).append((b, -lp))
    out: dict[int, dict[int, float]] = {}
    for o in origins:
        dist = {o: 0.0}
        heap = [(0.0, o)]
        done: set[int] = set()
        while heap:
            d, s = heapq.heappop(heap)
            if s in done:
                continue
            done.add(s)
            for t, c in adj.get(s, ()):
                if d + c < dist.get(t, np.inf):
                    dist[t] = d + c
                    heapq.heappush(heap, (d + c, t))
        out[o] = {t: -d for t, d in dist.items()}
    return out


# -- lexicon ---------------------------------------------------------------------------------

def default_dictionary() -> str:
    """The path of pocketsphinx's English pronunciation dictionary."""
    import pocketsphinx

    return os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")


@functools.lru_cache(maxsize=2)
def read_dictionary(path: str) -> dict[str, tuple[str, ...]]:
    """word -> its pronunciations (phone strings, stress digits dropped), in order."""
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            word = re.sub(r"\(\d+\)$", "", fields[0])
            phones = " ".join(_STRESS.sub("", p).upper() for p in fields[1:])
            have = out.setdefault(word, [])
            if phones not in have:
                have.append(phones)
    return {w: tuple(p) for w, p in out.items()}


class Lexicon:
    """Words' pronunciations: pocketsphinx's dictionary (or ``dictionary``, a file in its
    format), ``pronunciations`` a caller adds beside it (a word -> phone strings), and
    the ``accents``' variants of all of them (``pronunciations.ACCENTS``). The garbage
    loop's pseudo-words (``grammar.GARBAGE``, "_aa") are their phone."""

    def __init__(self, pronunciations: Mapping[str, Sequence[str]] | None = None, *,
                 accents: Sequence[str] | None = None, dictionary: str | None = None) -> None:
        from .grammar import GARBAGE
        from .pronunciations import DEFAULT_ACCENTS, check_accents

        self.accents = tuple(DEFAULT_ACCENTS if accents is None else accents)
        check_accents(self.accents)
        self._dict = read_dictionary(dictionary or default_dictionary())
        self._extra = {w.lower(): tuple(" ".join(p.upper().split()) for p in ps)
                       for w, ps in (pronunciations or {}).items()}
        self._garbage = GARBAGE
        self._cache: dict[str, tuple[tuple[str, ...], ...]] = {}

    def prons(self, word: str) -> tuple[tuple[str, ...], ...]:
        """``word``'s pronunciations, each a tuple of phones; ``ValueError`` naming a word
        without one (or with a phone the acoustic model lacks)."""
        if word in self._cache:
            return self._cache[word]
        from .pronunciations import variants

        if word in self._garbage:
            have = [self._garbage[word]]
        else:
            have = list(self._dict.get(word, ()))
            have += [p for p in self._extra.get(word, ()) if p not in have]
            if not have:
                raise ValueError(f"no pronunciation for the word {word!r} (not in the "
                                 f"dictionary and none given)")
            have += variants(word, have, self.accents)
        out = []
        for p in have:
            phones = tuple(p.split())
            bad = [x for x in phones if x not in PHONE_CLASS]
            if bad or not phones:
                raise ValueError(f"the pronunciation {p!r} of {word!r} has {bad[:1] or 'no'} "
                                 f"phone the acoustic model knows")
            if phones not in out:
                out.append(phones)
        self._cache[word] = tuple(out)
        return self._cache[word]
