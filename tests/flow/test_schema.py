"""The JSON Schema for editors accepts valid graphs and rejects the mistakes a schema can
express (the loader remains the authority on ports, types and cycles)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import numpy as np
import pytest
import yaml

from flow import In, Node, TextDelta
from flow.schema import graph_schema

from .graphs.nodes import registry

GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = graph_schema(registry())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_fixture_graphs_are_valid(validator):
    for name in ("say.yaml", "assistant.yaml", "fail.yaml", "forever.yaml"):
        doc = yaml.safe_load((GRAPHS / name).read_text())
        assert errors(validator, doc) == [], name


def test_params_are_checked_per_node_type(validator):
    def node(spec: dict[str, Any]) -> list[str]:
        return errors(validator, {"graph": "g", "nodes": {"a": spec}})

    assert node({"use": "test.voice", "with": {"rate": 16000, "pace": "realtime"}}) == []
    assert node({"use": "test.voice", "with": {"rate": 0}}) != []
    assert node({"use": "test.voice", "with": {"pace": "slow"}}) != []
    assert node({"use": "test.voice", "with": {"rat": 9000}}) != []
    assert node({"use": "test.lax", "with": {"levle": 2}}) != []  # no forbid_unknown_fields
    assert node({"use": "test.lax", "with": {"window": "250ms"}}) == []
    assert node({"use": "test.lax", "with": {"window": "250"}}) != []  # a Duration
    assert node({"use": "test.audio_sink"}) != []  # a required parameter, so `with` is too
    assert node({"use": "test.audio_sink", "with": {"path": "x.wav"}}) == []
    assert node({"use": "test.nope"}) != []
    assert node({"use": "test.lines", "wiht": {}}) != []


def test_what_the_loader_accepts_beyond_the_types_is_valid_too(validator):
    """Environment variables in parameters, x- keys for anchors, a class by its import path:
    an editor must not mark what `microturn check` accepts."""
    doc = {"x-voice": {"rate": 16000}, "nodes": {
        "a": {"use": "test.voice", "with": {"rate": "${RATE:-16000}", "voice": "$VOICE"}},
        "b": {"use": "my_nodes:Slow", "with": {"anything": 1}},
        "c": {"use": "test.lax", "with": {"window": "${WINDOW}"}}}}
    assert errors(validator, doc) == []
    assert errors(validator, {**doc, "y-voice": {}}) != []  # other keys are still refused
    assert errors(validator, {"nodes": {"a": {"use": "test.voice", "with": {"rate": "$5"}}}}) \
        != []  # not a variable: still a string where a number goes
    assert errors(validator, {"nodes": {"a": {"use": "my nodes:Slow"}}}) != []


def test_edges_and_top_level(validator):
    base = {"graph": "g", "nodes": {"a": {"use": "test.lines"}}}
    assert errors(validator, {**base, "edges": ["a.text -> b.text"]}) == []
    assert errors(validator, {**base, "edges": ["a.text => b.text"]}) != []
    good = {"from": "a.text", "to": "b.text", "policy": "latest", "capacity": 2,
            "max_time": "1.5s", "feedback": True}
    assert errors(validator, {**base, "edges": [good]}) == []
    for bad in ({"policy": "fifo"}, {"capacity": 0}, {"max_time": "400"}, {"feedback": "y"},
                {"form": "a.text"}):
        assert errors(validator, {**base, "edges": [{**good, **bad}]}) != [], bad
    assert errors(validator, {**base, "edgse": []}) != []
    assert errors(validator, {"graph": "g", "nodes": {"a.b": {"use": "test.lines"}}}) != []


def test_same_named_params_of_two_plugins_do_not_collide_and_arrays_are_allowed():
    class A(Node):
        text: In[TextDelta]

        class Params(msgspec.Struct, frozen=True):
            a: int = 1
            table: np.ndarray | None = None

        async def on_text(self, msg: TextDelta) -> None:
            pass

    class B(Node):
        text: In[TextDelta]

        class Params(msgspec.Struct, frozen=True):
            b: str

        async def on_text(self, msg: TextDelta) -> None:
            pass

    reg = registry()
    reg.register("x.a", A)
    reg.register("x.b", B)
    schema = graph_schema(reg)
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    assert errors(v, {"nodes": {"n": {"use": "x.a", "with": {"a": 2}}}}) == []
    assert errors(v, {"nodes": {"n": {"use": "x.b", "with": {"a": 2}}}}) != []
    assert errors(v, {"nodes": {"n": {"use": "x.b", "with": {"b": "ok"}}}}) == []


def test_a_type_that_fails_to_import_still_has_an_entry():
    reg = registry()
    reg.register_lazy("broken.node", "no_such_module_for_microturn:Node")
    schema = graph_schema(reg)
    assert "broken.node" in schema["$defs"]["node"]["properties"]["use"]["anyOf"][0]["enum"]
    assert "unavailable" in schema["$defs"]["params:broken.node"]["description"]


def test_a_graph_that_extends_another_may_remove_nodes_and_change_parameters(validator):
    changes = {"graph": "g", "extends": "base.yaml",
               "nodes": {"a": None, "b": {"with": {"rate": 8000}},
                         "c": {"use": "test.voice", "with": {"rate": 16000}}}}
    assert errors(validator, changes) == []
    assert errors(validator, {"extends": "base.yaml", "edges": ["a.x -> b.y"]}) == []
    assert errors(validator, {"graph": "g", "nodes": {"a": None}}) != []  # nothing to remove
    assert errors(validator, {"graph": "g", "edges": []}) != []  # no nodes, no base
    assert errors(validator, {"extends": "base.yaml", "nodes": {"b": {"wiht": {}}}}) != []
    assert errors(validator, {"extends": 3, "nodes": {"a": None}}) != []
    removal = {"from": "a.x", "to": "b.y", "remove": True}
    assert errors(validator, {"extends": "base.yaml", "edges": [removal]}) == []
