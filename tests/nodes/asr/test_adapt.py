"""Acoustic adaptation (nodes.asr.adapt) and the espeak-adapted model: estimation, files,
and the node's ``acoustic_model`` parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flow import FlowError
from flow.testing import run_node
from nodes.asr import adapt, adapt_command, espeak_model
from nodes.asr.recognizer import Recognizer
from nodes.types import Heard

from .conftest import chunks, speech, timeline


def _base() -> tuple[list[np.ndarray], list[np.ndarray]]:
    means = adapt.read_gaussians(adapt.BASE_MODEL / "means")
    variances = [np.maximum(v, adapt.VAR_FLOOR)
                 for v in adapt.read_gaussians(adapt.BASE_MODEL / "variances")]
    return means, variances


def test_parameter_files_round_trip(tmp_path: Path) -> None:
    means, _ = _base()
    assert [m.shape for m in means] == [(42, 128, 13)] * 3  # PTM: a codebook per base phone
    adapt.write_gaussians(means, tmp_path / "means")
    again = adapt.read_gaussians(tmp_path / "means")
    assert all(np.array_equal(a, b) for a, b in zip(means, again, strict=True))
    phones = adapt.base_phones()
    assert len(phones) == 42 and phones[:3] == ["+NSN+", "+SPN+", "AA"] and "SIL" in phones


def test_mllr_recovers_a_known_transform() -> None:
    """Frames drawn from the model's Gaussians after a known affine map of their means:
    the estimated transform is that map."""
    means, variances = _base()
    rng = np.random.default_rng(3)
    truth = []
    for _ in means:
        a = np.eye(13) * 0.8 + rng.normal(0, 0.05, (13, 13))
        truth.append(np.concatenate([rng.normal(0, 5.0, (13, 1)), a], axis=1))
    frames = []
    for s, w in enumerate(truth):
        for cb in range(3, 40):
            used = np.flatnonzero(variances[s][cb].min(axis=1) > 1e-2)  # not unused slots
            k = rng.choice(used, 400)
            mu = means[s][cb][k] @ w[:, 1:].T + w[:, 0]
            frames.append((s, cb, mu + rng.normal(0, 1, mu.shape) * np.sqrt(variances[s][cb][k])))
    want = adapt.apply_mllr(means, truth)

    def error(moved: list[np.ndarray]) -> float:  # RMS over used densities, in std devs
        return float(np.sqrt(np.mean([(((m - w) ** 2) / v)[3:40][v[3:40].min(-1) > 1e-2].mean()
                                      for m, w, v in zip(moved, want, variances, strict=True)])))

    moved, errors = means, [error(means)]
    for _ in range(3):  # EM: each step gathers with the last step's means
        stats = adapt.Stats(moved, variances)
        for s, cb, x in frames:
            stats.add_frames(s, cb, x)
        moved = adapt.apply_mllr(means, adapt.solve_mllr(stats, of=means))
        errors.append(error(moved))
    # Measured: 0.64 -> 0.22 -> 0.11 -> 0.07 standard deviations (deterministic data).
    assert errors[0] > 0.5  # the map moved the means by over half a standard deviation
    assert errors == sorted(errors, reverse=True)  # every EM step gets closer
    assert errors[2] < errors[0] / 4  # two steps (what adapt() does) remove most of it
    assert errors[-1] < 0.1


def test_map_moves_a_gaussian_by_its_share_of_the_data() -> None:
    means, variances = _base()
    stats = adapt.Stats(means, variances)
    stats.occupancy[0][5, 7] = 30.0
    stats.first[0][5, 7] = 30.0 * (means[0][5, 7] + 2.0)
    moved = adapt.map_means(stats, means, tau=10.0)
    assert np.allclose(moved[0][5, 7], means[0][5, 7] + 2.0 * 30 / 40)
    untouched = np.ones(means[0].shape[:2], bool)
    untouched[5, 7] = False
    assert np.array_equal(moved[0][untouched], means[0][untouched])
    assert all(np.array_equal(m, b) for m, b in zip(moved[1:], means[1:], strict=True))


def test_mixture_weights_round_trip(tmp_path: Path) -> None:
    shipped = adapt.MixtureWeights.read(adapt.BASE_MODEL / "sendump")
    assert shipped.weights.shape == (3, 128, 5126)  # streams, codebook densities, senones
    totals = shipped.weights.sum(axis=1)  # each senone's weights: a distribution
    assert totals.min() > 0.9 and totals.max() < 1.0 + 1e-9  # (less a byte's rounding)
    shipped.write(tmp_path / "sendump")
    assert (tmp_path / "sendump").read_bytes() == (adapt.BASE_MODEL / "sendump").read_bytes()
    (tmp_path / "means").write_bytes((adapt.BASE_MODEL / "means").read_bytes())
    with pytest.raises(ValueError, match="not a little-endian sphinx sendump"):
        adapt.MixtureWeights.read(tmp_path / "means")


def test_map_moves_a_senones_weights_by_its_share_of_the_data() -> None:
    means, variances = _base()
    prior = adapt.MixtureWeights.read(adapt.BASE_MODEL / "sendump").weights
    stats = adapt.WeightStats(means, variances, prior)
    stats.counts[1][300, 7] = 50.0  # stream 1 of senone 300: 50 frames, all on Gaussian 7
    moved = adapt.map_weights(stats, prior, tau=100.0)
    normal = prior / prior.sum(axis=1, keepdims=True)
    want = normal[1][:, 300] * 100 / 150
    want[7] += 50 / 150
    assert np.allclose(moved[1][:, 300], want) and np.isclose(moved[1][:, 300].sum(), 1.0)
    others = np.ones(prior.shape, bool)
    others[1, :, 300] = False
    assert np.array_equal(moved[others], prior[others])  # no frames: the prior as it was


def test_weight_counts_go_to_the_gaussian_that_explains_the_frames() -> None:
    means, variances = _base()
    prior = adapt.MixtureWeights.read(adapt.BASE_MODEL / "sendump").weights
    stats = adapt.WeightStats(means, variances, prior)
    cb, k = 10, int(np.argsort(-prior[0][:, 400])[1])  # not the senone's likeliest one
    rng = np.random.default_rng(5)
    x = means[0][cb][k] + rng.normal(0, 0.05, (40, 13)) * np.sqrt(variances[0][cb][k])
    stats.add_frames(0, cb, np.full(40, 400), x)
    assert stats.counts[0][400].sum() == pytest.approx(40.0)
    assert stats.counts[0][400, k] > 30  # most of each frame goes to the Gaussian it sits on
    assert stats.counts[0][:400].sum() == 0 and stats.counts[1].sum() == 0


def test_aligned_frames_carry_their_phone_and_senone() -> None:
    aligner = adapt.Aligner()
    try:
        pad = np.zeros(4000, np.float32)
        audio = np.concatenate([pad, speech("start the stopwatch", "en-us"), pad])
        got = aligner.align(audio + np.random.default_rng(0).normal(0, 5e-4, audio.size)
                            .astype(np.float32), "start the stopwatch")
    finally:
        aligner.close()
    assert got is not None
    phones = adapt.base_phones()
    assert len(got.cepstra) == len(got.codebooks) == len(got.senones)
    assert (got.senones >= 0).all() and (got.codebooks >= 0).all()
    starts = np.r_[True, got.codebooks[1:] != got.codebooks[:-1]]
    spoken = [phones[c] for c in got.codebooks[starts]]
    assert spoken[0] == "SIL" and spoken[-1] == "SIL" and spoken[1:4] == ["S", "T", "AA"]
    changes = np.count_nonzero(got.senones[1:] != got.senones[:-1])
    assert changes >= 2 * (len(spoken) - 2)  # several states (senones) per phone


def test_the_alignment_takes_the_accents_pronunciations() -> None:
    """espeak's West Midlands English says "how many horses" without its h's: against the
    dictionary's pronunciations alone it does not align (an adaptation would drop it); with
    the accent's it does, and no frame goes to an HH that was not said."""
    pad = np.zeros(4000, np.float32)
    audio = np.concatenate([pad, speech("how many horses", "en-gb-x-gbcwmd"), pad])
    audio += np.random.default_rng(0).normal(0, 5e-4, audio.size).astype(np.float32)
    got = []
    for accents in ((), ("h-dropping",)):
        aligner = adapt.Aligner(accents=accents)
        try:
            got.append(aligner.align(audio, "how many horses"))
        finally:
            aligner.close()
    plain, accent = got
    assert plain is None
    assert accent is not None
    phones = adapt.base_phones()
    said = [phones[c] for c in accent.codebooks if c >= 0]
    assert "HH" not in said and {"AW", "M", "EH", "AO", "R", "S", "Z"} <= set(said)


