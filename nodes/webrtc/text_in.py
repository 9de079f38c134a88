"""``webrtc.text_in``: what the user types in the browser, as final ``TextDelta``s."""

from __future__ import annotations

from flow import Node, Out, TextDelta

from ._common import peer_of


class WebRTCTextIn(Node):
    text: Out[TextDelta]

    async def setup(self) -> None:
        self.peer = peer_of(self)

    async def run(self) -> None:
        while (text := await self.peer.next_text()) is not None:
            await self.text.send(TextDelta(pts=self.now(), text=text, role="user", final=True))
