"""WebRTC server benchmark: time to connect, the latency WebRTC adds on loopback, and how
many concurrent sessions the server holds at cadence. Prints ONE JSON line.

    .venv/bin/python bench/webrtc.py                      # connect + latency + concurrency
    .venv/bin/python bench/webrtc.py --mode soak --clients 20 --seconds 120
    .venv/bin/python bench/webrtc.py --graph graphs/assistant_webrtc.yaml --mode concurrency

The server runs in its own process (``python -m flow.server``, exactly what ``microturn
serve`` runs, on uvloop); the clients run in this one, also on uvloop. As root the whole
run moves into a network namespace with only loopback first. Connect and latency use the
full ``flow.server.client.Client`` (encodes its microphone, decodes what it hears). The
concurrency and soak runs use ``LoadClient``, a load generator, not the system under
test: its microphone loops Opus packets encoded once (a quiet 220 Hz tone) and it counts
the RTP packets it receives, by arrival time, without decoding them; ICE, DTLS, SRTP, RTP
and the data channel are the real ones. The echo graph plays every microphone back, so
every session carries 50 audio frames per second each way, and the server does all of its
work (decode, the graph, encode). A session is *at cadence* when its client receives
>= 95% of 50 frames/s and no gap between frames exceeds 100 ms; at the server, when its
outgoing track sends >= 95% of 50 frames/s with at most 1% of them more than two frames
(40 ms) late. The concurrency level counts the server's view.
See bench/README.md (## webrtc) for the fields.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flow.clock import run as run_loop  # noqa: E402
from flow.server import ice, netns  # noqa: E402
from flow.server.client import Client, LoadClient  # noqa: E402
from flow.units import MS  # noqa: E402


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return float(np.percentile(np.asarray(xs), q))


class Server:
    """``python -m flow.server GRAPH`` on a free port of 127.0.0.1."""

    def __init__(self, graph: str, *extra: str) -> None:
        self.args = [sys.executable, "-m", "flow.server", graph, "--port", "0",
                     "--ice-host", "127.0.0.1", "--max-sessions", "200",
                     "--log-level", "warning", *extra]
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Server:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()
        m = re.search(r"on (http://\S+?)/?$", line.strip())
        if not m:
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = m.group(1)
        return self

    async def health(self) -> dict:
        async with aiohttp.ClientSession() as http, http.get(self.url + "/healthz") as r:
            return await r.json()

    async def closed(self) -> dict[str, int]:
        """Sessions the server closed, by reason (from /metrics)."""
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as r:
            text = await r.text()
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^microturn_sessions_closed_total\{reason="([^"]*)"\} (\d+)', text, re.M)}

    async def sessions(self) -> list[dict]:
        async with aiohttp.ClientSession() as http, http.get(self.url + "/sessions") as r:
            return await r.json()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)


async def connect_times(url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c = await Client.connect(url)
        out.append((time.perf_counter() - t) * 1000)
        await c.close()
    return out


async def round_trips(url: str, n: int, prefetch: int) -> list[float]:
    """ms from a tone burst's first frame leaving the client to its echo's first loud frame
    arriving back (client and server jitter prefetch both ``prefetch``)."""
    c = await Client.connect(url, jitter_prefetch=prefetch)
    await asyncio.sleep(0.5)
    rtts = await c.burst_round_trips(n, gap=0.25)
    await c.close()
    return rtts


def cadence(c: Client, since: int, until: int) -> tuple[float, float]:
    """(frames/s received, longest gap in ms) between clock times since..until."""
    times = [t for t in c.received_times() if since <= t <= until]
    if len(times) < 2:
        return 0.0, float("inf")
    gaps = np.diff(np.asarray(times)) / MS
    return len(times) / ((until - since) / 1e9), float(gaps.max())


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of process ``pid`` (None: this one), in seconds."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait(pid: int) -> float:
    """Seconds the main thread of ``pid`` has spent runnable but waiting for a CPU
    (``/proc/PID/schedstat``; 0 where the kernel does not keep it)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def hold(url: str, n: int, seconds: float, server: Server, window: float) -> dict:
    """Run n streaming load clients for ``seconds``, in windows of ``window`` seconds after
    a 2 s warm-up. Per session and window: at the client, frames/s received and the
    longest gap; at the server, frames/s its outgoing track sent and how many went out
    more than two frames (40 ms) late; and each window the server's RSS and task count,
    the CPU used by the server and by this process (the clients), the share of the time
    the server's loop thread was ready to run but waiting for a CPU, and the load
    average."""
    closed_before = await server.closed()
    clients = await asyncio.gather(*(LoadClient.connect(url, within=60) for _ in range(n)))
    gc.freeze()  # the clients live for the whole run: keep full collections short
    await asyncio.sleep(2.0)
    assert server.proc is not None
    start = clients[0].clock.now()
    t_end = time.monotonic() + seconds
    samples: list[dict] = []
    client_ok = server_ok = windows = 0
    rates: list[float] = []
    gaps: list[float] = []
    srates: list[float] = []
    late: list[float] = []
    prev = {s["id"]: s for s in await server.sessions()}
    while time.monotonic() < t_end - 0.5:
        w0 = clients[0].clock.now()
        t0 = time.monotonic()
        cpu0 = (cpu_seconds(server.proc.pid), cpu_seconds())
        wait0 = runqueue_wait(server.proc.pid)
        await asyncio.sleep(min(window, t_end - time.monotonic()))
        w1 = clients[0].clock.now()
        dt = time.monotonic() - t0
        cpu1 = (cpu_seconds(server.proc.pid), cpu_seconds())
        wait1 = runqueue_wait(server.proc.pid)
        h = await server.health()
        now = {s["id"]: s for s in await server.sessions()}
        w = {"rates": [], "gaps": [], "srates": [], "late": [], "client_ok": 0,
             "server_ok": 0}
        for c in clients:
            r, g = cadence(c, w0, w1)
            w["rates"].append(r)
            w["gaps"].append(g)
            w["client_ok"] += r >= 47.5 and g <= 100
            if c.session not in prev or c.session not in now:  # the server closed it
                w["srates"].append(0.0)
                w["late"].append(1.0)
                continue
            a, b = prev[c.session]["audio_out"], now[c.session]["audio_out"]
            sr = (b["frames"] - a["frames"]) / dt
            lf = (b["late_frames"] - a["late_frames"]) / max(1, b["frames"] - a["frames"])
            w["srates"].append(sr)
            w["late"].append(lf)
            w["server_ok"] += sr >= 47.5 and lf <= 0.01
        prev = now
        windows += n
        client_ok += w["client_ok"]
        server_ok += w["server_ok"]
        rates += w["rates"]
        gaps += w["gaps"]
        srates += w["srates"]
        late += w["late"]
        samples.append({
            "t_s": round((w1 - start) / 1e9, 1), "rss_mb": round(h["rss_mb"], 1),
            "tasks": h["tasks"], "sessions": h["sessions"],
            "server_cpu": round((cpu1[0] - cpu0[0]) / dt, 2),
            "clients_cpu": round((cpu1[1] - cpu0[1]) / dt, 2),
            "server_runq_wait": round((wait1 - wait0) / dt, 3),
            "load_avg": round(os.getloadavg()[0], 2),
            "server_ok": w["server_ok"], "client_ok": w["client_ok"],
            "server_min_fps": round(min(w["srates"]), 1),
            "server_max_late": round(max(w["late"]), 4),
            "client_min_fps": round(min(w["rates"]), 1),
            "client_max_gap_ms": round(max(w["gaps"]), 1)})
    closed_early = {k: v - closed_before.get(k, 0) for k, v in (await server.closed()).items()
                    if v > closed_before.get(k, 0)}  # during this run, not earlier levels
    await asyncio.gather(*(c.close() for c in clients))
    return {"sessions": n, "windows": windows, "closed_early": closed_early,
            "client_windows_at_cadence": client_ok, "server_windows_at_cadence": server_ok,
            "client_min_frames_per_s": round(min(rates), 1),
            "client_max_gap_ms": round(max(gaps), 1),
            "server_min_frames_per_s": round(min(srates), 1),
            "server_max_late_fraction": round(max(late), 4),
            "samples": samples}


