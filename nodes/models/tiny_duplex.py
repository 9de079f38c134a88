"""TinyDuplexLM: a small decoder-only transformer over early-fused micro-turns.

It ships UNTRAINED (seeded random weights unless a checkpoint is given): it exists for the
mechanism (streaming sessions, ring KV cache, batched stepping), the benchmarks, and as a
template for real models. Its outputs are not meaningful language.

Inputs are embedded without any encoder:

- TEXT, MARKER and OUTPUT positions: one table of ``TEXT_VOCAB`` ids;
- AUDIO positions (one dMel frame): a bag of embeddings, one table of 16 levels per mel
  channel (80 tables), summed over the channels;
- VIDEO positions (one raw 40x40 RGB patch): one linear projection, plus learned patch
  row/column embeddings;
- every position adds its modality's embedding.

Positions are rotary (RoPE) at *absolute* positions, applied to keys when they are written
into the cache. Absolute positions keep increasing for as long as a session runs; angles are
computed in float64 so that they stay exact at millions of tokens. Each query sees the
attention sinks and the last ``window_tokens`` positions (see ``nodes.frontend.kv_cache``).

Two heads read the final hidden state: ``text_head`` (next token, ``TEXT_VOCAB``) and
``action_head`` (``silent``/``speak``/``delegate``, read at the last input position of a
micro-turn, the output marker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nodes.types import TEXT_VOCAB, FusedTurn, Modality

from .tiny_duplex_config import ACTIONS, TinyDuplexConfig

__all__ = ["ACTIONS", "CacheView", "TinyDuplexConfig", "TinyDuplexLM"]

#: RoPE of positions ``(B, m)``: ``cos + i sin`` as one complex tensor ``(B, m, 1, Dh/2)``
#: (float32/float64 models), or the pair ``(cos, sin)`` (half-precision models).
Rotation = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CacheView:
    """What one cached forward needs from the cache: where the batch's rows start in the
    pool, where each real token is written, and the visibility rule."""

    def __init__(self, pool: Any, lo: int, hi: int, rows: torch.Tensor, slots: torch.Tensor,
                 real: torch.Tensor | None, mask: torch.Tensor) -> None:
        self.pool, self.lo, self.hi = pool, lo, hi
        self.rows, self.slots = rows, slots  # of the real tokens, batch-row-major
        #: flat indices (into ``B * m``) of the real tokens; None when every one is real
        self.real = real
        self.mask = mask  # (B, 1, m, C) additive (0 / -inf), in the cache's dtype

    def real_of(self, t: torch.Tensor) -> torch.Tensor:
        """The real tokens' rows of ``t (B, m, ...)``, in the order of ``rows``/``slots``."""
        flat = t.flatten(0, 1)
        return flat if self.real is None else flat.index_select(0, self.real)


