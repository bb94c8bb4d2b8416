"""The one OpenRouter client. Its ``httpx.AsyncClient`` is the seam: the real network, the
built-in simulator and the loopback test server all sit behind it, so every mode runs this code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from hive.env import DEFAULT_BASE_URL
from hive.errors import ApiFailure, ProviderUnavailable, RequestTimeout
from hive.openrouter.chat import ChatRequest, ChunkReducer, KeepAlive, StreamItem
from hive.openrouter.error_bodies import error_from_response
from hive.openrouter.sse import Comment, aiter_sse
from hive.redact import redact

REFERER = "https://github.com/hive-consensus/hive"
TITLE = "hive"


def make_http_client(
    *,
    api_key: str | None,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 120.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client per run. The read timeout bounds the silence *between* stream reads,
    so OpenRouter's keep-alive comments keep a slow model alive while a dead stream is not."""
    headers = {
        "HTTP-Referer": REFERER,
        "X-Title": TITLE,
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=15.0),
        transport=transport,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
    )


class OpenRouterClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """Yield text deltas and keep-alives as they arrive, then exactly one Completion.

        Errors leave here with the key masked: their text is the server's, and flows on into
        records, warnings and JSON output.
        """
        try:
            async for item in self._stream(request):
                yield item
        except ApiFailure as exc:
            key = self._http.headers.get("Authorization", "").removeprefix("Bearer ")
            exc.message = redact(exc.message, key)
            exc.args = (exc.message,)
            raise

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        reducer = ChunkReducer()
        try:
            async with self._http.stream("POST", "chat/completions", json=request.body()) as resp:
                if resp.status_code != 200:
                    raise error_from_response(resp.status_code, await resp.aread())
                async for item in aiter_sse(resp.aiter_bytes()):
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
                    f"no response from {self._host()} in time ({type(exc).__name__})",
                    partial_text="".join(reducer.parts),
                ) from exc
            elif reducer.parts or reducer.finish_reason:
                raise reducer.stream_error(f"connection lost mid-stream: {exc}") from exc
            else:
                raise ProviderUnavailable(
                    f"could not reach {self._host()}: {exc or type(exc).__name__}"
                ) from exc
        yield reducer.finish()

    def _host(self) -> str:
        return self._http.base_url.host or str(self._http.base_url)