def test_adapted_model_directory_decodes(tmp_path: Path) -> None:
    texts = ["start the stopwatch", "remind me in ten seconds", "we saw a cat near the farm",
             "it cost twenty dollars", "how many animals so far", "stop the stopwatch"]
    rng = np.random.default_rng(0)

    def floor(audio: np.ndarray) -> np.ndarray:  # a noise floor, as a microphone has
        return (audio + rng.normal(0, 0.0005, audio.size)).astype(np.float32)

    pad = np.zeros(4000, np.float32)
    pairs = [(floor(np.concatenate([pad, speech(t, "en-gb-x-rp"), pad])), t) for t in texts]
    pairs.append((floor(np.zeros(16000, np.float32)), "a hundred and twenty dollars"))
    report = adapt.adapt(pairs, tmp_path / "model")
    assert (report.utterances, report.aligned) == (7, 6)
    assert report.frames > 500 and 0 < report.mean_shift < 5
    assert report.senones > 50  # the senones of these sentences' phones in their contexts
    weights = adapt.MixtureWeights.read(tmp_path / "model" / "sendump").weights
    shipped = adapt.MixtureWeights.read(adapt.BASE_MODEL / "sendump").weights
    changed = np.abs(weights - shipped).max(axis=(0, 1)) > 0.01
    assert 0 < changed.sum() <= report.senones  # only the senones the data reached
    rec = Recognizer(acoustic_model=str(tmp_path / "model"))
    from nodes.asr.grammar import build_grammar

    rec.set_grammar(build_grammar())
    audio = timeline(0.4, "remind me in ten seconds", 0.8, voice="en-gb-x-rp")
    finals = [h.text for c in chunks(audio) for h in rec.feed(c.audio, c.pts) if h.final]
    assert finals + [h.text for h in rec.flush()] == ["remind me in ten seconds"]


