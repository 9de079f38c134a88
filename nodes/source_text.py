"""``source.text``: text as a user would type it, from a file or stdin, as ``TextDelta``s.

Each non-empty line is one ``TextDelta(role=role, final=True)``; lines starting with ``#``
are comments. A line may start with a media time, ``1.2s: convert twenty dollars`` (any
duration with a unit: ``800ms``, ``1.5s``, ``2min``): it is stamped and, with ``pace:
realtime``, sent at that time. An untimed line comes ``interval`` after the line before it
(the first at 0), like someone typing one line after another; from stdin, an untimed line
is stamped when it is read, like a live keyboard. Times must not go backwards.

``pace: fast`` sends everything at once (with the same pts), for tests and batch runs.
"""

from __future__ import annotations

import re
import sys
from typing import Literal

import msgspec

from flow import Node, Out, ParamError, TextDelta
from flow.errors import no_such_file
from flow.params import Duration
from flow.units import parse_duration

_TIMED = re.compile(r"^\s*(\d+(?:\.\d*)?\s*(?:ns|us|ms|s|min|h))\s*:\s?(.*)$")


class TextSourceParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "-"  #: a text file, or "-" for stdin
    role: str = "user"
    pace: Literal["realtime", "fast"] = "realtime"
    interval: Duration = "1s"  #: time between untimed lines of a file

    def __post_init__(self) -> None:
        if self.pace not in ("realtime", "fast"):
            raise ValueError(f"pace: expected 'realtime' or 'fast', got {self.pace!r}")
        try:
            parse_duration(self.interval)
        except ValueError as exc:
            raise ValueError(f"interval: {exc}") from None


def parse_line(line: str) -> tuple[int | None, str]:
    """``'1.2s: hello'`` -> ``(1_200_000_000, 'hello')``; ``'hello'`` -> ``(None, 'hello')``."""
    m = _TIMED.match(line)
    if m is None:
        return None, line.strip()
    return parse_duration(m.group(1)), m.group(2).strip()


def parse_script(text: str, interval: int, where: str = "<text>") -> list[tuple[int, str]]:
    """Every line of a file as ``(pts, text)``, in order; ``ParamError`` names the line of
    a time that goes backwards."""
    out: list[tuple[int, str]] = []
    t = -interval
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        pts, line = parse_line(raw)
        if pts is None:
            pts = t + interval
        elif pts < t:
            raise ParamError(f"source.text: {where}:{lineno}: time {raw.split(':')[0].strip()}"
                             " is before the line above it; times must not go backwards")
        t = pts
        if line:
            out.append((pts, line))
    return out


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class TextSource(Node):
    Params = TextSourceParams
    text: Out[TextDelta]

    async def setup(self) -> None:
        p = self.params
        self._script: list[tuple[int, str]] | None = None
        if p.path == "-":
            return
        try:
            content = _read(p.path)
        except FileNotFoundError:
            raise ParamError(f"source.text: {no_such_file(p.path)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ParamError(f"source.text: {p.path}: cannot read it ({exc})") from None
        self._script = parse_script(content, parse_duration(p.interval), p.path)

    async def run(self) -> None:
        if self._script is None:
            await self._stdin()
            return
        for pts, line in self._script:
            await self._send(pts, line)

    async def _stdin(self) -> None:
        last = 0
        while True:
            raw = await self.clock.run_blocking(sys.stdin.readline)
            if not raw:
                return
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            pts, line = parse_line(raw)
            last = max(last, self.now() if pts is None else pts)
            if line:
                await self._send(last, line)

    async def _send(self, pts: int, line: str) -> None:
        if self.params.pace == "realtime" and pts > self.now():
            await self.clock.sleep_until(self.context.t0 + pts)
        await self.text.send(TextDelta(pts=pts, text=line, role=self.params.role, final=True))
