"""Scoring of one scenario clip from what the assistant produced (sans-IO: arrays and lists).

Inputs: the clip's ground truth (``bench/scenarios.py``), the reply audio on the input's
timeline (``sink.wav``: exact zeros where nothing was said), and what the front end decided
(``(media time, kind, text)``) and when it interrupted itself.

- Reply onset: the output is cut into *segments* (runs of non-zero samples; gaps shorter
  than ``JOIN`` are inside a reply). A reply's first sample is the start of the first
  segment that starts at or after the moment it could first be due (``search``); a segment
  already playing then belongs to an earlier reply and is skipped.
- Reaction: onset minus the trigger (end of "dollars", of "stop", of the question, of the
  timer request). Negative when a reply starts before the trigger word has ended (the count
  skill may answer on "how many animals" before "so far").
- Correctness per scenario: currency and barge-in amounts exactly right (and no wrong amount
  said); count exact; stopwatch elapsed within one micro-turn; timer set to the right
  duration and heard within one micro-turn of its due time; delegation acknowledged and the
  right number in an answer; barge-in: the model was speaking at the user's onset, it
  interrupted itself, and the output fell silent within one micro-turn after the end of the
  first micro-turn holding ``VOICE_MIN`` of the user's voice (the first moment a 200 ms-step
  model can know: a micro-turn with only the first milliseconds of a word in it is not
  yet voiced).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nodes.asr.numbers import find_numbers

S = 1_000_000_000
MS = 1_000_000
PERIOD = 200 * MS  #: one micro-turn
JOIN = 150 * MS  #: silences shorter than this are inside one reply
VOICE_MIN = 60 * MS  #: voice a micro-turn needs to count as the user talking (the ears' onset)

_AMOUNT = re.compile(r"(\d+) dollars? is", re.I)
_COUNT = re.compile(r"(\d+) \w+ so far", re.I)
_SECONDS = re.compile(r"(\d+(?:\.\d+)?) seconds?\b", re.I)
_TIMER_SET = re.compile(r"timer set for ([a-z ]+?) (seconds?|minutes?)\b", re.I)
_TIMER_UP = re.compile(r"([a-z ]+?) (seconds?|minutes?) (?:are|is) up", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def segments(audio: np.ndarray | None, rate: int, join: int = JOIN) -> list[tuple[int, int]]:
    """Runs of non-zero output as (start ns, end ns), gaps shorter than ``join`` merged."""
    if audio is None or audio.size == 0:
        return []
    nz = np.flatnonzero(audio != 0)
    if nz.size == 0:
        return []
    gap = max(1, join * rate // S)
    breaks = np.flatnonzero(np.diff(nz) > gap)
    starts = np.concatenate(([nz[0]], nz[breaks + 1]))
    ends = np.concatenate((nz[breaks], [nz[-1]])) + 1
    return [(int(a) * S // rate, int(b) * S // rate) for a, b in zip(starts, ends, strict=True)]


def onset(segs: list[tuple[int, int]], search: int) -> tuple[int, int] | None:
    """The first segment that starts at or after ``search``."""
    for a, b in segs:
        if a >= search:
            return a, b
    return None


def _words_value(text: str) -> int | None:
    spans = find_numbers(text.lower().split())
    return spans[0].value if spans else None


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / MS, 1)


def score(clip: Any, got: dict[str, Any]) -> dict[str, Any]:
    """One row of results for ``clip`` (a ``bench.scenarios.Clip``) from ``got`` (what
    ``bench.interaction.run_clip`` collected)."""
    t = clip.truth
    segs = segments(got.get("out"), got.get("out_rate", 16000))
    said: list[tuple[int, str, str]] = got.get("said", [])
    trigger = t["trigger"]
    piece = next((a for _, a, b in clip.spans if b == trigger), trigger)  # trigger piece start
    after = [(at, kind, text) for at, kind, text in said if at >= piece]
    row: dict[str, Any] = {"name": clip.name, "scenario": clip.scenario, "voice": clip.voice,
                           "rate": clip.rate, "held_out": clip.held_out, "correct": False,
                           "reaction_ms": None, "said": [x[2] for x in said],
                           "text": clip.text, "heard": list(got.get("heard", [])), "extra": {}}
    first = onset(segs, piece)
    if first is not None:
        row["reaction_ms"] = _ms(first[0] - trigger)
    decided = next((at for at, _, _ in after), None)
    row["extra"]["decision_ms"] = _ms(None if decided is None else decided - trigger)
    sc = clip.scenario
    if sc == "chatter":  # nothing should be said: no reaction to time, only false replies
        row["reaction_ms"] = row["extra"]["decision_ms"] = None
        row["extra"]["false_replies"] = len(said)
        row["correct"] = not said
    elif sc in ("currency", "bargein"):
        amounts = {int(m.group(1)) for _, _, x in after for m in _AMOUNT.finditer(x)}
        right = amounts == {t["amount"]}
        if sc == "currency":
            row["correct"] = right
        else:
            row["extra"]["amount_ok"] = right
            _bargein(row, t, segs, got.get("interrupts", []))
    elif sc in ("count", "tally"):
        counts = [int(m.group(1)) for _, _, x in after for m in _COUNT.finditer(x)]
        row["correct"] = bool(counts) and counts[0] == t["count"] and len(set(counts)) == 1
    elif sc == "stopwatch":
        values = [float(m.group(1)) for _, _, x in after for m in _SECONDS.finditer(x)]
        if values:
            err = int(values[0] * S) - t["elapsed"]
            row["extra"]["error_ms"] = _ms(abs(err))
            row["correct"] = abs(err) <= PERIOD
    elif sc == "timer":
        _timer(row, t, segs, after)
    elif sc == "delegation":
        answers = [x for _, kind, x in after if kind == "speak" and _NUMBER.search(x)]
        nums = {float(n) for x in answers for n in _NUMBER.findall(x)}
        acked = any(kind == "delegate" or "check" in x.lower() for _, kind, x in after)
        row["correct"] = acked and float(t["answer"]) in nums
        answer_at = next((at for at, kind, x in after if kind == "speak"
                          and str(t["answer"]) in _NUMBER.findall(x)), None)
        if answer_at is not None:
            seg = onset(segs, answer_at - 20 * MS)
            row["extra"]["answer_ms"] = _ms(None if seg is None else seg[0] - trigger)
    return row


def _timer(row: dict[str, Any], t: dict[str, Any], segs: list[tuple[int, int]],
           after: list[tuple[int, str, str]]) -> None:
    set_to = [_words_value(m.group(1)) for _, _, x in after for m in _TIMER_SET.finditer(x)]
    ups = [at for at, _, x in after if _TIMER_UP.search(x)]
    due = t["due"]
    fire = onset(segs, due - 1 * S)
    if fire is not None and ups:
        err = fire[0] - due
        row["extra"]["fire_error_ms"] = _ms(err)
        on_time = abs(err) <= PERIOD
    else:
        on_time = False
    row["correct"] = bool(set_to) and set_to[0] == t["seconds"] and on_time


def _bargein(row: dict[str, Any], t: dict[str, Any], segs: list[tuple[int, int]],
             interrupts: list[int]) -> None:
    user = t["onset"]
    playing = next(((a, b) for a, b in segs if a < user < b), None)
    interrupted = any(i >= t["trigger"] for i in interrupts)
    row["extra"]["speaking_at_onset"] = playing is not None
    row["extra"]["interrupted"] = interrupted
    if playing is None:
        return
    stop = playing[1] - user
    row["extra"]["stop_ms"] = _ms(stop)
    knowable = -(-(user + VOICE_MIN) // PERIOD) * PERIOD  # end of the first voiced turn
    row["correct"] = interrupted and playing[1] <= knowable + PERIOD
