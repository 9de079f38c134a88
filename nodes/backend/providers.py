"""Back-end providers: where delegated questions get answered.

A provider is any object with ``name`` and ``answer(request) -> AsyncIterator[str]``
(text pieces, streamed as they come) and optionally ``async close()``. It raises
``ProviderError`` for a failure the user should hear about.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Protocol

from flow.errors import FlowError

from ..types import DelegateRequest
from .tools import ToolBox, ToolError, format_number


class ProviderError(FlowError):
    """The provider could not answer (unreachable, HTTP error, malformed reply)."""


class Provider(Protocol):
    name: str

    def answer(self, request: DelegateRequest) -> AsyncIterator[str]: ...


_OPS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/",
        "over": "/", "to the power of": "**"}
_ARITH = re.compile(
    r"(?P<a>[\w\s-]+?)\s+(?P<op>plus|minus|times|multiplied by|divided by|over|"
    r"to the power of)\s+(?P<b>[\w\s-]+)")


def _operand(words: str, *, leading: bool) -> float | None:
    """The number that starts (``leading``) or ends the words, the longest that parses:
    "nineteen please" -> 19, "so what is seven" -> 7 (talk around a question stays)."""
    parts = words.split()
    for k in range(len(parts), 0, -1):
        value = _number(" ".join(parts[:k] if leading else parts[-k:]))
        if value is not None:
            return value
    return None


def _number(words: str) -> float | None:
    words = words.strip().removeprefix("what is ").removeprefix("what's ").strip()
    try:
        return float(words)
    except ValueError:
        pass
    from ..asr.numbers import words_to_int

    try:
        return float(words_to_int(words))
    except ValueError:
        return None


class ToolsProvider:
    """Offline provider: runs the request's tool if it names one, else answers spoken
    arithmetic ("what is twelve times seven"). Anything else is a ``ProviderError``:
    without a model, the honest answer is that it cannot answer."""

    name = "tools"

    def __init__(self, toolbox: ToolBox | None = None) -> None:
        self.toolbox = toolbox or ToolBox()

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        if request.tool:
            try:
                yield self.toolbox.call(request.tool, dict(request.args))
            except ToolError as exc:
                raise ProviderError(str(exc)) from exc
            return
        text = re.sub(r"[^\w\s.-]", " ", request.query.lower())
        m = _ARITH.search(text)
        if m:
            a = _operand(m.group("a").split(" is ")[-1], leading=False)
            b = _operand(m.group("b"), leading=True)
            if a is not None and b is not None:
                try:
                    from .tools import calculate
                    value = calculate(f"{a!r}{_OPS[m.group('op')]}{b!r}")
                except ToolError as exc:
                    raise ProviderError(str(exc)) from exc
                yield f"{format_number(a)} {m.group('op')} {format_number(b)} is {value}."
                return
        raise ProviderError("no offline answer for that question")
