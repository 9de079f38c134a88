"""How long the ears' decoding stalls the event loop: in a thread vs in a worker process.

Prints ONE JSON line::

    .venv/bin/python bench/ears_stall.py                      # 1 and 3 streams, 8 s each
    .venv/bin/python bench/ears_stall.py --streams 1 2 4 --seconds 12

Method: ``--streams`` recognisers each decode the same generated speech (espeak, the
scenario language, ~70 % speech) in 200 ms chunks paced in real time on one asyncio loop,
as the sessions of one server would: ``thread`` runs ``Recognizer.feed`` with
``RealClock.run_blocking`` (an executor thread: what ``worker_process: false`` does),
``process`` runs ``RecognizerProcess.feed`` the same way (the thread only waits on the
pipe). A probe task beside them sleeps 2 ms at a time and records how late each wake-up
is: that lateness is what every other task on the loop (a ticker, an audio track) suffers.
Fields per mode and stream count: ``stall_ms_p50/p99/max`` (probe lateness),
``decode_ms_p50`` (wall time of a chunk's round trip), ``late_chunks`` (chunks whose
result came back more than 200 ms after their audio was due).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flow.clock import RealClock

RATE = 16000
CHUNK = RATE // 5
PHRASES = ["it cost a hundred and five dollars for lunch", "start the stopwatch",
           "i saw two cats and a kangaroo", "how many animals so far",
           "remind me in ten seconds", "twelve hundred forty six dollars"]


def clip(seconds: float) -> np.ndarray:
    from nodes import espeak

    parts: list[np.ndarray] = []
    while sum(p.size for p in parts) < seconds * RATE:
        for text in PHRASES:
            parts += [espeak.synthesize(text, voice="en-us", rate=160, sample_rate=RATE),
                      np.zeros(RATE // 3, np.float32)]
    audio = np.concatenate(parts)[:int(seconds * RATE)]
    return np.pad(audio, (0, -audio.size % CHUNK)).astype(np.float32)


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 1) if xs else 0.0


async def trial(mode: str, streams: int, audio: np.ndarray) -> dict[str, object]:
    from nodes.asr.grammar import build_grammar
    from nodes.asr.recognizer import Recognizer
    from nodes.asr.worker import RecognizerProcess

    clock = RealClock()
    recs: list[Recognizer | RecognizerProcess] = []
    for _ in range(streams):
        rec = RecognizerProcess() if mode == "process" else Recognizer()
        await clock.run_blocking(rec.set_grammar, build_grammar())
        recs.append(rec)
    decode_ms: list[float] = []
    late = 0
    done = asyncio.Event()
    stalls: list[float] = []

    async def probe() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.002)
            stalls.append((time.perf_counter() - t - 0.002) * 1e3)

    async def stream(rec: Recognizer | RecognizerProcess, offset: float) -> None:
        nonlocal late
        t0 = time.perf_counter() + offset
        for k in range(audio.size // CHUNK):
            due = t0 + (k + 1) * 0.2  # the chunk's audio is all in
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            a = time.perf_counter()
            await clock.run_blocking(rec.feed, audio[k * CHUNK:(k + 1) * CHUNK], k * 200_000_000)
            b = time.perf_counter()
            decode_ms.append((b - a) * 1e3)
            late += b - due > 0.2

    p = asyncio.create_task(probe())
    # Streams start spread over one period, as independent sessions would.
    await asyncio.gather(*(stream(r, 0.2 * i / streams) for i, r in enumerate(recs)))
    done.set()
    await p
    for rec in recs:
        if isinstance(rec, RecognizerProcess):
            rec.close()
    return {"mode": mode, "streams": streams, "stall_ms_p50": pct(stalls, 50),
            "stall_ms_p99": pct(stalls, 99), "stall_ms_max": round(max(stalls), 1),
            "decode_ms_p50": pct(decode_ms, 50), "decode_ms_p99": pct(decode_ms, 99),
            "late_chunks": late, "chunks": len(decode_ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    audio = clip(args.seconds)
    trials = []
    for n in args.streams:
        for mode in ("thread", "process"):
            trials.append(asyncio.run(trial(mode, n, audio)))
    print(json.dumps({"trials": trials}))


if __name__ == "__main__":
    main()
