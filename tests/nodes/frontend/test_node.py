from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest

from flow import MS, Graph, GraphError, TextDelta
from flow.testing import run_node
from nodes.frontend.models import MODELS, StepOutput, heard_text
from nodes.frontend.node import FrontEnd
from nodes.frontend.synthetic import synthetic_turn
from nodes.types import Action, BackendResult, DelegateRequest, FusedTurn

from .conftest import SMALL

S = 1000 * MS

OPTIONS = {"config": msgspec.to_builtins(SMALL), "phase_ms": 100, "threads": 1}


def turns(n: int) -> list[FusedTurn]:
    return [synthetic_turn(i, text="hi" if i == 1 else "") for i in range(n)]


def test_steps_every_turn_at_the_stepper_cadence() -> None:
    r = run_node(FrontEnd, {"model": "torch", "options": OPTIONS},
                 {"turns": turns(5)}, pace="pts")
    actions = r.of("actions", Action)
    assert [a.turn for a in actions] == [0, 1, 2, 3, 4]
    assert {a.kind for a in actions} <= {"silent", "speak", "delegate"}
    # Turn i arrives at i*200 ms and is stepped at the tick 100 ms later.
    assert [a.reaction for a in actions] == [100 * MS] * 5
    assert all(len(a.data["probs"]) == 3 for a in actions)
    for t in r.of("text"):
        assert t.role == "model"


def test_late_turns_are_coalesced_not_queued() -> None:
    r = run_node(FrontEnd, {"model": "torch", "options": OPTIONS}, {"turns": turns(6)},
                 pace="fast")  # everything at once: the first tick takes all of it
    actions = r.of("actions", Action)
    assert len(actions) == 1 and actions[0].turn == 5
    assert actions[0].data["coalesced"] == 5


class Scripted:
    """A deterministic model behind the same slot (as ``reflex`` will be)."""

    class Options(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        reply: str = "hello"
        retract: bool = False  #: at turn 3, retract what is being said instead

    @classmethod
    async def open(cls, options, context):
        return ScriptedSession(options.reply, options.retract)


class ScriptedSession:
    def __init__(self, reply: str, retract: bool = False) -> None:
        self.reply = reply
        self.retract = retract
        self.interrupted = 0
        self.results: list[BackendResult] = []

    async def step(self, turn: FusedTurn) -> StepOutput:
        heard = heard_text(turn)
        if heard == "ask":
            return StepOutput("delegate", "what time is it")
        if heard:
            return StepOutput("speak", self.reply, final=True)
        if turn.index == 3:
            if self.retract:
                return StepOutput("silent", retract=True)
            return StepOutput("silent", interrupt=True)
        return StepOutput("silent")

    def interrupt(self) -> None:
        self.interrupted += 1

    def add_result(self, result: BackendResult) -> None:
        self.results.append(result)

    async def close(self) -> None:
        pass

    def statistics(self) -> dict:
        return {}


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS, "scripted", Scripted)


def test_a_registered_model_drives_text_delegate_and_interrupt(scripted: None) -> None:
    ts = [synthetic_turn(0, text="hey"), synthetic_turn(1, text="ask"), synthetic_turn(2),
          synthetic_turn(3)]
    r = run_node(FrontEnd, {"model": "scripted", "options": {"reply": "yo"}},
                 {"turns": ts}, pace="pts")
    assert [a.kind for a in r.of("actions", Action)] == ["speak", "delegate", "silent",
                                                         "silent"]
    (said,) = r.of("text", TextDelta)
    assert (said.text, said.role, said.final) == ("yo", "model", True)
    (req,) = r.of("delegate", DelegateRequest)
    assert req.query == "what time is it"
    assert req.context == (("user", "hey"), ("model", "yo"), ("user", "ask"))
    # It yielded the floor at turn 3: the interrupt goes out before that turn's action.
    assert [type(m).__name__ for m in r.outputs["actions"]][-2:] == ["Interrupt", "Action"]


