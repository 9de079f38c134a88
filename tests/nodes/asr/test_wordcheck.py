"""The word classifier's second opinion: its features, its numpy forward pass against
torch's, the rules that let it change a word, and its place in the recogniser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.asr.grammar import build_grammar, content_words
from nodes.asr.recognizer import Hypothesis, Recognizer
from nodes.asr.wordcheck import (
    LogMel,
    Span,
    T,
    WordCheck,
    amount_opinion,
    log_mel,
    second_opinion,
    word_features,
)
from nodes.asr.wordcheck_build import export, network, train

from .conftest import CHUNK, PERIOD, timeline


def test_content_words_are_the_grammars_animals() -> None:
    content = content_words(build_grammar())
    assert {"cat", "cats", "mice", "sheep", "deer", "wolves"} <= content
    assert not content & {"a", "an", "the", "my", "dollars", "then", "how", "many"}
    assert content_words(build_grammar(words=("apple", "apples"))) == {"apple", "apples"}


def test_log_mel_frames_follow_the_decoders_and_speech_has_zero_mean() -> None:
    audio = timeline(0.3, "there was a dog in the garden", 0.3)
    f = log_mel(audio)
    assert f.shape == (1 + (audio.size - 400) // 160 + 3, 40)
    energy = f.mean(1)
    loud = f[energy > energy.max() - 35 / 10 * np.log(10)]
    assert np.abs(loud.mean(0)).max() < 1e-4
    x, d = word_features(f, 30, 25)
    assert x.shape == (80, T) and d == pytest.approx(np.log(25 / 30))


def test_features_of_a_growing_utterance_are_those_of_the_whole() -> None:
    audio = timeline(0.3, "there was a dog in the garden", 0.3)
    mel = LogMel()
    assert mel.features().shape == log_mel(np.zeros(0, np.float32)).shape
    for k in range(0, audio.size, 3000):  # chunks that do not fall on frame boundaries
        mel.add(audio[k:k + 3000])
        np.testing.assert_allclose(mel.features(), log_mel(audio[:k + 3000]), atol=1e-4)


def test_the_numpy_forward_pass_is_torchs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    conv, head = network(80, 7)
    conv.train()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for _ in range(3):
            conv(torch.randn(64, 80, T) * 2 + 1)
    conv.eval()
    head.eval()
    mu, sd = np.full((1, 80, 1), 0.5, np.float32), np.full((1, 80, 1), 2.0, np.float32)
    path = tmp_path / "check.npz"
    export(conv, head, mu, sd, [f"w{i}" for i in range(7)], path)
    x = np.random.default_rng(1).normal(size=(5, 80, T)).astype(np.float32)
    d = np.linspace(-1, 1, 5).astype(np.float32)
    with torch.no_grad():
        xt = (torch.tensor(x) - torch.tensor(mu)) / torch.tensor(sd)
        want = torch.softmax(head(torch.cat((conv(xt).flatten(1), torch.tensor(d)[:, None]),
                                            1)), 1).numpy()
    got = WordCheck(path).probabilities(x, d)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_training_learns_words_it_can_tell_apart(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    examples = []
    for k, word in enumerate(("cat", "then", "the")):
        pattern = rng.normal(size=(80, T)).astype(np.float32)
        for _ in range(40):
            noisy = pattern + rng.normal(scale=0.8, size=(80, T)).astype(np.float32)
            examples.append((noisy, float(k) / 3, word))
    report = train(examples, tmp_path / "c.npz", epochs=4)
    check = WordCheck(tmp_path / "c.npz")
    assert check.words == ("cat", "the", "then")
    x = np.stack([e[0] for e in examples])
    d = np.array([e[1] for e in examples], np.float32)
    said = [check.words[i] for i in check.probabilities(x, d).argmax(1)]
    assert np.mean([s == e[2] for s, e in zip(said, examples, strict=True)]) > 0.95
    assert report["train_accuracy"] > 0.8


class Rigged:
    """A stand-in classifier that gives each word the probabilities of ``table`` in turn."""

    def __init__(self, words: tuple[str, ...], table: list[dict[str, float]]) -> None:
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.table = table

    def probabilities(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        assert len(x) == len(self.table)
        return np.array([[row.get(w, 0.0) for w in self.words] for row in self.table])


class Served(Rigged):
    """A stand-in classifier that gives the words of each question the next rows of
    ``table``, in order (the join asks about a unit word and its "and" first)."""

    def probabilities(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        rows, self.table = self.table[:len(x)], self.table[len(x):]
        assert len(rows) == len(x), "asked about more words than the table has"
        return np.array([[row.get(w, 0.0) for w in self.words] for row in rows])


WORDS = ("a", "bear", "cat", "then", "thirty", "three", "was", "wolves", "we")
CONTENT = {"bear", "cat", "wolves"}


def spans(text: str) -> list[Span]:
    return [Span(w, 10 * i, 8) for i, w in enumerate(text.split())]


@pytest.mark.parametrize(("heard", "table", "want"), [
    # a content word lost into glue comes back when the network is sure of it
    ("a then", [{"a": 1}, {"bear": 0.9, "then": 0.02}], "a bear"),
    # ... not when it gives the heard word more than DOUBT, or its own word less than SURE
    ("a then", [{"a": 1}, {"bear": 0.8, "then": 0.15}], "a then"),
    ("a then", [{"a": 1}, {"bear": 0.55, "then": 0.0}], "a then"),
    # a made-up content word goes
    ("wolves a cat", [{"we": 0.95}, {"a": 1}, {"cat": 1}], "we a cat"),
    # one content word is never traded for another, nor a glue word for another
    ("a cat", [{"a": 1}, {"bear": 0.99}], "a cat"),
    ("was then", [{"a": 0.99}, {"was": 0.99}], "was then"),
    # numbers are not content words: the grammar's amount stands
    ("thirty", [{"three": 0.99}], "thirty"),
])
def test_the_second_opinion_changes_only_content_words(heard: str, table: list, want: str) -> None:
    check = Rigged(WORDS, table)
    got = second_opinion(check, np.zeros((200, 40), np.float32), spans(heard), CONTENT)
    assert " ".join(got) == want


def test_words_the_network_does_not_know_are_left_alone_unless_content() -> None:
    check = Rigged(WORDS, [{"bear": 1.0}])
    got = second_opinion(check, np.zeros((200, 40), np.float32), spans("garden then"), CONTENT)
    assert got == ["garden", "bear"]
    # a plural it never learnt goes when it is sure of a word that is not content ...
    for table, want in (([{"was": 0.9}], ["was"]), ([{"was": 0.55}], ["bears"]),
                        ([{"cat": 0.99}], ["bears"])):  # ... and only then
        got = second_opinion(Rigged(WORDS, table), np.zeros((200, 40), np.float32),
                             spans("bears"), CONTENT | {"bears"})
        assert got == want


@pytest.mark.parametrize(("heard", "table", "want"), [
    # a bare content word the network gives less than CONTENT_FLOOR, with all the content
    # words together less than CONTENT_MASS, is no content word ("okay" heard as "okay
    # sheep")
    ("then cat then", [{"then": 1}, {"was": 0.3, "cat": 0.01}, {"then": 1}], "then … then"),
    ("cat then", [{"was": 0.3, "cat": 0.01}, {"then": 1}], "… then"),
    # ... not if it hears another content word there (a cat heard as a bear counts one) ...
    ("then cat then", [{"then": 1}, {"was": 0.3, "bear": 0.25, "cat": 0.01}, {"then": 1}],
     "then cat then"),
    # ... nor if it gives the heard word CONTENT_FLOOR ...
    ("then cat then", [{"then": 1}, {"was": 0.3, "cat": 0.05}, {"then": 1}], "then cat then"),
    # ... nor after a determiner: something was said there
    ("a cat then", [{"a": 1}, {"was": 0.3, "cat": 0.01}, {"then": 1}], "a cat then"),
    # a word it is sure of is still that word
    ("a cat then", [{"a": 1}, {"was": 0.9, "cat": 0.01}, {"then": 1}], "a was then"),
])
def test_a_bare_content_word_the_network_hears_no_content_in_is_unheard(
        heard: str, table: list, want: str) -> None:
    got = second_opinion(Rigged(WORDS, table), np.zeros((200, 40), np.float32),
                         spans(heard), CONTENT)
    assert " ".join(got) == want


def test_a_partial_asks_about_its_content_words_once_per_place() -> None:
    """A partial's glue words wait for the final; its content words are asked about once
    for each place the decoder puts them."""
    z = np.zeros((200, 40), np.float32)
    memo: dict[Span, np.ndarray] = {}
    check = Served(WORDS, [{"was": 0.9}])  # one question: the "cat"
    heard = spans("a cat then")
    assert second_opinion(check, z, heard, CONTENT, memo=memo, partial=True) == \
        ["a", "was", "then"]
    assert not check.table
    # the next partial: the same place asks nothing; a new place is asked about
    assert second_opinion(check, z, heard, CONTENT, memo=memo, partial=True) == \
        ["a", "was", "then"]
    check.table = [{"cat": 0.9}]
    moved = [*heard[:1], heard[1]._replace(frames=9), *heard[2:]]
    assert second_opinion(check, z, moved, CONTENT, memo=memo, partial=True) == \
        ["a", "cat", "then"]
    assert not check.table
    # a final asks about every word it knows, the glue too
    check.table = [{"a": 1}, {"cat": 0.9}, {"bear": 0.9}]
    assert second_opinion(check, z, moved, CONTENT) == ["a", "cat", "bear"]


def test_a_content_word_heard_twice_in_a_row_is_one() -> None:
    """"a chicken" heard as "a sheep sheep": one word over both stretches, the content word
    the network is sure of there, or else the word heard; each other word is judged alone."""
    z = np.zeros((200, 40), np.float32)
    for heard, table, want in (
            ("a cat cat then", [{"bear": 0.9}, {"a": 1}, {"then": 1}], ["a", "bear", "", "then"]),
            ("a cat cat", [{"bear": 0.5}, {"a": 1}], ["a", "cat", ""]),
            ("a cat cat", [{"was": 0.9}, {"a": 1}], ["a", "cat", ""]),
            ("cat cat cat", [{"cat": 1}, {"cat": 1}], ["cat", "", "cat"]),
            ("a cat bear", [{"a": 1}, {"cat": 1}, {"bear": 1}], ["a", "cat", "bear"]),
            ("then then", [{"then": 1}, {"then": 1}], ["then", "then"])):
        check = Served(WORDS, table)
        assert second_opinion(check, z, spans(heard), CONTENT) == want, heard
        assert not check.table


NUMBERS = ("a", "dollars", "five", "forty", "hundred", "nine", "one", "six", "thirteen",
           "thirty", "three", "to", "twelve", "two", "was")
UNITS = {"dollars", "dollar"}


@pytest.mark.parametrize(("heard", "table", "want"), [
    # a number word the network hears as another becomes it, if the amount keeps its shape
    ("five dollars", [{"nine": 0.8, "five": 0.02}, {"dollars": 1}], "nine dollars"),
    ("twelve dollars", [{"two": 0.7}, {"dollars": 1}], "two dollars"),
    ("thirty six dollars", [{"forty": 0.9}, {"six": 1}, {"dollars": 1}], "forty six dollars"),
    ("thirty six dollars", [{"thirteen": 0.9}, {"six": 1}, {"dollars": 1}],
     "thirty six dollars"),  # "thirteen six" is not an amount
    ("five hundred dollars", [{"a": 0.7}, {"hundred": 1}, {"dollars": 1}],
     "a hundred dollars"),
    # ... not if it likes the heard word more than DOUBT, or no number much more than the rest
    ("five dollars", [{"nine": 0.8, "five": 0.15}, {"dollars": 1}], "five dollars"),
    ("five dollars", [{"nine": 0.3, "one": 0.3}, {"dollars": 1}], "five dollars"),
    ("five dollars", [{"nine": 0.04, "was": 0.9}, {"dollars": 1}], "five dollars"),
    # a word it cannot tell from a number counts as that number
    ("three dollars", [{"to": 0.3, "two": 0.2, "was": 0.4}, {"dollars": 1}], "two dollars"),
    # a unit word the network hears as a word that is not a number is not a unit
    ("thirty six dollars", [{"thirty": 1}, {"six": 1}, {"was": 0.97}],
     "thirty six was"),
    ("thirty six dollars", [{"thirty": 1}, {"six": 1}, {"nine": 0.97, "dollars": 0.02}],
     "thirty six dollars"),
    ("thirty six dollars", [{"thirty": 1}, {"six": 1}, {"was": 0.5, "dollars": 0.02}],
     "thirty six dollars"),
    # ... and a unit word it gives less than UNIT_FLOOR is none, sure of another word or not
    ("thirty six dollars", [{"thirty": 1}, {"six": 1}, {"was": 0.5, "dollars": 0.005}],
     "thirty six …"),
    ("thirty six dollars", [{"thirty": 1}, {"six": 1}, {"nine": 0.97}], "thirty six …"),
])
def test_the_amount_opinion_keeps_an_amount_an_amount(heard: str, table: list,
                                                      want: str) -> None:
    got = amount_opinion(Rigged(NUMBERS, table), np.zeros((200, 40), np.float32),
                         spans(heard), UNITS)
    assert " ".join(got) == want


def test_a_unit_the_network_never_learnt_is_judged_as_the_units_it_knows() -> None:
    """The network's data says "dollars", never "dollar"; the grammar has both, and most
    amounts made up out of everyday talk end in "dollar" ("three dollar"). The singular is
    asked about as the plural: what the network gives "dollars" is what it gives it."""
    assert "dollar" not in NUMBERS and "dollar" in UNITS
    z = np.zeros((200, 40), np.float32)
    for table, want in (([{"thirty": 1}, {"six": 1}, {"was": 0.97}], "thirty six was"),
                        ([{"thirty": 1}, {"six": 1}, {"was": 0.85, "dollars": 0.12}],
                         "thirty six dollar"),
                        ([{"thirty": 1}, {"six": 1}, {"was": 0.5, "dollars": 0.02}],
                         "thirty six dollar"),
                        ([{"thirty": 1}, {"six": 1}, {"was": 0.5}], "thirty six …")):
        got = amount_opinion(Rigged(NUMBERS, table), z, spans("thirty six dollar"), UNITS)
        assert " ".join(got) == want
    # with no unit it knows, the network is not asked about one
    got = amount_opinion(Rigged(tuple(w for w in NUMBERS if w != "dollars"),
                                [{"thirty": 1}, {"six": 1}]), z, spans("thirty six dollar"), UNITS)
    assert got == "thirty six dollar".split()


def test_a_unit_the_network_never_learnt_in_any_form_is_not_asked_about() -> None:
    """A plugin skill's unit ("miles") is nothing like "dollars": it is never judged as
    one, so the floor for unit words cannot take it (the numbers before it are judged)."""
    units = UNITS | {"miles", "mile"}
    z = np.zeros((200, 40), np.float32)
    for heard in ("thirty six miles", "one mile"):
        n = len(heard.split()) - 1  # Rigged fails if asked about more words than this
        got = amount_opinion(Rigged(NUMBERS, [{w: 1} for w in heard.split()[:n]]), z,
                             spans(heard), units)
        assert " ".join(got) == heard
    got = amount_opinion(Rigged(NUMBERS, [{"nine": 0.9}]), z, spans("five miles"), units)
    assert got == ["nine", "miles"]


def test_numbers_outside_amounts_are_not_asked_about() -> None:
    got = amount_opinion(Rigged(NUMBERS, []), np.zeros((200, 40), np.float32),
                         spans("i saw five was three"), UNITS)
    assert got == "i saw five was three".split()


def test_the_opinion_on_a_word_in_the_same_place_is_kept() -> None:
    memo: dict[Span, tuple[str, float]] = {}
    words = spans("five dollars")
    first = amount_opinion(Rigged(NUMBERS, [{"nine": 0.9}, {"dollars": 1}]),
                           np.zeros((200, 40), np.float32), words, UNITS, memo=memo)
    # a later hypothesis with the same words in the same places asks nothing again
    again = amount_opinion(Rigged(NUMBERS, []), np.zeros((300, 40), np.float32), words,
                           UNITS, memo=memo)
    assert first == again == ["nine", "dollars"]
    # a word in another place is asked about afresh
    moved = [words[0]._replace(frames=9), words[1]]
    assert amount_opinion(Rigged(NUMBERS, [{"five": 0.9}]), np.zeros((200, 40), np.float32),
                          moved, UNITS, memo=memo) == ["five", "dollars"]


MULTIPLIED = (*NUMBERS, "thousand", "four")


@pytest.mark.parametrize(("heard", "table", "want"), [
    # "thousand" heard as "dollars and" (a stopped "th"): the network hears the unit word
    # and the "and" together as "thousand", and the two amounts are one
    ("six dollars and three hundred dollars",
     [{"thousand": 0.7, "dollars": 0.1}, {"six": 1}, {"thousand": 1}, {"three": 1},
      {"hundred": 1}, {"dollars": 1}],
     "six thousand  three hundred dollars"),
    # "for" after the "and" ("four" as the decoder first hears it) joins too: no amount
    # is told until the decoder hears "four"
    ("five dollars and for hundred dollars", [{"thousand": 0.5}],
     "five thousand  for hundred dollars"),
    # not when the network hears the unit in the stretch more, or no multiplier enough
    ("six dollars and three hundred dollars",
     [{"thousand": 0.4, "dollars": 0.5}, {"six": 1}, {"dollars": 1}, {"three": 1},
      {"hundred": 1}, {"dollars": 1}], "six dollars and three hundred dollars"),
    ("six dollars and three hundred dollars",
     [{"thousand": 0.2, "was": 0.8}, {"six": 1}, {"dollars": 1}, {"three": 1},
      {"hundred": 1}, {"dollars": 1}], "six dollars and three hundred dollars"),
    # ... nor when the multiplier would not make one number of both amounts
    ("twenty dollars and a hundred dollars",
     [{"hundred": 0.9}, {"twenty": 1}, {"dollars": 1}, {"a": 1}, {"hundred": 1},
      {"dollars": 1}],
     "twenty dollars and a hundred dollars"),
])
def test_a_unit_word_and_its_and_may_be_one_multiplier(heard: str, table: list,
                                                       want: str) -> None:
    check = Served((*MULTIPLIED, "twenty"), table)
    got = amount_opinion(check, np.zeros((200, 40), np.float32), spans(heard), UNITS)
    assert " ".join(got) == want and len(got) == len(heard.split())
    assert not check.table  # every question asked: the join's, then the amounts' words


def test_a_partials_amount_waits_while_its_words_may_change() -> None:
    """A partial whose unit word and the "and" after it the network hears together as
    "thousand" tells no amount yet, whatever follows the "and" as long as it is not a
    number: the next words may make it one. Nor does one whose unit word the network is
    not sure of (less than SURE) with an "and" after it and at most one word more. A final
    tells the amount as heard."""
    z = np.zeros((200, 40), np.float32)
    thousand, unit = {"thousand": 0.7, "dollars": 0.1}, {"dollars": 0.9}
    sure, unsure = {"dollars": 0.9}, {"dollars": 0.3}
    for heard, table, partial, want in (
            ("six dollars and", [thousand, {"six": 1}, sure], True, "six <held> <held>"),
            ("six dollars an it on", [thousand, {"six": 1}, sure], True,
             "six <held> <held> <held> <held>"),
            ("six dollars and", [thousand, {"six": 1}, sure], False, "six dollars and"),
            ("six dollars and", [unit, {"six": 1}, sure], True, "six dollars and"),
            ("six dollars and", [unit, {"six": 1}, unsure], True, "six <held> <held>"),
            ("six dollars and it", [unit, {"six": 1}, unsure], True,
             "six <held> <held> <held>"),
            ("six dollars and it on", [unit, {"six": 1}, unsure], True,
             "six dollars and it on"),
            ("six dollars and it", [unit, {"six": 1}, unsure], False, "six dollars and it"),
            ("six dollars", [{"six": 1}, {"dollars": 0.15}], True, "six dollars")):
        check = Served(MULTIPLIED, table)
        got = amount_opinion(check, z, spans(heard), UNITS, partial=partial)
        assert " ".join(got) == want, (heard, partial)
        assert not check.table


def rigged_npz(path: Path, words: tuple[str, ...], favourite: str,
               logits: dict[str, float] | None = None) -> Path:
    """A classifier file that names ``favourite`` for every word, whatever it hears
    (``logits``: other words' logits, against the favourite's 10 and the rest's 0)."""
    conv, head = network(80, len(words))
    bias = {**(logits or {}), favourite: 10.0}
    with torch.no_grad():
        head[3].weight.zero_()
        head[3].bias.copy_(torch.tensor([bias.get(w, 0.0) for w in words]))
    conv.eval()
    head.eval()
    export(conv, head, np.zeros((1, 80, 1), np.float32), np.ones((1, 80, 1), np.float32),
           words, path)
    return path


def test_the_recogniser_asks_about_glue_words_in_finals_only(tmp_path: Path) -> None:
    check = rigged_npz(tmp_path / "bear.npz", ("bear", "the"), "bear")
    rec = Recognizer(jsgf=build_grammar(), word_check=str(check))
    audio = timeline(0.4, "there was a dog in the garden", 0.8)
    hyps = []
    for k in range(len(audio) // CHUNK):
        hyps += rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
    hyps += rec.flush()
    (final,) = [h for h in hyps if h.final]
    # "the" is in the network's words and it is sure of "bear": a content word in glue's
    # place; "dog" is a content word the network does not know
    assert final.text == "there was a dog in bear garden"
    assert [w.text for w in final.words] == final.text.split()
    assert all("bear" not in h.text for h in hyps if not h.final)
    plain = Recognizer(jsgf=build_grammar())
    again = []
    for k in range(len(audio) // CHUNK):
        again += plain.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
    (alone,) = [h for h in again + plain.flush() if h.final]
    assert alone.text == "there was a dog in the garden"
    assert [(w.start, w.end) for w in alone.words] == [(w.start, w.end) for w in final.words]


def decoded(audio: np.ndarray, check: Path) -> dict[str, list[Hypothesis]]:
    """Every hypothesis of ``audio`` in chunks, with the word check ``check`` ("checked")
    and without one ("plain")."""
    heard = {}
    for name, path in (("checked", str(check)), ("plain", None)):
        rec = Recognizer(jsgf=build_grammar(), word_check=path)
        hyps = []
        for k in range(len(audio) // CHUNK):
            hyps += rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
        heard[name] = hyps + rec.flush()
    return heard


def test_the_recogniser_asks_about_amounts_in_partials_and_finals(tmp_path: Path) -> None:
    # "dollars" at about 0.02: not the unit the network would hear, but not none either
    check = rigged_npz(tmp_path / "nine.npz", ("nine", "five", "dollars"), "nine",
                       {"dollars": 6.0})
    heard = {name: [h for h in hyps if "dollars" in h.text]
             for name, hyps in decoded(timeline(0.4, "it cost five dollars", 0.8),
                                       check).items()}
    assert heard["plain"] and all("five dollars" in h.text for h in heard["plain"])
    # every hypothesis that tells the amount, the first partial too, tells the network's
    assert heard["checked"] and not heard["checked"][0].final
    assert all("nine dollars" in h.text for h in heard["checked"])
    assert heard["checked"][-1].final


def test_the_recogniser_joins_a_thousand_heard_as_a_unit_and_an_and(tmp_path: Path) -> None:
    """An accent that stops its "th" says "six thousand three hundred dollars" as the
    decoder hears "six dollars and three hundred dollars"; here the words themselves are
    said, and the network hears "thousand" in everything (more than the unit word, which
    it gives about 0.06). Once the "and" is heard, no partial tells six dollars; the final
    is one amount, its "thousand" over the stretch of the unit word and the "and"."""
    words = ("thousand", "six", "three", "hundred", "dollars", "and")
    check = rigged_npz(tmp_path / "thousand.npz", words, "thousand",
                       {"six": 9.0, "three": 9.0, "hundred": 9.0, "dollars": 8.0})
    heard = decoded(timeline(0.4, "it cost six dollars and three hundred dollars", 0.8), check)
    plain = [h for h in heard["plain"] if h.final]
    assert [h.text for h in plain] == ["it cost six dollars and three hundred dollars"]
    assert any("six dollars and" in h.text for h in heard["plain"] if not h.final)
    assert not any("dollars and" in h.text for h in heard["checked"])
    (final,) = [h for h in heard["checked"] if h.final]
    assert final.text == "it cost six thousand three hundred dollars"
    thousand = final.words[3]
    assert (thousand.text, thousand.start, thousand.end) == (
        "thousand", plain[0].words[3].start, plain[0].words[4].end)


def test_the_recogniser_asks_about_content_words_in_partials_and_finals(
        tmp_path: Path) -> None:
    """The count skill answers "how many" from a partial, with the words before the
    question: a content word the network hears as glue is glue in the partials too."""
    check = rigged_npz(tmp_path / "the.npz", ("the", "dog"), "the")
    heard = decoded(timeline(0.4, "there was a dog in the garden", 0.8), check)
    assert any("a dog" in h.text for h in heard["plain"] if not h.final)
    assert [h.text for h in heard["plain"] if h.final] == ["there was a dog in the garden"]
    assert any("a the" in h.text for h in heard["checked"] if not h.final)
    assert not any("dog" in h.text for h in heard["checked"])
    assert [h.text for h in heard["checked"] if h.final] == ["there was a the in the garden"]


def test_the_classifier_never_hears_the_held_out_or_stand_in_voices() -> None:
    from bench import ears, scenarios, standin
    from nodes.asr import espeak_model, wordcheck_build

    held = set(scenarios.HELD_OUT) | set(ears.HELD_OUT)
    variants = {"+" + v.split("+")[1] for v in held if "+" in v}
    assert variants <= set(wordcheck_build.NEVER)
    # the stand-ins' variants that the acoustic model never heard, the classifier never hears
    unseen = {v for v in standin.VARIANTS if v} - set(espeak_model.VARIANTS)
    assert unseen and unseen <= set(wordcheck_build.NEVER)
    assert not set(wordcheck_build.VARIANTS) & set(wordcheck_build.NEVER)
    voices = set(wordcheck_build.voices())
    assert not held & voices
    assert {v.split("+")[0] for v in voices} == set(espeak_model.ACCENTS)
    assert not {v.split("+")[0] for v in voices} & {v.split("+")[0] for v in held}
    left = wordcheck_build.voices(without=["en-gb-scotland"])
    assert left and not any(v.startswith("en-gb-scotland") for v in left)
