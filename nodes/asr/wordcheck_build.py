"""Build the ears' word classifier (``nodes.asr.wordcheck``) for espeak speech, once per
machine, and cache it:

    path = ensure()          # builds in a fresh interpreter the first time (~10 min)
    python -m nodes.asr.wordcheck_build [--without en-gb-scotland]

Data: sentences of the scenario language (``espeak_model``'s, more of them stories) in
the accents of ``espeak_model.ACCENTS`` times ``VARIANTS``: the plain voice and 54 of
espeak-ng's voice variants, many more than the acoustic model's eleven, since a network
learns a vocal tract it never heard from many others, where the Gaussians' adaptation did
not (docs/ears.md, thirteenth round). The variants of the benchmarks' held-out voices (f1,
f4, m7, and aunty, linda and belinda, which are close copies of f4) and those of
``bench/standin.py`` (iven, grandma, robert, klatt) and of its female stand-in (Alicia,
anika, steph) are never used. Each sentence is force-aligned to its audio by the acoustic
model adapted to espeak (built ``without`` the same accents), and each aligned word is one
example, cut where the recogniser would cut it.

Training: torch on the CPU, a fixed seed, 10 passes over every word twice, as aligned and
with its edges moved by up to 3 frames (as the decoder's edges move); BatchNorm is folded
into the convolutions and the weights are written as an ``.npz`` that
``wordcheck.WordCheck`` reads with numpy.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import espeak_model
from .wordcheck import log_mel, word_features

RECIPE = 1  #: bump when the voices, texts, features or training change
VARIANTS = ("", "+Alex", "+Andrea", "+Andy", "+Annie", "+Denis", "+Gene", "+Henrique",
            "+Hugo", "+Jacky", "+Lee", "+Marco", "+Mario", "+Michael", "+Mike", "+Nguyen",
            "+Reed", "+Storm", "+adam", "+announcer", "+antonio", "+benjamin", "+boris",
            "+caleb", "+david", "+ed", "+edward", "+f2", "+f3", "+f5", "+m1", "+m2", "+m3",
            "+m4", "+m5", "+m6", "+m8", "+grandpa", "+gustave", "+ian", "+john", "+max",
            "+michel", "+miguel", "+norbert", "+pablo", "+paul", "+pedro", "+quincy", "+rob",
            "+sandro", "+shelby", "+travis", "+victor", "+zac")
#: never in the data: the held-out voices' variants (and copies of f4) and the stand-ins'
NEVER = ("+f1", "+f4", "+m7", "+aunty", "+linda", "+belinda", "+iven", "+grandma", "+robert",
         "+klatt", "+Alicia", "+anika", "+steph")
PER_VOICE = 24  #: sentences per voice
SEED = 211
EPOCHS = 10
JITTER = 3  #: frames a word's edges move by in training
KINDS = (3, 1, 5, 1, 1, 1)  #: weights of espeak_model's sentence kinds (amounts .. commands)


def voices(without: Iterable[str] = ()) -> list[str]:
    """The voices the data is spoken in (``without`` some accents: see ``ensure``)."""
    return [a + v for a in espeak_model.accents(without) for v in VARIANTS]


def corpus(voice: str) -> list[tuple[str, int]]:
    rng = random.Random(f"{SEED}:{voice}")
    out = []
    for _ in range(PER_VOICE):
        kind = rng.choices(range(len(KINDS)), weights=KINDS)[0]
        out.append((espeak_model._sentence(kind, rng), rng.randint(130, 200)))
    return out


def _examples(job: tuple[list[str], str]) -> list[tuple[np.ndarray, float, str]]:
    """Synthesise and align ``voices``' sentences (in a process of its own): each aligned
    word's input, log duration and text."""
    from ..espeak import synthesize
    from .adapt import Aligner
    from .pronunciations import DEFAULT_ACCENTS

    names, model = job
    aligner = Aligner(Path(model), accents=DEFAULT_ACCENTS)
    out = []
    try:
        for voice in names:
            rng = np.random.default_rng(zlib.crc32(f"{SEED}:{voice}".encode()))
            for text, rate in corpus(voice):
                pad = np.zeros(4000, np.float32)
                audio = np.concatenate((pad, synthesize(text, voice=voice, rate=rate), pad))
                audio += rng.normal(0.0, espeak_model.NOISE_RMS, audio.size).astype(np.float32)
                words = aligner.words(audio, text)
                if words is None:
                    continue
                feats = log_mel(audio)
                for name, start, frames in words:
                    for jitter in range(2):  # the word as aligned, and with its edges moved
                        s, d = start, frames
                        if jitter:
                            a, b = rng.integers(-JITTER, JITTER + 1, 2)
                            s, d = s + a, max(2, d - a + b)
                        x, ld = word_features(feats, s, d)
                        out.append((x, ld, name))
    finally:
        aligner.close()
    return out


def _fold(conv: object, bn: object) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().numpy()  # type: ignore[attr-defined]
    b = conv.bias.detach().numpy()  # type: ignore[attr-defined]
    g = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy()  # type: ignore[attr-defined]
    mean = bn.running_mean.detach().numpy()  # type: ignore[attr-defined]
    beta = bn.bias.detach().numpy()  # type: ignore[attr-defined]
    return w * g[:, None, None], (b - mean) * g + beta


