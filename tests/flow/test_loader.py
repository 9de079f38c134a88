"""The YAML loader: every kind of mistake is reported with its exact line, the node id and
the field, the bad value and a hint; and all of them at once."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from flow import MS, GraphError, Policy, S
from flow.loader import load_graph, load_graph_text

from .graphs.nodes import registry

REG = registry()


def load(text: str, **kw):
    return load_graph_text(dedent(text), "g.yaml", registry=REG, **kw)


def problems(text: str, **kw) -> list[str]:
    with pytest.raises(GraphError) as info:
        load(text, **kw)
    return info.value.issues


def one(text: str, **kw) -> str:
    issues = problems(text, **kw)
    assert len(issues) == 1, issues
    return issues[0]


VALID = """\
    graph: say
    nodes:
      text:  {use: test.lines, with: {lines: [hi, there]}}
      voice: {use: test.voice, with: {voice: en-us, rate: 16000}}
      out:   {use: test.audio_sink, with: {path: out/hello.wav}}
    edges:
      - text.text -> voice.text
      - {from: voice.audio, to: out.audio, policy: drop_oldest, capacity: 4, max_time: 400ms}
    """


# -- a valid graph ---------------------------------------------------------------------------

def test_a_valid_graph_loads_with_its_lines_policies_and_durations():
    g = load(VALID)
    assert g.name == "say" and g.path == "g.yaml"
    assert list(g.nodes) == ["text", "voice", "out"]
    assert g.nodes["voice"].params.rate == 16000 and g.nodes["voice"].line == 4
    assert g.nodes["text"].params.lines == ["hi", "there"]
    plain, rich = g.edges
    assert (plain.src, plain.src_port, plain.dst, plain.dst_port) == ("text", "text", "voice",
                                                                      "text")
    assert plain.policy is Policy.BLOCK and plain.line == 7 and plain.max_time is None
    assert rich.policy is Policy.DROP_OLDEST and rich.capacity == 4
    assert rich.max_time == 400 * MS and rich.line == 8
    assert (plain.capacity, plain.limit) == (None, 16)  # the default count
    assert g.lines == {"graph": 1, "nodes": 2, "edges": 6}


def test_an_edge_with_a_max_time_and_no_capacity_is_bounded_by_the_time():
    g = load(VALID.replace("capacity: 4, ", ""))
    timed = g.edges[1]
    assert timed.capacity is None and timed.max_time == 400 * MS
    assert timed.limit == 1024  # a safety net only: 400 ms is the bound that applies


def test_the_graph_name_defaults_to_the_file_stem(tmp_path: Path):
    path = tmp_path / "hello.yaml"
    path.write_text("nodes: {a: {use: test.lines}}\n")
    assert load_graph(path, registry=REG).name == "hello"


def test_edges_are_optional_and_with_may_be_empty():
    g = load("graph: g\nnodes:\n  a: {use: test.lines, with: }\n")
    assert g.edges == [] and g.nodes["a"].params.lines == ["hello"]


def test_a_feedback_edge_defaults_to_drop_oldest_and_closes_a_cycle():
    g = load("""\
        graph: loop
        nodes:
          src: {use: test.lines}
          front: {use: test.front}
          back: {use: test.back}
        edges:
          - src.text -> front.text
          - front.ask -> back.ask
          - {from: back.result, to: front.results, feedback: true}
        """)
    assert g.edges[2].feedback and g.edges[2].policy is Policy.DROP_OLDEST


def test_yaml_merge_keys_are_not_duplicates():
    g = load("""\
        graph: g
        nodes:
          a: &base {use: test.voice, with: {rate: 8000}}
          b:
            <<: *base
            with: {rate: 9000}
        """)
    assert g.nodes["a"].params.rate == 8000 and g.nodes["b"].params.rate == 9000


def test_fan_in_inputs_take_several_edges():
    load("""\
        graph: g
        nodes:
          a: {use: test.lines}
          b: {use: test.lines}
          p: {use: test.print}
        edges: [a.text -> p.text, b.text -> p.text]
        """)


# -- YAML itself -----------------------------------------------------------------------------

def test_yaml_syntax_error_names_the_line():
    issue = one("""\
        graph: g
        nodes:
          a: {use: test.lines
          b: {use: test.lines}
        """)
    assert issue == ("g.yaml:4: YAML syntax error: did not find expected ',' or '}' (in a "
                     "flow mapping that starts at line 3)")


def test_tab_indentation_is_a_syntax_error_with_its_line():
    issue = one("graph: g\nnodes:\n\ta: {use: test.lines}\n")
    assert issue == ("g.yaml:3: YAML syntax error: found character that cannot start any "
                     "token; indent with spaces: YAML does not allow tabs")


def test_duplicate_keys_are_reported_with_both_lines():
    issues = problems("""\
        graph: g
        nodes:
          a: {use: test.lines}
          b: {use: test.voice, with: {rate: 8000, rate: 9000}}
          a: {use: test.print}
        graph: again
        """)
    assert issues == [
        "g.yaml:4: duplicate key 'rate' in nodes/b/with (first defined at line 4); "
        "YAML would silently keep only the last one",
        "g.yaml:5: duplicate key 'a' in nodes (first defined at line 3); "
        "YAML would silently keep only the last one",
        "g.yaml:6: duplicate key 'graph' in the top level (first defined at line 1); "
        "YAML would silently keep only the last one",
    ]


def test_an_empty_file_and_a_non_mapping_are_errors():
    assert one("") == ("g.yaml: a graph is a mapping with keys graph, extends, nodes, edges; "
                       "got an empty file")
    assert one("- a\n- b\n").startswith("g.yaml:1: a graph is a mapping")


def test_a_bad_tagged_scalar_is_reported_not_raised():
    issue = problems("graph: g\nnodes:\n  a: {use: test.lines, with: {every_ms: !!int x}}\n")
    assert issue[0].startswith("g.yaml:3: cannot read tag:yaml.org,2002:int value 'x'")


# -- top level and nodes ---------------------------------------------------------------------

def test_unknown_top_level_key_with_did_you_mean():
    issue = one("graph: g\nnodes: {a: {use: test.lines}}\nedgse: []\n")
    assert issue == ("g.yaml:3: unknown top-level key 'edgse'; did you mean 'edges'? "
                     "(a graph has: graph, extends, nodes, edges; keys that start with x- are "
                     "yours, for YAML anchors)")


def test_missing_or_empty_nodes():
    assert one("graph: g\n").startswith("g.yaml:1: the graph has no 'nodes'")
    assert one("graph: g\nnodes: {}\n").startswith("g.yaml:2: 'nodes' must map node ids")


def test_a_node_must_be_a_mapping_with_use():
    issues = problems("""\
        graph: g
        nodes:
          a: test.lines
          b: {with: {x: 1}}
          c: {use: test.lines, wiht: {}}
        """)
    assert issues[0].startswith("g.yaml:3: node 'a' must be a mapping like {use: TYPE, with:")
    assert "got a string ('test.lines')" in issues[0]
    assert issues[1].startswith("g.yaml:4: node 'b': 'use' must name a node type")
    assert issues[2] == ("g.yaml:5: node 'c': unknown key 'wiht'; did you mean 'with'? "
                         "(a node has: use, with)")


def test_a_node_id_must_be_usable_in_edges():
    issue = one("graph: g\nnodes:\n  a.b: {use: test.lines}\n")
    assert issue.startswith("g.yaml:3: invalid node id 'a.b'")


def test_unknown_node_type_with_did_you_mean():
    issue = one("graph: g\nnodes:\n  tts: {use: test.voise}\n")
    assert issue == ("g.yaml:3: node 'tts': unknown node type 'test.voise'; did you mean "
                     "'test.voice'? (see `microturn nodes`)")


def test_a_node_type_that_fails_to_import_names_its_entry_point():
    reg = registry()
    reg.register_lazy("broken.node", "no_such_module_for_microturn:Broken")
    with pytest.raises(GraphError) as info:
        load_graph_text("graph: g\nnodes:\n  x: {use: broken.node}\n", "g.yaml", registry=reg)
    (issue,) = info.value.issues
    assert issue.startswith("g.yaml:3: node 'x': node type 'broken.node' "
                            "(no_such_module_for_microturn:Broken) failed to import: "
                            "ModuleNotFoundError"), issue


def test_edges_to_an_unknown_type_are_not_reported_twice():
    issues = problems("""\
        graph: g
        nodes:
          a: {use: test.lines}
          b: {use: nope.nope}
        edges: [a.text -> b.text]
        """)
    assert len(issues) == 1 and issues[0].startswith("g.yaml:4: node 'b': unknown node type")


def test_the_known_end_of_an_edge_to_an_unknown_type_is_still_checked():
    """Two typos at once: both are reported, not the second only once the first is fixed."""
    issues = problems("""\
        graph: g
        nodes:
          a: {use: test.lines}
          b: {use: nope.nope}
        edges: [a.txt -> b.text, b.out -> a.text]
        """)
    assert issues[1:] == [
        "g.yaml:5: edge 'a.txt -> b.text': node 'a' (test.lines) has no output 'txt'; did "
        "you mean 'text'? (outputs: text)",
        "g.yaml:5: edge 'b.out -> a.text': a.text is an output; an edge goes to an input "
        "(inputs of test.lines: none)"]


# -- parameters ------------------------------------------------------------------------------

def test_the_documented_example_message():
    issue = one("""\
        graph: g
        nodes:
          tts:
            use: test.voice
            with:
              voice: en-us
              rate: 0
        """)
    assert issue == ("g.yaml:7: node 'tts' (test.voice): Expected int >= 8000, got 0 - at "
                     "with.rate")


def test_wrong_parameter_type_names_the_value():
    issue = one("graph: g\nnodes:\n  tts: {use: test.voice, with: {rate: fast}}\n")
    assert issue == ("g.yaml:3: node 'tts' (test.voice): Expected int, got str 'fast' - at "
                     "with.rate")


def test_a_literal_parameter_suggests_the_choices():
    issue = one("graph: g\nnodes:\n  tts: {use: test.voice, with: {pace: fats}}\n")
    assert issue == ("g.yaml:3: node 'tts' (test.voice): Invalid enum value 'fats' - at "
                     "with.pace; did you mean 'fast'? (choices: 'fast', 'realtime')")


def test_unknown_parameter_with_did_you_mean_on_its_own_line():
    issue = one("""\
        graph: g
        nodes:
          tts:
            use: test.voice
            with:
              voice: en-us
              rat: 9000
        """)
    assert issue == ("g.yaml:7: node 'tts' (test.voice): unknown parameter 'rat' - at "
                     "with.rat; did you mean 'rate'? (parameters: voice, rate, pace)")


def test_unknown_parameter_is_found_even_without_forbid_unknown_fields():
    issue = one("graph: g\nnodes:\n  x: {use: test.lax, with: {levle: 2}}\n")
    assert issue.startswith("g.yaml:3: node 'x' (test.lax): unknown parameter 'levle' - at "
                            "with.levle; did you mean 'level'?")


def test_missing_required_parameter_points_at_the_node_or_its_with():
    issues = problems("""\
        graph: g
        nodes:
          a: {use: test.audio_sink}
          b:
            use: test.audio_sink
            with: {channels: 2}
        """)
    assert issues == [
        "g.yaml:3: node 'a' (test.audio_sink): missing required parameter 'path' - at with "
        "(parameters: path, channels)",
        "g.yaml:6: node 'b' (test.audio_sink): missing required parameter 'path' - at with "
        "(parameters: path, channels)",
    ]


def test_a_nested_parameter_error_points_at_the_item():
    issue = one("""\
        graph: g
        nodes:
          a:
            use: test.lines
            with:
              lines:
                - fine
                - [not, text]
        """)
    assert issue.startswith("g.yaml:8: node 'a' (test.lines): Expected str, got array - at "
                            "with.lines[1]"), issue


@pytest.mark.parametrize(("value", "shown"), [("2OOms", "'2OOms'"), ("5", "5"),
                                              ("'1.5 parsecs'", "'1.5 parsecs'")])
def test_a_duration_parameter_is_checked_at_load_time(value: str, shown: str):
    issue = one(f"graph: g\nnodes:\n  x: {{use: test.lax, with: {{window: {value}}}}}\n")
    assert issue == ("g.yaml:3: node 'x' (test.lax): Expected a duration with a unit like "
                     f"'200ms' or '1.5s', got {shown} - at with.window")
    assert load("graph: g\nnodes:\n  x: {use: test.lax, with: {window: 1.5s}}\n").nodes[
        "x"].params.window == "1.5s"


def test_with_must_be_a_mapping():
    issue = one("graph: g\nnodes:\n  a: {use: test.lines, with: [1, 2]}\n")
    assert issue == ("g.yaml:3: node 'a' (test.lines): parameters must be a mapping of names "
                     "to values, got a list ([1, 2]) - at with")


def test_every_bad_parameter_of_a_node_is_reported():
    issues = problems("""\
        graph: g
        nodes:
          out:
            use: test.audio_sink
            with:
              path: 3
              channels: 9
              bogus: true
        """)
    assert [i.split(":")[1] for i in issues] == ["6", "7", "8"]
    assert "Expected str, got int 3 - at with.path" in issues[0]
    assert "Expected int <= 8, got 9 - at with.channels" in issues[1]
    assert "unknown parameter 'bogus' - at with.bogus" in issues[2]


# -- edges -----------------------------------------------------------------------------------

GRAPH = """\
    graph: g
    nodes:
      src: {use: test.lines}
      up: {use: test.upper}
      voice: {use: test.voice}
      sink: {use: test.audio_sink, with: {path: o.wav}}
    edges:
"""


def edge_problems(*edges: str) -> list[str]:
    return problems(dedent(GRAPH) + "".join(f"  - {e}\n" for e in edges))


def test_malformed_edge_texts():
    issues = edge_problems("src.text => up.text", "src -> up.text", "42", "[a, b]")
    assert issues == [
        "g.yaml:8: malformed edge 'src.text => up.text': expected 'node.port -> node.port' "
        "(no '->' found)",
        "g.yaml:9: malformed edge 'src -> up.text': expected 'node.port -> node.port' "
        "('src' is not node.port)",
        "g.yaml:10: an edge is 'a.out -> b.in' or {from: a.out, to: b.in, ...}; got an "
        "integer (42)",
        "g.yaml:11: an edge is 'a.out -> b.in' or {from: a.out, to: b.in, ...}; got a list "
        "(['a', 'b'])",
    ]


def test_edge_mapping_keys():
    issues = edge_problems("{form: src.text, to: up.text}", "{from: src, to: up.text}")
    assert issues == [
        "g.yaml:8: edge '? -> up.text': unknown key 'form'; did you mean 'from'? (an edge has: "
        "from, to, policy, capacity, max_time, feedback)",
        "g.yaml:8: edge '? -> up.text': 'from' must be node.port; missing",
        "g.yaml:9: edge 'src -> up.text': 'from' must be node.port; got a string ('src')",
    ]


def test_edges_must_be_a_list():
    assert one(dedent(GRAPH) + "    {a: 1}\n").startswith("g.yaml:7: 'edges' must be a list")


def test_unknown_node_in_an_edge_with_did_you_mean():
    issue = edge_problems("scr.text -> up.text")[0]
    assert issue == ("g.yaml:8: edge 'scr.text -> up.text': unknown node 'scr'; did you mean "
                     "'src'? (nodes: src, up, voice, sink)")


def test_unknown_ports_with_did_you_mean():
    issues = edge_problems("src.txt -> up.text", "src.text -> up.texts")
    assert issues == [
        "g.yaml:8: edge 'src.txt -> up.text': node 'src' (test.lines) has no output 'txt'; "
        "did you mean 'text'? (outputs: text)",
        "g.yaml:9: edge 'src.text -> up.texts': node 'up' (test.upper) has no input 'texts'; "
        "did you mean 'text'? (inputs: text)",
    ]


def test_output_to_output_and_input_to_input():
    issues = edge_problems("src.text -> up.out", "up.text -> voice.text")
    assert issues == [
        "g.yaml:8: edge 'src.text -> up.out': up.out is an output; an edge goes to an input "
        "(inputs of test.upper: text)",
        "g.yaml:9: edge 'up.text -> voice.text': up.text is an input; an edge goes from an "
        "output (outputs of test.upper: out)",
    ]


def test_port_type_mismatch_names_both_ends_and_types():
    issue = edge_problems("src.text -> sink.audio")[0]
    assert issue == ("g.yaml:8: edge 'src.text -> sink.audio': type mismatch: src.text is "
                     "Out[TextDelta] but sink.audio is In[AudioFrame] (TextDelta is not an "
                     "AudioFrame)")


def test_an_input_fed_twice_without_fan_in():
    issues = problems("""\
        graph: g
        nodes:
          a: {use: test.lines}
          b: {use: test.lines}
          up: {use: test.upper}
        edges:
          - a.text -> up.text
          - b.text -> up.text
        """)
    assert issues == [
        "g.yaml:8: edge 'b.text -> up.text': input up.text is already fed by 'a.text -> "
        "up.text' (line 7); test.upper.text does not allow fan-in (merge the streams in a "
        "node, or declare the port In(fan_in=True))",
    ]


def test_the_same_edge_twice():
    issues = edge_problems("src.text -> up.text", "src.text -> up.text")
    assert issues == ["g.yaml:9: edge 'src.text -> up.text' is declared twice (line 8); "
                      "remove one"]


def test_a_cycle_not_marked_feedback():
    issues = problems("""\
        graph: loop
        nodes:
          src: {use: test.lines}
          front: {use: test.front}
          back: {use: test.back}
        edges:
          - src.text -> front.text
          - front.ask -> back.ask
          - back.result -> front.results
        """)
    assert issues == [
        "g.yaml:9: edge 'back.result -> front.results' closes a cycle (front -> back -> "
        "front); mark the edge that feeds back with 'feedback: true'",
    ]


def test_a_feedback_edge_that_closes_no_cycle():
    issues = problems("""\
        graph: say
        nodes:
          src: {use: test.lines}
          up: {use: test.upper}
          p: {use: test.print}
        edges:
          - {from: src.text, to: up.text, feedback: true}
          - up.out -> p.text
        """)
    assert issues == [
        "g.yaml:7: edge 'src.text -> up.text': feedback: true, but this edge closes no cycle "
        "(nothing leads from up back to src); remove 'feedback: true' (it marks the edge "
        "that closes a cycle)",
    ]


def test_a_feedback_edge_may_not_block():
    issues = problems("""\
        graph: loop
        nodes:
          front: {use: test.front}
          back: {use: test.back}
        edges:
          - front.ask -> back.ask
          - {from: back.result, to: front.results, feedback: true, policy: block}
        """)
    assert len(issues) == 1 and issues[0].startswith(
        "g.yaml:7: edge 'back.result -> front.results': a feedback edge cannot use policy "
        "'block'")


def test_bad_policy_capacity_and_durations():
    issues = edge_problems(
        "{from: src.text, to: up.text, policy: drop_olde}",
        "{from: voice.audio, to: sink.audio, capacity: 0}",
        "{from: src.text, to: voice.text, capacity: lots}",
    )
    assert issues == [
        "g.yaml:8: edge 'src.text -> up.text': unknown policy 'drop_olde'; did you mean "
        "'drop_oldest'? (policies: block, drop_oldest, drop_newest, latest)",
        "g.yaml:9: edge 'voice.audio -> sink.audio': 'capacity' must be a whole number of "
        "messages >= 1; got an integer (0)",
        "g.yaml:10: edge 'src.text -> voice.text': 'capacity' must be a whole number of "
        "messages >= 1; got a string ('lots')",
    ]


@pytest.mark.parametrize(("value", "expected"), [
    ("400", "'max_time' needs a unit; got 400 (write e.g. '400ms' or '400s')"),
    ("4 parsecs", "'max_time' must be a duration like '400ms' or '1.5s'; got a string "
                  "('4 parsecs')"),
    ("0ms", "'max_time' must be more than zero; got '0ms'"),
    ("true", "'max_time' must be a duration like '400ms' or '1.5s'; got a boolean (true)"),
])
def test_bad_max_time(value: str, expected: str):
    issue = edge_problems(f"{{from: src.text, to: up.text, max_time: {value}}}")[0]
    assert issue == f"g.yaml:8: edge 'src.text -> up.text': {expected}"


def test_durations_take_units():
    g = load(dedent(GRAPH) + "  - {from: src.text, to: up.text, max_time: 1.5s}\n")
    assert g.edges[0].max_time == 3 * S // 2


def test_bad_feedback_flag():
    issue = edge_problems("{from: src.text, to: up.text, feedback: maybe}")[0]
    assert issue == ("g.yaml:8: edge 'src.text -> up.text': 'feedback' must be true or false; "
                     "got a string ('maybe')")


def test_block_style_edge_fields_point_at_their_own_lines():
    issues = problems(dedent(GRAPH) + dedent("""\
          - from: src.text
            to: up.text
            capacity: -1
            policy: fifo
        """))
    assert [i.split(":")[1] for i in issues] == ["10", "11"]


# -- everything at once, and overrides -------------------------------------------------------

def test_every_error_is_reported_at_once_in_file_order():
    issues = problems("""\
        graph: g
        nodes:
          src: {use: test.lines, with: {every_ms: -1}}
          tts: {use: test.voise}
          up: {use: test.upper}
        edges:
          - src.text -> up.txt
          - {from: src.text, to: up.text, policy: fast}
        extra: 1
        """)
    assert [i.split(":")[1] for i in issues] == ["3", "4", "7", "8", "9"]


def test_set_overrides_a_parameter():
    g = load(VALID, overrides=["voice.rate=22050", "voice.voice=en-gb"])
    assert g.nodes["voice"].params.rate == 22050 and g.nodes["voice"].params.voice == "en-gb"
    g = load(VALID, overrides={"voice.rate": 8000})
    assert g.nodes["voice"].params.rate == 8000


def test_set_values_are_validated_the_same_way():
    issues = problems(VALID, overrides=["voice.rate=0", "voice.rte=1", "vioce.rate=1", "rate"])
    assert issues == [
        "g.yaml: --set rate: expected node.param=value",
        "g.yaml: --set vioce.rate=1: no node 'vioce' in the graph; did you mean 'voice'? "
        "(nodes: text, voice, out)",
        "g.yaml: --set voice.rte=1: node 'voice' (test.voice): unknown parameter 'rte' - at "
        "with.rte; did you mean 'rate'? (parameters: voice, rate, pace)",
        "g.yaml: --set voice.rate=0: node 'voice' (test.voice): Expected int >= 8000, got 0 - "
        "at with.rate",
    ]


def test_set_fills_a_required_parameter():
    g = load("graph: g\nnodes:\n  out: {use: test.audio_sink}\n", overrides=["out.path=x.wav"])
    assert g.nodes["out"].params.path == "x.wav"


def test_set_reaches_inside_a_mapping_parameter():
    text = "graph: g\nnodes:\n  x: {use: test.lax, with: {extra: {a: 1, b: 2}}}\n"
    g = load(text, overrides=["x.extra.b=3", "x.extra.c=4"])
    assert g.nodes["x"].params.extra == {"a": 1, "b": 3, "c": 4}
    assert problems(text, overrides=["x.extra.b=many"]) == [
        "g.yaml: --set x.extra.b=many: node 'x' (test.lax): Expected int, got str (in one of "
        "its values) - at with.extra"]  # msgspec does not name the entry of a mapping


ENV_GRAPH = """\
    graph: env
    x-voice: &voice {voice: en-us}
    nodes:
      text:  {use: test.lines, with: {lines: ["$$5 for ${WHO:-you}", "${EMPTY-kept}"]}}
      voice:
        use: test.voice
        with: {<<: *voice, rate: "${RATE}"}
      out:
        use: test.audio_sink
        with:
          path: $OUT/hello.wav
    edges:
      - text.text -> voice.text
      - voice.audio -> out.audio
    """


def test_parameters_read_environment_variables_as_docker_compose_does():
    g = load(ENV_GRAPH, env={"RATE": "22050", "OUT": "/tmp/o", "EMPTY": ""})
    assert g.nodes["voice"].params.rate == 22050  # text, converted as the Params declare
    assert g.nodes["voice"].params.voice == "en-us"  # from the x- key's anchor
    assert g.nodes["out"].params.path == "/tmp/o/hello.wav"
    assert g.nodes["text"].params.lines == ["$5 for you", ""]
    g = load(ENV_GRAPH, env={"RATE": "8000", "OUT": "o", "WHO": "Ann"})
    assert g.nodes["text"].params.lines == ["$5 for Ann", "kept"]


def test_an_unset_environment_variable_is_named_at_its_line():
    assert problems(ENV_GRAPH, env={"OUT": "o"}) == [
        "g.yaml:7: node 'voice' (test.voice): the environment variable RATE is not set "
        "(give it a default: ${RATE:-...}, or set it: RATE=... microturn ...) - at with.rate"]
    text = "graph: g\nnodes:\n  x: {use: test.lines, with: {lines: [a, '${1X}']}}\n"
    (issue,) = problems(text, env={})
    assert issue.startswith("g.yaml:3: node 'x' (test.lines): ${1X} is not a variable: ")
    assert issue.endswith(" - at with.lines[1]")


def test_the_environment_is_not_read_where_no_dollar_is_written(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RATE", "8000")
    assert load(VALID).nodes["voice"].params.rate == 16000
    assert load(ENV_GRAPH.replace("$OUT", "out")).nodes["voice"].params.rate == 8000


def test_a_graph_uses_its_own_node_class_beside_it_without_a_package(tmp_path: Path):
    """``use: module:Class``: the plugin author's first draft, before any packaging."""
    (tmp_path / "shout_nodes_x1.py").write_text(dedent("""\
        from flow import In, Node, Out, TextDelta

        class Shout(Node):
            \"\"\"Upper-cases text.\"\"\"
            text: In[TextDelta]
            out: Out[TextDelta]

            async def on_text(self, msg):
                await self.out.send(TextDelta(pts=msg.pts, text=msg.text.upper()))

        NotANode = 3
        """))
    (tmp_path / "g.yaml").write_text(dedent("""\
        nodes:
          lines: {use: test.lines, with: {lines: [hi, there]}}
          shout: {use: shout_nodes_x1:Shout}
        edges: [lines.text -> shout.text]
        """))
    graph = load_graph(tmp_path / "g.yaml", registry=REG)
    assert graph.nodes["shout"].cls.__name__ == "Shout"
    from flow.testing import run_graph
    r = run_graph(graph, outputs=["shout.out"])
    assert [m.text for m in r.outputs["shout.out"]] == ["HI", "THERE"]
    (tmp_path / "bad.yaml").write_text(dedent("""\
        nodes:
          a: {use: shout_nodes_x1:NotANode}
          b: {use: no_such_module_x1:Thing}
        """))
    with pytest.raises(GraphError) as info:
        load_graph(tmp_path / "bad.yaml", registry=REG)
    a, b = info.value.issues
    assert a.endswith("bad.yaml:2: node 'a': node type 'shout_nodes_x1:NotANode' is not a "
                      "Node subclass")
    assert b.endswith("bad.yaml:3: node 'b': node type 'no_such_module_x1:Thing' failed to "
                      "import: ModuleNotFoundError: No module named 'no_such_module_x1' (a "
                      "module:Class type is imported from the Python path and the graph "
                      "file's folder)")


def test_a_word_yaml_reads_as_a_boolean_gets_a_hint_to_quote_it():
    assert one(VALID.replace("voice: en-us", "voice: no")) == (
        "g.yaml:4: node 'voice' (test.voice): Expected str, got bool false - at with.voice; "
        "YAML reads yes, no, on, off, true and false as booleans: quote the word to mean the "
        "word ('no', \"on\")")
    assert one(VALID.replace("rate: 16000", "rate: on")) == (  # a number: no such hint
        "g.yaml:4: node 'voice' (test.voice): Expected int, got bool true - at with.rate")


def test_a_set_replaces_a_value_whose_variable_is_not_set():
    g = load(ENV_GRAPH, env={"OUT": "o"}, overrides=["voice.rate=8000"])
    assert g.nodes["voice"].params.rate == 8000


def test_a_module_whose_name_is_taken_says_which_was_imported(tmp_path: Path):
    """``nodes.py`` beside the graph loses to microturn's own ``nodes`` package."""
    (tmp_path / "nodes.py").write_text("from flow import Node\nclass Gain(Node):\n    pass\n")
    (tmp_path / "g.yaml").write_text("nodes:\n  gain: {use: nodes:Gain}\n")
    with pytest.raises(GraphError) as info:
        load_graph(tmp_path / "g.yaml", registry=REG)
    (issue,) = info.value.issues
    assert "failed to import: AttributeError" in issue
    assert issue.endswith("nodes/__init__.py; if that is not yours, another of that name "
                          "comes first on the Python path: rename yours)")


def test_set_with_a_value_that_is_not_yaml():
    assert problems(VALID, overrides=["voice.voice=[en"])[0].startswith(
        "g.yaml: --set voice.voice=[en: the value is not YAML:")


# -- files -----------------------------------------------------------------------------------

def test_messages_use_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "voice.yaml").write_text("graph: g\nnodes:\n  a: {use: test.x}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GraphError) as info:
        load_graph("graphs/voice.yaml", registry=REG)
    assert info.value.issues[0].startswith("graphs/voice.yaml:3: node 'a'")


def test_a_missing_file_is_a_graph_error(tmp_path: Path):
    with pytest.raises(GraphError) as info:
        load_graph(tmp_path / "nope.yaml", registry=REG)
    assert info.value.issues == [f"{tmp_path / 'nope.yaml'}: cannot read graph: No such file "
                                 "or directory"]


def test_relative_parameter_paths_are_kept_as_written(tmp_path: Path):
    path = tmp_path / "g.yaml"
    path.write_text("graph: g\nnodes:\n  o: {use: test.audio_sink, with: {path: out/x.wav}}\n")
    assert load_graph(path, registry=REG).nodes["o"].params.path == "out/x.wav"


def test_fixture_graphs_load():
    here = Path(__file__).parent / "graphs"
    for path in sorted(here.glob("*.yaml")):
        if path.name != "broken.yaml":
            load_graph(path, registry=REG)
    with pytest.raises(GraphError) as info:
        load_graph(here / "broken.yaml", registry=REG)
    assert [i.split(":")[1] for i in info.value.issues] == ["4", "5", "7"]
