"""A back-end provider for any OpenAI-compatible chat-completions endpoint.

Streams the answer (``stream: true``, server-sent events), runs tool calls locally with the
back end's ``ToolBox`` and sends their results back, up to ``max_tool_rounds`` rounds. A
busy (429) or unavailable (503) server is asked again, ``retries`` times, after its
``Retry-After`` (at most 5 s), on the session clock.
The API key is read from an environment variable, never from the graph file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from flow.clock import Clock, RealClock
from flow.errors import MissingDependency

from ..types import DelegateRequest
from .providers import ProviderError
from .tools import ToolBox, ToolError

log = logging.getLogger("microturn.backend")


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
                 system_prompt: str = "", toolbox: ToolBox | None = None,
                 max_tokens: int = 256, max_tool_rounds: int = 3,
                 clock: Clock | None = None, retries: int = 2) -> None:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - aiohttp is in the webrtc extra
            raise MissingDependency("aiohttp", "webrtc") from exc
        self._aiohttp = aiohttp
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get(api_key_env, "")
        if not self.api_key:  # a local server may need none; a hosted one answers 401
            log.warning("openai provider: no API key in $%s, so requests to %s go without "
                        "an Authorization header", api_key_env, self.base_url)
        self.system_prompt = system_prompt
        self.toolbox = toolbox or ToolBox()
        self.max_tokens = max_tokens
        self.max_tool_rounds = max_tool_rounds
        self.clock = clock or RealClock()
        self.retries = retries
        self._http: Any = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _messages(self, request: DelegateRequest) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = []
        if self.system_prompt:
            msgs.append({"role": "system", "content": self.system_prompt})
        for role, text in before_the_question(request):
            msgs.append({"role": "assistant" if role == "model" else "user", "content": text})
        msgs.append({"role": "user", "content": request.query})
        return msgs

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        if self._http is None:
            self._http = self._aiohttp.ClientSession()
        messages = self._messages(request)
        for _ in range(self.max_tool_rounds + 1):
            calls: dict[int, dict[str, str]] = {}
            async for kind, value in self._stream(messages):
                if kind == "text":
                    yield value  # type: ignore[misc]
                else:
                    calls = value  # type: ignore[assignment]
            if not calls:
                return
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls.values()]})
            for c in calls.values():
                messages.append({"role": "tool", "tool_call_id": c["id"],
                                 "content": self._run_tool(c["name"], c["arguments"])})
        raise ProviderError(f"gave up after {self.max_tool_rounds} rounds of tool calls")

    def _run_tool(self, name: str, arguments: str) -> str:
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ToolError("arguments must be a JSON object")
            return self.toolbox.call(name, args)
        except (ToolError, ValueError) as exc:
            return f"error: {exc}"

    async def _stream(self, messages: list[dict[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
        """Yields ("text", piece) as content streams, then ("tools", calls) if any."""
        body = {"model": self.model, "messages": messages, "stream": True,
                "max_tokens": self.max_tokens,
                "tools": [t.schema() for t in self.toolbox.tools.values()]}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        calls: dict[int, dict[str, str]] = {}
        done = False
        try:
            for attempt in range(self.retries + 1):
                resp = await self._http.post(f"{self.base_url}/chat/completions", json=body,
                                             headers=headers)
                if resp.status not in RETRY or attempt == self.retries:
                    break
                # busy (429) or unavailable (503): wait as the server asks, a little, and
                # ask again; the back end's timeout bounds it all
                wait = _seconds(resp.headers.get("Retry-After"))
                resp.release()
                log.info("openai provider: HTTP %d from %s; asking again in %g s",
                         resp.status, self.base_url, wait)
                await self.clock.sleep(round(wait * 1e9))
            async with resp:
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    raise ProviderError(f"HTTP {resp.status} from {self.base_url}: {text}")
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise ProviderError(f"malformed stream chunk: {data[:80]!r}") from exc
                    if isinstance(chunk, dict) and "error" in chunk:  # the server's own words
                        error = chunk["error"]
                        said = error.get("message", error) if isinstance(error, dict) else error
                        raise ProviderError(f"{self.base_url} answered with an error: {said}")
                    try:
                        delta = chunk["choices"][0].get("delta") or {}
                    except (KeyError, IndexError, TypeError, AttributeError) as exc:
                        raise ProviderError(f"malformed stream chunk: {data[:80]!r}") from exc
                    if delta.get("content"):
                        yield "text", delta["content"]
                    for tc in delta.get("tool_calls") or []:
                        slot = calls.setdefault(int(tc.get("index", 0)),
                                                {"id": "", "name": "", "arguments": ""})
                        slot["id"] = tc.get("id") or slot["id"]
                        fn = tc.get("function") or {}
                        slot["name"] += fn.get("name") or ""
                        slot["arguments"] += fn.get("arguments") or ""
        except self._aiohttp.ClientPayloadError as exc:
            raise ProviderError(f"the answer from {self.base_url} was cut off: {exc}") from exc
        except self._aiohttp.ClientError as exc:
            raise ProviderError(f"cannot reach {self.base_url}: {exc}") from exc
        if not done:  # closed early: what came is part of an answer, not an answer
            raise ProviderError(f"the answer from {self.base_url} ended before [DONE]")
        if calls:
            yield "tools", calls


#: Statuses that say "not now" rather than "no": asked again, ``retries`` times at most.
RETRY = frozenset({429, 503})
MAX_RETRY_WAIT = 5.0  #: seconds: a longer Retry-After would outlast any spoken answer


def _seconds(retry_after: str | None) -> float:
    """A Retry-After header's delay in seconds (1 s if absent or a date), capped."""
    try:
        wait = float(retry_after) if retry_after is not None else 1.0
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.0), MAX_RETRY_WAIT)


def before_the_question(request: DelegateRequest) -> list[tuple[str, str]]:
    """The conversation before the question: the front end's context already holds the
    question and the acknowledgement it said for it ("Let me check."), which the model
    would take for a question asked twice and an answer given."""
    context = list(request.context)
    for i in range(len(context) - 1, -1, -1):
        role, text = context[i]
        if role != "model":
            if " ".join(text.lower().split()) == " ".join(request.query.lower().split()):
                return context[:i]
            break
    return context
