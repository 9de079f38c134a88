from __future__ import annotations

import pytest

from nodes.frontend.kv_cache import KVPool
from nodes.frontend.streaming_session import new_pool
from nodes.models.tiny_duplex import TinyDuplexConfig, TinyDuplexLM

SMALL = TinyDuplexConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, sink_tokens=4,
                         window_tokens=48, max_chunk_tokens=32, seed=3)


def make_pool(model: TinyDuplexLM, rows: int = 4) -> KVPool:
    return new_pool(model, rows)


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
