"""``microturn check --print`` (flow.dump): a graph as loaded, as YAML that loads back
into the same graph, each part with the file and line it comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.cli import main
from flow.dump import graph_yaml
from flow.graph import Graph
from flow.loader import load_graph, load_graph_text

ROOT = Path(__file__).parents[2]


def same(a: Graph, b: Graph) -> None:
    assert [(d.id, d.type_name, d.params) for d in a.nodes.values()] == \
        [(d.id, d.type_name, d.params) for d in b.nodes.values()]
    assert [(str(e), e.policy, e.limit, e.max_time, e.feedback) for e in a.edges] == \
        [(str(e), e.policy, e.limit, e.max_time, e.feedback) for e in b.edges]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "graphs").glob("*.yaml")))
def test_every_shipped_graph_prints_as_yaml_that_loads_back_the_same(name: str):
    graph = load_graph(ROOT / "graphs" / name, overrides=["voice.rate=150"]
                       if name.startswith("assistant") else None)
    same(graph, load_graph_text(graph_yaml(graph), "printed.yaml"))


def test_check_print_shows_where_each_part_of_an_extending_graph_comes_from(capsys):
    assert main(["check", "--print", str(ROOT / "graphs" / "assistant_webrtc.yaml"),
                 "--set", "voice.rate=150"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph: assistant_webrtc\nnodes:\n")
    assert f"  tokens:  # {ROOT / 'graphs' / 'assistant.yaml'}:13\n" in out
    assert "    with: {voice: en-us, rate: 150, sample_rate: 16000, lead: 80ms}\n" in out
    assert ("  - {from: mic.audio, to: chunker.audio, policy: drop_oldest, max_time: 1s}  # "
            f"{ROOT / 'graphs' / 'assistant_webrtc.yaml'}:28\n") in out
