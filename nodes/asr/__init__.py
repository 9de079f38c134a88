"""Speech recognition for the embedded ears (``asr.pocketsphinx``).

Light to import: the pocketsphinx wheel is loaded only by ``recognizer`` (and the node).
``RecognizerProcess`` (``worker``) runs a recogniser in a worker process; ``WorkerError``
is what its failures raise.
``SetVocabulary`` is the control message that changes what the ears listen for while a
session runs; a front end sends it on an edge into the ears' ``control`` port (its skills'
phrases at start-up, new keywords later).
"""

from __future__ import annotations

from flow.messages import Message

from .grammar import build_grammar
from .numbers import NumberSpan, find_numbers, int_to_words, words_to_int
from .worker import RecognizerProcess, WorkerError


class SetVocabulary(Message, frozen=True, kw_only=True):
    """Replace parts of the ears' vocabulary; a field left ``None`` keeps its value.

    ``phrases``: whole command sentences (``{number}`` marks a number slot);
    ``number_contexts``: words a number may precede ("dollars"); ``words``: content words
    (animal names, wake words); ``keywords``: wake words / key phrases (whole phrases);
    ``fillers``: glue words; ``pronunciations``: words added to the dictionary (a word ->
    its phones, or a list of them: a new wake word it lacks). Takes effect at the next
    utterance (the open one finishes with the old grammar).
    """

    phrases: tuple[str, ...] | None = None
    number_contexts: tuple[str, ...] | None = None
    words: tuple[str, ...] | None = None
    keywords: tuple[str, ...] | None = None
    fillers: tuple[str, ...] | None = None
    pronunciations: dict[str, str | tuple[str, ...]] | None = None


__all__ = ["NumberSpan", "RecognizerProcess", "SetVocabulary", "WorkerError", "build_grammar",
           "find_numbers", "int_to_words", "words_to_int"]
