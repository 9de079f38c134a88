"""Streaming sessions: one persistent sequence per conversation over a preallocated KV cache.

A micro-turn is *appended*: only its new tokens go through the model, attending to what the
cache already holds. The model's output tokens for the micro-turn are *generated* into the
turn's OUTPUT slots and appended too, so the sequence is exactly what the model saw and said.
``rewind(k)`` drops the model's own not-yet-spoken tokens after a barge-in. A failed forward
marks the session *stale*: its KV is wiped and the next step re-prefills it from the tokens
it kept (the pool keeps each token's input embedding and position).

A *step* (``step``, ``step_batch``) ends early: own tokens whose hidden state nothing needs
now are *deferred*: chosen, counted in the sequence, but written into the cache by the
session's next forward, in front of its next input (their K/V only matter to later
positions, and a causal forward computes them identically there). A silent micro-turn's
slots are all ``TOK_SILENT``, known from the action alone, so a listening step is ONE
forward; a speaking one decodes ``n - 1`` forwards (the last token is deferred).
``generate`` writes every token at once (callers read their hidden states).

The functions ``forward_batch``, ``decode_batch`` and ``step_batch`` run many sessions in one
batched forward (each at its own cache position); a ``StreamingSession``'s own methods are
the batch-of-one case of the same code, so batched and solo stepping agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from nodes.models.tiny_duplex import ACTIONS, TinyDuplexLM
from nodes.types import TOK_EOS, TOK_SILENT, FusedTurn

from .batch_forward import (
    Item,
    contiguous_positions,
    embed_steps,
    forward_batch,
    forward_flat,
)
from .kv_cache import KVPool

__all__ = ["DELEGATE", "SILENT", "SPEAK", "StepResult", "StreamingSession", "decode_batch",
           "forward_batch", "new_pool", "step_batch"]

SILENT, SPEAK, DELEGATE = range(3)


@dataclass
class StepResult:
    """What one micro-turn step produced for one session."""

    action: int  #: index into ``ACTIONS``
    tokens: list[int]  #: the model's output tokens, one per OUTPUT slot
    action_probs: list[float] = field(default_factory=list)
    coalesced: int = 0  #: earlier turns stepped together with this one (missed ticks)
    turn: FusedTurn | None = None  #: the latest turn of the step

    @property
    def action_name(self) -> str:
        return ACTIONS[self.action]


class StreamingSession:
    """One session's sequence: a row of a ``KVPool`` plus its length and decode state.

    Not thread-safe: one step at a time (the stepper serialises them).
    """

    def __init__(self, model: TinyDuplexLM, pool: KVPool) -> None:
        self.model, self.pool = model, pool
        self.row = pool.acquire()
        self.length = 0  #: next absolute position
        self.stale = False  #: KV must be re-prefilled before the next forward
        self.action = SILENT
        self.action_probs: list[float] = []
        self.reprefills = 0
        self.closed = False
        #: Override the action head (benchmarks force ``SPEAK``: the costliest decode).
        self.force_action: int | None = None
        # Hidden state after the last input token, then after each own token written since:
        # with the deferred tokens, the model's rewindable tail.
        self._hist: list[torch.Tensor] = []
        #: own tokens chosen but not yet in the cache (written by the next forward)
        self.deferred: list[int] = []

    @property
    def own_tail(self) -> int:
        """The model's own tokens at the end of the sequence (what ``rewind`` may drop)."""
        return max(0, len(self._hist) - 1) + len(self.deferred)

    @property
    def last_hidden(self) -> torch.Tensor | None:
        return self._hist[-1] if self._hist else None

    def append(self, turn: FusedTurn) -> torch.Tensor:
        """Append a turn's input positions; returns their final hidden states ``(m, d)``
        (``model.text_head`` of them are the next-token logits)."""
        return self.append_embeddings(self.model.embed_turn(turn))

    def append_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        (h,) = forward_batch(self.model, self.pool, [(self, x, None)])
        _after_input([self])
        return h

    def generate(self, n: int) -> list[int]:
        """Decode ``n`` output tokens (the turn's OUTPUT slots) and append them."""
        return decode_batch(self.model, self.pool, [self], [n])[0]

    def step(self, turn: FusedTurn) -> StepResult:
        """``append`` the turn's input, then ``generate`` its output slots."""
        return step_batch(self.model, self.pool, [self], [[turn]])[0]

    def rewind(self, k: int) -> None:
        """Drop the last ``k`` tokens, which must be the model's own (not yet spoken)."""
        if k < 0 or k > self.own_tail:
            raise ValueError(f"can rewind only the model's own tail ({self.own_tail} tokens), "
                             f"not {k}")
        d = min(k, len(self.deferred))
        if d:
            del self.deferred[-d:]
            k -= d
        if k == 0:
            return
        positions = torch.arange(self.length - k, self.length, device=self.pool.device)
        self.pool.pos[self.row, self.pool.slots(positions)] = -1
        self.length -= k
        del self._hist[-k:]

    def wipe_kv(self) -> None:
        """Forget the KV (keep the tokens): the next forward re-prefills."""
        self.pool.wipe_kv(self.row)
        self.stale = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.release(self.row)

    def _reprefill(self) -> None:
        emb, pos = self.pool.kept(self.row, self.length)
        self.pool.clear(self.row)
        self.stale = False
        self.reprefills += 1
        if len(pos):
            (h,) = forward_batch(self.model, self.pool, [(self, emb, pos)], last_only=True)
            self._hist = [h[-1]]