def test_a_retraction_interrupts_what_is_said_and_nothing_else(scripted: None) -> None:
    ts = [synthetic_turn(0, text="hey"), synthetic_turn(1, text="ask"), synthetic_turn(2),
          synthetic_turn(3), synthetic_turn(4, text="again")]
    r = run_node(FrontEnd, {"model": "scripted", "options": {"reply": "yo", "retract": True}},
                 {"turns": ts}, pace="pts")
    kinds = {port: [type(m).__name__ for m in msgs] for port, msgs in r.outputs.items()}
    # the speech path is flushed between the two replies...
    assert kinds["text"][:3] == ["TextDelta", "Interrupt", "TextDelta"]
    assert [m.reason for m in r.outputs["text"] if type(m).__name__ == "Interrupt"] == [
        "frontend: the model corrects itself"]
    # ...but the back end's request and the actions log are not interrupted
    assert "Interrupt" not in kinds["actions"] and "Interrupt" not in kinds.get("delegate", [])
    assert [a.kind for a in r.of("actions", Action)] == ["speak", "delegate", "silent",
                                                         "silent", "speak"]


def test_bad_options_fail_at_graph_load_naming_the_field() -> None:
    with pytest.raises(GraphError,
                       match=r"options for model 'torch'.*at with\.options\.config\.d_model"):
        Graph.build("g", {"f": (FrontEnd, {"options": {"config": {"d_model": "big"}}})}, [])
    with pytest.raises(GraphError, match=r"unknown front-end model 'gpt'.*torch"):
        Graph.build("g", {"f": (FrontEnd, {"model": "gpt"})}, [])


