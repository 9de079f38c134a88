"""Scenario clips with ground truth, generated with espeak-ng (``nodes.espeak``).

    from bench.scenarios import generate
    clips = generate("currency", n=10, seed=1)     # deterministic for (scenario, n, seed)
    clip.audio        # float32 mono, 16 kHz, a low noise floor under all of it
    clip.truth        # {"trigger": ns, "amount": 105, ...}: what the reply must say, and when

Scenarios (``SCENARIOS``) and what their ground truth holds (times in ns of media time,
from the clip's first sample):

- ``currency``: "it cost" + "a hundred and five dollars" + "for lunch". ``trigger``: end of
  "dollars"; ``amount``.
- ``count``: one to three story sentences with animals, a pause after each, then "how many
  animals so far". ``trigger``: end of "animals" (the question is answerable there);
  ``count``: animal mentions ("a dog and a cat" is two; no animal is named twice).
- ``tally`` (only when asked for: not in ``SCENARIOS``): ``count`` with numbers, half the
  animals said as "two dogs", "twelve sheep", ...; ``count`` is the animals in all. The
  benchmarks run it with the count skill's ``numbers: true``.
- ``chatter`` (only when asked for): two to four sentences of everyday talk with no amount,
  animal, command or question in them ("my sister called me on sunday"), much of it in
  words the ears' grammar lacks. The assistant must say nothing: whatever it says is a
  false reply. ``trigger``: end of the last sentence.
- ``stopwatch``: "start the stopwatch", an interval (silence or talk), "stop" (sometimes
  "stop the stopwatch"). ``trigger``: end of "stop"; ``started``: end of "stopwatch";
  ``stopped``: start of "stop"; ``elapsed``: their difference (what the reply must say,
  within one micro-turn).
- ``timer``: "remind me in ten seconds" (or "set a timer for ..."), sometimes talk while it
  runs. ``trigger``: end of the request; ``seconds``; ``due``: trigger + seconds.
- ``delegation``: "what is twelve times seven". ``trigger``: end of the question;
  ``answer``: the number the back end must give.
- ``bargein``: a large amount ("two thousand ... dollars", so that the reply is long), then,
  while the reply is being said, the user talks again. ``trigger``: end of "dollars";
  ``amount``; ``onset``: start of the user's interrupting speech.

How word times are known exactly: each piece of an utterance (a phrase ending at a trigger
word) is synthesised on its own and the pieces are concatenated with short gaps, so a
boundary is a sample index; a piece's start and end are its first and last sample above
``SPEECH_LEVEL``. Gaps and pauses hold the noise floor, never digital silence (the
recogniser misbehaves on exact zeros).

Voices: ``DEV_VOICES`` may be used for tuning; ``HELD_OUT`` never are (the same held-out
set as bench/ears.py), and results are reported for them separately. Every third clip has
a held-out voice, the others rotate over the dev voices; rates are 130-200 words per
minute.

Determinism: the texts, voices, rates, gaps and noise of clip ``i`` depend only on
``(seed, scenario, i)``. espeak-ng keeps wave-generator state between syntheses in a
process, so the audio is sample-identical only when the same clips are generated in the
same order in a fresh process; the ground truth is always measured on the audio itself.
"""

from __future__ import annotations

import random
import wave
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nodes.asr.numbers import int_to_words

RATE = 16000
S = 1_000_000_000
MS = 1_000_000
NOISE_RMS = 0.0005  #: the noise floor (about -66 dBFS), as under a real microphone
SPEECH_LEVEL = 0.01  #: |sample| above this is speech (for piece boundaries)
LEAD = 0.6  #: seconds of noise floor before the first word

SCENARIOS = ("currency", "count", "stopwatch", "timer", "delegation", "bargein")
#: Scenarios run only when asked for (``--scenarios tally``), so that the full run, and
#: every figure measured on it, stays what it was.
EXTRA_SCENARIOS = ("tally", "chatter")
KNOWN = SCENARIOS + EXTRA_SCENARIOS
DEV_VOICES = ("en-us", "en-us+m3", "en-us+f3", "en-us+m5", "en", "en-gb-x-rp",
              "en-gb-x-rp+f2", "en-gb-scotland+m5")
