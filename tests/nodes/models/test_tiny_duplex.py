from __future__ import annotations

import msgspec
import numpy as np
import pytest
import torch

from nodes.frontend.synthetic import synthetic_turn
from nodes.models.tiny_duplex import TinyDuplexConfig, TinyDuplexLM, _rope
from nodes.types import Modality

CFG = TinyDuplexConfig(d_model=32, n_heads=4, n_kv_heads=2, d_ff=64, window_tokens=64,
                       max_chunk_tokens=32)


def test_seeded_init_is_reproducible_and_seed_dependent() -> None:
    a, b = TinyDuplexLM(CFG), TinyDuplexLM(CFG)
    c = TinyDuplexLM(msgspec.structs.replace(CFG, seed=1))
    torch.testing.assert_close(a.text.weight, b.text.weight)
    assert not torch.equal(a.text.weight, c.text.weight)


def test_dmel_frame_is_the_sum_of_one_embedding_per_channel() -> None:
    m = TinyDuplexLM(CFG)
    levels = np.random.default_rng(0).integers(0, 16, (1, 80), dtype=np.uint8)
    x = m.embed(np.array([Modality.AUDIO]), np.zeros(0), levels, np.zeros((0, 4800)),
                np.zeros((0, 2)))
    table = m.mel.weight.view(80, 16, -1)
    expect = table[torch.arange(80), torch.from_numpy(levels[0].astype(np.int64))].sum(0)
    torch.testing.assert_close(x[0], expect + m.modality.weight[Modality.AUDIO])


def test_turn_embedding_follows_the_sequence_order() -> None:
    m = TinyDuplexLM(CFG)
    t = synthetic_turn(0, text="hi", patches=3, output_slots=2)
    x = m.embed_turn(t)
    assert x.shape == (t.length - t.output_slots, CFG.d_model)
    full = m.embed_turn(t, [5, 6])
    assert full.shape == (t.length, CFG.d_model)
    torch.testing.assert_close(full[: len(x)], x)
    torch.testing.assert_close(full[-1], m.text.weight[6] + m.modality.weight[Modality.OUTPUT])


@pytest.mark.parametrize("bad", [{"d_model": 30, "n_heads": 4}, {"n_kv_heads": 3},
                                 {"kv_dtype": "int8"},
                                 {"window_tokens": 0}])
def test_config_rejects_impossible_shapes(bad: dict) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**msgspec.to_builtins(CFG), **bad}, TinyDuplexConfig)


def test_rope_as_one_complex_product_equals_the_cos_sin_form() -> None:
    """Up to float rounding (the complex kernel may fuse a multiply-add)."""
    m = TinyDuplexLM(CFG)
    pos = torch.arange(3 * 7).view(3, 7) * 977 + 3_600 * 5 * 30
    rot = m._angles(pos)
    assert isinstance(rot, torch.Tensor) and rot.is_complex()
    x = torch.randn(3, 7, CFG.n_heads + CFG.n_kv_heads, CFG.head_dim)
    expect = _rope(x, (rot.real.contiguous(), rot.imag.contiguous()))
    torch.testing.assert_close(_rope(x, rot), expect, atol=1e-6, rtol=1e-6)
    # a strided view (queries and keys sliced out of the qkv projection) too
    wide = torch.randn(3, 7, (CFG.n_heads + 2 * CFG.n_kv_heads) * CFG.head_dim)
    view = wide[..., : x.shape[2] * CFG.head_dim].view(x.shape)
    assert torch.equal(_rope(view, rot), _rope(view.contiguous(), rot))
