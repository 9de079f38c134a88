"""Copy microturn's graphs and their samples into a folder, to run them and make them
one's own.

``microturn init my-assistant`` writes ``graphs/*.yaml``, ``examples/media/*.wav`` and
``examples/hello.txt`` under ``my-assistant/``, laid out as in microturn's repository, so
that ``cd my-assistant && microturn run graphs/assistant.yaml`` hears the bundled
monologue and writes ``out/demo.wav``. A file already there is left alone (the command
says which and exits 2) unless ``--force``. Declared in the ``microturn.commands``
entry-point group, as a package's command is.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from flow.errors import FlowError

from . import HERE, STARTER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default=".",
                        help="where to put them (created if need be; default: here)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite files that are already there")


def starter_files() -> list[tuple[Path, Path]]:
    """(source, path relative to the folder) of every file ``init`` copies."""
    files = []
    for src, pattern, dst in STARTER:
        for path in sorted((HERE / src).glob(pattern)):
            files.append((path, Path(dst) / path.name))
    return files


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    files = starter_files()
    if not files:
        raise FlowError(f"microturn's graphs are not installed with it (nothing in {HERE})")
    if folder.exists() and not folder.is_dir():
        raise FlowError(f"{folder} is not a folder")
    there = [rel for _, rel in files if (folder / rel).exists()]
    if there and not args.force:
        shown = ", ".join(map(str, there[:5])) + (f" and {len(there) - 5} more"
                                                  if len(there) > 5 else "")
        raise FlowError(f"{folder} already has {shown}: nothing copied (--force overwrites)")
    for src, rel in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / rel)
    graphs = sorted(rel.stem for _, rel in files if rel.suffix == ".yaml")
    cd = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    print(f"copied {len(files)} files into {folder}: graphs/ ({', '.join(graphs)}) and "
          "the samples they read in examples/\n"
          f"next: {cd}microturn run graphs/assistant.yaml   (the demo, about 65 s)\n"
          f"      {cd}microturn serve                      (the assistant in a browser)")
    return 0
