"""The scenarios end to end: reaction time, correctness and barge-in of the assistant graph,
measured on its output timeline, and how many sessions this machine holds at cadence.

Prints ONE JSON line::

    .venv/bin/python bench/interaction.py                 # quick: 3 clips per scenario
    .venv/bin/python bench/interaction.py --n 100         # the full run (>= 100 per scenario)
    .venv/bin/python bench/interaction.py --n 1 --concurrency 6 --cadence-max 1  # smoke test

Method (see bench/README.md): each generated clip (``bench/scenarios.py``) is written to a
WAV and run through ``graphs/assistant.yaml`` as its own ``Session`` on the ``RealClock``,
with ``source.file`` at ``pace: realtime``, so recognition, stepping and synthesis all cost
what they cost live; ``sink.wav`` writes the reply audio on the input's timeline. Several
sessions run at once in this one process (``--concurrency``, by default as many as the
machine holds at cadence), the way a server holds them. Reaction time is read off that WAV:
the first reply sample after the trigger minus the trigger's media time. What was said is
read from the front end's ``actions``. ``sessions_at_cadence`` (measured first) doubles,
then bisects, the number of concurrent sessions on short clips until one of them misses a
micro-turn deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.interaction_score import MS, PERIOD, score  # noqa: E402
from bench.scenarios import HELD_OUT, KNOWN, SCENARIOS, Clip, generate, read_wav, write_wav  # noqa: E402

GRAPH = ROOT / "graphs" / "assistant.yaml"
WARMUP = 3 * 1_000_000_000  #: media time before speech in the cadence trials (ns)
#: Node types left out of the measured graph: console output of hundreds of sessions would
#: drown the one JSON line, and a file of events is not what is measured.
_DROP = ("sink.console", "sink.events")


def assistant_graph(wav_in: Path, wav_out: Path, graph_path: Path = GRAPH,
                    ears: dict[str, Any] | None = None,
                    numbers: bool = False) -> tuple[Any, dict]:
    """The assistant graph reading ``wav_in`` in real time and writing ``wav_out``, and the
    ids of its nodes by role. ``ears``: parameters that replace the recogniser's
    (``{"acoustic_model": path}`` for ``bench/standin.py``); ``numbers``: the reflex count
    skill hears numbers before its words (``count: {numbers: true}``, for ``tally``)."""
    import msgspec

    from flow.graph import EdgeDecl, Graph
    from flow.loader import load_graph

    g = load_graph(graph_path)
    nodes = {}
    roles: dict[str, str] = {}
    for nid, d in g.nodes.items():
        params = d.params
        if d.type_name in _DROP:
            continue
        if d.type_name == "source.file":
            params = msgspec.structs.replace(params, path=str(wav_in), pace="realtime",
                                             loop=False)
            roles["source"] = nid
        elif d.type_name == "sink.wav":
            params = msgspec.structs.replace(params, path=str(wav_out))
            roles["wav"] = nid
        elif d.type_name == "frontend" or "frontend" in d.type_name:
            roles["frontend"] = nid
            if numbers and params.model == "reflex":
                settings = dict(params.options.get("settings", {}))
                settings["count"] = {**settings.get("count", {}), "numbers": True}
                params = msgspec.structs.replace(
                    params, options={**params.options, "settings": settings})
        elif d.type_name == "chunker":
            roles["chunker"] = nid
        elif d.type_name == "asr.pocketsphinx" and ears:
            params = msgspec.structs.replace(params, **ears)
        nodes[nid] = type(d)(d.id, d.type_name, d.cls, params, d.line)
    edges: list[EdgeDecl] = [e for e in g.edges if e.src in nodes and e.dst in nodes]
    missing = {"source", "wav", "frontend"} - set(roles)
    if missing:
        raise SystemExit(f"bench/interaction.py: {graph_path} has no {', '.join(missing)} node")
    return Graph(g.name, nodes, edges, g.path), roles


async def run_clip(clip: Clip, workdir: Path, graph_path: Path = GRAPH,
                   clock: Any = None, ears: dict[str, Any] | None = None) -> dict[str, Any]:
    """One clip through its own session on the real clock (or ``clock``): what came out,
    and when."""
    from flow import Interrupt, RealClock, Session
    from flow.testing import harness

    here = Path(tempfile.mkdtemp(prefix=f"{clip.name}-", dir=workdir))  # clips may repeat
    wav_in, wav_out = here / "in.wav", here / "out.wav"
    write_wav(wav_in, clip.audio)
    graph, roles = assistant_graph(wav_in, wav_out, graph_path, ears,
                                   numbers=clip.scenario == "tally")
    front = roles["frontend"]
    feeds = {e.dst_port: f"{e.src}.{e.src_port}" for e in graph.edges
             if e.dst == front and e.dst_port in ("turns", "heard")}
    wanted = [f"{front}.actions", *feeds.values()]
    wrapped, stores, times = harness(graph, None, wanted)
    session = Session(wrapped, clock=clock or RealClock())
    await session.run()
    said: list[tuple[int, str, str]] = []  # (media time it was decided, kind, text)
    interrupts: list[int] = []
    lags: list[tuple[int, int]] = []  # (when work was due, how late it was done), ns
    heard: list[str] = []  # the ears' finals, for reading what went wrong
    for port, msgs in stores.items():
        for msg, t in zip(msgs, times[port], strict=True):
            if isinstance(msg, Interrupt):
                if port.startswith(f"{front}."):
                    interrupts.append(t)
            elif port == f"{front}.actions":
                if msg.kind in ("speak", "delegate") and msg.text:
                    said.append((t, msg.kind, msg.text))
            elif port == feeds.get("turns"):  # a turn is due when its window closes
                lags.append((msg.pts + PERIOD, t - (msg.pts + PERIOD)))
            elif port == feeds.get("heard"):  # a hypothesis is due when its audio is in
                lags.append((msg.pts, t - msg.pts))
                if getattr(msg, "final", False) and msg.text:
                    heard.append(msg.text)
    out, rate = read_wav(wav_out) if wav_out.exists() else (None, 16000)
    stats: dict[str, Any] = {}
    chunker = session.nodes.get(roles.get("chunker", ""))
    if chunker is not None and hasattr(chunker, "chunk_statistics"):
        cs = chunker.chunk_statistics()
        stats = {"filled": cs.filled, "late": cs.late}
    shutil.rmtree(here, ignore_errors=True)
    return {"said": sorted(set(said)), "interrupts": sorted(set(interrupts)), "lags": lags,
            "out": out, "out_rate": rate, "chunking": stats, "heard": heard}


async def run_clips(clips: list[Clip], concurrency: int, graph_path: Path = GRAPH,
                    ) -> list[dict[str, Any]]:
    """Every clip, ``concurrency`` sessions at a time; scored as each finishes."""
    sem = asyncio.Semaphore(concurrency)
    with tempfile.TemporaryDirectory(prefix="interaction-") as tmp:
        async def one(clip: Clip) -> dict[str, Any]:
            async with sem:
                try:
                    got = await run_clip(clip, Path(tmp), graph_path)
                except Exception as exc:  # a failed session is a wrong answer, not the end
                    return {**score(clip, {}), "error": repr(exc)[:300]}
            return score(clip, got)
        return list(await asyncio.gather(*(one(c) for c in clips)))


def run_clips_virtual(clips: list[Clip], graph_path: Path = GRAPH,
                      ears: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every clip on its own ``FakeClock``, one after another: what is heard and said is
    what the real clock gives when the machine keeps up, but recognition, stepping and
    synthesis cost no media time, so reaction times leave out compute. For development:
    fast and deterministic."""
    from flow.clock import FakeClock

    out = []
    with tempfile.TemporaryDirectory(prefix="interaction-") as tmp:
        for clip in clips:
            clock = FakeClock(deadlock_after=None)
            try:
                got = clock.run(run_clip(clip, Path(tmp), graph_path, clock, ears))
            except Exception as exc:
                out.append({**score(clip, {}), "error": repr(exc)[:300]})
                continue
            out.append(score(clip, got))
    return out


