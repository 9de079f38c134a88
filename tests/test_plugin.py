"""The example plugin (examples/plugin) is a separate package: once installed, its node
type is found through the ``microturn.nodes`` entry points like a built-in, and YAML graphs
use it. The test installs it (editable, no dependencies) if it is not installed yet."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from flow import AudioFrame, Registry
from flow.loader import load_graph
from flow.testing import run_graph

ROOT = Path(__file__).parents[1]
PLUGIN = ROOT / "examples" / "plugin"
GRAPH = """\
graph: louder-then-quieter
nodes:
  loud:  {use: gain.scale, with: {gain_db: 20}}
  quiet: {use: gain.scale, with: {gain_db: -6.0206}}
edges:
  - {from: loud.out, to: quiet.audio, policy: block, capacity: 4}
"""


def ensure_installed() -> None:
    try:
        importlib.metadata.distribution("microturn-example-plugin")
    except importlib.metadata.PackageNotFoundError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "-e", str(PLUGIN)], check=True)
        importlib.invalidate_caches()
    try:
        importlib.import_module("microturn_gain")
    except ImportError:
        # Installed just now: the editable install's path hook only takes effect in new
        # interpreters, so make the package importable in this one.
        sys.path.insert(0, str(PLUGIN))


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    ensure_installed()


@pytest.fixture
def graph_file(tmp_path: Path) -> Path:
    path = tmp_path / "gain.yaml"
    path.write_text(GRAPH)
    return path


def microturn(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "microturn"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "flow.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_plugin_registers_through_its_entry_point():
    reg = Registry.from_entry_points()
    assert reg.origin("gain.scale") == "microturn_gain:Gain"
    cls = reg.get("gain.scale")
    assert cls.type_name == "gain.scale" and list(cls.inputs) == ["audio"]


def test_a_yaml_graph_using_the_plugin_runs(graph_file: Path):
    graph = load_graph(graph_file, registry=Registry.from_entry_points())
    frames = [AudioFrame(pts=i * 20_000_000, samples=np.full(320, 0.01, np.float32),
                         sample_rate=16000) for i in range(50)]
    result = run_graph(graph, {"loud.audio": frames})
    out = result.outputs["quiet.out"]
    assert [f.pts for f in out] == [f.pts for f in frames]
    assert np.allclose(out[0].samples, 0.05, atol=1e-4)  # +20 dB then -6 dB: x10 / 2


def test_the_cli_finds_and_checks_the_plugin(graph_file: Path):
    done = microturn("nodes", "gain.scale")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gain.scale  (microturn_gain:Gain)")
    done = microturn("check", str(graph_file))
    assert done.returncode == 0, done.stderr
    done = microturn("check", str(graph_file), "--set", "quiet.gain_db=100")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (
        f"{graph_file}: --set quiet.gain_db=100: node 'quiet' (gain.scale): Expected float <= "
        "40.0, got 100 - at with.gain_db")
    done = microturn("run", str(graph_file))  # no source: ends at once, cleanly
    assert (done.returncode, done.stderr) == (0, "")


def test_the_plugin_skill_is_found_and_heard_end_to_end(tmp_path: Path):
    """The plugin's ``distance`` skill through the ``microturn.skills`` entry point, in the
    assistant graph, on espeak speech: the skill's "miles" reach the ears' grammar, so the
    number before it is heard, and the reply is said."""
    from bench.interaction import GRAPH, run_clip
    from bench.scenarios import Clip, Say, compose
    from flow.clock import FakeClock
    from nodes.reflex.skill import load_skill

    cls = load_skill("distance")
    assert f"{cls.__module__}.{cls.__name__}" == "microturn_miles.skill.Distance"
    text = GRAPH.read_text().replace("skills: [currency, count, stopwatch, timer, delegate]",
                                     "skills: [currency, count, distance, delegate]")
    assert "distance" in text
    graph = tmp_path / "assistant_miles.yaml"
    graph.write_text(text)
    c = compose([Say("and then we drove"), Say("forty miles", mark="miles"), Say("okay thanks")],
                voice="en-us", rate=160, noise_seed=3, tail=3.0)
    clip = Clip("miles", "distance", "en-us", 160, False, c.audio, c.text,
                {"trigger": c.marks["miles"][1]}, c.spans)
    clock = FakeClock(deadlock_after=None)
    got = clock.run(run_clip(clip, tmp_path, graph, clock))
    assert [t for _, kind, t in got["said"] if kind == "speak"] == ["40 miles is 64.4 kilometres."]


def test_the_plugin_own_tests_pass():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(PLUGIN / "tests")], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_walkthrough_code_runs():
    """docs/writing-nodes.md promises that its Python blocks run as written: compiled
    without this file's ``from __future__ import annotations``, which would hide a name an
    annotation uses but the block never imports. The command's block is a module of its
    own; the others build on one another."""
    text = (ROOT / "docs" / "writing-nodes.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    commands = [b for b in blocks if "def add_arguments(" in b]
    nodes = [b for b in blocks if b not in commands]
    assert len(nodes) >= 4 and len(commands) == 1
    command = types.ModuleType("writing_nodes_command")
    exec(compile(commands[0], "docs/writing-nodes.md", "exec", dont_inherit=True),
         command.__dict__)
    assert callable(command.add_arguments) and callable(command.run)
    module = types.ModuleType("writing_nodes_walkthrough")
    sys.modules[module.__name__] = module
    try:
        exec(compile("\n".join(nodes), "docs/writing-nodes.md", "exec", dont_inherit=True),
             module.__dict__)
        tests = [v for k, v in vars(module).items() if k.startswith("test_") and callable(v)]
        assert len(tests) >= 4
        for test in tests:
            test()
    finally:
        del sys.modules[module.__name__]


def test_a_package_command_that_fails_to_import_is_listed_as_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Importing a package's command module may raise anything (here the NameError of an
    annotation naming a module it never imported): ``microturn --help`` still lists every
    command, that one as unavailable with the reason, and running it is one error line."""
    from flow import cli

    (tmp_path / "broken_command_for_microturn.py").write_text(
        "def add_arguments(parser: argparse.ArgumentParser) -> None: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = importlib.metadata.EntryPoints([importlib.metadata.EntryPoint(
        "broken", "broken_command_for_microturn", cli.COMMANDS_GROUP)])
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **select: (
        eps if select.get("group") == cli.COMMANDS_GROUP else real(**select)))

    assert cli.main(["--help"]) == 0
    listed = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert ("broken unavailable: NameError: name 'argparse' is not defined "
            "(from an installed package)") in listed
    assert "check " in listed
    assert cli.main(["broken"]) == 2
    assert capsys.readouterr().err == ("error: the 'broken' command is unavailable: "
                                       "NameError: name 'argparse' is not defined\n")
