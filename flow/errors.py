"""One error hierarchy for everything a user or a node can get wrong.

Errors a user causes (a YAML mistake, a bad parameter, a missing file) are ``FlowError``s
and are printed as one line each, never as a traceback.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Iterable

#: microturn's own distribution: a plugin cannot take over its node types, commands or
#: graphs, and its nodes' optional dependencies are its extras
BUILT_IN = "microturn"


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


class SessionClosed(FlowError, RuntimeError):
    """Sending on an output that was already closed with ``EndOfStream``, or into an
    application's input (``Session.send``) once it has ended or its session has."""


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
    """An optional dependency is missing; the message carries the exact pip command, and
    the extra of ``package`` (the distribution that ships the code needing it) that installs
    it too: microturn's by default; None where no package is known (a class of a graph's
    own, ``use: my_nodes:Slow``) or it has no such extra."""

    def __init__(self, module: str, extra: str, package: str | None = BUILT_IN) -> None:
        self.module, self.extra, self.package = module, extra, package
        install = f"{module!r} is not installed; install it with: pip install '{module}'"
        if not (package and extra):
            super().__init__(install)
        elif package == BUILT_IN:  # not on PyPI yet: installed from a checkout
            super().__init__(f"{install} (or microturn's '{extra}' extra, from a checkout: "
                             f"pip install -e '.[{extra}]')")
        else:
            owner = f"{package}'" if package.endswith("s") else f"{package}'s"
            super().__init__(f"{install} (or {owner} '{extra}' extra: "
                             f"pip install '{package}[{extra}]')")


def missing(requires: Iterable[tuple[str, str, str]], owner: str | None = None
            ) -> list[MissingDependency]:
    """Of ``(module, distribution, extra)``, those not installed here (looked up without
    importing anything), as the errors that say what to install. ``owner`` is the module
    that declares them (a node class's ``__module__``): the extra is its distribution's
    (microturn's when not given)."""
    lacking = [(dist, extra) for module, dist, extra in requires
               if importlib.util.find_spec(module) is None]
    package = (BUILT_IN if owner is None else distribution_of(owner)) if lacking else None
    return [MissingDependency(dist, extra, package) for dist, extra in lacking]


def distribution_of(module: str) -> str | None:
    """The installed distribution that ships ``module`` (by its top-level package), or None
    where none or several do: a module of a graph's own, found beside it."""
    top = module.partition(".")[0]
    found = set(importlib.metadata.packages_distributions().get(top, ()))
    return found.pop() if len(found) == 1 else None


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
