"""Raw image patches, Fuyu-style: no encoder, just pixels cut into 40x40 squares.

A frame is first resized to the configured ``(height, width)`` (aspect ratio not kept, so
every frame gives the same number of patches), then cut in raster order: patch ``k`` is at
grid row ``k // cols`` and column ``k % cols`` and holds its 40x40x3 RGB pixels flattened
row-major (4800 uint8 values). ``patches_to_frame`` puts them back exactly.

Resizing, in numpy, deterministic:

- ``nearest`` (default): output pixel ``(y, x)`` takes input pixel
  ``((2y + 1) * H // (2h), (2x + 1) * W // (2w))``, the one under its centre. Cheap: a
  gather.
- ``area``: each output pixel is the average of the input area it covers (OpenCV's
  ``INTER_AREA``), rounded to nearest. An integer factor (640x480 -> 320x240) is a box
  average (about 1.5 ms from 640x480); other factors use separable fractional weights in float32
  (about 15 ms: too slow for every micro-turn; prefer ``nearest`` or an integer factor).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PATCH = 40  #: patch side in pixels
CHANNELS = 3
PATCH_VALUES = PATCH * PATCH * CHANNELS
RESIZE_METHODS = ("nearest", "area")


def resize_frame(image: np.ndarray, height: int, width: int,
                 method: str = "nearest") -> np.ndarray:
    """``image`` (H, W, 3) uint8 -> (height, width, 3) uint8. May return ``image`` itself
    or a view of it (treat the result as read-only, like any received payload)."""
    h_in, w_in = image.shape[:2]
    if (h_in, w_in) == (height, width):
        return image
    exact = h_in % height == 0 and w_in % width == 0
    if method == "nearest":
        if exact:  # the same pixels as the general rule, by strided slicing
            fy, fx = h_in // height, w_in // width
            view: np.ndarray = image[fy // 2::fy, fx // 2::fx]
            return view
        rows, cols = _nearest_index(h_in, height), _nearest_index(w_in, width)
        picked: np.ndarray = image[rows].take(cols, axis=1)
        return picked
    if method == "area":
        if exact:
            fy, fx = h_in // height, w_in // width
            n = fy * fx
            acc = np.uint16 if n * 255 + n // 2 < 2**16 else np.uint32
            c = image.shape[2]
            rows = image.astype(acc).reshape(height, fy, w_in, c)
            total: np.ndarray = rows[:, 0].copy()
            for dy in range(1, fy):  # slice adds: much faster than sum() over small axes
                total += rows[:, dy]
            cols = total.reshape(height, width, fx, c)
            total = cols[:, :, 0] + (n // 2)
            for dx in range(1, fx):
                total += cols[:, :, dx]
            box: np.ndarray = (total // n).astype(np.uint8)
            return box
        ry, rx = _area_weights(h_in, height), _area_weights(w_in, width)
        c = image.shape[2]
        out = ry @ image.reshape(h_in, w_in * c).astype(np.float32)  # (height, W*3)
        out = out.reshape(height, w_in, c).transpose(0, 2, 1) @ rx.T  # (height, 3, width)
        area: np.ndarray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return area.transpose(0, 2, 1).copy()
    raise ValueError(f"unknown resize method {method!r}; use one of {RESIZE_METHODS}")


@lru_cache(maxsize=16)
def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    index = (2 * np.arange(n_out) + 1) * n_in // (2 * n_out)
    index.flags.writeable = False
    return index


@lru_cache(maxsize=16)
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32: the fraction of each input pixel inside each output pixel,
    rows normalised to sum to 1."""
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    left = np.arange(n_in)[None, :]
    cover = np.clip(np.minimum(hi, left + 1) - np.maximum(lo, left), 0.0, None)
    weights: np.ndarray = (cover / cover.sum(axis=1, keepdims=True)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def frame_to_patches(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8, H and W multiples of 40 -> ``patches`` (n, 4800) uint8 and
    ``positions`` (n, 2) int16 (grid row, column), raster order."""
    h, w, c = image.shape
    if h % PATCH or w % PATCH or c != CHANNELS:
        raise ValueError(f"frame of shape {image.shape} does not cut into {PATCH}x{PATCH} "
                         f"RGB patches (height and width must be multiples of {PATCH})")
    rows, cols = h // PATCH, w // PATCH
    grid = image.reshape(rows, PATCH, cols, PATCH, c).transpose(0, 2, 1, 3, 4)
    patches = np.ascontiguousarray(grid).reshape(rows * cols, PATCH_VALUES)
    return patches, _positions(rows, cols)


@lru_cache(maxsize=16)
def _positions(rows: int, cols: int) -> np.ndarray:
    pos = np.stack(np.divmod(np.arange(rows * cols), cols), axis=1).astype(np.int16)
    pos.flags.writeable = False
    return pos


def patches_to_frame(patches: np.ndarray, positions: np.ndarray, height: int,
                     width: int) -> np.ndarray:
    """The inverse of ``frame_to_patches``: place each patch at its grid position."""
    frame = np.zeros((height, width, CHANNELS), dtype=np.uint8)
    for patch, (r, c) in zip(patches, positions, strict=True):
        y, x = int(r) * PATCH, int(c) * PATCH
        frame[y:y + PATCH, x:x + PATCH] = patch.reshape(PATCH, PATCH, CHANNELS)
    return frame
