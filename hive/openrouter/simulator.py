"""OpenRouter's streaming wire protocol, simulated, so hive works (and can be tried) without a key.

``SimulatorTransport`` plugs into httpx where the network would be, so simulation runs the real
client, SSE reader and reducer. ``sse_events`` is the byte-level generator the loopback test
server shares. What the replies say is ``simulated_replies.py``: deterministic for the same
request, and plain that no model was asked. The layout follows the 2026 captures: a keep-alive
comment, a role chunk, content chunks, a finish chunk, the usage chunk (one empty-delta choice,
finish reason repeated), then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hive.money import trimmed_money_text
from hive.openrouter.catalog import ModelPrice, builtin_prices
from hive.openrouter.simulated_replies import reply_text
from hive.openrouter.tokens import approx_tokens, message_tokens

PROVIDER = "hive-simulator"


def _pieces(text: str) -> list[str]:
    """Split into word-sized deltas, the way real streams arrive."""
    return re.findall(r"\S+\s*|\s+", text)


def sse_events(body: dict[str, Any], prices: dict[str, ModelPrice] | None = None) -> list[bytes]:
    """Every SSE event (bytes, blank-line terminated) OpenRouter would send for this request."""
    prices = builtin_prices() if prices is None else prices
    model = str(body.get("model", "unknown/model"))
    text = reply_text(body)
    gen_id = "gen-sim-" + hashlib.sha256(text.encode()).hexdigest()[:20]
    max_tokens = body.get("max_tokens")
    pieces = _pieces(text)
    finish = "stop"
    if isinstance(max_tokens, int) and approx_tokens(text) > max_tokens:
        pieces = pieces[: max(1, max_tokens)]
        finish = "length"
    sent = "".join(pieces)

    def chunk(delta: dict[str, str], finish_reason: str | None, extra: str = "") -> bytes:
        head = json.dumps(
            {
                "id": gen_id,
                "object": "chat.completion.chunk",
                "created": 1786465029,
                "model": model,
                "provider": PROVIDER,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "finish_reason": finish_reason,
                        "native_finish_reason": finish_reason,
                    }
                ],
            },
            separators=(",", ":"),
        )
        return f"data: {head[:-1]}{extra}}}\n\n".encode()

    prompt_tokens = message_tokens(body.get("messages", []))
    completion_tokens = approx_tokens(sent)
    usage = (
        f'"prompt_tokens":{prompt_tokens},"completion_tokens":{completion_tokens},'
        f'"total_tokens":{prompt_tokens + completion_tokens}'
    )
    price = prices.get(model)
    if price is not None and price.known:
        # Written as an exact decimal literal, as OpenRouter's own JSON numbers are.
        usage += f',"cost":{trimmed_money_text(price.cost(prompt_tokens, completion_tokens))}'
    usage += ',"is_byok":false'

    events = [b": OPENROUTER PROCESSING\n\n", chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": p, "role": "assistant"}, None) for p in pieces]
    events.append(chunk({"content": "", "role": "assistant"}, finish))
    events.append(chunk({"content": "", "role": "assistant"}, finish, f',"usage":{{{usage}}}'))
    events.append(b"data: [DONE]\n\n")
    return events


class _PacedStream(httpx.AsyncByteStream):
    def __init__(self, events: list[bytes], pace: float) -> None:
        self._events = events
        self._pace = pace

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # A quarter of the pace before the first token, the rest spread across the deltas.
        step = self._pace * 0.75 / max(1, len(self._events))
        if self._pace:
            await asyncio.sleep(self._pace * 0.25)
        for event in self._events:
            yield event
            if step:
                await asyncio.sleep(step)


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Answers ``POST …/chat/completions`` as OpenRouter would; ``pace`` is seconds per call."""

    def __init__(self, *, pace: float = 0.0, prices: dict[str, ModelPrice] | None = None) -> None:
        self._pace = pace
        self._prices = prices

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})
        try:
            body = json.loads(await request.aread())
        except ValueError:
            return httpx.Response(
                400, json={"error": {"code": 400, "message": "Invalid JSON body"}}
            )
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"},
            stream=_PacedStream(sse_events(body, self._prices), self._pace),
        )
