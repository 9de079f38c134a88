"""Streaming sessions: one persistent sequence per conversation over a preallocated KV cache.

A micro-turn is *appended*: only its new tokens go through the model, attending to what the
cache already holds. The model's output tokens for the micro-turn are *generated* into the
turn's OUTPUT slots and appended too, so the sequence is exactly what the model saw and said.
``rewind(k)`` drops the model's own not-yet-spoken tokens after a barge-in. A failed forward
marks the session *stale*: its KV is wiped and the next step re-prefills it from the tokens
it kept (the pool keeps each token's input embedding and position).

The functions ``forward_batch``, ``decode_batch`` and ``step_batch`` run many sessions in one
batched forward (each at its own cache position); a ``StreamingSession``'s own methods are
the batch-of-one case of the same code, so batched and solo stepping agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from nodes.models.tiny_duplex import ACTIONS, CacheView, TinyDuplexLM
from nodes.types import TOK_EOS, TOK_SILENT, FusedTurn

from .kv_cache import KVPool

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
        # Hidden state after the last input token, then after each own token since:
        # the model's rewindable tail.
        self._hist: list[torch.Tensor] = []

    @property
    def own_tail(self) -> int:
        """The model's own tokens at the end of the sequence (what ``rewind`` may drop)."""
        return max(0, len(self._hist) - 1)

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
            (h,) = forward_batch(self.model, self.pool, [(self, emb, pos)])
            self._hist = [h[-1]]


def new_pool(model: TinyDuplexLM, rows: int = 1) -> KVPool:
    """A KV pool shaped for ``model``, on its device and in its dtype."""
    c = model.cfg
    return KVPool(layers=c.n_layers, heads=c.n_kv_heads, head_dim=c.head_dim,
                  d_model=c.d_model, sink=c.sink_tokens, window=c.window_tokens,
                  slack=c.max_chunk_tokens, rows=rows, device=model.device,
                  dtype=model.text.weight.dtype)


Item = tuple[StreamingSession, torch.Tensor, torch.Tensor | None]


def forward_batch(model: TinyDuplexLM, pool: KVPool, items: Sequence[Item]
                  ) -> list[torch.Tensor]:
    """Append embeddings ``x (m_i, d)`` to each session (at positions ``pos`` or, when
    None, right after its sequence) in batched forwards of at most ``pool.slack`` tokens
    per session; returns each session's final hidden states ``(m_i, d)``.

    Stale sessions are re-prefilled first. If a forward raises, the sessions in it are
    marked stale (their tokens before this call are kept) and the error propagates.
    """
    for s, _, _ in items:
        if s.stale:
            s._reprefill()
    dev, slack = pool.device, pool.slack
    plans = []
    for s, x, pos in items:
        if pos is None:
            pos = torch.arange(s.length, s.length + x.shape[0], device=dev)
        plans.append((s, x, pos))
    outs: list[list[torch.Tensor]] = [[] for _ in items]
    longest = max((x.shape[0] for _, x, _ in plans), default=0)
    for off in range(0, longest, slack):
        rnd = [(i, s, x[off:off + slack], p[off:off + slack])
               for i, (s, x, p) in enumerate(plans) if x.shape[0] > off]
        for (i, _, _, _), h in zip(rnd, _forward_round(model, pool, rnd), strict=True):
            outs[i].append(h)
    results = []
    for (s, _, pos), hs in zip(plans, outs, strict=True):
        h = torch.cat(hs) if len(hs) != 1 else hs[0]
        if len(pos):
            s.length = max(s.length, int(pos[-1]) + 1)
            s._hist = [h[-1]]
        results.append(h)
    return results


