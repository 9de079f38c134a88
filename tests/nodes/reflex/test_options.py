"""The reflex model's options in a graph: each mistake is named at its place (file:line,
the field under ``with.options``), and a skill's settings are optional."""

from __future__ import annotations

from textwrap import dedent
from typing import Annotated

import msgspec
import pytest

from flow import GraphError, ParamError
from flow.loader import load_graph_text
from flow.registry import Registry
from nodes.reflex import model
from nodes.reflex.model import ReflexOptions, build_skills
from nodes.reflex.skill import Skill, SkillDefinitionError

GRAPH = """\
graph: t
nodes:
  front:
    use: frontend
    with:
      model: reflex
      options:
        skills: {skills}
        settings:
          {settings}
"""
REG = Registry()
REG.register_lazy("frontend", "nodes.frontend.node:FrontEnd")


def problem(skills: str, settings: str) -> str:
    with pytest.raises(GraphError) as info:
        load_graph_text(dedent(GRAPH.format(skills=skills, settings=settings)), "g.yaml",
                        registry=REG)
    (issue,) = info.value.issues
    return str(issue)


def test_a_skill_s_setting_is_named_at_its_line_and_path():
    msg = problem("[count, timer]", "count: {category: 5}")
    assert msg.startswith("g.yaml:10: node 'front' (frontend): ")
    assert msg.endswith("skill 'count': Expected str, got int 5 - at "
                        "with.options.settings.count.category")
    msg = problem("[count]", "count: {categry: animals}")
    assert msg == ("g.yaml:10: node 'front' (frontend): options for model 'reflex': skill "
                   "'count': unknown setting 'categry'; did you mean 'category'? (settings: "
                   "category, words, numbers, by_kind) - at with.options.settings.count.categry")


class Loose(Skill):
    """Its Params does not forbid unknown fields: its settings are held to them anyway."""

    name = "loose"

    class Params(msgspec.Struct, frozen=True):
        x: int = 1


def test_a_typo_in_settings_is_refused_whatever_the_skill_s_params_say(monkeypatch):
    monkeypatch.setattr(model, "load_skill", {"loose": Loose}.__getitem__)
    with pytest.raises(msgspec.ValidationError) as info:
        ReflexOptions(skills=["loose"], settings={"loose": {"x": 1, "xs": 2}})
    assert str(info.value) == ("skill 'loose': unknown setting 'xs'; did you mean 'x'? "
                               "(settings: x) - at `$.settings.loose.xs`")
    assert build_skills(ReflexOptions(skills=["loose"], settings={"loose": {"x": 3}})
                        )[0].params == Loose.Params(3)


def test_a_skill_s_params_are_held_to_a_node_s_rules_when_the_class_is_defined():
    with pytest.raises(SkillDefinitionError, match=r"^skill tests\.nodes\.reflex\.test_options:"
                       r"test_a_skill_s_params_.*\.Mutable: "
                       r"Params must be frozen \(class Params\(msgspec\.Struct, frozen=True"):
        class Mutable(Skill):
            class Params(msgspec.Struct):
                x: int = 1
    with pytest.raises(SkillDefinitionError, match=r"\.Plain: Params must be a msgspec\.Struct$"):
        class Plain(Skill):
            class Params:
                x = 1
    with pytest.raises(SkillDefinitionError, match=r"\.Odd: the default of settings\.x breaks "
                       r"its own constraint: Expected int <= 3$"):
        class Odd(Skill):
            class Params(msgspec.Struct, frozen=True):
                x: Annotated[int, msgspec.Meta(le=3)] = 10

    class Heir(Parrot):  # an inherited Params was checked with its class
        name = "heir"

    assert Heir().params == Parrot.Params()


def test_an_unknown_skill_and_stray_settings_are_named_at_their_place():
    msg = problem("[count, nosuch]", "count: {}")
    assert msg.startswith("g.yaml:8: ")
    assert "unknown skill 'nosuch' (skills: currency, count, " in msg
    assert msg.endswith(" - at with.options.skills[1]")
    msg = problem("[count, timer, count]", "count: {}")
    assert msg == ("g.yaml:8: node 'front' (frontend): options for model 'reflex': skill "
                   "'count' is listed twice - at with.options.skills[2]")
    msg = problem("[count]", "timer: {}")
    assert msg.startswith("g.yaml:10: ")
    assert "settings for 'timer', which is not in skills" in msg
    msg = problem("[timer]", "timer: {x: 1}")
    assert "skill 'timer' takes no settings" in msg


class Parrot(Skill):
    name = "parrot"

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        prefix: str = "you said"


class Broken(Skill):
    name = "broken"

    def __init__(self, params: msgspec.Struct | None = None) -> None:
        super().__init__(params)
        raise RuntimeError("no model file")


