"""``--set node.param=value``: parameters given on the command line (or as a mapping from
Python), applied over a graph's ``with:`` and checked the same way (``flow.loader``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .params import show

Overrides = Mapping[str, Any] | Iterable[str]
Override = tuple[list[str], Any, str]  # parameter path, value, where it came from


def parse_override(item: str) -> tuple[str, list[str], Any]:
    """``"tts.rate=180"`` -> ``("tts", ["rate"], 180)``; nested: ``"n.a.b=1"``.
    Raises ``ValueError`` with the reason if malformed."""
    target, sep, text = item.partition("=")
    parts = target.strip().split(".")
    if not sep or len(parts) < 2 or not all(parts):
        raise ValueError("expected node.param=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ValueError(f"the value is not YAML: {getattr(exc, 'problem', exc)}") from None
    return parts[0], parts[1:], value


def by_node(ids: Iterable[Any], overrides: Overrides | str | None
            ) -> tuple[dict[str, list[Override]], list[tuple[str, str]]]:
    """``--set`` values by node id, ``{id: [(["param", "sub"], value, origin)]}``, and the
    (origin, message) of each that is malformed or names no node of ``ids``."""
    given: dict[str, list[Override]] = {}
    wrong: list[tuple[str, str]] = []
    items: list[tuple[str, str, list[str], Any]] = []
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            origin = f"--set {key}={show(value)}"
            parts = str(key).split(".")
            if len(parts) < 2 or not all(parts):
                wrong.append((origin, "expected node.param=value"))
                continue
            items.append((origin, parts[0], parts[1:], value))
    elif overrides is not None:
        for item in overrides:
            origin = f"--set {item}"
            try:
                node_id, keys, value = parse_override(item)
            except ValueError as exc:
                wrong.append((origin, f"{exc}"))
                continue
            items.append((origin, node_id, keys, value))
    known = [str(k) for k in ids]
    for origin, node_id, keys, value in items:
        if node_id not in known:
            close = difflib.get_close_matches(node_id, known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            wrong.append((origin, f"no node {node_id!r} in the graph{hint} (nodes: "
                                  f"{', '.join(known) or 'none'})"))
            continue
        given.setdefault(node_id, []).append((keys, value, origin))
    return given, wrong


def override_paths(overrides: Overrides | str | None) -> list[tuple[str, list[str]]]:
    """The (node, parameter path) each well-formed ``--set`` names (``node.a.b=1``, or a
    mapping's ``node.a.b`` keys)."""
    items = overrides.keys() if isinstance(overrides, Mapping) else \
        [overrides] if isinstance(overrides, str) else overrides or []
    out = []
    for item in items:
        target = str(item).partition("=")[0].strip().split(".")
        if len(target) >= 2 and all(target):
            out.append((target[0], target[1:]))
    return out


def set_nested(target: dict[Any, Any], keys: list[str], value: Any) -> None:
    """``--set n.a.b=1`` sets ``b`` inside the mapping ``a`` (made if need be)."""
    for key in keys[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target[keys[-1]] = value
