"""`microturn run graphs/echo.yaml` gives back the input audio, sample for sample."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "echo.yaml"
LINE_SRC = 16  #: the line of the graph that declares its source


def write_wav(path: Path, x: np.ndarray, rate: int) -> None:
    """int16 samples ``(n,)`` or ``(n, channels)`` to a WAV file."""
    channels = 1 if x.ndim == 1 else x.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")


def echo(src: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "flow.cli", "run", str(GRAPH),
           "--set", f"src.path={src}", "--set", f"out.path={out}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def speechlike(n: int, channels: int = 1) -> np.ndarray:
    """Noise bursts and silences: every sample value matters, nothing is periodic."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 6000, (n, channels)).clip(-32768, 32767)
    x[n // 3: n // 2] = 0
    return x.astype(np.int16)[:, 0] if channels == 1 else x.astype(np.int16)


def test_echo_is_sample_exact(tmp_path: Path) -> None:
    n = 16_000 * 137 // 100  # 1.37 s: not a whole number of micro-turns
    x = speechlike(n)
    write_wav(tmp_path / "in.wav", x, 16_000)
    echo(tmp_path / "in.wav", tmp_path / "out.wav")
    rate, y = read_wav(tmp_path / "out.wav")
    assert rate == 16_000
    assert len(y) == 7 * 3200  # padded to whole chunks
    np.testing.assert_array_equal(y[:n], x)
    assert not y[n:].any()


def test_echo_matches_the_resampled_input(tmp_path: Path) -> None:
    """A 44.1 kHz stereo file: the output is exactly PyAV's resampling of it to 16 kHz
    mono (the chunker and the sink add nothing and lose nothing)."""
    x = speechlike(44_100, channels=2)
    write_wav(tmp_path / "in.wav", x, 44_100)
    echo(tmp_path / "in.wav", tmp_path / "out.wav")
    _, y = read_wav(tmp_path / "out.wav")

    resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
    parts = []
    with av.open(str(tmp_path / "in.wav")) as c:
        for frame in c.decode(audio=0):
            parts += [r.to_ndarray().ravel() for r in resampler.resample(frame)]
    parts += [r.to_ndarray().ravel() for r in resampler.resample(None)]
    ref = np.concatenate(parts)
    ref16 = np.clip(np.rint(ref * 32768.0), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(y[:len(ref16)], ref16)
    assert not y[len(ref16):].any() and len(y) - len(ref16) < 3200


def test_a_missing_input_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    cmd = [sys.executable, "-m", "flow.cli", "run", str(GRAPH), "--set", f"src.path={missing}",
           "--set", f"out.path={tmp_path / 'out.wav'}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2  # a graph mistake, reported at its line as check would
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{GRAPH}:{LINE_SRC}: node 'src' (source.file): {missing}: no such file",
        "1 problem found"]