def misses(result: dict[str, Any], after: int = 0) -> tuple[int, int]:
    """Deadline misses of one session: micro-turns that reached the front end, and
    hypotheses that left the recogniser, more than one period after they were due, and
    inputs that arrived after their window had closed. Returns (misses of work due at or
    after ``after``, the worst lateness before it in ns: the start-up backlog)."""
    late = sum(1 for due, lag in result["lags"] if due >= after and lag > PERIOD)
    startup = max((lag for due, lag in result["lags"] if due < after), default=0)
    return late + result["chunking"].get("late", 0), startup


async def cadence_trial(clips: list[Clip], n: int, warmup: int,
                        graph_path: Path = GRAPH) -> tuple[int, int]:
    """Run ``n`` sessions at once (clips cycled): (deadline misses after ``warmup`` of
    media time, in all sessions; the worst start-up lateness before it, ns)."""
    with tempfile.TemporaryDirectory(prefix="cadence-") as tmp:
        got = await asyncio.gather(*(run_clip(clips[i % len(clips)], Path(tmp), graph_path)
                                     for i in range(n)))
    counted = [misses(g, warmup) for g in got]
    return sum(m for m, _ in counted), max(s for _, s in counted)


async def sessions_at_cadence(clips: list[Clip], top: int, warmup: int,
                              graph_path: Path = GRAPH) -> tuple[int, list[dict[str, Any]]]:
    """The most concurrent sessions (up to ``top``) with zero deadline misses: double from
    one, then bisect between the last that held and the first that did not."""
    trials: list[dict[str, Any]] = []

    async def held(n: int) -> bool:
        missed, startup = await cadence_trial(clips, n, warmup, graph_path)
        trials.append({"sessions": n, "misses": missed, "startup_lag_ms": round(startup / MS)})
        return missed == 0

    good, bad, n = 0, None, 1
    while n <= top:
        if not await held(n):
            bad = n
            break
        good, n = n, n * 2
    if bad is None and good < top:
        good, bad = (top, None) if await held(top) else (good, top)
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if await held(mid) else (good, mid)
    return good, trials


