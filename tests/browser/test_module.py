"""``flow/static/microturn.js`` on its own, as a page that embeds it would use it: a bare
page with no element of the served client imports the module, and the tests drive
``MicroturnClient`` through ``page.evaluate``. Slow: a real browser and real WebRTC over
loopback (1-3 s a test)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from flow.server.testing import Served
from tests.browser.chromium import SlowOffers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BARE = "<!doctype html><html><head><title>embedded</title></head><body></body></html>"

# Makes a client with the given options and records everything it dispatches.
MAKE = """async (options) => {
  const { MicroturnClient } = await import('/static/microturn.js');
  const c = window.client = new MicroturnClient(options);
  window.seen = [];
  for (const type of ['state', 'heard', 'said', 'action', 'metrics', 'graph', 'error',
                      'closed']) {
    c.addEventListener(type, (e) => seen.push([type, e.detail]));
  }
  window.outcome = c.connect().then((hello) => ({hello}), (err) => ({
    error: {name: err.name, code: err.code, message: err.message}}));
}"""


async def bare_page(browser: Any, srv: Served) -> Any:
    page = await browser.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.route(srv.url + "/embed.html",
                     lambda route: route.fulfill(content_type="text/html", body=BARE))
    await page.goto(srv.url + "/embed.html")
    return page


async def seen(page: Any, type_: str) -> list[Any]:
    return await page.evaluate("t => seen.filter(([k]) => k === t).map(([, d]) => d)", type_)


async def test_an_embedded_client_talks_to_the_graph(browser: Any, srv: Served) -> None:
    page = await bare_page(browser, srv)
    added = await page.evaluate("""async () => { const before = new Set(Object.keys(window));
        await import('/static/microturn.js');
        return Object.keys(window).filter((k) => !before.has(k)); }""")
    assert added == []  # no globals
    await page.evaluate(MAKE, {"audio": False})
    outcome = await page.evaluate("outcome")
    assert outcome["hello"]["graph"] == "script" and outcome["hello"]["session"]
    assert await page.evaluate("[client.state, client.graph]") == ["connected", "script"]
    assert await page.evaluate("client.send('say hello')") is True
    await page.wait_for_function("seen.some(([k, d]) => k === 'said' && d.final)")
    said = await seen(page, "said")
    assert said[0]["text"] == "hello" and (await seen(page, "action"))[0]["kind"] == "speak"
    await page.evaluate("client.disconnect()")
    closed = await seen(page, "closed")
    assert [(d["code"], d["by"]) for d in closed] == [("hangup", "client")]
    assert [d["state"] for d in await seen(page, "state")] == [
        "connecting", "connected", "disconnected"]
    assert await page.evaluate("client.send('anyone?')") is False
    for _ in range(100):  # the server hears the hang-up
        if not srv.manager.sessions:
            break
        await asyncio.sleep(0.05)
    assert not srv.manager.sessions and not page.errors


async def test_a_slow_connect_times_out_or_is_cancelled(browser: Any, srv: Served) -> None:
    page = await bare_page(browser, srv)
    slow = SlowOffers()
    await page.route("**/offer", slow.handle)
    await page.evaluate(MAKE, {"audio": False, "offerTimeoutMs": 300})
    outcome = await page.evaluate("outcome")
    assert outcome["error"]["code"] == "timeout"
    assert outcome["error"]["message"] == ("could not connect: the server did not answer "
                                           "within 0.3 s")
    await page.evaluate(MAKE, {"audio": False})
    await page.evaluate("new Promise((r) => setTimeout(r, 200))")
    await page.evaluate("client.disconnect()")
    outcome = await page.evaluate("outcome")
    assert outcome["error"] == {"name": "MicroturnError", "code": "cancelled",
                                "message": "connect cancelled"}
    assert [(d["code"], d["by"]) for d in await seen(page, "closed")] == [("cancelled",
                                                                           "client")]
    assert await page.evaluate("client.state") == "disconnected" and not page.errors
    await slow.done()


async def test_the_abort_signal_cancels_the_connect_not_the_call(browser: Any,
                                                                   srv: Served) -> None:
    page = await bare_page(browser, srv)
    await page.evaluate("""async () => {
        const { MicroturnClient } = await import('/static/microturn.js');
        window.client = new MicroturnClient({ audio: false });
        window.abort = new AbortController();
        await client.connect({ signal: abort.signal });
        abort.abort();  // e.g. the page's own timeout, which fires after all
    }""")
    await page.evaluate("new Promise((r) => setTimeout(r, 100))")
    assert await page.evaluate("client.state") == "connected"  # the live call goes on
    assert await page.evaluate("client.send('say hello')") is True
    await page.evaluate("client.disconnect()")
    assert not page.errors


async def test_refused_and_unreachable_offers_say_why(browser: Any, srv: Served) -> None:
    page = await bare_page(browser, srv)
    answers = [
        (401, {"error": "unauthorized", "message": "missing or wrong bearer token"},
         "unauthorized", "could not connect: the server needs a token", "server"),
        (503, {"error": "full", "message": "8 sessions open"},
         "full", "could not connect: the server is full (8 sessions open); try again in a "
                 "few seconds", "server"),
        (None, None, "unreachable", f"could not connect: cannot reach the server at {srv.url} "
                                    "(is it running?)", "network"),
    ]
    for status, body, code, message, by in answers:
        await page.route("**/offer", refusal(status, body))
        await page.evaluate(MAKE, {"audio": False})
        error = (await page.evaluate("outcome"))["error"]
        assert error["code"] == code and error["message"].startswith(message), error
        assert [d["by"] for d in await seen(page, "closed")] == [by]
        await page.unroute("**/offer")
    assert not page.errors


def refusal(status: int | None, body: Any) -> Any:
    async def refuse(route: Any) -> None:
        if status is None:
            await route.abort("connectionrefused")
        else:
            await route.fulfill(status=status, json=body)

    return refuse


async def test_media_that_cannot_connect_says_why(browser: Any, srv: Served) -> None:
    """The offer and the answer are real, but the ICE candidates in both point at a port
    nothing listens on, as when a firewall drops the media's UDP: the client gives up
    after ``mediaTimeoutMs`` (or ICE fails first) with the --ice-host hint."""
    page = await bare_page(browser, srv)

    def nowhere(sdp: str) -> str:
        return re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ \S+) \d+ typ", r"\1 9 typ", sdp)

    async def unreachable_media(route: Any) -> None:
        offer = json.loads(route.request.post_data)
        response = await route.fetch(post_data=json.dumps({**offer, "sdp": nowhere(offer["sdp"])}))
        answer = json.loads(await response.text())
        await route.fulfill(response=response, json={**answer, "sdp": nowhere(answer["sdp"])})

    await page.route("**/offer", unreachable_media)
    await page.evaluate(MAKE, {"audio": False, "mediaTimeoutMs": 1500})
    error = (await page.evaluate("outcome"))["error"]
    assert error == {"name": "MicroturnError", "code": "ice", "message":
                     "media could not connect (UDP blocked? see docs/server.md --ice-host)"}
    assert not page.errors


async def test_the_embedding_example_of_the_docs_works(browser: Any, srv: Served) -> None:
    """docs/client.md's minimal embedding, as written, as a page of its own."""
    doc = (Path(__file__).parents[2] / "docs" / "client.md").read_text()
    example = re.search(r"### A minimal embedding\n\n```html\n(.*?)```", doc, re.S)
    assert example is not None
    page = await browser.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.route(srv.url + "/embed.html", lambda route: route.fulfill(
        content_type="text/html", body="<!doctype html>" + example.group(1)))
    await page.goto(srv.url + "/embed.html")
    await page.click("#talk")
    await page.wait_for_function("document.querySelector('#state').textContent === 'connected'")
    assert await page.evaluate("!!document.querySelector('#voice').srcObject")
    for line in ("hi there", "say hello"):
        await page.fill("#line", line)
        await page.press("#line", "Enter")
        await page.wait_for_function("document.querySelector('#line').value === ''")
    await page.wait_for_function("document.querySelectorAll('#log li').length === 2")
    assert await page.locator("#log li").all_inner_texts() == ["you: hi there", "model: hello"]
    await page.click("#stop")
    for _ in range(100):  # the server hears the hang-up
        if not srv.manager.sessions:
            break
        await asyncio.sleep(0.05)
    assert not srv.manager.sessions and not page.errors
