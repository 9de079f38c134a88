"""bench/standin.py: the leave-accents-out stand-in the ears' recipe is decided on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from bench import standin
from bench.interaction import GRAPH, assistant_graph
from bench.scenarios import HELD_OUT, generate
from nodes.asr import espeak_model, wordcheck_build

from .usage import assert_refused


def test_the_voices_are_the_left_out_accents_in_six_variants() -> None:
    assert standin.standin_voices(["en-gb-scotland"]) == [
        "en-gb-scotland", "en-gb-scotland+m5", "en-gb-scotland+iven",
        "en-gb-scotland+grandma", "en-gb-scotland+robert", "en-gb-scotland+klatt"]
    assert standin.standin_voices(["en", "en-gb-x-rp"]) == [
        "en", "en+m5", "en+iven", "en-gb-x-rp+grandma", "en-gb-x-rp+robert",
        "en-gb-x-rp+klatt"]
    with pytest.raises(ValueError, match="at least one"):
        standin.standin_voices([])


def test_the_stand_in_variants_are_not_all_adaptation_variants() -> None:
    unseen = {v for v in standin.VARIANTS if v not in espeak_model.VARIANTS}
    assert {"+iven", "+grandma", "+robert", "+klatt"} <= unseen


def test_a_model_without_accents_has_its_own_cache_and_voices() -> None:
    without = espeak_model.cache_dir(["en-gb-scotland"])
    assert without != espeak_model.cache_dir()
    assert without.name.endswith("-without-en-gb-scotland")
    assert espeak_model.cache_dir(["en", "en-gb-x-rp"]) == \
        espeak_model.cache_dir(["en-gb-x-rp", "en"])  # the order does not matter
    voices = espeak_model.voices(["en-gb-scotland"])
    assert voices and not any(v.startswith("en-gb-scotland") for v in voices)
    assert len(voices) == len(espeak_model.voices()) - len(espeak_model.VARIANTS)


def test_leaving_out_an_unknown_accent_or_every_accent_is_an_error() -> None:
    with pytest.raises(ValueError, match="not an accent of the espeak model: en-xx"):
        espeak_model.accents(["en-xx"])
    with pytest.raises(ValueError, match="every accent"):
        espeak_model.accents(espeak_model.ACCENTS)


def test_clips_in_given_voices_say_the_same_at_the_same_rates() -> None:
    plain = generate("count", 2, seed=3)
    voiced = generate("count", 2, seed=3, voices=["en-gb-scotland+klatt", "en+iven"])
    assert [c.voice for c in voiced] == ["en-gb-scotland+klatt", "en+iven"]
    assert [(c.text, c.rate, c.truth["count"]) for c in voiced] == \
        [(c.text, c.rate, c.truth["count"]) for c in plain]
    assert not any(c.held_out for c in voiced)
    assert not set(standin.standin_voices(["en-gb-scotland"])) & set(HELD_OUT)


def test_the_ears_of_the_assistant_graph_take_the_given_model(tmp_path: Path) -> None:
    graph, _ = assistant_graph(tmp_path / "in.wav", tmp_path / "out.wav", GRAPH,
                               ears={"acoustic_model": "/models/stand-in"})
    ears = [d.params for d in graph.nodes.values() if d.type_name == "asr.pocketsphinx"]
    assert [p.acoustic_model for p in ears] == ["/models/stand-in"]
    assert ears[0].confirm_units is False  # the graph's other settings stay


def test_tally_clips_run_with_the_count_skill_hearing_numbers(tmp_path: Path) -> None:
    def count_settings(**kw: bool) -> object:
        graph, roles = assistant_graph(tmp_path / "in.wav", tmp_path / "out.wav", GRAPH, **kw)
        return graph.nodes[roles["frontend"]].params.options["settings"]["count"]

    assert count_settings() == {"category": "animals"}
    assert count_settings(numbers=True) == {"category": "animals", "numbers": True}


def test_accented_speech_changes_the_phonemes_it_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from nodes import espeak

    assert standin.accented("plain") is None
    kw = {"voice": "en-us", "rate": 150, "sample_rate": 16000}
    said: list[str] = []
    speak = espeak.synthesize

    def synthesize(text: str, **kw: object) -> np.ndarray:
        said.append(text if kw.get("phoneme_input") else f"text: {text}")
        return speak(text, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(espeak, "synthesize", synthesize)
    for feature, text in (("h-dropping", "how many horses"), ("th-stopping", "the thing"),
                          ("th-dental", "the thing")):
        synth = standin.accented(feature)
        assert synth is not None
        assert synth(text, **kw).size > 8000
    assert said == ["[[,aU m'Eni 'O@sI#z]]", "[[d@2 t'IN]]", "[[d[@2 t['IN]]"]


@pytest.mark.parametrize("argv, message", [
    (["--leave-out", "en-xx"], "not an accent of the espeak model: en-xx"),
    (["--scenarios", "weather"], "unknown scenario(s) weather"),
    (["--n", "0"], "nothing to run"),
    (["--speech", "lisp"], "invalid choice: 'lisp'"),
    (["--accents", "h-dropping,lisp"], "unknown accent 'lisp'"),
])
def test_bad_arguments_are_named(argv: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(standin.main, argv, message, capsys)


def test_a_run_prints_one_json_line_scored_with_the_stand_in_model(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    """The plumbing end to end, with the full espeak model and word classifier standing in
    for a stand-in's (building them takes a quarter of an hour on a fresh machine): two
    stopwatch clips on the virtual clock."""
    model, classifier = espeak_model.ensure(), wordcheck_build.ensure()
    asked: list[list[str]] = []
    checks: list[list[str]] = []

    def ensure(without: Iterable[str] = ()) -> Path:
        asked.append(list(without))
        return model

    def ensure_check(without: Iterable[str] = ()) -> Path:
        checks.append(list(without))
        return classifier

    monkeypatch.setattr(espeak_model, "ensure", ensure)
    monkeypatch.setattr(wordcheck_build, "ensure", ensure_check)
    clips_out = tmp_path / "clips.jsonl"
    assert standin.main(["--leave-out", "en-gb-scotland", "--scenarios", "stopwatch",
                         "--n", "2", "--accents", "", "--clips-out", str(clips_out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert asked == checks == [["en-gb-scotland"]]
    assert r["word_check"] == str(classifier)
    assert (r["model"], r["left_out"], r["total"], r["errors"], r["speech"], r["accents"]) \
        == (str(model), ["en-gb-scotland"], 2, 0, "plain", [])
    assert r["voices"][0] == "en-gb-scotland"
    assert r["per_scenario"]["stopwatch"]["total"] == 2
    assert 0 <= r["correct"] <= 2
    assert {v: c["total"] for v, c in r["per_voice"].items()} == \
        {"en-gb-scotland": 1, "en-gb-scotland+m5": 1}
    assert sum(c["correct"] for c in r["per_voice"].values()) == r["correct"]
    # each clip's line: what was said to the ears, and what they heard (their finals)
    rows = [json.loads(line) for line in clips_out.read_text().splitlines()]
    assert [row["voice"] for row in rows] == ["en-gb-scotland", "en-gb-scotland+m5"]
    for row in rows:
        assert "stopwatch" in row["text"].split()
        assert row["heard"] and all(isinstance(h, str) and h for h in row["heard"])
        assert any("stopwatch" in h.split() for h in row["heard"])


def test_a_phone_network_stands_in_only_if_it_never_heard_the_accents(capsys) -> None:
    """``--phonenet``: the network trained without the accents left out, found by name;
    one that heard them is refused (exit status 2), and so is a file that is no network."""
    from bench.phonenet_train import default_out

    ap = standin.argparse.ArgumentParser()
    assert standin.phonenet_for(ap, ["en-gb-x-rp", "en"], "auto") == \
        str(default_out(["en", "en-gb-x-rp"]))
    shipped = str(Path(standin.ROOT) / "nodes/asr/models/phonenet.npz")
    for given in (shipped, str(default_out(["en-gb-scotland"]))):  # both heard en
        with pytest.raises(SystemExit) as exc:
            standin.phonenet_for(ap, ["en"], given)
        assert exc.value.code == 2
        assert "was trained on en: a stand-in must never have heard" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        standin.phonenet_for(ap, ["en"], str(Path(standin.ROOT) / "README.md"))
    assert "not a phone network" in capsys.readouterr().err


def test_a_phone_network_stand_in_hears_its_accent(tmp_path) -> None:
    """One count clip in a scotland variant the network never heard, through the assistant
    with the network trained without scotland: counted right."""
    out = tmp_path / "clips.jsonl"
    assert standin.main(["--phonenet", "--n", "1", "--seed", "11",
                         "--clips-out", str(out)]) == 0
    (clip,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert clip["voice"].startswith("en-gb-scotland") and clip["correct"]
