"""List the skills the reflex front end can run, with what they hear and their settings.

``microturn skills`` lists every skill, built in or from an installed package (the
``microturn.skills`` entry points); ``microturn skills count distance`` describes those in
full. Declared in the ``microturn.commands`` entry-point group, as a package's command is.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from flow.commands.nodes import field_text

from .skill import Skill, UnknownSkill, load_skill, skill_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="skill",
                        help="describe only these skills, in full")


def run(args: argparse.Namespace) -> int:
    """Exit status 2 when a skill named is unknown or cannot load (it is shown, with why,
    among the others); the listing of them all is status 0 whatever it shows."""
    names = list(dict.fromkeys(args.names)) or skill_names()
    blocks = []
    unavailable = []
    for name in names:
        try:
            cls = load_skill(name)
        except UnknownSkill as exc:
            blocks.append(f"{name}\n  unavailable: {exc}")
            unavailable.append(name)
            continue
        blocks.append(describe(name, cls, full=bool(args.names)))
    print("\n\n".join(blocks) if blocks else "no skills")
    if args.names and unavailable:
        print(f"error: unavailable: {', '.join(unavailable)}", file=sys.stderr)
        return 2
    return 0


def describe(name: str, cls: type[Skill], *, full: bool) -> str:
    """Origin, summary, what the skill hears and its settings (``full``: the whole
    docstring and every word it listens for)."""
    origin = f"{cls.__module__}:{cls.__qualname__}"
    lines = [f"{name}  ({origin})"]
    doc = (cls.__doc__ or "").strip()
    if doc:
        text = doc if full else doc.split("\n\n")[0]
        lines += ["    " + line.strip() if line.strip() else "" for line in text.splitlines()]
    for label, items in (("phrases", cls.phrases), ("numbers before", cls.number_contexts),
                         ("words", cls.words)):
        if items:
            shown = items if full or len(items) <= 6 else (*items[:6], f"... ({len(items)})")
            lines.append(f"  {label}: {' | '.join(shown)}")
    try:
        examples = cls().examples()  # with its default settings
    except Exception:  # a skill that needs settings to start: nothing to show
        examples = ()
    if examples:
        lines.append(f"  try: {' | '.join(examples)}")
    params = getattr(cls, "Params", None)
    fields = msgspec.structs.fields(params) if params is not None else ()
    if not fields:
        lines.append("  settings: none")
    for i, f in enumerate(fields):
        head = "  settings: " if i == 0 else "            "
        lines.append(f"{head}{field_text(f)}")
    return "\n".join(lines)
