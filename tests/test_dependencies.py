"""A graph whose nodes need what is not installed is refused when it loads (``check``
included), at the node's line, naming what to install: before, ``check`` said ok and
``run`` failed at start-up."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from flow import GraphError
from flow.loader import load_graph, load_graph_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):
    """Hide top-level modules from ``importlib.util.find_spec``, as if not installed."""
    hidden: set[str] = set()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden else find_spec(name, *a))
    return hidden


def issues(path: Path | str, text: str | None = None) -> list[str]:
    with pytest.raises(GraphError) as info:
        if text is None:
            load_graph(path)
        else:
            load_graph_text(text, str(path))
    return info.value.issues


def test_speech_without_espeak_is_refused_at_its_line(without: set[str]) -> None:
    load_graph(ROOT / "graphs/say.yaml")  # installed here
    without.add("espeakng_loader")
    (issue,) = issues(ROOT / "graphs/say.yaml")
    assert issue.startswith(f"{ROOT / 'graphs/say.yaml'}:")
    assert "node 'voice' (speech.espeak): 'espeakng-loader' is not installed; install it " \
           "with: pip install 'espeakng-loader'" in issue


def test_the_ears_the_torch_model_and_the_openai_provider_name_theirs(
        without: set[str]) -> None:
    without.update({"pocketsphinx", "torch", "aiohttp"})
    graph = """\
nodes:
  ears: {use: asr.pocketsphinx}
  front: {use: frontend}
  reflex: {use: frontend, with: {model: reflex}}
  tools: {use: backend}
  llm: {use: backend, with: {provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}}
"""
    found = issues("g.yaml", graph)
    assert [i.split(": '")[0] for i in found] == [
        "g.yaml:2: node 'ears' (asr.pocketsphinx)",
        "g.yaml:3: node 'front' (frontend)",  # the default model: torch
        "g.yaml:6: node 'llm' (backend)"]
    assert ["pip install '" + i.split("pip install '")[1].split("'")[0] for i in found] == [
        "pip install 'pocketsphinx", "pip install 'torch", "pip install 'aiohttp"]


DSP_NODE = '''\
from flow import In, Node, TextDelta


class Dsp(Node):
    requires = (("acme_dsp_native", "acme-dsp-native", "dsp"),)

    text: In[TextDelta]

    async def on_text(self, msg: TextDelta) -> None: ...
'''


def test_microturn_s_node_names_microturn_s_extra(without: set[str]) -> None:
    without.add("espeakng_loader")
    (issue,) = issues(ROOT / "graphs/say.yaml")
    assert issue.endswith(
        "'espeakng-loader' is not installed; install it with: pip install 'espeakng-loader' "
        "(or microturn's 'speech' extra, from a checkout: pip install -e '.[speech]')")


@pytest.mark.parametrize(("package", "hint"), [
    ("acme-levels", " (or acme-levels' 'dsp' extra: pip install 'acme-levels[dsp]')"),
    ("acme-dsp", " (or acme-dsp's 'dsp' extra: pip install 'acme-dsp[dsp]')"),
    (None, ""),  # a module beside the graph, in no installed package
])
def test_a_plugin_s_node_names_its_own_package_s_extra_not_microturn_s(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str | None, hint: str
        ) -> None:
    """``requires`` names an extra of the distribution that ships the node, found from the
    node class's module; microturn has no 'dsp' extra to offer."""
    module = f"acme_levels_{len(hint)}"  # one module per case: imported once a process
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text(DSP_NODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = importlib.metadata.packages_distributions()
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: (
        {**installed, module: [package]} if package else installed))
    graph = tmp_path / "g.yaml"
    graph.write_text(f"nodes:\n  dsp: {{use: '{module}:Dsp'}}\n")
    (issue,) = issues(graph)
    assert issue == (f"{graph}:2: node 'dsp' ({module}:Dsp): 'acme-dsp-native' is not "
                     f"installed; install it with: pip install 'acme-dsp-native'{hint}")
