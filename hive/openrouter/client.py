"""The one OpenRouter client. Its ``httpx.AsyncClient`` is the seam: the real network, the
built-in simulator and the loopback test server all sit behind it, so every mode runs this code.

Three clocks bound a chat call: ``connect_timeout`` to open the connection, the idle
``timeout`` between any two reads (OpenRouter's ``: OPENROUTER PROCESSING`` keep-alive comments
reset it, so a slow model stays alive while a dead stream does not), and
``first_token_timeout`` from sending the request to the model's first output, keep-alives or
not, so a model that only ever says it is processing is given up on. Reasoning text is output:
a thinking model streaming its reasoning is answering, and is not cut for it. A
``RateLimiter`` decides when a call may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
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
from hive.errors import (
    ApiFailure,
    HostNotFound,
    ModelNotFound,
    ProviderUnavailable,
    RequestTimeout,
    StreamError,
    Unreachable,
)
from hive.openrouter.chat import ChatRequest, ChunkReducer, Completion, KeepAlive, StreamItem
from hive.openrouter.error_bodies import error_from_response, parse_body
from hive.openrouter.ratelimit import RateLimiter
from hive.openrouter.retry import parse_retry_after
from hive.openrouter.sse import Comment, aiter_sse
from hive.redact import redact
from hive.text import shorten

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
        """``first_token_timeout``: seconds from sending a chat request to the model's first
        output, answer or reasoning text (None: no limit). ``limiter``: when chat calls may
        start (None: at once)."""
        self._http = http
        self.first_token_timeout = first_token_timeout
        self.limiter = limiter

    async def _get(
        self,
        path: str,
        expect: type,
        what: str = "",
        *,
        params: dict[str, str] | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        """``GET path`` as OpenRouter answers it: ``{"data": <expect>, ...}``, else a typed error
        with the key masked. A 404, or a reply of another shape (an HTML page, say), names the
        URL asked and the status answered: the server is likely not OpenRouter, and lacks
        ``what`` (default: "<path> endpoint"). ``exact``: money in the reply is read as
        ``Decimal`` from its literal text, never through a float."""
        try:
            resp = await self._http.get(path, params=params, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"no response from {self._host()} in time") from exc
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except httpx.RequestError as exc:  # a body that would not decode, say
            raise self._redacted(
                StreamError(f"unreadable reply from {self._host()}/{path}: {exc}")
            ) from exc
        asked = f"GET {resp.request.url} answered {resp.status_code}"
        if resp.status_code != 200:
            error = error_from_response(resp.status_code, resp.content)
            if resp.status_code == 404:
                error.message = f"{asked}: this server has no {what or path + ' endpoint'}"
            raise self._redacted(error)
        body = parse_body(resp.content, exact=exact)
        if not isinstance(body, dict) or not isinstance(body.get("data"), expect):
            kind = resp.headers.get("content-type", "").split(";")[0].strip() or "no content type"
            raise self._redacted(
                StreamError(
                    f"unexpected reply: {asked} ({kind}), not OpenRouter's JSON: "
                    f"{shorten(resp.text, 120)!r}"
                )
            )
        return body

    async def key_info(self) -> KeyInfo:
        data: dict[str, Any] = (await self._get("key", dict, "key endpoint", exact=True))["data"]

        def money(name: str) -> Decimal | None:
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return Decimal(value)
            return value if isinstance(value, Decimal) and value.is_finite() else None

        label, free, expires = data.get("label"), data.get("is_free_tier"), data.get("expires_at")
        return KeyInfo(
            label=label if isinstance(label, str) else None,
            usage=money("usage"),
            limit=money("limit"),
            limit_remaining=money("limit_remaining"),
            is_free_tier=free if isinstance(free, bool) else None,
            expires_at=expires if isinstance(expires, str) else None,
        )

    async def generation(self, generation_id: str) -> dict[str, Any] | None:
        """``GET /generation?id=…``: the ``data`` of what OpenRouter billed for one call, money
        exact; None when OpenRouter answers (a 404 in its own error envelope) that it has no
        such generation, not yet or not for this key. A 404 of any other kind means the server
        has no such endpoint: ``ModelNotFound`` says so, as ``_get`` words it."""
        try:
            body = await self._get(
                "generation", dict, "/generation endpoint", params={"id": generation_id},
                exact=True,
            )  # fmt: skip
        except ModelNotFound as exc:
            if exc.status == 404 and exc.code is not None:
                return None
            raise
        data: dict[str, Any] = body["data"]
        return data

    async def list_models(self) -> dict[str, Any]:
        """``GET /models``: the catalog as OpenRouter sent it (``{"data": [...], ...}``), parsed
        from JSON but otherwise untouched, so prices stay the exact strings they arrived as.
        The endpoint is public; the key goes along when there is one."""
        return await self._get("models", list)

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield text and reasoning deltas and keep-alives as they arrive, then exactly one
        Completion.

        Errors leave here with the key masked: their text is the server's, and flows on into
        records, warnings and JSON output.
        """
        try:
            async with (
                self.limiter.slot(request.model) if self.limiter else contextlib.nullcontext()
            ):
                async for item in self._stream(request):
                    if isinstance(item, Completion) and item.warnings:
                        item = dataclasses.replace(
                            item, warnings=tuple(map(self._mask, item.warnings))
                        )
                    yield item
        except ApiFailure as exc:
            self._redacted(exc)
            raise

    def _mask(self, text: str) -> str:
        key = self._http.headers.get("Authorization", "").removeprefix("Bearer ")
        return redact(text, key)

    def _redacted(self, exc: ApiFailure) -> ApiFailure:
        exc.message = self._mask(exc.message)
        exc.args = (exc.message,)
        exc.warnings = tuple(map(self._mask, exc.warnings))
        return exc

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        reducer = ChunkReducer(clean=self._mask)
        limit = self.first_token_timeout
        deadline = None if limit is None else asyncio.get_running_loop().time() + limit

        async def first_token(step: Awaitable[T]) -> T:
            """Await ``step``, but not past the deadline while the model has written nothing
            (answer or reasoning text: keep-alives do not count)."""
            if deadline is None or reducer.began:
                return await step
            try:
                async with asyncio.timeout_at(deadline):
                    return await step
            except TimeoutError as exc:
                raise reducer.failure(
                    RequestTimeout, f"no answer from {request.model} within {limit:g} s"
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
                        location=resp.headers.get("Location"),
                    )
                streaming = reducer.accepted = True
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
        except httpx.RequestError as exc:
            if not reducer.done and not reducer.model_finished:
                raise self._failed(exc, reducer, request.model, streaming) from exc
            if not reducer.done:  # the answer was whole (and billed): a retry would pay twice
                reducer.warnings.append(
                    f"the stream broke after the model finished ({_reason(exc)}); "
                    "the answer is complete"
                    + ("" if reducer.usage else ", but its usage and cost were not reported")
                )
            # after [DONE], only the tail of the body was lost
        yield reducer.finish()

    def _failed(
        self, exc: httpx.RequestError, reducer: ChunkReducer, model: str, streaming: bool
    ) -> ApiFailure:
        """hive's typed error for anything httpx raised, carrying whatever the stream delivered
        and billed before it (usage can arrive before a connection breaks)."""
        if isinstance(exc, httpx.TimeoutException):
            return reducer.failure(RequestTimeout, self._timed_out(exc, model))
        if isinstance(exc, httpx.TooManyRedirects):
            return self._redirected(exc)
        if isinstance(exc, httpx.DecodingError):  # e.g. a body that says gzip but is not
            return reducer.stream_error(
                f"the reply from {self._host()} could not be decoded ({_reason(exc)})"
            )
        if reducer.parts or reducer.finish_reason:
            return reducer.stream_error(f"connection lost mid-stream: {_reason(exc)}")
        if streaming:
            return reducer.stream_error(f"the stream broke before any answer: {_reason(exc)}")
        if isinstance(exc, httpx.TransportError):
            return self._unreachable(exc)
        return reducer.stream_error(f"unreadable reply from {self._host()}: {_reason(exc)}")

    def _timed_out(self, exc: httpx.TimeoutException, model: str) -> str:
        timeout = self._http.timeout
        if isinstance(exc, httpx.ConnectTimeout) and timeout.connect is not None:
            return f"could not connect to {self._host()} within {timeout.connect:g} s"
        if isinstance(exc, httpx.ReadTimeout) and timeout.read is not None:
            return f"no data from {model} at {self._host()} for {timeout.read:g} s"
        return f"no response from {self._host()} in time ({type(exc).__name__})"

    def _unreachable(self, exc: httpx.TransportError) -> ProviderUnavailable:
        """A transport failure before any reply. A name that does not resolve fails at once
        (no retry, no fallback: every model is on that host); a refused connection may be
        retried; a connection the server dropped was reached, so it does not say "could not
        reach". Which command to run instead is for the CLI command to say, not the client."""
        host, reason = self._host(), _reason(exc)
        err: ProviderUnavailable
        if _dns_failure(exc):
            err = HostNotFound(
                f"cannot find the host {host} ({reason}): check the base_url setting "
                "(OPENROUTER_BASE_URL) and your network"
            )
        elif isinstance(exc, httpx.ConnectError | httpx.ProxyError | httpx.UnsupportedProtocol):
            err = Unreachable(f"could not reach {host} ({reason}): check your connection")
        else:  # a read, write or protocol failure: the server was reached, then let go
            err = ProviderUnavailable(f"the connection to {host} was reset ({reason})")
        self._redacted(err)
        return err

    def _redirected(self, exc: httpx.TooManyRedirects) -> ProviderUnavailable:
        """Only a client told to follow redirects can get here; a loop never ends by retrying."""
        err = ProviderUnavailable(
            f"{self._host()} redirected the request in a loop ({_reason(exc)}): "
            "set base_url to the API's own address",
            retryable=False,
        )
        self._redacted(err)
        return err

    def _host(self) -> str:
        return self._http.base_url.host or str(self._http.base_url)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (httpx wraps httpcore wraps anyio wraps the OS error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    # httpcore keeps the OS error as an argument, not as a cause
    chain += [arg for e in list(chain) for arg in e.args if isinstance(arg, BaseException)]
    return chain


def _dns_failure(exc: BaseException) -> bool:
    """ "Name or service not known", "nodename nor servname provided", "Temporary failure in
    name resolution": the resolver's own error, however deep httpx wrapped it."""
    return any(isinstance(e, socket.gaierror) for e in _causes(exc))


def _reason(exc: BaseException) -> str:
    """What went wrong, in the operating system's words when it said ("Connection reset by
    peer"), else the library's message, else the exception's name."""
    for e in _causes(exc):
        if isinstance(e, socket.gaierror) and e.strerror:
            return e.strerror  # the resolver's words: its codes are not errno values
        if isinstance(e, OSError) and isinstance(e.errno, int) and e.errno > 0:
            return os.strerror(e.errno)  # asyncio's "Connect call failed (…)" says less
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
    return shorten(str(exc), 120) or type(exc).__name__
