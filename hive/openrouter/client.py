"""The one OpenRouter client. Its ``httpx.AsyncClient`` is the seam: the real network, the
built-in simulator and the loopback test server all sit behind it, so every mode runs this code.

Three clocks bound a chat call: ``connect_timeout`` to open the connection, the idle
``timeout`` between any two reads (OpenRouter's ``: OPENROUTER PROCESSING`` keep-alive comments
reset it, so a slow model stays alive while a dead stream does not), and
``first_token_timeout`` from sending the request to the first answer text, keep-alives or not,
so a model that only ever says it is thinking is given up on. A ``RateLimiter`` decides when a
call may start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from hive.env import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_REFERER,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TITLE,
)
from hive.errors import ApiFailure, ProviderUnavailable, RequestTimeout, StreamError
from hive.openrouter.chat import ChatRequest, ChunkReducer, KeepAlive, StreamItem
from hive.openrouter.error_bodies import error_from_response, parse_body
from hive.openrouter.ratelimit import RateLimiter
from hive.openrouter.retry import parse_retry_after
from hive.openrouter.sse import Comment, aiter_sse
from hive.redact import redact

T = TypeVar("T")


def make_http_client(
    *,
    api_key: str | None,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = DEFAULT_REQUEST_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    referer: str = DEFAULT_REFERER,
    title: str = DEFAULT_TITLE,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client per run. ``timeout`` bounds the silence *between* stream reads (and a
    write, and the wait for a pooled connection), so OpenRouter's keep-alive comments keep a
    slow model alive while a dead stream is not; ``connect_timeout`` bounds opening a
    connection."""
    headers = {
        "HTTP-Referer": referer,
        "X-Title": title,
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=transport,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
    )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``GET /key`` says about the key in use (fields OpenRouter may omit are None)."""

    label: str | None
    usage: Decimal | None  # USD spent with this key
    limit: Decimal | None  # USD credit limit, None for unlimited
    limit_remaining: Decimal | None
    is_free_tier: bool | None
    expires_at: str | None


class OpenRouterClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        limiter: RateLimiter | None = None,
    ) -> None:
        """``first_token_timeout``: seconds from sending a chat request to its first answer text
        (None: no limit). ``limiter``: when chat calls may start (None: at once)."""
        self._http = http
        self.first_token_timeout = first_token_timeout
        self.limiter = limiter

    async def _get(self, path: str, expect: type) -> dict[str, Any]:
        """``GET path`` as OpenRouter answers it: ``{"data": <expect>, ...}``, else a typed error
        with the key masked."""
        try:
            resp = await self._http.get(path, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"no response from {self._host()} in time") from exc
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except httpx.RequestError as exc:  # a body that would not decode, say
            raise self._redacted(
                StreamError(f"unreadable reply from {self._host()}/{path}: {exc}")
            ) from exc
        if resp.status_code != 200:
            raise self._redacted(error_from_response(resp.status_code, resp.content))
        body = parse_body(resp.content)
        if not isinstance(body, dict) or not isinstance(body.get("data"), expect):
            raise self._redacted(
                StreamError(f"unexpected reply from {self._host()}/{path}: {resp.text[:120]!r}")
            )
        return body

    async def key_info(self) -> KeyInfo:
        data: dict[str, Any] = (await self._get("key", dict))["data"]

        def money(name: str) -> Decimal | None:
            value = data.get(name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return Decimal(str(value)) if ok else None

        label, free, expires = data.get("label"), data.get("is_free_tier"), data.get("expires_at")
        return KeyInfo(
            label=label if isinstance(label, str) else None,
            usage=money("usage"),
            limit=money("limit"),
            limit_remaining=money("limit_remaining"),
            is_free_tier=free if isinstance(free, bool) else None,
            expires_at=expires if isinstance(expires, str) else None,
        )

    async def list_models(self) -> dict[str, Any]:
        """``GET /models``: the catalog as OpenRouter sent it (``{"data": [...], ...}``), parsed
        from JSON but otherwise untouched, so prices stay the exact strings they arrived as.
        The endpoint is public; the key goes along when there is one."""
        return await self._get("models", list)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """Yield text deltas and keep-alives as they arrive, then exactly one Completion.

        Errors leave here with the key masked: their text is the server's, and flows on into
        records, warnings and JSON output.
        """
        try:
            async with (
                self.limiter.slot(request.model) if self.limiter else contextlib.nullcontext()
            ):
                async for item in self._stream(request):
                    yield item
        except ApiFailure as exc:
            self._redacted(exc)
            raise

    def _redacted(self, exc: ApiFailure) -> ApiFailure:
        key = self._http.headers.get("Authorization", "").removeprefix("Bearer ")
        exc.message = redact(exc.message, key)
        exc.args = (exc.message,)
        return exc

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        reducer = ChunkReducer()
        limit = self.first_token_timeout
        deadline = None if limit is None else asyncio.get_running_loop().time() + limit

        async def first_token(step: Awaitable[T]) -> T:
            """Await ``step``, but not past the deadline while no answer text has come."""
            if deadline is None or reducer.parts:
                return await step
            try:
                async with asyncio.timeout_at(deadline):
                    return await step
            except TimeoutError as exc:
                raise RequestTimeout(
                    f"no answer from {request.model} within {limit:g} s",
                    provider=reducer.provider,
                ) from exc

        streaming = False  # the server answered 200: a later failure is a broken stream
        try:
            async with contextlib.AsyncExitStack() as stack:
                resp = await first_token(
                    stack.enter_async_context(
                        self._http.stream("POST", "chat/completions", json=request.body())
                    )
                )
                if resp.status_code != 200:
                    raise error_from_response(
                        resp.status_code,
                        await resp.aread(),
                        parse_retry_after(resp.headers.get("Retry-After")),
                    )
                streaming = True
                items = await stack.enter_async_context(
                    contextlib.aclosing(aiter_sse(resp.aiter_bytes()))
                )
                while (item := await first_token(anext(items, None))) is not None:
                    # Read on past [DONE] to the end of the body, so the connection returns
                    # to the pool for the next stage instead of being closed.
                    if isinstance(item, Comment) or reducer.done:
                        yield KeepAlive()
                        continue
                    yield reducer.feed(item.data)
        except httpx.TransportError as exc:
            if reducer.done:
                pass  # everything arrived; only the tail of the body was lost
            elif isinstance(exc, httpx.TimeoutException):
                raise RequestTimeout(
                    self._timed_out(exc, request.model),
                    provider=reducer.provider,
                    partial_text="".join(reducer.parts),
                ) from exc
            elif reducer.parts or reducer.finish_reason:
                raise reducer.stream_error(f"connection lost mid-stream: {exc}") from exc
            elif streaming:
                raise reducer.stream_error(
                    f"the stream broke before any answer: {str(exc) or type(exc).__name__}"
                ) from exc
            else:
                raise self._unreachable(exc) from exc
        yield reducer.finish()

    def _timed_out(self, exc: httpx.TimeoutException, model: str) -> str:
        timeout = self._http.timeout
        if isinstance(exc, httpx.ConnectTimeout) and timeout.connect is not None:
            return f"could not connect to {self._host()} within {timeout.connect:g} s"
        if isinstance(exc, httpx.ReadTimeout) and timeout.read is not None:
            return f"no data from {model} at {self._host()} for {timeout.read:g} s"
        return f"no response from {self._host()} in time ({type(exc).__name__})"

    def _unreachable(self, exc: httpx.TransportError) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"could not reach {self._host()} ({str(exc) or type(exc).__name__}): "
            "check your connection, or run with --simulate"
        )

    def _host(self) -> str:
        return self._http.base_url.host or str(self._http.base_url)
