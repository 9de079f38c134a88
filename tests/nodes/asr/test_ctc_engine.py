"""``acoustic_model: phonenet``: the phone network (``phone_net``) and ``CtcDecoder`` behind
the ``Recognizer``, on espeak-ng speech in 200 ms micro-turns, and the node with it.

One recogniser and one decoder serve the whole module (each compiles the scenario grammar,
about a second); a test that changes the recogniser's grammar puts it back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flow import NodeFailed, ParamError
from flow.testing import run_node
from nodes.asr import phone_net
from nodes.asr.ctc_engine import CtcDecoder
from nodes.asr.grammar import build_grammar
from nodes.asr.recognizer import MS, NOISE_FLOOR, Hypothesis, Recognizer, S
from nodes.asr.wordcheck import log_mel
from nodes.types import Heard

from .conftest import CHUNK, PERIOD, RATE, chunks, speech, timeline

SENTENCES = (  # (text, voice): dev voices, none the benchmarks hold out
    ("it cost three hundred and twenty five dollars", "en-us"),
    ("how many animals so far", "en-gb-x-rp+m3"),
    ("then i saw a cat and a horse", "en-gb"),
)


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer(jsgf=build_grammar(), acoustic_model=str(phone_net.DEFAULT))


@pytest.fixture(scope="module")
def decoder() -> CtcDecoder:
    dec = CtcDecoder(phone_net.DEFAULT)
    dec.add_jsgf_string("scenario", build_grammar())
    dec.activate_search("scenario")
    return dec


def feed(rec: Recognizer, audio: np.ndarray, first: int = 0) -> list[list[Hypothesis]]:
    """``audio`` in 200 ms micro-turns from micro-turn ``first``: what each one gave."""
    return [rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], (first + k) * PERIOD)
            for k in range(len(audio) // CHUNK)]


def finals_of(turns: list[list[Hypothesis]]) -> list[str]:
    return [h.text for hs in turns for h in hs if h.final]


def pcm(audio: np.ndarray, seed: int = 0) -> np.ndarray:
    """int16 with the recogniser's noise floor (exact zeros degrade the features)."""
    noise = np.random.default_rng(seed).uniform(-NOISE_FLOOR, NOISE_FLOOR, audio.size)
    return (np.clip(audio + noise, -1.0, 1.0) * 32767).astype(np.int16)


# -- the recogniser with the phone network --------------------------------------------------

@pytest.fixture(scope="module")
def heard(rec: Recognizer) -> tuple[list[list[Hypothesis]], list[tuple[int, int]]]:
    """The three sentences, in three voices, 0.8 s of silence between them: what each
    micro-turn gave, and each sentence's loud part (samples)."""
    parts, loud = [np.zeros(int(0.4 * RATE), np.float32)], []
    at = parts[0].size
    for text, voice in SENTENCES:
        said = speech(text, voice)
        on = np.flatnonzero(np.abs(said) > 0.01)
        loud.append((at + on[0], at + on[-1]))
        parts += [said, np.zeros(int(0.8 * RATE), np.float32)]
        at += said.size + parts[-1].size
    audio = np.concatenate(parts)
    audio = np.pad(audio, (0, -audio.size % CHUNK))
    turns = feed(rec, audio)
    assert not rec.in_utterance
    return turns, loud


def test_sentences_are_heard_word_for_word(heard) -> None:
    turns, _ = heard
    assert finals_of(turns) == [text for text, _ in SENTENCES]


def test_partials_come_before_each_final_and_grow(heard) -> None:
    turns, _ = heard
    hyps = [h for hs in turns for h in hs]
    finals = [i for i, h in enumerate(hyps) if h.final]
    begin = 0
    for i in finals:
        final, partials = hyps[i], [h for h in hyps[begin:i] if h.text]
        words = final.text.split()
        assert len(partials) >= 3, final.text
        counts = [len(h.words) for h in partials]
        assert counts == sorted(counts), (final.text, [h.text for h in partials])
        assert counts[-1] >= len(words) - 1
        for h in partials:  # only a partial's last word may still change
            assert h.text.split()[:-1] == words[:len(h.words) - 1], (h.text, final.text)
            assert h.start == final.start and h.end == h.at <= final.end
        begin = i + 1


def test_word_times_fall_inside_the_speech(heard) -> None:
    turns, loud = heard
    finals = [h for hs in turns for h in hs if h.final]
    for final, (on, off) in zip(finals, loud, strict=True):
        first, last = on * S // RATE, off * S // RATE
        assert abs(final.words[0].start - first) < 100 * MS, final.text
        assert abs(final.words[-1].end - last) < 100 * MS, final.text
        for w, nxt in zip(final.words, (*final.words[1:], None), strict=True):
            assert first - 100 * MS <= w.start < w.end <= last + 100 * MS, (final.text, w)
            assert nxt is None or w.end <= nxt.start, (final.text, w, nxt)
        assert final.start <= final.words[0].start and final.words[-1].end <= final.end


