"""Adapt pocketsphinx's English acoustic model to a voice, a microphone or a synthesiser.

    from nodes.asr.adapt import adapt
    report = adapt(pairs, "models/my-voice")   # pairs: (float32 16 kHz audio, transcript)
    # then: ears: {use: asr.pocketsphinx, with: {acoustic_model: models/my-voice}}

From the command line: ``microturn adapt-ears recordings/ models/my-voice`` (audio files
with a ``.txt`` transcript beside each; ``python -m nodes.asr.adapt`` is the same).
``--base espeak`` (or ``--base DIR``) starts from the ears' espeak model (or a model this
wrote) instead of the shipped one: to fit one voice more closely.

The classic CMU Sphinx recipe (``bw``, ``mllr_solve``, ``map_adapt`` from sphinxtrain) in
numpy, on the model the ``pocketsphinx`` wheel ships (``en-us``: phonetically tied
mixtures, one codebook of 128 Gaussians per base phone and feature stream):

1. **Align.** pocketsphinx force-aligns each transcript to its audio (``set_align_text``,
   then a phone-level pass); the decoder's own cepstra are logged (``mfclogdir``) and turned
   into its features (mean-normalised cepstra, deltas, double deltas: ``1s_c_d_dd``, three
   streams of 13).
2. **MLLR.** One affine transform per stream of all the Gaussian means, by maximum
   likelihood (Leggetter & Woodland 1995): moves the whole model towards the new channel
   with few parameters, so every Gaussian moves, seen in the data or not.
3. **MAP means.** Each Gaussian mean then moves towards the mean of the frames it
   explains, weighted by how many there are against a prior weight ``tau`` (Gauvain &
   Lee 1994): Gaussians with much data follow the data, those with little stay near step 2.
4. **MAP mixture weights.** In this model a senone (a tied HMM state) owns nothing but
   its mixture weights over its base phone's shared codebook, so they are what tells the
   states of a phone in its contexts apart. Each senone's weights move towards the share of
   its aligned frames each Gaussian explains (with the means of step 3 and the senone's
   own weights), against a prior weight ``tau_weights`` (frames), as ``map_adapt`` does.

For the means, frame posteriors use the codebook of the aligned base phone without the
senones' mixture weights (an approximation that keeps this in numpy; the alignment itself
is exact). Variances and transitions are kept. The result is a model directory (the base
model's files with new ``means`` and ``sendump``) for ``Recognizer(acoustic_model=...)``.

Measured (docs/ears.md, "Fourth round"): adapted to espeak speech of 44 voices in four
English accents (``nodes.asr.espeak_model``), the ears' word error rate on four espeak
voices whose accents and variants it never heard went from 0.457 to 0.106, and amounts
heard exactly right from 42 % to 86 % (``bench/ears.py``, 96 clips). Adapting the mixture
weights as well ("Seventh round") took the assistant's answers on those voices from 166 to
177 of 198 (``bench/interaction.py``), and 25 to 36 of 48 counts on an accent left out.
"""

from __future__ import annotations

import glob
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pocketsphinx

from .pronunciations import AccentVariants, add

BASE_MODEL = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"
VAR_FLOOR = 1e-4  #: pocketsphinx's -varfloor: unused Gaussians have zero variance on file
MLLR_ITERATIONS = 2  #: EM steps of the transform (posteriors from the last one's means)
NOISE_PHONES = ("SIL", "+NSN+", "+SPN+")  #: not adapted: silence is the input's own floor
TAU = 20.0  #: MAP prior of a mean, in frames
TAU_WEIGHTS = 100.0  #: MAP prior of a senone's mixture weights, in frames (0: keep them)
_MAGIC = 0x11223344
#: a sendump byte v is the weight 1.0001 ** -(v << 10): -log base 1.0001, shifted 10 bits
_SENDUMP_STEP = 1024 * np.log(1.0001)


# -- model files ------------------------------------------------------------------------------

