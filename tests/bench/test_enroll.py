"""bench/enroll.py: the stand-in model adapted further to a few sentences of each voice."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from bench import enroll
from nodes.asr import adapt, espeak_model

from .usage import assert_refused


def test_enrolment_sentences_are_the_scenario_language_not_the_adaptation_corpus() -> None:
    got = enroll.sentences("en-gb-scotland+robert", 3)
    texts = [t for _, t in got]
    assert texts == [t for t, _ in espeak_model.corpus("en-gb-scotland+robert", 3,
                                                       seed=enroll.SEED)]
    assert texts != [t for t, _ in espeak_model.corpus("en-gb-scotland+robert", 3)]
    for audio, _ in got:
        edge = audio[:enroll.RATE // 5]  # the padding: a noise floor, not digital silence
        assert 0 < np.sqrt(np.mean(edge ** 2)) < 2 * espeak_model.NOISE_RMS
        assert np.abs(audio).max() > 0.1  # and speech between


def test_heard_transcripts_come_from_the_ears() -> None:
    audio, text = enroll.sentences("en-us", 6)[5]  # the sixth kind: a command
    assert enroll.heard(audio, espeak_model.ensure()) == text


@pytest.mark.parametrize("argv, message", [
    (["--leave-out", "en-xx"], "not an accent of the espeak model: en-xx"),
    (["--scenarios", "weather"], "unknown scenario(s) weather"),
    (["--sentences", "0"], "nothing to run"),
    (["--transcripts", "guessed"], "invalid choice: 'guessed'"),
])
def test_bad_arguments_are_named(argv: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(enroll.main, argv, message, capsys)


def test_a_run_adapts_to_each_voice_and_scores_before_and_after(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end with the full espeak model standing in for a stand-in one (building one
    takes minutes): two sentences of one voice, one stopwatch clip before and after."""
    model = espeak_model.ensure()
    bases: list[Path] = []
    real_adapt = adapt.adapt

    def ensure(without: Iterable[str] = ()) -> Path:
        assert list(without) == ["en-gb-scotland"]
        return model

    def spy(pairs, out, **kw):  # type: ignore[no-untyped-def]
        bases.append(kw["base"])
        return real_adapt(pairs, out, **kw)

    monkeypatch.setattr(espeak_model, "ensure", ensure)
    monkeypatch.setattr(adapt, "adapt", spy)
    assert enroll.main(["--voices", "en-gb-scotland+robert", "--sentences", "2",
                        "--scenarios", "stopwatch", "--n", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert bases == [model]  # adapted from the stand-in model, not the shipped one
    v = r["per_voice"]["en-gb-scotland+robert"]
    assert (v["sentences"], v["aligned"], v["clips"]) == (2, 2, 1)
    assert 2 <= v["speech_s"] <= 10
    assert v["before"] in (0, 1) and v["after"] in (0, 1)
    assert (r["clips"], r["before"], r["after"]) == (1, v["before"], v["after"])