def test_a_skill_without_settings_gets_its_params_defaults(monkeypatch):
    assert Parrot().params == Parrot.Params()  # not None: the author reads self.params.x
    monkeypatch.setattr(model, "load_skill", {"parrot": Parrot}.__getitem__)
    (skill,) = build_skills(ReflexOptions(skills=["parrot"]))
    assert skill.params.prefix == "you said"
    (skill,) = build_skills(ReflexOptions(skills=["parrot"],
                                          settings={"parrot": {"prefix": "so"}}))
    assert skill.params.prefix == "so"


def test_a_skill_that_fails_to_start_is_named(monkeypatch):
    monkeypatch.setattr(model, "load_skill", {"broken": Broken}.__getitem__)
    with pytest.raises(RuntimeError, match=r"^skill 'broken' \(tests\.nodes\.reflex\.test_options"
                       r":Broken\) failed to start: RuntimeError: no model file$"):
        build_skills(ReflexOptions(skills=["broken"]))


class RatesFile(Skill):
    """Reads its rates from a file when made: a file that is not there is the graph's
    mistake (a ``ParamError``), as a node's would be."""

    name = "rates"

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        path: str = "rates.csv"

    def __init__(self, params: msgspec.Struct | None = None) -> None:
        super().__init__(params)
        raise ParamError(f"{self.params.path}: no such file - at path")


def test_a_skill_s_param_error_at_start_is_a_mistake_in_its_settings(monkeypatch):
    monkeypatch.setattr(model, "load_skill", {"rates": RatesFile}.__getitem__)
    with pytest.raises(ParamError) as info:
        build_skills(ReflexOptions(skills=["rates"], settings={"rates": {"path": "/no.csv"}}))
    assert str(info.value) == ("skill 'rates': /no.csv: no such file - at "
                               "with.options.settings.rates.path")
    # a place the skill does not give is its settings; one from ``with.`` is kept
    for said, where in [("gone", "with.options.settings.rates"),
                        ("gone - at `$.path`", "with.options.settings.rates.path"),
                        ("gone - at with.options.settings.rates.path",
                         "with.options.settings.rates.path")]:
        assert str(model.settings_problem("rates", ParamError(said))) == \
            f"skill 'rates': gone - at {where}"