def pct(xs: Iterable[float], q: float) -> float | None:
    v = sorted(xs)
    if not v:
        return None
    k = min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))
    return round(v[k], 1)


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """The Wilson score interval (95 % by default) of a share ``k`` of ``n``: how far the
    accuracy of a few dozen clips may be from the voices' true accuracy (33 held-out clips
    right 28 times: 0.69-0.93)."""
    if n <= 0:
        return None
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, mid - half), 4), round(min(1.0, mid + half), 4)]


def summarize(scored: list[dict[str, Any]]) -> dict[str, Any]:
    def block(rows: list[dict[str, Any]]) -> dict[str, Any]:
        reactions = [r["reaction_ms"] for r in rows if r.get("reaction_ms") is not None]
        right = sum(r["correct"] for r in rows)
        return {"correct": right, "total": len(rows),
                "accuracy": round(right / len(rows), 4) if rows else None,
                "accuracy_ci95": wilson(right, len(rows)),
                "reaction_p50_ms": pct(reactions, 50), "reaction_p99_ms": pct(reactions, 99),
                "measured": len(reactions)}

    per = {}
    for sc in KNOWN:
        rows = [r for r in scored if r["scenario"] == sc]
        if not rows:
            continue
        b = block(rows)
        b["held_out"] = block([r for r in rows if r["held_out"]])
        extra: dict[str, list[Any]] = {}
        for r in rows:
            for k, v in r.get("extra", {}).items():
                if v is not None:
                    extra.setdefault(k, []).append(v)
        for k, vs in sorted(extra.items()):
            if all(isinstance(v, bool) for v in vs):
                b[f"{k}_rate"] = round(sum(vs) / len(vs), 4)  # a share of the clips
            else:
                b[f"{k}_p50"] = pct(vs, 50)
        per[sc] = b
    overall = {**block(scored), "errors": sum(1 for r in scored if "error" in r)}
    stops = [r["extra"]["stop_ms"] for r in scored
             if r["scenario"] == "bargein" and r["extra"].get("stop_ms") is not None]
    return {**overall, "bargein_stop_p50_ms": pct(stops, 50),
            "bargein_stop_p99_ms": pct(stops, 99),
            "held_out": block([r for r in scored if r["held_out"]]),
            "dev": block([r for r in scored if not r["held_out"]]), "per_scenario": per}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3, help="clips per scenario (full run: 100)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated subset of {','.join(KNOWN)} (default: "
                         f"{','.join(SCENARIOS)})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=0,
                    help="sessions run at once for the accuracy and reaction run (default: "
                         "sessions_at_cadence, at least 1)")
    ap.add_argument("--cadence-max", type=int, default=32,
                    help="largest number of concurrent sessions tried (0: skip the search)")
    ap.add_argument("--graph", type=Path, default=GRAPH)
    ap.add_argument("--clips-out", type=Path, help="also write each clip's result (JSON lines)")
    ap.add_argument("--voices", choices=("all", "held-out", "dev"), default="all",
                    help="run only the clips of these voices; every clip of the chosen "
                         "scenarios is still generated, in order, so with all scenarios each "
                         "is the same audio as in a full run (espeak carries state from one "
                         "synthesis to the next)")
    ap.add_argument("--clock", choices=("real", "fake"), default="real",
                    help="fake: each clip on a virtual clock, one at a time (development: "
                         "correctness as on the real clock, reaction times without compute; "
                         "no cadence search)")
    args = ap.parse_args(argv)
    chosen = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(chosen) - set(KNOWN))
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    from flow.clock import run as run_loop

    result: dict[str, Any] = {"bench": "interaction",
                              "graph": os.path.relpath(args.graph, ROOT),
                              "n_per_scenario": args.n, "held_out_voices": list(HELD_OUT)}
    at_cadence = None
    result["clock"] = args.clock
    from flow.loader import load_graph

    ears = [d.params for d in load_graph(args.graph).nodes.values()
            if d.type_name == "asr.pocketsphinx"]
    result["acoustic_model"] = ears[0].acoustic_model if ears else None
    result["ears_beam"] = ears[0].beam if ears else None
    if args.cadence_max > 0 and args.clock == "real":
        # Speech starts after WARMUP of noise: a session's start-up (loading the recogniser)
        # is reported as startup_lag_ms, not counted as steady-state misses.
        short = generate("currency", 4, args.seed + 1000, lead=WARMUP / 1e9)
        at_cadence, trials = run_loop(sessions_at_cadence(short, args.cadence_max, WARMUP,
                                                          args.graph))
        result["cadence_trials"] = trials
    result["sessions_at_cadence"] = at_cadence
    concurrency = args.concurrency or max(1, at_cadence or 1)
    result["concurrency"] = concurrency
    clips = [c for sc in chosen for c in generate(sc, args.n, args.seed)]
    if args.voices != "all":
        clips = [c for c in clips if c.held_out == (args.voices == "held-out")]
    result["voices"] = args.voices
    if args.clock == "fake":
        scored = run_clips_virtual(clips, args.graph)
    else:
        scored = run_loop(run_clips(clips, concurrency, args.graph))
    result.update(summarize(scored))
    if args.clips_out:
        with open(args.clips_out, "w") as f:
            for r in scored:
                f.write(json.dumps(r) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
