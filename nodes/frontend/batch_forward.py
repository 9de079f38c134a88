"""Batched cached forwards: many streaming sessions' new tokens through ONE forward.

The batch spans the pool rows of the sessions in it (a row not in it is padding), each
session at its own positions, shorter inputs padded and masked. A forward is assembled with
a fixed number of torch calls whatever its size: the per-session bookkeeping (lengths,
rows, slots) is numpy, the sessions' inputs are embedded by one call (``embed_steps``) and
their deferred own tokens by another. ``StreamingSession`` and ``step_batch``
(``nodes.frontend.streaming_session``) are built on ``forward_batch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import torch

from nodes.models.tiny_duplex import CacheView, TinyDuplexLM
from nodes.types import TOK_SILENT, FusedTurn, Modality

from .kv_cache import KVPool

if TYPE_CHECKING:
    from .streaming_session import StreamingSession

Item = tuple["StreamingSession", torch.Tensor, torch.Tensor | None]


def forward_batch(model: TinyDuplexLM, pool: KVPool, items: Sequence[Item],
                  last_only: bool = False) -> list[torch.Tensor]:
    """Append embeddings ``x (m_i, d)`` to each session (at positions ``pos`` or, when
    None, right after its sequence, behind its deferred own tokens) in batched forwards of
    at most ``pool.slack`` tokens per session; returns each session's final hidden states
    ``(m_i, d)`` (of ``x``: not of the deferred tokens written with it), or with
    ``last_only`` only that of its last position ``(1, d)`` (cheaper: see
    ``TinyDuplexLM.forward_cached``).

    Stale sessions are re-prefilled first. If a forward raises, the sessions in it are
    marked stale (their tokens before this call, deferred ones included, are kept) and the
    error propagates.
    """
    for s, _, _ in items:
        if s.stale:
            s._reprefill()
    if not items:
        return []
    deferred = [t for s, _, p in items if p is None for t in s.deferred]
    own = None  # every session's deferred tokens, embedded in one call
    if deferred:
        own = model.embed_outputs(torch.tensor(deferred, dtype=torch.long, device=pool.device))
    parts, lens, skips, starts, explicit = [], [], [], [], []
    k = 0
    for s, x, pos in items:
        skip = len(s.deferred) if pos is None else 0
        if skip:
            assert own is not None
            parts.append(own[k:k + skip].to(x.dtype))
            k += skip
        parts.append(x)
        lens.append(skip + x.shape[0])
        skips.append(skip)
        starts.append(s.length)
        explicit.append(pos)
    flat = torch.cat(parts) if len(parts) > 1 else parts[0]
    contiguous = all(p is None for p in explicit)
    if contiguous:
        positions = contiguous_positions(starts, lens)
    else:
        positions = np.concatenate([
            p.cpu().numpy().astype(np.int64) if p is not None else np.arange(b, b + n)
            for p, b, n in zip(explicit, starts, lens, strict=True)])
    hs = forward_flat(model, pool, [s for s, _, _ in items], flat, lens, positions,
                      last_only, contiguous)
    ends = positions
    off = 0
    for (s, _, _), h, n, skip in zip(items, hs, lens, skips, strict=True):
        off += n
        if n:
            s.length = max(s.length, int(ends[off - 1]) + 1)
            s._hist = [h[-1]]
        if skip:
            s.deferred = []
    if last_only:
        return hs
    return [h[skip:] if skip else h for h, skip in zip(hs, skips, strict=True)]


def contiguous_positions(starts: Sequence[int], lens: Sequence[int]) -> np.ndarray:
    """Positions ``starts[i] .. starts[i] + lens[i]`` of each session, concatenated."""
    lens_a = np.asarray(lens, dtype=np.int64)
    shift = np.asarray(starts, dtype=np.int64) - (np.cumsum(lens_a) - lens_a)
    positions: np.ndarray = np.arange(int(lens_a.sum()), dtype=np.int64)
    positions += np.repeat(shift, lens_a)
    return positions


def forward_flat(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
                 flat: torch.Tensor, lens: Sequence[int], positions: np.ndarray,
                 last_only: bool, contiguous: bool) -> list[torch.Tensor]:
    """Run each session's segment of ``flat`` (``lens[i]`` tokens at ``positions``, int64
    on the host;
    ``contiguous``: each segment's are consecutive) in rounds of at most ``pool.slack``
    tokens per session. Returns each session's hidden states ``(lens[i], d)``, or ``(1, d)``
    of its last token with ``last_only``."""
    slack = pool.slack
    if max(lens) <= slack:
        return _forward_round(model, pool, sessions, flat, lens, positions, last_only,
                              contiguous)
    lens_a = np.asarray(lens, dtype=np.int64)
    begins = np.cumsum(lens_a) - lens_a
    outs: list[list[torch.Tensor]] = [[] for _ in sessions]
    for off in range(0, int(lens_a.max()), slack):
        part = [i for i in range(len(sessions)) if lens[i] > off]
        n = [min(slack, lens[i] - off) for i in part]
        idx = np.concatenate([np.arange(begins[i] + off, begins[i] + off + k)
                              for i, k in zip(part, n, strict=True)])
        hs = _forward_round(model, pool, [sessions[i] for i in part],
                            flat[torch.from_numpy(idx).to(flat.device)], n, positions[idx],
                            last_only, contiguous)
        for i, h in zip(part, hs, strict=True):
            outs[i].append(h)
    if last_only:
        return [o[-1] for o in outs]
    return [torch.cat(o) if len(o) != 1 else o[0] for o in outs]


def _forward_round(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
                   flat_x: torch.Tensor, lens: Sequence[int], positions: np.ndarray,
                   last_only: bool, contiguous: bool) -> list[torch.Tensor]:
    """One batched forward over pool rows ``lo..hi`` (a view of the cache, never a copy);
    rows without a session of the round are padding. Built with a constant number of torch
    calls, whatever the number of sessions (the index bookkeeping is numpy)."""
    dev = pool.device
    row_list = [s.row for s in sessions]
    if any(a > b for a, b in pairwise(row_list)):  # make it row-major
        order = sorted(range(len(sessions)), key=row_list.__getitem__)
        lens_a = np.asarray(lens, dtype=np.int64)
        begins = np.cumsum(lens_a) - lens_a
        idx = np.concatenate([np.arange(begins[i], begins[i] + lens[i]) for i in order])
        hs = _forward_round(model, pool, [sessions[i] for i in order],
                            flat_x[torch.from_numpy(idx).to(dev)], [lens[i] for i in order],
                            positions[idx], last_only, contiguous)
        out = [hs[0]] * len(sessions)
        for k, i in enumerate(order):
            out[i] = hs[k]
        return out
    lo, hi, m = row_list[0], row_list[-1] + 1, max(lens)
    lens_a = np.asarray(lens, dtype=np.int64)
    rows_a = np.repeat(np.asarray(row_list, dtype=np.int64), lens_a)
    # rows, slots and positions of the real tokens: one transfer
    rows, slots, pos_t = torch.from_numpy(
        np.stack((rows_a, pool.slots(positions), positions))).to(dev).unbind(0)
    if len(sessions) == hi - lo and int(lens_a.min()) == m:  # every row, m tokens each
        x_b, pos_b = flat_x.view(hi - lo, m, -1), pos_t.view(hi - lo, m)
        real = None
    else:
        cols = np.arange(len(rows_a)) - np.repeat(np.cumsum(lens_a) - lens_a, lens_a)
        real_a = (rows_a - lo) * m + cols
        real = torch.from_numpy(real_a).to(dev)
        x_b = flat_x.new_zeros(((hi - lo) * m, pool.d_model))
        x_b[real] = flat_x
        x_b = x_b.view(hi - lo, m, -1)
        pos_a = np.zeros((hi - lo) * m, dtype=np.int64)
        pos_a[real_a] = positions
        pos_b = torch.from_numpy(pos_a.reshape(hi - lo, m)).to(dev)
    # Positions and kept embeddings first: the mask reads them. The slots overwritten held
    # positions no query of this round can see (the cache's slack guarantees it).
    pool.pos[rows, slots] = pos_t
    pool.emb[rows, slots] = flat_x.to(pool.dtype)
    if contiguous:  # each session's queries are consecutive positions
        idle = None
        if len(sessions) != hi - lo:  # rows not in the round
            idle_a = np.ones(hi - lo, dtype=bool)
            idle_a[np.asarray(row_list) - lo] = False
            idle = torch.from_numpy(idle_a).to(dev)
        mask = pool.window_bias(lo, hi, pos_b[:, 0], m, pool.kv_dtype, idle)
    else:
        visible = pool.visible(pool.pos[lo:hi, None, None, :], pos_b[:, None, :, None])
        if real is not None:  # padding queries attend somewhere (no NaN rows)
            pad = np.ones((hi - lo) * m, dtype=bool)
            pad[real_a] = False
            visible.view(-1, visible.shape[-1])[torch.from_numpy(pad).to(dev), 0] = True
        mask = torch.where(visible, 0.0, float("-inf")).to(pool.kv_dtype)
    keep = None
    if last_only:
        keep_a = np.zeros(hi - lo, dtype=np.int64)
        keep_a[np.asarray(row_list) - lo] = lens_a - 1
        keep = torch.from_numpy(keep_a).to(dev)
    view = CacheView(pool, lo, hi, rows, slots, real, mask)
    try:
        h = model.forward_cached(x_b, pos_b, view, keep)
    except BaseException:
        pool.pos[rows, slots] = -1  # this round never happened
        for s in sessions:
            s.stale = True
        raise
    if last_only:
        return list(h[torch.from_numpy(np.asarray(row_list) - lo).to(dev)].unbind(0))
    return [h[r - lo, :n] for r, n in zip(row_list, lens, strict=True)]


def embed_steps(model: TinyDuplexLM, sessions: Sequence[StreamingSession],
                 turns: Sequence[Sequence[FusedTurn]]) -> tuple[torch.Tensor, list[int]]:
    """The new positions of each session's step, in order: its deferred own tokens, its
    missed turns (OUTPUT slots ``TOK_SILENT``), its latest turn's input; all sessions'
    embedded by one ``model.embed`` call (the same values as embedding each apart)."""
    mods: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    dmel: list[np.ndarray] = []
    patches: list[np.ndarray] = []
    patch_pos: list[np.ndarray] = []
    lens = []
    for s, pending in zip(sessions, turns, strict=True):
        n = len(s.deferred)
        if n:
            mods.append(np.full(n, Modality.OUTPUT, dtype=np.uint8))
            ids.append(np.asarray(s.deferred, dtype=np.int64))
        for k, t in enumerate(pending):
            inputs = t.length - t.output_slots
            latest = k == len(pending) - 1
            mods.append(t.modality[:inputs] if latest else t.modality)
            ids.append(t.tokens)
            if not latest:
                ids.append(np.full(t.output_slots, TOK_SILENT, dtype=np.int64))
            n += inputs if latest else t.length
            if len(t.dmel):
                dmel.append(t.dmel)
            if len(t.patches):
                patches.append(t.patches)
                patch_pos.append(t.patch_pos)
        lens.append(n)
    x = model.embed(np.concatenate(mods), np.concatenate(ids),
                    np.concatenate(dmel) if dmel else np.empty((0, 0), np.uint8),
                    np.concatenate(patches) if patches else np.empty((0, 0), np.uint8),
                    np.concatenate(patch_pos) if patch_pos else np.empty((0, 2), np.int16))
    return x, lens
