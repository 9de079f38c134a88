"""The reflex policy: one deterministic step per micro-turn, sans-IO.

Each step takes what arrived in the micro-turn (hypotheses of what the user said, typed
text, back-end results, the loudness of the user's audio) and decides: stay silent, speak,
delegate, or interrupt itself. It is the embedded default behind the front end's model
interface: a trained model would make the same decisions from tokens.

Turn-taking rules (documented so that they can be argued with):
- Skills answer as soon as a hypothesis, partial or final, contains what they need.
- Back-end answers wait until the user is not talking (no voice this micro-turn and no
  utterance in progress), then are spoken.
- Barge-in: the user starting to talk (voice after ``quiet_turns`` silent micro-turns)
  while the model is speaking makes the model stop at once: an interrupt decision.
  Talking *on* through a reply (the currency scenario) is not a barge-in.
- Self-correction: a reply that corrects the one being said (a later hypothesis heard the
  amount otherwise) first retracts it: what is being said stops at once, then the
  correction is said. Only the last reply queued is retracted, so that nothing queued
  behind it is lost with it; back-end work goes on.
- A skill that raises is switched off for the rest of the session (logged as a warning
  with its traceback, listed in ``failed``); the other skills and the session go on.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..types import BackendResult, DelegateRequest
from .skill import Reply, Skill
from .transcript import Transcript

S = 1_000_000_000
log = logging.getLogger("microturn.reflex")


@dataclass
class TurnInput:
    index: int
    start: int  #: media time the micro-turn began (ns)
    end: int  #: media time it ended: "now" for this step
    heard: list[Any] = field(default_factory=list)  #: TextDelta / Heard, in arrival order
    results: list[BackendResult] = field(default_factory=list)
    voice: bool = False  #: the user's audio in this micro-turn has voice in it


@dataclass
class Decision:
    kind: str  #: "speak" | "delegate" | "interrupt" | "retract"
    text: str = ""
    trigger: int = 0
    skill: str = ""
    request: DelegateRequest | None = None
    data: dict[str, Any] = field(default_factory=dict)


def level_db(samples: np.ndarray) -> float:
    """RMS level of float samples in dBFS (-120 for silence)."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 1e-6 else -120.0


def dmel_level(dmel: np.ndarray) -> float:
    """Loudness of a micro-turn from its dMel tokens: the loudest frame's mean level
    (0..15, 6 dB per level). Speech is around 6-9, a quiet room 0-2."""
    if dmel.size == 0:
        return 0.0
    return float(dmel.mean(axis=1).max())


