"""A JSON Schema of the graph format, for editors (completion and checks as you type).

Each registered node type's parameters appear under ``with`` through an ``if``/``then`` on
``use``, generated from its ``Params`` Struct by msgspec, with the parameters whose type
depends on another's (``Node.params_schema_cases``: the front end's options, by model).
The schema is a convenience: the loader is the authority (it also checks ports, types,
fan-in and cycles, which a schema cannot express).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .edge import DEFAULT_CAPACITY, TIMED_CAPACITY, Policy
from .params import DURATION_PATTERN
from .registry import CLASS_PATH, NodeTypeLoadError, Registry, default_registry

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: ECMA-262 spellings of the loader's patterns (JSON Schema regexes are ECMA's).
NODE_ID_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
END_PATTERN = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"
_NAME = "[A-Za-z0-9_-]+"
EDGE_TEXT_PATTERN = f"^\\s*{_NAME}\\.{_NAME}\\s*->\\s*{_NAME}\\.{_NAME}\\s*$"


def graph_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The schema as a JSON-ready dict. Imports every registered node type."""
    reg = registry or default_registry()
    defs: dict[str, Any] = {"node": {}, "edge": _edge_schema()}
    cases: list[dict[str, Any]] = []
    for name, cls in reg.load_all().items():
        key = f"params:{name}"
        if isinstance(cls, NodeTypeLoadError):
            defs[key] = {"type": "object", "description": f"unavailable: {cls}"}
            required = False
        else:
            defs[key], more = _params_schema(cls.Params, key)
            defs.update(more)
            for i, (condition, param, tp) in enumerate(cls.params_schema_cases()):
                case, more = _params_schema(tp, f"{key}.{param}{i}")
                defs.update(more)
                defs[key].setdefault("allOf", []).append(
                    {"if": condition, "then": {"properties": {param: case}}})
            doc = (cls.__doc__ or "").strip().split("\n\n")[0]
            if doc:
                defs[key].setdefault("description", " ".join(doc.split()))
            required = bool(defs[key].get("required"))
        then: dict[str, Any] = {"properties": {"with": {"$ref": f"#/$defs/{key}"}}}
        if required:
            then["required"] = ["with"]
        cases.append({"if": {"properties": {"use": {"const": name}}, "required": ["use"]},
                      "then": then})
    defs["node"] = {
        "type": "object",
        "description": "A node: `use` a registered node type, `with` its parameters.",
        "required": ["use"],
        "additionalProperties": False,
        "properties": {
            "use": {"anyOf": [{"enum": reg.names()},
                              {"type": "string", "pattern": CLASS_PATH.pattern}],
                    "description": "node type (see `microturn nodes`), or a Node class by "
                                   "its import path, module:Class"},
            "with": {"type": ["object", "null"], "description": "the type's parameters"},
        },
        "allOf": cases,
    }
    return {
        "$schema": DRAFT,
        "title": "microturn graph",
        "description": "A dataflow graph of nodes and edges, run by `microturn run`.",
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {"^x-": {"description": "yours: a home for YAML anchors"}},
        "properties": {
            "graph": {"type": "string", "description": "the graph's name"},
            "extends": {"type": "string",
                        "description": "the graph file this one changes (relative to this "
                                       "file), or a packaged graph's name"},
            "nodes": {"type": "object", "propertyNames": {"pattern": NODE_ID_PATTERN}},
            "edges": {"type": ["array", "null"], "items": {"$ref": "#/$defs/edge"}},
        },
        # A graph that extends another changes its nodes: a node may then be null (removed)
        # or only `with` (parameters over the base node's), and `nodes` may be left out.
        "if": {"required": ["extends"]},
        "then": {"properties": {"nodes": {"additionalProperties": {
            "anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}, {
                "type": "object", "required": ["with"], "additionalProperties": False,
                "properties": {"with": {"type": ["object", "null"]}}}]}}}},
        "else": {"required": ["nodes"], "properties": {"nodes": {
            "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/node"}}}},
        "$defs": defs,
    }


def _params_schema(params: type[msgspec.Struct], key: str
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema of one Params Struct and the definitions it refers to, named under
    ``key`` so that two plugins' ``Params`` classes never collide."""
    try:
        (ref,), components = msgspec.json.schema_components(
            [params], schema_hook=_any_type, ref_template=f"#/$defs/{key}.{{name}}")
    except (TypeError, ValueError) as exc:
        return {"type": "object", "description": f"(no schema: {exc})"}, {}
    root_name = ref["$ref"].rsplit("/", 1)[1][len(key) + 1:]
    root = dict(components.pop(root_name))
    # The loader rejects unknown parameters even when a Params omits forbid_unknown_fields.
    root["additionalProperties"] = False
    root.pop("title", None)
    # A value may name environment variables (flow.interpolate), read before it is checked:
    # where a scalar goes (a mapping or a list keeps its own, more telling, errors).
    root["properties"] = {name: {"anyOf": [field, _WITH_VARIABLE]} if _scalar(field) else field
                          for name, field in root.get("properties", {}).items()}
    return root, {f"{key}.{name}": value for name, value in components.items()}


_WITH_VARIABLE = {"type": "string", "pattern": r"\$\{?[A-Za-z_]",
                  "description": "text naming an environment variable: ${NAME}, "
                                 "${NAME:-default}, $NAME"}


def _scalar(field: dict[str, Any]) -> bool:
    """A number, a string, a choice or a flag (or null), not a mapping or a list."""
    branches = field.get("anyOf", [field])
    return all(b.get("type") in ("string", "integer", "number", "boolean", "null")
               or "enum" in b for b in branches)


def _any_type(tp: type) -> dict[str, Any]:
    """Types JSON Schema cannot describe (arrays, tensors) accept anything here."""
    return {"description": f"a {getattr(tp, '__name__', tp)}"}


def _edge_schema() -> dict[str, Any]:
    return {
        "description": "an edge: 'a.out -> b.in', or a mapping with a policy and capacity",
        "oneOf": [
            {"type": "string", "pattern": EDGE_TEXT_PATTERN},
            {
                "type": "object",
                "required": ["from", "to"],
                "additionalProperties": False,
                "properties": {
                    "from": {"type": "string", "pattern": END_PATTERN,
                             "description": "node.output"},
                    "to": {"type": "string", "pattern": END_PATTERN,
                           "description": "node.input"},
                    "policy": {"enum": [p.value for p in Policy],
                               "description": "when full: block (the default; drop_oldest "
                                              "on a feedback edge), drop_oldest, drop_newest "
                                              "or latest"},
                    "capacity": {"type": "integer", "minimum": 1,
                                 "default": DEFAULT_CAPACITY,
                                 "description": "messages queued at most (with max_time "
                                                f"and no capacity: {TIMED_CAPACITY})"},
                    "max_time": {"type": "string", "pattern": DURATION_PATTERN,
                                 "description": "media duration queued at most, e.g. 400ms"},
                    "feedback": {"type": "boolean", "default": False,
                                 "description": "this edge closes a cycle (it must: "
                                                "something leads from its target back to "
                                                "its source)"},
                    "remove": {"const": True,
                               "description": "in a graph that extends another: that "
                                              "graph's edge with these two ends goes"},
                },
            },
        ],
    }