def read_gaussians(path: str | os.PathLike) -> list[np.ndarray]:
    """A sphinx ``means``/``variances`` file: one array per feature stream, shaped
    (codebooks, densities, stream length), float64."""
    data = Path(path).read_bytes()
    at = data.find(b"endhdr\n")
    if not data.startswith(b"s3\n") or at < 0:
        raise ValueError(f"{path}: not a sphinx parameter file")
    at += 7
    (magic,) = struct.unpack_from("<I", data, at)
    order = "<" if magic == _MAGIC else ">"
    at += 4
    n_cb, n_feat, n_den = struct.unpack_from(order + "3i", data, at)
    at += 12
    lengths = struct.unpack_from(f"{order}{n_feat}i", data, at)
    at += 4 * n_feat + 4
    flat = np.frombuffer(data, order + "f4", n_cb * n_den * sum(lengths), at)
    per_cb = flat.reshape(n_cb, -1)
    out, col = [], 0
    for length in lengths:
        out.append(per_cb[:, col:col + n_den * length].reshape(n_cb, n_den, length)
                   .astype(np.float64))
        col += n_den * length
    return out


def write_gaussians(streams: list[np.ndarray], path: str | os.PathLike) -> None:
    """Write ``streams`` (as ``read_gaussians`` gives them) as a sphinx parameter file."""
    n_cb, n_den = streams[0].shape[:2]
    lengths = [s.shape[2] for s in streams]
    head = b"s3\nversion 1.0\n"
    head += b" " * (-(len(head) + 7) % 4) + b"endhdr\n"  # data 4-byte aligned, like sphinx's
    body = struct.pack("<I3i", _MAGIC, n_cb, len(streams), n_den)
    body += struct.pack(f"<{len(lengths)}i", *lengths)
    body += struct.pack("<i", n_cb * n_den * sum(lengths))
    flat = np.concatenate([s.reshape(n_cb, -1) for s in streams], axis=1).astype("<f4")
    Path(path).write_bytes(head + body + flat.tobytes())


@dataclass(frozen=True)
class MixtureWeights:
    """A ``sendump`` file: the senones' mixture weights, quantised to a byte each."""

    header: bytes  #: the file up to its data, kept as it was
    weights: np.ndarray  #: probabilities, (streams, densities, senones), float64

    @classmethod
    def read(cls, path: str | os.PathLike) -> MixtureWeights:
        data = Path(path).read_bytes()
        at = 0
        try:
            while True:  # length-prefixed header strings, ended by a length of 0
                (n,) = struct.unpack_from("<i", data, at)
                if not 0 <= n < 10_000:
                    raise ValueError
                at += 4 + n
                if n == 0:
                    break
            n_den, n_sen = struct.unpack_from("<2i", data, at)
        except (struct.error, ValueError):
            raise ValueError(f"{path}: not a little-endian sphinx sendump file") from None
        at += 8
        n_feat, rest = divmod(len(data) - at, max(n_den * n_sen, 1))
        if n_den <= 0 or n_sen <= 0 or rest or not n_feat:
            raise ValueError(f"{path}: not a little-endian sphinx sendump file")
        quantised = np.frombuffer(data, np.uint8, n_feat * n_den * n_sen, at)
        weights = np.exp(-quantised.astype(np.float64) * _SENDUMP_STEP)
        return cls(data[:at], weights.reshape(n_feat, n_den, n_sen))

    def write(self, path: str | os.PathLike) -> None:
        quantised = np.round(-np.log(np.maximum(self.weights, 1e-300)) / _SENDUMP_STEP)
        body = np.clip(quantised, 0, 255).astype(np.uint8).tobytes()
        Path(path).write_bytes(self.header + body)


def base_phones(model: Path = BASE_MODEL) -> list[str]:
    """The model's base (CI) phones in codebook order, from its binary ``mdef``."""
    data = (model / "mdef").read_bytes()
    at = data.find(b"+NSN+\x00")
    if not data.startswith(b"BMDF") or at < 0:
        raise ValueError(f"{model}/mdef: not a binary pocketsphinx model definition")
    names = []
    for raw in data[at:].split(b"\x00"):
        if not raw:
            break
        names.append(raw.decode("ascii"))
    return names


# -- features -----------------------------------------------------------------------------------

def features(cepstra: np.ndarray) -> list[np.ndarray]:
    """The decoder's ``1s_c_d_dd`` streams from 13-dimensional cepstra: mean-normalised
    cepstra, deltas over +-2 frames, and double deltas (edges repeat the end frames)."""
    c = cepstra - cepstra.mean(axis=0)
    n = len(c)
    p = np.concatenate([np.repeat(c[:1], 3, 0), c, np.repeat(c[-1:], 3, 0)])
    delta = p[5:5 + n] - p[1:1 + n]
    ddelta = (p[6:6 + n] - p[2:2 + n]) - (p[4:4 + n] - p[0:n])
    return [c, delta, ddelta]


