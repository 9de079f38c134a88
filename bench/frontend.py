"""Front-end benchmark: persistent KV cache vs re-prefill, flatness over a long session,
memory, and how many sessions the batched stepper holds at the micro-turn cadence.

Prints ONE JSON line. Sessions are simulated by stepping as fast as possible (not in real
time). Turns have the tokenizer's layout: 16 dMel frames, markers, a few typed bytes now
and then, and 8 OUTPUT slots. See bench/README.md (## frontend) for the definitions.

    .venv/bin/python bench/frontend.py                      # the full run
    .venv/bin/python bench/frontend.py --minutes 6 --cadence-seconds 5   # while developing
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from nodes.frontend.stepper import Stepper
from nodes.frontend.streaming_session import (
    SILENT,
    SPEAK,
    StreamingSession,
    forward_batch,
    new_pool,
)
from nodes.frontend.synthetic import synthetic_turn
from nodes.models.tiny_duplex import TinyDuplexConfig, TinyDuplexLM

TURNS_PER_MIN = 60 * 5  # 200 ms micro-turns
OUTPUT_SLOTS = 8


def turn(i: int, seed: int = 0):
    return synthetic_turn(i, seed=seed, text="ok" if i % 25 == 0 else "",
                          output_slots=OUTPUT_SLOTS)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return (time.perf_counter() - t) * 1e3


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def device_mb(device: str) -> float:
    return torch.cuda.memory_allocated() / 2**20 if device.startswith("cuda") else 0.0


def reprefill_step(model: TinyDuplexLM, s: StreamingSession, t) -> StreamingSession:
    """The same step without a persistent cache: a fresh session gets the kept context
    (sinks + window, as embeddings at their positions) re-prefilled, then the step (with
    the same deferred own tokens in front of its input)."""
    emb, pos = s.pool.kept(s.row, s.length)
    fresh = StreamingSession(model, new_pool(model))
    fresh.force_action = s.force_action
    fresh.deferred = list(s.deferred)  # the own tokens the persistent step writes too
    with torch.no_grad():
        forward_batch(model, fresh.pool, [(fresh, emb, pos)])
    fresh.step(t)
    return fresh


def long_session(model: TinyDuplexLM, minutes: int, device: str) -> dict:
    """One listening session stepped turn by turn for ``minutes``; probes at 1, 5, end."""
    s = StreamingSession(model, new_pool(model))
    s.force_action = SILENT
    probes = {1: "1min", 5: "5min", minutes: f"{minutes}min"}
    out: dict = {}
    i = 0
    for minute in range(1, minutes + 1):
        end = minute * TURNS_PER_MIN
        last10, cpu10 = [], []
        while i < end:
            c = time.thread_time()
            dt = timed(lambda: s.step(turn(i)), device)  # noqa: B023
            if i >= end - 10:
                last10.append(dt)
                cpu10.append((time.thread_time() - c) * 1e3)
            i += 1
        if minute in probes:
            tag = probes[minute]
            out[f"step_ms_{tag}"] = statistics.median(last10)
            out[f"step_cpu_ms_{tag}"] = statistics.median(cpu10)
            out[f"rss_mb_{tag}"] = round(rss_mb(), 2)
            out[f"cache_mb_{tag}"] = round(s.pool.nbytes() / 2**20, 3)
            out[f"device_mb_{tag}"] = round(device_mb(device), 2)
            re = []
            for j in range(5):
                re.append(timed(lambda: reprefill_step(model, s, turn(i + j)), device))  # noqa: B023
            out[f"reprefill_ms_{tag}"] = statistics.median(re)
            s.force_action = SPEAK
            out[f"speak_step_ms_{tag}"] = statistics.median(
                timed(lambda: s.step(turn(i + j)), device) for j in range(5))  # noqa: B023
            s.force_action = SILENT
            i += 5
    out["session_tokens"] = s.length
    return out


def hold_at_cadence(model: TinyDuplexLM, n: int, batched: bool, seconds: float,
                    period_ms: float, median: bool = False) -> tuple[bool, float]:
    """Can the stepper step ``n`` sessions every period for ``seconds`` of ticks, each
    tick's step finishing within the period? Half the sessions speak at any time. With
    ``median``: is the median tick within the period (throughput, robust to preemption)?
    Returns (ok, worst or median tick ms)."""
    stepper = Stepper(model, rows=n, batched=batched)
    seats = [stepper.attach() for _ in range(n)]
    ctx = model.cfg.context_tokens + 64
    with torch.no_grad():  # warm up: windows full (appended in chunks, 64 sessions a batch)
        items = []
        for k, seat in enumerate(seats):
            seat.session.force_action = SILENT
            base = turn(0, seed=k)
            x = model.embed_turn(base, [0] * OUTPUT_SLOTS).repeat(ctx // base.length + 1, 1)
            items.append((seat.session, x[:ctx], None))
            if len(items) == 64 or k == n - 1:
                forward_batch(model, stepper.pool, items)
                items = []
    ticks = int(seconds * 1000 / period_ms)
    worst = 0.0
    times: list[float] = []
    import asyncio

    async def run() -> bool:
        nonlocal worst
        for i in range(ticks):
            for k, seat in enumerate(seats):
                speak = (i // 10 + k) % 2 == 0
                seat.session.force_action = SPEAK if speak else SILENT
                seat.submit(turn(i, seed=k))
            t = time.perf_counter()
            stepper.tick()
            sync(str(model.device))
            dt = (time.perf_counter() - t) * 1e3
            worst = max(worst, dt)
            times.append(dt)
            if dt > period_ms and not median:
                return False
        return True

    ok = asyncio.run(run())
    for seat in seats:
        stepper.detach(seat)
    if median:
        mid = statistics.median(times)
        return mid <= period_ms, mid
    return ok, worst


def max_sessions(model: TinyDuplexLM, batched: bool, seconds: float, period_ms: float,
                 limit: int, median: bool = False,
                 search_seconds: float | None = None) -> tuple[int, float]:
    """The most sessions held for ``seconds``: doubling, then bisection. With
    ``search_seconds`` the search probes run that long and the count found is then
    confirmed over the full ``seconds`` (stepping down 5 % at a time while it fails), so a
    large count (a GPU) is found without minutes per probe."""
    probe = search_seconds or seconds
    best, worst_at_best, n = 0, 0.0, 1
    lo_fail = None
    while n <= limit:  # doubling, then bisection
        ok, worst = hold_at_cadence(model, n, batched, probe, period_ms, median)
        if not ok:
            lo_fail = n
            break
        best, worst_at_best = n, worst
        n *= 2
    hi = lo_fail if lo_fail is not None else best
    # exact below 32 sessions; above, to within 1/32 (a GPU's thousands need no more)
    while lo_fail is not None and hi - best > max(1, best // 32):
        mid = (best + hi) // 2
        ok, worst = hold_at_cadence(model, mid, batched, probe, period_ms, median)
        if ok:
            best, worst_at_best = mid, worst
        else:
            hi = mid
    if search_seconds and search_seconds < seconds:
        while best > 0:
            ok, worst = hold_at_cadence(model, best, batched, seconds, period_ms, median)
            if ok:
                return best, worst
            best = best - max(1, best // 20)
    return best, worst_at_best


def paired_cost_ratio(model: TinyDuplexLM, n: int, seconds: float, period_ms: float,
                      pairs: int = 3) -> float:
    """Serial over batched median tick time for ``n`` sessions, probes taken in
    alternation (batched, serial, batched, ...) so that both see the same load of the
    other tenants; the median of ``pairs`` ratios."""
    ratios = []
    for _ in range(pairs):
        _, batched = hold_at_cadence(model, n, True, seconds, period_ms, median=True)
        _, serial = hold_at_cadence(model, n, False, seconds, period_ms, median=True)
        ratios.append(serial / batched)
    return round(statistics.median(ratios), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--cadence-seconds", type=float, default=60.0)
    ap.add_argument("--period-ms", type=float, default=200.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-sessions", type=int, default=4096)
    ap.add_argument("--median-seconds", type=float, default=3.0,
                    help="ticks per probe of the median-tick capacity search")
    ap.add_argument("--window", type=int, default=TinyDuplexConfig().window_tokens,
                    help="the model's window_tokens (default: the config's default)")
    ap.add_argument("--kv-dtype", default=TinyDuplexConfig().kv_dtype,
                    help="the model's kv_dtype (model, bfloat16, ...)")
    ap.add_argument("--search-seconds", type=float, default=None,
                    help="probe length while searching for the most sessions at cadence; "
                         "the count found is then confirmed over --cadence-seconds")
    ap.add_argument("--skip-median", action="store_true",
                    help="skip the median-tick capacity and paired-cost probes")
    ap.add_argument("--skip-cadence", action="store_true")
    args = ap.parse_args()
    if args.minutes < 5:
        ap.error("--minutes must be at least 5 (the head of the flatness ratio)")
    torch.set_num_threads(args.threads)
    cfg = TinyDuplexConfig(window_tokens=args.window, kv_dtype=args.kv_dtype)
    model = TinyDuplexLM.load(cfg, device=args.device)
    t0 = time.perf_counter()
    long = long_session(model, args.minutes, args.device)
    end = f"{args.minutes}min"
    res: dict = {
        "bench": "frontend", "device": args.device,
        "device_name": (torch.cuda.get_device_name() if args.device.startswith("cuda")
                        else "cpu"),
        "threads": args.threads, "params": model.param_count(),
        "d_model": cfg.d_model, "n_layers": cfg.n_layers,
        "window_tokens": cfg.context_tokens, "kv_dtype": cfg.kv_dtype,
        "tokens_per_turn": turn(0).length,
        "minutes": args.minutes,
        "step_ms_persistent_1min": round(long["step_ms_1min"], 3),
        "step_ms_reprefill_1min": round(long["reprefill_ms_1min"], 3),
        "step_ms_persistent_full": round(long["step_ms_5min"], 3),
        "step_ms_reprefill_full": round(long["reprefill_ms_5min"], 3),
        "prefill_ratio_full_window": round(long["reprefill_ms_5min"] / long["step_ms_5min"],
                                           2),
        "speak_step_ms_full": round(long["speak_step_ms_5min"], 3),
        "tail_head_ratio": round(long[f"step_ms_{end}"] / long["step_ms_5min"], 3),
        "tail_head_ratio_cpu": round(long[f"step_cpu_ms_{end}"] / long["step_cpu_ms_5min"],
                                     3),
        "memory_mb_1_5_end": [long["rss_mb_1min"], long["rss_mb_5min"], long[f"rss_mb_{end}"]],
        "cache_mb_1_5_end": [long["cache_mb_1min"], long["cache_mb_5min"],
                             long[f"cache_mb_{end}"]],
        "memory_growth_5_to_30min_pct": round(
            100 * (long[f"rss_mb_{end}"] - long["rss_mb_5min"]) / long["rss_mb_5min"], 3),
        "session_tokens": long["session_tokens"],
        "long_session_s": round(time.perf_counter() - t0, 1),
    }
    if args.device.startswith("cuda"):
        res["device_mb_1_5_end"] = [long["device_mb_1min"], long["device_mb_5min"],
                                    long[f"device_mb_{end}"]]
    if not args.skip_cadence:
        for mode, batched in (("batched", True), ("serial", False)):
            n, worst = max_sessions(model, batched, args.cadence_seconds, args.period_ms,
                                    args.max_sessions, search_seconds=args.search_seconds)
            res[f"sessions_at_cadence_{mode}"] = n
            res[f"worst_tick_ms_{mode}"] = round(worst, 2)
            if args.skip_median:
                continue
            n, mid = max_sessions(model, batched, args.median_seconds, args.period_ms,
                                  args.max_sessions, median=True)
            res[f"sessions_at_median_{mode}"] = n
            res[f"median_tick_ms_{mode}"] = round(mid, 2)
        res["cadence_seconds"] = args.cadence_seconds
        res["search_seconds"] = args.search_seconds
        if not args.skip_median:
            n = max(1, res["sessions_at_median_serial"])
            res["paired_n"] = n
            res["paired_cost_ratio"] = paired_cost_ratio(model, n, args.median_seconds,
                                                         args.period_ms)
            res["median_batched_over_serial"] = round(
                res["sessions_at_median_batched"] / max(1, res["sessions_at_median_serial"]),
                2)
        res["batched_over_serial"] = round(res["sessions_at_cadence_batched"]
                                           / max(1, res["sessions_at_cadence_serial"]), 2)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
