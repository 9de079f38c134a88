"""dMel: log-mel audio quantised to 4 bits per channel, streaming and sans-IO.

Definition (all of it fixed; a model trained on these tokens depends on every number):

- 16 kHz mono samples as float (``[-1, 1]`` is full scale), 80 mel channels.
- Frame ``i`` is the 800 samples (50 ms) that END at sample ``200 * (i + 1)``: frames
  advance by 200 samples (12.5 ms), so 3200 samples (one 200 ms micro-turn) give exactly
  16 frames and a frame never waits for future audio. Samples before t=0 are zeros.
- Each frame is multiplied by a periodic Hann window and transformed with an 800-point
  ``rfft`` (401 bins, 20 Hz apart). Power is ``re**2 + im**2`` scaled by
  ``(2 / sum(window))**2``, so a full-scale sine has about 0 dB in its bin.
- Mel filterbank: 80 HTK-mel triangles (``2595 * log10(1 + f / 700)``) from 0 Hz to
  8 kHz, peak weight 1, no area normalisation.
- Quantisation, FIXED range: ``level = clip(floor((dB - DB_MIN) / DB_STEP), 0, 15)`` with
  ``dB = 10 * log10(mel)``, ``DB_MIN = -96`` and ``DB_STEP = 6``: level 0 is anything below
  -90 dB (digital silence included), level 15 is -6 dB and above. 16 levels of 6 dB span
  the 96 dB of 16-bit audio. In code the comparison is made against the 15 level
  thresholds converted to linear power (``THRESHOLDS``): the same decision without a log.

Streaming equals offline exactly. ``DMelStream.push`` keeps the last 600 samples (the
window overlap) plus any remainder of less than a frame, and computes each frame from the
same 800 samples with operations whose per-frame result does not depend on how many frames
are computed together: elementwise ufuncs, ``numpy.fft.rfft`` (one transform per row), a
fixed-order sum over the filterbank taps (no BLAS, no pairwise summation) and exact
comparisons. ``dmel(signal)`` is one ``push`` of the whole signal, so it is the same
definition, and any split of the signal into chunks gives bit-identical levels.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
N_MELS = 80
WINDOW = 800  #: samples per frame (50 ms)
HOP = 200  #: samples between frame ends (12.5 ms)
HISTORY = WINDOW - HOP  #: samples carried from one push to the next
LEVELS = 16  #: 4 bits per channel
DB_MIN = -96.0  #: bottom of the fixed range (dB re full scale)
DB_STEP = 6.0  #: dB per level
F_MIN = 0.0
F_MAX = SAMPLE_RATE / 2


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank() -> np.ndarray:
    """The (80, 401) triangle weights, float64: row m is mel channel m over rfft bins."""
    lo, hi = _hz_to_mel(np.array([F_MIN, F_MAX]))
    edges = _mel_to_hz(np.linspace(lo, hi, N_MELS + 2))
    freqs = np.arange(WINDOW // 2 + 1) * (SAMPLE_RATE / WINDOW)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    weights: np.ndarray = np.maximum(0.0, np.minimum(rising, falling))
    return weights


def hann_window() -> np.ndarray:
    """Periodic Hann window of ``WINDOW`` samples (float64)."""
    n = np.arange(WINDOW)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WINDOW)


def _taps(fb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filterbank as (80, taps) bin indices and weights: each channel's nonzero bins,
    padded with weight 0 (adding 0.0 leaves a finite sum unchanged)."""
    nonzero = [np.flatnonzero(row) for row in fb]
    taps = max(len(nz) for nz in nonzero)
    index = np.zeros((N_MELS, taps), dtype=np.intp)
    weight = np.zeros((N_MELS, taps))
    for m, nz in enumerate(nonzero):
        index[m, :len(nz)] = nz
        weight[m, :len(nz)] = fb[m, nz]
    return index, weight


_WINDOW = hann_window()
_TAP_INDEX, _TAP_WEIGHT = _taps(mel_filterbank())
#: Linear-power thresholds of levels 1..15, in the unscaled ``|rfft|**2`` domain.
THRESHOLDS = (10.0 ** ((DB_MIN + DB_STEP * np.arange(1, LEVELS)) / 10.0)
              / (2.0 / _WINDOW.sum()) ** 2)


def _frames_to_levels(frames: np.ndarray) -> np.ndarray:
    """(n, 800) float64 frames -> (n, 80) uint8 levels. Row-independent by construction."""
    spec = np.fft.rfft(frames * _WINDOW, axis=-1)
    power = spec.real * spec.real + spec.imag * spec.imag
    gathered = power[:, _TAP_INDEX] * _TAP_WEIGHT  # (n, 80, taps)
    mel = gathered[:, :, 0].copy()
    for t in range(1, gathered.shape[2]):  # fixed order: the same sum for every frame
        mel += gathered[:, :, t]
    levels = np.searchsorted(THRESHOLDS, mel.ravel(), side="right")
    out: np.ndarray = levels.astype(np.uint8).reshape(mel.shape)
    return out


class DMelStream:
    """Streaming dMel of one signal. ``push(samples)`` returns the levels of every frame
    completed by those samples: ``(n, 80)`` uint8, ``n = (carried + len(samples)) // 200``
    where fewer than 200 samples are carried over. Frame numbering continues across pushes
    (``frames`` counts them). ``reset()`` forgets the past, as at t=0."""

    def __init__(self) -> None:
        self._buf = np.zeros(HISTORY)
        self.frames = 0

    def reset(self) -> None:
        self._buf = np.zeros(HISTORY)
        self.frames = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples)
        if x.ndim == 2:  # (n, channels): mix down to mono
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise ValueError(f"dMel wants mono samples of shape (n,), got shape {x.shape}")
        if x.dtype.kind == "i":  # PCM integers: full scale is 2**(bits-1)
            x = x / float(np.iinfo(x.dtype).max + 1)
        buf = np.concatenate((self._buf, x.astype(np.float64, copy=False)))
        n = (buf.shape[0] - HISTORY) // HOP
        if n == 0:
            self._buf = buf
            return np.zeros((0, N_MELS), dtype=np.uint8)
        frames = np.lib.stride_tricks.sliding_window_view(buf, WINDOW)[: n * HOP : HOP]
        levels = _frames_to_levels(frames)
        self._buf = buf[n * HOP:].copy()
        self.frames += n
        return levels


def dmel(samples: np.ndarray) -> np.ndarray:
    """Offline dMel of a whole signal (from t=0): ``(len // 200, 80)`` uint8 levels.
    The same definition as ``DMelStream``: any chunking of ``samples`` gives these."""
    return DMelStream().push(samples)


def level_of_db(db: float) -> int:
    """The level a mel energy of ``db`` (dB re full scale) gets, by the documented formula
    (for tests and documentation; the hot path compares against ``THRESHOLDS``)."""
    return int(min(LEVELS - 1, max(0, np.floor((db - DB_MIN) / DB_STEP))))
