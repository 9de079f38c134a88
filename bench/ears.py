"""Accuracy and cost of the embedded ears (asr.pocketsphinx) on generated espeak speech.

Prints ONE JSON line: word error rate, exact-amount rate, per-voice breakdown, milliseconds
of CPU per 200 ms chunk, and how soon after the end of speech an amount shows up in a
partial and the final arrives. Voices in HELD_OUT were never used for tuning anything
(grammar, fillers, pause, noise floor) and are reported separately.

    .venv/bin/python bench/ears.py                  # 24 clips per voice, scenario grammar
    .venv/bin/python bench/ears.py --clips 6 --grammar open
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.asr.grammar import DEFAULT_GARBAGE, build_grammar, normalize
from nodes.asr.numbers import find_numbers, int_to_words
from nodes.asr.pronunciations import DEFAULT_ACCENTS, check_accents
from nodes.asr.recognizer import GRAMMAR_CONFIG, Recognizer

RATE = 16000
CHUNK = RATE // 5  # 200 ms
TUNED = ("en-us", "en-us+m3", "en", "en-gb-x-rp+f2", "en-gb-scotland+m5")
HELD_OUT = ("en-us-nyc+f4", "en-029", "en-gb-x-gbclan+m7", "en-gb-x-gbcwmd+f1")
UNITS = ("dollars", "dollar")

ANIMALS = ("cat", "dog", "horse", "cow", "sheep", "goat", "duck", "rabbit", "bird", "lion",
           "tiger", "bear", "fox", "wolf", "frog", "owl", "elephant", "monkey", "zebra",
           "giraffe", "snake", "chicken", "pig", "mouse")
TEMPLATES = (
    "i paid {A} dollars for lunch", "the ticket was {A} dollars", "it cost {A} dollars",
    "{A} dollars", "we spent {A} dollars and then {B} dollars", "no wait it was {A} dollars",
    "the bill was {A} dollars", "my coffee cost {A} dollars",
    "start the stopwatch", "okay stop the stopwatch", "remind me in {N} seconds",
    "set a timer for {N} minutes", "how many animals so far",
    "we saw a {x} and a {y} near the farm", "then i saw a {x}", "there was a {x} in the park",
)


def amount(rng: random.Random) -> tuple[int, str]:
    r = rng.random()
    n = rng.randint(1, 99) if r < 0.4 else rng.randint(100, 999) if r < 0.8 else \
        rng.randint(1000, 9999)
    style = rng.choice(("plain", "and", "a")) if n >= 100 else "plain"
    return n, int_to_words(n, style=style)


def corpus(voice: str, n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` (text, rate) pairs for one voice; templates cycle so every voice gets all."""
    rng = random.Random(f"{seed}:{voice}")
    out = []
    for i in range(n):
        t = TEMPLATES[i % len(TEMPLATES)]
        a, b = amount(rng), amount(rng)
        text = t.format(A=a[1], B=b[1], N=int_to_words(rng.randint(2, 59)),
                        x=rng.choice(ANIMALS), y=rng.choice(ANIMALS))
        out.append((text, rng.randint(130, 200)))
    return out


def amounts(words: list[str]) -> list[int]:
    return [s.value for s in find_numbers(words) if s.end < len(words) and words[s.end] in UNITS]