def test_missing_checkpoint_names_the_path(tmp_path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(Exception, match=f"checkpoint: no such file: {missing}"):
        run_node(FrontEnd, {"options": {**OPTIONS, "checkpoint": str(missing)}},
                 {"turns": turns(1)})


def test_checkpoint_weights_are_loaded(tmp_path) -> None:
    import torch

    from nodes.models.tiny_duplex import TinyDuplexConfig, TinyDuplexLM

    cfg = TinyDuplexConfig(**{**OPTIONS["config"], "seed": 11})
    path = tmp_path / "w.pt"
    torch.save(TinyDuplexLM(cfg).state_dict(), path)
    loaded = TinyDuplexLM.load(msgspec.convert(OPTIONS["config"], TinyDuplexConfig), path)
    torch.testing.assert_close(loaded.text.weight, TinyDuplexLM(cfg).text.weight)


def test_node_module_does_not_import_torch() -> None:
    code = ("import sys, nodes.frontend.node as n; "
            "n.FrontEndParams(model='torch', options={'device': 'cpu'}); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_two_sessions_share_one_stepper_and_one_forward_per_tick() -> None:
    import asyncio

    from flow import FakeClock
    from flow.testing import run_graph_async
    from nodes.frontend.stepper import Stepper
    from nodes.models.tiny_duplex import TinyDuplexLM

    clock = FakeClock()
    graph = Graph.build("g", {"f": (FrontEnd, {"options": OPTIONS})}, [])

    async def main() -> tuple:
        stepper = Stepper(TinyDuplexLM(SMALL), clock=clock, period=200 * MS,
                          phase=100 * MS)
        services = {"frontend.stepper": stepper}
        runs = [run_graph_async(graph, {"f.turns": turns(4)}, pace="pts", clock=clock,
                                services=services) for _ in range(2)]
        results = await asyncio.gather(*runs)
        return results, stepper.statistics()

    results, st = clock.run(main())
    for r in results:
        assert [a.turn for a in r.of("f.actions", Action)] == [0, 1, 2, 3]
    assert (st.batches, st.steps, st.coalesced, st.sessions) == (4, 8, 0, 0)


def test_a_timer_fires_at_its_due_time_between_micro_turns() -> None:
    """The reflex's timer is said at its media time exactly, not at the next micro-turn."""
    from nodes.types import Heard
    words = (("remind", 100 * MS, 300 * MS), ("me", 300 * MS, 400 * MS),
             ("in", 400 * MS, 500 * MS), ("two", 500 * MS, 700 * MS),
             ("seconds", 700 * MS, 1130 * MS))
    said = Heard(pts=1130 * MS, text="remind me in two seconds", final=True, start=100 * MS,
                 end=1130 * MS, words=words)
    later = Heard(pts=4 * S, text="okay", final=True, start=3800 * MS, end=4 * S,
                  words=(("okay", 3800 * MS, 4 * S),))
    # Turns stop at 2 s (no step comes near the due time); a later hypothesis keeps the
    # session going past it.
    r = run_node(FrontEnd, {"model": "reflex"},
                 {"turns": [synthetic_turn(i) for i in range(10)], "heard": [said, later]},
                 pace="pts")
    fired = [(a, t) for a, t in zip(r.of("actions"), r.times["actions"], strict=True)
             if isinstance(a, Action) and a.text == "Two seconds are up."]
    assert len(fired) == 1
    action, at = fired[0]
    assert action.pts == 3130 * MS  # end of "seconds" + 2 s, not a micro-turn boundary
    assert at == 3130 * MS


def test_the_vocabulary_follows_the_skills_state() -> None:
    """The recogniser is told what the reflex can hear now: "stop" once a stopwatch runs."""
    from nodes.asr import SetVocabulary
    from nodes.types import Heard

    start = Heard(pts=1 * S, text="start the stopwatch", final=True, start=0, end=1 * S,
                  words=(("start", 0, 300 * MS), ("the", 300 * MS, 400 * MS),
                         ("stopwatch", 400 * MS, 1 * S)))
    r = run_node(FrontEnd, {"model": "reflex"}, {"heard": [start]}, pace="pts")
    sent = r.of("vocabulary", SetVocabulary)
    assert len(sent) == 2
    assert "start the stopwatch" in sent[0].phrases and "stop" not in sent[0].phrases
    assert "stop" in sent[1].phrases and "start the stopwatch" not in sent[1].phrases
    assert sent[0].pronunciations is None  # the built-in skills' words are all known


def test_a_skills_own_pronunciations_go_to_the_recogniser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A skill listening for a word the dictionary lacks brings its phones with it."""
    from nodes.asr import SetVocabulary
    from nodes.reflex.skills import Count

    monkeypatch.setattr(Count, "pronunciations", {"wombat": "W AA M B AE T",
                                                  "wombats": "W AA M B AE T S"})
    r = run_node(FrontEnd, {"model": "reflex"}, {"heard": []}, pace="pts")
    (sent,) = r.of("vocabulary", SetVocabulary)
    assert sent.pronunciations == {"wombat": ("W AA M B AE T",),
                                   "wombats": ("W AA M B AE T S",)}


def test_a_reaction_is_never_taken_from_a_clock_the_media_ran_ahead_of() -> None:
    """A file at pace: fast runs far ahead of the clock: the reply's reaction counts from
    its micro-turn's media time, not from the clock's (which gave -3541 ms)."""
    from nodes.types import Heard

    words = (("it", 0, 200 * MS), ("cost", 200 * MS, 500 * MS), ("four", 500 * MS, 800 * MS),
             ("dollars", 800 * MS, 1300 * MS))
    said = Heard(pts=1300 * MS, text="it cost four dollars", final=True, start=0,
                 end=1300 * MS, words=words)
    turns_ = [synthetic_turn(i) for i in range(10)]
    r = run_node(FrontEnd, {"model": "reflex"}, {"turns": turns_, "heard": [said]},
                 pace="fast")  # everything at clock time 0
    (reply,) = [a for a in r.of("actions", Action) if a.text.startswith("4 dollars")]
    assert reply.reaction >= 0
    assert reply.reaction == reply.pts - 1300 * MS  # from its micro-turn, in media time


def test_a_stepper_that_stops_fails_the_node_instead_of_hanging(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the shared stepper's loop (here: its third tick raises) used to leave every
    step waiting forever; now each session's node fails with the reason, and a session
    that starts afterwards gets a stepper of its own that works."""
    from flow import NodeFailed
    from nodes.frontend.models import ModelFailed
    from nodes.frontend.stepper import Stepper

    real_gather, real_deliver = Stepper.gather, Stepper.deliver

    def gather(self: Stepper) -> list:
        if self.ticks == 3:
            raise RuntimeError("bug in the tick")
        return real_gather(self)

    def deliver(batch: list, results: list) -> None:  # after the batch was taken
        raise RuntimeError("bug in delivery")

    for name, bug, message in (("gather", gather, "bug in the tick"),
                               ("deliver", staticmethod(deliver), "bug in delivery")):
        with monkeypatch.context() as patched:
            patched.setattr(Stepper, name, bug)
            with pytest.raises(NodeFailed) as failed:
                run_node(FrontEnd, {"model": "torch", "options": OPTIONS},
                         {"turns": turns(6)}, pace="pts")
        assert isinstance(failed.value.exc, ModelFailed)
        assert message in str(failed.value.exc)
    assert Stepper.deliver is real_deliver
    r = run_node(FrontEnd, {"model": "torch", "options": OPTIONS}, {"turns": turns(3)},
                 pace="pts")
    assert [a.turn for a in r.of("actions", Action)] == [0, 1, 2]


def test_an_answer_that_arrives_after_the_last_micro_turn_is_still_said(
        caplog: pytest.LogCaptureFixture) -> None:
    """A recording that ends just after a question: the back end's answer came after the
    last micro-turn, and waited for a pause that no later turn brought. It is said at the
    end of input; a question still unanswered then is logged, not lost without a word."""
    ask = [TextDelta(pts=100 * MS, text="what is twelve times seven", final=True),
           TextDelta(pts=300 * MS, text="who wrote hamlet", final=True)]
    answer = BackendResult(pts=900 * MS, id=1, text="12 times 7 is 84.", final=True)
    with caplog.at_level("WARNING", logger="microturn.reflex"):
        r = run_node(FrontEnd, {"model": "reflex"},
                     {"turns": turns(4), "heard": ask, "results": [answer]}, pace="pts")
    said = [t.text for t in r.of("text", TextDelta)]
    assert said == ["Let me check.", "Let me check.", "12 times 7 is 84."]
    (last,) = [a for a in r.of("actions", Action) if a.text == "12 times 7 is 84."]
    assert last.turn == 3 and last.data["skill"] == "backend"
    assert [rec.getMessage() for rec in caplog.records] == [
        f"session {r.session.id}: the input ended before the back end answered "
        "'who wrote hamlet'"]


def test_the_reflex_announces_its_skills_and_answers_each_example() -> None:
    """Once, at the start, before anything is heard: each skill with phrases to try, from
    the graph's settings (another currency, another category); every phrase, typed, gets
    its skill's answer."""
    settings = {"currency": {"rates": {"pounds": 1.25}, "target": "dollars"},
                "count": {"category": "pets", "words": ["hamster", "parrot"]}}
    options = {"skills": ["currency", "count", "stopwatch", "timer", "delegate"],
               "settings": settings}
    r = run_node(FrontEnd, {"model": "reflex", "options": options}, {"heard": []},
                 pace="pts")
    announced = [a for a in r.of("actions", Action) if a.kind == "skills"]
    assert len(announced) == 1 and announced[0].pts == 0
    skills = announced[0].data["skills"]
    assert skills == [
        {"name": "currency", "examples": ["convert twenty pounds to dollars"]},
        {"name": "count", "examples": ["I saw two hamsters and three parrots, how many pets "
                                       "so far"]},
        {"name": "stopwatch", "examples": ["start the stopwatch", "stop"]},
        {"name": "timer", "examples": ["remind me in ten seconds"]},
        {"name": "delegate", "examples": ["what is 12 times 7"]}]
    typed = [TextDelta(pts=(i + 1) * S, text=e, role="user", final=True)
             for i, e in enumerate(e for s in skills for e in s["examples"])]
    r = run_node(FrontEnd, {"model": "reflex", "options": options}, {"heard": typed},
                 pace="pts")
    said = [(a.data.get("skill"), a.text) for a in r.of("actions", Action)
            if a.kind in ("speak", "delegate")]
    assert said[:4] == [("currency", "20 pounds is 25 dollars."),
                        ("count", "5 pets so far."), ("stopwatch", "Stopwatch started."),
                        ("stopwatch", "1.0 seconds.")]
    assert said[4] == ("timer", "Timer set for ten seconds.")
    assert said[5][0] == "delegate" and said[5][1] == "Let me check."
    # each phrase a user may click gets its answer, in turn
    assert [k for k, _ in said[:len(typed)]] == [s["name"] for s in skills
                                                 for _ in s["examples"]]
