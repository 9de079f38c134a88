"""TinyDuplexLM's configuration, importable without torch (graphs validate it at load)."""

from __future__ import annotations

import msgspec

ACTIONS = ("silent", "speak", "delegate")
KV_DTYPES = ("model", "float32", "bfloat16", "float16")


class TinyDuplexConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sizes of the model and of its cache. The defaults hold several sessions at a 200 ms
    cadence on a 2-core CPU."""

    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    #: key/value heads (grouped-query attention; 1 is multi-query): the cache holds only
    #: these, so a session's KV memory and the bytes each step reads shrink by n_heads/this
    n_kv_heads: int = 1
    d_ff: int = 384
    mel_channels: int = 80
    mel_levels: int = 16
    patch_size: int = 40
    max_patch_grid: int = 64  #: patch rows/columns with a position embedding
    sink_tokens: int = 4  #: attention sinks kept for ever
    window_tokens: int = 2048  #: most recent positions each query sees
    max_chunk_tokens: int = 128  #: tokens written per forward (the cache's slack)
    #: K/V storage and attention dtype: "model" (the weights' dtype) or a torch dtype name.
    #: bfloat16 halves the bytes each step reads from the cache (see docs/models.md)
    kv_dtype: str = "model"
    rope_base: float = 10000.0
    seed: int = 0  #: random init when there is no checkpoint

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_heads} heads "
                             "of even size")
        if self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} must be a multiple of n_kv_heads "
                             f"{self.n_kv_heads}")
        if self.kv_dtype not in KV_DTYPES:
            raise ValueError(f"kv_dtype must be one of {', '.join(KV_DTYPES)}, got "
                             f"{self.kv_dtype!r}")
        for name in ("n_layers", "d_ff", "window_tokens", "max_chunk_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def context_tokens(self) -> int:
        """Tokens a query can see: sinks plus window."""
        return self.sink_tokens + self.window_tokens
