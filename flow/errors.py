"""One error hierarchy for everything a user or a node can get wrong.

Errors a user causes (a YAML mistake, a bad parameter, a missing file) are ``FlowError``s
and are printed as one line each, never as a traceback.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable


class FlowError(Exception):
    """Base of every error microturn raises on purpose."""


class GraphError(FlowError, ValueError):
    """A graph that cannot run: each issue is one ``file:line: message`` line."""

    def __init__(self, issues: list[str] | str) -> None:
        self.issues = [issues] if isinstance(issues, str) else list(issues)
        super().__init__("\n".join(self.issues))


class NodeDefinitionError(FlowError, TypeError):
    """A node class is malformed (a plugin author's mistake, found at import time)."""


class ParamError(FlowError, ValueError):
    """A node parameter is invalid at start-up (e.g. a file that does not exist)."""


def no_such_file(path: str) -> str:
    """``"x.txt: no such file"``, saying where a relative path was looked for: from the
    directory microturn runs in, not the graph file's."""
    where = ("" if os.path.isabs(path) else
             f" (in {os.getcwd()}: relative paths are from the directory microturn runs in)")
    return f"{path}: no such file{where}"


class SessionClosed(FlowError):
    """Sending on an output that was already closed with ``EndOfStream``."""


class EndOfInput(Exception):
    """Raised by ``In.recv()`` once every edge feeding the port has ended.

    Not a ``FlowError``: it is the normal end of a stream, like ``StopAsyncIteration``.
    """


class NodeFailed(FlowError):
    """A node raised: names the session, the node and the original exception."""

    def __init__(self, node_id: str, exc: BaseException, session: str = "") -> None:
        self.node_id = node_id
        self.exc = exc
        self.session = session
        where = f"session {session!r}: " if session else ""
        super().__init__(f"{where}node {node_id!r} failed: {type(exc).__name__}: {exc}")
        # wherever it is raised, a traceback of it shows the node's own exception and where
        # in the node's code it came from ("The above exception was the direct cause")
        self.__cause__ = exc


class MissingDependency(FlowError, ImportError):
    """An optional dependency is missing; the message carries the exact pip command."""

    def __init__(self, module: str, extra: str) -> None:
        self.module, self.extra = module, extra
        super().__init__(
            f"{module!r} is not installed; install it with: pip install '{module}' (or "
            f"microturn's '{extra}' extra, from a checkout: pip install -e '.[{extra}]')")


def missing(requires: Iterable[tuple[str, str, str]]) -> list[MissingDependency]:
    """Of ``(module, distribution, extra)``, those not installed here (looked up without
    importing anything), as the errors that say what to install."""
    return [MissingDependency(dist, extra) for module, dist, extra in requires
            if importlib.util.find_spec(module) is None]


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that explains a failed group: a NodeFailed first (it names the node
    that raised), then any other error, then cancellation."""
    leaves: list[BaseException] = []

    def walk(g: BaseExceptionGroup[BaseException]) -> None:
        for e in g.exceptions:
            walk(e) if isinstance(e, BaseExceptionGroup) else leaves.append(e)

    walk(group)
    for kind in (NodeFailed, Exception, BaseException):
        for e in leaves:
            if isinstance(e, kind):
                return e
    return group
