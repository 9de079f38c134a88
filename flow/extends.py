"""``extends:``: a graph written as changes to another, as docker-compose's ``extends`` is.

    graph: assistant_webrtc
    extends: assistant.yaml          # beside this file, or a packaged graph's name
    nodes:
      mic:   {use: webrtc.audio_in}  # a node with 'use' replaces the base's of that id
      ears:  {with: {beam: 1e-60}}   # without 'use': these parameters over the base's
      out:   null                    # null removes the node, and every edge touching it
    edges:                           # added to the base's; one with the same two ends
      - {from: mic.audio, to: chunker.audio, policy: drop_oldest, max_time: 1s}  # replaces it

The base is loaded and checked on its own first (its mistakes are reported at its own
lines); what the merged graph gets wrong is reported where each part was written, in
whichever file. ``--set`` applies to the merged graph, base nodes included.
"""

from __future__ import annotations

import copy
import os
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
    # a packaged graph by its name, or by its file's (a copy of a packaged graph that
    # extends another, 'extends: assistant.yaml', taken out of its folder)
    name = Path(value).stem if Path(value).suffix in SUFFIXES else value
    graphs = packaged_graphs()
    if name in graphs:
        return graphs[name].path
    return beside if Path(value).suffix else resolve(value)


def base_params(decl: NodeDecl) -> dict[str, Any]:
    """A base node's parameters as YAML would give them, to merge a child's over."""
    raw = msgspec.to_builtins(decl.params)
    return raw if isinstance(raw, dict) else {}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge(base: Graph, nodes: dict[str, NodeDecl], removed: set[str],
          edges: list[EdgeDecl]) -> tuple[dict[str, NodeDecl], list[EdgeDecl]]:
    """The base's nodes and edges with the child's over them: its nodes replace the base's
    of the same id (or are added), ``removed`` go with every edge touching them, and its
    edges replace the base's with the same two ends (or are added). Base declarations
    keep their own file and line."""
    def own(decl: Any) -> Any:
        return decl if decl.file else _with_file(decl, base.path)

    merged = {k: own(d) for k, d in base.nodes.items() if k not in removed}
    merged.update(nodes)
    ends = {(e.src, e.src_port, e.dst, e.dst_port) for e in edges}
    kept = []
    for e in base.edges:
        if e.src in removed or e.dst in removed \
                or (e.src, e.src_port, e.dst, e.dst_port) in ends:
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
    return merged, kept + edges


def _with_file(decl: Any, path: str | None) -> Any:
    return replace(decl, file=path)
