"""``extends:``: a graph written as changes to another (flow.extends, flow.loader)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from flow import GraphError, Policy
from flow.loader import load_graph

from .graphs.nodes import registry

REG = registry()

BASE = """\
graph: say
nodes:
  text:  {use: test.lines, with: {lines: [hi, there]}}
  voice: {use: test.voice, with: {voice: en-us, rate: 16000}}
  out:   {use: test.audio_sink, with: {path: out/hello.wav}}
  shown: {use: test.print}
edges:
  - text.text -> voice.text
  - {from: voice.audio, to: out.audio, policy: drop_oldest, capacity: 4}
  - text.text -> shown.text
"""


def files(tmp_path: Path, **texts: str) -> dict[str, Path]:
    out = {}
    for name, text in texts.items():
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(dedent(text))
    return out


def load(path: Path, **kw: object):
    return load_graph(path, registry=REG, **kw)  # type: ignore[arg-type]


def problems(path: Path, **kw: object) -> list[str]:
    with pytest.raises(GraphError) as err:
        load(path, **kw)
    return err.value.issues


def test_a_graph_replaces_changes_removes_and_adds_to_the_one_it_extends(tmp_path: Path):
    f = files(tmp_path, base=BASE, loud="""\
        graph: loud
        extends: base.yaml
        nodes:
          voice: {with: {rate: 22050}}               # over the base's: its voice stays
          out:   {use: test.audio_sink, with: {path: out/loud.wav}}   # replaced
          shown: null                                # removed, with its edge
          upper: {use: test.upper}                   # added
        edges:
          - {from: voice.audio, to: out.audio, policy: latest}     # replaces the base's
          - text.text -> upper.text
        """)
    g = load(f["loud"])
    assert g.name == "loud" and list(g.nodes) == ["text", "voice", "out", "upper"]
    assert (g.nodes["voice"].params.voice, g.nodes["voice"].params.rate) == ("en-us", 22050)
    assert g.nodes["out"].params.path == "out/loud.wav"
    assert [str(e) for e in g.edges] == ["text.text -> voice.text", "voice.audio -> out.audio",
                                         "text.text -> upper.text"]
    assert g.edges[1].policy is Policy.LATEST
    # each declaration keeps where it was written: a message about it names that place
    base_text = str(f["base"])
    assert (g.nodes["text"].file, g.nodes["text"].line) == (base_text, 3)
    assert (g.nodes["voice"].file, g.nodes["voice"].line) == (None, 4)
    assert (g.edges[0].file, g.edges[0].line) == (base_text, 8)


def test_set_changes_a_node_the_graph_only_inherits(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="graph: child\nextends: base.yaml\n")
    g = load(f["child"], overrides=["voice.rate=8000", "text.lines=[yo]"])
    assert g.nodes["voice"].params.rate == 8000 and g.nodes["text"].params.lines == ["yo"]
    assert g.nodes["voice"].params.voice == "en-us"
    with pytest.raises(GraphError, match=r"--set voice.rate=10: node 'voice' \(test.voice\): "
                                         r"Expected int >= 8000"):
        load(f["child"], overrides=["voice.rate=10"])


def test_a_mistake_is_reported_in_the_file_that_made_it(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="""\
        graph: child
        extends: base.yaml
        nodes:
          voice: {use: test.upper}      # now no audio output: the base's edge breaks
          phantom: null
        """)
    issues = problems(f["child"])
    # the base's edge meets the node this graph replaced: the mistake is this graph's
    assert issues == [
        f"{f['child']}:4: inherited from {f['base']}:9: edge 'voice.audio -> out.audio': "
        "node 'voice' (test.upper) has no output 'audio' (outputs: out)",
        f"{f['child']}:5: node 'phantom': null removes a node of the graph this one "
        "extends, and say has no 'phantom'"]


def test_a_base_with_mistakes_is_reported_at_its_own_lines_then_the_extends_line(
        tmp_path: Path):
    f = files(tmp_path, base=BASE.replace("rate: 16000", "rate: 10"),
              child="graph: child\nextends: base.yaml\n")
    issues = problems(f["child"])
    assert issues[0].startswith(f"{f['base']}:4: node 'voice' (test.voice): Expected int "
                                ">= 8000")
    assert issues[-1] == (f"{f['child']}:2: extends 'base.yaml': the graph it extends has "
                          "the problems above")


def test_extends_is_relative_to_the_file_and_refuses_a_cycle(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    sub = tmp_path / "graphs"
    sub.mkdir()
    f = files(sub, base=BASE, a="graph: a\nextends: b.yaml\n", b="graph: b\nextends: a.yaml\n",
              lost="graph: lost\nextends: nowhere.yaml\n")
    monkeypatch.chdir(tmp_path)  # not the graphs' folder
    assert list(load(Path("graphs") / "base.yaml").nodes) == ["text", "voice", "out", "shown"]
    (cycle,) = [i for i in problems(f["a"]) if "cannot extend itself" in i]
    assert cycle.startswith(f"{f['b']}:2: extends 'a.yaml': a graph cannot extend itself")
    (lost,) = problems(f["lost"])
    assert lost == (f"{f['lost']}:2: extends 'nowhere.yaml': no such graph file "
                    f"({sub / 'nowhere.yaml'}: the path is from this file's folder)")


def test_the_served_assistant_is_the_file_one_with_its_media_swapped():
    """graphs/assistant_webrtc.yaml extends graphs/assistant.yaml: the same ears,
    tokenizer, front end, back end and voice, wired the same way."""
    root = Path(__file__).parents[2] / "graphs"
    served, file_one = load_graph(root / "assistant_webrtc.yaml"), load_graph(
        root / "assistant.yaml")
    for node in ("tokens", "front", "back"):
        assert served.nodes[node].params == file_one.nodes[node].params
    assert served.nodes["voice"].params.lead == "80ms"
    assert served.nodes["chunker"].params.wait == "200ms"
    assert served.nodes["ears"].params.acoustic_model == "default"  # people at microphones
    assert {n for n, d in served.nodes.items() if d.type_name.startswith("webrtc.")} == {
        "mic", "camera", "typed", "speaker", "events"}
    assert "out" not in served.nodes and "console" not in served.nodes


def test_a_graph_extends_a_packaged_graph_by_its_name(tmp_path: Path):
    """A user's own variant of a graph microturn ships, from any folder."""
    f = files(tmp_path, mine="graph: mine\nextends: say\nnodes:\n  voice: {with: {rate: 150}}\n")
    g = load_graph(f["mine"])
    assert g.nodes["voice"].params.rate == 150 and g.nodes["text"].type_name == "source.text"
    assert g.nodes["text"].file is not None and g.nodes["text"].file.endswith("say.yaml")


