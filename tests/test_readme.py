"""The README's example of what ``microturn check`` says is what it says."""

from __future__ import annotations

import re
from pathlib import Path

from flow import cli

ROOT = Path(__file__).parents[1]


def test_the_readme_s_check_example_is_the_real_output(capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"^    \$ microturn check (\S+)\n((?:    \S.*\n)+)", readme, re.M)
    assert block is not None, "the README has no `microturn check` example"
    monkeypatch.chdir(ROOT)
    status = cli.main(["check", block[1]])
    _, err = capsys.readouterr()
    assert status == 2
    assert err == "".join(line[4:] + "\n" for line in block[2].splitlines())
