"""What a node class must be, checked when it is defined (``Node.__init_subclass__``):
a plugin author's mistake is a ``NodeDefinitionError`` at import, naming the class, not a
puzzle at run time."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import msgspec

from .errors import NodeDefinitionError
from .params import broken_defaults, unannotated
from .ports import declared_ports


def define(cls: Any, base: Any) -> None:
    """Give ``cls`` (a subclass of ``base``, flow.Node) its ports, and refuse what would
    break it: ``Params`` not a frozen Struct or with a default its constraints refuse, a
    parameter without a type, a port named like the node's own attributes, a pull-style
    input with no ``run()`` to read it, handlers that are not ``async def`` (or an
    ``on_interrupt`` that is), a helper that would replace one the engine runs."""
    inputs, outputs = declared_ports(cls)
    cls.inputs, cls.outputs = inputs, outputs
    name = cls.__qualname__
    params = cls.__dict__.get("Params", cls.Params)
    if not (isinstance(params, type) and issubclass(params, msgspec.Struct)):
        raise NodeDefinitionError(f"node {name}: Params must be a msgspec.Struct")
    if not params.__struct_config__.frozen:  # one graph's params serve every session
        raise NodeDefinitionError(
            f"node {name}: Params must be frozen (class Params(msgspec.Struct, "
            "frozen=True)): every session of a served graph shares them")
    if (problem := unannotated(params) or broken_defaults(params)) is not None:
        raise NodeDefinitionError(f"node {name}: {problem}")
    for port in (*inputs, *outputs):  # a port named like the node's own attributes
        if port in public_names(base):
            raise NodeDefinitionError(
                f"node {name}: a port cannot be named {port!r}: flow.Node's own {port!r} "
                f"has that name (call the port e.g. {port}_in or {port}_out)")
    has_run = cls.run is not base.run
    cancels_run = has_run and any(p.push for p in inputs.values())
    cls._inline_out = cls.inline_delivery and not cancels_run
    pull = [p for p in inputs.values() if not p.push]
    if pull and not has_run:
        raise NodeDefinitionError(
            f"node {name}: input {pull[0].name!r} has no handler 'on_{pull[0].name}' and "
            "the node has no run() to read it")
    must_be_async = ["setup", "run", "on_end", "teardown"]
    must_be_async += [f"on_{p.name}" for p in inputs.values() if p.push]
    for method in must_be_async:
        if not inspect.iscoroutinefunction(getattr(cls, method)):
            raise NodeDefinitionError(f"node {name}: {method}() must be 'async def'")
    for attr in cls.__dict__:  # a node's own helper must not replace the engine's
        if attr in engine_names(base) and cls.__dict__[attr] is not base.__dict__.get(attr):
            raise NodeDefinitionError(
                f"node {name}: {attr!r} would replace flow.Node's own {attr}, which the "
                "engine runs the node with: give it another name")
    if inspect.iscoroutinefunction(cls.on_interrupt):
        raise NodeDefinitionError(
            f"node {name}: on_interrupt() must be a plain 'def': it runs at once, where the "
            "interrupt is sent, and must not wait")


@functools.cache
def engine_names(base: type) -> frozenset[str]:
    """Node's private names (methods and attributes the engine uses): a subclass that
    defines one of its own breaks the node in ways that are hard to see."""
    return frozenset(n for n in vars(base) if n.startswith("_") and not n.startswith("__")
                     and n != "_inline_out")  # set per class by define


@functools.cache
def public_names(base: type) -> frozenset[str]:
    """Public names a node already has (methods, class attributes, and what ``__init__``
    sets): a port by one of them would be overwritten, or overwrite it."""
    return frozenset(n for n in dir(base) if not n.startswith("_")) | {
        "id", "params", "context", "clock", "log", "received", "interrupts",
        "end"}  # a port 'end' would have on_end, the end-of-input hook, as its handler
