"""The one-scenario graphs answer their bundled samples right: what a user who runs
``microturn run graphs/count.yaml`` hears (on a FakeClock here; the real clock paces the
same media time)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flow import Session
from flow.clock import FakeClock
from flow.loader import load_graph
from flow.testing import harness

GRAPHS = Path(__file__).resolve().parents[2] / "graphs"


def said(name: str, tmp_path: Path) -> list[str]:
    """What the graph's front end says, in order, run from the checkout's root."""
    graph = load_graph(GRAPHS / name, overrides={"out.path": str(tmp_path / "out.wav")})
    wrapped, stores, _ = harness(graph, None, ["front.actions"])
    clock = FakeClock(deadlock_after=None)

    async def main() -> None:
        await Session(wrapped, clock=clock).run()

    clock.run(main())
    assert (tmp_path / "out.wav").stat().st_size > 44  # the replies were spoken
    return [m.text for m in stores["front.actions"] if m.kind == "speak"]


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GRAPHS.parent)  # the graphs name their samples from there


def test_count_graph(tmp_path: Path) -> None:
    assert said("count.yaml", tmp_path) == ["5 animals so far."]  # a cow, a horse, a goat, ...


def test_currency_graph_with_its_correction(tmp_path: Path) -> None:
    assert said("currency.yaml", tmp_path) == ["30 dollars is 27 euros 60.",
                                               "Sorry, 40 dollars is 36 euros 80."]


def test_stopwatch_graph(tmp_path: Path) -> None:
    started, elapsed = said("stopwatch.yaml", tmp_path)
    assert started == "Stopwatch started."
    m = re.fullmatch(r"(\d+\.\d) seconds\.", elapsed)
    # two pauses (2.0 s and 1.5 s) around "how many animals so far" (about 1.4 s)
    assert m and 4.6 <= float(m.group(1)) <= 5.2, elapsed