class Block(nn.Module):
    def __init__(self, cfg: TinyDuplexConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.h, self.hkv, self.dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, d + 2 * self.hkv * self.dh, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, d))

    def qkv_rope(self, x: torch.Tensor, rot: Rotation
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, m, _ = x.shape
        qkv = self.qkv(self.norm1(x))
        nq = (self.h + self.hkv) * self.dh  # queries and keys are rotated in one pass
        qk = _rope(qkv[..., :nq].view(b, m, self.h + self.hkv, self.dh), rot)
        q, k = qk.split([self.h, self.hkv], dim=2)
        return q, k, qkv[..., nq:].view(b, m, self.hkv, self.dh)  # (B, m, heads, Dh)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
               ) -> torch.Tensor:
        """``q (B, m, H, Dh)`` against ``k``/``v (B, Hkv, C, Dh)``; the query heads share
        the KV heads, and the cache is read as it is, never repeated per query head.

        ``mask`` comes from ``attn_bias``: ``(B, 1, m, C)``, or ``(B, 1, g*m, C)`` when the
        ``g`` query heads of a KV head are *folded* into its query rows (few queries, as
        in decoding: torch's GQA path would copy K/V per head, which costs more there)."""
        b, m = q.shape[:2]
        g = self.h // self.hkv
        if mask.shape[2] == m:  # grouped-query attention
            att = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=mask,
                                                 enable_gqa=g > 1)
            return att.transpose(1, 2).reshape(b, m, -1)
        qg = q.view(b, m, self.hkv, g, self.dh).permute(0, 2, 3, 1, 4).reshape(
            b, self.hkv, g * m, self.dh)
        att = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask)
        return att.view(b, self.hkv, g, m, self.dh).permute(0, 3, 1, 2, 4).reshape(b, m, -1)

    def finish(self, x: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(att)
        return x + self.mlp(self.norm2(x))


#: Up to this many new tokens per session, query heads are folded onto their KV head.
FOLD_MAX_TOKENS = 4


def attn_bias(visible: torch.Tensor, dtype: torch.dtype, groups: int = 1) -> torch.Tensor:
    """Boolean visibility ``(B, 1, m, C)`` as the additive mask (0 or -inf) that
    ``Block.attend`` takes (torch's CPU attention is markedly faster with it than with a
    boolean one), folded for ``groups`` (``fold_bias``)."""
    return fold_bias(torch.where(visible, 0.0, float("-inf")).to(dtype), groups)


def fold_bias(bias: torch.Tensor, groups: int) -> torch.Tensor:
    """An additive mask ``(B, 1, m, C)`` repeated for the ``groups`` query heads per KV head
    when ``m`` is at most ``FOLD_MAX_TOKENS`` (then ``Block.attend`` folds the heads)."""
    b, _, m, c = bias.shape
    if groups > 1 and m == 1:  # decoding: a view (stride 0 over the heads), no copy
        bias = bias.expand(b, 1, groups, c)
    elif groups > 1 and m <= FOLD_MAX_TOKENS:
        bias = bias.unsqueeze(2).expand(-1, -1, groups, -1, -1).reshape(b, 1, groups * m, c)
    return bias


def _rope(x: torch.Tensor, rot: Rotation) -> torch.Tensor:
    """Rotate the pairs ``(x[2j], x[2j+1])`` of ``x (B, m, heads, Dh)``. As a complex
    product it is one kernel instead of seven, with the same products and sums (up to
    float rounding: the kernel may fuse a multiply-add; tested against the real form)."""
    if isinstance(rot, tuple):
        cos, sin = rot
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return out.flatten(-2)
    pairs = torch.view_as_complex(x.view(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rot).flatten(-2)


class TinyDuplexLM(nn.Module):
    mel_offsets: torch.Tensor
    inv_freq: torch.Tensor

    def __init__(self, cfg: TinyDuplexConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or TinyDuplexConfig()
        self.cfg = cfg
        d = cfg.d_model
        gen = torch.random.fork_rng(devices=[])
        with gen:
            torch.manual_seed(cfg.seed)
            self.modality = nn.Embedding(len(Modality), d)
            self.text = nn.Embedding(TEXT_VOCAB, d)
            self.mel = nn.EmbeddingBag(cfg.mel_channels * cfg.mel_levels, d, mode="sum")
            self.patch = nn.Linear(cfg.patch_size * cfg.patch_size * 3, d)
            self.patch_row = nn.Embedding(cfg.max_patch_grid, d)
            self.patch_col = nn.Embedding(cfg.max_patch_grid, d)
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
            self.norm = nn.LayerNorm(d)
            self.text_head = nn.Linear(d, TEXT_VOCAB, bias=False)
            self.action_head = nn.Linear(d, len(ACTIONS))
            for emb in (self.modality, self.text, self.mel, self.patch_row, self.patch_col):
                nn.init.normal_(emb.weight, std=0.02)
        self.register_buffer(
            "mel_offsets", torch.arange(cfg.mel_channels) * cfg.mel_levels, persistent=False)
        half = cfg.head_dim // 2
        inv = cfg.rope_base ** (-torch.arange(half, dtype=torch.float64) / half)
        self.register_buffer("inv_freq", inv, persistent=False)
        self.eval()
        self.requires_grad_(False)

    @classmethod
    def load(cls, cfg: TinyDuplexConfig, checkpoint: str | Path | None = None,
             device: str = "cpu") -> TinyDuplexLM:
        """Seeded random init, or the ``state_dict`` saved at ``checkpoint``."""
        model = cls(cfg)
        if checkpoint is not None:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        return model.to(device)

    @property
    def device(self) -> torch.device:
        return self.text.weight.device

    # -- embedding ---------------------------------------------------------------------------

    def embed(self, modality: np.ndarray, ids: np.ndarray, dmel: np.ndarray,
              patches: np.ndarray, patch_pos: np.ndarray) -> torch.Tensor:
        """Embed positions of modality ``modality`` (n,); ``ids`` are consumed in order by
        TEXT, MARKER and OUTPUT positions, ``dmel`` rows by AUDIO, ``patches`` by VIDEO.
        Returns ``(n, d_model)`` on the model's device."""
        dev = self.device
        mod = torch.from_numpy(np.asarray(modality, dtype=np.int64)).to(dev)
        x = self.modality(mod)
        is_text = (mod == Modality.TEXT) | (mod == Modality.MARKER) | (mod == Modality.OUTPUT)
        if len(ids):
            t = torch.from_numpy(np.asarray(ids, dtype=np.int64)).to(dev)
            x[is_text] += self.text(t)
        if len(dmel):
            levels = torch.from_numpy(np.asarray(dmel, dtype=np.int64)).to(dev)
            x[mod == Modality.AUDIO] += self.mel(levels + self.mel_offsets)
        if len(patches):
            p = torch.from_numpy(np.asarray(patches)).to(dev, self.patch.weight.dtype) / 255.0
            rc = torch.from_numpy(np.asarray(patch_pos, dtype=np.int64)).to(dev)
            rc = rc.clamp(0, self.cfg.max_patch_grid - 1)
            x[mod == Modality.VIDEO] += (self.patch(p) + self.patch_row(rc[:, 0])
                                         + self.patch_col(rc[:, 1]))
        return x

    def embed_turn(self, turn: FusedTurn, outputs: list[int] | None = None) -> torch.Tensor:
        """A turn's input positions; with ``outputs`` also its OUTPUT slots (ids given)."""
        n = turn.length - turn.output_slots
        modality, ids = turn.modality[:n], turn.tokens
        if outputs is not None:
            modality = turn.modality[: n + len(outputs)]
            ids = np.concatenate([ids, np.asarray(outputs, dtype=np.int64)])
        return self.embed(modality, ids, turn.dmel, turn.patches, turn.patch_pos)

    def embed_outputs(self, ids: torch.Tensor) -> torch.Tensor:
        """The model's own output tokens ``ids`` (any shape) as OUTPUT positions."""
        return self.text(ids) + self.modality.weight[Modality.OUTPUT]

    # -- transformer -------------------------------------------------------------------------

    def _angles(self, pos: torch.Tensor) -> Rotation:
        ang = pos.to(torch.float64)[..., None] * self.inv_freq  # (B, m, Dh/2)
        dt = self.text.weight.dtype
        cos, sin = ang.cos().to(dt)[:, :, None], ang.sin().to(dt)[:, :, None]
        if dt in (torch.float32, torch.float64):
            return torch.complex(cos, sin)  # (B, m, 1, Dh/2)
        return cos, sin

    def forward_cached(self, x: torch.Tensor, pos: torch.Tensor, view: CacheView,
                       keep: torch.Tensor | None = None) -> torch.Tensor:
        """Run new tokens ``x (B, m, d)`` at absolute positions ``pos (B, m)`` against the
        pool rows ``view.lo..view.hi`` (batch row b is pool row lo + b): write each real
        token's K/V into its slot, then attend over the row's cache in place.

        Returns the final hidden states ``(B, m, d)``; with ``keep (B,)`` only those of
        query ``keep[b]`` of each row, ``(B, 1, d)``: the last layer then attends and runs
        its MLP for those queries alone (the other positions only need their K/V there,
        which every layer still writes), so the kept states are the same."""
        rot = self._angles(pos)
        pool = view.pool
        lo, hi = view.lo, view.hi
        kvd = pool.k.dtype  # attention runs in the cache's dtype
        groups = self.cfg.n_heads // self.cfg.n_kv_heads
        mask = fold_bias(view.mask, groups)
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            q, k, v = blk.qkv_rope(x, rot)
            pool.k[i, view.rows, :, view.slots] = view.real_of(k).to(kvd)
            pool.v[i, view.rows, :, view.slots] = view.real_of(v).to(kvd)
            if i == last and keep is not None and x.shape[1] > 1:
                b = torch.arange(x.shape[0], device=x.device)
                q, x = q[b, keep][:, None], x[b, keep][:, None]
                mask = fold_bias(view.mask[b, :, keep][:, :, None], groups)
            att = blk.attend(q.to(kvd), pool.k[i, lo:hi], pool.v[i, lo:hi], mask)
            x = blk.finish(x, att.to(x.dtype))
        return self.norm(x)

    def forward_reference(self, x: torch.Tensor, pos: torch.Tensor, visible: Any
                          ) -> torch.Tensor:
        """One uncached forward over a whole sequence ``x (n, d)`` (tests compare the
        streaming path to it). ``visible(key_pos, query_pos)`` is the cache's rule."""
        rot = self._angles(pos[None])
        mask = attn_bias(visible(pos[None, None, :], pos[None, :, None])[None], x.dtype)
        x = x[None]
        for blk in self.blocks:
            q, k, v = blk.qkv_rope(x, rot)
            x = blk.finish(x, blk.attend(q, k.transpose(1, 2), v.transpose(1, 2), mask))
        return self.norm(x)[0]

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
