from __future__ import annotations

import pytest
import torch

from nodes.frontend.kv_cache import KVPool


def pool_with_history(rows: int = 4) -> KVPool:
    """Rows at different stages: empty, short (no wrap), wrapped, with a rewound hole."""
    pool = KVPool(layers=1, heads=1, head_dim=2, d_model=2, sink=3, window=16, slack=8,
                  rows=rows)
    for row, length in zip(range(rows), (0, 9, 61, 40), strict=True):
        if length:
            pos = torch.arange(length)
            pool.pos[row, pool.slots(pos)] = pos
    pool.pos[3, pool.slots(torch.tensor([38, 39]))] = -1  # rewound
    return pool


@pytest.mark.parametrize("m", [1, 3, 8])
def test_window_bias_is_the_visibility_rule(m: int) -> None:
    pool = pool_with_history()
    first = torch.tensor([0, 9 - m + 1, 61 - m, 38 - m])
    for k, f in enumerate(first.tolist()):  # the round's own keys are in the cache
        pos = torch.arange(f, f + m)
        pool.pos[k, pool.slots(pos)] = pos
    bias = pool.window_bias(0, 4, first, m, torch.float32)
    queries = first[:, None] + torch.arange(m)
    visible = pool.visible(pool.pos[:, None, None, :], queries[:, None, :, None])
    assert bias.shape == visible.shape
    assert torch.equal(bias, torch.where(visible, 0.0, float("-inf")))


def test_window_bias_lets_an_idle_row_see_slot_zero() -> None:
    pool = pool_with_history()
    bias = pool.window_bias(0, 2, torch.tensor([0, 9]), 2, torch.float32,
                            idle=torch.tensor([True, False]))
    assert (bias[0, 0, :, 0] == 0).all()  # the empty row attends somewhere (no NaN)
    assert torch.isinf(bias[0, 0, :, 1:]).all()
    visible = pool.visible(pool.pos[1, None, None, :], torch.tensor([9, 10])[None, :, None])
    assert torch.equal(bias[1], torch.where(visible, 0.0, float("-inf")))
