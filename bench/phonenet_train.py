"""Train the ears' CTC phone network (``nodes.asr.phone_net``) on espeak-ng speech and write
it as the int8 ``.npz`` that ``PhoneNet`` reads.

    .venv/bin/python bench/phonenet_train.py                          # the shipped network
    .venv/bin/python bench/phonenet_train.py --without en-gb-scotland  # the stand-ins'
    .venv/bin/python bench/phonenet_train.py --without en,en-gb-x-rp
    .venv/bin/python bench/phonenet_train.py --limit 24 --epochs 1 --out /tmp/tiny.npz

The shipped network is ``nodes/asr/models/phonenet.npz``, a stand-in's
``bench/phonenet/without-<accents>.npz`` (``--out`` writes elsewhere; ``--limit N`` is a
quick run on N utterances).

Data: 60 sentences of the scenario language per voice, the voices being the accents of
``nodes.asr.espeak_model.ACCENTS`` (less ``--without``) times the 55 variants of
``nodes.asr.wordcheck_build.VARIANTS``: 13,200 utterances, about 11.3 h of speech, for
the shipped network. A sentence is one of ``espeak_model``'s six kinds (weighted
``KINDS``) or a string of 3-8 random words of the grammar's vocabulary; each is spoken at
130-200 words per minute with its pitch drawn from 30-70, half of them with the vocal tract
scaled by 0.9-1.1 (audio resampled), a gain of -8 to +6 dB, 0.15-0.5 s of silence either
side and espeak_model's noise floor. The targets are the words' phones: the first
pronunciation in pocketsphinx's dictionary (cmudict-en-us), stress stripped; a word it
lacks is an error. Everything depends only on fixed seeds (the voice's name), but espeak-ng
keeps wave-generator state between syntheses in a process, so the audio is not
sample-identical from one run (or ``--procs``) to another.

Voices never used: the benchmarks' held-out voices (``bench.scenarios.HELD_OUT``) share
neither an accent nor a variant with the data (their variants f1, f4 and m7, and their
close copies, are in ``wordcheck_build.NEVER``), and neither are the stand-ins' own
variants iven, grandma, robert and klatt (``bench.standin.VARIANTS``). So figures on the
held-out voices are on speech the network never heard, and a network built ``--without``
accents never heard the stand-in voices of ``bench/standin.py`` (``--phonenet``), which
decide changes to the ears in place of the held-out voices. A test keeps the lists apart.

Evaluation, for reporting only (nothing is chosen on it): 40 plain sentences (pitch 50, no
warp or gain, 0.25 s of silence either side) per held-out voice and, with ``--without``,
per stand-in voice of the accents left out (``bench.standin.standin_voices``), scored by
the greedy phone error rate.

Training (as the shipped networks were): the network of ``network()`` (an input
convolution with stride 2, six residual blocks of dilated convolutions, 256 channels),
CTC loss, AdamW (lr 2e-3, weight decay 1e-2) with a one-cycle schedule (15 % warm-up),
``--epochs`` 30 passes over batches of 48 utterances of similar length, SpecAugment (two
frequency masks of up to 5 mel bands and two time masks of up to 8 frames per utterance),
gradients clipped at 5, bfloat16 autocast on CUDA, fixed seeds. BatchNorm is folded into
the convolutions and each weight is written as int8 with a float32 scale per output
channel (``KEY``, ``KEY_scale``); ``meta`` (JSON) says how it was made and its phone error
rates.

How long: on this project's 2-core CPU machines a full build takes hours: the synthesis
about 5 minutes, then 2-3 s a batch of 48 (measured on a busy machine), 275 batches an
epoch, so about 5 hours for 30 epochs; ``--device cpu`` is for quick runs (``--limit 24
--epochs 1``: about 15 s, most of it importing torch). The committed networks were
trained on one H200 in about 6 minutes for all three, synthesis included on 16 cores
(from one synthesis; this program synthesises the data of each network it builds).

Prints one JSON line: the file, the voices left out, the utterances and hours of speech,
the phone error rates, the largest difference between the log-probabilities of the
torch network and of its int8 export read by ``PhoneNet`` (on an evaluation utterance), and
the seconds spent synthesising and training. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ears import edits  # noqa: E402
from bench.scenarios import HELD_OUT  # noqa: E402
from bench.standin import standin_voices  # noqa: E402
from nodes.asr import espeak_model, wordcheck_build  # noqa: E402
from nodes.asr.ctc_decode import PHONES  # noqa: E402

SHIPPED = ROOT / "nodes" / "asr" / "models" / "phonenet.npz"
STANDINS = ROOT / "bench" / "phonenet"
PER_VOICE = 60  #: training sentences per voice
PER_EVAL_VOICE = 40  #: evaluation sentences per evaluated voice
#: weights of espeak_model's six sentence kinds, then of random strings of vocabulary words
KINDS = (3, 1, 5, 1, 1, 1, 3)
NOISE_RMS = espeak_model.NOISE_RMS
BATCH = 48
LR = 2e-3
EPOCHS = 30


# -- the utterances -------------------------------------------------------------------------

def voices(without: Sequence[str] = ()) -> list[str]:
    """The voices of the training data: the accents kept times the variants."""
    return [a + v for a in espeak_model.accents(without) for v in wordcheck_build.VARIANTS]


def _vocabulary() -> list[str]:
    from nodes.asr.grammar import build_grammar, jsgf_words

    return sorted(jsgf_words(build_grammar()))


def _utterance(voice: str, text: str, rng: random.Random, aug: bool) -> dict[str, Any]:
    return {"voice": voice, "text": text, "rate": rng.randint(130, 200),
            "pitch": rng.randint(30, 70) if aug else 50,
            "warp": round(rng.uniform(0.9, 1.1), 3) if aug and rng.random() < 0.5 else 1.0,
            "gain": round(10 ** rng.uniform(-0.4, 0.3), 3) if aug else 1.0,
            "seed": rng.randrange(1 << 30)}


def training_utterances(without: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``PER_VOICE`` utterances (voice, text, rate, pitch, warp, gain, noise seed, accent)
    for each of ``voices(without)``."""
    vocab = _vocabulary()
    out = []
    for accent in espeak_model.accents(without):
        for v in wordcheck_build.VARIANTS:
            voice = accent + v
            rng = random.Random(f"ctc-train:{voice}")
            for _ in range(PER_VOICE):
                kind = rng.choices(range(len(KINDS)), weights=KINDS)[0]
                if kind == 6:
                    text = " ".join(rng.choice(vocab) for _ in range(rng.randint(3, 8)))
                else:
                    text = espeak_model._sentence(kind, rng)
                out.append(dict(_utterance(voice, text, rng, True), accent=accent))
    return out