def test_set_on_a_node_the_graph_removes_is_refused(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="graph: c\nextends: base.yaml\nnodes: {out: null}\n")
    (issue,) = problems(f["child"], overrides=["out.path=x.wav"])
    assert issue == (f"{f['child']}: --set out.path=x.wav: node 'out' is removed by this "
                     "graph (null): there is nothing to set")


def test_a_copy_of_a_packaged_graph_that_extends_another_still_finds_it(tmp_path: Path):
    """`cp $(microturn graphs --path assistant_webrtc) mine.yaml`: its 'extends:
    assistant.yaml' is not beside the copy, so the packaged assistant is its base."""
    from flow.catalog import packaged_graphs

    mine = tmp_path / "mine.yaml"
    mine.write_bytes(packaged_graphs()["assistant_webrtc"].path.read_bytes())
    g = load_graph(mine)
    assert g.nodes["front"].file is not None and g.nodes["front"].file.endswith(
        "assistant.yaml")
    assert "speaker" in g.nodes


def test_parameters_merge_over_what_the_base_wrote_and_null_puts_one_back(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="""\
        graph: child
        extends: base
        nodes:
          voice: {with: {rate: 8000}}
          text:  {with: {lines: null}}
        """)
    g = load(f["child"])  # 'extends: base': base.yaml beside it
    assert g.nodes["voice"].written == {"voice": "en-us", "rate": 8000}  # no defaults
    assert g.nodes["text"].params.lines == ["hello"]  # test.lines' default


def test_an_edge_of_the_base_can_be_removed(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="""\
        graph: child
        extends: base.yaml
        edges:
          - {from: text.text, to: shown.text, remove: true}
          - {from: text.text, to: voice.audio, remove: true}
          - {from: text.text, to: shown.text, remove: true, policy: latest}
        """)
    issues = problems(f["child"])
    assert issues == [
        f"{f['child']}:5: edge 'text.text -> voice.audio': remove: true, but say has no "
        "such edge to remove",
        f"{f['child']}:6: edge 'text.text -> shown.text': an edge that goes is only "
        "{from, to, remove: true}"]
    f["child"].write_text(f["child"].read_text().rsplit("\n  - {from: text.text, to: v", 1)[0])
    g = load(f["child"])
    assert [str(e) for e in g.edges] == ["text.text -> voice.text", "voice.audio -> out.audio"]
    own = files(tmp_path, own="graph: own\nnodes: {t: {use: test.lines}}\nedges:\n"
                              "  - {from: t.text, to: t.x, remove: true}\n")
    assert problems(own["own"])[0] == (
        f"{own['own']}:4: edge 't.text -> t.x': unknown key 'remove' (an edge has: from, to, "
        "policy, capacity, max_time, feedback)")