def test_microturn_run_reports_a_skill_s_param_error_as_a_graph_mistake(
        tmp_path, monkeypatch, capsys):
    """Exit status 2 and ``file:line: node ...``, not a failed session (status 1)."""
    from flow import cli

    monkeypatch.setattr(model, "load_skill", {"rates": RatesFile}.__getitem__)
    graph = tmp_path / "g.yaml"
    graph.write_text(dedent(GRAPH.format(skills="[rates]", settings="rates: {path: /no.csv}")))
    assert cli.main(["run", str(graph), "--no-uvloop"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{graph}:3: node 'front' (frontend): skill 'rates': /no.csv: no such file - at "
        "with.options.settings.rates.path", "1 problem found"]


def test_a_plugin_skill_that_fails_to_import_is_named(monkeypatch):
    from importlib.metadata import EntryPoint

    from nodes.reflex import skill as skill_module

    ep = EntryPoint("ghost", "microturn_no_such_skill_module:Ghost", skill_module.SKILL_GROUP)
    monkeypatch.setattr(skill_module, "entry_points",
                        lambda group: [ep] if group == skill_module.SKILL_GROUP else [])
    with pytest.raises(skill_module.UnknownSkill,
                       match=r"^skill 'ghost' \(microturn_no_such_skill_module:Ghost\) failed "
                             r"to import: ModuleNotFoundError: No module named"):
        skill_module.load_skill("ghost")


def test_the_reflex_options_under_the_default_model_say_which_model_they_belong_to():
    text = "graph: t\nnodes:\n  front:\n    use: frontend\n    with:\n      options:\n" \
           "        skills: [count]\n"
    with pytest.raises(GraphError) as info:
        load_graph_text(text, "g.yaml", registry=REG)
    (issue,) = info.value.issues
    assert issue.startswith("g.yaml:6: node 'front' (frontend): options for model 'torch': "
                            "Object contains unknown field skills (these are the options of "
                            "model 'reflex': set model: reflex, or give model 'torch' its own; "
                            "in a graph that extends another, options: null drops the options "
                            "it inherited)")


class Echo(Skill):
    name = "echo"


class Clock(Skill):
    name = "clock"


class NoName(Skill):
    pass


class Catchall(Skill):
    """Says it is ``delegate``: declared under another name, it must not become the
    fallback the policy asks when no other skill claims an utterance."""

    name = "delegate"


def _declare(monkeypatch, pairs: list[tuple[str, str]]):
    """Entry points (name, ``module:Class``) of one package, pkg-a, as the only ones."""
    from importlib.metadata import EntryPoint

    from nodes.reflex import skill as skill_module

    eps = [EntryPoint(name, value, skill_module.SKILL_GROUP)._for(_Package("pkg-a"))  # type: ignore[arg-type]
           for name, value in pairs]
    monkeypatch.setattr(skill_module, "entry_points", lambda group: eps)
    monkeypatch.setattr(skill_module, "_warned", set())
    return skill_module


def test_a_skill_s_name_is_the_one_it_is_declared_under(monkeypatch):
    here = "tests.nodes.reflex.test_options"
    skill_module = _declare(monkeypatch, [("echo", f"{here}:Echo"),
                                          ("mydelegate", f"{here}:Catchall"),
                                          ("weight", f"{here}:Clock"),
                                          ("noname", f"{here}:NoName")])
    assert skill_module.load_skill("echo") is Echo
    for name, cls in skill_module.builtin_skills().items():
        assert cls.name == name
    for name, says, value in [("mydelegate", "names itself 'delegate'", "Catchall"),
                              ("weight", "names itself 'clock'", "Clock"),
                              ("noname", "sets no name", "NoName")]:
        with pytest.raises(skill_module.UnknownSkill) as info:
            skill_module.load_skill(name)
        assert str(info.value) == (f"skill {name!r} ({here}:{value}) {says}: a skill's name is "
                                   f"the one it is declared under (set name = {name!r} on the "
                                   "class)")
    with pytest.raises(msgspec.ValidationError, match=r"'mydelegate' .* - at `\$\.skills\[1\]`$"):
        ReflexOptions(skills=["count", "mydelegate"])


def test_an_unknown_skill_gets_a_did_you_mean_among_the_skills_that_load(monkeypatch):
    """Each name once (a package's ``currency`` is the built-in one), none that is broken."""
    here = "tests.nodes.reflex.test_options"
    skill_module = _declare(monkeypatch, [("clock", f"{here}:Clock"),
                                          ("currency", f"{here}:Clock"),
                                          ("broken", "microturn_no_such_module:Broken"),
                                          ("noname", f"{here}:NoName")])
    with pytest.raises(skill_module.UnknownSkill) as info:
        skill_module.load_skill("clokc")
    assert str(info.value) == ("unknown skill 'clokc'; did you mean 'clock'? (skills: "
                               "currency, count, stopwatch, timer, delegate, clock)")
    with pytest.raises(skill_module.UnknownSkill) as info:
        skill_module.load_skill("zzz")
    assert str(info.value).startswith("unknown skill 'zzz' (skills: currency, ")


class _Package:
    def __init__(self, name: str) -> None:
        self.name = name


def test_a_skill_name_two_packages_declare_is_one_skill_and_the_clash_is_told(
        monkeypatch, caplog):
    from importlib.metadata import EntryPoint

    from nodes.reflex import skill as skill_module

    group = skill_module.SKILL_GROUP
    eps = [EntryPoint("count", "pkg_a:Count", group)._for(_Package("pkg-a")),  # type: ignore[arg-type]
           EntryPoint("echo", "tests.nodes.reflex.test_options:Echo", group)._for(
               _Package("pkg-a")),  # type: ignore[arg-type]
           EntryPoint("echo", "pkg_b:Echo", group)._for(_Package("pkg-b"))]  # type: ignore[arg-type]
    monkeypatch.setattr(skill_module, "entry_points", lambda group: eps)
    monkeypatch.setattr(skill_module, "_warned", set())
    assert skill_module.load_skill("count").__module__ == "nodes.reflex.skills"  # built in
    assert "skill 'count' is built in; pkg-a declares one too, which is not used" in caplog.text
    assert skill_module.load_skill("echo") is Echo
    assert ("skill 'echo' is declared by pkg-a and pkg-b: pkg-a's "
            "(tests.nodes.reflex.test_options:Echo) is used") in caplog.text
    skill_module.load_skill("echo")
    assert caplog.text.count("skill 'echo' is declared by") == 1  # once a process


def test_editors_see_the_model_s_options_the_skills_and_their_settings():
    """``microturn schema``: the front end's options are the chosen model's, and under
    reflex, skills are the installed ones and each one's settings its own Params."""
    import jsonschema
    import yaml

    from flow.schema import graph_schema

    validator = jsonschema.Draft202012Validator(graph_schema(REG))

    def problems(with_: str) -> list[str]:
        doc = yaml.safe_load("nodes:\n  front:\n    use: frontend\n    with:\n" + with_)
        return [e.message for e in validator.iter_errors(doc)]

    assert problems("      model: reflex\n      options: {skills: [count, timer], "
                    "settings: {count: {category: birds}}}\n") == []
    (unknown,) = problems("      model: reflex\n      options: {skills: [count, nosuch]}\n")
    assert unknown.startswith("'nosuch' is not one of ['count', 'currency', 'delegate', ")
    assert problems("      model: reflex\n      options: {settings: {count: {category: 5}}}\n")
    assert problems("      options: {skills: [count]}\n") == [  # the default model: torch
        "Additional properties are not allowed ('skills' was unexpected)"]
