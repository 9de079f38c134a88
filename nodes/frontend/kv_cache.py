"""A preallocated pool of ring-buffer KV caches, one row per streaming session.

Every tensor is allocated once, on the model's device, when the pool is made (or when it
grows because more sessions attach than it has rows): a step never allocates cache memory,
so a session of hours uses exactly the memory of a session of minutes.

Layout of one row (``capacity = sink + window + slack`` slots):

- slots ``[0, sink)`` hold the first ``sink`` positions for ever (attention sinks);
- the other slots are a ring: position ``p >= sink`` lives in slot
  ``sink + (p - sink) % (window + slack)``.

A query at position ``q`` sees the sinks and the positions in ``(q - window, q]``. The
``slack`` slots beyond the window make it safe to write up to ``slack`` new tokens before
attending: the slots they overwrite hold positions that no query of the chunk can see, so
the cache is attended in place, without concatenating (copying) it every layer.

Per slot the pool also keeps the token's input embedding and its absolute position (``-1``
for empty): the tokens a session keeps, from which a wiped KV cache is re-prefilled.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T", torch.Tensor, np.ndarray)


class KVPool:
    """K and V of every layer for ``rows`` sessions, plus their kept tokens.

    ``k``/``v``: ``(layers, rows, heads, capacity, head_dim)``; ``emb``: ``(rows,
    capacity, d_model)``; ``pos``: ``(rows, capacity)`` int64 absolute positions.
    """

    def __init__(self, *, layers: int, heads: int, head_dim: int, d_model: int, sink: int,
                 window: int, slack: int, rows: int = 4, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, kv_dtype: torch.dtype | None = None
                 ) -> None:
        if window <= 0 or slack <= 0 or sink < 0:
            raise ValueError(f"bad cache geometry: sink={sink} window={window} slack={slack}")
        self.layers, self.heads, self.head_dim, self.d_model = layers, heads, head_dim, d_model
        self.sink, self.window, self.slack = sink, window, slack
        self.capacity = sink + window + slack
        self.device = torch.device(device)
        self.dtype = dtype  #: of the kept embeddings (the model's)
        self.kv_dtype = kv_dtype or dtype  #: of K and V
        self.rows = 0
        self._free: list[int] = []
        self._tables: dict[tuple[int, torch.dtype], torch.Tensor] = {}
        self.k = self.v = self.emb = self.pos = torch.empty(0)
        self._allocate(rows)

    def _allocate(self, rows: int) -> None:
        old = self.rows
        shape = (self.layers, rows, self.heads, self.capacity, self.head_dim)
        kw: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        kv = {**kw, "dtype": self.kv_dtype}
        k, v = torch.zeros(shape, **kv), torch.zeros(shape, **kv)
        emb = torch.zeros(rows, self.capacity, self.d_model, **kw)
        pos = torch.full((rows, self.capacity), -1, dtype=torch.long, device=self.device)
        if old:
            k[:, :old], v[:, :old] = self.k, self.v
            emb[:old], pos[:old] = self.emb, self.pos
        self.k, self.v, self.emb, self.pos = k, v, emb, pos
        self._free.extend(range(old, rows))
        self.rows = rows

    def acquire(self) -> int:
        """A free row (the lowest, so that active rows stay contiguous). Doubles the pool
        when it is full: the only time cache memory is (re)allocated."""
        if not self._free:
            self._allocate(max(1, self.rows * 2))
        self._free.sort()
        row = self._free.pop(0)
        self.clear(row)
        return row

    def release(self, row: int) -> None:
        self.clear(row)
        self._free.append(row)

    def clear(self, row: int) -> None:
        """Forget everything of a row: KV, kept tokens, positions."""
        self.pos[row] = -1
        self.wipe_kv(row)

    def wipe_kv(self, row: int) -> None:
        """Zero the KV of a row but keep its tokens (for re-prefill after an error)."""
        self.k[:, row] = 0
        self.v[:, row] = 0

    def swap(self, a: int, b: int) -> None:
        """Exchange the contents of rows ``a`` and ``b`` (the caller swaps their owners'
        row numbers): how a batch's speaking sessions are made contiguous, so that their
        decode forwards attend over a slice of the pool (a view) instead of every row."""
        if a == b:
            return
        idx = torch.tensor([a, b], device=self.device)
        rev = idx.flip(0)
        self.k[:, idx] = self.k[:, rev]
        self.v[:, idx] = self.v[:, rev]
        self.emb[idx] = self.emb[rev]
        self.pos[idx] = self.pos[rev]

    def slots(self, positions: T) -> T:
        """Slot index of each absolute position (a tensor, or a numpy array)."""
        ring = self.window + self.slack
        where = np.where if isinstance(positions, np.ndarray) else torch.where
        return where(positions < self.sink, positions,  # type: ignore[return-value]
                     self.sink + (positions - self.sink) % ring)

    def visible(self, key_pos: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        """Which keys each query attends to: ``key_pos (..., 1, C)`` against ``query_pos
        (..., m, 1)``. The same rule defines the reference (uncached) forward."""
        # Two comparisons at full size (the per-key terms fold into the key positions):
        # an empty slot is never at or before a query, a sink is never too old.
        never = torch.iinfo(key_pos.dtype).max // 2
        key_new = torch.where(key_pos < 0, never, key_pos)
        key_old = torch.where(key_pos < self.sink, never, key_pos)
        return (key_new <= query_pos) & (key_old > query_pos - self.window)

    def window_bias(self, lo: int, hi: int, first: torch.Tensor, m: int,
                    dtype: torch.dtype, idle: torch.Tensor | None = None) -> torch.Tensor:
        """The rule of ``visible`` as an additive attention bias (0 / -inf) ``(B, 1, m, C)``
        for rows ``lo..hi`` whose queries ``t < m`` are at positions ``first[b] + t``.

        A key is seen by an interval of those queries, ``[a, b)`` (``a``: the first at or
        after it, ``b``: the first too far past it), so the bias is ONE gather from a small
        table of the ``(m + 1) ** 2`` interval patterns, instead of comparing every query
        with every key. The result is a view with the query axis outermost (attention reads
        it as it is). Rows flagged ``idle`` (padding: no query of theirs is used) see
        slot 0, so that no row of the attention is empty."""
        key = self.pos[lo:hi]
        never = torch.iinfo(key.dtype).max // 2
        start = first[:, None]
        a = torch.where(key < 0, never, key).sub_(start).clamp_(0, m)
        b = torch.where(key < self.sink, never, key).sub_(start).add_(self.window).clamp_(0, m)
        idx = a.mul_(m + 1).add_(b)
        if idle is not None:
            idx[:, 0].masked_fill_(idle, m)  # the interval [0, m): every query
        table = self._interval_table(m, dtype)
        bias = table.index_select(1, idx.view(-1)).view(m, hi - lo, 1, -1)
        return bias.permute(1, 2, 0, 3)

    def _interval_table(self, m: int, dtype: torch.dtype) -> torch.Tensor:
        """``table[t, a * (m + 1) + b]``: 0 where ``a <= t < b``, else -inf."""
        key = (m, dtype)
        table = self._tables.get(key)
        if table is None:
            t = torch.arange(m, device=self.device)[:, None]
            ab = torch.arange(m + 1, device=self.device)
            a, b = ab.repeat_interleave(m + 1), ab.repeat(m + 1)
            table = torch.where((a <= t) & (t < b), 0.0, float("-inf")).to(dtype)
            if m <= 64:  # the sizes of steps and decoding; a prefill's are built each time
                self._tables[key] = table
        return table

    def kept(self, row: int, before: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The tokens a next query at position ``before`` can see: (embeddings, positions),
        oldest first. Re-prefilling them rebuilds the KV that matters."""
        pos = self.pos[row]
        keep = self.visible(pos, torch.tensor(before, device=self.device)) & (pos < before)
        idx = torch.nonzero(keep).squeeze(1)
        order = torch.argsort(pos[idx])
        idx = idx[order]
        return self.emb[row, idx], pos[idx]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.k, self.v, self.emb, self.pos))

    def row_nbytes(self) -> int:
        return self.nbytes() // max(1, self.rows)
