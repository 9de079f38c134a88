"""Generated speech for the ears' tests: espeak-ng clips, padded and cut into micro-turns."""

from __future__ import annotations

import functools

import numpy as np

from nodes import espeak
from nodes.types import Chunk

RATE = 16000
PERIOD = 200_000_000
CHUNK = RATE // 5


@functools.lru_cache(maxsize=32)
def speech(text: str, voice: str = "en-us", rate: int = 150) -> np.ndarray:
    return espeak.synthesize(text, voice=voice, rate=rate, sample_rate=RATE)


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
