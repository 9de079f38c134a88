"""docs/embedding.md's example runs as written, on the fake clock as its last section
says, and answers what the doc says it answers."""

from __future__ import annotations

import re
import types
from pathlib import Path

from flow import FakeClock

ROOT = Path(__file__).parents[2]


def test_the_embedding_example_runs_and_answers_as_documented():
    text = (ROOT / "docs" / "embedding.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    module = types.ModuleType("embedding_example")
    exec(compile(example, "docs/embedding.md", "exec", dont_inherit=True), module.__dict__)
    clock = FakeClock()
    replies = clock.run(module.main(clock))
    promised = re.search(r"# (\[.*\])", example)
    assert promised is not None
    assert str(replies) == promised.group(1)
