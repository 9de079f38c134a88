"""``distance``: "... forty miles ..." -> "40 miles is 64.4 kilometres.", said at once.

A skill reads every hypothesis of what the user said, partial ones too, and answers with
``Reply``s. What it listens for goes into the recogniser's grammar by itself: here
``number_contexts`` lets a number come right before "miles" (the grammar allows numbers
only where some skill expects one).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from nodes.asr.numbers import find_numbers
from nodes.reflex.skill import Mentions, Reply, Skill
from nodes.reflex.transcript import Transcript, Utterance

KM_PER_MILE = 1.609344


class Distance(Skill):
    """Converts every "<number> miles" the user says, once per mention; a later hypothesis
    that hears the number otherwise gets a correction, which cuts the wrong answer short
    if it is still being said (``about`` / ``corrects``)."""

    name = "distance"
    number_contexts = ("miles", "mile")

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        unit: Annotated[str, msgspec.Meta(description="what to say the result in")] = \
            "kilometres"
        decimals: Annotated[int, msgspec.Meta(ge=0, le=3)] = 1

    def __init__(self, params: Params | None = None) -> None:
        super().__init__(params or self.Params())
        self.said = Mentions()  # mention (media time of its number) -> (miles, first key)

    def examples(self) -> tuple[str, ...]:
        return (f"forty miles in {self.params.unit}",)

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        texts = [w.text for w in utt.words]
        spans = [s for s in find_numbers(texts)
                 if s.end < len(texts) and texts[s.end] in self.number_contexts]
        if not spans:
            return None  # not ours: another skill (or the back end) may take it
        replies = []
        for span in spans:
            key = utt.words[span.start].start
            before = self.said.get(key)
            if before is not None and before[0] == span.value:
                continue  # answered already
            if not self.confirm(key, span.value, utt.final):
                continue  # a partial hypothesis: wait for a second one that agrees
            mention = key if before is None else before[1]
            self.said.add(key, (span.value, mention))
            km = round(span.value * KM_PER_MILE, self.params.decimals)
            miles = "mile" if span.value == 1 else "miles"
            text = f"{span.value} {miles} is {km:g} {self.params.unit}."
            replies.append(Reply(text if before is None else "Sorry, " + text,
                                 trigger=utt.words[span.end].end, skill=self.name,
                                 data={"miles": span.value, "km": km},
                                 about=mention, corrects=before is not None))
        return replies
