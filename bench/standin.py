"""A stand-in for an unseen accent: the espeak model built without some accents, scored on them.

    .venv/bin/python bench/standin.py                                  # scotland, 48 count clips
    .venv/bin/python bench/standin.py --leave-out en,en-gb-x-rp --scenarios count,currency

The benchmarks keep four voices out of everything that is tuned (``bench/scenarios.py``,
``HELD_OUT``), so a change to the ears' recipe or grammar cannot be decided on them. This
is what it is decided on instead (docs/ears.md, rounds four to eight): the acoustic model
adapted to espeak speech is built without the ``--leave-out`` accents (once per machine,
about a minute per accent kept; ``nodes.asr.espeak_model.ensure``), and clips of the
scenarios in six voices of the accents left out run through ``graphs/assistant.yaml`` with
that model, each on its own virtual clock (as ``bench/interaction.py --clock fake``). The
voices are the accents with the variants ``VARIANTS``: four of them (iven, grandma, robert,
klatt) are variants the adaptation never uses either.

Decide on two stand-ins, not one: a change that gains two clips on one accent can lose two
on another (docs/ears.md, eighth round). ``--speech h-dropping`` (or ``th-stopping``, or
``th-dental``: the stop made at the teeth, espeak's ``t[``) speaks every clip with that
accent feature, by changing espeak's phonemes before they are synthesised: a stand-in for
a held-out accent that has it (twelfth and twenty-first rounds); ``--accents``
sets the ears' accents (``''``: the dictionary's pronunciations alone). Prints one JSON
line.

``--phonenet`` hears with the phone network trained without the same accents instead
(``bench/phonenet/without-ACCENTS.npz``, ``bench/phonenet_train.py --without``; no build,
no word check), as the assistant hears with the shipped one (docs/ears.md, twenty-fourth
round). Without it the ears are the adapted model with the word check, the beam 1e-80 and
the second look at amounts, as the assistant heard before.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.interaction import GRAPH, run_clips_virtual, summarize  # noqa: E402
from bench.scenarios import KNOWN, generate  # noqa: E402

#: The variants of the stand-in voices; iven, grandma, robert and klatt are not among the
#: adaptation's (``nodes.asr.espeak_model.VARIANTS``).
VARIANTS = ("", "+m5", "+iven", "+grandma", "+robert", "+klatt")

#: Accent features for ``--speech``: each changes espeak's phonemes (its mnemonics, in
#: which "h" is only ever /h/, "T" and "D" the two "th"s) before they are spoken.
SPEECH: dict[str, Callable[[str], str] | None] = {
    "plain": None,
    "h-dropping": lambda ph: ph.replace("h", ""),
    "th-stopping": lambda ph: ph.replace("T", "t").replace("D", "d"),
    # the stop at the teeth, as Caribbean and Irish English make it
    "th-dental": lambda ph: ph.replace("T", "t[").replace("D", "d["),
}


def accented(feature: str) -> Callable[..., np.ndarray] | None:
    """A ``synth`` for ``bench.scenarios.generate`` that speaks with ``feature``
    (``SPEECH``); None for plain speech."""
    from nodes import espeak

    change = SPEECH[feature]
    if change is None:
        return None

    def synth(text: str, *, voice: str, **kw: Any) -> np.ndarray:
        said = change(espeak.phonemes(text, voice=voice))
        return espeak.synthesize(f"[[{said}]]", voice=voice, phoneme_input=True, **kw)
    return synth


def standin_voices(left_out: list[str]) -> list[str]:
    """Six voices: the variants in turn, the accents left out sharing them in order
    (scotland alone: all six; en and en-gb-x-rp: en, en+m5, en+iven, then
    en-gb-x-rp+grandma, +robert, +klatt)."""
    if not left_out:
        raise ValueError("leave out at least one accent")
    return [left_out[k * len(left_out) // len(VARIANTS)] + v for k, v in enumerate(VARIANTS)]


def phonenet_for(ap: argparse.ArgumentParser, left_out: list[str], given: str) -> str:
    """The phone network for ``--phonenet``: ``auto``, the one trained without the
    accents ``left_out`` (``bench/phonenet_train.py --without``); a path, checked to be a
    network that never heard them (else ``ap.error``, exit status 2)."""
    from bench.phonenet_train import default_out
    from nodes.asr import espeak_model
    from nodes.asr.phone_net import PhoneNet

    order = [a for a in espeak_model.ACCENTS if a in left_out]
    path = default_out(order) if given == "auto" else Path(given)
    try:
        net = PhoneNet(path)
    except ValueError as exc:
        ap.error(f"--phonenet: {exc}")
    heard = sorted(set(left_out) - set(net.meta.get("without", ())))
    if heard:
        ap.error(f"--phonenet: {path} was trained on {', '.join(heard)}: a stand-in must "
                 "never have heard the accents it stands in for")
    return str(path)


def per_voice(scored: list[dict]) -> dict[str, dict[str, int]]:
    """Clips right and in all, by voice: the errors gather on some voices (docs/ears.md,
    ninth round: the variants the adaptation never used)."""
    out: dict[str, dict[str, int]] = {}
    for r in scored:
        v = out.setdefault(r["voice"], {"correct": 0, "total": 0})
        v["correct"] += bool(r["correct"])
        v["total"] += 1
    return out


def selection(ap: argparse.ArgumentParser,
              args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """``--leave-out``, ``--scenarios`` and ``--voices`` (``bench/enroll.py`` has them too)
    as lists: the accents left out, the scenarios, the voices. A bad one ends the program
    with ``ap.error`` (exit status 2, the message on stderr)."""
    from nodes.asr import espeak_model

    left_out = [a for a in args.leave_out.split(",") if a]
    chosen = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(chosen) - set(KNOWN))
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    try:
        espeak_model.accents(left_out)
        voices = ([v for v in args.voices.split(",") if v] if args.voices
                  else standin_voices(left_out))
    except ValueError as exc:
        ap.error(str(exc))
    if not chosen or not voices:
        ap.error("nothing to run: give --n of at least 1, a scenario and a voice")
    return left_out, chosen, voices


def main(argv: list[str] | None = None) -> int:
    from nodes.asr import espeak_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leave-out", default="en-gb-scotland",
                    help=f"accents left out of the adaptation, comma-separated, of "
                         f"{','.join(espeak_model.ACCENTS)}")
    ap.add_argument("--scenarios", default="count",
                    help=f"comma-separated subset of {','.join(KNOWN)}")
    ap.add_argument("--n", type=int, default=48, help="clips per scenario")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--voices", help="comma-separated voices instead of the six stand-in ones")
    ap.add_argument("--speech", choices=sorted(SPEECH), default="plain",
                    help="an accent feature every clip is spoken with")
    ap.add_argument("--accents", default=None,
                    help="comma-separated accents the ears hear ('': the dictionary's "
                         "pronunciations alone; default: the graph's)")
    ap.add_argument("--word-check", choices=("on", "off"), default="on",
                    help="the ears' word classifier, built without the same accents (on), "
                         "or none (off)")
    ap.add_argument("--graph", type=Path, default=GRAPH)
    ap.add_argument("--clips-out", type=Path, help="also write each clip's result (JSON lines)")
    ap.add_argument("--phonenet", nargs="?", const="auto",
                    help="hear with a phone network trained without the accents left out "
                         "(docs/ears.md), in place of the adapted pocketsphinx model and "
                         "the word check: bench/phonenet/without-ACCENTS.npz, or the .npz "
                         "given")
    args = ap.parse_args(argv)
    left_out, chosen, voices = selection(ap, args)
    if args.n < 1:
        ap.error("nothing to run: give --n of at least 1, a scenario and a voice")
    if args.accents is not None:
        from nodes.asr.pronunciations import check_accents

        try:
            check_accents(a for a in args.accents.split(",") if a)
        except ValueError as exc:
            ap.error(str(exc))

    if args.phonenet:
        args.phonenet = phonenet_for(ap, left_out, args.phonenet)
    t0 = time.monotonic()
    model = args.phonenet or espeak_model.ensure(without=left_out)
    word_check = None
    if args.word_check == "on" and not args.phonenet:
        from nodes.asr import wordcheck_build

        word_check = str(wordcheck_build.ensure(without=left_out))
    built = time.monotonic()
    synth = accented(args.speech)
    clips = [c for sc in chosen for c in generate(sc, args.n, args.seed, voices=voices,
                                                 synth=synth)]
    ears: dict[str, object] = {"acoustic_model": str(model),
                               "word_check": word_check or "off"}
    if not args.phonenet:  # as the assistant heard with the adapted model
        ears.update(beam=1e-80, confirm_units=True)
    if args.accents is not None:
        ears["accents"] = [a for a in args.accents.split(",") if a]
    scored = run_clips_virtual(clips, args.graph, ears=ears)
    if args.clips_out:
        with open(args.clips_out, "w") as f:
            for r in scored:
                f.write(json.dumps(r) + "\n")
    print(json.dumps({
        "bench": "standin", "left_out": left_out, "voices": voices, "model": str(model),
        "graph": os.path.relpath(args.graph, ROOT), "speech": args.speech,
        "word_check": word_check,
        "accents": ears.get("accents"),
        "seed": args.seed, "n_per_scenario": args.n, **summarize(scored),
        "per_voice": per_voice(scored),
        "build_s": round(built - t0, 1), "run_s": round(time.monotonic() - built, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