def test_a_partial_never_has_a_word_the_audio_has_not_reached(heard) -> None:
    """Its n-th word is in the audio it was made of: the final places that word's end at
    most 100 ms after the partial's end (the last phone's own length, about)."""
    turns, _ = heard
    hyps = [h for hs in turns for h in hs]
    final = None
    for h in reversed(hyps):  # each partial with the final of its utterance
        if h.final:
            final = h
        elif h.words:
            assert final is not None and len(h.words) <= len(final.words)
            assert final.words[len(h.words) - 1].end <= h.end + 100 * MS, \
                (h.text, h.end, final.words)


def test_a_word_shows_only_once_its_last_phone_is_reached(decoder: CtcDecoder) -> None:
    """Cut every 20 ms through "dollars": a cut before half of it never shows it (the
    path has not reached its last phone), and only the final's words show."""
    text = SENTENCES[0][0]
    audio = pcm(np.concatenate([np.zeros(3200, np.float32), speech(text),
                                np.zeros(4800, np.float32)]))
    decoder.start_utt()
    decoder.process_raw(audio.tobytes())
    decoder.end_utt()
    final = decoder.seg()
    assert final is not None and [s.word for s in final] == text.split()
    dollars = final[-1]
    half = (dollars.start_frame + dollars.end_frame) // 2 * 160  # samples
    decoder.start_utt()
    fed = 0
    for cut in range(dollars.start_frame * 160 - 1600, audio.size, 320):
        decoder.process_raw(audio[fed:cut].tobytes())
        fed = cut
        seg = decoder.seg()
        assert seg is not None
        said = [s.word for s in seg]
        assert said[:-1] == text.split()[:len(said) - 1], (cut, said)
        if cut < half:
            assert "dollars" not in said, (cut, half, said)
        # each word shown ends, where the final puts it, at most 100 ms after the cut
        assert all(final[k].end_frame * 160 <= cut + 1600 for k in range(len(seg))), \
            (cut, said)
        if cut > (dollars.end_frame + 10) * 160:
            assert said == text.split(), (cut, said)
            break
    else:
        pytest.fail("the cuts never went past the end of the speech")
    decoder.end_utt()


