from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from flow import MS, Clock, Interrupt, S, TextDelta
from flow.testing import run_node
from nodes.backend.node import PROVIDERS, BackEnd, BackEndParams
from nodes.backend.providers import ProviderError
from nodes.types import BackendResult, DelegateRequest


def ask(i: int, query: str, pts: int = 0, **kw: object) -> DelegateRequest:
    return DelegateRequest(pts=pts, id=i, query=query, **kw)  # type: ignore[arg-type]


def test_tool_request_runs_the_tool() -> None:
    r = run_node(BackEnd, {"rates": {"USD->EUR": 0.5}}, inputs={"requests": [
        ask(1, "convert", tool="convert_currency",
            args={"amount": 20, "source": "usd", "target": "eur"})]})
    (res,) = r.of("results", BackendResult)
    assert res.id == 1 and res.final and res.error is None
    assert res.text == "20 USD is 10 EUR"


def test_spoken_arithmetic_is_answered_offline() -> None:
    r = run_node(BackEnd, {}, inputs={"requests": [ask(7, "what is 12 times 7?")]})
    (res,) = r.of("results", BackendResult)
    assert res.text == "12 times 7 is 84." and res.error is None


def test_arithmetic_in_words_is_answered_offline() -> None:
    r = run_node(BackEnd, {}, inputs={"requests": [ask(3, "what is twelve times seven")]})
    (res,) = r.of("results", BackendResult)
    assert res.text == "12 times 7 is 84."


@pytest.mark.parametrize("query", ["what is seven times nineteen please",
                                   "okay so what is seven times nineteen it"])
def test_talk_around_the_arithmetic_is_left_out(query: str) -> None:
    r = run_node(BackEnd, {}, inputs={"requests": [ask(4, query)]})
    (res,) = r.of("results", BackendResult)
    assert res.text == "7 times 19 is 133." and res.error is None


def test_unanswerable_question_is_an_error_result_not_a_crash() -> None:
    r = run_node(BackEnd, {}, inputs={"requests": [ask(2, "what is the meaning of life")]})
    (res,) = r.of("results", BackendResult)
    assert res.final and res.error and "no offline answer" in res.error


class Slow:
    """A provider that takes 5 s (of clock time) per sentence."""

    name = "slow"

    def __init__(self, params: BackEndParams, clock: Clock) -> None:
        self.clock = clock

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        for word in ("One. ", "Two. ", "Three."):
            await self.clock.sleep(5 * S)
            yield word


@pytest.fixture
def slow_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, "slow", Slow)


def test_answers_stream_sentence_by_sentence(slow_provider: None) -> None:
    r = run_node(BackEnd, {"provider": "slow", "timeout": "1min"},
                 inputs={"requests": [ask(1, "count")]})
    res = r.of("results", BackendResult)
    assert [(x.text, x.final) for x in res] == [("One.", False), ("Two.", False), ("Three.", True)]
    assert r.times["results"] == [5 * S, 10 * S, 15 * S]


def test_timeout_ends_in_an_error_result(slow_provider: None) -> None:
    r = run_node(BackEnd, {"provider": "slow", "timeout": "7s"},
                 inputs={"requests": [ask(1, "count")]})
    res = r.of("results", BackendResult)
    assert res[-1].final and res[-1].error == "timed out after 7s"
    assert r.times["results"][-1] == 7 * S
    assert r.session.nodes["node"].timed_out == 1  # type: ignore[attr-defined]


def test_newer_request_supersedes_older(slow_provider: None) -> None:
    r = run_node(BackEnd, {"provider": "slow", "timeout": "1min"}, pace="pts",
                 inputs={"requests": [ask(1, "first"), ask(2, "second", pts=3 * S)]})
    assert {x.id for x in r.of("results", BackendResult)} == {2}


def test_interrupt_cancels_running_requests(slow_provider: None) -> None:
    r = run_node(BackEnd, {"provider": "slow", "timeout": "1min"}, pace="pts",
                 inputs={"requests": [ask(1, "first"), Interrupt(pts=2 * S)]})  # type: ignore[list-item]
    assert r.of("results", BackendResult) == []
    assert len(r.of("results", Interrupt)) == 1


def test_unknown_provider_is_a_parameter_error() -> None:
    from flow import Graph, GraphError

    with pytest.raises(GraphError, match="unknown provider 'gpt'"):
        Graph.build("g", {"b": (BackEnd, {"provider": "gpt"})}, [])


def test_provider_error_type_is_a_flow_error() -> None:
    from flow import FlowError

    assert issubclass(ProviderError, FlowError)
    assert TextDelta  # the front end speaks results as TextDeltas
    assert MS


class Buggy:
    """A provider that fails with a plain exception (a library error it did not wrap)."""

    name = "buggy"

    def __init__(self, params: BackEndParams, clock: Clock) -> None:
        pass

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        raise ConnectionResetError("peer reset")
        yield ""


def test_a_provider_that_raises_anything_ends_in_an_error_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, "buggy", Buggy)
    r = run_node(BackEnd, {"provider": "buggy"}, inputs={"requests": [ask(3, "hello")]})
    (res,) = r.of("results", BackendResult)
    assert res.id == 3 and res.final and "peer reset" in (res.error or "")
