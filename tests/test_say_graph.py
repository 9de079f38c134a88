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


def test_a_parameter_only_setup_can_judge_is_reported_at_its_line(tmp_path: Path, capsys,
                                                                  monkeypatch) -> None:
    """A voice espeak lacks, a file that is not there: ``check`` cannot see them (the nodes
    do not start), so ``run`` reports them as ``check`` reports a mistake: file:line, the
    node, the field where the node knows it, exit status 2."""
    from flow import cli

    monkeypatch.chdir(tmp_path)
    out = f"out.path={tmp_path / 'x.wav'}"
    text = f"text.path={ROOT / 'examples' / 'hello.txt'}"
    status = cli.main(["run", str(GRAPH), "--set", "voice.voice=en-zz", "--set", text,
                       "--set", out, "--no-uvloop"])
    lines = capsys.readouterr().err.splitlines()
    assert status == 2 and lines[-1] == "1 problem found"
    assert lines[0].startswith(f"{GRAPH}:14: node 'voice' (speech.espeak): unknown espeak-ng "
                               "voice 'en-zz'; did you mean 'en-us'")
    assert lines[0].endswith(" - at with.voice")
    status = cli.main(["run", str(GRAPH), "--set", out, "--no-uvloop"])  # from tmp_path
    lines = capsys.readouterr().err.splitlines()
    assert status == 2 and lines == [
        f"{GRAPH}:13: node 'text' (source.text): examples/hello.txt: no such file (in "
        f"{tmp_path}: relative paths are from the directory microturn runs in)",
        "1 problem found"]
