from __future__ import annotations

import pytest
import torch

from nodes.frontend.streaming_session import SPEAK, StreamingSession, forward_batch, step_batch
from nodes.frontend.synthetic import synthetic_turn
from nodes.models.tiny_duplex import TinyDuplexLM
from nodes.types import FusedTurn

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
