"""Graphs built in Python go through the same checks as YAML ones."""

from __future__ import annotations

import pytest

from flow import EdgeDecl, Graph, GraphError, Policy
from flow.graph import Issue, check, parse_edge_text, validate

from .graphs.nodes import Back, Front, Lines, Print, Upper, Voice, registry


def issues_of(nodes, edges, **kw) -> list[str]:
    with pytest.raises(GraphError) as info:
        Graph.build("g", nodes, edges, **kw)
    return info.value.issues


def test_build_by_class_or_by_type_name():
    g = Graph.build("g", {"src": (Lines, {"lines": ["a"]}), "up": ("test.upper", {}),
                          "p": (Print, {})},
                    ["src.text -> up.text", EdgeDecl("up", "out", "p", "text", Policy.LATEST)],
                    registry=registry())
    assert g.nodes["up"].cls is Upper and g.nodes["src"].params.lines == ["a"]
    assert g.edges[1].policy is Policy.LATEST and validate(g) == []


def test_build_takes_a_type_alone_a_params_struct_and_edges_written_as_in_yaml():
    g = Graph.build("g", {"src": (Lines, Lines.Params(lines=["a"])), "up": Upper,
                          "p": ("test.print",)},
                    ["src.text -> up.text",
                     {"from": "up.out", "to": "p.text", "policy": "latest", "max_time": "400ms"}],
                    registry=registry())
    assert g.nodes["src"].params.lines == ["a"] and g.nodes["p"].cls is Print
    assert (g.edges[1].policy, g.edges[1].max_time) == (Policy.LATEST, 400_000_000)


def test_build_names_a_malformed_node_or_edge_instead_of_a_python_error():
    issues = issues_of({"src": (Lines, {}, "extra"), "up": Upper, "p": Print},
                       [("up.out", "p.text"),
                        {"from": "up.out", "to": "p", "policy": "newest", "capacity": 0,
                         "max_time": "4", "colour": "red"}],
                       registry=registry())
    assert issues == [
        "node 'src': expected a node type, or (type, parameters); got (<class "
        "'tests.flow.graphs.nodes.Lines'>, {}, 'extra')",
        "an edge is 'a.out -> b.in', a mapping as in YAML or an EdgeDecl; got ('up.out', "
        "'p.text')",
        "edge 'up.out -> p': unknown key 'colour' (an edge has: from, to, policy, capacity, "
        "max_time, feedback)",
        "edge 'up.out -> p': 'from' and 'to' must be node.port",
        "edge 'up.out -> p': unknown policy 'newest' (policies: block, drop_oldest, "
        "drop_newest, latest)",
        "edge 'up.out -> p': 'capacity' must be a whole number of messages >= 1",
        "edge 'up.out -> p': max_time: expected a duration with a unit like '200ms' or "
        "'1.5s', got '4'",
    ]


def test_build_reports_every_problem_without_a_file():
    issues = issues_of({"src": (Lines, {"lines": "a", "bogus": 1}), "x": ("test.nope", {}),
                        "bad id": (Print, {})},
                       ["src.text -> x.text", "src.text => p.text", "src.text -> bad id.text"],
                       registry=registry())
    assert issues[2].startswith("node 'x': unknown node type 'test.nope'")
    del issues[2]
    assert issues == [
        "node 'src' (test.lines): unknown parameter 'bogus' - at with.bogus (parameters: lines, "
        "every_ms, forever)",
        "node 'src' (test.lines): Expected array, got str 'a' - at with.lines",
        "invalid node id 'bad id': use letters, digits, '_' and '-', starting with a letter or "
        "'_' (edges name ports as id.port)",
        "malformed edge 'src.text => p.text': expected 'node.port -> node.port' (no '->' "
        "found)",
        "malformed edge 'src.text -> bad id.text': expected 'node.port -> node.port' (names "
        "use letters, digits, '_' and '-')",
    ]


def test_edge_decl_limits_are_checked():
    issues = issues_of({"f": (Front, {}), "b": (Back, {})},
                       [EdgeDecl("f", "ask", "b", "ask", capacity=0, max_time=-5),
                        EdgeDecl("b", "result", "f", "results", feedback=True)])
    assert issues == [
        "edge 'f.ask -> b.ask': capacity must be at least 1, got 0",
        "edge 'f.ask -> b.ask': max_time must be positive, got -5ns",
        "edge 'b.result -> f.results': a feedback edge cannot use policy 'block' (a full "
        "cycle of blocking edges deadlocks); use drop_oldest, drop_newest or latest",
    ]


