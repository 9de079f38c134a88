#!/usr/bin/env python3
"""Engine overhead: K pass-through nodes in a chain, the peer's methodology.

Mirrors ``../shared/bench/pipecat_chain.py`` so that the two can be run one after the
other on the same machine and compared: a source pushes synthetic 20 ms / 16 kHz / mono /
int16 audio frames (the same 640-byte payload, shared by reference) through K
pass-through nodes into a sink, in a real ``flow.Session`` on ``RealClock``. Edges are
the defaults (``block``, capacity 16).

Modes (``--mode``):
  throughput  push N frames as fast as possible, yielding once per push (like a capture
              task awaiting recv()); frames/s and push-to-sink latency p50/p99.
  cadence     one frame every 20 ms for ``--seconds`` (default 10): latency at the sink,
              and the jitter the graph adds (|latency_i - latency_{i-1}|, RFC 3550-style,
              which removes the sender's own timer lateness).
  both        throughput, cadence, and a no-yield run (default).
``--no-yield``: throughput with a producer that never yields between pushes: reports
peak RSS, the most messages queued on the edges, and whether the producer was held back
(its backlog at the end of pushing stays within the edges' capacities).
``--queued``: switch the inline hand-off off, so that every hop is a queue and a task
switch (what the engine costs when consumers are busy).

Prints exactly one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flow
from flow import AudioFrame, In, Node, Out, RealClock, Session
from flow.clock import run as run_loop

SAMPLE_RATE = 16000
CHUNK_MS = 20
SAMPLES = SAMPLE_RATE * CHUNK_MS // 1000  # 320 samples
PCM = np.zeros(SAMPLES, dtype=np.int16)  # 640 bytes, shared by every frame
WARMUP = 200


class BenchFrame(AudioFrame, frozen=True, kw_only=True):
    sent_ns: int = 0  #: perf_counter_ns() when the source pushed it


class PassThrough(Node):
    audio: In[AudioFrame]
    out: Out[AudioFrame]

    async def on_audio(self, frame: AudioFrame) -> None:
        await self.out.send(frame)


class Probe:
    """Shared between the source and the sink of one run (the bench's own bookkeeping)."""

    def __init__(self) -> None:
        self.lat: list[int] = []
        self.recv: list[int] = []
        self.expected = 0
        self.done: asyncio.Future[None] | None = None

    def arm(self, expected: int) -> asyncio.Future[None]:
        self.lat, self.recv, self.expected = [], [], expected
        self.done = asyncio.get_running_loop().create_future()
        return self.done


class Sink(Node):
    audio: In[AudioFrame]

    async def on_audio(self, frame: AudioFrame) -> None:
        now = time.perf_counter_ns()
        probe: Probe = self.context.services["probe"]
        probe.lat.append(now - frame.sent_ns)  # type: ignore[attr-defined]
        probe.recv.append(now)
        if len(probe.lat) >= probe.expected and probe.done and not probe.done.done():
            probe.done.set_result(None)


class Source(Node):
    out: Out[AudioFrame]

    async def run(self) -> None:
        cfg: dict[str, Any] = self.context.services["config"]
        probe: Probe = self.context.services["probe"]
        out = self.out
        done = probe.arm(WARMUP)
        for _ in range(WARMUP):
            await out.send(BenchFrame(samples=PCM, sample_rate=SAMPLE_RATE,
                                      sent_ns=time.perf_counter_ns()))
            await self.clock.sleep(0)
        await done
        for edge in cfg["session"].edges:  # measure the run, not the warm-up
            edge.peak_depth = edge.blocked_total = 0
        gc.collect()
        report: dict[str, Any] = cfg["report"]
        if cfg["mode"] == "throughput":
            n, no_yield = cfg["n"], cfg["no_yield"]
            done = probe.arm(n)
            t_start = time.perf_counter_ns()
            for i in range(n):
                await out.send(BenchFrame(pts=i * CHUNK_MS * flow.MS, samples=PCM,
                                          sample_rate=SAMPLE_RATE,
                                          sent_ns=time.perf_counter_ns()))
                if not no_yield:
                    await self.clock.sleep(0)
            t_pushed = time.perf_counter_ns()
            report["backlog_at_push_end"] = n - len(probe.lat)
            await done
            report["elapsed_ns"] = time.perf_counter_ns() - t_start
            report["push_ns"] = t_pushed - t_start
        else:
            period = CHUNK_MS * flow.MS
            count = int(cfg["seconds"] * 1000 / CHUNK_MS)
            done = probe.arm(count)
            late: list[int] = []
            t0 = self.clock.now() + period
            for i in range(count):
                target = t0 + i * period
                await self.clock.sleep_until(target)
                ts = time.perf_counter_ns()
                late.append(max(0, self.clock.now() - target))
                await out.send(BenchFrame(pts=i * period, samples=PCM,
                                          sample_rate=SAMPLE_RATE, sent_ns=ts))
            await done
            report["sender_late"] = late


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100.0 * (len(s) - 1))))]


