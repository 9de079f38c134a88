"""The grammar-constrained CTC decoder on synthetic posteriors: peaky log-softmax frames
made from a known phone string (blank frames between phones, Gaussian noise on the
logits), decoded with the default grammar or small ones."""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np
import pocketsphinx
import pytest

from nodes.asr.ctc_decode import (
    BLANK,
    CLASSES,
    PHONE_CLASS,
    CtcGraph,
    CtcSearch,
    Lexicon,
    cached_graph,
    compile_jsgf,
)
from nodes.asr.grammar import build_grammar

PHONE_FRAMES = 3  # frames per phone
GAP = 2  # blank frames between phones (and before the first, after the last)


@functools.lru_cache(maxsize=1)
def default_graph() -> CtcGraph:
    return cached_graph(build_grammar())


def frames(sequence: list[int], *, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """Log-softmax frames whose argmax is ``sequence`` (class per frame), clearly so."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, (len(sequence), CLASSES))
    logits[np.arange(len(sequence)), sequence] += 8.0
    return (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(np.float32)


def utterance(words: str, lexicon: Lexicon | None = None,
              phones: dict[str, tuple[str, ...]] | None = None
              ) -> tuple[list[int], list[tuple[str, int, int]]]:
    """The class of each frame for ``words`` (first pronunciation each, or ``phones``),
    and each word's (word, start frame, end frame)."""
    lexicon = lexicon or Lexicon()
    seq = [BLANK] * GAP
    spans = []
    for w in words.split():
        start = len(seq)
        for p in (phones or {}).get(w) or lexicon.prons(w)[0]:
            seq += [PHONE_CLASS[p]] * PHONE_FRAMES + [BLANK] * GAP
        spans.append((w, start, len(seq) - GAP))
    return seq, spans


def accepts(jsgf: str, words: list[str]) -> bool:
    """Does pocketsphinx's own compilation of ``jsgf`` accept ``words``?"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "g.gram")
        with open(path, "w") as f:
            f.write(jsgf)
        parsed = pocketsphinx.Jsgf(path)
        fsg = parsed.build_fsg(parsed.get_rule(f"{parsed.get_name()}.utterance"),
                               pocketsphinx.LogMath(), 1.0)
        return bool(fsg.accept(" ".join(words)))


def decode(graph: CtcGraph, x: np.ndarray, **kw: float) -> CtcSearch:
    search = CtcSearch(graph, **kw)
    search.advance(x)
    return search


@pytest.mark.parametrize("text", [
    "how many animals so far",
    "it cost three hundred and twenty five dollars",
    "we saw a cat and a horse",
    "set a timer for twelve minutes then i saw foxes",
])
def test_default_grammar_recovers_the_words_and_their_times(text: str) -> None:
    assert accepts(build_grammar(), text.split())
    seq, spans = utterance(text)
    search = decode(default_graph(), frames(seq))
    got = search.final()
    assert [w for w, _, _ in got] == text.split()
    for (w, s, e), (_, s0, e0) in zip(got, spans, strict=False):
        assert abs(s - s0) <= 1 and abs(e - e0) <= 1, (w, s, e, s0, e0)
    assert search.best() == got  # at the end of a sentence both agree


def test_a_sentence_the_grammar_lacks_becomes_a_legal_one() -> None:
    g = build_grammar()
    # "far" said as "fur", and a singular animal without its determiner
    seq, _ = utterance("how many animals so far we saw cat",
                       phones={"far": ("F", "ER")})
    assert not accepts(g, "how many animals so fur we saw cat".split())
    got = [w for w, _, _ in decode(default_graph(), frames(seq)).final()]
    assert got[:5] == "how many animals so far".split()
    assert accepts(g, got)


def test_a_noisier_input_still_decodes() -> None:
    text = "convert twenty dollars to euros"
    seq, _ = utterance(text)
    got = decode(default_graph(), frames(seq, noise=2.0, seed=3)).final()
    assert " ".join(w for w, _, _ in got) == text


SMALL = "#JSGF V1.0;\ngrammar small;\npublic <utterance> = <w>+;\n<w> = cat | cats | so;\n"


def test_an_equal_phone_across_a_word_boundary_needs_a_blank() -> None:
    graph = CtcGraph.from_jsgf(SMALL)
    s, ow = PHONE_CLASS["S"], PHONE_CLASS["OW"]
    k, ae, t = PHONE_CLASS["K"], PHONE_CLASS["AE"], PHONE_CLASS["T"]
    head = [BLANK, k, k, BLANK, ae, ae, t, t]
    one_s = [*head, s, s, s, ow, ow, BLANK]  # one run of S: "cat so", not "cats so"
    two_s = [*head, s, s, BLANK, s, s, ow, ow, BLANK]  # S, blank, S: "cats so"
    assert [w for w, _, _ in decode(graph, frames(one_s)).final()] == ["cat", "so"]
    assert [w for w, _, _ in decode(graph, frames(two_s)).final()] == ["cats", "so"]


def test_an_equal_phone_inside_a_word_needs_a_blank() -> None:
    jsgf = "#JSGF V1.0;\ngrammar small;\npublic <utterance> = <w>+;\n<w> = hi | hihi;\n"
    graph = CtcGraph.from_jsgf(jsgf, Lexicon({"hihi": ["HH AY AY"]}, accents=()))
    hh, ay = PHONE_CLASS["HH"], PHONE_CLASS["AY"]
    once = [BLANK, hh, hh, ay, ay, ay, ay, BLANK]
    twice = [BLANK, hh, hh, ay, ay, BLANK, ay, ay, BLANK]
    assert [w for w, _, _ in decode(graph, frames(once)).final()] == ["hi"]
    assert [w for w, _, _ in decode(graph, frames(twice)).final()] == ["hihi"]


def test_streaming_in_chunks_gives_the_same_result() -> None:
    seq, _ = utterance("we saw a cat and a horse it cost three hundred and twenty five dollars")
    x = frames(seq, noise=1.5, seed=7)
    whole = decode(default_graph(), x)
    chunked = CtcSearch(default_graph())
    partials = []
    for i in range(0, len(x), 10):
        chunked.advance(x[i:i + 10])
        partials.append(chunked.best())
    assert chunked.final() == whole.final()
    assert chunked.best() == whole.best()
    assert chunked.score() == pytest.approx(whole.score(), abs=1e-3)
    # partials grow along the sentence: the first words are there early
    assert [w for w, _, _ in partials[len(partials) // 3]][:3] == ["we", "saw", "a"]


def test_a_partial_mid_sentence_is_the_best_path_so_far() -> None:
    seq, spans = utterance("how many animals so far")
    search = CtcSearch(default_graph())
    assert search.best() == [] and search.final() == []
    cut = spans[2][2]  # after "animals"
    search.advance(frames(seq)[:cut])
    assert [w for w, _, _ in search.best()] == ["how", "many", "animals"]


def test_the_grammar_weights_count() -> None:
    # a bare plural weighs a tenth of the other items: with a heavy grammar weight, the
    # decoder rather hears a filler than the plural the frames say
    seq, _ = utterance("we saw cats")
    x = frames(seq)
    assert [w for w, _, _ in decode(default_graph(), x).final()] == ["we", "saw", "cats"]
    heavy = [w for w, _, _ in decode(default_graph(), x, lm_weight=30.0).final()]
    assert heavy != ["we", "saw", "cats"]


def test_word_penalty_trades_words_for_frames() -> None:
    # "it" "it" vs nothing: with a huge word penalty, fewer words win
    seq, _ = utterance("it it it it")
    x = frames(seq)
    few = decode(default_graph(), x, word_penalty=50.0).final()
    many = decode(default_graph(), x, word_penalty=0.0).final()
    assert len(few) < len(many) == 4


def test_a_word_without_pronunciation_is_named() -> None:
    jsgf = "#JSGF V1.0;\ngrammar g;\npublic <utterance> = hello (zzxq | world);\n"
    with pytest.raises(ValueError, match="zzxq"):
        CtcGraph.from_jsgf(jsgf)
    with pytest.raises(ValueError, match="zzxq"):
        Lexicon().prons("zzxq")
    # given one, it is fine
    graph = CtcGraph.from_jsgf(jsgf, Lexicon({"zzxq": ["Z IH K S"]}))
    assert "zzxq" in graph.words


def test_lexicon_has_the_dictionary_and_the_accents() -> None:
    lex = Lexicon()
    assert ("HH", "AW") in lex.prons("how")
    assert ("AW",) in lex.prons("how")  # h-dropping
    assert ("D", "AH") in lex.prons("the")  # th-stopping
    assert ("AW",) not in Lexicon(accents=()).prons("how")
    assert all(p.isalpha() for ph in lex.prons("animals") for p in ph)  # no stress digits


def test_the_grammar_compiles_with_its_weights() -> None:
    fsa = compile_jsgf("#JSGF V1.0;\ngrammar g;\npublic <utterance> = /1/ a | /3/ b;\n")
    arcs = {w: lp for _, _, w, lp in fsa.arcs}
    nulls = {round(float(np.exp(lp)), 3) for _, _, lp in fsa.nulls}
    # pocketsphinx normalises alternatives' weights: a quarter and three quarters
    assert {round(float(np.exp(lp)), 3) for lp in arcs.values()} | nulls >= {0.25, 0.75}
    g = default_graph()
    assert g.n_states > 10000 and g.n_arcs > 1000


def test_bad_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="40"):
        CtcSearch(default_graph()).advance(np.zeros((3, 39), np.float32))
