"""Node parameters: a plain mapping (``with:`` in YAML) checked against a node's ``Params``.

msgspec stops at the first problem and only rejects unknown fields when the Struct says
``forbid_unknown_fields``; a graph author wants every problem at once, and a plugin's
Params may have forgotten the flag. ``convert_params`` therefore checks the names itself
(unknown, with a did-you-mean; missing required), then converts, and after each msgspec
error drops the offending field and tries again, so each bad field is reported once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

Path = tuple[str | int, ...]

#: What ``flow.units.parse_duration`` accepts (also valid as an ECMA regex, for schemas).
DURATION_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|min|m|h)\s*$"
#: A parameter that is a duration with a unit (``200ms``, ``1.5s``), checked when the graph
#: loads, so a typo is reported with its line instead of failing at start-up::
#:
#:     class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
#:         period: Duration = "200ms"      # in setup(): parse_duration(self.params.period)
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN,
                                       description="a duration with a unit: 200ms, 1.5s")]
_EXPECTED_DURATION = "Expected a duration with a unit like '200ms' or '1.5s'"

_AT = re.compile(r"^(?P<msg>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field (\S+)")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


@dataclass(frozen=True)
class ParamProblem:
    """One problem with one parameter: ``path`` inside ``with`` (empty: ``with`` itself)."""

    path: Path
    message: str
    hint: str = ""  #: did-you-mean and the list of known names, after the location

    @property
    def where(self) -> str:
        """``with.rate``, ``with.voices[0]``, or ``with``."""
        return "with" + format_path(self.path)


def format_path(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def param_names(params_type: type[msgspec.Struct]) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(params_type)]


def convert_params(params_type: type[msgspec.Struct], raw: Any
                   ) -> tuple[msgspec.Struct | None, list[ParamProblem]]:
    """Convert ``raw`` to ``params_type``. Returns the Struct (None if there was any
    problem) and every problem found. ``None`` means no parameters given."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, [ParamProblem((), "parameters must be a mapping of names to values, "
                                       f"got {describe(raw)}")]
    fields = msgspec.structs.fields(params_type)
    names = [f.encode_name for f in fields]
    problems: list[ParamProblem] = []
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key in names:
            data[key] = value
            continue
        close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(names) if names else "none"
        problems.append(ParamProblem(
            (key,), f"unknown parameter {key!r}", f"{hint} (parameters: {known})"))
    missing = [f.encode_name for f in fields if f.required and f.encode_name not in data]
    for name in missing:
        problems.append(ParamProblem((), f"missing required parameter {name!r}",
                                     f" (parameters: {', '.join(names)})"))
    dropped: set[str] = set()
    durations = {f.encode_name: f.type == Duration for f in fields}
    for _ in range(len(data) + 1):
        try:
            params = msgspec.convert(data, params_type, strict=False)
        except msgspec.ValidationError as exc:
            message, path = split_error(str(exc))
            if len(path) == 1 and durations.get(str(path[0])):
                message = _EXPECTED_DURATION
            if path and path[0] in data:
                hint = ""
                if message.startswith("Invalid enum value") and len(path) == 1:
                    hint = _choices_hint(params_type, str(path[0]), data[str(path[0])])
                elif _WORD_AS_BOOL.match(message):
                    hint = ("; YAML reads yes, no, on, off, true and false as booleans: "
                            "quote the word to mean the word ('no', \"on\")")
                problems.append(ParamProblem(path, with_value(message, raw, path), hint))
                dropped.add(str(path[0]))
                del data[str(path[0])]
                continue
            # msgspec checks for missing fields after converting the present ones: if it
            # misses one already reported (missing or dropped), every field has been seen.
            m = _MISSING.match(message)
            if m is None or not (missing or m.group(1) in dropped):
                problems.append(ParamProblem(path, message))
            break
        # A plugin's __post_init__ may raise anything; it is still a parameter problem.
        except Exception as exc:
            problems.append(ParamProblem((), f"parameters rejected: {type(exc).__name__}: {exc}"))
            break
        return (None if problems else params), problems
    return None, problems


#: a string (or a choice of words) expected where YAML read yes/no/on/off as a boolean
_WORD_AS_BOOL = re.compile(r"^Expected (?=[^,]*\b(str|'))[^,]*, got bool")


