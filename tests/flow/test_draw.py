"""Mermaid and DOT pictures of a graph."""

from __future__ import annotations

from flow import MS, EdgeDecl, Graph, Policy
from flow.draw import edge_label, to_dot, to_mermaid

from .graphs.nodes import Back, Front, Lines


def graph() -> Graph:
    return Graph.build("assistant", {"mic": (Lines, {}), "front-end": (Front, {}),
                                     "back": (Back, {})},
                       ["mic.text -> front-end.text",
                        EdgeDecl("front-end", "ask", "back", "ask", Policy.DROP_NEWEST, 4,
                                 400 * MS),
                        EdgeDecl("back", "result", "front-end", "results", Policy.LATEST,
                                 feedback=True)])


def test_edge_labels_carry_policy_capacity_and_time():
    g = graph()
    assert [edge_label(e) for e in g.edges] == [
        "text → text · block/16", "ask → ask · drop_newest/4, 400ms",
        "result → results · latest, feedback"]


def test_mermaid():
    assert to_mermaid(graph()) == (
        "flowchart LR\n"
        '    n_mic["mic<br/><small>test.lines</small>"]\n'
        '    n_front_2d_end["front-end<br/><small>test.front</small>"]\n'
        '    n_back["back<br/><small>test.back</small>"]\n'
        '    n_mic -->|"text → text · block/16"| n_front_2d_end\n'
        '    n_front_2d_end -->|"ask → ask · drop_newest/4, 400ms"| n_back\n'
        '    n_back -.->|"result → results · latest, feedback"| n_front_2d_end\n')


def test_dot():
    out = to_dot(graph())
    assert out.startswith('digraph "assistant" {\n    rankdir=LR;\n')
    assert '    "front-end" [label="front-end\\ntest.front"];\n' in out
    assert ('    "back" -> "front-end" [label="result → results · latest, feedback", '
            'style=dashed, constraint=false];\n') in out
    assert out.endswith("}\n")
