"""The aiohttp application: ``GET /`` (the browser client), ``GET /static/*``,
``POST /offer`` (``{sdp, type}`` JSON in, the answer and session id out), ``GET /sessions``
(each session's audio cadence and channel counters), ``DELETE /sessions/{id}`` (hang up),
``GET /metrics`` (Prometheus text) and ``GET /healthz``.

Every refusal is a 4xx/503 with a JSON body ``{"error": code, "message": reason}``: a bad
body is 400, an oversized one 413, one that stalls 408, a missing or wrong bearer token
401 (when a token is set), a full server 503 with ``Retry-After``. What a client cannot
cause (the server's settings, an aiortc it cannot work with, a bug) is a JSON 500
``server_error``, its traceback logged once; never aiohttp's plain-text 500.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from ..errors import FlowError
from ..units import S
from . import metrics
from .sessions import OfferError, SessionManager, SessionsFull

log = logging.getLogger("microturn.server")

STATIC = Path(__file__).resolve().parent.parent / "static"
MANAGER: web.AppKey[SessionManager] = web.AppKey("manager", SessionManager)
TOKEN: web.AppKey[str | None] = web.AppKey("token", str)  # type: ignore[arg-type]
BODY_TIMEOUT_KEY: web.AppKey[int] = web.AppKey("body_timeout", int)
#: Default request body limit: an SDP offer is a few kB.
MAX_BODY = 64 * 1024
#: A client that sends part of an offer's body, then nothing, is answered 408 after this
#: long: every stalled request would otherwise hold a connection and a handler for ever.
BODY_TIMEOUT = 10 * S
#: An idle HTTP connection (between requests, or halfway through a request's headers) is
#: closed after this long (aiohttp's default is an hour). A reverse proxy that keeps
#: connections to the server open must let them go sooner (docs/server.md, Deploying).
KEEPALIVE_TIMEOUT = 15 * S
#: On shutdown, requests still in progress get this long before they are cancelled.
SHUTDOWN_TIMEOUT = 5 * S


class Offer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sdp: str
    type: str


_offer_decoder = msgspec.json.Decoder(Offer)


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status,
                             headers=headers or None)


def _refuse(request: web.Request, status: int, code: str, message: str,
            **headers: str) -> web.Response:
    """An offer refused before it reached the session manager, counted by reason
    (``microturn_offers_rejected_total``) as the manager counts its own."""
    request.app[MANAGER].rejected[code] += 1
    return _error(status, code, message, **headers)


def _unauthorized() -> web.Response:
    return _error(401, "unauthorized", "missing or wrong bearer token",
                  **{"WWW-Authenticate": 'Bearer realm="microturn"'})


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405) in the JSON shape of every other refusal, and
    anything a handler did not expect as a JSON 500 (counted as a refused offer on
    ``/offer``), its traceback logged here once."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "refused")
        headers = {k: v for k, v in exc.headers.items() if k == "Allow"}
        return _error(exc.status, code, f"{request.method} {request.path}: {exc.reason}",
                      **headers)
    except ConnectionError:  # the client went away halfway through: no one to answer
        log.debug("%s %s: the client went away", request.method, request.path)
        return _error(400, "gone", "the client went away")
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        if request.path == "/offer":
            request.app[MANAGER].rejected["server_error"] += 1
        return _error(500, "server_error", f"{request.method} {request.path}: "
                      f"{type(exc).__name__} (the server's log has the details)")


def _authorized(request: web.Request) -> bool:
    token = request.app[TOKEN]
    if not token:
        return True
    got = request.headers.get("Authorization", "")
    scheme, _, value = got.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def offer(request: web.Request) -> web.Response:
    if not _authorized(request):
        request.app[MANAGER].rejected["unauthorized"] += 1
        return _unauthorized()
    limit = request.app._client_max_size  # type: ignore[attr-defined]
    if request.content_length is not None and request.content_length > limit:
        return _refuse(request, 413, "too_big",
                       f"body of {request.content_length} bytes exceeds {limit}")
    timeout = request.app[BODY_TIMEOUT_KEY]
    try:
        async with asyncio.timeout(timeout / S):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(request, 413, "too_big", f"body exceeds {limit} bytes")
    except TimeoutError:
        response = _refuse(request, 408, "timeout",
                           f"the body did not arrive within {timeout / S:g} s")
        response.force_close()  # the rest of the body may still come: not a next request
        return response
    try:
        o = _offer_decoder.decode(body)
    except msgspec.DecodeError as exc:
        return _refuse(request, 400, "bad_json", f"expected JSON {{sdp, type}}: {exc}")
    except UnicodeDecodeError as exc:  # msgspec's own error for bytes that are not UTF-8
        return _refuse(request, 400, "bad_json", f"the body is not UTF-8: {exc}")
    manager = request.app[MANAGER]
    try:
        sid, answer = await manager.open(o.sdp, o.type)
    except SessionsFull as exc:
        return _error(503, "full", str(exc), **{"Retry-After": "5"})
    except OfferError as exc:
        return _error(400, "bad_offer", str(exc))
    except FlowError as exc:  # counted and logged by the manager
        return _error(500, "server_error", f"cannot answer offers: {type(exc).__name__} "
                                           "(the server's log has the details)")
    return web.json_response({"sdp": answer, "type": "answer", "session": sid})


async def hangup(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    if not await request.app[MANAGER].close(request.match_info["sid"], "hangup"):
        return _error(404, "no_session", "no such session")
    return web.json_response({"closed": request.match_info["sid"]})


async def metrics_page(request: web.Request) -> web.Response:
    m = request.app[MANAGER]
    text = metrics.render(m.statistics(), open_sessions=len(m.sessions), opened=m.opened,
                          rejected=dict(m.rejected), closed=dict(m.closed),
                          graph=m.graph.name, totals=m.totals())
    return web.Response(body=text.encode(), headers={"Content-Type": metrics.CONTENT_TYPE})


async def sessions(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    return web.json_response(request.app[MANAGER].cadence())


async def health(request: web.Request) -> web.Response:
    import asyncio
    import resource

    m = request.app[MANAGER]
    rss = _rss_mb()
    return web.json_response({
        "ok": True, "sessions": len(m.sessions), "max_sessions": m.limits.max_sessions,
        "tasks": len(asyncio.all_tasks()), "rss_mb": rss,
        # the kernel's peak is counted in other units and can lag the present figure
        "peak_rss_mb": max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), in MiB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


async def _shutdown(app: web.Application) -> None:
    await app[MANAGER].shutdown()


def make_app(manager: SessionManager, *, token: str | None = None,
             max_body: int = MAX_BODY, body_timeout: int = BODY_TIMEOUT,
             static: Path = STATIC) -> web.Application:
    """The server's routes around ``manager``; shutting the app down closes every session."""
    app = web.Application(client_max_size=max_body, middlewares=[_json_errors])
    app[MANAGER] = manager
    app[TOKEN] = token or None
    app[BODY_TIMEOUT_KEY] = body_timeout
    app.router.add_get("/", index)
    app.router.add_post("/offer", offer)
    app.router.add_get("/sessions", sessions)
    app.router.add_delete("/sessions/{sid}", hangup)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", health)
    app.router.add_static("/static/", static, follow_symlinks=False)
    app.on_shutdown.append(_shutdown)
    return app


async def start(app: web.Application, host: str, port: int, *,
                keepalive_timeout: int = KEEPALIVE_TIMEOUT,
                shutdown_timeout: int = SHUTDOWN_TIMEOUT) -> tuple[web.AppRunner, Any]:
    """Start serving ``app``; returns the runner (``await runner.cleanup()`` to stop) and
    the bound ``(host, port)`` (port 0 picks a free one)."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           keepalive_timeout=keepalive_timeout / S,
                           shutdown_timeout=shutdown_timeout / S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addr = runner.addresses[0][:2] if runner.addresses else (host, port)
    return runner, addr
