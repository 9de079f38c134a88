"""``extends:``: a graph written as changes to another, as docker-compose's ``extends`` is.

    graph: assistant_webrtc
    extends: assistant.yaml          # beside this file, or a packaged graph's name
    nodes:
      mic:   {use: webrtc.audio_in}  # a node with 'use' replaces the base's of that id
      ears:  {with: {beam: 1e-60}}   # without 'use': these parameters over the base's
      voice: {with: {lead: null}}    # ... and null puts one back to its default
      out:   null                    # null removes the node, and every edge touching it
    edges:                           # added to the base's; one with the same two ends
      - {from: mic.audio, to: chunker.audio, policy: drop_oldest, max_time: 1s}  # replaces it
      - {from: front.text, to: voice.text, remove: true}   # and this one goes

The base is loaded and checked on its own first (its mistakes are reported at its own
lines, except a variable it reads that this graph sets anyway); what the merged graph
gets wrong is reported where each part was written, in whichever file. ``--set`` applies
to the merged graph, base nodes included. ``microturn check --print`` shows the result.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec

from .catalog import SUFFIXES, packaged_graphs, resolve
from .graph import EdgeDecl, Graph, NodeDecl


def base_path(child: str, value: str) -> Path:
    """Where ``extends: value`` of the graph file ``child`` is: relative to that file's
    folder (not the current one, unlike parameters' paths: the two files go together),
    else a packaged graph's name (``flow.catalog``)."""
    folder = Path(child).parent if child != "<string>" else Path(".")
    beside = folder / value
    if beside.is_file() or os.sep in value or "/" in value:
        return beside
    if not Path(value).suffix and (folder / f"{value}.yaml").is_file():
        return folder / f"{value}.yaml"  # a graph of one's own beside it, by its name
    # a packaged graph by its name, or by its file's (a copy of a packaged graph that
    # extends another, 'extends: assistant.yaml', taken out of its folder)
    name = Path(value).stem if Path(value).suffix in SUFFIXES else value
    graphs = packaged_graphs()
    if name in graphs:
        return graphs[name].path
    return beside if Path(value).suffix else resolve(value)


def base_params(decl: NodeDecl) -> dict[str, Any]:
    """A base node's parameters as written (not its defaults), to merge a child's over."""
    if decl.written is not None:
        return decl.written
    raw = msgspec.to_builtins(decl.params)  # a graph built in Python
    return raw if isinstance(raw, dict) else {}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``: mappings merge key by key, null removes a key (the parameter
    is back to its default), anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def covered(nodes: Any, overrides: list[tuple[str, list[str]]]) -> dict[str, list[tuple[Any, ...]]]:
    """What a graph that extends another sets itself, by node: ``()`` for a node it
    replaces or removes, else each parameter path its ``with:`` or ``--set`` gives. A
    variable the base reads there needs no value (a base may be a template)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for node_id, spec in (nodes.items() if isinstance(nodes, dict) else ()):
        if not isinstance(spec, dict) or "use" in spec:
            out.setdefault(str(node_id), []).append(())
        elif isinstance(spec.get("with"), dict):
            out.setdefault(str(node_id), []).extend(_leaves(spec["with"]))
    for node_id, keys in overrides:
        out.setdefault(node_id, []).append(tuple(keys))
    return out


def _leaves(tree: dict[Any, Any], at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            paths += _leaves(value, (*at, key))
        else:
            paths.append((*at, key))
    return paths


def merge(base: Graph, nodes: dict[str, NodeDecl], removed: set[str],
          edges: list[EdgeDecl], unlinked: Collection[tuple[str, str, str, str]] = ()
          ) -> tuple[dict[str, NodeDecl], list[EdgeDecl], list[EdgeDecl]]:
    """The base's nodes and edges with the child's over them: its nodes replace the base's
    of the same id (or are added), ``removed`` go with every edge touching them, edges
    ``unlinked`` (their two ends) go, and its edges replace the base's with the same two
    ends (or are added). Base declarations keep their own file and line. Returns the
    nodes, the edges, and the base's edges that went with a removed node."""
    def own(decl: Any) -> Any:
        return decl if decl.file else _with_file(decl, base.path)

    merged = {k: own(d) for k, d in base.nodes.items() if k not in removed}
    merged.update(nodes)
    ends = {(e.src, e.src_port, e.dst, e.dst_port) for e in edges} | set(unlinked)
    kept, dropped = [], []
    for e in base.edges:
        if e.src in removed or e.dst in removed:
            dropped.append(own(e))
            continue
        if (e.src, e.src_port, e.dst, e.dst_port) in ends:
            continue
        e = own(e)
        # an edge meeting a node this graph replaced: a mistake there is this graph's,
        # reported at the node that replaced it
        replaced = next((nodes[n] for n in (e.dst, e.src) if n in nodes
                         and nodes[n].type_name != base.nodes[n].type_name), None)
        if replaced is not None and replaced.line:
            e = replace(e, file=None, line=replaced.line,
                        via=f"inherited from {e.file}:{e.line}" if e.line else "inherited")
        kept.append(e)
    return merged, kept + edges, dropped


def _with_file(decl: Any, path: str | None) -> Any:
    return replace(decl, file=path)


def not_in_base(base: Graph, unlinked: Mapping[tuple[str, str, str, str], int | None]
                ) -> list[tuple[int | None, str]]:
    """(line, message) for each ``remove: true`` edge that is not the base's."""
    have = {(e.src, e.src_port, e.dst, e.dst_port) for e in base.edges}
    return [(line, f"edge '{src}.{sp} -> {dst}.{dp}': remove: true, but {base.name} has no "
                   "such edge to remove")
            for (src, sp, dst, dp), line in unlinked.items() if (src, sp, dst, dp) not in have]


def unfed(dropped: list[EdgeDecl], edges: list[EdgeDecl], removed: set[str], path: str,
          line_of: Callable[[str], int | None]) -> list[str]:
    """Warnings for inputs that a node's removal (null, at ``line_of(node)``) left fed by
    nothing: a graph that then never ends is one keystroke away."""
    fed = {(e.dst, e.dst_port) for e in edges}
    notes = []
    for e in dropped:
        if e.dst in removed or (e.dst, e.dst_port) in fed:
            continue
        notes.append(f"{path}:{line_of(e.src)}: warning: removing node {e.src!r} leaves "
                     f"{e.dst}.{e.dst_port} fed by nothing (it was by '{e}', "
                     f"{e.file}:{e.line}); connect it, or remove {e.dst!r} too")
        fed.add((e.dst, e.dst_port))
    return notes
