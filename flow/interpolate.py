"""Environment variables in a graph's parameters, as docker-compose writes them.

In any string under a node's ``with:``::

    ${NAME}           the variable's value; an error if it is not set
    ${NAME:-default}  the value, or ``default`` when it is unset or empty
    ${NAME-default}   the value, or ``default`` when it is unset
    $NAME             as ${NAME}
    $$                a literal $

A ``$`` followed by anything else (``$5``, a lone ``$``) stays as written. A default is
plain text: ``${A:-${B}}`` (a variable in a default) is reported as malformed. Values are
substituted as text before the parameters are checked, so ``rate: ${RATE:-175}`` is the
string "175" and is then converted as the node's ``Params`` declare (a number here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:?-)(?P<default>[^}$]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<broken>\{[^}]*\}?))")


class InterpolationError(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with its variables substituted from ``env``; ``InterpolationError`` names
    the first variable that is not set (and has no default) or a malformed ``${...}``."""
    if "$" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        if m["broken"] is not None:
            raise InterpolationError(
                f"${m['broken']} is not a variable: write ${{NAME}}, ${{NAME:-default}} or "
                f"${{NAME-default}} (NAME: letters, digits, _; docker-compose's :? and :+ "
                f"are not supported), or $$ for a literal $")
        name = m["braced"] or m["named"]
        value = env.get(name)
        sep = m["sep"]
        if (sep == ":-" and not value) or (sep == "-" and value is None):
            return m["default"]
        if value is None:
            raise InterpolationError(
                f"the environment variable {name} is not set (give it a default: "
                f"${{{name}:-...}}, or set it: {name}=... microturn ...)")
        return value

    return _PATTERN.sub(one, text)


def interpolate_tree(value: Any, env: Mapping[str, str], path: tuple[Any, ...] = ()
                     ) -> tuple[Any, list[tuple[tuple[Any, ...], str]]]:
    """Every string in a YAML tree (mappings, lists) interpolated; the problems as
    ``(path, message)``, each path relative to ``value``."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(value, str):
        try:
            return interpolate(value, env), problems
        except InterpolationError as exc:
            return value, [(path, str(exc))]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            out[k], more = interpolate_tree(v, env, (*path, k))
            problems += more
        return out, problems
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            item, more = interpolate_tree(v, env, (*path, i))
            items.append(item)
            problems += more
        return items, problems
    return value, problems
