#!/usr/bin/env python3
"""Speech synthesis: real-time factor, and time to first audio of a one-sentence reply.

Three measurements, all with real espeak-ng on this machine:

- ``rtf``: synthesis time / audio duration of a paragraph through ``nodes.espeak.synthesize``
  at the node's default rate (24 kHz, resampling included); median of ``--repeats``.
- ``warm_up_ms``: loading the engine, the voice and the resampler, once per process (the
  node does it in ``setup()``, so it is not part of any reply's latency).
- ``first_block_ms``: from calling ``nodes.espeak.stream`` on the sentence to its first
  resampled block (the library alone).
- ``ttfa_ms_*``: the node in a real ``flow.Session`` on ``RealClock`` (``pace: realtime``,
  the default): a source sends the sentence as one final ``TextDelta`` and a sink stamps
  the first ``AudioFrame`` that reaches it; ``--replies`` replies, each barged in on
  (``Interrupt``) ``--talk`` after its first frame, as a user would, so the session does
  not have to play every reply out. The same runs give ``interrupt_ms_max`` (the longest
  time from an ``Interrupt`` to the last frame of the reply it cut reaching the sink) and
  ``frames_after_interrupt`` (frames of a cut reply that arrived after its interrupt:
  should be 0).

Prints exactly one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flow import MS, AudioFrame, Graph, In, Interrupt, Node, Out, RealClock, Session, TextDelta
from flow.clock import run as run_loop
from nodes import espeak
from nodes.speech_espeak import EspeakSpeech

SENTENCE = "Sure, twenty dollars is about eighteen euros and forty cents at today's rate."
PARAGRAPH = (
    "Micro-turns are two hundred milliseconds long. Every micro-turn, the model hears and "
    "sees what happened, and decides whether to stay silent, to speak, or to act. When it "
    "speaks, its words are synthesised clause by clause, so that the first sound comes out "
    "long before the whole reply has been written, let alone spoken. "
) * 3


def bench_rtf(repeats: int, sample_rate: int) -> tuple[float, float]:
    times: list[float] = []
    seconds = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        audio = espeak.synthesize(PARAGRAPH, sample_rate=sample_rate)
        times.append(time.perf_counter() - t)
        seconds = audio.size / sample_rate
    return statistics.median(times) / seconds, seconds


def bench_first_block(repeats: int, sample_rate: int) -> float:
    firsts: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        first: list[float] = []

        def on_chunk(block: object, t: float = t, first: list[float] = first) -> bool:
            first.append(time.perf_counter() - t)
            return False  # the first block is all this measures

        espeak.stream(SENTENCE, on_chunk, sample_rate=sample_rate)
        firsts.append(first[0])
    return statistics.median(firsts) * 1000


class Replies(Node):
    """Sends ``n`` replies; barges in on each ``talk`` after its first frame is heard."""

    text: Out[TextDelta]

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.sent: list[int] = []
        self.interrupted: list[int] = []
        self.heard = asyncio.Event()
        self.n = 0
        self.talk = 0

    async def run(self) -> None:
        await self.clock.sleep(200 * MS)  # let every node finish setup()
        for _ in range(self.n):
            self.heard.clear()
            self.sent.append(self.clock.now())
            await self.text.send(TextDelta(pts=self.now(), text=SENTENCE, role="model",
                                           final=True))
            await self.heard.wait()
            await self.clock.sleep(self.talk)
            self.interrupted.append(self.clock.now())
            await self.interrupt("barge-in")
            await self.clock.sleep(100 * MS)


class Ear(Node):
    """Stamps the frames it receives (clock time), and counts interrupts seen."""

    audio: In[AudioFrame]

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.arrivals: list[tuple[int, int]] = []  # (reply index, clock time)
        self.reply = 0
        self.source: Replies | None = None

    async def on_audio(self, frame: AudioFrame) -> None:
        self.arrivals.append((self.reply, self.clock.now()))
        assert self.source is not None
        self.source.heard.set()

    def on_interrupt(self, msg: Interrupt) -> None:
        self.reply += 1


def bench_ttfa(replies: int, talk: int) -> dict[str, float]:
    graph = Graph.build("speech-bench", {
        "src": (Replies, {}), "tts": (EspeakSpeech, {}), "ear": (Ear, {})},
        ["src.text -> tts.text", "tts.audio -> ear.audio"])

    async def main() -> tuple[Replies, Ear]:
        session = Session(graph, clock=RealClock())
        src, ear = session.nodes["src"], session.nodes["ear"]
        assert isinstance(src, Replies) and isinstance(ear, Ear)
        src.n, src.talk, ear.source = replies, talk, src
        await session.run()
        return src, ear

    src, ear = run_loop(main())
    ttfa, cut, after = [], [], 0
    for i, sent in enumerate(src.sent):
        mine = [t for r, t in ear.arrivals if r == i]
        ttfa.append((mine[0] - sent) / 1e6)
        late = [t for t in mine if t > src.interrupted[i]]
        after += len(late)
        cut.append((max(mine) - src.interrupted[i]) / 1e6)
    ttfa.sort()
    return {"ttfa_ms_median": statistics.median(ttfa),
            "ttfa_ms_p90": ttfa[min(len(ttfa) - 1, int(0.9 * len(ttfa)))],
            "ttfa_ms_max": ttfa[-1],
            "ttfa_ms_first_reply": (ear.arrivals[0][1] - src.sent[0]) / 1e6,
            "interrupt_ms_max": max(cut), "frames_after_interrupt": after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replies", type=int, default=20)
    ap.add_argument("--talk", type=float, default=0.3, help="seconds heard before barge-in")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sample-rate", type=int, default=24000)
    args = ap.parse_args()
    t = time.perf_counter()
    espeak.warm_up("en-us", args.sample_rate)  # what the node's setup() does, once per process
    warm_up = (time.perf_counter() - t) * 1000
    node = bench_ttfa(args.replies, round(args.talk * 1e9))
    rtf, seconds = bench_rtf(args.repeats, args.sample_rate)
    first_block = bench_first_block(args.repeats * 4, args.sample_rate)
    print(json.dumps({
        "bench": "speech", "sentence": SENTENCE, "sample_rate": args.sample_rate,
        "rtf": round(rtf, 5), "paragraph_s": round(seconds, 2),
        "first_block_ms": round(first_block, 3), "warm_up_ms": round(warm_up, 1),
        **{k: round(v, 3) for k, v in node.items()},
        "replies": args.replies, "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
