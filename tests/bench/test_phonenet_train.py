"""bench/phonenet_train.py: the phone network's training program, its voices and its export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import phonenet_train, standin
from bench.scenarios import HELD_OUT
from nodes.asr import espeak_model, wordcheck_build
from nodes.asr.phone_net import PhoneNet

from .usage import assert_refused

#: the stand-ins' variants that no training voice has (bench/standin.py)
STANDIN_ONLY = {"+iven", "+grandma", "+robert", "+klatt"}


def torch_logprobs(net: torch.nn.Module, mu: np.ndarray, sd: np.ndarray,
                   feats: np.ndarray) -> np.ndarray:
    net.eval()
    x = (torch.tensor(feats, dtype=torch.float32) - torch.tensor(mu)) / torch.tensor(sd)
    with torch.no_grad():
        return torch.log_softmax(net(x.T[None]), 1)[0].T.numpy()


def test_a_tiny_run_writes_a_network_phone_net_reads_as_torch_computes_it(
        tmp_path: Path) -> None:
    out = tmp_path / "tiny.npz"
    args = phonenet_train.parse_args(["--limit", "24", "--epochs", "1", "--procs", "2",
                                      "--device", "cpu", "--without", "en-gb-scotland",
                                      "--out", str(out)])
    logs: list[str] = []
    net, report = phonenet_train.build(args, logs.append)
    assert json.loads(json.dumps(report))["out"] == str(out)
    assert report["utterances"] == 24 and report["device"] == "cpu"
    assert set(report["per"]) == {"heldout", "standin"}
    assert report["int8_logprob_max_diff"] < 0.05
    assert any(s.startswith("epoch 0: loss") for s in logs)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.npz"]  # no temporary left

    pn = PhoneNet(out)
    assert pn.meta["without"] == ["en-gb-scotland"] and pn.meta["epochs"] == 1
    assert pn.meta["utterances"] == 24 and pn.meta["per"] == report["per"]
    assert pn.meta["torch"] == torch.__version__ and pn.meta["date"]
    with np.load(out) as z:  # int8 with a scale per output channel, as quant.py wrote them
        assert z["b0_w"].dtype == np.int8 and z["b0_w_scale"].shape == (256,)
        assert z["inp_w"].dtype == np.int8 and z["out_w"].dtype == np.int8
    feats = phonenet_train.render(phonenet_train.evaluation_utterances()["heldout"][0])
    feats = feats.astype(np.float32)
    want = torch_logprobs(net, pn.mu, pn.sd, feats)
    got = pn.logprobs(feats)
    assert got.shape == want.shape == ((len(feats) + 1) // 2, 40)
    assert np.abs(got - want).max() < 0.05


def test_the_export_of_any_network_is_its_forward_pass(tmp_path: Path) -> None:
    """Not only a barely trained one: BatchNorm statistics far from the identity."""
    torch.manual_seed(0)
    net = phonenet_train.network()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    rng = np.random.default_rng(0)
    mu, sd = rng.normal(0, 1, 40).astype(np.float32), rng.uniform(1, 3, 40).astype(np.float32)
    phonenet_train.export(net.eval(), mu, sd, tmp_path / "n.npz", {"name": "random"})
    feats = rng.normal(0, 2, (157, 40)).astype(np.float32)
    pn = PhoneNet(tmp_path / "n.npz")
    assert pn.meta == {"name": "random"}
    assert np.abs(pn.logprobs(feats) - torch_logprobs(net, mu, sd, feats)).max() < 0.05


def test_the_training_voices_are_never_a_held_out_or_a_stand_in_voice() -> None:
    held_accents = {v.split("+")[0] for v in HELD_OUT}
    never = {"+" + v.split("+")[1] for v in HELD_OUT if "+" in v} | STANDIN_ONLY
    assert STANDIN_ONLY <= set(standin.VARIANTS)
    utts = phonenet_train.training_utterances()
    assert len(utts) == len(espeak_model.ACCENTS) * len(wordcheck_build.VARIANTS) * 60
    voices = {u["voice"] for u in utts}
    assert voices == set(phonenet_train.voices())
    for voice in voices:
        accent, _, variant = voice.partition("+")
        assert accent in espeak_model.ACCENTS and accent not in held_accents
        assert not variant or "+" + variant not in never
    assert [u["voice"] for u in phonenet_train.evaluation_utterances()["heldout"][::40]] == \
        list(HELD_OUT)


def test_without_an_accent_leaves_it_out_and_names_the_stand_in(
        capsys: pytest.CaptureFixture[str]) -> None:
    utts = phonenet_train.training_utterances(["en-gb-scotland"])
    assert utts and not any(u["voice"].startswith("en-gb-scotland") for u in utts)
    assert len(utts) == 3 * len(wordcheck_build.VARIANTS) * 60
    evals = phonenet_train.evaluation_utterances(["en-gb-scotland"])
    assert {u["voice"] for u in evals["standin"]} == \
        set(standin.standin_voices(["en-gb-scotland"]))

    shipped = phonenet_train.parse_args([])
    assert shipped.without == [] and shipped.out == phonenet_train.SHIPPED
    scot = phonenet_train.parse_args(["--without", "en-gb-scotland"])
    enrp = phonenet_train.parse_args(["--without", "en-gb-x-rp,en"])  # ACCENTS' order
    assert enrp.without == ["en", "en-gb-x-rp"]
    for args in (shipped, scot, enrp):  # the committed networks were built so
        assert PhoneNet(args.out).meta["without"] == args.without

    assert_refused(phonenet_train.main, ["--without", "en-gb-scotland,en-xx"],
                   "not an accent of the espeak model: en-xx", capsys)
    assert_refused(phonenet_train.main, ["--without", ",".join(espeak_model.ACCENTS)],
                   "every accent", capsys)
    assert_refused(phonenet_train.main, ["--epochs", "0"], "at least 1", capsys)


def test_a_word_the_dictionary_lacks_is_named() -> None:
    assert phonenet_train.lexicon(["dollars", "the"]) == {
        "dollars": ["D", "AA", "L", "ER", "Z"], "the": ["DH", "AH"]}
    with pytest.raises(phonenet_train.MissingWords, match="for: blorptastic, zzyzx"):
        phonenet_train.lexicon(["zzyzx", "the", "blorptastic"])