def test_a_base_may_read_a_variable_the_graph_extending_it_sets(tmp_path: Path):
    f = files(tmp_path, base=BASE.replace("out/hello.wav", "'${OUT}'"),
              child="graph: child\nextends: base.yaml\nnodes:\n  out: {with: {path: x.wav}}\n",
              bare="graph: bare\nextends: base.yaml\n")
    assert load(f["child"], env={}).nodes["out"].params.path == "x.wav"
    assert load(f["bare"], env={}, overrides=["out.path=y.wav"]).nodes["out"].params.path \
        == "y.wav"
    issues = problems(f["bare"], env={})
    assert issues[0].startswith(f"{f['base']}:5: node 'out' (test.audio_sink): the "
                                "environment variable OUT is not set")


def test_removing_a_node_says_which_inputs_it_leaves_fed_by_nothing(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="graph: c\nextends: base.yaml\nnodes:\n  text: null\n")
    g = load(f["child"])
    assert g.notes == [
        f"{f['child']}:4: warning: removing node 'text' leaves voice.text fed by nothing (it "
        f"was by 'text.text -> voice.text', {f['base']}:8); connect it, or remove 'voice' too",
        f"{f['child']}:4: warning: removing node 'text' leaves shown.text fed by nothing (it "
        f"was by 'text.text -> shown.text', {f['base']}:10); connect it, or remove 'shown' "
        "too"]


def test_changing_a_node_the_base_lacks_says_so(tmp_path: Path):
    f = files(tmp_path, base=BASE, child="graph: c\nextends: base.yaml\nnodes:\n"
                                          "  vioce: {with: {rate: 8000}}\n")
    assert problems(f["child"]) == [
        f"{f['child']}:4: node 'vioce': say has no node 'vioce' to change; did you mean "
        "'voice'? (a new node needs 'use')"]


def test_a_packaged_base_nodes_missing_sample_says_how_to_get_it_or_change_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from flow.cli import main

    monkeypatch.chdir(tmp_path)  # no examples/ here
    (tmp_path / "mine.yaml").write_text("graph: mine\nextends: say\nnodes:\n"
                                        "  voice: {with: {rate: 150}}\n")
    assert main(["run", "mine.yaml"]) == 2
    err = capsys.readouterr().err
    assert "say.yaml:13: node 'text' (source.text): examples/hello.txt: no such file" in err
    assert ("that is packaged graph say's: `microturn init DIR` copies it with the samples "
            "it reads; or set it in mine.yaml (text: {with: ...}) or with --set") in err


def test_removing_what_fed_a_cycle_warns_that_the_graph_would_never_end(tmp_path: Path):
    """The packaged assistant without its chunker: the ears are fed only by the front end's
    feedback, so they, and the graph, would wait for ever."""
    from flow.commands.check import warnings

    f = files(tmp_path, mine="graph: mine\nextends: assistant\nnodes:\n  chunker: null\n")
    said = warnings(load_graph(f["mine"]))
    assert any("node 'ears' (asr.pocketsphinx) is fed only through feedback edges and has "
               "no run(): nothing outside its cycle can end it" in w for w in said)
    assert not any("feedback edges" in w for w in warnings(load_graph(
        Path(__file__).parents[2] / "graphs" / "assistant.yaml")))


def test_switching_models_in_a_graph_that_extends_drops_the_inherited_options(
        tmp_path: Path):
    f = files(tmp_path, keep="graph: k\nextends: assistant\nnodes:\n"
                             "  front: {with: {model: torch}}\n",
              drop="graph: d\nextends: assistant\nnodes:\n"
                   "  front: {with: {model: torch, options: null}}\n")
    with pytest.raises(GraphError) as err:
        load_graph(f["keep"])
    (issue,) = [i for i in err.value.issues if "front" in i]
    assert issue.startswith(f"{f['keep']}:4: node 'front' (frontend): options for model "
                            "'torch'") and "options: null drops the options it inherited" in issue
    front = load_graph(f["drop"]).nodes["front"]
    assert front.params.model == "torch" and "options" not in (front.written or {})