HELD_OUT = ("en-us-nyc+f4", "en-029", "en-gb-x-gbclan+m7", "en-gb-x-gbcwmd+f1")
VOICES = DEV_VOICES + HELD_OUT

ANIMALS = ("cat", "dog", "horse", "cow", "sheep", "goat", "duck", "rabbit", "bird", "lion",
           "tiger", "bear", "fox", "wolf", "frog", "owl", "elephant", "monkey", "zebra",
           "giraffe", "snake", "chicken", "pig", "mouse")


# -- composition ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Say:
    """A piece of speech; ``mark`` names it in ``Composed.marks`` (its start and end)."""

    text: str
    mark: str = ""
    gap: float = 0.08  #: seconds of noise floor before this piece


@dataclass(frozen=True)
class Pause:
    seconds: float


Part = Say | Pause


@dataclass
class Composed:
    audio: np.ndarray  #: float32, noise floor included
    marks: dict[str, tuple[int, int]]  #: mark -> (start ns, end ns) of its speech
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  #: every piece


def compose(parts: Sequence[Part], *, voice: str, rate: int, noise_seed: int,
            lead: float = LEAD, tail: float = 2.0, sample_rate: int = RATE,
            synth: Callable[..., np.ndarray] | None = None) -> Composed:
    """Synthesise ``parts`` in order into one clip and measure where each piece is.
    ``synth(text, voice=, rate=, sample_rate=)``: ``nodes.espeak.synthesize`` unless given
    (``bench/standin.py --speech`` gives one that changes the phonemes)."""
    if synth is None:
        from nodes.espeak import synthesize as synth
    pieces: list[np.ndarray] = [np.zeros(round(lead * sample_rate), np.float32)]
    pos = pieces[0].size
    marks: dict[str, tuple[int, int]] = {}
    spans: list[tuple[str, int, int]] = []
    words: list[str] = []
    for part in parts:
        if isinstance(part, Pause):
            pieces.append(np.zeros(round(part.seconds * sample_rate), np.float32))
            pos += pieces[-1].size
            continue
        if part.gap > 0 and pos > pieces[0].size:
            pieces.append(np.zeros(round(part.gap * sample_rate), np.float32))
            pos += pieces[-1].size
        speech = np.asarray(synth(part.text, voice=voice, rate=rate, sample_rate=sample_rate),
                            np.float32)
        loud = np.flatnonzero(np.abs(speech) > SPEECH_LEVEL)
        if loud.size == 0:
            raise ValueError(f"compose: {part.text!r} ({voice}) synthesised to silence")
        a, b = int(loud[0]), int(loud[-1]) + 1
        speech = speech[a:b]  # edges below SPEECH_LEVEL are dropped: boundaries are exact
        start, end = _ns(pos, sample_rate), _ns(pos + speech.size, sample_rate)
        spans.append((part.text, start, end))
        if part.mark:
            marks[part.mark] = (start, end)
        pieces.append(speech)
        pos += speech.size
        words.append(part.text)
    pieces.append(np.zeros(round(tail * sample_rate), np.float32))
    audio = np.concatenate(pieces)
    rng = np.random.default_rng(noise_seed)
    audio = audio + rng.normal(0.0, NOISE_RMS, audio.size).astype(np.float32)
    return Composed(np.clip(audio, -1.0, 1.0).astype(np.float32), marks, " ".join(words), spans)


def _ns(samples: int, sample_rate: int) -> int:
    return samples * S // sample_rate


# -- scenarios --------------------------------------------------------------------------------

@dataclass
class Clip:
    name: str
    scenario: str
    voice: str
    rate: int
    held_out: bool
    audio: np.ndarray = field(repr=False)
    text: str
    truth: dict[str, Any]
    spans: list[tuple[str, int, int]] = field(default_factory=list, repr=False)

    @property
    def duration(self) -> int:
        return _ns(self.audio.size, RATE)

    def meta(self) -> dict[str, Any]:
        """Everything but the audio, JSON-ready."""
        return {"name": self.name, "scenario": self.scenario, "voice": self.voice,
                "rate": self.rate, "held_out": self.held_out, "text": self.text,
                "duration": self.duration, "truth": self.truth,
                "spans": [list(s) for s in self.spans]}


