"""``webrtc.video_in``: the browser's camera as ``VideoFrame``s (RGB uint8).

Only the newest frame matters: a reader keeps the latest decoded frame and drops older ones
(counted in ``dropped``), and frames go out at most ``fps`` per second, converted (and
scaled to ``width`` x ``height`` when set) only when sent. A slow consumer therefore never
builds lag, whatever the edge's policy (``latest`` is still the right one for it).
"""

from __future__ import annotations

import asyncio

import msgspec

from flow import Node, Out, VideoFrame
from flow.units import S

from ._common import Inbox, peer_of


class WebRTCVideoIn(Node):
    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        fps: float = 5.0  #: at most this many frames per second (0: every frame)
        width: int = 0  #: scale to this size (0: keep the camera's)
        height: int = 0

    video: Out[VideoFrame]

    async def setup(self) -> None:
        self.peer = peer_of(self)
        self.latest: Inbox[object] = Inbox(1)

    async def _read(self, track: object) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()  # type: ignore[attr-defined]
                self.peer.touch()
                self.latest.put(frame)
        except MediaStreamError:
            pass
        finally:
            self.latest.close()

    def convert(self, frame: object) -> VideoFrame:
        p = self.params
        kw = {"width": p.width, "height": p.height} if p.width and p.height else {}
        image = frame.to_ndarray(format="rgb24", **kw)  # type: ignore[attr-defined]
        return VideoFrame(pts=self.now(), image=image)

    async def run(self) -> None:
        track = await self.peer.track("video")
        if track is None:
            return
        period = int(S / self.params.fps) if self.params.fps > 0 else 0
        next_t = self.clock.now()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read(track))
            while True:
                if period:
                    await self.clock.sleep_until(next_t)
                frame = await self.latest.get()
                if frame is None:
                    return
                await self.video.send(self.convert(frame))
                next_t = max(next_t + period, self.clock.now())

    @property
    def dropped(self) -> int:
        return self.latest.dropped
