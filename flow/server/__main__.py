"""``python -m flow.server GRAPH.yaml ...``: the same as ``microturn serve``."""

import sys

from .cli import main

sys.exit(main())
