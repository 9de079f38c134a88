"""The assistant over WebRTC: ``graphs/assistant_webrtc.yaml`` is ``graphs/assistant.yaml``
with its source and sink nodes swapped, ``microturn serve`` serves it by default, and a
Python client that talks and types to it is heard and answered, in words and in speech."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from flow import Graph, Policy
from flow.loader import load_graph
from flow.server.cli import _graph_path
from flow.server.client import Client
from flow.server.testing import serving
from flow.units import MS, S
from nodes.espeak import synthesize

FILE_GRAPH = "graphs/assistant.yaml"
LIVE_GRAPH = "graphs/assistant_webrtc.yaml"
#: The file graph's sources and sinks, and what replaces them in the live one.
FILE_ENDS = {"mic", "out", "console"}
LIVE_ENDS = {"mic", "camera", "typed", "speaker", "events"}
#: The parameters a live source and a buffered live output call for (see the YAML).
LIVE_PARAMS = {"chunker": {"pace": "realtime", "wait": "200ms"}, "voice": {"lead": "80ms"},
               # people, not espeak, at the mic, with the default model's beam and second
               # look at an amount
               "ears": {"acoustic_model": "default", "beam": 1e-60, "confirm_units": True}}
EXPECTED_SAID = "20 dollars is 18 euros 40."


def test_the_served_assistant_is_the_file_assistant_with_other_ends() -> None:
    """Every node between the sources and the sinks, and every edge among them, is the
    file graph's, with the same parameters (but the live pacing)."""
    files, live = load_graph(FILE_GRAPH), load_graph(LIVE_GRAPH)
    inner = set(files.nodes) - FILE_ENDS
    assert set(live.nodes) - LIVE_ENDS == inner
    for nid in inner:
        f, w = files.nodes[nid], live.nodes[nid]
        assert w.type_name == f.type_name, nid
        f_params = {**_fields(f.params), **LIVE_PARAMS.get(nid, {})}
        assert _fields(w.params) == f_params, nid

    def among_inner(g: Graph) -> set[tuple[str, Policy, int, int | None, bool]]:
        return {(str(e), e.policy, e.capacity, e.max_time, e.feedback)
                for e in g.edges if e.src in inner and e.dst in inner}

    assert among_inner(live) == among_inner(files)
    assert {live.nodes[n].type_name for n in LIVE_ENDS} == {
        "webrtc.audio_in", "webrtc.video_in", "webrtc.text_in", "webrtc.audio_out",
        "webrtc.events_out"}


def _fields(params: object) -> dict[str, object]:
    return {f: getattr(params, f) for f in params.__struct_fields__}  # type: ignore[attr-defined]


def test_serve_without_a_graph_picks_the_assistant() -> None:
    assert str(_graph_path(None)) == LIVE_GRAPH


async def test_serve_command_without_a_graph_serves_the_assistant() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow.cli", "serve", "--port", "0", "--ice-host", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()  # type: ignore[union-attr]
        assert re.match(r"serving assistant_webrtc on http://127\.0\.0\.1:\d+/", line), line
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


PAD_BEFORE, PAD_AFTER = 0.3, 0.8  #: seconds of noise floor around the generated speech


def with_noise_floor(speech: np.ndarray, rate: int, before: float = PAD_BEFORE,
                     after: float = PAD_AFTER) -> np.ndarray:
    """``speech`` between stretches of a low noise floor (about -66 dBFS): the ears are
    measured on padded speech, and exact digital silence hurts their accuracy."""
    rng = np.random.default_rng(7)
    pad = lambda s: (rng.standard_normal(int(s * rate)) * 5e-4).astype(np.float32)  # noqa: E731
    return np.concatenate([pad(before), speech.astype(np.float32), pad(after)])


#: Times the test says the phrase before it fails: a person repeats what was misheard. On
#: this 2-core machine under load the first try is heard exactly in most runs, not all.
ATTEMPTS = 3


def _quiet(c: Client, for_s: float = 0.6) -> bool:
    """Nothing is playing into or out of the client (the last reply has ended)."""
    since = c.clock.now() - int(for_s * S)
    return c.mic.idle and not any(peak >= 0.05 for t, peak in c.audio if t >= since)


