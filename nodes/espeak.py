"""Speech synthesis with espeak-ng, through ctypes over the ``espeakng-loader`` wheel (it
ships ``libespeak-ng`` and its data, so no system package is needed).

    from nodes import espeak

    audio = espeak.synthesize("Start the stopwatch.", sample_rate=16000)  # float32 mono
    espeak.stream("Hello, world.", on_chunk)        # on_chunk(samples) as espeak produces them
    for samples in espeak.chunks("Hello, world."):  # the same, as an iterator
        ...

Contracts:

- espeak-ng is a C library with process-wide state (one voice, one set of parameters,
  one output callback). This module holds the one instance, initialised on first use,
  and serialises every synthesis with a lock: calls from many threads are safe, and run
  one at a time. Voice, rate and pitch are set per call, so calls do not leak settings
  into each other.
- Synthesis is synchronous (``AUDIO_OUTPUT_SYNCHRONOUS``): espeak calls back on the
  calling thread with blocks of about 60 ms of 22,050 Hz audio as it produces them;
  ``stream`` hands each block, resampled, to ``on_chunk`` at once, so the first audio
  of a long text is available long before the text is synthesised. Returning ``False``
  from ``on_chunk`` aborts the synthesis (the way to stop speaking on barge-in).
- Resampling from espeak's native 22,050 Hz to the requested rate uses libswresample
  (PyAV's ``AudioResampler``: a windowed-sinc polyphase filter) as a stream, so block
  boundaries leave no seams; the output length is ``round(n * rate / 22050)``.
- Output is float32 mono in [-1, 1].
- Determinism: espeak keeps wave-generator state (glottal phase) from one synthesis to
  the next, so the same text gives sample-identical audio only from a fresh process
  replaying the same calls (its noise generator is seeded at start-up for that);
  ``examples/media/make_samples.py`` synthesises each sample in its own process. Within
  a process, repeats of a text differ by a few ms in length.
"""

from __future__ import annotations

import ctypes
import difflib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np

from flow.errors import FlowError, MissingDependency

#: espeak-ng's own output rate (all its voices).
NATIVE_RATE = 22050
MIN_RATE, MAX_RATE = 80, 450  #: words per minute espeak accepts
MIN_PITCH, MAX_PITCH = 0, 100
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 192000

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEMES = 0x100  # [[...]] in the text is phonemes, in espeak's mnemonics
_ENDPAUSE = 0x1000
_PHONEMES_MNEMONIC = 0  # espeak_TextToPhonemes' phonememode: espeak's own mnemonics
_PARAM_RATE, _PARAM_PITCH = 1, 3
_EE_OK, _EE_NOT_FOUND = 0, 2
#: Length of the blocks espeak hands the callback, in ms as espeak counts it (it
#: delivers about three times that); small blocks mean early first audio.
_BUFFER_MS = 20

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class EspeakError(FlowError, RuntimeError):
    """espeak-ng failed (library missing or broken, or synthesis returned an error)."""


class UnknownVoice(EspeakError, ValueError):
    """No espeak-ng voice has that name."""


class Voice(msgspec.Struct, frozen=True):
    """An installed voice: ``name`` as espeak lists it, ``identifier`` (the file under
    ``espeak-ng-data``: what ``voice=`` also accepts), and its ``languages``."""

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: str  #: "male", "female" or ""


class _VoiceStruct(ctypes.Structure):
    # languages is a packed list (see _languages), so it is read from its address.
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


