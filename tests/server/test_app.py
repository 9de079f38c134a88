"""Bad input gets the right 4xx/503 with a reason, never a 500, and the server keeps
serving afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from flow.errors import FlowError
from flow.server import ice
from flow.server.app import make_app, start
from flow.server.client import Client
from flow.server.sessions import Limits, SessionManager
from flow.server.testing import echo_graph, serving
from flow.units import MS, S

GOOD_TOKEN = "s3cret-token"


async def post(url: str, data: bytes | str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(url + "/offer", data=data,
                                                          headers=headers) as r:
        return r.status, await r.json()


async def offer_sdp(*, mic: bool = True, audio_sections: int = 0) -> str:
    """An offer as a client makes it: the events channel, the microphone, and as many more
    audio sections as asked."""
    c = Client()
    c.pc.createDataChannel("events")
    if mic:
        c.pc.addTrack(c.mic)
    for _ in range(audio_sections):
        c.pc.addTransceiver("audio")
    await c.pc.setLocalDescription(await c.pc.createOffer())
    sdp = c.pc.localDescription.sdp
    await c.close()
    return sdp


async def still_serves(url: str, token: str | None = None) -> None:
    c = await Client.connect(url, token=token)
    await c.send_text("still here")
    assert (await c.wait_for("heard", within=5)).text == "still here"
    await c.close()


async def test_index_static_and_health() -> None:
    async with serving(echo_graph()) as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/") as r:
            assert r.status == 200 and "client.js" in await r.text()
        async with http.get(srv.url + "/static/client.js") as r:
            assert r.status == 200 and "./microturn.js" in await r.text()  # the page's UI
        async with http.get(srv.url + "/static/microturn.js") as r:  # the protocol
            assert r.status == 200 and "RTCPeerConnection" in await r.text()
        async with http.get(srv.url + "/static/../app.py") as r:
            assert r.status in (403, 404)
        async with http.get(srv.url + "/healthz") as r:
            body = await r.json()
            assert body["ok"] and body["sessions"] == 0


@pytest.mark.parametrize(("body", "code", "error"), [
    (b"{not json", 400, "bad_json"),
    (b'{"sdp": "\xff", "type": "offer"}', 400, "bad_json"),  # not UTF-8
    (b'{"sdp": "v=0"}', 400, "bad_json"),  # missing type
    (b'{"sdp": 5, "type": "offer"}', 400, "bad_json"),
    (b'{"sdp": "v=0", "type": "offer", "x": 1}', 400, "bad_json"),
    (b'{"sdp": "hello", "type": "offer"}', 400, "bad_offer"),
    (b'{"sdp": "v=0\\r\\no=- 1 1 IN IP4 0.0.0.0\\r\\n", "type": "offer"}', 400, "bad_offer"),
    (b'{"sdp": "v=0\\r\\nm=audio x y\\r\\n", "type": "offer"}', 400, "bad_offer"),
    (b'{"sdp": "v=0", "type": "answer"}', 400, "bad_offer"),
])
async def test_malformed_offers_are_400_with_a_reason(body: bytes, code: int,
                                                      error: str) -> None:
    async with serving(echo_graph()) as srv:
        status, reply = await post(srv.url, body)
        assert (status, reply["error"]) == (code, error), reply
        assert reply["message"]
        assert srv.manager.sessions == {}
        assert dict(srv.manager.rejected) == {error: 1}  # /metrics counts it by its code


async def test_mangled_sdp_is_400_and_server_keeps_serving() -> None:
    sdp = await offer_sdp()
    mangled = [sdp.replace("a=fingerprint", "a=fingerprnt"),
               sdp.replace("a=ice-ufrag", "a=ice-frag"),
               sdp.replace("a=setup:actpass", "a=setup:sideways"),
               sdp[: len(sdp) // 2],
               sdp.replace("c=IN IP4", "c=IN IP9")]
    async with serving(echo_graph()) as srv:
        for text in mangled:
            status, reply = await post(srv.url, json.dumps({"sdp": text, "type": "offer"}))
            assert status == 400, reply
            assert reply["error"] == "bad_offer"
        assert srv.manager.sessions == {}
        await still_serves(srv.url)


async def test_an_offer_aiortc_cannot_answer_is_400_and_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    """A BUNDLE group naming a mid no section has parses, but aiortc's answer fails and
    so did closing the half-built connection: a plain-text 500 and two tracebacks at
    ERROR per request."""
    sdp = (await offer_sdp()).replace("a=mid:0", "a=mid:zz")
    assert "a=group:BUNDLE 0 1" in sdp
    caplog.set_level(logging.INFO)
    async with serving(echo_graph()) as srv:
        for _ in range(2):
            status, reply = await post(srv.url, json.dumps({"sdp": sdp, "type": "offer"}))
            assert (status, reply["error"]) == (400, "bad_offer"), reply
            assert reply["message"].startswith("cannot answer this offer: ")
        assert dict(srv.manager.rejected) == {"bad_offer": 2}
        assert srv.manager.sessions == {}
        await still_serves(srv.url)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in loud] == ["WARNING", "WARNING"], caplog.text
    assert all(r.exc_info is None and "aiortc cannot answer" in r.getMessage()
               for r in loud)


async def test_a_server_fault_in_answering_is_a_counted_json_500(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A FlowError that is the server's own (an aiortc it cannot work with) is not the
    client's fault (no 400), and no plain-text 500 either."""
    def no_jitter_buffer(receiver: object, packets: int) -> bool:
        raise FlowError("aiortc's RTCRtpReceiver has no jitter buffer where expected")

    monkeypatch.setattr(ice, "set_audio_prefetch", no_jitter_buffer)
    async with serving(echo_graph()) as srv:
        status, reply = await post(srv.url, json.dumps({"sdp": await offer_sdp(),
                                                        "type": "offer"}))
        assert (status, reply["error"]) == (500, "server_error"), reply
        assert reply["message"] == ("cannot answer offers: FlowError (the server's log has "
                                    "the details)")  # its internals stay in the log
        assert dict(srv.manager.rejected) == {"server_error": 1}
        assert srv.manager.sessions == {}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no jitter buffer" in errors[0].getMessage()


