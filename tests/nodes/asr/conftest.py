"""Generated speech for the ears' tests: espeak-ng clips, padded and cut into micro-turns."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np

from nodes import espeak
from nodes.types import Chunk

RATE = 16000
PERIOD = 200_000_000
CHUNK = RATE // 5


@functools.lru_cache(maxsize=32)
def speech(text: str, voice: str = "en-us", rate: int = 150) -> np.ndarray:
    return espeak.synthesize(text, voice=voice, rate=rate, sample_rate=RATE)


@functools.lru_cache(maxsize=8)
def fresh_speech(text: str, voice: str = "en-us", rate: int = 150,
                 phoneme_input: bool = False) -> np.ndarray:
    """``speech`` from a fresh interpreter: espeak-ng's output depends on what the process
    synthesised before, so a test whose verdict hangs on a few milliseconds of sound gets
    the same samples whatever ran before it."""
    code = ("import sys; from nodes import espeak; "
            "sys.stdout.buffer.write(espeak.synthesize(sys.argv[1], voice=sys.argv[2], "
            "rate=int(sys.argv[3]), sample_rate=16000, phoneme_input=sys.argv[4] == '1')"
            ".astype('<f4').tobytes())")
    out = subprocess.run([sys.executable, "-c", code, text, voice, str(rate),
                          "1" if phoneme_input else "0"], capture_output=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    return np.frombuffer(out, "<f4").copy()


def timeline(*parts: str | float, voice: str = "en-us") -> np.ndarray:
    """Concatenate spoken texts and pauses (floats, seconds of digital silence), padded to
    whole micro-turns."""
    pieces = [np.zeros(int(p * RATE), np.float32) if isinstance(p, float)
              else speech(p, voice) for p in parts]
    audio = np.concatenate(pieces).astype(np.float32)
    return np.pad(audio, (0, -len(audio) % CHUNK))


def chunks(audio: np.ndarray, first: int = 0) -> list[Chunk]:
    return [Chunk(pts=(first + k) * PERIOD, index=first + k, period=PERIOD,
                  audio=audio[k * CHUNK:(k + 1) * CHUNK], sample_rate=RATE)
            for k in range(len(audio) // CHUNK)]