class _Engine:
    """The process's one espeak-ng instance. Use only while holding ``_lock``."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise MissingDependency("espeakng-loader", "speech") from exc
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise EspeakError(f"cannot load espeak-ng from espeakng-loader: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                              ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != NATIVE_RATE:
            raise EspeakError(f"espeak-ng failed to initialise with data at {data} "
                              f"(returned {rate})")
        # Some voices (the +f variants, whisper) mix in noise from espeak's generator,
        # which is seeded from the time unless told otherwise.
        seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if seed is not None:
            seed.argtypes = [ctypes.c_long]
            seed(1)
        self.lib = lib
        self.data_path = data
        self.voice: str | None = None
        # Where the current synthesis's blocks go; the C callback stays registered for
        # the life of the process (ctypes must keep the trampoline alive).
        self.sink: Callable[[np.ndarray], bool] | None = None
        self.error: BaseException | None = None
        self._callback = _Callback(self._on_samples)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, wav: Any, n: int, _events: Any) -> int:
        if not wav or n <= 0 or self.sink is None:
            return 0
        try:
            # Copy: espeak reuses its buffer for the next block.
            keep = self.sink(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        except BaseException as exc:  # an exception cannot cross the C frames
            self.error = exc
            return 1
        return 0 if keep is not False else 1

    def set_voice(self, voice: str) -> None:
        """Select ``voice``: a voice file (``en-US``, ``gmw/en``), a voice name, or a
        language code (``en-gb``, ``zh``), each optionally with a ``+variant``."""
        if voice == self.voice:
            return
        self.voice = None
        status = self.lib.espeak_SetVoiceByName(voice.encode())
        if status == _EE_NOT_FOUND:
            # espeak's by-name lookup knows files and names, not languages: map a
            # language to the first voice (espeak's own order) that speaks it.
            base, plus, variant = voice.partition("+")
            available = self.list_voices()
            match = next((v for v in available if base.lower() in
                          {lang.lower() for lang in v.languages}), None)
            if match is None:
                raise UnknownVoice(_unknown_voice_message(voice, available))
            status = self.lib.espeak_SetVoiceByName((match.identifier + plus + variant).encode())
        if status != _EE_OK:
            raise EspeakError(f"espeak-ng could not select voice {voice!r} (status {status})")
        self.voice = voice

    def list_voices(self) -> list[Voice]:
        found: list[Voice] = []
        arr = self.lib.espeak_ListVoices(None)
        i = 0
        while arr[i]:
            v = arr[i].contents
            found.append(Voice(name=_str(v.name), identifier=_str(v.identifier),
                               languages=_languages(v.languages),
                               gender={1: "male", 2: "female"}.get(v.gender, "")))
            i += 1
        return found


_lock = threading.Lock()
_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def _str(p: bytes | None) -> str:
    return p.decode("utf-8", "replace") if p else ""


def _languages(addr: int | None) -> tuple[str, ...]:
    """espeak packs a voice's languages as (priority byte, NUL-terminated name) pairs,
    ended by a zero priority byte."""
    langs: list[str] = []
    while addr and ctypes.string_at(addr, 1) != b"\0":
        name = ctypes.string_at(addr + 1)
        langs.append(name.decode("utf-8", "replace"))
        addr += 2 + len(name)
    return tuple(langs)


def _unknown_voice_message(voice: str, available: list[Voice]) -> str:
    names = sorted({v.identifier.rsplit("/", 1)[-1] for v in available}
                   | {lang for v in available for lang in v.languages})
    close = difflib.get_close_matches(voice, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return (f"unknown espeak-ng voice {voice!r}{hint} (voices are language codes like "
            f"'en-us', 'en-gb', 'fr', optionally with a variant: 'en-us+f3'; "
            f"{len(names)} available, see nodes.espeak.voices())")


def _check_params(rate: int, pitch: int, sample_rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be {MIN_RATE}..{MAX_RATE} words per minute, got {rate}")
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise ValueError(f"pitch must be {MIN_PITCH}..{MAX_PITCH}, got {pitch}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, "
                         f"got {sample_rate}")


# -- public API ------------------------------------------------------------------------


def voices() -> list[Voice]:
    """Every voice espeak-ng has (language voices; ``+variant`` suffixes such as
    ``en-us+f3`` combine with any of them)."""
    with _lock:
        return _get_engine().list_voices()


def check_voice(voice: str) -> None:
    """Raise ``UnknownVoice`` (with suggestions) if espeak-ng cannot select ``voice``."""
    with _lock:
        _get_engine().set_voice(voice)


def warm_up(voice: str = "en-us", sample_rate: int = 16000) -> None:
    """Load the engine, the voice's dictionary and the resampler now (a few hundred ms the
    first time), so that the first real synthesis starts at once. Raises ``UnknownVoice``."""
    check_voice(voice)
    synthesize("ok", voice=voice, sample_rate=sample_rate)


class Resampler:
    """Streaming conversion of espeak's int16 blocks at 22,050 Hz to float32 at ``rate``.

    libswresample keeps filter state between blocks, so the concatenated output equals
    resampling the whole signal at once; ``flush()`` returns the filter's tail.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._swr: Any = None
        if rate != NATIVE_RATE:
            import av

            self._swr = av.AudioResampler(format="flt", layout="mono", rate=rate)

    def push(self, block: np.ndarray) -> np.ndarray:
        if self._swr is None:
            return block.astype(np.float32) / 32768.0
        import av

        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = NATIVE_RATE
        return self._collect(self._swr.resample(frame))

    def flush(self) -> np.ndarray:
        if self._swr is None:
            return np.zeros(0, np.float32)
        out = self._collect(self._swr.resample(None))
        self._swr = None  # a flushed swr context cannot be fed again
        return out

    @staticmethod
    def _collect(frames: list[Any]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        if len(frames) == 1:
            out: np.ndarray = frames[0].to_ndarray().reshape(-1)
            return out
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def phonemes(text: str, *, voice: str = "en-us") -> str:
    """How ``voice`` would say ``text``: espeak-ng's phonemes in its own mnemonics, one
    clause after another (``[[...]]`` in the text of ``stream(..., phoneme_input=True)``
    says them back)."""
    data = ctypes.c_char_p(text.replace("\0", " ").encode("utf-8"))
    pointer = ctypes.pointer(data)
    clauses: list[str] = []
    with _lock:
        eng = _get_engine()
        eng.set_voice(voice)
        while pointer.contents.value:  # espeak moves it past each clause it converts
            clauses.append(_str(eng.lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8,
                                                              _PHONEMES_MNEMONIC)))
    return " ".join(c for c in clauses if c)