def network(channels: int, n_words: int) -> tuple[Any, Any]:
    """The classifier in torch: the convolutions, and the head over their output and the
    word's log duration (``wordcheck.WordCheck.probabilities`` is its forward pass)."""
    from torch import nn

    conv = nn.Sequential(nn.Conv1d(channels, 96, 5, padding=2), nn.BatchNorm1d(96), nn.ReLU(),
                         nn.Conv1d(96, 96, 5, padding=2), nn.BatchNorm1d(96), nn.ReLU(),
                         nn.MaxPool1d(2),
                         nn.Conv1d(96, 128, 3, padding=1), nn.BatchNorm1d(128), nn.ReLU(),
                         nn.AdaptiveAvgPool1d(4))
    head = nn.Sequential(nn.Linear(128 * 4 + 1, 256), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(256, n_words))
    return conv, head


def export(conv: Any, head: Any, mu: np.ndarray, sd: np.ndarray, words: Sequence[str],
           out: str | os.PathLike) -> None:
    """Write a trained ``network`` as the ``.npz`` that ``wordcheck.WordCheck`` reads."""
    c1w, c1b = _fold(conv[0], conv[1])
    c2w, c2b = _fold(conv[3], conv[4])
    c3w, c3b = _fold(conv[7], conv[8])
    with open(out, "wb") as f:
        np.savez(f, words=np.array(words), mu=mu, sd=sd,
                 c1w=c1w, c1b=c1b, c2w=c2w, c2b=c2b, c3w=c3w, c3b=c3b,
                 f1w=head[0].weight.detach().numpy(), f1b=head[0].bias.detach().numpy(),
                 f2w=head[3].weight.detach().numpy(), f2b=head[3].bias.detach().numpy())


def train(examples: Sequence[tuple[np.ndarray, float, str]], out: str | os.PathLike,
          epochs: int = EPOCHS) -> dict[str, float]:
    """Train on ``examples`` and ``export``; the last pass's loss and accuracy."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    words = sorted({w for _, _, w in examples})
    index = {w: i for i, w in enumerate(words)}
    x = torch.tensor(np.stack([e[0] for e in examples]))
    d = torch.tensor(np.array([e[1] for e in examples], np.float32))
    y = torch.tensor([index[e[2]] for e in examples])
    mu, sd = x.mean((0, 2), keepdim=True), x.std((0, 2), keepdim=True) + 1e-5
    x = (x - mu) / sd
    conv, head = network(x.shape[1], len(words))
    params = list(conv.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, 2e-3, weight_decay=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    loss, right = torch.tensor(0.0), 0
    for _ in range(epochs):
        conv.train()
        head.train()
        order = torch.randperm(len(y), generator=gen)
        right = 0
        for i in range(0, len(y), 128):
            b = order[i:i + 128]
            logits = head(torch.cat((conv(x[b]).flatten(1), d[b, None]), 1))
            loss = nn.functional.cross_entropy(logits, y[b], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            right += int((logits.argmax(1) == y[b]).sum())
    conv.eval()
    head.eval()
    export(conv, head, mu.numpy(), sd.numpy(), words, out)
    return {"loss": float(loss.detach()), "train_accuracy": right / len(y)}


def cache_path(without: Iterable[str] = ()) -> Path:
    """Where the classifier (built ``without`` some accents) is cached."""
    model = espeak_model.cache_dir(without)
    torch_version = metadata.version("torch")
    return model.parent / f"wordcheck-r{RECIPE}-torch{torch_version}-{model.name}.npz"


def already_built(without: Iterable[str] = ()) -> Path | None:
    """A classifier this machine has already built for the model, by any torch version:
    using one needs numpy alone (``nodes.asr.wordcheck``), building one needs torch."""
    model = espeak_model.cache_dir(without)
    found = sorted(model.parent.glob(f"wordcheck-r{RECIPE}-torch*-{model.name}.npz"))
    return found[-1] if found else None


def build(out: Path, without: Iterable[str] = ()) -> None:
    from concurrent.futures import ProcessPoolExecutor

    without = tuple(without)
    model = str(espeak_model.ensure(without))
    names = voices(without)
    workers = max(1, min(4, os.cpu_count() or 1))
    jobs = [(names[k::workers], model) for k in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_examples, jobs))
    examples = [e for part in parts for e in part]
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".npz", dir=out.parent)
    os.close(fd)
    try:
        report = train(examples, Path(tmp))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"ears: word classifier for espeak speech in {out} ({len(examples)} examples, "
          f"{len(names)} voices, training accuracy {report['train_accuracy']:.3f})",
          file=sys.stderr)


def ensure(without: Iterable[str] = ()) -> Path:
    """The classifier's ``.npz``, built first (in a fresh interpreter) if this machine has
    none. ``without``: accents left out, as ``espeak_model.ensure``'s."""
    without = tuple(without)
    out = cache_path(without)
    if not out.exists():
        espeak_model.build_fresh("nodes.asr.wordcheck_build", without, out.exists,
                                 f"the ears' word classifier into {out}", "word_check: off")
    return out


if __name__ == "__main__":
    espeak_model.command_line("python -m nodes.asr.wordcheck_build",
                              "Build the ears' word classifier for espeak speech (once per "
                              "machine) and print its path.", cache_path, Path.exists, build)
