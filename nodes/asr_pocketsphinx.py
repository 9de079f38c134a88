"""``asr.pocketsphinx``: the embedded ears. Streaming recognition of 16 kHz micro-turns.

In: ``chunks`` (``Chunk``: 200 ms micro-turns) and/or ``audio`` (``AudioFrame`` at 16 kHz,
mono), and an optional ``control`` (``SetVocabulary``). Out: ``heard`` (``Heard``, role
``user``): a partial hypothesis (``final=False``) after every micro-turn while an utterance
is open, and a final (``final=True``) when it ends at a pause of ``pause``. Each carries
the utterance's media ``start``/``end`` and its words with their media times, so a front end
can act on a partial as soon as a closing word ("dollars") is in, without waiting for the
final (``end`` of the word + ``pause`` + up to a micro-turn later). A partial tells an
amount once the best path 150 ms earlier agrees on it (``confirm_units``: fewer wrong
amounts told, sometimes a micro-turn later; docs/ears.md).

With ``grammar: scenario`` (the default) the recogniser decodes with a JSGF grammar of the
scenario language (``nodes.asr.grammar``): the built-in skills' phrases, or ``phrases`` /
``number_contexts`` / ``fillers`` when given, plus ``words`` and ``keywords``. A front end
replaces parts with ``SetVocabulary`` (its skills' phrases); the YAML ``words`` stay.
Every word must be in pocketsphinx's English dictionary or in ``pronunciations``: an unknown
one is a start-up ``ParamError`` naming it. ``accents`` (h-dropping and th-stopping by
default) add each grammar word's variants in those accents to the dictionary
(``nodes.asr.pronunciations``). With ``garbage`` (a weight; 0, none, by default) the
grammar also has a loop of single phones, so that words it lacks are heard as "…" instead
of as the nearest words it has (fewer false replies to everyday talk; on accents the
model never heard it takes some of the grammar's words too: docs/ears.md).
``grammar: open`` uses pocketsphinx's open-vocabulary language model (much less accurate
on synthetic speech; see docs/ears.md).

Recognition runs off the event loop: 30-100 ms of CPU per micro-turn of speech with the
default ``beam`` (half that with ``beam: 1e-48``). With ``worker_process`` (the default)
each node decodes in its own worker process (``nodes.asr.worker``), started and loaded in
``setup()`` and ended in ``teardown()``: pocketsphinx holds the GIL while it decodes, so in
a thread (``worker_process: false``) its 30-80 ms per micro-turn stall the event loop of
every session in the process. Figures: docs/ears.md. A worker that fails or dies ends this
session with ``WorkerError`` (other sessions go on). The recogniser's calls run on the
node's own thread, never queued behind other sessions' work in the shared pool. Accuracy
on espeak voices: docs/ears.md.
An ``Interrupt`` does not drop what the user is saying (barge-in is the user talking).

With ``speaker_adaptation`` the node keeps what the speaker said, as heard, and every
``adapt_every`` of speech adapts the acoustic model to it in a child process, loads a
recogniser with the new model beside the running one and swaps it in between two
utterances (``nodes.asr.speaker``; a failure is a warning and the session goes on).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from flow import AudioFrame, In, Node, Out, ParamError, parse_duration
from flow.errors import MissingDependency

from .asr import SetVocabulary
from .asr.grammar import (
    DEFAULT_FILLERS,
    DEFAULT_NUMBER_CONTEXTS,
    DEFAULT_PHRASES,
    DEFAULT_WORDS,
)
from .asr.params import EarsParams, Vocabulary, without
from .asr.pronunciations import check_accents, normalize_pronunciations
from .asr.speaker import SpeakerSpeech
from .types import Chunk, Heard

T = TypeVar("T")

if TYPE_CHECKING:
    from .asr.recognizer import Hypothesis, Recognizer
    from .asr.worker import RecognizerProcess


class PocketsphinxEars(Node):
    """Streaming speech recognition, offline on a CPU: pocketsphinx's decoder, or the phone
    network decoded against the same grammar (``acoustic_model: phonenet``)."""

    Params = EarsParams
    requires = (("pocketsphinx", "pocketsphinx", "asr"),)
    chunks: In[Chunk] = In(doc="16 kHz mono micro-turns")
    audio: In[AudioFrame] = In(doc="16 kHz mono audio (instead of chunks)")
    control: In[SetVocabulary] = In(doc="vocabulary changes while running")
    heard: Out[Heard] = Out(doc="partial hypotheses each micro-turn, finals at pauses")

    async def setup(self) -> None:
        p: EarsParams = self.params
        try:
            from .asr.recognizer import Recognizer
        except ImportError as exc:
            raise MissingDependency("pocketsphinx", "asr") from exc
        try:
            pause, max_utt = parse_duration(p.pause), parse_duration(p.max_utterance)
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.pause/max_utterance") from exc
        try:
            every = parse_duration(p.adapt_every)
            self._speaker = SpeakerSpeech(sample_rate=p.sample_rate, every=every) \
                if p.speaker_adaptation else None
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.adapt_every") from exc
        if _phone_network(p.acoustic_model) and p.speaker_adaptation:
            raise ParamError(
                f"node {self.id!r}: speaker_adaptation adapts a pocketsphinx acoustic model, "
                f"and acoustic_model {p.acoustic_model!r} is a phone network - at "
                "with.speaker_adaptation (it needs acoustic_model: default, espeak or a model "
                "directory)")
        if _phone_network(p.acoustic_model) and p.grammar == "open":
            raise ParamError(
                f"node {self.id!r}: acoustic_model {p.acoustic_model!r} is a phone network, "
                "which decodes against the grammar alone - at with.grammar (scenario, or a "
                "pocketsphinx acoustic model for grammar: open)")
        if not 0 <= p.garbage < 100:
            raise ParamError(f"node {self.id!r}: garbage must be a weight from 0 (no garbage "
                             f"loop) to under 100, got {p.garbage} - at with.garbage")
        if not 0 < p.beam < 1:
            raise ParamError(f"node {self.id!r}: beam must be between 0 and 1 (like 1e-60), "
                             f"got {p.beam} - at with.beam")
        if p.sample_rate != 16000:
            raise ParamError(f"node {self.id!r}: the pocketsphinx English model needs "
                             f"16000 Hz, got {p.sample_rate} - at with.sample_rate "
                             "(resample before the ears)")
        model = await self._acoustic_model(p.acoustic_model)
        word_check = await self._word_check(p.word_check, p.acoustic_model)
        try:
            pronunciations = normalize_pronunciations(p.pronunciations)
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.pronunciations") from exc
        try:
            check_accents(p.accents)
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.accents") from exc
        self._calls = ThreadPoolExecutor(1, thread_name_prefix=f"ears-{self.context.id}")
        self.vocabulary = Vocabulary(
            DEFAULT_PHRASES if p.phrases is None else p.phrases,
            DEFAULT_NUMBER_CONTEXTS if p.number_contexts is None else p.number_contexts,
            DEFAULT_WORDS + p.words, p.keywords,
            DEFAULT_FILLERS if p.fillers is None else p.fillers, p.garbage)
        kwargs: dict[str, Any] = dict(
            open_vocabulary=p.grammar == "open", sample_rate=p.sample_rate, pause=pause,
            max_utterance=max_utt, beam=None if p.grammar == "open" else p.beam,
            confirm_units=p.confirm_units, acoustic_model=model,
            pronunciations=pronunciations, accents=p.accents, word_check=word_check)
        self._kwargs = kwargs
        self._base = model
        if p.worker_process:
            from .asr.worker import RecognizerProcess

            # Launched here (a few ms), loaded in a thread: a cancelled setup() still
            # leaves self._worker for teardown() to end.
            self._worker = RecognizerProcess(**kwargs)
            await self._recognise(self._worker.wait_ready)
            self.rec: Recognizer | RecognizerProcess = self._worker
        else:
            self.rec = await self._recognise(lambda: Recognizer(**kwargs))
        self.adaptations = 0  #: models adapted to the speaker swapped in
        self.adapt_seconds: list[float] = []  #: wall time of each adaptation and load
        self._adapting: asyncio.Task[None] | None = None
        self._child: subprocess.Popen[str] | None = None  # the adaptation's process
        self._closing = False
        self._adapted: tuple[Recognizer | RecognizerProcess, str, str | None] | None = None
        self._models: str | None = None  # the speaker models' directory
        self._in_utt = False
        self._last: tuple[np.ndarray, int] | None = None  # the last audio fed
        if p.grammar == "scenario":
            unknown = await self._recognise(self.rec.unknown_words, self.vocabulary.all_words())
            if unknown:
                raise ParamError(
                    f"node {self.id!r}: not in the pronunciation dictionary: "
                    f"{', '.join(unknown)} - at with.words/keywords/phrases (use known "
                    "spellings, numbers as words, or give the word's phones in "
                    "with.pronunciations)")
            await self._recognise(self.rec.set_grammar, self.vocabulary.jsgf())
        self.last_partial = ""

    async def _acoustic_model(self, name: str) -> str | None:
        if name == "default":
            return None
        if name == "espeak":
            from .asr.espeak_model import cache_dir, ensure

            if not (cache_dir() / "means").exists():
                self.log.warning("node %s: building the acoustic model adapted to espeak "
                                 "speech, once for this machine (about two minutes)", self.id)
            return str(await self.clock.run_blocking(ensure))
        if name == "phonenet":
            from .asr.phone_net import DEFAULT

            return str(DEFAULT)
        if name.endswith(".npz"):  # a phone network of one's own (bench/phonenet_train.py)
            if not await self.clock.run_blocking(os.path.isfile, name):
                raise ParamError(f"node {self.id!r}: acoustic_model {name!r}: no such file "
                                 "- at with.acoustic_model")
            return name
        where, missing = await self.clock.run_blocking(_model_directory, name)
        if missing:
            raise ParamError(
                f"node {self.id!r}: acoustic_model {name!r} is not a model directory "
                f"(no {', '.join(missing)} in {where}) - at with.acoustic_model (default, "
                "espeak, or a directory made by `microturn adapt-ears`)")
        return where

    async def _word_check(self, name: str, acoustic_model: str) -> str | None:
        if name == "off" or (name == "auto" and acoustic_model != "espeak"):
            return None
        if name in ("auto", "espeak") and importlib.util.find_spec("torch") is None:
            from .asr.wordcheck_build import already_built

            built = already_built()
            if built is not None:  # using it needs numpy alone
                return str(built)
            if name == "espeak":  # building it needs torch
                raise MissingDependency("torch", "torch")
            self.log.warning("node %s: no word check (word_check: auto), since torch, which "
                             "builds it, is not installed; the ears hear a little worse "
                             "(docs/ears.md)", self.id)
            return None
        if name in ("auto", "espeak"):
            from .asr.wordcheck_build import cache_path, ensure

            if not cache_path().exists():
                self.log.warning("node %s: building the word classifier for espeak speech, "
                                 "once for this machine (about ten minutes)", self.id)
            return str(await self.clock.run_blocking(ensure))
        if not await self.clock.run_blocking(os.path.isfile, name):
            raise ParamError(
                f"node {self.id!r}: word_check {name!r} is not a file - at with.word_check "
                "(auto, espeak, off, or the .npz of a word classifier)")
        from .asr.wordcheck import WordCheck

        try:
            await self.clock.run_blocking(WordCheck, name)
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.word_check") from exc
        return name

    async def on_chunks(self, chunk: Chunk) -> None:
        await self._decode(chunk.audio, chunk.sample_rate, chunk.pts)

    async def on_audio(self, frame: AudioFrame) -> None:
        samples = frame.samples
        if samples.ndim == 2:
            if samples.shape[1] != 1:
                raise ParamError(f"node {self.id!r}: audio must be mono, got "
                                 f"{samples.shape[1]} channels (downmix before the ears)")
            samples = samples[:, 0]
        if samples.dtype.kind in "iu":
            samples = samples.astype("float32") / 32768.0
        await self._decode(samples, frame.sample_rate, frame.pts)

    async def on_control(self, msg: SetVocabulary) -> None:
        if msg.pronunciations:
            await self._add_pronunciations(msg.pronunciations)
        new = self.vocabulary.updated(msg, self.params.words)
        unknown = await self._recognise(self.rec.unknown_words, new.all_words())
        if unknown:
            # A running session goes on: drop what cannot be pronounced, say so once.
            self.log.warning("session %s node %s: ignoring words not in the dictionary: %s",
                             self.context.id, self.id, ", ".join(unknown))
            new = without(new, set(unknown))
        self.vocabulary = new
        if self.params.grammar == "scenario":
            await self._recognise(self.rec.set_grammar, new.jsgf())

    async def _add_pronunciations(self, given: dict[str, str | tuple[str, ...]]) -> None:
        """A running session's new words: each one checked on its own, a bad one dropped
        with a warning (its word then counts as unknown) and the rest added."""
        good: dict[str, tuple[str, ...]] = {}
        for word, phones in given.items():
            try:
                good.update(normalize_pronunciations({word: phones}))
            except ValueError as exc:
                self.log.warning("session %s node %s: ignoring a pronunciation: %s",
                                 self.context.id, self.id, exc)
        if good:
            await self._recognise(self.rec.add_pronunciations, good)
            known = dict(self._kwargs["pronunciations"])  # for a recogniser loaded later
            for word, phones in good.items():
                known[word] = tuple(dict.fromkeys(known.get(word, ()) + phones))
            self._kwargs = {**self._kwargs, "pronunciations": known}

    async def on_end(self) -> None:
        for hyp in await self._recognise(self.rec.flush):
            await self._emit(hyp)

    async def teardown(self) -> None:
        self._closing = True
        adapting = getattr(self, "_adapting", None)
        if adapting is not None:
            child = self._child
            if child is not None and child.poll() is None:
                child.kill()  # its thread returns at once, with an error nobody reads
            adapting.cancel()
            await asyncio.gather(adapting, return_exceptions=True)
        adapted = getattr(self, "_adapted", None)
        if adapted is not None and hasattr(adapted[0], "close"):
            await self.clock.run_blocking(adapted[0].close)
        worker = getattr(self, "_worker", None)  # None: in-thread, or setup() failed early
        if worker is not None:
            # On the shared pool, not the node's thread: a call stuck there must not hold
            # up the close that kills it.
            await self.clock.run_blocking(worker.close)
        models = getattr(self, "_models", None)
        if models is not None:
            shutil.rmtree(models, ignore_errors=True)
        calls = getattr(self, "_calls", None)
        if calls is not None:
            calls.shutdown(wait=False)

    async def _recognise(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on this node's own thread: the recogniser's calls (a round trip to
        the worker, or in-thread decoding) never queue behind other sessions' blocking work
        in the loop's shared pool, nor hold one of its threads."""
        return await self.clock.run_blocking(fn, *args, executor=self._calls)

    async def _decode(self, samples: np.ndarray, sample_rate: int, pts: int) -> None:
        if sample_rate != self.rec.sample_rate:
            raise ParamError(f"node {self.id!r}: input is {sample_rate} Hz but the ears need "
                             f"{self.rec.sample_rate} Hz (set the chunker's sample_rate to "
                             f"{self.rec.sample_rate})")
        if self._speaker is not None:
            self._speaker.audio(samples, pts)
            if self._adapted is not None and not self._in_utt:
                await self._swap()
            self._last = (samples, pts)
        hyps = await self._recognise(self.rec.feed, samples, pts)
        self._in_utt = bool(hyps) and not hyps[-1].final
        for hyp in hyps:
            await self._emit(hyp)

    async def _emit(self, hyp: Hypothesis) -> None:
        if not hyp.final and not hyp.text:
            return  # nothing recognisable yet (a cough, a breath)
        if hyp.final and not hyp.text and not self.last_partial:
            return  # an utterance of nothing: nobody was told it began
        self.last_partial = "" if hyp.final else hyp.text
        if hyp.final and self._speaker is not None and \
                self._speaker.final(hyp.text, hyp.start, hyp.end) and self._speaker.due \
                and self._adapting is None and self._adapted is None:
            self._adapting = asyncio.create_task(self._adapt())
        await self.heard.send(Heard(  # pts: when it was known (a final: after its pause)
            pts=hyp.at, text=hyp.text, role="user", final=hyp.final, start=hyp.start,
            end=hyp.end, words=tuple((w.text, w.start, w.end) for w in hyp.words)))

    # -- adapting to the speaker ---------------------------------------------------------------

    async def _adapt(self) -> None:
        """Adapt the session's base model to what the speaker said so far, and load a
        recogniser with it beside the running one; ``_decode`` swaps it in."""
        from .asr.adapt import BASE_MODEL
        from .asr.speaker import adapt_to_speaker

        pairs = self._speaker.take() if self._speaker is not None else []
        if self._models is None:
            self._models = tempfile.mkdtemp(prefix=f"microturn-{self.id}-speaker-")
        out = os.path.join(self._models, str(self.adaptations + 1))
        shutil.rmtree(out, ignore_errors=True)
        began = time.monotonic()
        try:
            report = await self.clock.run_blocking(
                adapt_to_speaker, pairs, self._base or str(BASE_MODEL), out, 120.0,
                self._started, self._kwargs["pronunciations"], self.params.accents)
            jsgf = self.vocabulary.jsgf() if self.params.grammar == "scenario" else None
            rec = await self.clock.run_blocking(self._load, out, jsgf)
        except Exception as exc:  # the session goes on with the model it has
            self.log.warning("session %s node %s: adapting to the speaker failed: %s",
                             self.context.id, self.id, exc)
            return
        finally:
            self._adapting = None
        self.adapt_seconds.append(time.monotonic() - began)
        self.log.info("session %s node %s: adapted to the speaker on %d of %d utterances "
                      "(%.1f s)", self.context.id, self.id, report["aligned"],
                      report["utterances"], self.adapt_seconds[-1])
        self._adapted = (rec, out, jsgf)

    def _started(self, child: subprocess.Popen[str]) -> None:
        self._child = child
        if self._closing:
            child.kill()

    def _load(self, model: str, jsgf: str | None) -> Recognizer | RecognizerProcess:
        """A recogniser like the running one with the acoustic model ``model``."""
        kwargs = {**self._kwargs, "acoustic_model": model}
        if self.params.worker_process:
            from .asr.worker import RecognizerProcess

            worker = RecognizerProcess(**kwargs)
            try:
                worker.wait_ready()
                if jsgf is not None:
                    worker.set_grammar(jsgf)
            except BaseException:
                worker.close()
                raise
            if self._closing:  # the session ended while it loaded
                worker.close()
            return worker
        from .asr.recognizer import Recognizer

        rec = Recognizer(**kwargs)
        if jsgf is not None:
            rec.set_grammar(jsgf)
        return rec

    async def _swap(self) -> None:
        """Put the adapted recogniser in the running one's place, between utterances."""
        assert self._adapted is not None
        rec, model, jsgf = self._adapted
        self._adapted = None
        if self.params.grammar == "scenario" and jsgf != (now := self.vocabulary.jsgf()):
            await self._recognise(rec.set_grammar, now)  # the vocabulary changed meanwhile
        if self._last is not None:  # its preroll and noise floor: the audio just before
            await self._recognise(rec.feed, *self._last)
        old, self.rec = self.rec, rec
        if self.params.worker_process:
            self._worker = rec  # type: ignore[assignment]
            await self.clock.run_blocking(old.close)  # type: ignore[union-attr]
        self.adaptations += 1
        previous = os.path.join(os.path.dirname(model), str(self.adaptations - 1))
        shutil.rmtree(previous, ignore_errors=True)  # loaded: the files are not read again


def _phone_network(acoustic_model: str) -> bool:
    """Whether ``acoustic_model`` names a phone network (decoded by ``ctc_engine``)."""
    return acoustic_model == "phonenet" or acoustic_model.endswith(".npz")


def _model_directory(path: str) -> tuple[str, list[str]]:
    """The absolute path of a model directory, and the files it lacks."""
    where = Path(path).expanduser().resolve()
    need = ("mdef", "means", "variances", "feat.params")
    return str(where), [f for f in need if not (where / f).is_file()]
