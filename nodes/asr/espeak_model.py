"""The acoustic model adapted to espeak-ng speech: ``acoustic_model: espeak``.

The bundled samples, the tests and the benchmarks speak to the ears with espeak-ng, a
formant synthesiser: its spectra are far from the recorded speech pocketsphinx's model was
trained on (docs/ears.md: "-teen" heard as "-ty", "seven" as "two"). This module builds,
once per machine, that model adapted (``nodes.asr.adapt``) to espeak speech of the
scenario language, and caches it:

    path = ensure()          # builds in a fresh interpreter the first time (~2 min)

Voices: four English accents (``ACCENTS``) times eleven voice variants (``VARIANTS``).
The accents and variants of the benchmarks' held-out voices (en-us-nyc+f4, en-029,
en-gb-x-gbclan+m7, en-gb-x-gbcwmd+f1) are never used, so figures on those voices are on
speech the adaptation never heard (a test checks the lists stay apart).

For a microphone keep the default model, or adapt one to your own recordings
(docs/ears.md, "Adapting the ears").

A model built without some of the accents (``ensure(without=...)``, or ``python -m
nodes.asr.espeak_model --without en-gb-scotland``) stands in for an unseen accent when
deciding a change to the recipe or the grammar: ``bench/standin.py`` scores it on the
accents it left out.

Cache: ``$MICROTURN_CACHE`` or ``~/.cache/microturn``, a directory named for this recipe's
version and the pocketsphinx and espeak-ng versions; written to a temporary directory and
renamed into place, so concurrent builders (test workers) never see half a model.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: builds are not serialised
    fcntl = None  # type: ignore[assignment]

from .numbers import int_to_words

RECIPE = 5  #: bump when the voices, texts or estimation change (5: mixture weights)
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland")
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m8", "+f2", "+f3", "+f5")
PER_VOICE = 36  #: utterances per voice: 1584 in all (71 minutes of speech)
SEED = 101
TAU = 20.0  #: the means' MAP prior (frames)
TAU_WEIGHTS = 100.0  #: the senones' mixture weights' MAP prior (frames)
NOISE_RMS = 0.0005  #: the noise floor the recogniser sees under real input

_ANIMALS = ("cat", "dog", "horse", "cow", "sheep", "goat", "duck", "rabbit", "bird", "lion",
            "tiger", "bear", "fox", "wolf", "frog", "owl", "elephant", "monkey", "zebra",
            "giraffe", "snake", "chicken", "pig", "mouse", "deer")
# The default vocabulary of the ears (nodes/asr/grammar.py) in sentences a user says.
_BEFORE = ("i paid", "it cost", "it costs", "the ticket was", "the bill was", "my coffee cost",
           "we spent", "and then", "it was", "that was", "okay so it was", "no wait it was")
_AFTER = ("for lunch", "for dinner", "for the ticket", "okay thanks", "in the park",
          "so that was it", "please")
_STORY_LEAD = ("we saw", "then i saw", "there was", "there were", "and then we saw", "well we saw")
_PLACES = ("near the farm", "in the park", "in the garden", "on the farm")
_COMMANDS = ("start the stopwatch", "okay start the stopwatch", "stop", "stop the stopwatch",
             "how many animals so far", "okay how many animals so far", "what is the count",
             "how many animals", "convert to euros", "yes", "no", "okay thanks")
_OPS = ("times", "plus", "minus")


def accents(without: Iterable[str] = ()) -> tuple[str, ...]:
    """``ACCENTS`` less ``without``: a model built without some accents is the stand-in
    for an unseen accent that ``bench/standin.py`` scores on the accents left out.
    ``ValueError`` for an accent that is not one of ``ACCENTS``, or for leaving out all."""
    left = set(without)
    unknown = sorted(left - set(ACCENTS))
    if unknown:
        raise ValueError(f"not an accent of the espeak model: {', '.join(unknown)} "
                         f"(its accents: {', '.join(ACCENTS)})")
    kept = tuple(a for a in ACCENTS if a not in left)
    if not kept:
        raise ValueError("cannot leave out every accent of the espeak model")
    return kept


def voices(without: Iterable[str] = ()) -> list[str]:
    return [accent + variant for accent in accents(without) for variant in VARIANTS]


def _amount(rng: random.Random) -> str:
    r = rng.random()
    n = rng.randint(1, 99) if r < 0.4 else rng.randint(100, 999) if r < 0.8 else \
        rng.randint(1000, 9999)
    return int_to_words(n, style=rng.choice(("plain", "and", "a")) if n >= 100 else "plain")


def _sentence(kind: int, rng: random.Random) -> str:
    if kind == 0:  # an amount in talk
        words = [rng.choice(_BEFORE), _amount(rng), "dollars"]
        if rng.random() < 0.6:
            words.append(rng.choice(_AFTER))
        return " ".join(words)
    if kind == 1:  # asking for a conversion, or two amounts
        a, b = _amount(rng), _amount(rng)
        return rng.choice((f"convert {a} dollars to euros", f"how much is {a} dollars in euros",
                           f"we spent {a} dollars and then {b} dollars"))
    if kind == 2:  # a story with animals
        names = rng.sample(_ANIMALS, rng.randint(1, 3))
        said = " and ".join(("an " if n[0] in "aeiou" else "a ") + n for n in names)
        return f"{rng.choice(_STORY_LEAD)} {said} {rng.choice(_PLACES)}"
    if kind == 3:  # timers
        n = int_to_words(rng.randint(1, 59))
        return rng.choice((f"remind me in {n} seconds", f"set a timer for {n} minutes",
                           f"okay remind me in {n} seconds", f"set a timer for {n} seconds"))
    if kind == 4:  # arithmetic for the back end
        a, b = rng.randint(1, 20) if rng.random() < 0.7 else rng.randint(1, 99), rng.randint(1, 20)
        return f"what is {int_to_words(a)} {rng.choice(_OPS)} {int_to_words(b)}"
    return rng.choice(_COMMANDS)


def corpus(voice: str, n: int = PER_VOICE, seed: int = SEED) -> list[tuple[str, int]]:
    """``n`` (text, words per minute) for ``voice``, the kinds of sentence in turn."""
    rng = random.Random(f"{seed}:{voice}")
    return [(_sentence(i % 6, rng), rng.randint(130, 200)) for i in range(n)]


def utterances(without: Iterable[str] = ()) -> Iterator[tuple[np.ndarray, str]]:
    from ..espeak import synthesize

    rng = np.random.default_rng(SEED)
    pad = np.zeros(4000, np.float32)  # 250 ms of floor either side
    for voice in voices(without):
        for text, rate in corpus(voice):
            speech = synthesize(text, voice=voice, rate=rate, sample_rate=16000)
            audio = np.concatenate((pad, np.asarray(speech, np.float32), pad))
            yield audio + rng.normal(0.0, NOISE_RMS, audio.size).astype(np.float32), text


def cache_dir(without: Iterable[str] = ()) -> Path:
    """Where the model (built ``without`` some accents) is cached."""
    root = os.environ.get("MICROTURN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "microturn")
    ps, espeak = (metadata.version(d) for d in ("pocketsphinx", "espeakng-loader"))
    left = sorted(set(ACCENTS) - set(accents(without)))
    suffix = "".join(f"-without-{a}" for a in left)
    return Path(root) / f"ears-espeak-r{RECIPE}-ps{ps}-espeak{espeak}{suffix}"


def build(out: Path, without: Iterable[str] = ()) -> None:
    """Build the model into ``out`` (atomically: a temporary sibling, then a rename)."""
    from .adapt import adapt

    without = tuple(without)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        report = adapt(utterances(without), tmp, tau=TAU, tau_weights=TAU_WEIGHTS)
        tmp.rename(out)
    except OSError:  # another builder won the race: theirs is the same model
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / "means").exists():
            raise
        return
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"ears: adapted model for espeak speech in {out} ({report.aligned} of "
          f"{report.utterances} utterances, {report.frames} frames, mixture weights of "
          f"{report.senones} senones)", file=sys.stderr)


def build_fresh(module: str, without: Sequence[str], built: Callable[[], bool],
                what: str, instead: str) -> None:
    """Run ``python -m module [--without ...]`` in a fresh interpreter (espeak-ng's output
    depends on what the process synthesised before) and check ``built()`` after it;
    ``RuntimeError`` naming ``what`` was built and what needs no build (``instead``)."""
    left = ",".join(sorted(set(without)))
    done = subprocess.run([sys.executable, "-m", module, *(["--without", left] if left else [])],
                          cwd=Path(__file__).resolve().parents[2],
                          stdout=subprocess.DEVNULL)  # it prints the path: not into our output
    if done.returncode != 0 or not built():
        raise RuntimeError(f"building {what} failed (exit status {done.returncode}; its error "
                           f"is printed above). {instead} needs no build.")


def command_line(prog: str, description: str, target: Callable[[list[str]], Path],
                 built: Callable[[Path], bool], make: Callable[[Path, list[str]], None]) -> None:
    """``python -m ... [--without a,b]``: build what ``target`` names for the accents left
    out, unless it is ``built``, and print its path. A SIGTERM (a stopped test run, a
    cancelled CI job) ends it as an exception does, so that the build's clean-up runs and
    no half-written temporary sibling is left in the cache."""
    import argparse

    signal.signal(signal.SIGTERM, _stop)
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--without", default="", help="accents to leave out, comma-separated")
    left_out = [a for a in ap.parse_args().without.split(",") if a]
    try:
        path = target(left_out)
    except ValueError as exc:
        ap.error(str(exc))
    with _building(path):  # one build per machine, however many sessions ask at once
        if not built(path):
            # minutes of silence on a first `make demo` look like a hang: say what it does
            print(f"ears: building {path.name} into {path.parent} (once per machine: "
                  f"{BUILD_MINUTES.get(prog, 'a few')} minutes)...", file=sys.stderr,
                  flush=True)
            make(path, left_out)
    print(path)


@contextlib.contextmanager
def _building(path: Path) -> Iterator[None]:
    """Hold ``path``'s build lock (a file beside it, ``flock``): a second process that wants
    the same build waits for the first and then finds it built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"ears: waiting for another process that is building {path.name}...",
                  file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


#: Measured on the 2-core project VM, per build (docs/ears.md).
BUILD_MINUTES = {"python -m nodes.asr.espeak_model": "about 3",
                 "python -m nodes.asr.wordcheck_build": "about 10"}


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # the status a shell reports for a death by this signal


def ensure(without: Iterable[str] = ()) -> Path:
    """The model's directory, built first if this machine has none (in a fresh interpreter).
    ``without``: accents to leave out of the adaptation (a stand-in model; see ``accents``)."""
    without = tuple(without)
    out = cache_dir(without)
    if not (out / "means").exists():
        build_fresh("nodes.asr.espeak_model", without, (out / "means").exists,
                    f"the acoustic model adapted to espeak speech into {out}",
                    "acoustic_model: default")
    return out


if __name__ == "__main__":
    command_line("python -m nodes.asr.espeak_model",
                 "Build the acoustic model adapted to espeak speech (once per machine) and "
                 "print its path.", cache_dir, lambda p: (p / "means").exists(), build)
