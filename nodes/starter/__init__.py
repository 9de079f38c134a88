"""microturn's own graphs and the samples they read, as the wheel ships them.

``graphs``, ``media`` and ``hello.txt`` here are links to the repository's ``graphs/``,
``examples/media/`` and ``examples/hello.txt`` (one copy of each in git); building the
wheel copies what they point to. The graphs are declared in the ``microturn.graphs``
entry points (``flow.catalog``), so ``microturn run assistant`` finds them wherever
microturn is installed; ``microturn init DIR`` (``init_command``) lays them out with their
samples as the repository does, so that their relative paths hold.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

#: What ``microturn init`` copies: (where it is here, the glob, where it goes in the folder)
STARTER = (
    ("graphs", "*.yaml", "graphs"),
    ("media", "*.wav", "examples/media"),
    (".", "hello.txt", "examples"),
)
