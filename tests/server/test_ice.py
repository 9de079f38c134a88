import aioice
import pytest
from aiortc import RTCPeerConnection

from flow import FlowError
from flow.server import ice


async def gathered_hosts() -> list[str]:
    conn = aioice.Connection(ice_controlling=True)
    try:
        await conn.gather_candidates()
        return [c.host for c in conn.local_candidates]
    finally:
        await conn.close()


async def test_host_candidates_restricted_to_loopback() -> None:
    ice.restrict_host_candidates(["127.0.0.1"])
    assert await gathered_hosts() == ["127.0.0.1"]
    assert ice.host_candidates() == ["127.0.0.1"]


async def test_unrestricted_aioice_never_offers_loopback() -> None:
    """The reason the option exists: aioice's own gathering skips 127.0.0.1."""
    ice.restrict_host_candidates(None)
    try:
        assert "127.0.0.1" not in await gathered_hosts()
    finally:
        ice.restrict_host_candidates(["127.0.0.1"])


def test_bad_host_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="not an IP address"):
        ice.restrict_host_candidates(["localhost"])


def test_unchecked_versions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ice, "_version", lambda dist: (9, 0))
    with pytest.raises(FlowError, match=r"aioice 9\.0 is not a version"):
        ice.restrict_host_candidates(["127.0.0.1"])
    with pytest.raises(FlowError, match=r"aiortc 9\.0 is not a version"):
        ice.set_audio_prefetch(object(), 1)


async def test_audio_prefetch_setting() -> None:
    pc = RTCPeerConnection(ice.rtc_configuration())
    try:
        audio = pc.addTransceiver("audio").receiver
        video = pc.addTransceiver("video").receiver
        assert ice.audio_prefetch(audio) == ice.AIORTC_DEFAULT_PREFETCH
        assert ice.set_audio_prefetch(audio, 1)
        assert ice.audio_prefetch(audio) == 1
        assert not ice.set_audio_prefetch(video, 1)
        for packets in (0, ice.AUDIO_JITTER_CAPACITY):
            with pytest.raises(FlowError, match=f"from 1 to 15 packets, got {packets}"):
                ice.set_audio_prefetch(audio, packets)
    finally:
        await pc.close()


def test_no_stun_servers() -> None:
    assert ice.rtc_configuration().iceServers == []


def audio_packet(seq: int) -> object:
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(sequence_number=seq, timestamp=seq * 960, payload=b"x")
    packet._data = b"x"  # type: ignore[attr-defined]  # the receiver's depayloaded bytes
    return packet


@pytest.mark.parametrize(("prefetch", "released_at"), [(4, 4), (1, 1), (15, 15)])
def test_prefetch_is_how_many_packets_aiortc_holds(prefetch: int, released_at: int) -> None:
    """What the setting means in the aiortc version pinned: audio packet 0 comes out of the
    jitter buffer when packet ``prefetch`` arrives, i.e. ``prefetch`` x 20 ms later."""
    from aiortc.jitterbuffer import JitterBuffer

    jb = JitterBuffer(capacity=ice.AUDIO_JITTER_CAPACITY, prefetch=4)

    class Receiver:  # stands in for RTCRtpReceiver's name-mangled attribute
        _RTCRtpReceiver__jitter_buffer = jb

    ice.set_audio_prefetch(Receiver(), prefetch)
    for seq in range(20):
        _, frame = jb.add(audio_packet(seq))
        if frame is not None:
            assert seq == released_at and frame.timestamp == 0
            return
    pytest.fail("nothing released")


def test_a_prefetch_as_large_as_the_buffer_never_releases_audio() -> None:
    """Why ``set_audio_prefetch`` (and ``serve --jitter-prefetch``) stop at 15."""
    from aiortc.jitterbuffer import JitterBuffer

    jb = JitterBuffer(capacity=ice.AUDIO_JITTER_CAPACITY, prefetch=ice.AUDIO_JITTER_CAPACITY)
    assert all(jb.add(audio_packet(seq))[1] is None for seq in range(200))
