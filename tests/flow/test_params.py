"""``with_value``: msgspec names a bad value's type, so the value is added; a message that
says what it means (an unknown field's, a ``__post_init__``'s) is left as it is."""

from __future__ import annotations

from flow.params import with_value


def test_the_value_is_added_to_msgspec_s_words_only():
    raw = {"rate": 0, "voice": "x", "options": {"skills": ["clokc"]}}
    assert with_value("Expected int >= 8000", raw, ("rate",)) == "Expected int >= 8000, got 0"
    assert with_value("Expected int, got str", raw, ("voice",)) == "Expected int, got str 'x'"
    # passed on by a __post_init__, after its own words
    assert with_value("options for model 'm': Expected int", raw, ("voice",)) == (
        "options for model 'm': Expected int, got 'x'")
    for said in ("Object contains unknown field skills",
                 "options for model 'reflex': unknown skill 'clokc'; did you mean 'clock'?"):
        assert with_value(said, raw, ("options", "skills", 0)) == said