def test_every_cycle_is_named_with_its_path():
    issues = issues_of({"a": (Upper, {}), "b": (Upper, {}), "c": (Upper, {})},
                       ["a.out -> b.text", "b.out -> c.text", "c.out -> a.text"])
    assert issues == ["edge 'c.out -> a.text' closes a cycle (a -> b -> c -> a); mark the "
                      "edge that feeds back with 'feedback: true'"]
    issues = issues_of({"a": (Upper, {})}, ["a.out -> a.text"])
    assert issues == ["edge 'a.out -> a.text' closes a cycle (a -> a); mark the edge that "
                      "feeds back with 'feedback: true'"]


def test_a_feedback_edge_must_close_a_cycle():
    # A forward edge marked feedback used to pass, and quietly became drop_oldest.
    issues = issues_of({"a": (Upper, {}), "b": (Upper, {}), "c": (Upper, {})},
                       ["a.out -> b.text",
                        EdgeDecl("b", "out", "c", "text", Policy.LATEST, feedback=True)])
    assert issues == ["edge 'b.out -> c.text': feedback: true, but this edge closes no cycle "
                      "(nothing leads from c back to b); remove 'feedback: true' (it marks the "
                      "edge that closes a cycle)"]
    # Through other feedback edges, or onto itself, it does close one.
    Graph.build("g", {"a": (Upper, {}), "b": (Upper, {})},
                [EdgeDecl("a", "out", "b", "text", Policy.LATEST, feedback=True),
                 EdgeDecl("b", "out", "a", "text", Policy.LATEST, feedback=True)])
    Graph.build("g", {"a": (Upper, {})},
                [EdgeDecl("a", "out", "a", "text", Policy.LATEST, feedback=True)])


def test_a_long_chain_does_not_exhaust_the_stack():
    n = 3000
    nodes = {f"n{i}": (Upper, {}) for i in range(n)}
    edges = [f"n{i}.out -> n{i + 1}.text" for i in range(n - 1)]
    Graph.build("long", nodes, edges)
    issues = issues_of(nodes, [*edges, f"n{n - 1}.out -> n0.text"])
    assert len(issues) == 1 and issues[0].startswith(f"edge 'n{n - 1}.out -> n0.text' closes")


def test_unknown_nodes_of_an_edge_are_each_named_once():
    issues = issues_of({"a": (Upper, {})}, ["x.out -> x.text"])
    assert issues == ["edge 'x.out -> x.text': unknown node 'x' (nodes: a)"]


def test_type_mismatch_allows_subclasses():
    # Voice takes TextDelta; every TextDelta subclass is accepted, AudioFrame is not.
    Graph.build("g", {"s": (Lines, {}), "v": (Voice, {})}, ["s.text -> v.text"])
    issues = issues_of({"v": (Voice, {}), "w": (Voice, {})}, ["v.audio -> w.text"])
    assert "type mismatch: v.audio is Out[AudioFrame] but w.text is In[TextDelta]" in issues[0]


def test_check_skips_edges_of_unknown_nodes():
    g = Graph("g", {}, [EdgeDecl("a", "out", "b", "in")])
    assert check(g, skip={"a"}) == []
    assert [i.message for i in check(g)] == ["edge 'a.out -> b.in': unknown node 'a' (nodes: "
                                             "none)", "edge 'a.out -> b.in': unknown node 'b' "
                                             "(nodes: none)"]


def test_issue_formatting():
    assert Issue(3, "m").format("g.yaml") == "g.yaml:3: m"
    assert Issue(None, "m").format("g.yaml") == "g.yaml: m"
    assert Issue(None, "m", "--set a.b=1").format("g.yaml") == "g.yaml: --set a.b=1: m"
    assert Issue(3, "m").format(None) == "line 3: m"
    assert Issue(None, "m").format(None) == "m"


def test_parse_edge_text():
    assert parse_edge_text(" a.out->b-2.in_1 ") == ("a", "out", "b-2", "in_1")
    assert parse_edge_text("a.out -> b") is None
    assert parse_edge_text("a.b.c -> d.e") is None
