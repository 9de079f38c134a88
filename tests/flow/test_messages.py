"""Messages: frozen, typed, timed; payloads by reference; control messages."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from flow import (
    MS,
    AudioFrame,
    EndOfStream,
    Event,
    Interrupt,
    Message,
    TextDelta,
    VideoFrame,
    format_duration,
    parse_duration,
)


def test_messages_are_frozen_and_carry_pts() -> None:
    msg = TextDelta(pts=5 * MS, text="hi")
    with pytest.raises(AttributeError):
        msg.text = "no"  # type: ignore[misc]
    assert msg.pts == 5 * MS and msg.role == "user" and not msg.final
    assert Message().pts == 0 and Message().duration == 0
    assert not msg.control


def test_audio_and_video_hold_their_arrays_by_reference() -> None:
    samples = np.zeros((320, 2), np.int16)
    frame = AudioFrame(samples=samples, sample_rate=16000, channels=2)
    assert frame.samples is samples
    assert frame.num_samples == 320 and frame.duration == 20 * MS
    image = np.zeros((240, 320, 3), np.uint8)
    video = VideoFrame(image=image)
    assert video.image is image and (video.width, video.height) == (320, 240)


def test_control_messages() -> None:
    a, b = Interrupt(reason="barge-in"), Interrupt()
    assert a.control and EndOfStream().control
    assert a.id != b.id  # dedupes an interrupt reaching a node by two paths
    event = Event(kind="turn", data={"n": 1})
    assert msgspec.json.decode(msgspec.json.encode(event)) == {"pts": 0, "kind": "turn",
                                                               "data": {"n": 1}}


@pytest.mark.parametrize(("text", "ns"), [("200ms", 200 * MS), ("1.5s", 1500 * MS),
                                          ("20 us", 20_000), (".5s", 500 * MS),
                                          ("2min", 120_000 * MS)])
def test_durations_need_units(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["200", "ms", "-1s", "1.5 parsecs", ""])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert [format_duration(n) for n in (200 * MS, 2_000 * MS, 1_500_000, 20_000, 7)] == [
        "200ms", "2s", "1500us", "20us", "7ns"]
