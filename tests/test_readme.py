"""The README's example of what ``microturn check`` says is what it says, and its CLI
section lists the options of ``check`` and ``run``."""

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


def test_the_readme_s_cli_lists_every_option_of_check_and_run(capsys):
    """The two commands people start with: every option of theirs is on their README line
    (-v and --help are described once for all)."""
    readme = (ROOT / "README.md").read_text()
    for command in ("check", "run"):
        line = re.search(rf"^    microturn {command} (.*)$", readme, re.M)
        assert line is not None, f"the README's CLI has no `microturn {command}` line"
        assert cli.main([command, "--help"]) == 0
        options = set(re.findall(r"--[a-z][a-z-]*", capsys.readouterr().out))
        listed = set(re.findall(r"--[a-z][a-z-]*", line[1]))
        missing = options - listed - {"--help", "--verbose"}
        assert not missing, f"README: `microturn {command}` lacks {sorted(missing)}"