def _choices_hint(params_type: type[msgspec.Struct], name: str, value: Any) -> str:
    """``; did you mean 'fast'? (choices: 'fast', 'realtime')`` for a Literal or Enum."""
    for f in msgspec.inspect.type_info(params_type).fields:  # type: ignore[attr-defined]
        if f.encode_name != name:
            continue
        info = f.type
        while isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        if isinstance(info, msgspec.inspect.LiteralType):
            values = list(info.values)
        elif isinstance(info, msgspec.inspect.EnumType):
            values = [m.value for m in info.cls]
        else:
            return ""
        close = difflib.get_close_matches(str(value), [str(v) for v in values], n=1,
                                          cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{hint} (choices: {', '.join(show(v) for v in values)})"
    return ""


def split_error(text: str) -> tuple[str, Path]:
    """``"Expected `int` >= 8000 - at `$.rate`"`` -> ``("Expected int >= 8000", ("rate",))``."""
    m = _AT.match(text)
    if m is None:  # pragma: no cover - the pattern matches any text
        return text.replace("`", ""), ()
    message = m.group("msg").replace("`", "")
    path: list[str | int] = []
    for key, index in _STEP.findall(m.group("path") or ""):
        if index == "...":  # msgspec does not say which entry of a mapping
            message += " (in one of its values)"
            break
        path.append(int(index) if index else key)
    if m.group("key"):
        message += " (in one of its keys)"
    return message, tuple(path)


#: msgspec's message about a value of the wrong kind, perhaps after a prefix ("options: ")
_MSGSPEC_WORDS = re.compile(r"(?:^|: )(?:Expected|Invalid) ")


def with_value(message: str, raw: Any, path: Path) -> str:
    """Add the offending value to msgspec's message, which names only its type
    (``Expected ...``, ``Invalid ...``, after whatever a ``__post_init__`` that passed it
    on put before it). Other messages say what they mean: an unknown field's (the value is
    not the mistake, the name is), a ``__post_init__``'s own words."""
    if not _MSGSPEC_WORDS.search(message):
        return message
    value: Any = raw
    for p in path:
        try:
            value = value[p]
        except (KeyError, IndexError, TypeError):
            return message
    shown = show(value)
    if message.endswith(" " + shown):  # msgspec named it already (enum values)
        return message
    if ", got " in message:
        return f"{message} {shown}" if not isinstance(value, (dict, list)) else message
    return f"{message}, got {shown}"


def show(value: Any, limit: int = 60) -> str:
    """A value as a user wrote it, shortened."""
    text = repr(value) if isinstance(value, str) else msgspec_repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def msgspec_repr(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def describe(value: Any) -> str:
    """``"a list ([1, 2])"``: the YAML kind of a value and the value."""
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "nothing (null)"}
    kind = kinds.get(type(value), type(value).__name__)
    return kind if value is None else f"{kind} ({show(value)})"


def unannotated(params_type: type[msgspec.Struct]) -> str | None:
    """A ``Params`` class attribute written without a type (``times = 2``), or None: it is
    no field, so ``with: {times: 3}`` would be refused as an unknown parameter."""
    fields = set(params_type.__struct_fields__)
    for klass in params_type.__mro__:
        if klass is msgspec.Struct or not issubclass(klass, msgspec.Struct):
            continue
        annotated = vars(klass).get("__annotations__", {})  # ClassVar[...] included
        for name, value in vars(klass).items():
            if name.startswith("_") or name in fields or name in annotated or callable(value) \
                    or isinstance(value, (property, classmethod, staticmethod)):
                continue
            return (f"Params.{name} = {value!r} has no type, so it is no parameter: write "
                    f"'{name}: {type(value).__name__} = {value!r}' (or, for a constant, "
                    f"'{name}: ClassVar[...]', or a name starting with '_')")
    return None


def broken_defaults(params_type: type[msgspec.Struct]) -> str | None:
    """What is wrong with a ``Params``' own defaults (``gain: Annotated[float,
    Meta(le=3)] = 10``), or None: a graph that leaves the field out gets the default
    unchecked, so a default its own constraints refuse would run silently."""
    defaults: dict[str, Any] = {}
    for f in msgspec.structs.fields(params_type):
        if f.default is not msgspec.NODEFAULT:
            defaults[f.encode_name] = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            defaults[f.encode_name] = f.default_factory()
    try:
        msgspec.convert(msgspec.to_builtins(defaults), params_type, strict=False)
    except msgspec.ValidationError as exc:
        message, path = split_error(str(exc))
        if _MISSING.match(message):  # a required field: it has no default to check
            return None
        return f"the default of with{format_path(path)} breaks its own constraint: {message}"
    except Exception:  # a __post_init__ that needs a required field; nothing to say
        return None
    return None