def _read_mfc(path: str) -> np.ndarray:
    data = Path(path).read_bytes()
    (count,) = struct.unpack_from("<i", data)
    order = "<" if count * 4 + 4 == len(data) else ">"
    return np.frombuffer(data, order + "f4", offset=4).reshape(-1, 13).astype(np.float64)


class Aligned(NamedTuple):
    cepstra: np.ndarray  #: (frames, 13)
    codebooks: np.ndarray  #: per frame, the aligned base phone's codebook (-1: none)
    senones: np.ndarray  #: per frame, the aligned senone (-1: none)


class Aligner:
    """Forced alignment of transcripts to audio: per frame, the base phone and the senone.
    ``pronunciations`` and ``accents`` as the recogniser's (``nodes.asr.pronunciations``):
    the alignment takes whichever pronunciation of a word fits the audio."""

    def __init__(self, model: Path = BASE_MODEL, *,
                 pronunciations: Mapping[str, Sequence[str]] | None = None,
                 accents: Sequence[str] = (), **config: object) -> None:
        from .recognizer import GRAMMAR_CONFIG

        self._variants = AccentVariants(accents)
        self._dir = tempfile.mkdtemp(prefix="microturn-align-")
        self._phones = {name: k for k, name in enumerate(base_phones(model))}
        self._decoder = pocketsphinx.Decoder(
            hmm=str(model), logfn=os.devnull, mfclogdir=self._dir, bestpath=False,
            cmninit=GRAMMAR_CONFIG["cmninit"], **config)
        add(self._decoder, pronunciations or {})

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def unknown_words(self, text: str) -> list[str]:
        return sorted({w for w in text.split() if self._decoder.lookup_word(w) is None})

    def alignment(self, audio: np.ndarray, text: str) -> pocketsphinx.Alignment | None:
        """pocketsphinx's alignment of ``text`` to ``audio`` (words, phones and states), or
        None when it does not align (too far from what was said)."""
        for old in glob.glob(os.path.join(self._dir, "*")):
            os.remove(old)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        dec = self._decoder
        self._variants.cover(dec, text.split())
        try:
            dec.set_align_text(text)
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            if dec.hyp() is None:  # (hyp() after the phone pass crashes pocketsphinx 5.1)
                return None
            dec.set_alignment()
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
        except RuntimeError:  # pocketsphinx: no path through the alignment
            return None
        return dec.get_alignment()

    def words(self, audio: np.ndarray, text: str) -> list[tuple[str, int, int]] | None:
        """Each word of ``text`` aligned to ``audio``: (word, first frame, frames), the
        decoder's 10 ms frames; fillers and silences left out. None: no alignment."""
        alignment = self.alignment(audio, text)
        if alignment is None:
            return None
        out = []
        for w in alignment.words():
            name = w.name.split("(")[0]
            if name[:1] not in "<[" and name != "sil":
                out.append((name, w.start, w.duration))
        return out

    def align(self, audio: np.ndarray, text: str) -> Aligned | None:
        """The frames and what they align to, or None when ``text`` does not align to
        ``audio`` (too far from what was said)."""
        alignment = self.alignment(audio, text)
        logged = sorted(glob.glob(os.path.join(self._dir, "*.mfc")), key=os.path.getmtime)
        if alignment is None or not logged:
            return None
        cepstra = _read_mfc(logged[-1])
        labels = np.full(len(cepstra), -1)
        senones = np.full(len(cepstra), -1)
        # flat iterations: nested word -> phone -> state crashes pocketsphinx 5.1
        for phone in alignment.phones():
            labels[phone.start:phone.start + phone.duration] = \
                self._phones.get(phone.name.split()[0], -1)
        for state in alignment.states():  # a state's name is its senone's number
            senones[state.start:state.start + state.duration] = int(state.name)
        return Aligned(cepstra, labels, senones)


# -- statistics and estimation ----------------------------------------------------------------