def evaluation_utterances(without: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """The sets the network is scored on: ``heldout`` and, ``without`` accents, the
    stand-in voices of those accents (``standin``)."""
    sets = {"heldout": list(HELD_OUT)}
    if without:
        sets["standin"] = standin_voices(list(without))
    evals = {}
    for name, names in sets.items():
        rows = []
        for voice in names:
            rng = random.Random(f"ctc-eval:{voice}")
            for _ in range(PER_EVAL_VOICE):
                kind = rng.choices(range(6), weights=KINDS[:6])[0]
                rows.append(_utterance(voice, espeak_model._sentence(kind, rng), rng, False))
        evals[name] = rows
    return evals


class MissingWords(ValueError):
    """Words of the sentences that pocketsphinx's dictionary lacks."""


def lexicon(words: Sequence[str]) -> dict[str, list[str]]:
    """Each word's phones: its first pronunciation in pocketsphinx's dictionary, stress
    stripped. ``MissingWords`` naming the words the dictionary lacks."""
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    wanted, found = set(words), {}
    for line in path.read_text().splitlines():
        w, *ph = line.split()
        if w in wanted and w not in found:  # alternatives are "word(2)": never wanted
            found[w] = [re.sub(r"\d", "", p) for p in ph]
    missing = sorted(wanted - set(found))
    if missing:
        raise MissingWords(f"no pronunciation in {path} for: {', '.join(missing)}")
    return found


def targets(text: str, lex: dict[str, list[str]]) -> np.ndarray:
    index = {p: i + 1 for i, p in enumerate(PHONES)}  # class 0 is the blank
    return np.array([index[p] for w in text.split() for p in lex[w]], np.int16)


def render(job: dict[str, Any]) -> np.ndarray:
    """An utterance's log-mel features (float16, (frames, 40)); run in a worker process."""
    from nodes.asr.wordcheck import log_mel
    from nodes.espeak import synthesize

    rng = np.random.default_rng(job["seed"])
    a = np.asarray(synthesize(job["text"], voice=job["voice"], rate=job["rate"],
                              pitch=job["pitch"], sample_rate=16000), np.float32)
    w = job["warp"]
    if w != 1.0:  # time and frequency scaled by w: a longer or shorter vocal tract
        n = int(len(a) / w)
        a = np.interp(np.arange(n) * w, np.arange(len(a)), a).astype(np.float32)
    lead, trail = rng.uniform(0.15, 0.5, 2) if job["gain"] != 1.0 else (0.25, 0.25)
    a = np.concatenate((np.zeros(int(lead * 16000), np.float32), a * job["gain"],
                        np.zeros(int(trail * 16000), np.float32)))
    a += rng.normal(0.0, NOISE_RMS, a.size).astype(np.float32)
    return log_mel(a).astype(np.float16)


# -- the network ----------------------------------------------------------------------------

def network(channels: int = 256, dilations: Sequence[int] = (1, 2, 4, 1, 2, 4)) -> Any:
    """The phone network in torch: (N, 40 mel, T) -> (N, 40 classes, ceil(T / 2)) logits,
    class 0 the blank, then ``ctc_decode.PHONES``. ``PhoneNet.logprobs`` is its forward
    pass in eval mode (BatchNorm folded by ``export``)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, 5, padding=2 * d, dilation=d)
            self.bn = nn.BatchNorm1d(channels)
            self.drop = nn.Dropout(0.1)

        def forward(self, x: Any) -> Any:
            return x + self.drop(torch.relu(self.bn(self.conv(x))))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Conv1d(40, channels, 5, stride=2, padding=2)
            self.bn = nn.BatchNorm1d(channels)
            self.blocks = nn.Sequential(*[Block(d) for d in dilations])
            self.out = nn.Conv1d(channels, len(PHONES) + 1, 1)

        def forward(self, x: Any) -> Any:
            return self.out(self.blocks(torch.relu(self.bn(self.inp(x)))))
    return Net()


def out_len(frames: int) -> int:
    return (frames + 1) // 2


def _quantise(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and a float32 scale per output channel (the first axis)."""
    w = w.astype(np.float32)
    scale = np.abs(w.reshape(w.shape[0], -1)).max(1) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)  # an all-zero channel
    q = np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.int8)
    return q, scale