class ReflexPolicy:
    def __init__(self, skills: list[Skill], *, quiet_turns: int = 2,
                 chars_per_second: float = 14.0, apology: str = "Sorry, I could not get an "
                 "answer to that.") -> None:
        self.skills = [s for s in skills if s.name != "delegate"]
        self.fallback = [s for s in skills if s.name == "delegate"]
        self.transcript = Transcript()
        self.quiet_turns = quiet_turns
        self.chars_per_second = chars_per_second
        self.apology = apology
        self.speaking_until = 0
        self.speaking_since = 0
        self._quiet = quiet_turns  # silent micro-turns in a row
        self._answers: deque[tuple[str, BackendResult]] = deque()
        self._ids = itertools.count(1)
        self._asked: dict[int, str] = {}
        self.conversation: deque[tuple[str, str]] = deque(maxlen=16)
        self._last_said: tuple[str, Any] | None = None  # (skill, about) of the last reply
        #: skills switched off after raising: name -> what they raised
        self.failed: dict[str, str] = {}

    def speaking(self, now: int) -> bool:
        return now < self.speaking_until

    def hear(self, msg: Any, now: int) -> list[Decision]:
        """A hypothesis (partial or final) or typed text arrived: skills answer at once."""
        out: list[Decision] = []
        utt = self.transcript.update(msg)
        if utt.final and utt.words:
            self.conversation.append(("user", utt.raw or utt.text))
        claimed = False
        for skill in list(self.skills):
            replies = self.ask(skill, "hear", utt, self.transcript)
            if replies is not None:
                claimed = True
                for r in replies:
                    if r.corrects and r.about is not None and self.speaking(now) \
                            and self._last_said == (r.skill, r.about):
                        out.append(Decision("retract", trigger=r.trigger, skill=r.skill,
                                            data={"reason": "correction"}))
                        self.speaking_until = now
                    out.append(self._decide(r, now))
        if not claimed:
            for skill in list(self.fallback):
                out += [self._decide(r, now)
                        for r in self.ask(skill, "hear", utt, self.transcript) or []]
        return out

    def step(self, turn: TurnInput) -> list[Decision]:
        """The micro-turn's step: barge-in, what arrived in it, timers, queued answers."""
        now = turn.end
        out: list[Decision] = []
        onset = turn.voice and self._quiet >= self.quiet_turns
        self._quiet = 0 if turn.voice else self._quiet + 1
        if onset and self.speaking(now) and now - self.speaking_since >= turn.end - turn.start:
            out.append(Decision("interrupt", trigger=turn.start, data={"reason": "barge-in"}))
            self.speaking_until = now
        for msg in turn.heard:
            out += self.hear(msg, now)
        out += self.fire(now)
        for res in turn.results:
            self.add_result(res)
        user_busy = turn.voice or self.transcript.current is not None
        while self._answers and not user_busy and not self.speaking(now):
            text, res = self._answers.popleft()
            out.append(self._decide(Reply(text, res.pts, "backend",
                                          data={"request": res.id}), now))
        return out

    def drain(self, now: int) -> list[Decision]:
        """The end of input: the answers that waited for the user to pause are said now
        (nobody is talking any more), one after the other."""
        out = []
        while self._answers:
            text, res = self._answers.popleft()
            out.append(self._decide(Reply(text, res.pts, "backend",
                                          data={"request": res.id}), now))
        return out

    @property
    def unanswered(self) -> list[str]:
        """The questions sent to the back end that no final answer has come for."""
        return list(self._asked.values())

    def next_due(self) -> int | None:
        """The media time at which a skill has a reply due by itself (a timer), if any."""
        return min((d for s in [*self.skills, *self.fallback]
                    if (d := self.ask(s, "next_due")) is not None), default=None)

    def fire(self, now: int) -> list[Decision]:
        """What the skills have due at ``now`` (between micro-turns: a timer's time)."""
        return [self._decide(r, now) for skill in [*self.skills, *self.fallback]
                for r in self.ask(skill, "tick", now) or []]

    def ask(self, skill: Skill, method: str, *args: Any) -> Any:
        """``skill.method(*args)``; a skill that raises is switched off (a plugin's bug
        must not end the user's session), its error logged with the traceback."""
        try:
            return getattr(skill, method)(*args)
        except Exception as exc:
            name = skill.name or type(skill).__name__
            self.failed[name] = f"{method}(): {exc!r}"
            self.skills = [s for s in self.skills if s is not skill]
            self.fallback = [s for s in self.fallback if s is not skill]
            log.warning("skill %r failed in %s() and is off for the rest of the session",
                        name, method, exc_info=exc)
            return None

    def interrupt(self, now: int) -> None:
        """The model was cut off (barge-in from elsewhere): it is not speaking any more."""
        self.speaking_until = min(self.speaking_until, now)

    def add_result(self, res: BackendResult) -> None:
        if res.id not in self._asked:
            return  # superseded or not ours
        if res.error is not None:
            self._answers.append((self.apology, res))
        elif res.text:
            self._answers.append((res.text, res))
        if res.final:
            self._asked.pop(res.id, None)

    def _decide(self, reply: Reply, now: int) -> Decision:
        request = None
        if reply.kind == "delegate":
            rid = next(self._ids)
            self._asked[rid] = reply.query
            request = DelegateRequest(pts=now, id=rid, query=reply.query,
                                      context=tuple(self.conversation)[:-1])
        if reply.text:
            if not self.speaking(now):
                self.speaking_since = now
            start = max(now, self.speaking_until)
            self.speaking_until = start + int(len(reply.text) / self.chars_per_second * S)
            self.conversation.append(("model", reply.text))
            self._last_said = (reply.skill, reply.about)
        return Decision(reply.kind, reply.text, reply.trigger, reply.skill, request,
                        dict(reply.data))