class Stats:
    """Per Gaussian: occupancy and the posterior-weighted sum of the frames."""

    def __init__(self, means: list[np.ndarray], variances: list[np.ndarray],
                 skip: Iterable[int] = ()) -> None:
        self.means, self.variances = means, variances
        self.skip = frozenset(skip)
        self.occupancy = [np.zeros(m.shape[:2]) for m in means]
        self.first = [np.zeros(m.shape) for m in means]
        self.frames = 0

    def add(self, cepstra: np.ndarray, labels: np.ndarray) -> None:
        streams = features(cepstra)
        self.frames += len(cepstra)
        for s, x in enumerate(streams):
            for cb in np.unique(labels):
                if cb < 0 or cb in self.skip:
                    continue
                self.add_frames(s, int(cb), x[labels == cb])

    def add_frames(self, stream: int, codebook: int, x: np.ndarray) -> None:
        mu, var = self.means[stream][codebook], self.variances[stream][codebook]
        ll = -0.5 * ((((x[:, None, :] - mu[None]) ** 2) / var[None]).sum(-1)
                     + np.log(var).sum(-1)[None])
        post = np.exp(ll - ll.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        self.occupancy[stream][codebook] += post.sum(axis=0)
        self.first[stream][codebook] += post.T @ x


class WeightStats:
    """Per senone and Gaussian of its codebook: the frames' posterior counts, with the
    senone's own mixture weights (``weights``: streams, densities, senones)."""

    def __init__(self, means: list[np.ndarray], variances: list[np.ndarray],
                 weights: np.ndarray, skip: Iterable[int] = ()) -> None:
        self.means, self.variances = means, variances
        self.log_weights = np.log(np.maximum(weights, 1e-30))
        self.skip = frozenset(skip)
        #: (streams, senones, densities): senone-major, so that adding is one scatter
        self.counts = np.zeros((weights.shape[0], weights.shape[2], weights.shape[1]))

    def add(self, cepstra: np.ndarray, codebooks: np.ndarray, senones: np.ndarray) -> None:
        keep = (codebooks >= 0) & (senones >= 0) & ~np.isin(codebooks, list(self.skip))
        for s, x in enumerate(features(cepstra)):
            for cb in np.unique(codebooks[keep]):
                at = keep & (codebooks == cb)
                self.add_frames(s, int(cb), senones[at], x[at])

    def add_frames(self, stream: int, codebook: int, senones: np.ndarray,
                   x: np.ndarray) -> None:
        mu, var = self.means[stream][codebook], self.variances[stream][codebook]
        ll = -0.5 * ((((x[:, None, :] - mu[None]) ** 2) / var[None]).sum(-1)
                     + np.log(var).sum(-1)[None])
        ll += self.log_weights[stream][:, senones].T
        post = np.exp(ll - ll.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        np.add.at(self.counts[stream], senones, post)


def map_weights(stats: WeightStats, prior: np.ndarray, tau: float) -> np.ndarray:
    """MAP mixture weights: (tau * prior + counts) / (tau + frames), per senone and
    stream, with the prior renormalised (the file's bytes round each weight); a senone
    without frames keeps its prior as it was."""
    counts = stats.counts.transpose(0, 2, 1)  # (streams, densities, senones)
    frames = counts.sum(axis=1, keepdims=True)
    moved = (tau * prior / prior.sum(axis=1, keepdims=True) + counts) / (tau + frames)
    return np.where(frames > 0, moved, prior)


def solve_mllr(stats: Stats, of: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """One transform per stream of the means ``of`` (default: those the statistics were
    gathered with), ``W`` = [b | A] (rows: output dimensions), maximising the likelihood of
    the data (diagonal covariances: one linear system per row). One EM step: gather again
    with the transformed means and solve again (``of`` the same) to converge."""
    out = []
    for s, means in enumerate(stats.means if of is None else of):
        dim = means.shape[2]
        mu = means.reshape(-1, dim)
        var = stats.variances[s].reshape(-1, dim)
        occ = stats.occupancy[s].reshape(-1)
        first = stats.first[s].reshape(-1, dim)
        xi = np.concatenate([np.ones((len(mu), 1)), mu], axis=1)
        w = np.zeros((dim, dim + 1))
        for i in range(dim):
            g = (xi * (occ / var[:, i])[:, None]).T @ xi
            k = xi.T @ (first[:, i] / var[:, i])
            w[i] = np.linalg.solve(g + 1e-6 * np.eye(dim + 1), k)
        out.append(w)
    return out


def apply_mllr(means: list[np.ndarray], transforms: list[np.ndarray]) -> list[np.ndarray]:
    return [m @ w[:, 1:].T + w[:, 0] for m, w in zip(means, transforms, strict=True)]


def map_means(stats: Stats, prior: list[np.ndarray], tau: float) -> list[np.ndarray]:
    """MAP means: (tau * prior + sum of frames) / (tau + occupancy), per Gaussian."""
    return [(tau * p + f) / (tau + o[..., None])
            for p, f, o in zip(prior, stats.first, stats.occupancy, strict=True)]


# -- the whole recipe ---------------------------------------------------------------------------

class UnknownWords(ValueError):
    """Transcript ``words`` the pronunciation dictionary lacks, in utterance ``utterance``
    (counted from 1 in the order given), so that a caller can name the transcript's file."""

    def __init__(self, utterance: int, words: Sequence[str]) -> None:
        super().__init__(f"utterance {utterance}: not in the pronunciation dictionary: "
                         f"{', '.join(words)}")
        self.utterance = utterance
        self.words = tuple(words)


@dataclass(frozen=True)
class AdaptReport:
    path: Path
    utterances: int  #: given
    aligned: int  #: used (the others did not align to their transcripts)
    frames: int  #: 10 ms frames of speech and silence used
    mean_shift: float  #: RMS change of the means the data reached, in standard deviations
    senones: int  #: senones whose mixture weights were adapted (0: weights kept)


def adapt(pairs: Iterable[tuple[np.ndarray, str]], out: str | os.PathLike, *,
          tau: float = TAU, tau_weights: float = TAU_WEIGHTS,
          base: Path = BASE_MODEL,
          pronunciations: Mapping[str, Sequence[str]] | None = None,
          accents: Sequence[str] = ()) -> AdaptReport:
    """Adapt ``base`` to ``pairs`` (16 kHz mono float32 audio, its transcript in
    dictionary words) and write the model directory ``out``. ``tau``: the means' MAP prior
    in frames; ``tau_weights``: the mixture weights' (0 keeps them; ``base`` needs a
    ``sendump`` otherwise). Raises ``ValueError`` for a transcript word the dictionary does
    not know (``UnknownWords``), when nothing aligns, or when ``out`` is ``base``. ``base``
    may be a model this wrote: adapting the ears' espeak model further to one voice is how
    docs/ears.md (ninth round) measured what a few sentences of a voice are worth.
    ``pronunciations`` and ``accents``: see ``Aligner`` (a session's ears pass theirs)."""
    if Path(out).resolve() == Path(base).resolve():
        raise ValueError(f"the output {out} is the base model itself: write another directory")
    means = read_gaussians(base / "means")
    variances = [np.maximum(v, VAR_FLOOR) for v in read_gaussians(base / "variances")]
    phones = base_phones(base)
    skip = [phones.index(p) for p in NOISE_PHONES if p in phones]
    aligner = Aligner(base, pronunciations=pronunciations, accents=accents)
    data = []
    given = 0
    try:
        for audio, text in pairs:
            given += 1
            words = " ".join(text.lower().split())
            unknown = aligner.unknown_words(words)
            if unknown:
                raise UnknownWords(given, unknown)
            got = aligner.align(np.asarray(audio, np.float32), words)
            if got is not None:
                data.append(got)
    finally:
        aligner.close()
    if not data:
        raise ValueError(f"none of {given} utterances aligned to its transcript (each must "
                         "say exactly what its recording says, word for word, with speech "
                         "audible above any noise)")
    moved = means
    for _ in range(MLLR_ITERATIONS):
        stats = Stats(moved, variances, skip)
        for got in data:
            stats.add(got.cepstra, got.codebooks)
        moved = apply_mllr(means, solve_mllr(stats, of=means))
    final = Stats(moved, variances, skip)
    for got in data:
        final.add(got.cepstra, got.codebooks)
    adapted = map_means(final, moved, tau)
    weights, senones = None, 0
    if tau_weights > 0:
        mixture = MixtureWeights.read(base / "sendump")
        counted = WeightStats(adapted, variances, mixture.weights, skip)
        for got in data:
            counted.add(*got)
        weights = MixtureWeights(mixture.header, map_weights(counted, mixture.weights,
                                                             tau_weights))
        senones = int((counted.counts[0].sum(axis=1) > 0).sum())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in base.iterdir():
        if f.name not in ("means", "sendump") or (f.name == "sendump" and weights is None):
            shutil.copyfile(f, out / f.name)
    write_gaussians(adapted, out / "means")
    if weights is not None:
        weights.write(out / "sendump")
    seen = [o > 1.0 for o in final.occupancy]  # densities the data reached
    shift = np.sqrt(np.mean(np.concatenate(
        [(((a - m) ** 2) / v)[k].reshape(-1)
         for a, m, v, k in zip(adapted, means, variances, seen, strict=True)])))
    return AdaptReport(out, given, len(data), final.frames, float(shift), senones)


if __name__ == "__main__":  # ``python -m nodes.asr.adapt``: the command line
    from .adapt_command import main

    raise SystemExit(main())
