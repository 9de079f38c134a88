"""The back end: answers delegated questions in the background while the front end keeps
the conversation going.

Each ``DelegateRequest`` becomes a background task (at most ``max_concurrency`` at once),
bounded by ``timeout`` on the session clock, and cancelled when a newer request supersedes
it (``supersede``) or an ``Interrupt`` makes it stale. Answers stream back as
``BackendResult``s, one per sentence (``final=False``) then a ``final=True`` one, usually on a
``feedback`` edge into the front end. A failure is not a crash: it comes back as a result
with ``error`` set, so the front end can apologise and the session goes on.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import msgspec

from flow import Clock, In, Interrupt, Node, Out, parse_duration
from flow.errors import MissingDependency, missing
from flow.params import Duration

from ..types import BackendResult, DelegateRequest
from .providers import Provider, ProviderError, ToolsProvider
from .tools import ToolBox


class BackEndParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    provider: str = "tools"
    max_concurrency: int = 2
    timeout: Duration = "10s"
    supersede: bool = True
    cancel_on_interrupt: bool = True
    rates: dict[str, float] = msgspec.field(default_factory=lambda: {"USD->EUR": 0.92})
    # openai provider
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str = ("You are the back end of a voice assistant. Answer in one or two "
                          "short spoken sentences. Use tools for arithmetic and currency.")
    max_tokens: int = 256  #: the longest answer a model may give (openai)

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}; known: {sorted(PROVIDERS)}")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got "
                             f"{self.base_url!r}")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        parse_duration(self.timeout)


def _tools(p: BackEndParams, clock: Clock) -> Provider:
    return ToolsProvider(ToolBox(rates=dict(p.rates)))


def _openai(p: BackEndParams, clock: Clock) -> Provider:
    from .openai_provider import OpenAIProvider
    return OpenAIProvider(base_url=p.base_url, model=p.model, api_key_env=p.api_key_env,
                          system_prompt=p.system_prompt, toolbox=ToolBox(rates=dict(p.rates)),
                          max_tokens=p.max_tokens, clock=clock)


#: Provider factories by name, called with the node's params and the session clock; a
#: plugin can add its own.
PROVIDERS: dict[str, Callable[[BackEndParams, Clock], Provider]] = {
    "tools": _tools, "openai": _openai}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class BackEnd(Node):
    requests: In[DelegateRequest]
    results: Out[BackendResult]

    Params = BackEndParams

    @classmethod
    def missing_dependencies(cls, params: BackEndParams) -> list[MissingDependency]:
        return missing([("aiohttp", "aiohttp", "webrtc")] if params.provider == "openai" else [],
                       cls.__module__)
    params: BackEndParams

    async def setup(self) -> None:
        self.provider = PROVIDERS[self.params.provider](self.params, self.clock)
        self._timeout = parse_duration(self.params.timeout)
        self._sem = asyncio.Semaphore(self.params.max_concurrency)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.answered = self.failed = self.timed_out = self.cancelled = 0

    async def on_requests(self, req: DelegateRequest) -> None:
        if self.params.supersede:
            self._cancel_all()
        task = asyncio.create_task(self._serve(req), name=f"{self.context.id}/{self.id}/{req.id}")
        self._tasks[req.id] = task
        task.add_done_callback(lambda t, rid=req.id: self._tasks.pop(rid, None))

    def on_interrupt(self, msg: Interrupt) -> None:
        if self.params.cancel_on_interrupt:
            self._cancel_all()

    def _cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            if not task.done():
                task.cancel()
                self.cancelled += 1

    async def _serve(self, req: DelegateRequest) -> None:
        async with self._sem:
            work = asyncio.create_task(self._answer(req))
            timer = asyncio.create_task(self.clock.sleep(self._timeout))
            try:
                done, _ = await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                if not work.done():
                    work.cancel()
            if work in done:
                work.result()
                return
            try:
                await work
            except asyncio.CancelledError:
                pass
            self.timed_out += 1
            await self._unanswered(req, f"timed out after {self.params.timeout}")

    async def _answer(self, req: DelegateRequest) -> None:
        buffer = ""
        said = False
        try:
            async for piece in self.provider.answer(req):
                buffer += piece
                *sentences, buffer = _SENTENCE_END.split(buffer)
                for s in sentences:
                    said = True
                    await self.results.send(BackendResult(pts=self.now(), id=req.id, text=s,
                                                          final=False))
        except ProviderError as exc:
            self.failed += 1
            await self._unanswered(req, str(exc))
            return
        except Exception as exc:  # a provider's own bug or an unwrapped library error
            self.failed += 1
            self.log.warning("session %s node %s: provider %s failed", self.context.id,
                             self.id, self.params.provider, exc_info=exc)
            await self._unanswered(req, f"provider failed: {exc!r}")
            return
        if not said and not buffer.strip():  # nothing to say is a failure to answer
            self.failed += 1
            await self._unanswered(req, f"the {self.params.provider} provider gave an empty answer")
            return
        self.answered += 1
        await self.results.send(BackendResult(pts=self.now(), id=req.id, text=buffer.strip(),
                                              final=True))

    async def _unanswered(self, req: DelegateRequest, error: str) -> None:
        """The user hears the front end's apology; whoever runs the graph reads why."""
        self.log.warning("session %s node %s: request %d (%r) not answered: %s",
                         self.context.id, self.id, req.id, req.query, error)
        await self.results.send(BackendResult(pts=self.now(), id=req.id, text="", final=True,
                                              error=error))

    def statistics_extra(self) -> dict[str, Any]:
        return {k: getattr(self, k, 0)
                for k in ("answered", "failed", "timed_out", "cancelled")}

    async def on_end(self) -> None:
        # Questions still being answered get their answers before the graph ends.
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def teardown(self) -> None:
        tasks = list(getattr(self, "_tasks", {}).values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        close: Any = getattr(getattr(self, "provider", None), "close", None)
        if close is not None:
            await close()


__all__ = ["PROVIDERS", "BackEnd", "BackEndParams"]
