"""The ``microturn`` command line: exit statuses, messages without tracebacks, and each
subcommand's output. Node types come from a private registry (``graphs/nodes.py``)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest

import flow.registry
from flow import cli

from .graphs.nodes import registry

GRAPHS = Path(__file__).parent / "graphs"
ROOT = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def test_registry(monkeypatch: pytest.MonkeyPatch) -> flow.registry.Registry:
    reg = registry()
    monkeypatch.setattr(flow.registry, "_default", reg)
    return reg


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def test_check_a_valid_graph(capsys):
    status, out, err = run(capsys, "check", str(GRAPHS / "say.yaml"))
    assert (status, err) == (0, "")
    assert out == f"{GRAPHS / 'say.yaml'}: ok (3 nodes, 2 edges)\n"


def test_check_prints_every_problem_and_exits_2(capsys):
    path = GRAPHS / "broken.yaml"
    status, out, err = run(capsys, "check", str(path), str(GRAPHS / "say.yaml"))
    assert status == 2
    lines = err.splitlines()
    assert lines[0] == (f"{path}:4: node 'text' (test.lines): Expected array, got str 'hi' - "
                        "at with.lines")
    assert lines[1].startswith(f"{path}:5: node 'voice': unknown node type 'test.voise'; did "
                               "you mean 'test.voice'?")
    assert lines[2].startswith(f"{path}:7: unknown top-level key 'edgse'; did you mean 'edges'")
    assert lines[3:] == ["3 problems found"]
    assert out == f"{GRAPHS / 'say.yaml'}: ok (3 nodes, 2 edges)\n"


def test_check_with_set(capsys):
    status, _, err = run(capsys, "check", str(GRAPHS / "say.yaml"), "--set", "print.prefx=x")
    assert status == 2
    assert err.splitlines()[0] == (
        f"{GRAPHS / 'say.yaml'}: --set print.prefx=x: node 'print' (test.print): unknown "
        "parameter 'prefx' - at with.prefx; did you mean 'prefix'? (parameters: prefix)")


def test_check_a_missing_file(capsys):
    status, _, err = run(capsys, "check", "no/such.yaml")
    assert status == 2
    assert err == "no/such.yaml: cannot read graph: No such file or directory\n1 problem found\n"


def test_run_to_the_end_of_input(capsys):
    status, out, err = run(capsys, "run", str(GRAPHS / "say.yaml"))
    assert (status, out, err) == (0, "said: HI\nsaid: THERE\n", "")


def test_check_warns_of_a_node_connected_to_nothing(capsys, tmp_path):
    graph = tmp_path / "lone.yaml"
    graph.write_text("graph: lone\nnodes:\n  text: {use: test.lines, with: {lines: [hi]}}\n"
                     "  up: {use: test.upper}\n  print: {use: test.print}\n"
                     "edges:\n  - up.out -> print.text\n")
    status, out, err = run(capsys, "check", str(graph))
    assert status == 0 and out == f"{graph}: ok (3 nodes, 1 edge)\n"
    assert err == (f"{graph}:3: warning: node 'text' (test.lines) is connected to nothing "
                   "(no edge names it)\n")


def test_check_warns_of_edge_bounds_that_bound_nothing(capsys, tmp_path):
    graph = tmp_path / "bounds.yaml"
    graph.write_text("nodes:\n  text: {use: test.lines, with: {lines: [hi]}}\n"
                     "  up: {use: test.upper}\n  print: {use: test.print}\n"
                     "edges:\n  - {from: text.text, to: up.text, max_time: 40ms}\n"
                     "  - {from: up.out, to: print.text, policy: latest, capacity: 8}\n")
    status, out, err = run(capsys, "check", str(graph))
    assert status == 0 and out == f"{graph}: ok (3 nodes, 2 edges)\n"
    assert err.splitlines() == [
        f"{graph}:6: warning: edge 'text.text -> up.text': max_time bounds nothing, since "
        "TextDelta messages have no media duration; the edge holds up to 1024 of them "
        "(give a capacity)",
        f"{graph}:7: warning: edge 'up.out -> print.text': capacity 8 is ignored: policy "
        "latest keeps only the newest message"]
    from flow.commands.check import warnings
    from flow.loader import load_graph

    graph.write_text(graph.read_text().replace("capacity: 8", "max_time: 1s"))
    assert warnings(load_graph(graph))[1].endswith(
        "warning: edge 'up.out -> print.text': max_time is ignored: policy latest keeps only "
        "the newest message")
    graph.write_text(graph.read_text().replace("max_time: 1s", "capacity: 8"))
    status, out, run_err = run(capsys, "run", str(graph), "--no-uvloop")
    assert status == 0 and out == "said: HI\n" and run_err == err  # run says them too


def test_run_with_set_and_stats(capsys):
    status, out, err = run(capsys, "run", str(GRAPHS / "say.yaml"), "--set", "print.prefix=heard",
                           "--set", "text.lines=[one]", "--stats", "--no-uvloop")
    assert status == 0 and out == "heard: ONE\n"
    assert err.splitlines()[0].startswith("session ")
    assert "up.out -> print.text" in err and "drop_oldest" in err


def test_run_a_graph_with_a_declared_cycle(capsys):
    status, _, _ = run(capsys, "run", str(GRAPHS / "assistant.yaml"))
    assert status == 0


def test_a_node_failure_is_one_error_line_and_exit_1(capsys):
    status, out, err = run(capsys, "run", str(GRAPHS / "fail.yaml"))
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("error: session ") and err.endswith(
        "node 'boom' failed: ValueError: cannot handle 'hello' (-v shows its traceback)\n")


def test_with_v_a_node_failure_shows_the_node_s_own_traceback(capsys):
    status = cli.main(["run", str(GRAPHS / "fail.yaml"), "-v"])  # -v after the command too
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    lines = err.splitlines()
    start = lines.index("Traceback (most recent call last):")
    assert any("tests/flow/graphs/nodes.py" in line for line in lines[start:])
    assert lines[-2] == "ValueError: cannot handle 'hello'"
    assert lines[-1].startswith("error: session ") and lines[-1].endswith(
        "node 'boom' failed: ValueError: cannot handle 'hello'")


def test_run_an_invalid_graph_exits_2_before_starting(capsys):
    status, out, err = run(capsys, "run", str(GRAPHS / "broken.yaml"))
    assert status == 2 and out == "" and err.endswith("3 problems found\n")


def test_nodes_lists_types_ports_and_parameters(capsys):
    status, out, _ = run(capsys, "nodes")
    assert status == 0
    blocks = out.strip().split("\n\n")
    block = blocks[[b.split()[0] for b in blocks].index("test.voice")]
    assert block == (
        "test.voice  (tests.flow.graphs.nodes:Voice)\n"
        "    Text in, audio out (silence as long as the text).\n"
        "  in   text: TextDelta\n"
        "  out  audio: AudioFrame\n"
        "  with voice: str = 'en-us'\n"
        "       rate: int >= 8000 = 16000\n"
        "       pace: 'fast' | 'realtime' = 'fast'")
    assert "test.print  (tests.flow.graphs.nodes:Print)" in out
    assert "  in   text: TextDelta, fan-in" in out
    assert "  with path: str  (required)" in out
    assert "  with (no parameters)" in out
    assert "       window: duration = '1s'" in out


def test_nodes_type_in_full(capsys):
    status, out, _ = run(capsys, "nodes", "test.voice")
    assert status == 0 and "rate: int >= 8000 = 16000  # sample rate, Hz" in out


def test_nodes_unknown_type(capsys):
    status, out, err = run(capsys, "nodes", "test.voise")
    assert (status, out) == (2, "")
    assert err == "error: unknown node type 'test.voise'; did you mean 'test.voice'?\n"
    status, out, err = run(capsys, "nodes", "test.voice", "zzz")  # nothing close: the list
    assert (status, out) == (2, "")
    assert err.startswith("error: unknown node type 'zzz'; node types: ")
    assert "test.voice" in err


def test_nodes_describes_several_types(capsys):
    status, out, _ = run(capsys, "nodes", "test.voice", "test.upper")
    assert status == 0
    assert [b.split()[0] for b in out.strip().split("\n\n")] == ["test.voice", "test.upper"]


def test_nodes_shows_a_broken_plugin_and_goes_on(capsys, test_registry):
    test_registry.register_lazy("broken.node", "no_such_module_for_microturn:Node")
    status, out, _ = run(capsys, "nodes")
    assert status == 0 and "test.voice" in out
    assert ("broken.node  (no_such_module_for_microturn:Node)\n  unavailable: node type "
            "'broken.node' (no_such_module_for_microturn:Node) failed to import: "
            "ModuleNotFoundError") in out


def test_draw_mermaid_and_dot(capsys):
    status, out, _ = run(capsys, "draw", str(GRAPHS / "assistant.yaml"))
    assert status == 0 and out.startswith("flowchart LR\n")
    assert '    n_back -.->|"result → results · drop_oldest/16, feedback"| n_front' in out
    status, out, _ = run(capsys, "draw", "--dot", str(GRAPHS / "assistant.yaml"))
    assert status == 0 and out.startswith('digraph "assistant" {')
    assert ('"back" -> "front" [label="result → results · drop_oldest/16, feedback", '
            'style=dashed, constraint=false];') in out


def test_schema_is_json(capsys, tmp_path: Path):
    status, out, _ = run(capsys, "schema")
    assert status == 0 and "test.voice" in json.loads(out)["$defs"]["node"]["properties"][
        "use"]["anyOf"][0]["enum"]
    status, out, _ = run(capsys, "schema", "-o", str(tmp_path / "s.json"))
    assert status == 0 and json.loads((tmp_path / "s.json").read_text())["type"] == "object"


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["run"]) == 2
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_serve_is_a_table_entry(capsys):
    assert cli.main(["serve", "--help"]) == 0
    assert "--ice-host" in capsys.readouterr().out


def test_a_subcommand_is_one_table_entry(capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "hello", ("tests.flow.graphs.command", "say hello"))
    assert run(capsys, "hello", "world", "--times", "2")[:2] == (7, "hello world hello world\n")
    monkeypatch.setitem(cli.COMMANDS, "gone", ("no_such_module_for_microturn", "missing"))
    status, _, err = run(capsys, "gone")
    assert status == 2 and err.startswith("error: the 'gone' command is unavailable: No module")


class _Package:
    """A stand-in for an installed distribution: only its name is read."""

    def __init__(self, name: str) -> None:
        self.name = name


def packages_declare(monkeypatch: pytest.MonkeyPatch, *declared: tuple[str, str, str],
                     **commands: str) -> None:
    """Installed packages declare commands in microturn.commands, in this order: each of
    ``declared`` is (package, name, module); ``commands`` (name -> module) come from a
    package whose name is unknown."""
    eps = [importlib.metadata.EntryPoint(name, value, cli.COMMANDS_GROUP)
           ._for(_Package(package))  # type: ignore[arg-type]
           for package, name, value in declared]
    eps += [importlib.metadata.EntryPoint(name, value, cli.COMMANDS_GROUP)
            for name, value in commands.items()]
    real = importlib.metadata.entry_points

    def entry_points(**select: str) -> Any:
        if select.get("group") == cli.COMMANDS_GROUP:
            return importlib.metadata.EntryPoints(eps)
        return real(**select)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_an_installed_package_adds_a_subcommand_through_entry_points(capsys, monkeypatch):
    packages_declare(monkeypatch, hello="tests.flow.graphs.command")
    assert run(capsys, "hello", "world", "--times", "2")[:2] == (7, "hello world hello world\n")
    status, out, _ = run(capsys, "--help")
    listed = " ".join(out.split())  # argparse wraps the help
    assert status == 0
    # the docstring's whole first sentence, though it wraps, without the backquotes
    assert ("hello A subcommand module, to test that flow.cli.COMMANDS takes new entries "
            "(as the server's serve does) (from an installed package)") in listed


@pytest.mark.parametrize(("doc", "help_"), [
    ("Say hello.", "Say hello"),
    ("Say hello to ``name``,\n    twice: the second\n    louder. Then stop.\n\nMore.",
     "Say hello to name, twice: the second louder"),
    ("\n    Greet.\n\n    Details.\n", "Greet"),
    ("", ""),
])
def test_a_package_command_s_help_is_its_docstring_s_first_sentence(doc, help_):
    assert cli.summary(doc) == help_


def test_a_package_cannot_take_over_a_built_in_subcommand(capsys, monkeypatch, caplog):
    packages_declare(monkeypatch, check="tests.flow.graphs.command")
    status, out, _ = run(capsys, "check", str(GRAPHS / "say.yaml"))
    assert status == 0 and "ok" in out  # the built-in ran
    assert "the 'check' command of an installed package is shadowed" in caplog.text


@pytest.mark.parametrize("plugin_first", [True, False])
def test_a_package_cannot_take_over_a_command_microturn_declares_as_a_package(
        capsys, monkeypatch, plugin_first):
    """``skills``, ``init`` and ``adapt-ears`` are microturn's entry points, not ``COMMANDS``
    entries: whatever order the entry points come in, microturn's stays, with a warning
    naming both packages (``hello`` here stands for one of them)."""
    ours = ("microturn", "hello", "tests.flow.graphs.command")
    theirs = ("acme-levels", "hello", "tests.flow.graphs.nodes")
    packages_declare(monkeypatch, *([theirs, ours] if plugin_first else [ours, theirs]))
    assert run(capsys, "hello", "world") == (7, "hello world\n", (
        "warning: command 'hello' is declared by microturn (tests.flow.graphs.command) and "
        "by acme-levels (tests.flow.graphs.nodes): microturn's is used\n"))


def test_microturn_s_own_skills_command_is_not_taken_over(monkeypatch):
    """The installed entry points, with a plugin's ``skills`` found first."""
    plugin = importlib.metadata.EntryPoint("skills", "acme_levels.calibrate",
                                           cli.COMMANDS_GROUP)._for(_Package("acme-levels"))
    real = [*importlib.metadata.entry_points(group=cli.COMMANDS_GROUP)]
    assert ("skills", "nodes.reflex.skills_command") in [(ep.name, ep.value) for ep in real]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **select: importlib.metadata.EntryPoints([plugin, *real]))
    assert cli.installed_commands()["skills"] == ("nodes.reflex.skills_command", "microturn")


