"""Generate the demo monologue ``demo.wav`` and its ground truth ``demo.json``.

    .venv/bin/python examples/media/make_demo.py           # (re)write both
    .venv/bin/python examples/media/make_demo.py --check   # do the files match? (exit 1 if not)

One speaker (espeak-ng, ``en-us`` at 165 words per minute) talks for about 70 seconds and
exercises every scenario of ``graphs/assistant.yaml``, in this order:

1. currency while talking on: three amounts in a row ("... a hundred and five dollars ..."),
   each to be converted at once while the speaker goes on;
2. a story with five animals, then "how many animals so far";
3. a timer ("remind me in twelve seconds") that comes due in the middle of the next part;
4. the stopwatch: "start the stopwatch", talk (with another amount), then "stop";
5. a delegated question: "what is nine times eight" (acknowledged at once, answered when
   the speaker is quiet);
6. barge-in: a large amount, and while its conversion is being said the speaker talks again
   ("okay thanks"): the reply must stop within a micro-turn.

Each phrase is synthesised on its own and the phrases are concatenated (``bench.scenarios
.compose``), so the media time of every trigger word is known exactly; ``demo.json`` lists
them with what the reply must say. A low noise floor runs under the whole file (recognisers
misbehave on digital silence). Output is byte-identical from run to run when made in a fresh
process (espeak-ng keeps wave-generator state between syntheses): run this script directly.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.scenarios import RATE, Pause, Say, compose, write_wav  # noqa: E402

VOICE = "en-us"
WPM = 165
NOISE_SEED = 20260526
S = 1_000_000_000

#: The monologue. ``mark`` names a phrase whose times the ground truth needs.
PARTS = (
    Say("okay so"),
    Pause(0.8),
    Say("my coffee cost four dollars", mark="amount1"),
    Say("and then it cost twenty five dollars", mark="amount2", gap=0.15),
    Say("and the ticket was a hundred and five dollars", mark="amount3", gap=0.15),
    Say("so that was it", gap=0.15),
    Pause(3.0),
    Say("we saw a dog and a cat near the farm"),
    Pause(0.7),
    Say("then i saw a horse in the park"),
    Pause(0.7),
    Say("and there was a duck and a rabbit in the garden"),
    Pause(0.8),
    Say("how many animals so far", mark="count"),
    Pause(2.5),
    Say("remind me in twelve seconds", mark="timer"),
    Pause(2.5),
    Say("start the stopwatch", mark="stopwatch"),
    Pause(2.0),
    Say("i paid twelve dollars for lunch", mark="amount4"),
    Pause(2.5),
    Say("and then i paid for dinner"),
    Pause(4.5),
    Say("stop", mark="stop"),
    Pause(2.5),
    Say("what is nine times eight", mark="question"),
    Pause(4.5),
    Say("the ticket was two thousand four hundred and fifty dollars", mark="amount5"),
    Pause(1.2),
    Say("okay thanks", mark="bargein"),
)
LEAD = 2.0  #: seconds of room noise first: a session starts (loads its recogniser) meanwhile
TAIL = 2.0


def _s(ns: int) -> float:
    return round(ns / S, 3)


def ground_truth(marks: dict[str, tuple[int, int]], duration: int) -> dict:
    """What the assistant must do, and when (seconds of media time from the file's start)."""
    def end(m: str) -> float:
        return _s(marks[m][1])

    events = [
        {"scenario": "currency", "trigger_s": end(f"amount{i}"), "amount": amount}
        for i, amount in ((1, 4), (2, 25), (3, 105))]
    events.append({"scenario": "count", "trigger_s": end("count"), "count": 5})
    events.append({"scenario": "timer", "trigger_s": end("timer"), "seconds": 12,
                   "due_s": _s(marks["timer"][1] + 12 * S)})
    events.append({"scenario": "stopwatch", "trigger_s": end("stopwatch"), "action": "start"})
    events.append({"scenario": "currency", "trigger_s": end("amount4"), "amount": 12})
    events.append({"scenario": "stopwatch", "trigger_s": end("stop"), "action": "stop",
                   "stop_start_s": _s(marks["stop"][0]),
                   "elapsed_s": _s(marks["stop"][0] - marks["stopwatch"][1])})
    events.append({"scenario": "delegation", "trigger_s": end("question"),
                   "query": "what is nine times eight", "answer": 72})
    events.append({"scenario": "bargein", "trigger_s": end("amount5"), "amount": 2450,
                   "onset_s": _s(marks["bargein"][0])})
    events.sort(key=lambda e: e["trigger_s"])
    return {"audio": "demo.wav", "sample_rate": RATE, "duration_s": _s(duration),
            "voice": VOICE, "rate_wpm": WPM,
            "notes": "times in seconds of media time from the start of demo.wav; a trigger "
                     "is the end of the word that makes the reply due (the start of 'stop' "
                     "is the stopwatch's reference); within one micro-turn (0.2 s) is right "
                     "for the stopwatch and the timer",
            "events": events}


def render() -> tuple[bytes, str]:
    c = compose(PARTS, voice=VOICE, rate=WPM, noise_seed=NOISE_SEED, lead=LEAD, tail=TAIL)
    buf = io.BytesIO()
    write_wav(buf, c.audio)
    truth = ground_truth(c.marks, c.audio.size * S // RATE)
    truth["transcript"] = [{"text": t, "start_s": _s(a), "end_s": _s(b)} for t, a, b in c.spans]
    return buf.getvalue(), json.dumps(truth, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the files instead of writing them; exit 1 on a difference")
    ap.add_argument("--out", type=Path, default=HERE, help="folder (default: this one)")
    args = ap.parse_args(argv)
    wav, truth = render()
    status = 0
    for name, data in (("demo.wav", wav), ("demo.json", truth.encode())):
        path = args.out / name
        if args.check:
            same = path.exists() and path.read_bytes() == data
            print(f"{'ok  ' if same else 'DIFF'} {path}")
            status |= not same
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({len(data) // 1024} KiB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