async def say_until_heard(c: Client, speech: np.ndarray, phrase: str,
                          ) -> tuple[int, Any, int, list[str]]:
    """Say ``speech`` until the ears hear ``phrase`` exactly, at most ``ATTEMPTS`` times.
    Returns the attempt, its final ``heard`` message, the clock time its speech began to
    leave the client, and what the earlier attempts were heard as."""
    misheard: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        await c.wait_until(lambda: _quiet(c), within=15)
        n = len(c.mic.started)
        c.mic.play(speech)
        await c.wait_until(lambda n=n: len(c.mic.started) > n)
        began = c.mic.started[n]
        try:
            heard = await c.wait_for("heard", lambda m: m.final and m.text == phrase,
                                     after=began, within=len(speech) / 48000 + 4)
            return attempt, heard, began, misheard
        except TimeoutError:
            misheard.append(" / ".join(m.text for t, m in c.events if t >= began and
                                       type(m).__struct_config__.tag == "heard" and m.final))
    raise AssertionError(f"{phrase!r} not heard in {ATTEMPTS} attempts: heard {misheard}")


@pytest.mark.slow
async def test_the_assistant_hears_speech_and_typing_and_answers_aloud() -> None:
    """Real time (aiortc paces media at 50 frames/s and the recogniser waits for a real
    pause), so slow; about 6 s. Generated speech into the client's microphone: the ears
    hear the phrase (``heard``), the reflex converts the amount (``said``) and espeak's
    reply reaches the client's speaker. Then a typed question goes to the back end and its
    answer comes back as ``said`` and speech. Round trips are measured and printed: the
    reflex answers as soon as it hears "dollars", while the user is still talking, so the
    spoken one is timed from the end of that word leaving the client."""
    upto, rest = "convert twenty dollars", "to euros"
    phrase = f"{upto} {rest}"
    head = synthesize(upto, sample_rate=48000)
    padded = with_noise_floor(np.concatenate([head, synthesize(rest, sample_rate=48000)]),
                              48000)
    async with serving(load_graph(LIVE_GRAPH)) as srv:
        c = await Client.connect(srv.url, within=30)
        try:
            await asyncio.sleep(0.5)
            attempt, heard, began, misheard = await say_until_heard(c, padded, phrase)
            dollars_end = began + (int(PAD_BEFORE * 48000) + len(head)) * S // 48000
            said = await c.wait_for("said", lambda m: m.text == EXPECTED_SAID, after=began)
            said_at = next(t for t, m in c.events if m is said)
            reply = await c.wait_until(lambda: c.voiced_after(dollars_end), within=10)

            await c.wait_until(lambda: _quiet(c), within=15)
            asked = c.clock.now()
            await c.send_text("what is 12 times 7?")
            ack = await c.wait_for("said", lambda m: "check" in m.text.lower(), after=asked)
            acked = next(t for t, m in c.events if m is ack)
            answer = await c.wait_for("said", lambda m: "84" in m.text, after=asked,
                                      within=10)
            answered = next(t for t, m in c.events if m is answer)
            spoken_answer = await c.wait_until(lambda: c.voiced_after(answered), within=10)
        finally:
            await c.close()
    assert heard.text == phrase and said.final
    assert ack.text == "Let me check."
    assert answer.text == "12 times 7 is 84." and answer.final
    assert "what is 12 times 7?" in [m.text for m in c.of("heard")], \
        "typed text reaches the browser's transcript as heard"
    assert [m.text for m in c.of("action") if m.kind == "delegate"] == ["what is 12 times 7"]
    said_ms, voice_ms = (said_at - dollars_end) / MS, (reply - dollars_end) / MS
    ack_ms, answer_ms = (acked - asked) / MS, (answered - asked) / MS
    print(f"heard exactly at attempt {attempt} (before: {misheard}); end of 'dollars' "
          f"leaving the client -> said event {said_ms:.0f} ms, first reply audio "
          f"{voice_ms:.0f} ms; typed question -> acknowledgement {ack_ms:.0f} ms, back "
          f"end's answer {answer_ms:.0f} ms (its audio {(spoken_answer - answered) / MS:.0f}"
          " ms after that)")
    assert 0 < voice_ms < 2000
    assert 0 < ack_ms < 1000 and ack_ms < answer_ms < 5000
