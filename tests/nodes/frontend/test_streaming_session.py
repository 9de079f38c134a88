from __future__ import annotations

import pytest
import torch

from nodes.frontend.batch_forward import embed_steps
from nodes.frontend.streaming_session import (
    SILENT,
    SPEAK,
    StreamingSession,
    forward_batch,
    step_batch,
)
from nodes.frontend.synthetic import synthetic_turn
from nodes.models.tiny_duplex import TinyDuplexLM
from nodes.types import TOK_SILENT, FusedTurn

from .conftest import make_pool


def turns(n: int, seed: int = 0) -> list[FusedTurn]:
    """Turns of varied shape: audio only, with text, with video patches."""
    return [synthetic_turn(i, seed=seed, text="hello"[: i % 4], patches=(i % 3) * 2)
            for i in range(n)]


def stream(model: TinyDuplexLM, session: StreamingSession, ts: list[FusedTurn]
           ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Step turn by turn; return the hidden state of every position, and each turn's
    embedding with the generated outputs (the sequence the model saw)."""
    hidden, embs = [], []
    with torch.no_grad():
        for t in ts:
            hidden.append(session.append(t))
            toks = session.generate(t.output_slots)
            hidden.extend(h[None] for h in session._hist[1:])
            embs.append(model.embed_turn(t, toks))
    return torch.cat(hidden), embs


def reference(model: TinyDuplexLM, pool, embs: list[torch.Tensor]) -> torch.Tensor:
    x = torch.cat(embs)
    with torch.no_grad():
        return model.forward_reference(x, torch.arange(len(x)), pool.visible)


def test_turn_by_turn_equals_one_forward_before_wrap(model: TinyDuplexLM) -> None:
    pool = make_pool(model)
    s = StreamingSession(model, pool)
    s.force_action = SPEAK  # decode through the text head, one token per forward
    hidden, embs = stream(model, s, turns(2))
    assert s.length == len(hidden) < pool.sink + pool.window  # the ring has not wrapped
    ref = reference(model, pool, embs)
    torch.testing.assert_close(model.text_head(hidden), model.text_head(ref),
                               atol=1e-4, rtol=1e-4)


def test_after_wrap_memory_is_fixed_and_steps_match_windowed_attention(
        model: TinyDuplexLM) -> None:
    pool = make_pool(model)
    before = (pool.nbytes(), pool.k.data_ptr(), pool.emb.data_ptr())
    s = StreamingSession(model, pool)
    ts = turns(30)
    hidden, embs = stream(model, s, ts)
    assert s.length > 5 * pool.capacity  # wrapped several times
    assert (pool.nbytes(), pool.k.data_ptr(), pool.emb.data_ptr()) == before
    assert int((pool.pos[s.row] >= 0).sum()) <= pool.capacity
    # The streamed states are those of attention sinks + sliding window over it all.
    ref = reference(model, pool, embs)
    torch.testing.assert_close(hidden, ref, atol=1e-4, rtol=1e-4)


def test_rewind_then_append_equals_never_generating_the_dropped_tokens(
        model: TinyDuplexLM) -> None:
    t0, t1 = turns(2, seed=5)
    a = StreamingSession(model, make_pool(model))
    a.force_action = SPEAK
    with torch.no_grad():
        a.append(t0)
        said = a.generate(4)
        a.rewind(3)  # barge-in: only the first token was spoken
        assert a.own_tail == 1
        ha = a.append(t1)
    b = StreamingSession(model, make_pool(model))
    b.force_action = SPEAK
    with torch.no_grad():
        b.append(t0)
        assert b.generate(1) == said[:1]
        hb = b.append(t1)
    assert a.length == b.length
    torch.testing.assert_close(ha, hb, atol=1e-5, rtol=1e-5)


def test_rewind_refuses_input_tokens(model: TinyDuplexLM) -> None:
    s = StreamingSession(model, make_pool(model))
    with torch.no_grad():
        s.append(turns(1)[0])
        s.generate(2)
    with pytest.raises(ValueError, match="own tail"):
        s.rewind(3)


@pytest.mark.parametrize("stepped", [[0, 1, 2], [0, 2]])
def test_batched_step_equals_stepping_alone(model: TinyDuplexLM, stepped: list[int]) -> None:
    """Three sessions of one pool, sequences of different lengths; in the second case the
    middle session misses the tick (its row is padding in the batch)."""
    streams = [turns(6, seed=k) for k in range(3)]
    pool = make_pool(model)
    batch = [StreamingSession(model, pool) for _ in range(3)]
    solo = [StreamingSession(model, make_pool(model)) for _ in range(3)]
    for k, s in enumerate(batch + solo):
        s.force_action = SPEAK if k % 3 != 1 else None
    for i in range(6):
        ks = stepped if i % 2 else [0, 1, 2]
        together = step_batch(model, pool, [batch[k] for k in ks], [[streams[k][i]] for k in ks])
        for k, r in zip(ks, together, strict=True):
            alone = solo[k].step(streams[k][i])
            assert r.tokens == alone.tokens
            assert r.action == alone.action
            assert r.action_probs == pytest.approx(alone.action_probs, abs=1e-5)
            assert batch[k].length == solo[k].length


def test_error_wipes_kv_and_next_step_reprefills_from_kept_tokens(
        model: TinyDuplexLM, monkeypatch: pytest.MonkeyPatch) -> None:
    t0, t1, t2 = turns(3, seed=9)
    a = StreamingSession(model, make_pool(model))
    a.step(t0)
    blk = model.blocks[1]
    with monkeypatch.context() as mp:
        mp.setattr(blk, "finish", lambda *_: (_ for _ in ()).throw(RuntimeError("boom")))
        with pytest.raises(RuntimeError, match="boom"):
            a.step(t1)
    assert a.stale
    ra = a.step(t2)
    assert a.reprefills == 1 and not a.stale
    b = StreamingSession(model, make_pool(model))
    b.step(t0)
    rb = b.step(t2)
    assert ra.tokens == rb.tokens
    assert ra.action_probs == pytest.approx(rb.action_probs, abs=1e-5)


def test_wipe_kv_then_step_matches_persistent_before_wrap(model: TinyDuplexLM) -> None:
    ts = turns(3, seed=2)
    a, b = (StreamingSession(model, make_pool(model)) for _ in range(2))
    for t in ts[:2]:
        a.step(t)
        b.step(t)
    a.wipe_kv()
    ra, rb = a.step(ts[2]), b.step(ts[2])
    assert ra.tokens == rb.tokens
    assert ra.action_probs == pytest.approx(rb.action_probs, abs=1e-5)


def test_positions_stay_exact_hours_in(model: TinyDuplexLM) -> None:
    """A session hours long (positions in the millions) attends like a fresh one shifted:
    RoPE depends only on relative positions, computed in float64."""
    pool = make_pool(model)
    s = StreamingSession(model, pool)
    t = turns(1)[0]
    x = model.embed_turn(t)
    far = 3_600 * 5 * 30  # an hour of 30-token micro-turns, far past the sinks
    with torch.no_grad():
        (h_far,) = forward_batch(model, pool, [(s, x, torch.arange(far, far + len(x)))])
        s2 = StreamingSession(model, pool)
        (h_near,) = forward_batch(model, pool, [(s2, x, torch.arange(10, 10 + len(x)))])
    torch.testing.assert_close(h_far, h_near, atol=1e-4, rtol=1e-4)


def count_forwards(model: TinyDuplexLM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of new positions of every cached forward."""
    calls: list[int] = []
    forward = model.forward_cached

    def counted(x: torch.Tensor, pos: torch.Tensor, view: object,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        calls.append(x.shape[1])
        return forward(x, pos, view, keep)

    monkeypatch.setattr(model, "forward_cached", counted)
    return calls


def test_a_listening_step_is_one_forward_and_a_speaking_one_defers_its_last_token(
        model: TinyDuplexLM, monkeypatch: pytest.MonkeyPatch) -> None:
    t0, t1 = turns(2, seed=3)
    s = StreamingSession(model, make_pool(model))
    s.force_action = SILENT
    calls = count_forwards(model, monkeypatch)
    r = s.step(t0)
    assert r.tokens == [TOK_SILENT] * t0.output_slots and len(calls) == 1
    assert s.deferred == r.tokens and s.own_tail == t0.output_slots
    assert s.length == t0.length - t0.output_slots  # the slots are not in the cache yet
    s.force_action = SPEAK
    calls.clear()
    r = s.step(t1)
    # the input, behind the deferred silent slots, then one forward per token but the last
    assert calls == [t0.output_slots + t1.length - t1.output_slots] + [1] * (
        t1.output_slots - 1)
    assert s.deferred == r.tokens[-1:] and s.own_tail == t1.output_slots


def test_stepping_with_deferred_tokens_equals_writing_them_at_once(
        model: TinyDuplexLM) -> None:
    """``step`` (deferring) and ``append`` + ``generate`` (writing every token) give the
    same hidden states, tokens and sequence."""
    ts = turns(5, seed=8)
    a, b = (StreamingSession(model, make_pool(model)) for _ in range(2))
    for k, t in enumerate(ts):
        a.force_action = b.force_action = SPEAK if k % 2 else SILENT
        ra = a.step(t)
        with torch.no_grad():
            hb = b.append(t)
            tb = b.generate(t.output_slots)
        assert ra.tokens == tb
        assert a.length + len(a.deferred) == b.length
    with torch.no_grad():
        ha = a.append(ts[0])
        hb = b.append(ts[0])
    torch.testing.assert_close(ha, hb, atol=1e-5, rtol=1e-5)


def test_rewind_drops_deferred_tokens_first(model: TinyDuplexLM) -> None:
    t0, t1 = turns(2, seed=6)
    a = StreamingSession(model, make_pool(model))
    a.force_action = SPEAK
    said = a.step(t0).tokens
    a.rewind(a.own_tail - 2)  # barge-in after two spoken tokens
    assert a.own_tail == 2 and not a.deferred
    with torch.no_grad():
        ha = a.append(t1)
    b = StreamingSession(model, make_pool(model))
    b.force_action = SPEAK
    with torch.no_grad():
        b.append(t0)
        assert b.generate(2) == said[:2]
        hb = b.append(t1)
    assert a.length == b.length
    torch.testing.assert_close(ha, hb, atol=1e-5, rtol=1e-5)


def test_speakers_are_moved_onto_consecutive_rows_and_outputs_do_not_change(
        model: TinyDuplexLM) -> None:
    streams = [turns(4, seed=k) for k in range(4)]
    pool = make_pool(model)
    batch = [StreamingSession(model, pool) for _ in range(4)]
    solo = [StreamingSession(model, make_pool(model)) for _ in range(4)]
    for i in range(4):
        for k in range(4):  # every other session speaks, the other half after two turns
            batch[k].force_action = solo[k].force_action = (
                SPEAK if (k + i // 2) % 2 else SILENT)
        together = step_batch(model, pool, batch, [[streams[k][i]] for k in range(4)])
        rows = sorted(s.row for s in batch if s.force_action == SPEAK)
        assert rows[1] - rows[0] == 1
        for k, r in enumerate(together):
            alone = solo[k].step(streams[k][i])
            assert r.tokens == alone.tokens
            assert r.action_probs == pytest.approx(alone.action_probs, abs=1e-5)
    assert sorted(s.row for s in batch) == [0, 1, 2, 3]


def test_a_bfloat16_cache_steps_and_batched_equals_solo() -> None:
    """``kv_dtype: bfloat16`` stores K/V and attends in bfloat16 (half the bytes a step
    reads); the weights and the rest of the forward stay in float32."""
    import msgspec

    from .conftest import SMALL

    model = TinyDuplexLM(msgspec.structs.replace(SMALL, kv_dtype="bfloat16"))
    pool = make_pool(model)
    assert pool.k.dtype == torch.bfloat16 and pool.emb.dtype == torch.float32
    ts = turns(6, seed=1)
    batch = [StreamingSession(model, pool) for _ in range(2)]
    solo = [StreamingSession(model, make_pool(model)) for _ in range(2)]
    for i, t in enumerate(ts):
        for k in range(2):
            batch[k].force_action = solo[k].force_action = SPEAK if (i + k) % 2 else SILENT
        together = step_batch(model, pool, batch, [[t], [t]])
        for k, r in enumerate(together):
            alone = solo[k].step(t)
            assert r.tokens == alone.tokens
            assert r.action_probs == pytest.approx(alone.action_probs, abs=1e-3)
    full = TinyDuplexLM(SMALL)
    with torch.no_grad():  # close to the float32 cache
        h16 = StreamingSession(model, make_pool(model)).append(ts[0])
        h32 = StreamingSession(full, make_pool(full)).append(ts[0])
    torch.testing.assert_close(h16, h32, atol=0.05, rtol=0.05)


def test_last_only_forward_gives_the_last_hidden_state_of_the_full_one(
        model: TinyDuplexLM) -> None:
    ts = turns(3, seed=4)
    pool = make_pool(model)
    full, last = StreamingSession(model, pool), StreamingSession(model, pool)
    with torch.no_grad():
        for t in ts:
            x = model.embed_turn(t, [TOK_SILENT] * t.output_slots)
            (h_full,) = forward_batch(model, pool, [(full, x, None)])
            (h_last,) = forward_batch(model, pool, [(last, x, None)], last_only=True)
            assert h_last.shape == (1, model.cfg.d_model)
            torch.testing.assert_close(h_last[0], h_full[-1], atol=1e-5, rtol=1e-5)
    assert full.length == last.length


def test_one_embedding_call_for_a_batch_equals_embedding_each_turn(
        model: TinyDuplexLM) -> None:
    """A step's new positions (deferred own tokens, missed turns, the latest input) of
    several sessions, embedded together, are what embedding each part apart gives."""
    pool = make_pool(model)
    a, b = StreamingSession(model, pool), StreamingSession(model, pool)
    a.deferred = [TOK_SILENT] * 3
    pa, pb = turns(2, seed=5), turns(1, seed=6)
    x, lens = embed_steps(model, [a, b], [pa, pb])
    apart = [model.embed_outputs(torch.tensor(a.deferred)),
             model.embed_turn(pa[0], [TOK_SILENT] * pa[0].output_slots),
             model.embed_turn(pa[1]), model.embed_turn(pb[0])]
    assert lens == [apart[0].shape[0] + apart[1].shape[0] + apart[2].shape[0],
                    apart[3].shape[0]]
    torch.testing.assert_close(x, torch.cat(apart), atol=1e-6, rtol=0)
