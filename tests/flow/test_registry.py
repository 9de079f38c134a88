"""Node types come from the ``microturn.nodes`` entry points, imported lazily."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from flow import Node, registry
from flow.registry import GROUP, NodeTypeLoadError, Registry, UnknownNodeType, default_registry

from .graphs.nodes import Upper


def test_built_ins_are_entry_points_like_any_plugin():
    reg = Registry.from_entry_points()
    for name in ("source.text", "chunker", "speech.espeak", "sink.wav", "frontend", "backend"):
        assert name in reg
    assert reg.origin("speech.espeak") == "nodes.speech_espeak:EspeakSpeech"
    assert default_registry() is default_registry()


def test_an_unknown_group_is_empty():
    assert Registry.from_entry_points(GROUP + ".nothing-here").names() == []


def test_register_sets_the_type_name_once():
    reg = Registry()

    class Mine(Node):
        async def run(self) -> None:
            pass

    reg.register("my.node", Mine)
    reg.register("my.alias", Mine)
    assert reg.get("my.node") is Mine and Mine.type_name == "my.node"
    assert reg.names() == ["my.alias", "my.node"]
    assert reg.origin("my.node").endswith("test_register_sets_the_type_name_once.<locals>.Mine")
    with pytest.raises(TypeError):
        reg.register("not.a.node", dict)  # type: ignore[arg-type]


def test_lazy_types_are_imported_on_first_use_and_cached():
    reg = Registry()
    reg.register_lazy("test.upper", "tests.flow.graphs.nodes:Upper")
    assert reg.origin("test.upper") == "tests.flow.graphs.nodes:Upper"
    assert reg.get("test.upper") is Upper
    assert reg.get("test.upper") is Upper


def test_unknown_type_suggests_the_closest():
    reg = Registry()
    reg.register_lazy("speech.espeak", "x:Y")
    with pytest.raises(UnknownNodeType) as info:
        reg.get("speech.espek")
    assert str(info.value) == "unknown node type 'speech.espek'; did you mean 'speech.espeak'?"
    assert info.value.suggestions == ["speech.espeak"]
    with pytest.raises(UnknownNodeType):
        reg.origin("nope")


def test_import_failures_name_the_entry_point():
    reg = Registry()
    reg.register_lazy("missing", "no_such_module_for_microturn:Node")
    reg.register_lazy("not.node", "tests.flow.graphs.nodes:registry")
    with pytest.raises(NodeTypeLoadError, match=r"'missing' \(no_such_module_for_microturn:Node"
                                                r"\) failed to import: ModuleNotFoundError"):
        reg.get("missing")
    with pytest.raises(NodeTypeLoadError, match=r"is not a Node subclass"):
        reg.get("not.node")
    loaded = reg.load_all()
    assert all(isinstance(v, NodeTypeLoadError) for v in loaded.values())


class _Package:
    """A stand-in for an installed distribution: only its name is read."""

    def __init__(self, name: str) -> None:
        self.name = name


def declared(monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, str, str]) -> None:
    """Installed packages declare node types, in this order: (package, name, target)."""
    eps = [EntryPoint(name, target, GROUP)._for(_Package(package))  # type: ignore[arg-type]
           for package, name, target in entries]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == GROUP else [])


@pytest.mark.parametrize("plugin_first", [True, False])
def test_a_plugin_cannot_take_over_a_built_in_type(monkeypatch, caplog, plugin_first):
    builtin = ("microturn", "sink.console", "nodes.sink_console:ConsoleSink")
    plugin = ("microturn-shout", "sink.console", "microturn_shout:Upper")
    declared(monkeypatch, *([plugin, builtin] if plugin_first else [builtin, plugin]))
    reg = Registry.from_entry_points()
    assert reg.origin("sink.console") == "nodes.sink_console:ConsoleSink"
    assert "node type 'sink.console' is declared by " in caplog.text
    assert "microturn-shout" in caplog.text and "microturn's is used" in caplog.text


def test_between_two_plugins_the_first_found_keeps_a_name_and_both_are_named(
        monkeypatch, caplog):
    declared(monkeypatch, ("pkg-a", "gain.scale", "a:Gain"), ("pkg-b", "gain.scale", "b:Gain"),
             ("pkg-b", "other", "b:Other"))
    reg = Registry.from_entry_points()
    assert reg.origin("gain.scale") == "a:Gain" and reg.origin("other") == "b:Other"
    assert caplog.text.count("is declared by") == 1
    assert ("node type 'gain.scale' is declared by pkg-a (a:Gain) and by pkg-b (b:Gain): "
            "pkg-a's is used") in caplog.text


def test_one_package_seen_twice_is_no_conflict(monkeypatch, caplog):
    declared(monkeypatch, ("pkg-a", "gain.scale", "a:Gain"), ("pkg-a", "gain.scale", "a:Gain"))
    assert Registry.from_entry_points().origin("gain.scale") == "a:Gain"
    assert "declared by" not in caplog.text
