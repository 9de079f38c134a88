"""Chunker cost per 200 ms micro-turn. Prints ONE JSON line.

Two figures:

- ``chunking_ms_per_turn``: the sans-IO ``Chunking`` alone, per micro-turn: ten 20 ms
  frames of 16 kHz audio, one 320x240 camera frame and one text delta pushed, one
  ``Chunk`` out. Median over ``--turns`` after a warm-up, plus the mean and p99.
- ``node_ms_per_turn``: the ``chunker`` node in a running session on the fake clock, fed
  by ``source.tone`` (``pace: fast``, so the clock never waits): the whole session's wall
  time per micro-turn, edges and task switches of the ten frames included. The source's
  own cost is measured alone (``source_ms_per_turn``) and subtracted; best of three.

Times are CPU time of this process (``thread_time``/``process_time``), not wall time: on a
shared machine the wall clock mostly measures the other processes.

    .venv/bin/python bench/chunker.py
    .venv/bin/python bench/chunker.py --turns 5000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flow import MS, Graph, TextDelta, VideoFrame
from flow.testing import run_graph
from nodes.chunking import Chunking

RATE = 16_000
FRAME = 320  # 20 ms


def bench_chunking(turns: int, warmup: int = 50) -> list[float]:
    c = Chunking(200 * MS, RATE)
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, FRAME).astype(np.float32)
    image = np.zeros((240, 320, 3), np.uint8)
    times = []
    for k in range(warmup + turns):
        base = k * 200 * MS
        video = VideoFrame(pts=base + 10 * MS, image=image)
        text = TextDelta(pts=base + 50 * MS, text="convert twenty dollars", final=True)
        t0 = time.thread_time_ns()
        c.push_video(video)
        c.push_text(text)
        out = []
        for i in range(10):
            out += c.push_audio(base + i * 20 * MS, audio, RATE)
        t1 = time.thread_time_ns()
        if len(out) != 1:
            raise RuntimeError(f"turn {k}: {len(out)} chunks")
        if k >= warmup:
            times.append((t1 - t0) / 1e6)
    return times


def bench_session(turns: int, with_chunker: bool) -> float:
    seconds = turns / 5
    nodes: dict[str, tuple[str, dict[str, object]]] = {
        "src": ("source.tone", {"duration": f"{seconds}s", "pace": "fast"})}
    edges = []
    if with_chunker:
        nodes["chunker"] = ("chunker", {})
        edges = ["src.audio -> chunker.audio"]
    graph = Graph.build("bench", nodes, edges)
    t0 = time.process_time()
    run_graph(graph, outputs=[])
    return (time.process_time() - t0) * 1000 / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    times = bench_chunking(args.turns)
    bench_session(100, True)  # warm-up: imports, registry
    source = min(bench_session(args.turns, False) for _ in range(3))
    total = min(bench_session(args.turns, True) for _ in range(3))
    print(json.dumps({
        "bench": "chunker",
        "turns": args.turns,
        "chunking_ms_per_turn": round(statistics.median(times), 4),
        "chunking_ms_mean": round(statistics.fmean(times), 4),
        "chunking_ms_p99": round(float(np.percentile(times, 99)), 4),
        "node_ms_per_turn": round(total - source, 4),
        "session_ms_per_turn": round(total, 4),
        "source_ms_per_turn": round(source, 4),
        "target_ms": 0.2,
    }))


if __name__ == "__main__":
    main()