def new_pool(model: TinyDuplexLM, rows: int = 1) -> KVPool:
    """A KV pool shaped for ``model``, on its device, K/V in ``cfg.kv_dtype``."""
    c = model.cfg
    dtype = model.text.weight.dtype
    return KVPool(layers=c.n_layers, heads=c.n_kv_heads, head_dim=c.head_dim,
                  d_model=c.d_model, sink=c.sink_tokens, window=c.window_tokens,
                  slack=c.max_chunk_tokens, rows=rows, device=model.device, dtype=dtype,
                  kv_dtype=dtype if c.kv_dtype == "model" else getattr(torch, c.kv_dtype))


def _after_input(sessions: Sequence[StreamingSession]) -> None:
    """The input of a micro-turn is in: read each session's action at its last position."""
    hs = torch.stack([s._hist[-1] for s in sessions])
    probs = torch.softmax(sessions[0].model.action_head(hs).float(), dim=-1)
    for s, p in zip(sessions, probs.tolist(), strict=True):
        s.action_probs = p
        best = max(range(len(p)), key=p.__getitem__)
        s.action = best if s.force_action is None else s.force_action


def decode_batch(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
                 counts: Sequence[int], defer: bool = False) -> list[list[int]]:
    """Decode ``counts[i]`` output tokens for each session, greedily, batched.

    A silent session's tokens are all ``TOK_SILENT``, known in advance; a speaking one
    decodes one token per forward, and after ``TOK_EOS`` fills its remaining slots with
    ``TOK_SILENT``. Without ``defer`` every token is written (silent ones in one forward)
    and ``_hist`` holds their hidden states; with ``defer`` the tokens no forward of this
    call needs (the silent ones, those after ``TOK_EOS``, the last one) are deferred.
    """
    dev = pool.device
    out: list[list[int]] = [[] for _ in sessions]
    silent = [(i, s) for i, s in enumerate(sessions) if s.action == SILENT and counts[i]]
    speaking = [(i, s) for i, s in enumerate(sessions) if s.action != SILENT and counts[i]]
    if len(speaking) > 1:
        _group_rows(pool, [s for _, s in speaking],
                    [s for i, s in enumerate(sessions) if s.action == SILENT or not counts[i]])
    items: list[Item] = []
    for i, s in silent:
        out[i] = [TOK_SILENT] * counts[i]
        if defer:
            s.deferred.extend(out[i])
        else:
            ids = torch.full((counts[i],), TOK_SILENT, dtype=torch.long, device=dev)
            items.append((s, model.embed_outputs(ids), None))
    j = 0
    while speaking or items:
        if speaking:
            hs = torch.stack([s._hist[-1] for _, s in speaking])
            ids = model.text_head(hs).argmax(-1).tolist()
            keep = []
            for (i, s), tok in zip(speaking, ids, strict=True):
                out[i].append(tok)
                if defer and (tok == TOK_EOS or j + 1 == counts[i]):
                    s.deferred.append(tok)  # nothing decodes after it in this call
                    s.deferred.extend([TOK_SILENT] * (counts[i] - j - 1))
                    out[i].extend([TOK_SILENT] * (counts[i] - j - 1))
                    continue
                keep.append((i, s, tok))
            if keep:
                embs = model.embed_outputs(torch.tensor([t for _, _, t in keep], device=dev))
                items += [(s, embs[k:k + 1], None) for k, (_, s, _) in enumerate(keep)]
        if not items:
            break
        hist = {id(s): s._hist for s, _, _ in items}
        hs_new = forward_batch(model, pool, items)
        for (s, _, _), h in zip(items, hs_new, strict=True):
            s._hist = hist[id(s)] + list(h)  # one hidden state per own token
        items = []
        speaking = [(i, s) for i, s in speaking if len(out[i]) < counts[i]]
        done = [(i, s) for i, s in speaking if out[i][-1] == TOK_EOS]
        for i, s in done:  # not deferring: the rest is silent, written in one forward
            rest = counts[i] - len(out[i])
            out[i].extend([TOK_SILENT] * rest)
            ids_t = torch.full((rest,), TOK_SILENT, dtype=torch.long, device=dev)
            items.append((s, model.embed_outputs(ids_t), None))
        speaking = [(i, s) for i, s in speaking if out[i][-1] != TOK_EOS]
        j += 1
    return out


