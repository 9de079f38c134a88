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


def test_skills_describes_the_named_ones_and_shows_an_unknown_one_unavailable(capsys):
    """The good ones are described and the unknown one said unavailable with a
    did-you-mean, in the order asked; exit status 2 says one was."""
    assert cli.main(["skills", "delegate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("delegate  (nodes.reflex.skills:Delegate)\n")
    assert "  settings: acknowledgement: str = 'Let me check.'" in out
    assert cli.main(["skills", "timer", "conut", "delegate"]) == 2
    got = capsys.readouterr()
    blocks = got.out.strip().split("\n\n")
    assert [b.split()[0] for b in blocks] == ["timer", "conut", "delegate"]
    assert blocks[0].startswith("timer  (nodes.reflex.skills:Timer)\n")
    assert blocks[1].startswith("conut\n  unavailable: unknown skill 'conut'; did you mean "
                                "'count'? (skills: currency, count, ")
    assert got.err == "error: unavailable: conut\n"


def test_skills_shows_a_broken_plugin_skill_unavailable_saying_why(capsys, monkeypatch):
    from importlib.metadata import EntryPoint

    from nodes.reflex import skill as skill_module

    ep = EntryPoint("clock", "tests.nodes.reflex.test_options:Echo", skill_module.SKILL_GROUP)
    monkeypatch.setattr(skill_module, "entry_points", lambda group: [ep])
    assert cli.main(["skills"]) == 0  # the listing: whatever it shows
    assert ("clock\n  unavailable: skill 'clock' (tests.nodes.reflex.test_options:Echo) names "
            "itself 'echo'") in capsys.readouterr().out
    assert cli.main(["skills", "count", "clock"]) == 2
    got = capsys.readouterr()
    assert got.out.startswith("count  (nodes.reflex.skills:Count)\n")
    assert "\n\nclock\n  unavailable: skill 'clock' " in got.out
    assert got.err == "error: unavailable: clock\n"