def amount(rng: random.Random, low: int = 1, high: int = 9999) -> tuple[int, str]:
    """An amount and how a person says it: a spread over 1-99, 100-999 and 1000-9999,
    with "and" and "a hundred" forms. (Not "twelve hundred": the recogniser's number
    grammar leaves that form out, see nodes/asr/grammar.py.)"""
    r = rng.random()
    if high >= 1000 and (r >= 0.75 or low >= 1000):
        n = rng.randint(max(low, 1000), high)
    elif high >= 100 and r >= 0.35:
        n = rng.randint(max(low, 100), min(high, 999))
    else:
        n = rng.randint(low, min(high, 99))
    style = rng.choice(("plain", "and", "a")) if n >= 100 else "plain"
    return n, int_to_words(n, style=style)


# The talk around the triggers is in the scenario language (nodes/asr/grammar.py: phrases,
# fillers, content words), as a user of this assistant would speak to it.
_BEFORE = ("it cost", "i paid", "the ticket was", "we spent", "my coffee cost",
           "the bill was", "okay so it was", "and then the ticket was", "it costs")
_AFTER = ("for lunch", "for the ticket", "for dinner", "in the park", "on the farm",
          "okay thanks", "so that was it")


def _currency(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    n, said = amount(rng)
    unit = "dollar" if n == 1 else "dollars"
    parts: list[Part] = []
    if rng.random() < 0.85:
        parts.append(Say(rng.choice(_BEFORE)))
    parts.append(Say(f"{said} {unit}", mark="amount", gap=rng.uniform(0.05, 0.15)))
    if rng.random() < 0.7:
        parts.append(Say(rng.choice(_AFTER), gap=rng.uniform(0.05, 0.15)))
    return parts, lambda c: {"trigger": c.marks["amount"][1], "amount": n}


_STORY = ("we saw {a} near the farm", "then i saw {a}", "there was {a} in the park",
          "there was {a} in the garden", "and then we saw {a} and {b} on the farm",
          "there were {a} and {b} in the park", "we saw {a} and {b} and {c} near the farm",
          "then i saw {a} in the garden")


def _article(animal: str) -> str:
    return ("an " if animal[0] in "aeiou" else "a ") + animal


def _count(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    parts: list[Part] = []
    total = 0
    pool = rng.sample(ANIMALS, 9)  # no animal twice: "a dog ... my dog" is ambiguous
    for _ in range(rng.randint(1, 3)):
        template = rng.choice(_STORY)
        names = [pool.pop(), pool.pop(), pool.pop()]
        k = sum(f"{{{s}}}" in template for s in "abc")
        total += k
        text = template.format(a=_article(names[0]), b=_article(names[1]),
                               c=_article(names[2]))
        parts += [Say(text), Pause(rng.uniform(0.5, 1.0))]
    if rng.random() < 0.3:
        parts.append(Say("okay", gap=0))
    parts += [Say("how many animals", mark="question", gap=0.1 if len(parts) % 2 else 0),
              Say("so far", gap=0.05)]
    return parts, lambda c: {"trigger": c.marks["question"][1], "count": total}


_PLURALS = {"mouse": "mice", "wolf": "wolves", "fox": "foxes", "sheep": "sheep"}


def _numbered(rng: random.Random, animal: str) -> tuple[str, int]:
    """"a dog" (1), or half the time "two dogs" .. "twelve dogs" (sometimes up to forty)."""
    if rng.random() < 0.5:
        return _article(animal), 1
    n = rng.randint(2, 12) if rng.random() < 0.8 else rng.randint(13, 40)
    return f"{int_to_words(n)} {_PLURALS.get(animal, animal + 's')}", n


def _tally(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    parts: list[Part] = []
    total = 0
    pool = rng.sample(ANIMALS, 9)
    for _ in range(rng.randint(1, 3)):
        template = rng.choice(_STORY)
        said = [_numbered(rng, pool.pop()) for _ in range(3)]
        total += sum(n for (_, n), s in zip(said, "abc", strict=True) if f"{{{s}}}" in template)
        parts += [Say(template.format(a=said[0][0], b=said[1][0], c=said[2][0])),
                  Pause(rng.uniform(0.5, 1.0))]
    parts += [Say("how many animals", mark="question", gap=0), Say("so far", gap=0.05)]
    return parts, lambda c: {"trigger": c.marks["question"][1], "count": total}


_WHO = ("my sister", "our neighbour", "the teacher", "my friend", "everyone at work",
        "my brother", "the new manager", "her cousin")
_DID = ("called me on sunday", "is coming over later", "thinks the train will be late",
        "forgot the keys again", "likes the new cafe", "was talking about the weather",
        "wants to paint the kitchen", "went to the shop this morning", "lost the umbrella",
        "is moving to another city", "finished the report last night",
        "never answers the phone")
_REMARKS = ("it was raining all day", "i think it is going to be cold", "we watched a film",
            "that was a long meeting", "i need to go to bed early", "the bus was full again",
            "well i am not sure about that", "we should meet next week")


def _chatter(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    parts: list[Part] = []
    for k in range(rng.randint(2, 4)):
        text = (rng.choice(_REMARKS) if rng.random() < 0.4
                else f"{rng.choice(_WHO)} {rng.choice(_DID)}")
        parts += [Say(text, mark="last", gap=0 if k else 0.08), Pause(rng.uniform(0.5, 1.0))]
    return parts[:-1], lambda c: {"trigger": c.marks["last"][1]}


_INTERVAL_TALK = ("we saw a dog near the farm", "i paid for lunch",
                  "and then we saw a cat in the park", "okay", "so it was okay",
                  "there was a bird in the garden")


def _stopwatch(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    wait = rng.uniform(1.5, 9.0)
    parts: list[Part] = [Say(rng.choice(("start the stopwatch", "okay start the stopwatch")),
                             mark="start")]
    if wait > 4 and rng.random() < 0.5:
        first = rng.uniform(1.0, wait - 3.0)
        parts += [Pause(first), Say(rng.choice(_INTERVAL_TALK), gap=0),
                  Pause(rng.uniform(1.0, 2.0))]
    else:
        parts.append(Pause(wait))
    parts.append(Say("stop", mark="stop", gap=0))
    if rng.random() < 0.3:
        parts.append(Say("the stopwatch", gap=0.05))

    def truth(c: Composed) -> dict:
        started, stopped = c.marks["start"][1], c.marks["stop"][0]
        return {"trigger": c.marks["stop"][1], "started": started, "stopped": stopped,
                "elapsed": stopped - started}
    return parts, truth


def _timer(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    seconds = rng.randint(3, 15)
    unit = "second" if seconds == 1 else "seconds"
    lead = rng.choice(("remind me in", "set a timer for", "okay remind me in"))
    parts: list[Part] = [Say(f"{lead} {int_to_words(seconds)} {unit}", mark="request")]
    if seconds >= 6 and rng.random() < 0.6:  # talk while it runs, maybe over the due time
        parts += [Pause(rng.uniform(2.5, seconds - 2.0)), Say(rng.choice(_INTERVAL_TALK), gap=0)]

    def truth(c: Composed) -> dict:
        end = c.marks["request"][1]
        return {"trigger": end, "seconds": seconds, "due": end + seconds * S}
    return parts, truth


_OPS = (("times", lambda a, b: a * b), ("plus", lambda a, b: a + b),
        ("minus", lambda a, b: a - b))


def _delegation(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    word, fn = rng.choice(_OPS)
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    if word == "minus" and b > a:
        a, b = b, a
    text = f"what is {int_to_words(a)} {word} {int_to_words(b)}"
    return [Say(text, mark="question")], lambda c: {
        "trigger": c.marks["question"][1], "answer": fn(a, b), "query": text}


_AFTERTHOUGHT = ("okay and then we saw a dog in the park", "wait the ticket was for lunch",
                 "and then we saw a cat near the farm", "okay thanks")


def _bargein(rng: random.Random) -> tuple[list[Part], Callable[[Composed], dict]]:
    n, said = amount(rng, 1000, 9999)  # a long reply, so that there is one to talk over
    parts: list[Part] = [Say(rng.choice(_BEFORE)),
                         Say(f"{said} dollars", mark="amount", gap=rng.uniform(0.05, 0.15)),
                         Pause(rng.uniform(1.0, 1.5)),
                         Say(rng.choice(_AFTERTHOUGHT), mark="bargein", gap=0)]
    return parts, lambda c: {"trigger": c.marks["amount"][1], "amount": n,
                             "onset": c.marks["bargein"][0]}


_MAKERS = {"currency": _currency, "count": _count, "stopwatch": _stopwatch, "timer": _timer,
           "delegation": _delegation, "bargein": _bargein, "tally": _tally,
           "chatter": _chatter}
#: Seconds of noise after the last word: time for the reply (or the timer) to be heard.
TAILS = {"currency": 3.0, "count": 3.0, "stopwatch": 3.0, "timer": 3.0, "delegation": 5.0,
         "bargein": 3.0, "tally": 3.0, "chatter": 3.0}


def plan(scenario: str, i: int, seed: int,
         voices: Sequence[str] | None = None) -> tuple[random.Random, str, int]:
    """The random stream, voice and rate of clip ``i`` of a scenario. Every third clip
    (``i % 3 == 2``) has a held-out voice, so that even a quick run reports on them.
    ``voices``: take the voices from this list in turn instead (``bench/standin.py``);
    the texts and rates are the same either way."""
    rng = random.Random(f"{seed}:{scenario}:{i}")
    if voices:
        return rng, voices[i % len(voices)], rng.randint(130, 200)
    k = i // 3 * 2 + i % 3 + KNOWN.index(scenario)
    voice = (HELD_OUT[(i // 3 + KNOWN.index(scenario)) % len(HELD_OUT)] if i % 3 == 2
             else DEV_VOICES[k % len(DEV_VOICES)])
    return rng, voice, rng.randint(130, 200)


def make_clip(scenario: str, i: int, seed: int = 1, lead: float = LEAD,
              voices: Sequence[str] | None = None,
              synth: Callable[..., np.ndarray] | None = None) -> Clip:
    """Clip ``i`` of a scenario; ``lead``: seconds of noise floor before the first word;
    ``voices``: see ``plan``; ``synth``: see ``compose``."""
    if scenario not in _MAKERS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(KNOWN)}")
    rng, voice, rate = plan(scenario, i, seed, voices)
    parts, truth = _MAKERS[scenario](rng)
    noise = zlib.crc32(f"{seed}:{scenario}:{i}".encode())
    c = compose(parts, voice=voice, rate=rate, noise_seed=noise, lead=lead,
                tail=TAILS[scenario], synth=synth)
    t = truth(c)
    short = t.get("due", 0) + int(TAILS[scenario] * S) - _ns(c.audio.size, RATE)
    if short > 0:  # a timer: the clip lasts past its due time plus the tail
        pad = np.random.default_rng(noise + 1).normal(0.0, NOISE_RMS, short * RATE // S + 1)
        c.audio = np.concatenate((c.audio, pad.astype(np.float32)))
    return Clip(f"{scenario}-{i:03d}", scenario, voice, rate, voice in HELD_OUT, c.audio,
                c.text, t, c.spans)


def generate(scenario: str, n: int, seed: int = 1, start: int = 0,
             lead: float = LEAD, voices: Sequence[str] | None = None,
             synth: Callable[..., np.ndarray] | None = None) -> list[Clip]:
    """Clips ``start`` .. ``start + n - 1`` of a scenario (``voices``: see ``plan``;
    ``synth``: see ``compose``)."""
    return [make_clip(scenario, i, seed, lead, voices, synth) for i in range(start, start + n)]


def write_wav(path: str | Path | BinaryIO, audio: np.ndarray, sample_rate: int = RATE) -> None:
    """16-bit mono WAV to a path or a binary file; the header has no timestamp, so the
    same audio gives the same bytes."""
    pcm = np.clip(np.round(np.asarray(audio, np.float32) * 32767), -32768, 32767).astype("<i2")
    with wave.open(path if hasattr(path, "write") else str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit mono or multi-channel WAV as float32 mono and its rate."""
    with wave.open(str(path), "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    x = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, rate
