"""Property: whatever text or structure the loader is fed, it returns a Graph or raises a
GraphError whose every line is ``g.yaml[:LINE]: message``; never any other exception."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flow import FlowError, Graph, GraphError
from flow.loader import load_graph_text

from .graphs.nodes import TYPES, registry

REG = registry()
ISSUE = re.compile(r"^g\.yaml(:\d+)?: \S")

VALID: dict[str, Any] = {
    "graph": "say",
    "nodes": {
        "text": {"use": "test.lines", "with": {"lines": ["hi", "there"], "every_ms": 10}},
        "up": {"use": "test.upper"},
        "voice": {"use": "test.voice", "with": {"voice": "en-us", "rate": 16000}},
        "out": {"use": "test.audio_sink", "with": {"path": "out/hello.wav"}},
        "front": {"use": "test.front"},
        "back": {"use": "test.back"},
        "p": {"use": "test.print"},
    },
    "edges": [
        "text.text -> up.text",
        "up.out -> voice.text",
        {"from": "voice.audio", "to": "out.audio", "policy": "drop_oldest", "capacity": 16,
         "max_time": "400ms"},
        "text.text -> front.text",
        "front.ask -> back.ask",
        {"from": "back.result", "to": "front.results", "feedback": True},
    ],
}

settings.register_profile("loader", deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(settings.get_profile("loader"))


def check(text: str, overrides: list[str] | None = None) -> None:
    try:
        graph = load_graph_text(text, "g.yaml", registry=REG, overrides=overrides)
    except GraphError as exc:
        assert exc.issues, "a GraphError must carry at least one issue"
        for issue in exc.issues:
            assert ISSUE.match(issue), issue
        return
    except FlowError as exc:  # pragma: no cover - the assertion explains
        raise AssertionError(f"a FlowError that is not a GraphError: {exc!r}") from exc
    assert isinstance(graph, Graph)


names = st.sampled_from(["graph", "nodes", "edges", "use", "with", "from", "to", "policy",
                         "capacity", "max_time", "feedback", "text", "up", "voice", "out",
                         "rate", "path", "lines", "every_ms", *TYPES])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=12), names,
    st.sampled_from(["400ms", "0s", "-1ms", "1e3s", "text.text -> up.text", "a.b", "block",
                     "latest", "drop_oldest", "up.out", "voice.audio -> out.audio"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(names, scalars), inner, max_size=4)),
    max_leaves=20)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.lists(st.sampled_from(["graph: g\n", "nodes:\n", "  a: {use: test.lines}\n",
                                 "  b: {use: test.print}\n", "edges:\n",
                                 "  - a.text -> b.text\n", "- x\n", "  with: {rate: 1}\n",
                                 "    use: test.voice\n", "&x ", "*x\n", "<<: *x\n", "{", "]",
                                 "\t", ": ", "? ", "!!int ", "'", '"', "#", "---\n", "%YAML\n",
                                 "!!binary x\n", "~\n", "\n"]), max_size=20))
def test_random_yaml_like_text(parts: list[str]) -> None:
    check("".join(parts))


@FUZZ
@given(values)
def test_random_structures(doc: Any) -> None:
    check(yaml.safe_dump(doc))


@FUZZ
@given(st.dictionaries(st.sampled_from(["graph", "nodes", "edges", "extra"]), values,
                       max_size=4))
def test_random_top_level_mappings(doc: dict[str, Any]) -> None:
    check(yaml.safe_dump(doc))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_graphs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename", "duplicate"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(names, st.text(max_size=8)))] = parent.pop(key)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


@FUZZ
@given(mutated_graphs())
def test_mutations_of_a_valid_graph(doc: dict[str, Any]) -> None:
    check(yaml.safe_dump(doc, sort_keys=False))


@FUZZ
@given(st.data())
def test_character_mutations_of_a_valid_graph(data: st.DataObject) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False, default_flow_style=None)
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 6)))
        text = text[:i] + data.draw(st.text(max_size=4)) + text[j:]
    check(text)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=20),
                          st.builds(lambda n, p, v: f"{n}.{p}={v}",
                                    st.sampled_from(["text", "voice", "out", "nope", ""]),
                                    names, st.text(max_size=8))), max_size=4))
def test_random_overrides(overrides: list[str]) -> None:
    check(yaml.safe_dump(VALID, sort_keys=False), overrides)


def test_the_valid_graph_is_valid() -> None:
    graph = load_graph_text(yaml.safe_dump(VALID, sort_keys=False), "g.yaml", registry=REG)
    assert len(graph.nodes) == 7 and len(graph.edges) == 6


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    check("a: " + "[" * 5000 + "]" * 5000)
    check("graph: g\nnodes:\n  a: {use: test.lines, with: {lines: " + "[" * 3000 + "]" * 3000
          + "}}\n")


@FUZZ
@given(st.lists(st.sampled_from(["param", "type", "policy", "port", "value"]), min_size=7,
                max_size=7), st.lists(st.booleans(), min_size=7, max_size=7))
def test_every_injected_error_is_reported_on_its_line(kinds: list[str],
                                                      inject: list[bool]) -> None:
    """Node i (on line 3 + i) gets a mistake of kind ``kinds[i]`` if ``inject[i]``; edge i
    (on line 12 + i) feeds it. Exactly the injected mistakes come back, on their lines."""
    node_lines, edge_lines, expected = [], [], []
    for i, (kind, bad) in enumerate(zip(kinds, inject, strict=True)):
        use, params, port, policy = "test.print", "{prefix: ok}", "text", "block"
        if bad:
            if kind == "param":
                params = "{prefx: ok}"
            elif kind == "type":
                use = "test.prnt"
            elif kind == "value":
                params = "{prefix: [1]}"
            elif kind == "policy":
                policy = "fifo"
            else:
                port = "txt"
            expected.append(3 + i if kind in ("param", "type", "value") else 12 + i)
        node_lines.append(f"  p{i}: {{use: {use}, with: {params}}}\n")
        edge_lines.append(f"  - {{from: src.text, to: p{i}.{port}, policy: {policy}}}\n")
    text = ("graph: g\nnodes:\n" + "".join(node_lines) + "  src: {use: test.lines}\n"
            + "edges:\n" + "".join(edge_lines))
    assert text.splitlines()[2].startswith("  p0:") and text.splitlines()[11].startswith("  -")
    try:
        load_graph_text(text, "g.yaml", registry=REG)
    except GraphError as exc:
        lines = [int(issue.split(":")[1]) for issue in exc.issues]
        assert lines == sorted(expected), exc.issues
    else:
        assert expected == []