def test_a_new_grammar_during_an_utterance_applies_after_it(rec: Recognizer) -> None:
    commands = build_grammar(phrases=("stop", "start the stopwatch"), number_contexts=(),
                             words=(), fillers=())
    first = timeline(0.4, "how many animals so far", 0.8)
    second = timeline("how many animals so far", 0.8)
    k0 = 100  # media time goes on from the earlier tests'
    turns = feed(rec, first[:CHUNK * 4], k0)
    assert rec.in_utterance
    rec.set_grammar(commands)
    turns += feed(rec, first[CHUNK * 4:], k0 + 4)
    assert finals_of(turns) == ["how many animals so far"]  # heard with the old grammar
    try:
        later = finals_of(feed(rec, second, k0 + len(first) // CHUNK))
        assert len(later) == 1 and later[0]
        assert set(later[0].split()) <= {"stop", "start", "the", "stopwatch"}
    finally:
        rec.set_grammar(build_grammar())
    assert not rec.in_utterance


def test_a_word_added_with_its_phones_is_heard(rec: Recognizer) -> None:
    rec.add_pronunciations({"microturn": ("M AY K R OW T ER N",)})
    assert rec.unknown_words({"microturn", "blorptastic"}) == ["blorptastic"]
    rec.set_grammar(build_grammar(phrases=("hey microturn", "stop"), number_contexts=(),
                                  words=(), fillers=()))
    try:
        said = finals_of(feed(rec, timeline(0.4, "hey microturn", 0.8), 200))
    finally:
        rec.set_grammar(build_grammar())
    assert said == ["hey microturn"]


def test_a_bad_phone_is_a_value_error_for_the_caller(rec: Recognizer,
                                                     decoder: CtcDecoder) -> None:
    with pytest.raises(RuntimeError, match="XX"):
        decoder.add_word("zork", "Z AO R XX", True)
    with pytest.raises(RuntimeError):
        decoder.add_word("zork", "", True)
    assert decoder.lookup_word("zork") is None
    with pytest.raises(ValueError, match=r"refused the pronunciation 'Z AO R XX' of 'zork'"):
        rec.add_pronunciations({"zork": ("Z AO R XX",)})
    assert rec.unknown_words({"zork"}) == ["zork"]


def test_the_dictionary_numbers_alternates_like_pocketsphinx(decoder: CtcDecoder) -> None:
    assert decoder.lookup_word("the") == "DH AH"
    assert decoder.lookup_word("the(2)") == "DH IY"
    assert decoder.lookup_word("the(3)") is None
    assert decoder.lookup_word("read(2)") == "R IY D"
    assert decoder.lookup_word("glorbix") is None
    decoder.add_word("glorbix", "g l ao r  b ih k s", True)  # spelt as pocketsphinx takes it
    decoder.add_word("glorbix(2)", "G L AO R B IY K S", True)
    assert decoder.lookup_word("glorbix") == "G L AO R B IH K S"
    assert decoder.lookup_word("glorbix(2)") == "G L AO R B IY K S"
    decoder.add_word("the(3)", "DH EH", True)  # beside the dictionary's own
    assert [decoder.lookup_word(w) for w in ("the", "the(2)", "the(3)")] == \
        ["DH AH", "DH IY", "DH EH"]


def test_a_phone_network_needs_a_grammar() -> None:
    with pytest.raises(ValueError, match="grammar"):
        Recognizer(open_vocabulary=True, acoustic_model=str(phone_net.DEFAULT))
    with pytest.raises(RuntimeError, match="no grammar"):
        dec = CtcDecoder(phone_net.DEFAULT)
        dec.start_utt()


# -- the phone network -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["text", "npy", "npz"])
def test_a_file_that_is_not_a_network_is_a_value_error_naming_it(tmp_path: Path,
                                                                 kind: str) -> None:
    path = tmp_path / "net.npz"
    if kind == "text":
        path.write_text("not a network\n")
    else:
        with path.open("wb") as f:
            if kind == "npy":  # one array, not an archive of them
                np.save(f, np.zeros(3))
            else:  # an archive without the weights
                np.savez(f, mu=np.zeros(40))
    with pytest.raises(ValueError, match=rf"{path}: not a phone network"):
        phone_net.PhoneNet(path)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'none.npz'}: not a phone network"):
        phone_net.PhoneNet(tmp_path / "none.npz")


def test_logprobs_from_a_frame_are_the_tail_of_the_whole() -> None:
    """Only the input a frame depends on is computed, and it gives that frame's output:
    equal but for the float rounding of matrix products of other widths (up to 2e-5 of a
    log-probability here); an input that starts a frame too late is off by more."""
    net = phone_net.PhoneNet()
    assert net.context == phone_net.CONTEXT
    said = speech(SENTENCES[0][0])
    for extra in (0, 160):  # an even and an odd number of feature frames
        feats = log_mel(np.concatenate([said, np.zeros(extra, np.float32)]))
        whole = net.logprobs(feats)
        assert whole.shape == ((len(feats) + 1) // 2, len(net.phones) + 1)
        np.testing.assert_allclose(np.exp(whole).sum(1), 1.0, rtol=1e-4)
        for first in (0, 1, net.context, net.context + 1, net.context + 2, 57, 94,
                      len(whole) - 1, len(whole)):
            tail = net.logprobs(feats, first)
            assert tail.shape == whole[first:].shape, first
            np.testing.assert_allclose(tail, whole[first:], rtol=0, atol=1e-4,
                                       err_msg=f"first={first}")
    # the tolerance tells a missing frame of input: output frame 80 from the input that
    # starts one output frame later than it needs (net.context - 1 frames before it)
    first = 80
    s = 2 * (first - net.context + 1)
    late = net.logprobs(feats[s:])[first - s // 2]
    assert np.abs(late - whole[first]).max() > 2e-4


# -- the node --------------------------------------------------------------------------------

def test_the_node_hears_with_the_phone_network() -> None:
    audio = timeline(0.4, "how many animals so far", 0.8, voice="en-us")
    result = run_node("asr.pocketsphinx", {"acoustic_model": "phonenet"},
                      inputs={"chunks": chunks(audio)}, pace="pts")
    heard = result.of("heard", Heard)
    assert [h.text for h in heard if h.final] == ["how many animals so far"]
    assert not heard[0].final and heard[0].text


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"acoustic_model": "/no/such.npz"}, "with.acoustic_model", "no such file"),
    ({"acoustic_model": "phonenet", "speaker_adaptation": True}, "with.speaker_adaptation",
     "needs acoustic_model: default, espeak or a model directory"),
    ({"acoustic_model": "/models/mine.npz", "speaker_adaptation": True},
     "with.speaker_adaptation", "a phone network"),
    ({"acoustic_model": "phonenet", "grammar": "open"}, "with.grammar", "a phone network"),
])
def test_what_a_phone_network_cannot_do_is_a_param_error(params, field, says) -> None:
    with pytest.raises(NodeFailed, match=rf"{says}.*at {field}|at {field}.*{says}") as info:
        run_node("asr.pocketsphinx", params, inputs={"chunks": []})
    assert isinstance(info.value.exc, ParamError)
