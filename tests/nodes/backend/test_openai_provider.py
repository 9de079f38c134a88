"""The ``openai`` provider against a local stand-in server on 127.0.0.1.

These run on the real clock: real sockets cannot run on the fake clock (its time would jump
while the server is working). Each is bounded to well under a second except the stall test,
which waits for its 0.3 s timeout.
"""

from __future__ import annotations

import pytest

from flow import Graph, RealClock
from flow.testing import run_graph_async
from nodes.backend.node import BackEnd
from nodes.backend.openai_provider import OpenAIProvider
from nodes.backend.providers import ProviderError
from nodes.types import BackendResult, DelegateRequest

from .standin_openai import StandIn


async def ask(url: str, model: str, limit: str = "5s") -> list[BackendResult]:
    g = Graph.build("b", {"back": (BackEnd, {"provider": "openai", "base_url": url,
                                             "model": model, "timeout": limit})}, [])
    req = DelegateRequest(id=1, query="What is the capital of France?",
                          context=(("user", "hello"), ("model", "hi there")))
    r = await run_graph_async(g, {"back.requests": [req]}, ["back.results"], clock=RealClock())
    return r.of("back.results", BackendResult)


async def test_streams_the_answer_sentence_by_sentence() -> None:
    async with StandIn() as server:
        res = await ask(server.url, "chat")
        body = server.requests[0]
    assert [(r.text, r.final) for r in res] == [
        ("Paris is the capital of France.", False), ("It is on the Seine.", True)]
    assert body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert {t["function"]["name"] for t in body["tools"]} == {"calculator", "convert_currency"}


async def test_runs_tool_calls_and_sends_results_back() -> None:
    async with StandIn() as server:
        res = await ask(server.url, "tool")
        second = server.requests[1]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1",
                                      "content": "20 USD is 18.4 EUR"}
    assert " ".join(r.text for r in res).strip() == "Sure. 20 USD is 18.4 EUR."
    assert res[-1].error is None


@pytest.mark.slow
async def test_stalled_server_times_out_and_session_goes_on() -> None:
    """Real time: the stand-in stalls on a real socket; the timeout is 0.3 s."""
    async with StandIn() as server:
        res = await ask(server.url, "stall", limit="300ms")
    assert res[-1].final and res[-1].error == "timed out after 300ms"


async def test_http_error_becomes_an_error_result() -> None:
    async with StandIn() as server:
        res = await ask(server.url, "error")
    assert res[-1].error is not None and "HTTP 500" in res[-1].error


async def test_malformed_stream_becomes_an_error_result() -> None:
    async with StandIn() as server:
        res = await ask(server.url, "garbage")
    assert res[-1].error is not None and "malformed" in res[-1].error


async def test_unreachable_server_is_a_provider_error() -> None:
    async with StandIn() as server:
        url = server.url  # the port is closed once the server is gone
    p = OpenAIProvider(base_url=url, model="chat")
    with pytest.raises(ProviderError, match="cannot reach"):
        async for _ in p.answer(DelegateRequest(id=1, query="hi")):
            pass
    await p.close()
    assert RealClock


@pytest.mark.parametrize(("model", "error"), [
    ("cut", "ended before [DONE]"),
    ("inerror", "answered with an error: quota exceeded (stand-in)"),
    ("empty", "the openai provider gave an empty answer"),
])
async def test_an_answer_that_is_not_one_is_an_error_said_in_the_log(
        model: str, error: str, caplog: pytest.LogCaptureFixture) -> None:
    """A cut stream is part of an answer, the server's error object its own words, and no
    content no answer: each ends in the apology, and the log says why."""
    async with StandIn() as server:
        res = await ask(server.url, model)
    assert res[-1].final and res[-1].error is not None and error in res[-1].error
    assert "request 1 ('What is the capital of France?') not answered" in caplog.text
    assert error in caplog.text


async def test_the_model_sees_the_conversation_before_the_question_once() -> None:
    """The front end's context ends with the question and its "Let me check."."""
    async with StandIn() as server:
        g = Graph.build("b", {"back": (BackEnd, {"provider": "openai", "base_url": server.url,
                                                 "model": "chat"})}, [])
        req = DelegateRequest(id=1, query="what is nine times eight", context=(
            ("user", "hello"), ("model", "hi there"), ("user", "what is nine times eight"),
            ("model", "Let me check.")))
        r = await run_graph_async(g, {"back.requests": [req]}, ["back.results"],
                                  clock=RealClock())
        body = server.requests[0]
    assert [(m["role"], m["content"]) for m in body["messages"][1:]] == [
        ("user", "hello"), ("assistant", "hi there"), ("user", "what is nine times eight")]
    (back,) = [n for n in r.session.statistics().nodes if n.id == "back"]
    assert back.extra == {"answered": 1, "failed": 0, "timed_out": 0, "cancelled": 0}


def test_a_base_url_without_a_scheme_is_a_graph_mistake() -> None:
    from flow import GraphError

    with pytest.raises(GraphError, match="base_url must start with http:// or https://"):
        Graph.build("b", {"back": (BackEnd, {"provider": "openai",
                                             "base_url": "127.0.0.1:8000/v1"})}, [])


async def test_a_busy_server_is_asked_again_then_its_no_is_reported() -> None:
    """429 ("slow down") is a "not now": asked again after its Retry-After, twice at
    most; a server still busy after that is an error like any other."""
    async with StandIn() as server:
        res = await ask(server.url, "busy1")
        assert len(server.requests) == 2
    assert " ".join(r.text for r in res).strip().startswith("Paris is the capital")
    async with StandIn() as server:
        res = await ask(server.url, "busy9")
        assert len(server.requests) == 3
    assert res[-1].error is not None and "HTTP 429" in res[-1].error
