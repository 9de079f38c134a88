"""Raw 40x40 patches reassemble to the (resized) frame exactly; resizing is as documented."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.fusion.patches import (
    PATCH,
    PATCH_VALUES,
    frame_to_patches,
    patches_to_frame,
    resize_frame,
)


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 8), cols=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_patches_reassemble_to_the_frame(rows: int, cols: int, seed: int) -> None:
    frame = image(rows * PATCH, cols * PATCH, seed)
    patches, pos = frame_to_patches(frame)
    assert patches.shape == (rows * cols, PATCH_VALUES) and patches.dtype == np.uint8
    assert pos.dtype == np.int16
    np.testing.assert_array_equal(patches_to_frame(patches, pos, *frame.shape[:2]), frame)


def test_320x240_gives_48_raster_ordered_patches() -> None:
    frame = image(240, 320)
    patches, pos = frame_to_patches(frame)
    assert patches.shape == (48, 40 * 40 * 3)
    assert pos[:9].tolist() == [[0, c] for c in range(8)] + [[1, 0]]
    assert pos[-1].tolist() == [5, 7]
    # Patch 9 is grid row 1, column 1: pixels [40:80, 40:80], flattened row-major.
    np.testing.assert_array_equal(patches[9], frame[40:80, 40:80].ravel())


@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (500, 700), (120, 160)])
def test_resize_to_the_configured_size_then_reassemble(shape: tuple[int, int]) -> None:
    for method in ("nearest", "area"):
        small = resize_frame(image(*shape), 240, 320, method)
        assert small.shape == (240, 320, 3) and small.dtype == np.uint8
        patches, pos = frame_to_patches(small)
        np.testing.assert_array_equal(patches_to_frame(patches, pos, 240, 320), small)


@pytest.mark.parametrize("shape", [(480, 640), (720, 1280), (500, 700), (241, 333)])
def test_nearest_takes_the_pixel_under_each_output_centre(shape: tuple[int, int]) -> None:
    src = image(*shape, seed=4)
    out = resize_frame(src, 240, 320, "nearest")
    h, w = shape
    for y, x in [(0, 0), (239, 319), (100, 17), (57, 300)]:
        sy, sx = (2 * y + 1) * h // 480, (2 * x + 1) * w // 640
        assert (out[y, x] == src[sy, sx]).all()


def test_area_with_an_integer_factor_is_a_rounded_box_average() -> None:
    src = image(480, 640, seed=2)
    out = resize_frame(src, 240, 320, "area")
    box = src.reshape(240, 2, 320, 2, 3).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_array_equal(out, np.floor(box + 0.5).astype(np.uint8))


def test_area_with_a_fractional_factor_keeps_flat_colour_and_averages() -> None:
    flat = np.full((500, 700, 3), 77, np.uint8)
    assert (resize_frame(flat, 240, 320, "area") == 77).all()
    stripes = np.zeros((240, 480, 3), np.uint8)
    stripes[:, 1::2] = 200  # alternate columns: every output pixel covers 1.5 columns
    out = resize_frame(stripes, 240, 320, "area")
    assert set(np.unique(out)) <= {67, 133}


def test_same_size_is_untouched_and_bad_input_is_refused() -> None:
    frame = image(240, 320)
    assert resize_frame(frame, 240, 320) is frame
    with pytest.raises(ValueError, match="multiples of 40"):
        frame_to_patches(image(250, 320))
    with pytest.raises(ValueError, match="unknown resize method"):
        resize_frame(image(100, 100), 40, 40, "cubic")
