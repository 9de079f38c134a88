"""``microturn skills``: the skills a graph's reflex front end can run, found as a graph
finds them, with what they hear and their settings."""

from __future__ import annotations

from flow import cli


def test_skills_lists_every_skill_with_what_it_hears_and_its_settings(capsys):
    assert cli.main(["skills"]) == 0
    out = capsys.readouterr().out
    blocks = {b.split()[0]: b for b in out.strip().split("\n\n")}
    assert list(blocks)[:5] == ["currency", "count", "stopwatch", "timer", "delegate"]
    assert blocks["currency"].startswith("currency  (nodes.reflex.skills:Currency)\n")
    assert "  settings: rates: dict[str, float] = {'dollars': 0.92}" in blocks["currency"]
    assert "  phrases: start the stopwatch | stop the stopwatch" in blocks["stopwatch"]
    assert "  settings: none" in blocks["timer"]


def test_skills_describes_the_named_ones_and_names_an_unknown_one(capsys):
    assert cli.main(["skills", "delegate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("delegate  (nodes.reflex.skills:Delegate)\n")
    assert "  settings: acknowledgement: str = 'Let me check.'" in out
    assert cli.main(["skills", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown skill 'nope' (skills: currency, count, ")