def edits(ref: Sequence[object], hyp: Sequence[object]) -> int:
    """Levenshtein distance: substitutions, insertions and deletions."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1]


def decode(rec: Recognizer, audio: np.ndarray, pts0: int) -> tuple[list, float, int]:
    """Feed ``audio`` in 200 ms chunks; (hypotheses with arrival time, cpu s, chunks)."""
    hyps = []
    cpu = 0.0
    n = len(audio) // CHUNK
    for k in range(n):
        pts = pts0 + k * 200_000_000
        t = time.perf_counter()
        got = rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], pts)
        cpu += time.perf_counter() - t
        hyps += [(h, pts + 200_000_000) for h in got]
    return hyps, cpu, n


def run(voices: tuple[str, ...], clips: int, grammar: str, seed: int,
        confirm: bool = True, acoustic_model: str = "default",
        beam: float | None = None, accents: tuple[str, ...] = DEFAULT_ACCENTS,
        garbage: float = DEFAULT_GARBAGE) -> dict:
    from nodes.espeak import synthesize

    jsgf = build_grammar(garbage=garbage) if grammar == "scenario" else None
    model = None
    if acoustic_model == "espeak":
        from nodes.asr.espeak_model import ensure

        model = str(ensure())
    elif acoustic_model == "phonenet":
        from nodes.asr.phone_net import DEFAULT

        model = str(DEFAULT)
    elif acoustic_model != "default":
        model = acoustic_model
    per_voice: dict[str, dict] = {}
    cpu_total, chunks_total = 0.0, 0
    partial_lags: list[float] = []
    final_lags: list[float] = []
    for voice in voices:
        rec = Recognizer(jsgf=jsgf, open_vocabulary=jsgf is None, confirm_units=confirm,
                         acoustic_model=model, beam=beam, accents=accents)
        errs = nref = amt_ok = amt_n = said_ok = said_n = 0
        pts0 = 0
        for text, rate in corpus(voice, clips, seed):
            speech = synthesize(text, voice=voice, rate=rate, sample_rate=RATE)
            lead, trail = np.zeros(int(0.4 * RATE), np.float32), np.zeros(RATE, np.float32)
            audio = np.concatenate((lead, speech.astype(np.float32), trail))
            audio = np.pad(audio, (0, -len(audio) % CHUNK))
            hyps, cpu, n = decode(rec, audio, pts0)
            cpu_total, chunks_total = cpu_total + cpu, chunks_total + n
            loud = np.flatnonzero(np.abs(audio) > 0.01)
            speech_end = pts0 + int(loud[-1]) * 1_000_000_000 // RATE if loud.size else pts0
            ref = normalize(text)
            hyp = normalize(" ".join(h.text for h, _ in hyps if h.final))
            errs += edits(ref, hyp)
            nref += len(ref)
            want = amounts(ref)
            got = Counter(amounts(hyp))
            amt_n += len(want)
            amt_ok += sum((Counter(want) & got).values())
            if want:  # what a front end acting on every hypothesis would have said
                said = {a for h, _ in hyps for a in amounts(normalize(h.text))}
                said_ok += said == set(want)
                said_n += 1
            if want and ref[-1] in UNITS:  # how soon a partial has the closing amount
                for h, at in hyps:
                    hw = h.text.split()
                    if not h.final and hw and hw[-1] in UNITS and amounts(hw)[-1:] == want[-1:]:
                        partial_lags.append((at - speech_end) / 1e6)
                        break
            finals = [at for h, at in hyps if h.final]
            if finals:
                final_lags.append((finals[-1] - speech_end) / 1e6)
            pts0 += len(audio) * 1_000_000_000 // RATE
        per_voice[voice] = {"wer": round(errs / max(nref, 1), 4),
                            "amount_exact": round(amt_ok / max(amt_n, 1), 4),
                            "amounts": amt_n, "clips": clips,
                            "amount_said_exact": round(said_ok / max(said_n, 1), 4),
                            "_e": errs, "_n": nref, "_ok": amt_ok, "_so": said_ok,
                            "_sn": said_n}

    def pool(names: tuple[str, ...]) -> dict:
        vs = [per_voice[v] for v in names if v in per_voice]
        e, n = sum(v["_e"] for v in vs), sum(v["_n"] for v in vs)
        ok, a = sum(v["_ok"] for v in vs), sum(v["amounts"] for v in vs)
        so, sn = sum(v["_so"] for v in vs), sum(v["_sn"] for v in vs)
        return {"wer": round(e / max(n, 1), 4), "amount_exact": round(ok / max(a, 1), 4),
                "amount_said_exact": round(so / max(sn, 1), 4), "amount_clips": sn,
                "clips": sum(v["clips"] for v in vs), "amounts": a}

    result = {"bench": "ears", "grammar": grammar, "confirm_units": confirm,
              "acoustic_model": acoustic_model, "beam": beam or GRAMMAR_CONFIG["beam"],
              "accents": list(accents), "garbage": garbage,
              **pool(voices),
              "tuned": pool(TUNED), "held_out": pool(HELD_OUT),
              "ms_per_chunk": round(1000 * cpu_total / max(chunks_total, 1), 2),
              "amount_partial_lag_ms_p50": _p50(partial_lags),
              "final_lag_ms_p50": _p50(final_lags),
              "per_voice": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                            for k, v in per_voice.items()}}
    return result


def _p50(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24, help="clips per voice")
    ap.add_argument("--grammar", choices=("scenario", "open"), default="scenario")
    ap.add_argument("--voices", choices=("all", "tuned", "held-out"), default="all")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--acoustic-model", default="default",
                    help="default, espeak (adapted to espeak speech), phonenet (the phone "
                         "network), a model directory or a phone network's .npz")
    ap.add_argument("--beam", type=float, default=None,
                    help="search beam (default: the recogniser's, 1e-60)")
    ap.add_argument("--no-confirm", action="store_true",
                    help="partials tell an amount at once (the first round's behaviour)")
    ap.add_argument("--accents", default=",".join(DEFAULT_ACCENTS),
                    help="comma-separated accents of nodes.asr.pronunciations ('': none)")
    ap.add_argument("--garbage", type=float, default=DEFAULT_GARBAGE,
                    help="the weight of the grammar's garbage loop (0: none, as shipped)")
    args = ap.parse_args()
    if not args.garbage >= 0:
        ap.error(f"--garbage must be a weight >= 0, got {args.garbage}")
    voices = {"all": TUNED + HELD_OUT, "tuned": TUNED, "held-out": HELD_OUT}[args.voices]
    accents = tuple(a for a in args.accents.split(",") if a)
    try:
        check_accents(accents)
    except ValueError as exc:
        ap.error(str(exc))
    print(json.dumps(run(voices, args.clips, args.grammar, args.seed, not args.no_confirm,
                         args.acoustic_model, args.beam, accents, args.garbage)))


if __name__ == "__main__":
    main()
