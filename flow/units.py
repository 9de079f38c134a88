"""Time units and duration strings. Media and clock time are integer nanoseconds."""

from __future__ import annotations

import re

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000

_UNITS = {"ns": NS, "us": US, "µs": US, "ms": MS, "s": S, "min": 60 * S, "m": 60 * S, "h": 3600 * S}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|min|m|h)\s*$")


def parse_duration(text: str) -> int:
    """``"200ms"`` -> 200_000_000. Units are required: a bare number is ambiguous."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"expected a duration with a unit like '200ms' or '1.5s', got {text!r}")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def format_duration(ns: int) -> str:
    """The shortest exact-ish spelling: 200_000_000 -> '200ms'."""
    for unit, scale in (("s", S), ("ms", MS), ("us", US)):
        if ns % scale == 0 and ns >= scale:
            return f"{ns // scale}{unit}"
    if ns >= MS:
        return f"{ns / MS:g}ms"
    return f"{ns}ns"
