from __future__ import annotations

import pytest

from nodes.frontend.kv_cache import KVPool
from nodes.models.tiny_duplex import TinyDuplexConfig, TinyDuplexLM

SMALL = TinyDuplexConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, sink_tokens=4,
                         window_tokens=48, max_chunk_tokens=32, seed=3)


def make_pool(model: TinyDuplexLM, rows: int = 4) -> KVPool:
    c = model.cfg
    return KVPool(layers=c.n_layers, heads=c.n_heads, head_dim=c.head_dim, d_model=c.d_model,
                  sink=c.sink_tokens, window=c.window_tokens, slack=c.max_chunk_tokens,
                  rows=rows)


@pytest.fixture
def model() -> TinyDuplexLM:
    return TinyDuplexLM(SMALL)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny test models gain nothing from intra-op threads, and on a shared 2-core machine
    spinning worker threads make them many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
