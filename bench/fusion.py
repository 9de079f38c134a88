#!/usr/bin/env python3
"""Early-fusion tokenizer cost per micro-turn, on one CPU core.

Each micro-turn is what the issue asks for: 200 ms of 16 kHz audio (noise plus tones, so
the dMel levels vary), one camera frame (``--camera``, default 320x240: 48 patches) and
a few words of text. The per-session ``TurnTokenizer`` (the node's whole work; the node
only forwards its result) tokenizes ``--turns`` consecutive chunks; each call is timed
with ``perf_counter_ns`` after ``--warmup`` untimed ones. Then each stage is timed alone
(dMel, resize + patches, text + interleaving) to show where the time goes.

The process pins itself to one core and numpy's BLAS to one thread before numpy loads.
The tokenizer is numpy on the host whatever the model's device, so ``--device`` is
accepted for a uniform command line and ``device`` is always ``cpu``.

Prints exactly one JSON line on stdout. Fields that ``bench/frontend.py`` measures are
present as ``null`` so that the lines of both benchmarks have the same keys.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flow import MS, TextDelta, VideoFrame  # noqa: E402
from nodes.fusion import TokenizerParams, TurnTokenizer, fuse  # noqa: E402
from nodes.fusion.dmel import DMelStream  # noqa: E402
from nodes.fusion.patches import frame_to_patches, resize_frame  # noqa: E402
from nodes.fusion.text import TextQueue, turn_text  # noqa: E402
from nodes.types import Chunk  # noqa: E402

PERIOD = 200 * MS
SAMPLES = 3200
WORDS = ("hello there", "can you see this", "what time is it", "stop", "thanks a lot")
FRONTEND_FIELDS = ("window_tokens", "step_ms_persistent_full", "step_ms_reprefill_full",
                   "prefill_ratio_full_window", "tail_head_ratio",
                   "memory_growth_5_to_30min_pct", "sessions_at_cadence_batched",
                   "sessions_at_cadence_serial")


def make_chunks(n: int, width: int, height: int, seed: int = 0) -> list[Chunk]:
    rng = np.random.default_rng(seed)
    t = np.arange(n * SAMPLES) / 16_000
    signal = rng.standard_normal(t.shape) * 0.02
    for f in (220.0, 1300.0, 3100.0):
        signal += 0.1 * np.sin(2 * np.pi * f * t)
    audio = signal.astype(np.float32)
    chunks = []
    for i in range(n):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frame = VideoFrame(pts=i * PERIOD + 50 * MS, image=image)
        text = (TextDelta(pts=i * PERIOD, text=WORDS[i % len(WORDS)], final=True),)
        chunks.append(Chunk(pts=i * PERIOD, index=i, period=PERIOD,
                            audio=audio[i * SAMPLES:(i + 1) * SAMPLES], sample_rate=16_000,
                            video=(frame,), text=text))
    return chunks


def timed(fn, items) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in items:
        t = time.perf_counter_ns()
        fn(item)
        out.append((time.perf_counter_ns() - t) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--camera", default="320x240", help="camera frame size WxH")
    ap.add_argument("--resize", choices=("nearest", "area"), default="nearest")
    ap.add_argument("--device", default="cpu", help="accepted for uniformity; unused")
    args = ap.parse_args()
    width, height = (int(v) for v in args.camera.lower().split("x"))

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    params = TokenizerParams(resize=args.resize)
    chunks = make_chunks(args.warmup + args.turns, width, height)
    tok = TurnTokenizer(params)
    for c in chunks[:args.warmup]:
        tok.turn(c)
    measured = chunks[args.warmup:]
    gc.collect()
    lengths: list[int] = []
    per_turn = timed(lambda c: lengths.append(tok.turn(c).length), measured)

    # Each stage alone, on the same inputs.
    stream = DMelStream()
    audio_ms = timed(stream.push, [c.audio for c in measured])
    video_ms = timed(lambda im: frame_to_patches(
        resize_frame(im, params.height, params.width, params.resize)),
        [c.video[0].image for c in measured])
    levels = stream.push(measured[0].audio)
    patches = frame_to_patches(resize_frame(measured[0].video[0].image, params.height,
                                            params.width, params.resize))
    queue = TextQueue(params.max_text_bytes, params.max_pending_text_bytes)

    def text_and_fuse(c: Chunk) -> None:
        queue.add(turn_text(c.text))
        fuse(c.index, c.pts, levels, [patches], queue.take(), params.output_slots)

    text_ms = timed(text_and_fuse, measured)

    def med(xs: list[float]) -> float:
        return round(statistics.median(xs), 4)

    result = {
        "bench": "fusion",
        "tokenizer_ms_per_turn": med(per_turn),
        "tokenizer_ms_mean": round(statistics.fmean(per_turn), 4),
        "tokenizer_ms_p99": round(float(np.percentile(per_turn, 99)), 4),
        "audio_dmel_ms": med(audio_ms),
        "video_patches_ms": med(video_ms),
        "text_and_interleave_ms": med(text_ms),
        "turn_length": statistics.median(lengths),
        "turns": args.turns,
        "camera": f"{width}x{height}",
        "resize": args.resize,
        "cores": 1,
        "device": "cpu",
        **dict.fromkeys(FRONTEND_FIELDS),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