def test_between_two_packages_the_first_found_keeps_a_command_and_both_are_named(
        capsys, monkeypatch):
    packages_declare(monkeypatch, ("pkg-a", "hello", "tests.flow.graphs.command"),
                     ("pkg-b", "hello", "tests.flow.graphs.nodes"),
                     ("pkg-a", "hello", "tests.flow.graphs.command"))  # seen twice: no clash
    assert run(capsys, "hello", "world") == (7, "hello world\n", (
        "warning: command 'hello' is declared by pkg-a (tests.flow.graphs.command) and by "
        "pkg-b (tests.flow.graphs.nodes): pkg-a's is used\n"))


def test_warnings_are_warning_lines_and_with_v_name_their_logger(capsys, monkeypatch):
    """Logged warnings show on stderr as the CLI's other lines do (``error: ...``), not as
    bare messages; -v shows info too, with the logger's name. Logging is as it was after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setitem(cli.COMMANDS, "hello", ("tests.flow.graphs.logs", "log"))
    status, out, err = run(capsys, "hello")
    assert (status, out, err) == (0, "", "warning: the warning\nerror: the error\n")
    status, out, err = run(capsys, "hello", "-v")
    assert (status, out) == (0, "") and err == (
        "info: microturn.test: the info\nwarning: microturn.test: the warning\n"
        "error: microturn.test: the error\n")
    assert (root.handlers, root.level) == (handlers, level)


def test_a_broken_package_subcommand_is_one_error_line(capsys, monkeypatch):
    packages_declare(monkeypatch, gone="no_such_module_for_microturn",
                     odd="tests.flow.graphs.nodes")
    status, _, err = run(capsys, "gone")
    assert status == 2 and err.startswith("error: the 'gone' command is unavailable: No module")
    status, _, err = run(capsys, "odd")
    assert status == 2
    assert err == ("error: the 'odd' command is unavailable: its module tests.flow.graphs.nodes "
                   "has no add_arguments() or run() (see microturn's docs/writing-nodes.md, "
                   "section 6)\n")
    status, out, _ = run(capsys, "--help")  # listing the commands still works
    assert status == 0 and re.search(r"gone\s+unavailable: No module", out)


@pytest.mark.parametrize(("returns", "status", "error"), [
    ("None", 0, ""),  # falls off its end: success
    ("3", 3, ""),
    ("'done'", 1, "error: the 'calibrate' command's run() returned 'done' (a str), not an "
                  "exit status: an int, or None for 0\n"),
])
def test_a_package_command_s_run_returns_the_exit_status_or_none_for_0(
        capsys, monkeypatch, tmp_path, returns, status, error):
    module = f"calibrate_{status}_for_microturn"
    (tmp_path / f"{module}.py").write_text(
        f"def add_arguments(parser):\n    pass\n\n\ndef run(args):\n    return {returns}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    packages_declare(monkeypatch, ("acme-levels", "calibrate", module))
    assert run(capsys, "calibrate") == (status, "", error)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_status_130():
    """Real time: a real SIGINT must reach a real event loop in a separate process (a fake
    clock cannot stand in for the signal handling under test). Takes about a second."""
    code = ("import sys; from tests.flow.graphs.nodes import registry; import flow.registry; "
            "flow.registry._default = registry(); from flow.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(GRAPHS / "forever.yaml"), "--stats"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        # A shell without job control starts background jobs with SIGINT ignored, and a
        # Python started so never installs its handler: give the child the default back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "said: tick\n"  # running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "interrupted"
    assert "text.text -> print.text" in err  # --stats still printed


def run_tone(tmp_path: Path, **popen: Any) -> tuple[subprocess.Popen[str], Path]:
    """``microturn run --stats`` of a two-minute real-time tone into a WAV, once half a
    second of it is written (its signal handlers are installed by then) into the hidden
    part that becomes the WAV when the run ends."""
    wav = tmp_path / "tone.wav"
    graph = tmp_path / "tone.yaml"
    graph.write_text(f"nodes:\n"
                     f"  tone: {{use: source.tone, with: {{duration: 120s, pace: realtime}}}}\n"
                     f"  out: {{use: sink.wav, with: {{path: {wav}}}}}\n"
                     f"edges: [tone.audio -> out.audio]\n")
    proc = subprocess.Popen([sys.executable, "-m", "flow.cli", "run", str(graph), "--stats"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, **popen)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and written(tmp_path) < 16_044:
        time.sleep(0.05)
    return proc, wav


def written(folder: Path) -> int:
    return max((p.stat().st_size for p in folder.glob(".tone.wav.*.part")), default=0)


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> str:
    """Send ``sig`` and wait for the process; its stderr."""
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_as_ctrl_c_does_and_the_wav_is_finished(
        tmp_path: Path, sig: signal.Signals) -> None:
    """``timeout``, ``docker stop`` and systemd send SIGTERM: the session is torn down as on
    Ctrl-C, so sink.wav patches its header (before, the process died at once and the WAV
    said it held no samples). Real time, about a second."""
    proc, wav = run_tone(tmp_path)
    err = stop(proc, sig)
    assert proc.returncode == 128 + sig, err
    assert err.splitlines()[-1] == f"terminated by {sig.name}"
    assert "tone.audio -> out.audio" in err  # --stats still printed
    with wave.open(str(wav)) as w:
        assert w.getnframes() >= 8000 and w.getnframes() * 2 + 44 == wav.stat().st_size
    assert written(tmp_path) == 0  # moved into place, not left beside it


@pytest.mark.slow
def test_under_nohup_sighup_leaves_the_session_running(tmp_path: Path) -> None:
    """``nohup microturn run ...`` ignores SIGHUP so that the run outlives its terminal;
    run's own handler must not undo that. Real time, about two seconds."""
    proc, _ = run_tone(tmp_path,
                       preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    running = proc.poll() is None
    err = stop(proc, signal.SIGTERM)
    assert running and proc.returncode == 128 + signal.SIGTERM, err


class Undocumented(flow.Node):
    async def run(self) -> None:
        pass


def test_a_node_without_a_docstring_is_described_by_its_module():
    from flow.commands.nodes import node_doc

    assert node_doc("x", Undocumented) == __doc__.strip()  # this module's
    Undocumented.__doc__ = "Says nothing."
    try:
        assert node_doc("x", Undocumented) == "Says nothing."
    finally:
        Undocumented.__doc__ = None


def test_nodes_describes_a_class_by_its_import_path_from_the_current_directory(
        capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "my_gain_nodes_t.py").write_text(
        "from flow import AudioFrame, In, Node, Out\n\n"
        "class Gain(Node):\n    \"\"\"Scales audio.\"\"\"\n"
        "    audio: In[AudioFrame]\n    out: Out[AudioFrame]\n\n"
        "    async def on_audio(self, frame):\n        await self.out.send(frame)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    status, out, _ = run(capsys, "nodes", "my_gain_nodes_t:Gain")
    assert status == 0 and out.splitlines()[:3] == [
        "my_gain_nodes_t:Gain", "    Scales audio.", "  in   audio: AudioFrame"]
    status, _, err = run(capsys, "nodes", "my_gain_nodes_t:Nope")
    assert status == 2 and err.startswith("error: node type 'my_gain_nodes_t:Nope' failed to "
                                          "import: AttributeError")


class Exemplified(flow.Node):
    """Shows a graph.

        nodes:
          me: {use: exemplified}

    The example keeps its indentation.
    """


def test_a_docstring_example_keeps_its_indentation_in_the_listing():
    from flow.commands.nodes import describe

    reg = flow.registry.Registry()
    reg.register("exemplified", Exemplified)
    assert describe(reg, "exemplified", Exemplified, full=True).splitlines()[1:6] == [
        "    Shows a graph.", "", "        nodes:", "          me: {use: exemplified}", ""]