async def test_an_unexpected_error_is_a_counted_json_500_logged_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def broken_open(self: SessionManager, sdp: str, kind: str = "offer") -> None:
        raise RuntimeError("a bug")

    def broken_cadence(self: SessionManager) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(SessionManager, "open", broken_open)
    monkeypatch.setattr(SessionManager, "cadence", broken_cadence)
    async with serving(echo_graph()) as srv, aiohttp.ClientSession() as http:
        status, reply = await post(srv.url, json.dumps({"sdp": "v=0", "type": "offer"}))
        assert (status, reply) == (500, {
            "error": "server_error",
            "message": "POST /offer: RuntimeError (the server's log has the details)"})
        async with http.get(srv.url + "/sessions") as r:
            assert r.status == 500 and (await r.json())["error"] == "server_error"
        assert dict(srv.manager.rejected) == {"server_error": 1}  # offers only
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.getMessage()) for r in errors] == [
        ("microturn.server", "POST /offer failed"), ("microturn.server", "GET /sessions failed")]
    assert all(r.exc_info for r in errors)


async def test_an_offer_without_audio_to_a_graph_that_speaks_is_400() -> None:
    """It was answered, and the session died as it started (webrtc.audio_out had no track
    to speak on) without a hello or an error: the client waited for nothing."""
    sdp = await offer_sdp(mic=False)
    async with serving(echo_graph()) as srv:
        status, reply = await post(srv.url, json.dumps({"sdp": sdp, "type": "offer"}))
        assert (status, reply["error"]) == (400, "bad_offer"), reply
        assert reply["message"] == (
            "graph echo_webrtc speaks (node 'voice', webrtc.audio_out) but the offer has no "
            "audio m-line: add a recvonly audio transceiver "
            "(pc.addTransceiver('audio', {direction: 'recvonly'})) to hear it")
        assert dict(srv.manager.rejected) == {"bad_offer": 1}
        with pytest.raises(ConnectionError, match="400: graph echo_webrtc speaks"):
            await Client.connect(srv.url, audio=False, listen=False)


async def test_too_many_media_sections_is_400() -> None:
    sdp = await offer_sdp(mic=False, audio_sections=8)
    async with serving(echo_graph()) as srv:
        status, reply = await post(srv.url, json.dumps({"sdp": sdp, "type": "offer"}))
        assert (status, reply["error"]) == (400, "bad_offer")
        assert "9 media sections" in reply["message"]


async def test_oversized_body_is_413() -> None:
    async with serving(echo_graph(), max_body=8 * 1024) as srv:
        status, reply = await post(srv.url, b'{"sdp": "' + b"a" * 20_000 + b'", "type": "offer"}')
        assert (status, reply["error"]) == (413, "too_big")
        assert srv.manager.rejected["too_big"] == 1
        await still_serves(srv.url)


async def test_a_wrong_path_or_method_is_a_json_refusal_too() -> None:
    async with serving(echo_graph()) as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/offer") as r:
            assert r.status == 405 and "POST" in r.headers["Allow"]
            assert (await r.json())["error"] == "method_not_allowed"
        async with http.get(srv.url + "/nowhere") as r:
            assert r.status == 404 and (await r.json())["error"] == "not_found"


