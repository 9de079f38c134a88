"""A front-end model from a package (the ``microturn.models`` entry points), and what the
front end makes of a model's mistakes."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from flow import NodeFailed, NoParams
from flow.testing import run_node
from nodes.frontend import models
from nodes.frontend.models import MODEL_GROUP, StepOutput, heard_text, model_class
from nodes.frontend.node import FrontEnd
from nodes.types import Action, FusedTurn
from tests.nodes.frontend.test_node import synthetic_turn


class Echo:
    Options = NoParams
    answer: Any = None  # what a step returns, for the tests below

    @classmethod
    async def open(cls, options: Any, context: Any) -> EchoSession:
        return EchoSession(cls.answer)


class EchoSession:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def step(self, turn: FusedTurn) -> Any:
        if self.answer is not None:
            return self.answer
        heard = heard_text(turn)
        return StepOutput("speak", heard) if heard else StepOutput("silent")

    def interrupt(self) -> None:
        pass

    def add_result(self, result: Any) -> None:
        pass

    async def close(self) -> None:
        pass

    def statistics(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def echo_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package declares ``echo`` in the microturn.models entry points."""
    ep = EntryPoint("echo", f"{__name__}:Echo", MODEL_GROUP)
    monkeypatch.setattr(models, "entry_points",
                        lambda group: [ep] if group == MODEL_GROUP else [])
    monkeypatch.delitem(models.MODELS, "echo", raising=False)
    yield
    models.MODELS.pop("echo", None)


def test_a_package_s_model_is_found_by_name(echo_package: None) -> None:
    assert model_class("echo") is Echo
    r = run_node(FrontEnd, {"model": "echo"},
                 {"turns": [synthetic_turn(0), synthetic_turn(1, text="hi")]}, pace="pts")
    assert [a.kind for a in r.of("actions", Action)] == ["silent", "speak"]


def test_an_unknown_model_lists_the_packages_ones_too(echo_package: None) -> None:
    with pytest.raises(KeyError, match="unknown front-end model 'nope'; known: echo, reflex, "
                                       "torch"):
        model_class("nope")


@pytest.mark.parametrize(("answer", "message"), [
    ({"action": "speak"}, "a model's step returns a StepOutput, a list of them or None; got "
                          "dict"),
    (StepOutput("shout"), "StepOutput.action is one of silent, speak, delegate; got 'shout'"),
])
def test_a_step_output_the_front_end_cannot_act_on_ends_the_session_naming_it(
        echo_package: None, monkeypatch: pytest.MonkeyPatch, answer: Any,
        message: str) -> None:
    monkeypatch.setattr(Echo, "answer", answer)
    with pytest.raises(NodeFailed, match=message):
        run_node(FrontEnd, {"model": "echo"}, {"turns": [synthetic_turn(0)]}, pace="pts")


def test_a_failed_step_is_counted_where_stats_show_it(echo_package: None,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    async def fails(self: EchoSession, turn: FusedTurn) -> Any:
        if turn.index == 1:
            raise RuntimeError("boom at turn 1")
        return StepOutput("silent")

    monkeypatch.setattr(EchoSession, "step", fails)
    r = run_node(FrontEnd, {"model": "echo"},
                 {"turns": [synthetic_turn(i) for i in range(3)]}, pace="pts")
    assert [a.turn for a in r.of("actions", Action)] == [0, 2]  # the session went on
    (front,) = [n for n in r.statistics.nodes if n.id == "node"]  # run_node names it
    assert front.extra == {"errors": 1}
    assert f"  {front.id}: errors 1" in r.session.format_statistics()  # microturn run --stats
    assert "step of turn 1 failed" in caplog.text and "Traceback" in caplog.text
