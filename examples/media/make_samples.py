"""Generate the speech samples in this folder with espeak-ng (``nodes.espeak``).

    .venv/bin/python examples/media/make_samples.py          # (re)write every sample
    .venv/bin/python examples/media/make_samples.py hello    # only some
    .venv/bin/python examples/media/make_samples.py --check  # do the files match?

Each sample is 16 kHz mono int16 WAV: ``LEAD`` of room noise, then its parts (speech or
a pause) in order, then ``LEAD`` again. A low, seeded noise floor runs under the whole
sample, as under a real microphone: recognisers misbehave on digital silence.

Output is byte-identical from run to run: espeak-ng keeps wave-generator state from one
synthesis to the next, so each sample is made in a fresh process (the same calls from a
fresh process give the same samples), the noise is seeded from the sample's name, and
the WAV header has no timestamp.

To add a sample, add an entry to ``SAMPLES``: a name (the file is ``<name>.wav``) and its
parts, each either ``Say(text, voice=..., rate=...)`` or ``Pause(seconds)``.
"""

from __future__ import annotations

import argparse
import sys
import wave
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a checkout without installing

SAMPLE_RATE = 16000
LEAD = 0.3  #: seconds of room noise before and after each sample
NOISE_RMS = 0.0005  #: the noise floor (about -66 dBFS)


@dataclass(frozen=True)
class Say:
    text: str
    voice: str = "en-us"
    rate: int = 160  #: words per minute (espeak's default is 175)
    pitch: int = 50


@dataclass(frozen=True)
class Pause:
    seconds: float


Part = Say | Pause

SAMPLES: dict[str, tuple[Part, ...]] = {
    "hello": (Say("Hello! I am microturn. I listen, watch and talk at the same time."),),
    "convert_dollars": (Say("convert twenty dollars to euros"),),
    "how_many_animals": (Say("how many animals so far"),),
    "start_stopwatch": (Say("start the stopwatch"),),
    "stop": (Say("stop"),),
    "timer": (Say("set a timer for ten seconds"),),
    "correction": (Say("convert thirty dollars to euros, no wait, it was forty dollars"),),
    "question": (Say("what is the capital of France", voice="en-gb"),),
    # A story for the count skill: five animal mentions, then the question. In the
    # scenario language the ears' grammar knows (nodes/asr/grammar.py): words it lacks
    # ("this morning I went to the farm") are heard as the nearest words it has.
    "animal_story": (
        Say("we saw a cow on the farm"), Pause(0.6),
        Say("then a horse and a goat"), Pause(0.6),
        Say("there was a dog and a cat in the garden"), Pause(1.0),
        Say("how many animals so far"),
    ),
    # A short session: requests with the pauses a person leaves between them.
    "stopwatch_session": (
        Say("start the stopwatch"), Pause(2.0), Say("how many animals so far"), Pause(1.5),
        Say("stop", voice="en-us+f3"),
    ),
}


def render(name: str, parts: tuple[Part, ...]) -> bytes:
    """The WAV file of one sample (call in a fresh process for identical output)."""
    from nodes import espeak

    pieces = [np.zeros(round(LEAD * SAMPLE_RATE), np.float32)]
    for part in parts:
        if isinstance(part, Pause):
            pieces.append(np.zeros(round(part.seconds * SAMPLE_RATE), np.float32))
        else:
            pieces.append(espeak.synthesize(part.text, voice=part.voice, rate=part.rate,
                                            pitch=part.pitch, sample_rate=SAMPLE_RATE))
    pieces.append(np.zeros(round(LEAD * SAMPLE_RATE), np.float32))
    audio = np.concatenate(pieces)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    audio = audio + rng.normal(0.0, NOISE_RMS, audio.size).astype(np.float32)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    return wav_bytes(pcm)


def wav_bytes(pcm: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"samples to make (default: all of "
                                             f"{', '.join(SAMPLES)})")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files instead of writing them; exit 1 on a difference")
    ap.add_argument("--out", type=Path, default=HERE, help="folder (default: this one)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in SAMPLES]
    if unknown:
        ap.error(f"unknown sample(s) {', '.join(unknown)}; known: {', '.join(SAMPLES)}")
    names = args.names or list(SAMPLES)
    # One fresh process per sample: see the module docstring.
    with ProcessPoolExecutor(max_workers=2, max_tasks_per_child=1) as pool:
        rendered = list(pool.map(render, names, [SAMPLES[n] for n in names]))
    status = 0
    for name, data in zip(names, rendered, strict=True):
        path = args.out / f"{name}.wav"
        seconds = (len(data) - 44) / 2 / SAMPLE_RATE
        if args.check:
            same = path.exists() and path.read_bytes() == data
            print(f"{'ok  ' if same else 'DIFF'} {path} ({seconds:.2f} s)")
            status |= not same
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({seconds:.2f} s, {len(data) // 1024} KiB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