async def test_token_required_when_set() -> None:
    async with serving(echo_graph(), token=GOOD_TOKEN) as srv:
        sdp = await offer_sdp()
        for token in (None, "wrong"):
            status, reply = await post(srv.url, json.dumps({"sdp": sdp, "type": "offer"}),
                                       token)
            assert (status, reply["error"]) == (401, "unauthorized")
        with pytest.raises(ConnectionError, match="401"):
            await Client.connect(srv.url, token="wrong")
        assert srv.manager.rejected["unauthorized"] == 3
        async with aiohttp.ClientSession() as http, http.delete(srv.url + "/sessions/x") as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        await still_serves(srv.url, token=GOOD_TOKEN)


async def test_too_many_sessions_is_503_then_a_slot_frees() -> None:
    async with serving(echo_graph(), limits=Limits(max_sessions=2)) as srv:
        a = await Client.connect(srv.url)
        b = await Client.connect(srv.url)
        with pytest.raises(ConnectionError, match="503"):
            await Client.connect(srv.url)
        assert srv.manager.rejected["full"] == 1
        await a.close()
        await a.wait_until(lambda: len(srv.manager.sessions) == 1, within=5)
        await still_serves(srv.url)
        await b.close()


@contextlib.asynccontextmanager
async def raw_server(manager: SessionManager, *, body_timeout: int = 10 * S,
                     keepalive_timeout: int = 15 * S,
                     shutdown_timeout: int = 5 * S) -> AsyncIterator[tuple[int, web.AppRunner]]:
    runner, (_, port) = await start(make_app(manager, body_timeout=body_timeout), "127.0.0.1",
                                    0, keepalive_timeout=keepalive_timeout,
                                    shutdown_timeout=shutdown_timeout)
    try:
        yield port, runner
    finally:
        await runner.cleanup()


HALF_AN_OFFER = (b"POST /offer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"sdp\": ")


async def test_an_offer_body_that_stalls_is_408_and_the_connection_closed() -> None:
    """A client that sent part of a body and then nothing held its connection and a
    handler for as long as it liked (slowloris)."""
    manager = SessionManager(echo_graph())
    async with raw_server(manager, body_timeout=200 * MS) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_AN_OFFER)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"\r\nConnection: close\r\n" in head  # what follows is no next request
    assert json.loads(body) == {"error": "timeout",
                                "message": "the body did not arrive within 0.2 s"}
    assert dict(manager.rejected) == {"timeout": 1}


@pytest.mark.slow
async def test_a_client_that_hangs_up_mid_body_is_no_server_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """Real sockets into aiohttp, polled until the server logs the hang-up (real time,
    well under a second)."""
    caplog.set_level(logging.DEBUG, "microturn.server")
    manager = SessionManager(echo_graph())
    async with raw_server(manager) as (port, _):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_AN_OFFER)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(1000):
            if "POST /offer: the client went away" in caplog.messages:
                break
            await asyncio.sleep(0.01)
    assert "POST /offer: the client went away" in caplog.messages
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert dict(manager.rejected) == {}


@pytest.mark.slow
@pytest.mark.parametrize("sent", [b"", b"POST /offer HTTP/1.1\r\nHost: x\r\n"])
async def test_an_idle_or_half_sent_request_is_closed_after_the_keepalive(sent: bytes) -> None:
    """A connection that sends nothing, or half its headers, was kept for an hour
    (aiohttp's default keep-alive). aiohttp's own timer: real time, 0.2 s."""
    async with raw_server(SessionManager(echo_graph()), keepalive_timeout=200 * MS) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing said
        writer.close()
        await writer.wait_closed()


@pytest.mark.slow
async def test_shutdown_does_not_wait_a_minute_for_a_stalled_request() -> None:
    """aiohttp waits up to a minute (its default) for requests in progress at shutdown:
    a client that stalls halfway through its offer held `microturn serve` that long.
    aiohttp's own timers: real time, 0.1 s."""
    manager = SessionManager(echo_graph())
    async with raw_server(manager, body_timeout=60 * S,
                          shutdown_timeout=100 * MS) as (port, runner):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_AN_OFFER)
        for _ in range(1000):  # until the handler is reading the body
            if runner.server.requests_count:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(runner.cleanup(), 10)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_proxys_plain_text_refusal_is_a_connection_error_with_its_text() -> None:
    """Behind a proxy, a refusal may be its own HTML or text, not the server's JSON; the
    client raised aiohttp's ContentTypeError instead of the ConnectionError it documents."""
    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="502 Bad Gateway\n")

    app = web.Application()
    app.router.add_post("/offer", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with pytest.raises(ConnectionError, match=r"^502: 502 Bad Gateway$"):
            await Client.connect(f"http://127.0.0.1:{port}", audio=False)
    finally:
        await runner.cleanup()
