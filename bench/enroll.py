"""What a few sentences of a voice are worth: the stand-in model adapted further to each voice.

    .venv/bin/python bench/enroll.py                          # 12 sentences, their transcripts
    .venv/bin/python bench/enroll.py --sentences 3 --transcripts heard

For each voice of the stand-in (``bench/standin.py``: the espeak model built without the
``--leave-out`` accents, scored on voices of those accents), ``--sentences`` sentences of
the ears' scenario language in that voice (``nodes.asr.espeak_model.corpus``, with a seed
of their own, so not the clips' texts) adapt the stand-in model further
(``nodes.asr.adapt.adapt`` with ``base=``, as ``microturn adapt-ears --base`` does), and
the voice's clips run through ``graphs/assistant.yaml`` on the virtual clock with the
stand-in model and with the one adapted to the voice. ``--transcripts given`` adapts on
the sentences' own texts (a user reading out sentences); ``heard`` on what the stand-in
model's ears heard in them (nobody checks: what adapting to a voice while it talks would
have).

Prints one JSON line: per voice and in all, clips right before and after, and the
sentences' seconds of speech.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.interaction import GRAPH, run_clips_virtual  # noqa: E402
from bench.scenarios import KNOWN, generate  # noqa: E402
from bench.standin import selection  # noqa: E402

SEED = 999  #: the enrolment sentences' seed (the adaptation corpus uses 101)
RATE = 16000


def sentences(voice: str, n: int) -> list[tuple[np.ndarray, str]]:
    """``n`` sentences of the scenario language in ``voice`` (audio with a noise floor and
    250 ms of it either side, as the adaptation corpus has; text)."""
    from nodes.asr import espeak_model
    from nodes.espeak import synthesize

    rng = np.random.default_rng(SEED)
    pad = np.zeros(RATE // 4, np.float32)
    out = []
    for text, rate in espeak_model.corpus(voice, n, seed=SEED):
        audio = np.concatenate((pad, np.asarray(synthesize(text, voice=voice, rate=rate,
                                                           sample_rate=RATE), np.float32), pad))
        out.append((audio + rng.normal(0, espeak_model.NOISE_RMS, audio.size)
                    .astype(np.float32), text))
    return out


def heard(audio: np.ndarray, model: Path) -> str:
    """What the ears (the default grammar, the assistant's beam) hear in ``audio``."""
    from nodes.asr.grammar import build_grammar
    from nodes.asr.recognizer import Recognizer

    rec = Recognizer(jsgf=build_grammar(), acoustic_model=str(model), beam=1e-80)
    step = RATE // 5
    hyps = [h for k in range(0, audio.size, step)
            for h in rec.feed(audio[k:k + step], k * 1_000_000_000 // RATE) if h.final]
    return " ".join(h.text for h in hyps + rec.flush() if h.text)


def enrol(voice: str, n: int, transcripts: str, base: Path, out: Path) -> dict[str, Any]:
    """Adapt ``base`` to ``n`` sentences of ``voice`` into ``out``."""
    from nodes.asr.adapt import adapt
    from nodes.asr.espeak_model import TAU, TAU_WEIGHTS

    pairs = sentences(voice, n)
    if transcripts == "heard":
        pairs = [(a, h) for a, _ in pairs if (h := heard(a, base))]
    report = adapt(pairs, out, tau=TAU, tau_weights=TAU_WEIGHTS, base=base)
    return {"sentences": n, "aligned": report.aligned, "speech_s": round(report.frames / 100)}


def main(argv: list[str] | None = None) -> int:
    from nodes.asr import espeak_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leave-out", default="en-gb-scotland",
                    help="accents the stand-in model leaves out, comma-separated")
    ap.add_argument("--voices", help="comma-separated voices instead of the six stand-in ones")
    ap.add_argument("--sentences", type=int, default=12, help="sentences of each voice")
    ap.add_argument("--transcripts", choices=("given", "heard"), default="given")
    ap.add_argument("--scenarios", default="count",
                    help=f"comma-separated subset of {','.join(KNOWN)}")
    ap.add_argument("--n", type=int, default=48, help="clips per scenario, over all voices")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--graph", type=Path, default=GRAPH)
    args = ap.parse_args(argv)
    left_out, chosen, voices = selection(ap, args)
    if args.sentences < 1 or args.n < 1:
        ap.error("nothing to run: give --sentences and --n of at least 1, a scenario, a voice")

    t0 = time.monotonic()
    base = espeak_model.ensure(without=left_out)
    clips = [c for sc in chosen for c in generate(sc, args.n, args.seed, voices=voices)]
    per_voice: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="enrol-") as tmp:
        for k, voice in enumerate(voices):
            own = [c for c in clips if c.voice == voice]
            model = Path(tmp) / f"voice{k}"
            info = enrol(voice, args.sentences, args.transcripts, base, model)
            before = run_clips_virtual(own, args.graph, ears={"acoustic_model": str(base)})
            after = run_clips_virtual(own, args.graph, ears={"acoustic_model": str(model)})
            per_voice[voice] = {**info, "clips": len(own),
                                "before": sum(r["correct"] for r in before),
                                "after": sum(r["correct"] for r in after)}
    print(json.dumps({
        "bench": "enroll", "left_out": left_out, "transcripts": args.transcripts,
        "sentences": args.sentences, "scenarios": chosen, "seed": args.seed,
        "clips": sum(v["clips"] for v in per_voice.values()),
        "before": sum(v["before"] for v in per_voice.values()),
        "after": sum(v["after"] for v in per_voice.values()),
        "per_voice": per_voice, "run_s": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