def _summ_us(ns_values: list[int]) -> dict[str, float | None]:
    us = [v / 1000.0 for v in ns_values]
    return {"p50_us": round(_pct(us, 50), 1), "p99_us": round(_pct(us, 99), 1),
            "max_us": round(max(us), 1) if us else None,
            "mean_us": round(statistics.fmean(us), 1) if us else None}


async def run_case(k: int, mode: str, n: int, seconds: float, no_yield: bool,
                   queued: bool) -> dict[str, Any]:
    nodes: dict[str, tuple[type[Node], dict[str, Any]]] = {"src": (Source, {})}
    edges = []
    prev = "src.out"
    for i in range(k):
        nodes[f"p{i}"] = (PassThrough, {})
        edges.append(f"{prev} -> p{i}.audio")
        prev = f"p{i}.out"
    nodes["sink"] = (Sink, {})
    edges.append(f"{prev} -> sink.audio")
    graph = flow.Graph.build("engine-bench", nodes, edges)
    probe = Probe()
    report: dict[str, Any] = {}
    config = {"mode": mode, "n": n, "seconds": seconds, "no_yield": no_yield,
              "report": report}
    session = Session(graph, clock=RealClock(), services={"probe": probe, "config": config})
    config["session"] = session
    if queued:
        for edge in session.edges:
            edge._inline = edge._can_inline = False
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await session.run()
    st = session.statistics()
    result: dict[str, Any] = {"k": k, "mode": mode, "queued": queued}
    if mode == "throughput":
        elapsed = report["elapsed_ns"] / 1e9
        capacity = sum(e.capacity for e in st.edges)
        result.update(
            n=n, no_yield=no_yield, elapsed_s=round(elapsed, 4),
            push_s=round(report["push_ns"] / 1e9, 4),
            frames_per_s=round(n / elapsed, 1),
            latency=_summ_us(probe.lat),
            backlog_at_push_end=report["backlog_at_push_end"],
            edge_capacity_total=capacity,
            max_queued=sum(e.peak_depth for e in st.edges),
            producer_blocked_ms=round(st.edges[0].blocked_total / 1e6, 2),
            producer_held_back=report["backlog_at_push_end"] <= capacity,
            rss_before_mb=round(rss_before / 1024, 1),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    else:
        transit = [abs(b - a) for a, b in zip(probe.lat, probe.lat[1:], strict=False)]
        inter = [b - a for a, b in zip(probe.recv, probe.recv[1:], strict=False)]
        result.update(
            n=len(probe.lat), period_ms=CHUNK_MS, seconds=seconds,
            latency=_summ_us(probe.lat), transit_jitter=_summ_us(transit),
            jitter=_summ_us([abs(d - CHUNK_MS * flow.MS) for d in inter]),
            sender_timer_lateness=_summ_us(report["sender_late"]))
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "engine", "python": platform.python_version(),
                           "loop": "uvloop" if args.uvloop else "asyncio", "k": args.k,
                           "n": args.n, "queued": args.queued, "results": []}
    cases: list[tuple[str, bool]]
    if args.no_yield:
        cases = [("throughput", True)]
    elif args.mode == "both":
        cases = [("throughput", False), ("cadence", False), ("throughput", True)]
    else:
        cases = [(args.mode, False)]
    for mode, no_yield in cases:
        r = await run_case(args.k, mode, args.n, args.seconds, no_yield, args.queued)
        out["results"].append(r)
        if mode == "cadence":
            out["cadence_latency_p50_us"] = r["latency"]["p50_us"]
            out["cadence_latency_p99_us"] = r["latency"]["p99_us"]
            out["cadence_added_jitter_p50_us"] = r["transit_jitter"]["p50_us"]
            out["cadence_added_jitter_p99_us"] = r["transit_jitter"]["p99_us"]
        elif no_yield:
            out["no_yield_msgs_per_s"] = r["frames_per_s"]
            out["no_yield_latency_p50_us"] = r["latency"]["p50_us"]
            out["no_yield_peak_rss_mb"] = r["peak_rss_mb"]
            out["no_yield_max_queued"] = r["max_queued"]
            out["no_yield_backlog_at_push_end"] = r["backlog_at_push_end"]
            out["no_yield_producer_held_back"] = r["producer_held_back"]
        else:
            out["throughput_msgs_per_s"] = r["frames_per_s"]
            out["latency_p50_us"] = r["latency"]["p50_us"]
            out["latency_p99_us"] = r["latency"]["p99_us"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=8, help="number of pass-through nodes")
    ap.add_argument("--n", type=int, default=20000, help="frames in throughput mode")
    ap.add_argument("--mode", choices=["throughput", "cadence", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=10.0, help="cadence mode duration")
    ap.add_argument("--no-yield", action="store_true",
                    help="throughput mode with a producer that never yields between pushes")
    ap.add_argument("--queued", action="store_true",
                    help="no inline hand-off: every hop queues and switches task")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = ap.parse_args()
    out = run_loop(main_async(args), use_uvloop=args.uvloop)
    out["cpu_count"] = os.cpu_count()
    out["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
