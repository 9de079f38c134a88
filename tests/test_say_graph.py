"""`microturn run graphs/say.yaml` speaks examples/hello.txt into a WAV (what `make demo`
runs), and the same graph loads and runs in-process on the fake clock."""

from __future__ import annotations

import itertools
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from flow import AudioFrame, FakeClock
from flow.loader import load_graph
from flow.testing import run_graph
from nodes import espeak

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "say.yaml"
LINES = [line for line in (ROOT / "examples" / "hello.txt").read_text().splitlines() if line]


def _segments(audio: np.ndarray, rate: int, gap: float = 0.5) -> list[tuple[float, float]]:
    """(start, end) seconds of stretches of speech separated by at least ``gap`` of quiet."""
    loud = np.nonzero(np.abs(audio) > 0.02)[0] / rate
    if loud.size == 0:
        return []
    cuts = np.nonzero(np.diff(loud) > gap)[0]
    starts = [loud[0], *loud[cuts + 1]]
    ends = [*loud[cuts], loud[-1]]
    return list(zip(starts, ends, strict=True))


def test_microturn_run_say_writes_the_spoken_text(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    cmd = [sys.executable, "-m", "flow.cli", "run", str(GRAPH), "--set", f"out.path={out}",
           "--set", "text.pace=fast"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768
    # Each line of the text is there, about as long as espeak makes it on its own.
    expected = sum(espeak.synthesize(line, sample_rate=24000).size for line in LINES) / 24000
    assert 0.85 * expected < audio.size / 24000 < 1.4 * expected
    speech = sum(end - start for start, end in _segments(audio, 24000, gap=0.05))
    assert speech > 0.6 * expected


def test_say_graph_runs_on_the_fake_clock(tmp_path: Path) -> None:
    graph = load_graph(GRAPH, overrides=[f"out.path={tmp_path / 'hello.wav'}"])
    result = run_graph(graph, outputs=["voice.audio"], clock=FakeClock())
    frames = [m for m in result.outputs["voice.audio"] if isinstance(m, AudioFrame)]
    # source.text sends one line a second; voice speaks each from its line's time or,
    # when still speaking the line before, right after it: one contiguous timeline.
    assert frames[0].pts == 0
    for a, b in itertools.pairwise(frames):
        assert b.pts == a.pts + a.duration
    audio = np.concatenate([f.samples for f in frames])
    assert len(_segments(audio, 24000, gap=0.25)) >= len(LINES)