def export(net: Any, mu: np.ndarray, sd: np.ndarray, path: str | os.PathLike,
           meta: dict[str, Any]) -> None:
    """Write ``net`` (trained, eval mode) as the ``.npz`` that ``PhoneNet`` reads:
    BatchNorm folded, weights int8 with a scale per output channel."""
    def fold(conv: Any, bn: Any) -> tuple[np.ndarray, np.ndarray]:
        w = conv.weight.detach().float().cpu().numpy()
        b = conv.bias.detach().float().cpu().numpy()
        g = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().float().cpu().numpy()
        m = bn.running_mean.detach().float().cpu().numpy()
        beta = bn.bias.detach().float().cpu().numpy()
        return w * g[:, None, None], (b - m) * g + beta

    layers = {"inp": fold(net.inp, net.bn)}
    arrays: dict[str, np.ndarray] = {"mu": mu.astype(np.float32), "sd": sd.astype(np.float32),
                                     "phones": np.array(PHONES)}
    for i, blk in enumerate(net.blocks):
        layers[f"b{i}"] = fold(blk.conv, blk.bn)
        arrays[f"b{i}_d"] = np.array(blk.conv.dilation[0])
    layers["out"] = (net.out.weight.detach().float().cpu().numpy(),
                     net.out.bias.detach().float().cpu().numpy())
    for name, (w, b) in layers.items():
        arrays[f"{name}_w"], arrays[f"{name}_w_scale"] = _quantise(w)
        arrays[f"{name}_b"] = b.astype(np.float32)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def torch_logprobs(net: Any, mu: np.ndarray, sd: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """``net``'s log-probabilities (eval mode, float32 on the CPU) for (T, 40) log mel:
    (ceil(T / 2), 40), as ``PhoneNet.logprobs`` gives them."""
    import copy

    import torch

    cpu = copy.deepcopy(net).float().cpu().eval()
    x = (torch.tensor(feats.astype(np.float32)) - torch.tensor(mu)) / torch.tensor(sd)
    with torch.no_grad():
        return torch.log_softmax(cpu(x.T[None]), 1)[0].T.numpy()


def agreement(net: Any, mu: np.ndarray, sd: np.ndarray, path: str | os.PathLike,
              feats: np.ndarray) -> float:
    """The largest difference between the log-probabilities of ``net`` and of its export
    at ``path`` read by ``PhoneNet``, on ``feats``."""
    from nodes.asr.phone_net import PhoneNet

    want = torch_logprobs(net, mu, sd, feats)
    got = PhoneNet(path).logprobs(feats.astype(np.float32))
    return float(np.abs(want - got).max())


# -- training -------------------------------------------------------------------------------

def greedy(lp: np.ndarray) -> list[int]:
    """(classes, frames) -> the best path's phones, repeats merged, blanks dropped."""
    out, last = [], 0
    for k in lp.argmax(0).tolist():
        if k != last and k != 0:
            out.append(k)
        last = k
    return out


def train(data: Sequence[tuple[np.ndarray, np.ndarray]],
          evals: dict[str, list[tuple[str, np.ndarray, np.ndarray]]], epochs: int,
          device: str, log: Callable[[str], None]) -> tuple[Any, np.ndarray, np.ndarray,
                                                           dict[str, dict[str, float]]]:
    """Train on ``data`` ((features, targets) pairs); the network (eval mode), the feature
    mean and deviation, and the phone error rates on ``evals`` by set and voice."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    torch.manual_seed(7)
    cat = np.concatenate([f.astype(np.float32) for f, _ in data[:3000]])
    mu, sd = cat.mean(0), cat.std(0) + 1e-5
    net = network().to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, LR, total_steps=epochs * math.ceil(len(data) / BATCH), pct_start=0.15)
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    rng = random.Random(1)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        rng.shuffle(batches)
        total, n = 0.0, 0
        for b in batches:
            T = max(len(data[i][0]) for i in b)
            x = np.zeros((len(b), T, 40), np.float32)
            for j, i in enumerate(b):
                x[j, :len(data[i][0])] = data[i][0]
            x = (x - mu) / sd
            for j, i in enumerate(b):
                x[j, len(data[i][0]):] = 0
                for _ in range(2):  # SpecAugment: two frequency and two time masks
                    f0, fw = rng.randrange(40), rng.randint(0, 5)
                    x[j, :, f0:f0 + fw] = 0
                    s, tw = rng.randrange(T), rng.randint(0, 8)
                    x[j, s:s + tw, :] = 0
            xt = torch.tensor(x, device=dev).transpose(1, 2)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                y = net(xt)
            lp = F.log_softmax(y.float(), 1).permute(2, 0, 1)  # (T', N, C)
            tg = torch.tensor(np.concatenate([data[i][1] for i in b]).astype(np.int64),
                              device=dev)
            tl = torch.tensor([len(data[i][1]) for i in b], device=dev)
            il = torch.tensor([out_len(len(data[i][0])) for i in b], device=dev)
            loss = F.ctc_loss(lp, tg, il, tl, zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
            n += len(b)
        if epoch % 5 == 4 or epoch == epochs - 1:
            log(f"epoch {epoch}: loss {total / n:.3f}, {time.time() - t0:.0f} s")
    net.eval()
    mu_t, sd_t = torch.tensor(mu, device=dev), torch.tensor(sd, device=dev)
    per: dict[str, dict[str, float]] = {}
    for name, rows in evals.items():
        counts: dict[str, list[int]] = {}
        for voice, f, tg in rows:
            x = (torch.tensor(f.astype(np.float32), device=dev) - mu_t) / sd_t
            with torch.no_grad():
                lp = F.log_softmax(net(x.T[None]).float(), 1)[0].cpu().numpy()
            c = counts.setdefault(voice, [0, 0])
            c[0] += edits(tg.tolist(), greedy(lp))
            c[1] += len(tg)
        per[name] = {v: round(e / k, 4) for v, (e, k) in counts.items()}
        per[name]["all"] = round(sum(e for e, _ in counts.values())
                                 / sum(k for _, k in counts.values()), 4)
    return net, mu, sd, per


# -- the program ----------------------------------------------------------------------------

def default_out(without: Sequence[str]) -> Path:
    """The shipped network, or ``bench/phonenet/without-<accents>.npz``."""
    return STANDINS / f"without-{'-'.join(without)}.npz" if without else SHIPPED


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--without", default="",
                    help=f"accents left out of the training data, comma-separated, of "
                         f"{','.join(espeak_model.ACCENTS)}")
    ap.add_argument("--out", type=Path,
                    help="the .npz to write (default: nodes/asr/models/phonenet.npz, or "
                         "bench/phonenet/without-ACCENTS.npz with --without)")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--device", help="torch device (default: cuda if there is one, else cpu)")
    ap.add_argument("--limit", type=int, default=0,
                    help="a quick run: N training utterances (a shuffled sample) and the "
                         "first max(6, N / 10) of each evaluation set")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                    help="processes synthesising the speech")
    args = ap.parse_args(argv)
    left = [a for a in args.without.split(",") if a]
    try:
        espeak_model.accents(left)
    except ValueError as exc:
        ap.error(f"--without: {exc}")
    args.without = [a for a in espeak_model.ACCENTS if a in left]  # in ACCENTS' order
    if args.epochs < 1 or args.limit < 0 or args.procs < 1:
        ap.error("--epochs and --procs must be at least 1, --limit at least 0")
    if args.out is None:
        args.out = default_out(args.without)
    return args


def build(args: argparse.Namespace,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)
          ) -> tuple[Any, dict[str, Any]]:
    """Synthesise, train, evaluate and export as ``args`` say; the network (eval mode)
    and the report (the JSON line)."""
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    jobs = training_utterances(args.without)
    evals = evaluation_utterances(args.without)
    if args.limit:
        random.Random(0).shuffle(jobs)
        jobs = jobs[:args.limit]
        evals = {k: v[:max(6, args.limit // 10)] for k, v in evals.items()}
    flat = jobs + [j for rows in evals.values() for j in rows]
    lex = lexicon(sorted({w for j in flat for w in j["text"].split()}))
    t0 = time.time()
    with Pool(min(args.procs, len(flat))) as pool:
        feats = pool.map(render, flat, chunksize=16)
    render_s = time.time() - t0
    hours = sum(len(f) for f in feats[:len(jobs)]) / 100 / 3600
    log(f"synthesised {len(flat)} utterances in {render_s:.0f} s "
        f"({hours:.2f} h of training speech)")
    data = [(f, targets(j["text"], lex)) for j, f in zip(jobs, feats[:len(jobs)], strict=True)]
    scored, k = {}, len(jobs)
    for name, rows in evals.items():
        scored[name] = [(j["voice"], feats[k + i], targets(j["text"], lex))
                        for i, j in enumerate(rows)]
        k += len(rows)
    t1 = time.time()
    net, mu, sd, per = train(data, scored, args.epochs, device, log)
    train_s = time.time() - t1
    name = f"without-{'-'.join(args.without)}" if args.without else "full"
    meta = {"name": name, "without": args.without, "epochs": args.epochs,
            "utterances": len(data), "per": per, "torch": torch.__version__,
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".npz", dir=out.parent)
    os.close(fd)
    try:
        export(net, mu, sd, tmp, meta)
        diff = agreement(net, mu, sd, tmp, scored["heldout"][0][1])
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log(f"wrote {out}: phone error rates {json.dumps(per)}")
    return net, {"out": str(out), "without": args.without, "epochs": args.epochs,
                 "utterances": len(data), "speech_h": round(hours, 3), "device": device,
                 "per": per, "int8_logprob_max_diff": round(diff, 4),
                 "render_s": round(render_s, 1), "train_s": round(train_s, 1)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _, report = build(args)
    except MissingWords as exc:
        print(f"phonenet_train: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
