"""A local stand-in for an OpenAI-compatible chat-completions server (127.0.0.1 only).

The requested ``model`` picks the behaviour: ``chat`` streams a two-sentence answer,
``tool`` asks for a ``convert_currency`` call and then streams an answer using its result,
``stall`` never answers, ``error`` returns HTTP 500, ``garbage`` streams a malformed chunk,
``cut`` closes the stream before ``[DONE]``, ``inerror`` streams the server's own error
object, ``empty`` streams no content, ``busyN`` answers the first N requests with 429
(then as ``chat``).
Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


def _chunk(delta: dict[str, Any]) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()


class StandIn:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.completions)
        self.runner: web.AppRunner | None = None
        self.release = asyncio.Event()  # ends stalled responses when the stand-in stops
        self.url = ""

    async def __aenter__(self) -> StandIn:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        self.release.set()
        await self.runner.cleanup()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model == "error":
            return web.Response(status=500, text="internal error (stand-in)")
        if model.startswith("busy") and len(self.requests) <= int(model[4:] or 1):
            return web.Response(status=429, text="slow down (stand-in)",
                                headers={"Retry-After": "0"})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if model == "stall":
            await self.release.wait()
        elif model == "garbage":
            await resp.write(b"data: {not json\n\n")
        elif model == "cut":  # a partial answer, then the stream closes without [DONE]
            await resp.write(_chunk({"content": "Paris is "}))
            await resp.write_eof()
            return resp
        elif model == "inerror":  # the server's own error, in the stream
            await resp.write(b'data: {"error": {"message": "quota exceeded (stand-in)"}}\n\n')
        elif model == "empty":
            pass
        elif model == "tool" and body["messages"][-1]["role"] != "tool":
            await resp.write(_chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "convert_currency", "arguments": ""}}]}))
            for part in ('{"amount": 20, ', '"source": "USD", ', '"target": "EUR"}'):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
                await resp.write(_chunk(delta))
        elif model == "tool":
            result = body["messages"][-1]["content"]
            for part in ("Sure. ", f"{result}."):
                await resp.write(_chunk({"content": part}))
        else:
            for part in ("Paris is ", "the capital of France. ", "It is on the Seine."):
                await resp.write(_chunk({"content": part}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
