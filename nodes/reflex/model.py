"""The reflex as a front-end model (``frontend`` with ``model: reflex``): the embedded,
offline default behind the same model slot as the torch model.

    front:
      use: frontend
      with:
        model: reflex
        options:
          skills: [currency, count, stopwatch, timer, delegate]
          settings: {currency: {rates: {dollars: 0.92}, target: euros}}

It hears the recogniser's hypotheses through the front end's ``heard`` input and answers at
once (``hear``); every micro-turn (``step``) it reads the user's loudness from the turn's
dMel tokens (for barge-in), fires due timers and speaks back-end answers when the user is
quiet.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Literal

import msgspec

from flow import ParamError, S, SessionContext
from flow.errors import FlowError
from flow.params import param_names

from ..types import BackendResult, FusedTurn
from .policy import Decision, ReflexPolicy, TurnInput, dmel_level
from .skill import Skill, UnknownSkill, load_skill, skill_names

MS = 1_000_000
log = logging.getLogger("microturn.reflex")


#: The skills a reflex front end runs when its options name none.
DEFAULT_SKILLS = ("currency", "count", "stopwatch", "timer", "delegate")


class ReflexOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    skills: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SKILLS))
    #: per-skill parameters, by skill name (each skill's own Params)
    settings: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    #: dMel level (0-15, 6 dB a level) above which a micro-turn has voice in it
    voice_level: float = 5.0
    #: silent micro-turns before voice counts as the user starting to talk (barge-in)
    quiet_turns: int = 2
    period_ms: int = 200
    #: act on a mention once two hypotheses agree (or a final has it), not on the first
    #: partial: one micro-turn later, far fewer false starts
    confirm: bool = True
    apology: str = "Sorry, I could not get an answer to that."

    def __post_init__(self) -> None:
        # Each mistake names its place in the options (the front end roots it at
        # ``with.options``): "- at `$.settings.count.category`".
        for i, name in enumerate(self.skills):
            if name in self.skills[:i]:  # it would answer twice
                raise msgspec.ValidationError(
                    f"skill {name!r} is listed twice - at `$.skills[{i}]`")
            try:
                cls = load_skill(name)  # raises, naming the known skills
            except UnknownSkill as exc:
                raise msgspec.ValidationError(f"{exc} - at `$.skills[{i}]`") from None
            raw = self.settings.get(name)
            if raw is not None and not hasattr(cls, "Params"):
                raise msgspec.ValidationError(
                    f"skill {name!r} takes no settings - at `$.settings.{name}`")
            skill_params(name, cls, raw)
        for name in self.settings:
            if name not in self.skills:
                raise msgspec.ValidationError(
                    f"settings for {name!r}, which is not in skills - at `$.settings.{name}`")


def skill_params(name: str, cls: type[Skill], raw: dict[str, Any] | None) -> Any:
    """A skill's ``Params`` from its settings (its defaults where there are none), or None
    for a skill without ``Params``; a mistake is a ``ValidationError`` at its place."""
    if not hasattr(cls, "Params"):
        return None
    names = param_names(cls.Params)
    for key in raw or {}:  # whether or not its Params forbids unknown fields: a typo
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise msgspec.ValidationError(
                f"skill {name!r}: unknown setting {key!r}{hint} (settings: "
                f"{', '.join(names) or 'none'}) - at `$.settings.{name}.{key}`")
    try:
        return msgspec.convert(raw or {}, cls.Params)
    except msgspec.ValidationError as exc:
        msg, _, path = str(exc).partition(" - at `$")
        raise msgspec.ValidationError(
            f"skill {name!r}: {msg} - at `$.settings.{name}{path or '`'}") from None


def build_skills(options: ReflexOptions) -> list[Skill]:
    """The skills, made. A skill that cannot start ends the session: its ``FlowError``
    (``ParamError``: a rates file that is not there) is a mistake in its settings, which
    ``microturn run`` reports as the graph mistake it is; anything else is its bug."""
    skills = []
    for name in options.skills:
        cls = load_skill(name)
        params = skill_params(name, cls, options.settings.get(name))
        try:
            skill = cls(params) if params is not None else cls()
        except FlowError as exc:
            raise settings_problem(name, exc) from exc
        except Exception as exc:
            raise RuntimeError(f"skill {name!r} ({cls.__module__}:{cls.__qualname__}) failed "
                               f"to start: {type(exc).__name__}: {exc}") from exc
        skill.confirm.enabled = options.confirm
        skills.append(skill)
    return skills


def settings_problem(name: str, exc: FlowError) -> ParamError:
    """A skill's ``FlowError`` at start as a ``ParamError`` at its settings: ``skill
    'rates': ... - at with.options.settings.rates.path``. The skill's own `` - at path``
    is read within its settings (``path``, `` `$.path` ``), or kept if it starts at
    ``with.``."""
    message, sep, where = str(exc).rpartition(" - at ")
    if not sep:
        message, where = str(exc), ""
    where = where.strip().strip("`").removeprefix("$").removeprefix(".")
    if not where.startswith("with."):
        root = f"with.options.settings.{name}"
        where = root + (where if not where or where.startswith("[") else f".{where}")
    return ParamError(f"skill {name!r}: {message} - at {where}")


def skills_vocabulary(skills: list[Skill]) -> dict[str, list[str]]:
    """What the recogniser's grammar needs to hear these skills now, on top of the scenario
    language it knows by default (which was tuned on the built-in skills); of the default
    phrases, those a skill owns are in only when the skill listens for them now."""
    from ..asr.grammar import DEFAULT_NUMBER_CONTEXTS, DEFAULT_PHRASES, DEFAULT_WORDS

    now = [s.vocabulary() for s in skills]
    owned = {p for s in skills for p in s.phrases}  # the skills say which of theirs, now
    return {"phrases": sorted((set(DEFAULT_PHRASES) - owned) | {p for v in now
                                                                for p in v["phrases"]}),
            "number_contexts": sorted(set(DEFAULT_NUMBER_CONTEXTS)
                                      | {c for v in now for c in v["number_contexts"]}),
            "words": sorted(set(DEFAULT_WORDS) | {w for v in now for w in v["words"]})}


def skills_pronunciations(skills: list[Skill]) -> dict[str, tuple[str, ...]]:
    """The words these skills bring that the recogniser's dictionary may lack, with their
    phones (every skill's, in order, each pronunciation once)."""
    out: dict[str, tuple[str, ...]] = {}
    for skill in skills:
        for word, phones in skill.pronunciations.items():
            out[word] = tuple(dict.fromkeys((*out.get(word, ()), phones)))
    return out


class ReflexModel:
    Options = ReflexOptions

    @staticmethod
    def options_schema() -> type[msgspec.Struct]:
        """``ReflexOptions`` as editors should see it (``microturn schema``): ``skills``
        from the installed ones, each skill's ``settings`` its own ``Params``."""
        names = skill_names()
        fields: list[tuple[str, Any, Any]] = []
        for name in names:
            try:
                params = getattr(load_skill(name), "Params", None)
            except UnknownSkill:  # a broken plugin: its settings stay free
                params = dict[str, Any]
            if params is not None:
                fields.append((name, params | None, None))
        settings = msgspec.defstruct("ReflexSettings", fields, frozen=True,
                                     forbid_unknown_fields=True)
        skill_name = Literal[tuple(names)]  # type: ignore[valid-type]
        own = [(f.name, f.type, f.default if f.default is not msgspec.NODEFAULT
                else msgspec.field(default_factory=f.default_factory))
               for f in msgspec.structs.fields(ReflexOptions)
               if f.name not in ("skills", "settings")]
        return msgspec.defstruct(
            "ReflexOptions",
            [("skills", list[skill_name], msgspec.field(
                default_factory=lambda: list(DEFAULT_SKILLS))),
             ("settings", settings, msgspec.field(default_factory=dict)), *own],
            frozen=True, forbid_unknown_fields=True)

    @classmethod
    async def open(cls, options: ReflexOptions, context: SessionContext) -> ReflexSession:
        return ReflexSession(options, context)


class ReflexSession:
    def __init__(self, options: ReflexOptions, context: SessionContext) -> None:
        self.options = options
        self.context = context
        self.skills = build_skills(options)
        self.policy = ReflexPolicy(self.skills, quiet_turns=options.quiet_turns,
                                   apology=options.apology)
        self.period = options.period_ms * MS
        self.now = 0
        self.decisions = 0

    def vocabulary(self) -> dict[str, list[str]]:
        on = [s for s in [*self.policy.skills, *self.policy.fallback]
              if self.policy.ask(s, "vocabulary") is not None]  # a failing one goes off
        return skills_vocabulary(on)

    def pronunciations(self) -> dict[str, tuple[str, ...]]:
        """Phones for the skills' words the recogniser's dictionary may lack."""
        return skills_pronunciations([*self.policy.skills, *self.policy.fallback])

    async def step(self, turn: FusedTurn) -> list[Any]:
        self.now = max(self.now, turn.pts + self.period)
        voice = dmel_level(turn.dmel) >= self.options.voice_level
        return self._outputs(self.policy.step(
            TurnInput(turn.index, turn.pts, turn.pts + self.period, voice=voice)))

    def hear(self, msg: Any) -> list[Any]:
        self.now = max(self.now, getattr(msg, "end", 0) or msg.pts)
        return self._outputs(self.policy.hear(msg, self.now))

    def next_due(self) -> int | None:
        """Media time of the next reply due by itself (a timer): the front end node wakes
        the model then (``fire``), between micro-turns."""
        return self.policy.next_due()

    def fire(self, now: int) -> list[Any]:
        self.now = max(self.now, now)
        return self._outputs(self.policy.fire(now))

    def drain(self) -> list[Any]:
        """The end of input: what is still to be said (back-end answers that waited for a
        pause); what will never be (questions unanswered, timers not due yet) is logged."""
        out = self._outputs(self.policy.drain(self.now))
        for query in self.policy.unanswered:
            log.warning("session %s: the input ended before the back end answered %r",
                        self.context.id, query)
        due = self.policy.next_due()
        if due is not None:
            log.info("session %s: the input ended %.1f s before a timer was due",
                     self.context.id, (due - self.now) / S)
        return out

    def interrupt(self) -> None:
        self.policy.interrupt(self.now)

    def add_result(self, result: BackendResult) -> None:
        self.policy.add_result(result)

    async def close(self) -> None:
        pass

    def statistics(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "skills_failed": dict(self.policy.failed)}

    def _outputs(self, decisions: list[Decision]) -> list[Any]:
        from ..frontend.models import StepOutput

        out = []
        for d in decisions:
            self.decisions += 1
            data = {"trigger": d.trigger, "skill": d.skill, **d.data}
            if d.kind == "interrupt":
                out.append(StepOutput("silent", interrupt=True, data=data))
                continue
            if d.kind == "retract":
                out.append(StepOutput("silent", retract=True, data=data))
                continue
            if d.text:
                out.append(StepOutput("speak", d.text, final=True, data=data))
            if d.kind == "delegate" and d.request is not None:
                out.append(StepOutput("delegate", d.request.query,
                                      data={**data, "request_id": d.request.id}))
        return out
