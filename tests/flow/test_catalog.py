"""Graphs that packages ship, found by name (``flow.catalog``): microturn's own, through
the ``microturn.graphs`` entry point it declares as a plugin would, and a plugin's."""

from __future__ import annotations

import itertools
import logging
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from flow import catalog
from flow.cli import main
from flow.errors import GraphError
from flow.server.cli import _graph_path

ROOT = Path(__file__).parents[2]
_names = itertools.count()


class _Package:
    """A stand-in for an installed distribution: only its name is read."""

    def __init__(self, name: str) -> None:
        self.name = name


def package_with_graphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        graphs: dict[str, str]) -> str:
    """An importable package holding ``graphs/NAME.yaml``; returns its module name."""
    module = f"acme_graphs_{next(_names)}"
    folder = tmp_path / module / "graphs"
    folder.mkdir(parents=True)
    (tmp_path / module / "__init__.py").write_text("")
    for name, text in graphs.items():
        (folder / f"{name}.yaml").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def declared(monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, str]) -> None:
    """Packages declare graph folders, in this order: (package, ``module:folder``), after
    microturn's own declaration (whatever order they come in, microturn's names hold)."""
    real = list(catalog.entry_points(group=catalog.GROUP))
    eps = [EntryPoint(package, value, catalog.GROUP)._for(_Package(package))  # type: ignore[arg-type]
           for package, value in entries]
    monkeypatch.setattr(catalog, "entry_points",
                        lambda group: [*eps, *real] if group == catalog.GROUP else [])


GRAPH = """\
# Levels: a tone, louder.
#
# More about it.
graph: levels
nodes:
  tone: {use: source.tone, with: {duration: 1s}}
"""


def test_microturns_own_graphs_are_found_by_name_wherever_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no graphs/ here
    graphs = catalog.packaged_graphs()
    assert set(graphs) == {p.stem for p in (ROOT / "graphs").glob("*.yaml")}
    assistant = graphs["assistant"]
    assert assistant.package == "microturn"
    assert assistant.path.read_bytes() == (ROOT / "graphs" / "assistant.yaml").read_bytes()
    # the leading comment's first sentence, though it wraps over two lines
    assert graphs["assistant_webrtc"].summary == (
        "The assistant in the browser: graphs/assistant.yaml with its source and sinks "
        "swapped for WebRTC ones.")
    assert catalog.resolve("assistant") == assistant.path


def test_a_file_wins_over_a_packaged_graph_and_paths_are_never_looked_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistant").write_text("graph: mine\nnodes: {}\n")
    assert catalog.resolve("assistant") == Path("assistant")
    # a path or a .yaml name is the user's file, even when it is not there
    for arg in ("graphs/say", "say.yaml", "./say"):
        assert catalog.resolve(arg) == Path(arg)


def test_an_unknown_name_lists_the_packaged_graphs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GraphError) as err:
        catalog.resolve("asistant")
    message = str(err.value)
    assert message.startswith("asistant: no such graph file, and no installed package ships")
    assert "assistant, assistant_webrtc, count" in message


def test_a_plugin_ships_graphs_and_cannot_take_over_microturns_names(tmp_path, monkeypatch,
                                                                     caplog):
    module = package_with_graphs(tmp_path, monkeypatch, {"levels": GRAPH, "say": GRAPH})
    declared(monkeypatch, ("acme-levels", f"{module}:graphs"))
    with caplog.at_level(logging.WARNING, "microturn.catalog"):
        graphs = catalog.packaged_graphs()
    levels = graphs["levels"]
    assert (levels.package, levels.summary) == ("acme-levels", "Levels: a tone, louder.")
    assert graphs["say"].package == "microturn"
    assert "graph 'say' of acme-levels is shadowed by the one of microturn" in caplog.text


@pytest.mark.parametrize(("value", "why"), [
    ("acme_no_such_module_for_microturn:graphs", "cannot be imported"),
    ("{module}:no_such_folder", "is not a folder"),
])
def test_a_broken_declaration_is_named_and_hides_no_other_graphs(tmp_path, monkeypatch, caplog,
                                                                value, why):
    module = package_with_graphs(tmp_path, monkeypatch, {"levels": GRAPH})
    declared(monkeypatch, ("acme-broken", value.format(module=module)))
    with caplog.at_level(logging.WARNING, "microturn.catalog"):
        graphs = catalog.packaged_graphs()
    assert "assistant" in graphs and "levels" not in graphs
    assert "the graphs of acme-broken are unavailable" in caplog.text and why in caplog.text


def test_the_commands_take_a_packaged_graphs_name(tmp_path, monkeypatch, capsys):
    module = package_with_graphs(tmp_path, monkeypatch, {"levels": GRAPH})
    declared(monkeypatch, ("acme-levels", f"{module}:graphs"))
    monkeypatch.chdir(tmp_path)
    assert main(["check", "levels", "say"]) == 0
    assert capsys.readouterr().out == "levels: ok (1 node, 0 edges)\nsay: ok (3 nodes, 2 edges)\n"
    assert main(["draw", "levels"]) == 0
    assert "tone" in capsys.readouterr().out
    assert main(["graphs"]) == 0
    out = capsys.readouterr().out
    assert "levels  (from acme-levels)\n  Levels: a tone, louder.\n" in out
    assert "say  (from microturn)" in out and "microturn init DIR" in out
    assert main(["graphs", "--path", "levels"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / module / 'graphs' / 'levels.yaml'}\n"
    assert main(["graphs", "levles"]) == 2
    assert "no installed package ships a graph named 'levles'" in capsys.readouterr().err


def test_running_a_packaged_graph_without_its_files_says_how_to_get_them(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)  # no examples/hello.txt here
    assert main(["run", "say"]) == 2
    err = capsys.readouterr().err
    assert "graphs/say.yaml:" in err and "examples/hello.txt: no such file" in err
    assert "that is packaged graph say's: `microturn init DIR` copies it" in err


def test_serve_without_a_graph_serves_the_packaged_assistant_from_any_folder(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _graph_path(None) == catalog.packaged_graphs()["assistant_webrtc"].path
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "echo_webrtc.yaml").write_text("graph: mine\n")
    assert _graph_path(None) == Path("graphs/echo_webrtc.yaml")  # the folder's own first
    assert _graph_path("echo_webrtc") == catalog.packaged_graphs()["echo_webrtc"].path


def test_a_folder_does_not_hide_a_packaged_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echo").mkdir()  # `microturn init echo` made it
    assert catalog.resolve("echo") == catalog.packaged_graphs()["echo"].path


def test_a_graph_file_of_ones_own_gets_no_packaged_graph_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echo.yaml").write_bytes(catalog.packaged_graphs()["echo"].path.read_bytes())
    assert main(["run", "./echo.yaml"]) == 2
    err = capsys.readouterr().err
    assert "examples/media/hello.wav: no such file" in err and "packaged graph" not in err