def stream(text: str, on_chunk: Callable[[np.ndarray], bool | None], *,
           voice: str = "en-us", rate: int = 175, pitch: int = 50,
           sample_rate: int = 16000, end_pause: bool = False,
           phoneme_input: bool = False) -> bool:
    """Synthesise ``text``, calling ``on_chunk(samples)`` (float32 mono at
    ``sample_rate``) on this thread with each block as soon as espeak produces it.

    ``on_chunk`` returning ``False`` aborts: no further block is delivered and
    ``stream`` returns ``False``; otherwise it returns ``True`` once all audio has been
    delivered (the resampler's tail last). An exception raised by ``on_chunk`` stops the
    synthesis and is re-raised here. ``end_pause`` keeps the pause espeak puts after the
    last clause (about 150 ms after a comma, 300 ms after a full stop at rate 175): what
    a speaker wants between clauses synthesised one at a time. ``phoneme_input``: text in
    ``[[...]]`` is phonemes (``phonemes``). Blocks the calling thread
    while synthesising (run it off an event loop); ``on_chunk`` runs with the engine lock
    held, so it must not call this module.
    """
    _check_params(rate, pitch, sample_rate)
    text = text.replace("\0", " ")
    if not text.strip():
        return True
    resampler = Resampler(sample_rate)
    aborted = False

    def sink(block: np.ndarray) -> bool:
        nonlocal aborted
        out = resampler.push(block)
        if out.size and on_chunk(out) is False:
            aborted = True
            return False
        return True

    data = text.encode("utf-8") + b"\0"
    with _lock:
        eng = _get_engine()
        eng.set_voice(voice)
        eng.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        eng.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        eng.sink, eng.error = sink, None
        try:
            flags = (_CHARS_UTF8 | (_ENDPAUSE if end_pause else 0)
                     | (_PHONEMES if phoneme_input else 0))
            status = eng.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags,
                                          None, None)
        finally:
            eng.sink = None
            error, eng.error = eng.error, None
    if error is not None:
        raise error
    if aborted:
        return False
    if status != _EE_OK:
        raise EspeakError(f"espeak-ng synthesis failed (status {status}) for {text[:40]!r}")
    tail = resampler.flush()
    if tail.size and on_chunk(tail) is False:
        return False
    return True


def synthesize(text: str, *, voice: str = "en-us", rate: int = 175, pitch: int = 50,
               sample_rate: int = 16000, end_pause: bool = False,
               phoneme_input: bool = False) -> np.ndarray:
    """Synthesise ``text`` whole: float32 mono at ``sample_rate`` (empty for no text)."""
    blocks: list[np.ndarray] = []
    stream(text, blocks.append, voice=voice, rate=rate, pitch=pitch, sample_rate=sample_rate,
           end_pause=end_pause, phoneme_input=phoneme_input)
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def chunks(text: str, *, voice: str = "en-us", rate: int = 175, pitch: int = 50,
           sample_rate: int = 16000) -> Iterator[np.ndarray]:
    """Iterate over the blocks of ``text`` as they are synthesised (on a helper thread).

    Closing the iterator early aborts the synthesis. Errors (an unknown voice) are
    raised from the iterator.
    """
    _check_params(rate, pitch, sample_rate)
    handoff: queue.SimpleQueue[np.ndarray | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def hand_over(block: np.ndarray) -> bool:
        handoff.put(block)
        return not stop.is_set()

    def produce() -> None:
        try:
            stream(text, hand_over, voice=voice, rate=rate, pitch=pitch,
                   sample_rate=sample_rate)
        except BaseException as exc:
            handoff.put(exc)
        else:
            handoff.put(None)

    worker = threading.Thread(target=produce, name="espeak-chunks", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


__all__ = ["MAX_PITCH", "MAX_RATE", "MAX_SAMPLE_RATE", "MIN_PITCH", "MIN_RATE",
           "MIN_SAMPLE_RATE", "NATIVE_RATE", "EspeakError", "Resampler", "UnknownVoice",
           "Voice", "check_voice", "chunks", "stream", "synthesize", "voices", "warm_up"]
