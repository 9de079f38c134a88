"""``microturn nodes [TYPE]``: the installed node types, their ports and parameters; a
TYPE may be a class by its import path (``my_nodes:Gain``, from the current directory)."""

from __future__ import annotations

import argparse
import enum
import inspect
import sys
import types
import typing
from typing import Any

import msgspec

from ..errors import FlowError
from ..node import Node
from ..params import Duration, show
from ..registry import (
    CLASS_PATH,
    NodeTypeLoadError,
    Registry,
    UnknownNodeType,
    default_registry,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("types", nargs="*", metavar="type",
                        help="describe only these node types, in full")


def run(args: argparse.Namespace) -> int:
    reg = default_registry()
    if args.types:
        # every name checked first: UnknownNodeType / NodeTypeLoadError are FlowErrors
        for name in args.types:
            if CLASS_PATH.match(name) and name not in reg:  # my_nodes:Gain, unpackaged
                if "" not in sys.path:
                    sys.path.append("")  # from the directory it is asked from, as python -m
                reg.get(name)  # NodeTypeLoadError (a FlowError) says why not
            elif name not in reg:
                error = UnknownNodeType(name, reg.names())
                if not error.suggestions:
                    raise FlowError(f"{error}; node types: {', '.join(reg.names())}")
                raise error
        described = [describe(reg, name, reg.get(name), full=True) for name in args.types]
        print("\n\n".join(described))
        return 0
    loaded = reg.load_all()
    if not loaded:
        print("no node types installed (entry-point group microturn.nodes)")
    for i, (name, cls) in enumerate(loaded.items()):
        if i:
            print()
        if isinstance(cls, NodeTypeLoadError):
            print(f"{name}  ({reg.origin(name)})\n  unavailable: {cls}")
        else:
            print(describe(reg, name, cls, full=False))
    return 0


def describe(reg: Registry, name: str, cls: type[Node], *, full: bool) -> str:
    """A type's origin, summary, ports and parameters (``full``: the whole docstring and
    each port's and parameter's doc)."""
    origin = reg.origin(name)
    lines = [name if origin == name else f"{name}  ({origin})"]
    doc = node_doc(name, cls)
    if doc:
        text = doc if full else doc.split("\n\n")[0]
        lines += ["    " + line.rstrip() if line.strip() else "" for line in text.splitlines()]
    for spec in cls.inputs.values():
        extra = ", fan-in" if spec.fan_in else ""
        note = f"  # {spec.doc}" if full and spec.doc else ""
        lines.append(f"  in   {spec.name}: {spec.type_name}{extra}{note}")
    for spec in cls.outputs.values():
        note = f"  # {spec.doc}" if full and spec.doc else ""
        lines.append(f"  out  {spec.name}: {spec.type_name}{note}")
    fields = msgspec.structs.fields(cls.Params)
    if not fields:
        lines.append("  with (no parameters)")
    for i, f in enumerate(fields):
        desc = _description(f.type) if full else ""
        head = "  with " if i == 0 else "       "
        lines.append(f"{head}{field_text(f)}" + (f"  # {desc}" if desc else ""))
    return "\n".join(lines)


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "len >="),
           ("max_length", "len <="), ("pattern", "matching"))


def type_text(tp: Any) -> str:
    """A parameter type as a user reads it: ``int >= 8000``, ``'fast' | 'realtime'``."""
    if tp == Duration:
        return "duration"
    if tp is Ellipsis:
        return "..."
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        bounds = [f"{op} {show(getattr(meta, attr))}" for meta in args[1:]
                  if isinstance(meta, msgspec.Meta) for attr, op in _BOUNDS
                  if getattr(meta, attr) is not None]
        return type_text(args[0]) + (" " + ", ".join(bounds) if bounds else "")
    if origin is typing.Literal:
        return " | ".join(show(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_text(a) for a in args)}]" if args else name
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " | ".join(show(m.value) for m in tp)
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _description(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, msgspec.Meta) and meta.description:
                return meta.description
    return ""


def field_text(f: msgspec.structs.FieldInfo) -> str:
    """``rate: int >= 80 = 175``: a parameter's name, type and default (or "(required)")."""
    if f.default is not msgspec.NODEFAULT:
        default = f" = {show(f.default)}"
    elif f.default_factory is not msgspec.NODEFAULT:
        default = f" = {show(f.default_factory())}"
    else:
        default = "  (required)"
    return f"{f.encode_name}: {type_text(f.type)}{default}"


def node_doc(name: str, cls: type[Node]) -> str:
    """The type's docstring, or its module's where the class has none (a node in a module
    of its own is often described there), without a leading "``name``: "."""
    doc = inspect.cleandoc(cls.__doc__ or "")  # an example's indentation is kept
    if not doc:
        module = sys.modules.get(cls.__module__)
        doc = inspect.cleandoc(getattr(module, "__doc__", None) or "")
        for prefix in (f"``{name}``: ", f"``{name}`` "):
            if doc.startswith(prefix):
                doc = doc[len(prefix)].upper() + doc[len(prefix) + 1:]
                break
    return doc
