"""Graphs that installed packages ship, found by name: ``microturn run assistant``.

A package declares a folder of graph files in the ``microturn.graphs`` entry-point group,
as ``module:folder`` (the folder inside that package's directory)::

    [project.entry-points."microturn.graphs"]
    acme = "acme_levels:graphs"      # acme_levels/graphs/*.yaml, and in package-data

microturn declares its own graphs (the repository's ``graphs/``) the same way. A graph's
name is its file's stem; ``microturn graphs`` lists them with the first line of each
file's leading comment.

Wherever a command takes a graph file, a name that is no file here and has no folder or
``.yaml`` in it is looked up among them (``resolve``). A file always wins, so a graph in
the current folder is never shadowed by a package. Where two packages ship the same name,
microturn's own graph keeps it, else the package found first does; a warning names both.

A packaged graph's relative paths (a sample it reads, a WAV it writes) are from the
current folder, as any graph's are: ``microturn init DIR`` copies microturn's graphs and
their samples into a folder, where they run as they do in the repository.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from .errors import BUILT_IN, GraphError
from .registry import package_of

GROUP = "microturn.graphs"
SUFFIXES = (".yaml", ".yml")

log = logging.getLogger("microturn.catalog")


@dataclass(frozen=True)
class PackagedGraph:
    name: str
    path: Path
    package: str  #: the distribution that ships it
    summary: str  #: the first line of the file's leading comment ("" if none)


def packaged_graphs() -> dict[str, PackagedGraph]:
    """Every installed package's graphs by name, sorted by name. A declaration whose
    module does not import or whose folder is not there is skipped with a warning."""
    found: dict[str, PackagedGraph] = {}
    eps = sorted(entry_points(group=GROUP), key=lambda ep: package_of(ep) != BUILT_IN)
    for ep in eps:
        package = package_of(ep)
        folder = _folder(ep)
        if folder is None:
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES):
            name = path.stem
            if name in found:
                if found[name].package != package:
                    log.warning("graph %r of %s is shadowed by the one of %s", name, package,
                                found[name].package)
                continue
            found[name] = PackagedGraph(name, path, package, _summary(path))
    return dict(sorted(found.items()))


def resolve(arg: str) -> Path:
    """The graph file a command line names: ``arg`` itself if it is a file or looks like a
    path (a folder in it, a ``.yaml`` suffix), else the packaged graph of that name.
    Raises ``GraphError`` for a name no package ships (listing those that are)."""
    path = Path(arg)
    if path.is_file() or path.suffix in SUFFIXES or "/" in arg or os.sep in arg:
        return path
    graphs = packaged_graphs()
    if arg in graphs:
        return graphs[arg].path
    names = ", ".join(graphs) or "none"
    raise GraphError(f"{arg}: no such graph file, and no installed package ships a graph "
                     f"named {arg!r} (packaged graphs: {names}; `microturn graphs` "
                     "lists them)")


def _folder(ep: EntryPoint) -> Path | None:
    module, _, sub = ep.value.partition(":")
    try:
        root = importlib.resources.files(module.strip())
    except Exception as exc:  # a broken package must not hide the others' graphs
        log.warning("the graphs of %s are unavailable: %s cannot be imported (%s)",
                    package_of(ep), module.strip(), exc)
        return None
    folder = Path(str(root.joinpath(*sub.strip().split("/")) if sub.strip() else root))
    folder = folder.resolve()  # where a link points: the file a message names is the real one
    if not folder.is_dir():
        log.warning("the graphs of %s are unavailable: %s is not a folder on disk (entry "
                    "point %s = %r: 'module:folder', its graphs installed as files, not "
                    "zipped)", package_of(ep), folder, ep.name, ep.value)
        return None
    return folder


def _summary(path: Path) -> str:
    """The first sentence of the file's leading comment (which may wrap over lines)."""
    try:
        lines = path.read_text(encoding="utf-8").lstrip().splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    words: list[str] = []
    for line in lines:
        text = line.strip()
        if not text.startswith("#") or not text.lstrip("#").strip():
            break  # the comment's first paragraph ends at YAML or at an empty comment line
        words += text.lstrip("#").split()
    paragraph = " ".join(words)
    return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
