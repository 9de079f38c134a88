"""Adapt the ears' acoustic model to a voice, a microphone or a synthesiser, from recordings.

``microturn adapt-ears`` (and ``python -m nodes.asr.adapt``) adapts pocketsphinx's English
model.

The command line of ``nodes.asr.adapt`` (which does the estimation), declared in the
``microturn.commands`` entry-point group as a third-party package declares its own:
``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .adapt import BASE_MODEL, TAU, TAU_WEIGHTS, UnknownWords, adapt
from .grammar import normalize
from .pronunciations import DEFAULT_ACCENTS, check_accents, normalize_pronunciations


def _read_audio(path: Path) -> np.ndarray:
    """Any file PyAV decodes, as 16 kHz mono float32."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


DESCRIPTION = ("Adapt the ears' English acoustic model to recordings: every audio file in "
               "DIR (wav, flac, ogg, ...) with a NAME.txt transcript beside it.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``microturn adapt-ears`` (the ``microturn.commands`` entry point) and ``main``."""
    parser.description = DESCRIPTION
    parser.add_argument("recordings", type=Path, metavar="DIR",
                        help="audio files, each with its transcript in a .txt beside it")
    parser.add_argument("out", type=Path, metavar="OUT", help="the model directory to write")
    parser.add_argument("--tau", type=float, default=TAU,
                        help="MAP prior weight of the means: frames a Gaussian needs to move "
                             "halfway (%(default)g)")
    parser.add_argument("--tau-weights", type=float, default=TAU_WEIGHTS,
                        help="MAP prior weight of each senone's mixture weights, in frames; "
                             "0 keeps them (%(default)g)")
    parser.add_argument("--base", default="default", metavar="MODEL",
                        help="the model to start from: default (the English model the wheel "
                             "ships), espeak (the ears' model for espeak-ng speech, built "
                             "once per machine), or a model directory, such as one this "
                             "command wrote (%(default)s)")
    parser.add_argument("--accents", default=",".join(DEFAULT_ACCENTS), metavar="LIST",
                        help="accents whose pronunciations the transcripts may be aligned "
                             "with, comma-separated, as the ears' accents; '' for the "
                             "dictionary's alone (%(default)s)")
    parser.add_argument("--pronunciation", action="append", default=[], metavar="WORD=PHONES",
                        help="a transcript word the dictionary lacks, with its ARPABET "
                             "phones: microturn='M AY K R OW T ER N' (repeatable)")


#: what a model directory needs to be a base for ``adapt`` (``sendump`` only with weights)
BASE_FILES = ("mdef", "means", "variances", "transition_matrices", "feat.params")


def base_model(name: str, *, weights: bool = True) -> Path:
    """The directory of ``--base``: ``default``, ``espeak`` (built first if this machine
    has none) or a model directory. ``ValueError`` naming what is missing otherwise."""
    if name == "default":
        return BASE_MODEL
    if name == "espeak":
        from .espeak_model import ensure

        return ensure()
    path = Path(name)
    if not path.is_dir():
        raise ValueError(f"--base {name}: no such model directory (default, espeak, or a "
                         "directory made by `microturn adapt-ears`)")
    missing = [f for f in BASE_FILES + (("sendump",) if weights else ())
               if not (path / f).is_file()]
    if missing:
        raise ValueError(f"--base {name}: not a model directory (no {', '.join(missing)})")
    return path


def _unknown_words_hint(words: tuple[str, ...]) -> str:
    """What a transcript's unknown words need: ``--pronunciation WORD=PHONES`` each."""
    flags = " ".join(f"--pronunciation '{w}=PHONES'" for w in words)
    their = "its" if len(words) == 1 else "their"
    return (f"not in the pronunciation dictionary: {', '.join(words)}; give {their} "
            f"ARPABET phones with {flags} (as in 'hello=HH AH L OW')")


def run(args: argparse.Namespace) -> int:
    """Adapt from ``args.recordings`` into ``args.out``; prints where the model went. Bad
    input (no transcripts, words the dictionary lacks) is one ``error:`` line and 2."""
    if not args.recordings.is_dir():
        what = "not a directory" if args.recordings.exists() else "no such directory"
        print(f"error: {args.recordings}: {what}", file=sys.stderr)
        return 2
    pairs = []
    transcripts = []
    for text in sorted(args.recordings.glob("*.txt")):
        audio = [p for p in text.parent.glob(text.stem + ".*") if p.suffix != ".txt"]
        if audio:  # as people write them: "Hello, world!" is "hello world"
            pairs.append((audio[0], " ".join(normalize(text.read_text()))))
            transcripts.append(text)
    if not pairs:
        print(f"error: no audio with a .txt transcript beside it in {args.recordings}",
              file=sys.stderr)
        return 2
    try:
        accents = [a for a in args.accents.split(",") if a]
        check_accents(accents)
        given: dict[str, str | tuple[str, ...]] = {}
        for item in args.pronunciation:
            word, eq, phones = item.partition("=")
            if not eq:
                raise ValueError(f"--pronunciation {item!r}: give it as WORD=PHONES")
            given[word] = (*given.get(word, ()), phones)
        pronunciations = normalize_pronunciations(given)
        base = base_model(args.base, weights=args.tau_weights > 0)
        report = adapt(((_read_audio(a), t) for a, t in pairs), args.out, tau=args.tau,
                       tau_weights=args.tau_weights, base=base,
                       pronunciations=pronunciations, accents=accents)
    except UnknownWords as exc:
        print(f"error: {transcripts[exc.utterance - 1]}: {_unknown_words_hint(exc.words)}",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{report.path}: {report.aligned} of {report.utterances} recordings used, "
          f"{report.frames / 100:.0f} s; means moved {report.mean_shift:.2f} standard "
          f"deviations (RMS), mixture weights of {report.senones} senones adapted. "
          f"Use: acoustic_model: {report.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m nodes.asr.adapt`` (or ``.adapt_command``): the same as ``microturn
    adapt-ears``."""
    parser = argparse.ArgumentParser(prog="python -m nodes.asr.adapt")
    add_arguments(parser)
    return run(parser.parse_args(argv))