def _forward_round(model: TinyDuplexLM, pool: KVPool,
                   rnd: list[tuple[int, StreamingSession, torch.Tensor, torch.Tensor]]
                   ) -> list[torch.Tensor]:
    lo = min(s.row for _, s, _, _ in rnd)
    hi = max(s.row for _, s, _, _ in rnd) + 1
    m = max(x.shape[0] for _, _, x, _ in rnd)
    dev = pool.device
    x_b = torch.zeros(hi - lo, m, pool.d_model, device=dev, dtype=rnd[0][2].dtype)
    pos_b = torch.zeros(hi - lo, m, dtype=torch.long, device=dev)
    real = torch.zeros(hi - lo, m, dtype=torch.bool, device=dev)
    for _, s, x, p in rnd:
        b, n = s.row - lo, x.shape[0]
        x_b[b, :n], pos_b[b, :n], real[b, :n] = x, p, True
    rows = (torch.arange(lo, hi, device=dev)[:, None].expand(-1, m))[real]
    positions = pos_b[real]
    slots = pool.slots(positions)
    # Positions and kept embeddings first: the mask reads them. The slots overwritten held
    # positions no query of this round can see (the cache's slack guarantees it).
    pool.pos[rows, slots] = positions
    pool.emb[rows, slots] = x_b[real].to(pool.dtype)
    mask = pool.visible(pool.pos[lo:hi, None, None, :], pos_b[:, None, :, None])
    mask[..., 0] |= ~real[:, None, :]  # padding queries attend somewhere (no NaN rows)
    view = CacheView(pool, lo, hi, rows, slots, real, mask)
    try:
        h = model.forward_cached(x_b, pos_b, view)
    except BaseException:
        pool.pos[rows, slots] = -1  # this round never happened
        for _, s, _, _ in rnd:
            s.stale = True
        raise
    return [h[s.row - lo, : x.shape[0]] for _, s, x, _ in rnd]


def _after_input(sessions: Sequence[StreamingSession]) -> None:
    """The input of a micro-turn is in: read each session's action at its last position."""
    hs = torch.stack([s._hist[-1] for s in sessions])
    probs = torch.softmax(sessions[0].model.action_head(hs).float(), dim=-1)
    for s, p in zip(sessions, probs.tolist(), strict=True):
        s.action_probs = p
        best = max(range(len(p)), key=p.__getitem__)
        s.action = best if s.force_action is None else s.force_action


def decode_batch(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
                 counts: Sequence[int]) -> list[list[int]]:
    """Decode ``counts[i]`` output tokens for each session, greedily, batched.

    A silent session's tokens are all ``TOK_SILENT``, known in advance, so they are written
    in one forward; a speaking one decodes one token per forward, and after ``TOK_EOS`` it
    fills its remaining slots with ``TOK_SILENT``.
    """
    dev = pool.device
    out: list[list[int]] = [[] for _ in sessions]
    done = [False] * len(sessions)
    silent = [(i, s) for i, s in enumerate(sessions) if s.action == SILENT and counts[i]]
    speaking = [(i, s) for i, s in enumerate(sessions) if s.action != SILENT and counts[i]]
    for j in range(max(counts, default=0)):
        items: list[Item] = []
        if j == 0:
            for i, s in silent:
                ids = torch.full((counts[i],), TOK_SILENT, dtype=torch.long, device=dev)
                out[i] = ids.tolist()
                items.append((s, model.embed_outputs(ids), None))
        active = [(i, s) for i, s in speaking if counts[i] > j]
        if active:
            hs = torch.stack([s._hist[-1] for _, s in active])
            ids = model.text_head(hs).argmax(-1)
            for k, (i, _) in enumerate(active):
                if done[i]:
                    ids[k] = TOK_SILENT
                done[i] = done[i] or int(ids[k]) == TOK_EOS
            embs = model.embed_outputs(ids)
            for k, (i, s) in enumerate(active):
                out[i].append(int(ids[k]))
                items.append((s, embs[k:k + 1], None))
        if not items:
            break
        hist = {id(s): s._hist for s, _, _ in items}
        hs_new = forward_batch(model, pool, items)
        for (s, _, _), h in zip(items, hs_new, strict=True):
            s._hist = hist[id(s)] + list(h)  # one hidden state per own token
    return out


def step_batch(model: TinyDuplexLM, pool: KVPool, sessions: Sequence[StreamingSession],
               turns: Sequence[Sequence[FusedTurn]]) -> list[StepResult]:
    """Step each session through its pending turns in one batched forward, then decode
    the last turn's output slots. Earlier pending turns (missed ticks) are coalesced: their
    input goes in with their OUTPUT slots filled with ``TOK_SILENT`` (the model did not
    speak while it missed them)."""
    with torch.no_grad():
        items: list[Item] = []
        for s, pending in zip(sessions, turns, strict=True):
            parts = [model.embed_turn(t, [TOK_SILENT] * t.output_slots) for t in pending[:-1]]
            parts.append(model.embed_turn(pending[-1]))
            items.append((s, torch.cat(parts) if len(parts) > 1 else parts[0], None))
        forward_batch(model, pool, items)
        _after_input(sessions)
        tokens = decode_batch(model, pool, sessions, [t[-1].output_slots for t in turns])
    return [StepResult(s.action, toks, s.action_probs, len(t) - 1, t[-1])
            for s, toks, t in zip(sessions, tokens, turns, strict=True)]