def _group_rows(pool: KVPool, speaking: Sequence[StreamingSession],
                others: Sequence[StreamingSession]) -> None:
    """Move the speaking sessions onto consecutive rows, swapping rows with silent
    sessions of the same batch: each decode forward then attends over a slice of the pool
    (a view) that holds only speakers, not over every session's cache. Picks the block of
    the batch's rows that already holds the most speakers (speakers that keep speaking
    stay put: swaps happen when sessions start speaking)."""
    k = len(speaking)
    spk = {s.row for s in speaking}
    if max(spk) - min(spk) + 1 == k:
        return
    by_row = {s.row: s for s in [*speaking, *others]}
    rows = sorted(by_row)
    best, best_n = -1, -1
    n = sum(r in spk for r in rows[:k])
    for start in range(len(rows) - k + 1):
        if start:
            n += (rows[start + k - 1] in spk) - (rows[start - 1] in spk)
        if rows[start + k - 1] - rows[start] == k - 1 and n > best_n:
            best, best_n = start, n
    if best < 0:
        return  # the batch's rows have no run of k consecutive rows: attend as they are
    block = set(rows[best:best + k])
    incoming = [s for s in speaking if s.row not in block]
    outgoing = [by_row[r] for r in rows[best:best + k] if r not in spk]
    for a, b in zip(incoming, outgoing, strict=True):
        pool.swap(a.row, b.row)
        a.row, b.row = b.row, a.row


def step_batch(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
               turns: Sequence[Sequence[FusedTurn]]) -> list[StepResult]:
    """Step each session through its pending turns in one batched forward, then decode
    the last turn's output slots. Earlier pending turns (missed ticks) are coalesced: their
    input goes in with their OUTPUT slots filled with ``TOK_SILENT`` (the model did not
    speak while it missed them).

    Every session's new positions (its deferred own tokens, then its turns) are embedded in
    ONE call, and only the hidden state the step reads (each session's last input position)
    comes out of the last layer."""
    with torch.no_grad():
        for s in sessions:
            if s.stale:
                s._reprefill()
        x, lens = embed_steps(model, sessions, turns)
        positions = contiguous_positions([s.length for s in sessions], lens)
        hs = forward_flat(model, pool, sessions, x, lens, positions, last_only=True,
                          contiguous=True)
        for s, h, n in zip(sessions, hs, lens, strict=True):
            s.length += n
            s._hist = [h[-1]]
            s.deferred = []
        _after_input(sessions)
        tokens = decode_batch(model, pool, sessions, [t[-1].output_slots for t in turns],
                              defer=True)
    return [StepResult(s.action, toks, s.action_probs, len(t) - 1, t[-1])
            for s, toks, t in zip(sessions, tokens, turns, strict=True)]