async def main(args: argparse.Namespace) -> dict:
    in_netns = netns.enter_loopback_namespace()
    ice.restrict_host_candidates(["127.0.0.1"])
    out: dict = {"bench": "webrtc", "graph": args.graph, "loopback_netns": in_netns,
                 "cpus": os.cpu_count(), "load_avg": round(os.getloadavg()[0], 2)}
    if args.mode in ("all", "connect", "latency"):
        async with Server(args.graph) as srv:
            if args.mode in ("all", "connect"):
                ct = await connect_times(srv.url, args.connects)
                out.update(connect_ms_p50=round(statistics.median(ct), 1),
                           connect_ms_p99=round(pct(ct, 99) or 0, 1))
            if args.mode in ("all", "latency"):
                rt = await round_trips(srv.url, args.bursts, 1)
                out.update(rtt_ms_p50=round(statistics.median(rt), 1),
                           rtt_ms_p99=round(pct(rt, 99) or 0, 1),
                           added_one_way_ms_p50=round(statistics.median(rt) / 2, 1))
        if args.mode in ("all", "latency"):
            async with Server(args.graph, "--jitter-prefetch", "4") as srv:
                rt4 = await round_trips(srv.url, args.bursts, 4)
                out.update(rtt_ms_p50_aiortc_default_prefetch=round(statistics.median(rt4), 1),
                           rtt_ms_p99_aiortc_default_prefetch=round(pct(rt4, 99) or 0, 1))
    if args.mode in ("all", "concurrency"):
        levels = [int(x) for x in args.levels.split(",")]
        held = 0
        results = []
        async with Server(args.graph) as srv:
            for n in levels:
                r = await hold(srv.url, n, args.hold, srv, window=args.hold)
                r.pop("samples")
                results.append(r)
                if r["server_windows_at_cadence"] == r["windows"]:
                    held = n
                else:
                    break
                await asyncio.sleep(1.0)
        out.update(sessions_at_cadence=held, concurrency=results)
    if args.mode == "soak":
        async with Server(args.graph) as srv:
            before = await srv.health()
            r = await hold(srv.url, args.clients, args.seconds, srv, window=10.0)
            await asyncio.sleep(2.0)
            after = await srv.health()
        s = r.pop("samples")
        out.update({"soak_" + k: v for k, v in r.items()})
        out.update(soak_seconds=args.seconds,
                   rss_mb_first=s[0]["rss_mb"] if s else None,
                   rss_mb_last=s[-1]["rss_mb"] if s else None,
                   tasks_first=s[0]["tasks"] if s else None,
                   tasks_last=s[-1]["tasks"] if s else None,
                   tasks_idle_before=before["tasks"], tasks_idle_after=after["tasks"],
                   sessions_after=after["sessions"], samples=s)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="all", choices=["all", "connect", "latency",
                                                     "concurrency", "soak"])
    p.add_argument("--graph", default="graphs/echo_webrtc.yaml")
    p.add_argument("--connects", type=int, default=10)
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--levels", default="5,10,20,30", help="concurrency levels to try")
    p.add_argument("--hold", type=float, default=8.0, help="seconds per concurrency level")
    p.add_argument("--clients", type=int, default=20, help="soak: concurrent clients")
    p.add_argument("--seconds", type=float, default=120.0, help="soak: duration")
    result = run_loop(main(p.parse_args()))
    print(json.dumps(result))
