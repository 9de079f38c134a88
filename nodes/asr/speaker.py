"""Adapting the ears to the speaker while a session goes on (``speaker_adaptation: true``).

A voice the ears get wrong is mostly put right by half a minute of it, even when the
transcripts are only what the ears heard (docs/ears.md, ninth round: ``bench/enroll.py
--transcripts heard``). So the node keeps what the speaker said, as heard: each final's
words and its stretch of audio, cut from a ring of recent input (``SpeakerSpeech``, sans-IO).
Each time ``every`` more of it was heard, ``adapt_to_speaker`` adapts the session's base
model to all of it (the most recent ``keep``), in a process of its own: pocketsphinx holds
the GIL while it aligns, and the session must keep its cadence meanwhile. The node then
loads a recogniser with the new model beside the running one and swaps it in between two
utterances.

    speech = SpeakerSpeech(every=30 * S)
    speech.audio(samples, pts)                # every micro-turn
    speech.final(text, start, end)            # every final with words
    if speech.due:
        adapt_to_speaker(speech.take(), base, out)   # blocking: seconds
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .grammar import UNHEARD

S = 1_000_000_000
MS = 1_000_000
#: the adaptation's scheduling priority, below the sessions' decoding (``os.nice``)
NICE = 10


class SpeakerSpeech:
    """The session's utterances as heard, for adapting to its speaker. ``every``: speech
    (ns, of finals with words) between two adaptations; ``keep``: the most speech kept (the
    oldest goes first); ``ring``: the input audio remembered (longer than an utterance and
    the pause that ends it); ``margin``: audio kept either side of a final's span."""

    def __init__(self, *, sample_rate: int = 16000, every: int = 30 * S, keep: int = 180 * S,
                 ring: int = 30 * S, margin: int = 100 * MS) -> None:
        if every <= 0 or keep < every:
            raise ValueError(f"speaker adaptation needs 0 < every <= keep, got every "
                             f"{every / S:g} s, keep {keep / S:g} s")
        self.sample_rate = sample_rate
        self.every = every
        self.keep = keep
        self._ring_samples = ring * sample_rate // S
        self._margin = margin * sample_rate // S
        self._ring: deque[tuple[int, np.ndarray]] = deque()  # (first sample index, samples)
        self._ring_size = 0
        self.utterances: deque[tuple[np.ndarray, str, int]] = deque()  # audio, text, speech ns
        self.kept = 0  #: ns of speech in ``utterances``
        self.since = 0  #: ns of speech heard since the last ``take``

    def audio(self, samples: np.ndarray, pts: int) -> None:
        """Remember input audio (float mono) whose first sample is at media time ``pts``."""
        first = pts * self.sample_rate // S
        self._ring.append((first, np.asarray(samples, np.float32).reshape(-1).copy()))
        self._ring_size += self._ring[-1][1].size
        while len(self._ring) > 1 and self._ring_size - self._ring[0][1].size >= \
                self._ring_samples:
            self._ring_size -= self._ring.popleft()[1].size

    def final(self, text: str, start: int, end: int) -> bool:
        """Keep a final's words and its audio (media times ``start`` to ``end``, ns).
        False (nothing kept) when it has no words, has words the ears did not know (the
        garbage loop's ``UNHEARD``: no transcript to align to), or its audio has left the
        ring."""
        if not text.split() or UNHEARD in text.split() or end <= start:
            return False
        a = start * self.sample_rate // S - self._margin
        b = end * self.sample_rate // S + self._margin
        if not self._ring or self._ring[0][0] > max(a, 0):
            return False
        pieces = []
        for first, samples in self._ring:
            lo, hi = max(a, first), min(b, first + samples.size)
            if lo < hi:
                pieces.append(samples[lo - first:hi - first])
        if not pieces:
            return False
        spoken = end - start
        self.utterances.append((np.concatenate(pieces), " ".join(text.split()), spoken))
        self.kept += spoken
        self.since += spoken
        while self.kept > self.keep and len(self.utterances) > 1:
            self.kept -= self.utterances.popleft()[2]
        return True

    @property
    def due(self) -> bool:
        """Enough new speech for another adaptation."""
        return self.since >= self.every

    def take(self) -> list[tuple[np.ndarray, str]]:
        """Every utterance kept, oldest first, as (audio, text); counts from here again."""
        self.since = 0
        return [(audio, text) for audio, text, _ in self.utterances]


def adapt_to_speaker(pairs: list[tuple[np.ndarray, str]], base: str | os.PathLike[str],
                     out: str | os.PathLike[str], timeout: float = 120.0,
                     started: Callable[[subprocess.Popen[str]], None] | None = None,
                     pronunciations: Mapping[str, Sequence[str]] | None = None,
                     accents: Sequence[str] = ()) -> dict[str, int]:
    """Adapt the model ``base`` to ``pairs`` (16 kHz float audio, its words) into the new
    directory ``out``, in a child process at a lower priority (``NICE``); blocks until it
    is written. Returns the adaptation's report (utterances given and aligned, frames, the
    child's niceness). ``RuntimeError`` with the child's error when it fails (nothing
    aligned, say), or when it was killed. ``started(process)``: called with the child once
    it runs, for a caller that may have to kill it (a session that ends meanwhile).
    ``pronunciations`` and ``accents``: the ears', so that what they heard aligns as they
    heard it (``adapt.Aligner``)."""
    with tempfile.TemporaryDirectory(prefix="microturn-speaker-") as tmp:
        data = Path(tmp) / "speech.npz"
        np.savez(data, *[audio for audio, _ in pairs])
        (Path(tmp) / "texts.json").write_text(json.dumps([text for _, text in pairs]))
        (Path(tmp) / "dictionary.json").write_text(json.dumps(
            {"pronunciations": {w: list(p) for w, p in (pronunciations or {}).items()},
             "accents": list(accents)}))
        child = subprocess.Popen(
            [sys.executable, "-m", "nodes.asr.speaker", tmp, str(base), str(out)],
            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        if started is not None:
            started(child)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise RuntimeError(f"adapting to the speaker took over {timeout:g} s") from None
    if child.returncode != 0:
        last = (stderr.strip().splitlines() or [f"exit status {child.returncode}"])[-1]
        raise RuntimeError(f"adapting to the speaker failed: {last}")
    report: dict[str, int] = json.loads(stdout.strip().splitlines()[-1])
    return report


def _main(argv: list[str]) -> int:
    from .adapt import adapt

    nice = os.nice(NICE)  # background work: the sessions' decoding goes first
    here, base, out = argv
    with np.load(Path(here) / "speech.npz") as data:
        audio = [data[f"arr_{k}"] for k in range(len(data.files))]
    texts = json.loads((Path(here) / "texts.json").read_text())
    dictionary = json.loads((Path(here) / "dictionary.json").read_text())
    report = adapt(zip(audio, texts, strict=True), out, base=Path(base),
                   pronunciations=dictionary["pronunciations"], accents=dictionary["accents"])
    print(json.dumps({"utterances": report.utterances, "aligned": report.aligned,
                      "frames": report.frames, "nice": nice}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
