"""Network settings of peer connections: which host candidates ICE offers, no STUN, and
the receive jitter buffer's prefetch.

Two settings reach into aioice/aiortc internals, so each is pinned to the versions it was
checked against and refuses to guess on any other (``FlowError`` naming the version):

- ``restrict_host_candidates(["127.0.0.1"])``: aioice gathers host candidates from
  ``aioice.ice.get_host_addresses(use_ipv4, use_ipv6)``, which never returns 127.0.0.1
  (nor ::1). We wrap that module-level function so that, when hosts are set, exactly those
  addresses are offered. Production wants this too (bind ICE to one interface). Checked
  with aioice 0.9 to 0.13.
- ``set_audio_prefetch(receiver, n)``: aiortc's ``RTCRtpReceiver`` holds inbound audio in a
  ``JitterBuffer(capacity=16, prefetch=4)``: a frame is released only once 4 more are
  queued, a fixed 4 x 20 ms = 80 ms on every inbound audio frame even on loopback. We set
  the buffer's ``_prefetch``; 1 keeps one frame (the buffer must see the next packet to
  know a frame is complete). Checked with aiortc 1.9 to 1.16.
- ``decode_audio_inline(receiver)``: aiortc hands every complete inbound frame to a decoder
  thread per receiver (``queue.Queue.put``, a thread wake-up, then
  ``run_coroutine_threadsafe`` back to the loop for each decoded frame). For 20 ms Opus
  frames the hand-offs cost more than the decoding (~50 us), so the server decodes audio
  on the event loop instead: we replace the receiver's decoder queue, before the receiver
  starts, with one that decodes on ``put`` and queues the frames for the track directly.
  aiortc's decoder thread still starts and waits on it, and ends the track as before when
  the receiver stops. Checked with aiortc 1.9 to 1.16.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import FlowError

log = logging.getLogger("microturn.server")

AIOICE_CHECKED = ((0, 9), (0, 13))
AIORTC_CHECKED = ((1, 9), (1, 16))
#: aiortc's own audio prefetch (packets), which ``set_audio_prefetch`` replaces.
AIORTC_DEFAULT_PREFETCH = 4

_hosts: list[str] | None = None
_original: Callable[[bool, bool], list[str]] | None = None


def _version(module: Any) -> tuple[int, int]:
    from importlib.metadata import version

    parts = version(module).split(".")
    return int(parts[0]), int(parts[1])


def _check(dist: str, checked: tuple[tuple[int, int], tuple[int, int]]) -> None:
    v = _version(dist)
    lo, hi = checked
    if not lo <= v <= hi:
        raise FlowError(
            f"{dist} {v[0]}.{v[1]} is not a version microturn's ICE settings were checked "
            f"against ({lo[0]}.{lo[1]} to {hi[0]}.{hi[1]}); run without --ice-host/--jitter-"
            f"prefetch or pin {dist}")


def restrict_host_candidates(hosts: Sequence[str] | None) -> None:
    """Offer only ``hosts`` as ICE host candidates (process-wide); None restores aioice's
    own choice (every non-loopback address)."""
    global _hosts, _original
    if hosts is None:
        _hosts = None
        return
    for h in hosts:
        try:
            ipaddress.ip_address(h)
        except ValueError:
            raise FlowError(f"--ice-host {h!r} is not an IP address") from None
    _check("aioice", AIOICE_CHECKED)
    import aioice.ice

    if _original is None:
        _original = aioice.ice.get_host_addresses

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            if _hosts is None:
                assert _original is not None
                return _original(use_ipv4, use_ipv6)
            return [h for h in _hosts
                    if (use_ipv4 and ":" not in h) or (use_ipv6 and ":" in h)]

        aioice.ice.get_host_addresses = get_host_addresses
    _hosts = list(hosts)


def host_candidates() -> list[str] | None:
    """The addresses set by ``restrict_host_candidates`` (None: aioice's default)."""
    return None if _hosts is None else list(_hosts)


def rtc_configuration() -> Any:
    """``RTCConfiguration(iceServers=[])``: aiortc's default contacts a public STUN
    server, which a server on a LAN or loopback neither needs nor should do."""
    from aiortc import RTCConfiguration

    return RTCConfiguration(iceServers=[])


#: Packets aiortc's audio receive jitter buffer holds (``JitterBuffer(capacity=16)``). It
#: releases a frame once ``prefetch`` complete frames follow it within that window: a
#: prefetch of 16 or more never releases one, and the client is never heard.
AUDIO_JITTER_CAPACITY = 16


def set_audio_prefetch(receiver: Any, packets: int) -> bool:
    """Set how many packets aiortc's receive jitter buffer holds before releasing audio.
    Returns False (and changes nothing) for a video receiver."""
    if not 1 <= packets < AUDIO_JITTER_CAPACITY:
        raise FlowError(f"jitter prefetch must be from 1 to {AUDIO_JITTER_CAPACITY - 1} "
                        f"packets, got {packets}")
    _check("aiortc", AIORTC_CHECKED)
    jb = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if jb is None or not hasattr(jb, "_prefetch"):
        raise FlowError("aiortc's RTCRtpReceiver has no jitter buffer where expected")
    if getattr(jb, "_is_video", False):
        return False
    jb._prefetch = packets
    return True


def audio_prefetch(receiver: Any) -> int:
    """The receiver's current audio prefetch (packets)."""
    return int(receiver._RTCRtpReceiver__jitter_buffer._prefetch)


class _InlineDecoderQueue:
    """Stands in for an ``RTCRtpReceiver``'s decoder queue: ``put((codec, frame))`` (from
    the loop) decodes at once into the track's queue; ``put(None)`` (the receiver stopping)
    releases aiortc's decoder thread, blocked in ``get()``, which then ends the track."""

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._out: Any = None
        self._stopped = threading.Event()
        self._decoder: Any = None
        self._codec: str | None = None
        self.decoded = 0  #: frames decoded
        self.errors = 0  #: frames the decoder refused (skipped, decoder state kept)

    def get(self) -> None:
        self._stopped.wait()
        return None

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:
            self._stopped.set()
            return
        import av
        from aiortc.codecs import get_decoder

        codec, encoded = task
        if codec.name != self._codec:
            self._decoder, self._codec = get_decoder(codec), codec.name
        try:
            frames = self._decoder.decode(encoded)
        except av.FFmpegError as exc:
            self.errors += 1
            log.warning("cannot decode an inbound %s frame: %s", codec.name, exc)
            return
        if self._out is None:  # the receiver's track (set by setRemoteDescription)
            self._out = self._receiver.track._queue
        for frame in frames:
            self.decoded += 1
            self._out.put_nowait(frame)


def decode_audio_inline(receiver: Any) -> bool:
    """Decode this audio receiver's frames on the event loop, not in aiortc's decoder
    thread (see the module docstring). Call before the receiver starts (right after
    ``setRemoteDescription``). Returns False (and changes nothing) for a video receiver."""
    _check("aiortc", AIORTC_CHECKED)
    jb = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if jb is None or getattr(jb, "_is_video", False):
        return False
    if not hasattr(receiver, "_RTCRtpReceiver__decoder_queue"):
        raise FlowError("aiortc's RTCRtpReceiver has no decoder queue where expected")
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise FlowError("decode_audio_inline: the receiver has already started")
    receiver._RTCRtpReceiver__decoder_queue = _InlineDecoderQueue(receiver)
    return True