def test_a_transcript_word_outside_the_dictionary_is_named(tmp_path: Path) -> None:
    with pytest.raises(adapt.UnknownWords, match=r"utterance 1: .*dictionary: blorptastic") \
            as caught:
        adapt.adapt([(speech("hello"), "hello blorptastic")], tmp_path / "m")
    assert (caught.value.utterance, caught.value.words) == (1, ("blorptastic",))


def test_espeak_model_never_hears_the_held_out_voices() -> None:
    from bench import ears, scenarios

    held = set(scenarios.HELD_OUT) | set(ears.HELD_OUT)
    accents = {v.split("+")[0] for v in held}
    variants = {"+" + v.split("+")[1] for v in held if "+" in v}
    assert not accents & set(espeak_model.ACCENTS)
    assert not variants & set(espeak_model.VARIANTS)
    assert not held & set(espeak_model.voices())


def test_node_rejects_a_directory_that_is_no_model(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match=r"acoustic_model .* is not a model directory .*"
                                        r"no mdef, means.*at with.acoustic_model"):
        run_node("asr.pocketsphinx", {"acoustic_model": str(tmp_path)}, inputs={"chunks": []})


def test_node_decodes_with_the_espeak_model() -> None:
    audio = timeline(0.4, "what is the count", 0.6)
    result = run_node("asr.pocketsphinx", {"acoustic_model": "espeak"},
                      inputs={"chunks": chunks(audio)}, pace="pts")
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["what is the count"]
    assert (espeak_model.cache_dir() / "means").is_file()


