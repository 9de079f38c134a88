"""Skills: what the reflex front end can do by itself, each a small plugin.

A skill reads every hypothesis of what the user said (partial ones too: reacting before
the recogniser finalises is what keeps replies under 400 ms) and answers with ``Reply``s.
It also gets ``tick(now)`` every micro-turn, for timers. Skills say which phrases and words
they listen for, so the recogniser's grammar can be built from the skills in the graph.

Third-party skills register in the ``microturn.skills`` entry-point group::

    [project.entry-points."microturn.skills"]
    weather = "my_pkg.weather:WeatherSkill"
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import msgspec

from flow.errors import FlowError
from flow.params import broken_defaults
from flow.registry import package_of

from .transcript import Transcript, Utterance, Word

log = logging.getLogger("microturn.reflex")

SKILL_GROUP = "microturn.skills"


@dataclass(frozen=True)
class Reply:
    """Something to say (``kind="speak"``) or ask the back end (``kind="delegate"``).
    ``trigger`` is the media time of the end of the words that caused it, for measuring
    reaction time; ``skill`` names who answered. ``about`` names what it answers (the
    currency skill: the media time where the amount was said); a reply that ``corrects``
    the skill's last reply about the same thing cuts that one short if it is still being
    said (the front end retracts it), instead of waiting for it to end."""

    text: str
    trigger: int
    skill: str
    kind: str = "speak"
    query: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    about: Any = None
    corrects: bool = False


class Skill:
    """Base class. Subclasses set ``name`` (the name the skill is declared under: its entry
    point's), optionally ``Params`` (a frozen msgspec Struct), the ``phrases`` /
    ``number_contexts`` / ``words`` they listen for (with ``pronunciations`` for any of
    their words the recogniser's dictionary lacks: a word -> its ARPABET phones), and
    override ``hear`` and/or ``tick``. ``hear`` returns None when the utterance is not for
    this skill; a skill that claims an utterance (returns a list, even empty) keeps it from
    being delegated."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[msgspec.Struct]]
    phrases: ClassVar[tuple[str, ...]] = ()
    number_contexts: ClassVar[tuple[str, ...]] = ()
    words: ClassVar[tuple[str, ...]] = ()
    pronunciations: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """``Params`` held to a node's rules, when the class is defined (a plugin's, when it
        is loaded): a msgspec Struct, frozen (settings are the graph's, the same in every
        session; what a skill learns goes in its own attributes), whose defaults pass its
        own constraints (a graph that leaves a field out gets the default unchecked)."""
        super().__init_subclass__(**kwargs)
        params = cls.__dict__.get("Params")
        if params is None:  # none, or inherited: checked with the class that set it
            return
        where = f"{cls.__module__}:{cls.__qualname__}"
        if not (isinstance(params, type) and issubclass(params, msgspec.Struct)):
            raise SkillDefinitionError(f"skill {where}: Params must be a msgspec.Struct")
        if not params.__struct_config__.frozen:
            raise SkillDefinitionError(
                f"skill {where}: Params must be frozen (class Params(msgspec.Struct, "
                "frozen=True, forbid_unknown_fields=True)): settings are the graph's; what the "
                "skill learns goes in its own attributes")
        if (problem := broken_defaults(params)) is not None:
            raise SkillDefinitionError(
                f"skill {where}: {problem.replace('with.', 'settings.', 1)}")

    def __init__(self, params: msgspec.Struct | None = None) -> None:
        if params is None and hasattr(type(self), "Params"):
            params = type(self).Params()  # settings are optional: its defaults
        self.params: Any = params
        self.confirm = Confirm()

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        return None

    def examples(self) -> tuple[str, ...]:
        """Phrases a first-time user could say to it, as they would type them, built from
        its settings (``convert twenty dollars to euros``): the browser suggests them, and
        ``microturn skills`` shows them. A skill without any is not suggested."""
        return ()

    def tick(self, now: int) -> list[Reply]:
        """Replies due by media time ``now`` (timers). Called every micro-turn and at
        each time ``next_due`` asked for."""
        return []

    def next_due(self) -> int | None:
        """The media time of the next reply ``tick`` will give by itself (a timer), or
        None: the front end wakes the skill exactly then instead of at the next
        micro-turn, so that a reminder is said on time, not up to a micro-turn late."""
        return None

    def vocabulary(self) -> dict[str, tuple[str, ...]]:
        """What it listens for now (a subset of the class's ``phrases``, ...). A skill whose
        state changes what it can hear (a running stopwatch hears "stop") overrides this;
        the front end sends the recogniser a new grammar when the answer changes."""
        return {"phrases": self.phrases, "number_contexts": self.number_contexts,
                "words": self.words}


class Mentions:
    """Remembers things already answered, keyed by the media time of a word, so that the
    same mention seen again in the next hypothesis is not answered twice. Word times move a
    little between hypotheses, hence the tolerance."""

    def __init__(self, tolerance: int = 350_000_000) -> None:
        self.tolerance = tolerance
        self._seen: dict[int, Any] = {}

    def find(self, t: int) -> int | None:
        for k in self._seen:
            if abs(k - t) <= self.tolerance:
                return k
        return None

    def get(self, t: int) -> Any:
        k = self.find(t)
        return None if k is None else self._seen[k]

    def add(self, t: int, value: Any = True) -> None:
        k = self.find(t)
        if k is not None:
            del self._seen[k]
        self._seen[t] = value
        if len(self._seen) > 512:
            del self._seen[next(iter(self._seen))]


class Confirm:
    """Acts on a mention once two hypotheses agree on it, or a final one has it.

    A recogniser's partial hypothesis sometimes holds, for one micro-turn, words that the
    next one drops ("two dollars" in the middle of a story). Waiting for a second partial
    costs at most one micro-turn and removes most of those false starts. ``enabled=False``
    acts on the first hypothesis."""

    def __init__(self, enabled: bool = True, tolerance: int = 350_000_000) -> None:
        self.enabled = enabled
        self._seen = Mentions(tolerance)

    def __call__(self, t: int, value: Any, final: bool) -> bool:
        before = self._seen.get(t)
        self._seen.add(t, value)
        return final or not self.enabled or before == value


def find_phrase(words: tuple[Word, ...], phrase: str) -> int | None:
    """Index of the first word of the first occurrence of ``phrase`` in ``words``."""
    target = phrase.split()
    n = len(target)
    for i in range(len(words) - n + 1):
        if all(words[i + j].text == target[j] for j in range(n)):
            return i
    return None


class SkillDefinitionError(FlowError, TypeError):
    """A skill class breaks the contract (its ``Params`` is not a frozen Struct, ...)."""


class UnknownSkill(FlowError, KeyError):
    """A name that is no skill here: not installed, or declared by a package whose skill
    cannot load (its module fails to import, it is no ``Skill``, its ``name`` is another)."""

    def __str__(self) -> str:
        return str(self.args[0])


def builtin_skills() -> dict[str, type[Skill]]:
    from .skills import BUILTIN

    return dict(BUILTIN)


def skill_names() -> list[str]:
    """Every skill name declared here: the built-in ones, then the packages' (each once),
    whether or not it loads."""
    names = list(builtin_skills())
    for ep in entry_points(group=SKILL_GROUP):
        if ep.name not in names:
            names.append(ep.name)
    return names


def load_skill(name: str) -> type[Skill]:
    """A skill class by name: built-ins first, then the ``microturn.skills`` entry points.
    A name is one skill: a package cannot take over a built-in one, and between two
    packages the first found keeps it; either way a warning names them. A skill's ``name``
    (what its replies and the log call it; the policy's fallback is the skill named
    ``delegate``, the built-in one) is the name it is declared under: a class that says
    otherwise does not load."""
    found = builtin_skills()
    declared = [ep for ep in entry_points(group=SKILL_GROUP) if ep.name == name]
    packages = sorted({package_of(ep) for ep in declared})
    clash = (name in found and declared) or len(packages) > 1
    if clash and name not in _warned:  # once a process: every session loads its skills
        _warned.add(name)
        if name in found:
            log.warning("skill %r is built in; %s declares one too, which is not used",
                        name, " and ".join(packages))
        else:
            log.warning("skill %r is declared by %s: %s's (%s) is used", name,
                        " and ".join(packages), package_of(declared[0]), declared[0].value)
    if name in found:
        return found[name]
    if declared:
        ep = declared[0]
        try:
            cls = ep.load()
        except Exception as exc:
            raise UnknownSkill(f"skill {name!r} ({ep.value}) failed to import: "
                               f"{type(exc).__name__}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Skill)):
            raise UnknownSkill(f"skill {name!r} ({ep.value}) is not a Skill subclass")
        if cls.name != name:
            says = f"names itself {cls.name!r}" if cls.name else "sets no name"
            raise UnknownSkill(f"skill {name!r} ({ep.value}) {says}: a skill's name is the "
                               f"one it is declared under (set name = {name!r} on the class)")
        return cls
    known = available_skills()
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownSkill(f"unknown skill {name!r}{hint} (skills: {', '.join(known) or 'none'})")


def available_skills() -> list[str]:
    """The names of the skills that load (``skill_names`` less the broken ones)."""
    out = []
    for name in skill_names():
        try:
            load_skill(name)
        except UnknownSkill:
            continue
        out.append(name)
    return out


_warned: set[str] = set()  #: skill names whose clash was told

