"""Adapting to the speaker during a session (``speaker_adaptation``), over long sessions.

    .venv/bin/python bench/session.py                       # scotland stand-in, 16 clips a voice
    .venv/bin/python bench/session.py --leave-out en,en-gb-x-rp --every 20s

The benchmarks' clips are a few seconds each, too short for adapting to a speaker to
pay, so this one runs sessions: for each voice of a stand-in for an unseen accent
(``bench/standin.py``: the espeak model built without the ``--leave-out`` accents), the
voice's ``--clips`` scenario clips one after another as one input, through the ears node
(``asr.pocketsphinx`` with the assistant's beam, on the virtual clock), once as shipped and
once with ``speaker_adaptation: true``. A clip is heard right when the finals within it
say its words exactly; WER counts the words. The first ``--warm`` clips of a session are
reported apart: before the first adaptation there is nothing to gain.

Prints one JSON line: per voice and in all, clips heard right and WER, without and with
adaptation, and the adaptations made.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ears import edits  # noqa: E402
from bench.scenarios import KNOWN, RATE, Clip, generate  # noqa: E402
from bench.standin import selection  # noqa: E402

S = 1_000_000_000
PERIOD = 200_000_000


def session_audio(clips: list[Clip]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The clips one after another, padded to whole micro-turns, and each one's span (ns)."""
    spans, pos = [], 0
    for c in clips:
        spans.append((pos * S // RATE, (pos + c.audio.size) * S // RATE))
        pos += c.audio.size
    audio = np.concatenate([c.audio for c in clips])
    return np.pad(audio, (0, -audio.size % (RATE // 5))), spans


def hear(audio: np.ndarray, model: Path, adapt: bool, every: str,
         real: bool = False) -> tuple[list[Any], list[float], list[int]]:
    """The ears' finals over a session, the wall time of each adaptation to the speaker
    (its model swapped in), and how long after its micro-turn was handed over each
    hypothesis came (ns; nothing on the virtual clock). ``real``: the audio comes in real
    time."""
    import asyncio

    from flow import Graph, RealClock
    from flow.testing import run_graph_async, run_node
    from nodes.types import Chunk, Heard

    step = RATE // 5
    chunks = [Chunk(pts=k * PERIOD, index=k, period=PERIOD, audio=audio[k * step:(k + 1) * step],
                    sample_rate=RATE) for k in range(audio.size // step)]
    params = {"acoustic_model": str(model), "beam": 1e-80, "worker_process": real,
              "speaker_adaptation": adapt, "adapt_every": every}
    if real:
        graph = Graph.build("session", {"node": ("asr.pocketsphinx", params)}, [])
        result = asyncio.run(run_graph_async(graph, {"node.chunks": chunks}, ["node.heard"],
                                             pace="pts", clock=RealClock()))
        heard, times = result.outputs["node.heard"], result.times["node.heard"]
    else:
        result = run_node("asr.pocketsphinx", params, inputs={"chunks": chunks}, pace="pts")
        heard, times = result.outputs["heard"], result.times["heard"]
    finals = [h for h in heard if isinstance(h, Heard) and h.final and h.text]
    # A hypothesis' pts is the end of the micro-turn it answers, handed over at its start.
    waited = [t - (h.pts - PERIOD) for h, t in zip(heard, times, strict=True)]
    node = result.session.nodes["node"]
    return finals, node.adapt_seconds[:node.adaptations], waited


def score(clips: list[Clip], spans: list[tuple[int, int]],
          finals: list[Any]) -> list[dict[str, Any]]:
    """Each clip: heard right (its words exactly), word errors, words."""
    rows = []
    for clip, (a, b) in zip(clips, spans, strict=True):
        said = [w for h in finals if a <= h.start < b for w in h.text.split()]
        ref = clip.text.split()
        rows.append({"right": said == ref, "errors": edits(ref, said), "words": len(ref)})
    return rows


def tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    words = sum(r["words"] for r in rows)
    return {"right": sum(r["right"] for r in rows), "clips": len(rows),
            "wer": round(sum(r["errors"] for r in rows) / max(words, 1), 4)}


def main(argv: list[str] | None = None) -> int:
    from nodes.asr import espeak_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leave-out", default="en-gb-scotland",
                    help="accents left out of the adaptation, comma-separated")
    ap.add_argument("--voices", help="comma-separated voices instead of the six stand-in ones")
    ap.add_argument("--scenarios", default="count,currency",
                    help=f"scenarios whose clips make the sessions, in turn: {','.join(KNOWN)}")
    ap.add_argument("--clips", type=int, default=16, help="clips in each voice's session")
    ap.add_argument("--warm", type=int, default=4,
                    help="first clips of a session reported apart")
    ap.add_argument("--every", default="30s", help="speech between adaptations")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--clock", choices=("fake", "real"), default="fake",
                    help="real: the sessions come in real time (the ears in their worker "
                         "process), and each hypothesis' lateness is reported")
    args = ap.parse_args(argv)
    if args.clips <= args.warm:
        ap.error("--clips must be more than --warm")
    left_out, chosen, voices = selection(ap, args)

    t0 = time.monotonic()
    model = espeak_model.ensure(without=left_out)
    out: dict[str, Any] = {"bench": "session", "clock": args.clock, "left_out": left_out,
                           "every": args.every,
                           "seed": args.seed, "clips_per_voice": args.clips, "warm": args.warm,
                           "per_voice": {}}
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    took: list[float] = []
    for voice in voices:
        per = -(-args.clips // len(chosen))
        clips = [c for k in range(per) for c in
                 (generate(sc, 1, args.seed, start=k, voices=[voice])[0] for sc in chosen)]
        clips = clips[:args.clips]
        audio, spans = session_audio(clips)
        v: dict[str, Any] = {"speech_s": round(audio.size / RATE, 1)}
        for mode in ("off", "on"):
            finals, adapted, waited = hear(audio, model, mode == "on", args.every,
                                         args.clock == "real")
            scored = score(clips, spans, finals)
            rows[mode] += scored[args.warm:]
            v[mode] = {"warm": tally(scored[:args.warm]), "after": tally(scored[args.warm:])}
            if mode == "on":
                v["adaptations"] = len(adapted)
                took += adapted
            if args.clock == "real":
                v[mode]["decoded_max_ms"] = round(max(waited, default=0) / 1e6, 1)
                v[mode]["over_period"] = sum(x > PERIOD for x in waited)
        out["per_voice"][voice] = v
    out["after_warm"] = {mode: tally(r) for mode, r in rows.items()}
    out["adaptation_s_mean"] = round(sum(took) / len(took), 2) if took else None
    out["run_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