def test_command_line_adapts_recordings_in_a_directory(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """``microturn adapt-ears``: found through the installed ``microturn.commands`` entry
    point, as a third-party package's command would be; ``python -m nodes.asr.adapt`` too."""
    from flow import cli

    # transcripts as people write them: capitals and punctuation are not words
    _recordings(tmp_path, ["Start the stopwatch!", "It cost twenty dollars."])
    assert cli.main(["adapt-ears", str(tmp_path), str(tmp_path / "model")]) == 0
    assert "2 of 2 recordings used" in capsys.readouterr().out
    assert (tmp_path / "model" / "means").is_file()
    no_transcripts = [str(tmp_path / "model"), str(tmp_path / "m2")]
    assert adapt_command.main(no_transcripts) == 2
    assert "no audio with a .txt transcript" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0
    listed = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert ("adapt-ears Adapt the ears' acoustic model to a voice, a microphone or a "
            "synthesiser, from recordings (from microturn)") in listed


def test_command_line_names_a_missing_directory(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "recordigns"
    assert adapt_command.main([str(missing), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such directory\n"
    (tmp_path / "a.wav").write_bytes(b"")
    assert adapt_command.main([str(tmp_path / "a.wav"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'a.wav'}: not a directory\n"
    assert not (tmp_path / "out").exists()


def _recordings(where: Path, texts: list[str], voice: str = "en") -> None:
    """espeak recordings with a noise floor and their transcripts, as ``adapt-ears`` reads."""
    from bench.scenarios import write_wav

    rng = np.random.default_rng(1)
    for i, text in enumerate(texts):
        audio = np.concatenate([np.zeros(4000, np.float32), speech(text, voice),
                                np.zeros(4000, np.float32)])
        write_wav(where / f"u{i}.wav", audio + rng.normal(0, 0.0005, audio.size))
        (where / f"u{i}.txt").write_text(text + "\n")


def test_command_line_adapts_further_from_a_base_model(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """``--base espeak``: the espeak model, not the shipped one, is where the new model
    starts: the senones the recordings never reach keep the espeak model's weights."""
    recordings = tmp_path / "rec"
    recordings.mkdir()
    _recordings(recordings, ["then i saw a rabbit in the garden", "how many animals so far"],
                voice="en-gb-scotland+robert")
    out = tmp_path / "robert"
    assert adapt_command.main([str(recordings), str(out), "--base", "espeak"]) == 0
    said = capsys.readouterr().out
    assert "2 of 2 recordings used" in said and f"acoustic_model: {out}" in said
    got = adapt.MixtureWeights.read(out / "sendump").weights
    espeak = adapt.MixtureWeights.read(espeak_model.ensure() / "sendump").weights
    shipped = adapt.MixtureWeights.read(adapt.BASE_MODEL / "sendump").weights
    moved = np.abs(got - espeak).max(axis=(0, 1)) > 1e-6
    reached = int(said.split("mixture weights of ")[1].split()[0])
    assert 0 < moved.sum() <= reached < 500  # only what two sentences reach
    assert (np.abs(got - shipped).max(axis=(0, 1)) > 1e-6).sum() > 1000  # espeak's own
    assert not np.array_equal(adapt.read_gaussians(out / "means")[0],
                              adapt.read_gaussians(espeak_model.ensure() / "means")[0])
    rec = Recognizer(acoustic_model=str(out))
    from nodes.asr.grammar import build_grammar

    rec.set_grammar(build_grammar())
    audio = timeline(0.4, "how many animals so far", 0.8, voice="en-gb-scotland+robert")
    finals = [h.text for c in chunks(audio) for h in rec.feed(c.audio, c.pts) if h.final]
    assert finals + [h.text for h in rec.flush()] == ["how many animals so far"]


@pytest.mark.parametrize(("base", "error"), [
    ("missing", "--base {tmp}/missing: no such model directory"),
    ("empty", "--base {tmp}/empty: not a model directory (no mdef, means, variances"),
    ("out", "the output {tmp}/out is the base model itself"),
])
def test_command_line_names_a_bad_base(tmp_path: Path, capsys: pytest.CaptureFixture,
                                      base: str, error: str) -> None:
    _recordings(tmp_path, ["start the stopwatch"])
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    if base == "out":  # a model directory, to be adapted into itself
        import shutil

        shutil.copytree(adapt.BASE_MODEL, out)
    assert adapt_command.main([str(tmp_path), str(out), "--base", str(tmp_path / base)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and error.format(tmp=tmp_path) in err
    assert base == "out" or not out.exists()


def test_command_line_takes_pronunciations_and_accents(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    _recordings(tmp_path, ["hello microturn"])
    out = tmp_path / "out"
    assert adapt_command.main([str(tmp_path), str(out)]) == 2
    assert capsys.readouterr().err == (  # the transcript's file, and the flag that fixes it
        f"error: {tmp_path / 'u0.txt'}: not in the pronunciation dictionary: microturn; give "
        "its ARPABET phones with --pronunciation 'microturn=PHONES' (as in 'hello=HH AH L "
        "OW')\n")
    assert adapt_command.main([str(tmp_path), str(out), "--pronunciation",
                               "microturn=M AY K R OW T ER N"]) == 0
    assert "1 of 1 recordings used" in capsys.readouterr().out
    for bad, error in ((["--pronunciation", "microturn"], "give it as WORD=PHONES"),
                       (["--pronunciation", "microturn=M XX"], "has 'XX', not a phone"),
                       (["--accents", "lisp"], "unknown accent 'lisp'")):
        assert adapt_command.main([str(tmp_path), str(tmp_path / "bad"), *bad]) == 2
        assert error in capsys.readouterr().err
