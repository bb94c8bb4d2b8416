"""OpenRouter's streaming wire protocol, simulated, so hive works (and can be tried) without a key.

``SimulatorTransport`` plugs into httpx where the network would be, so simulation runs the real
client, SSE reader and reducer. ``sse_events`` is the byte-level generator the loopback test
server shares. Replies are deterministic for the same request, and say plainly that no model
was asked. The layout follows the 2026 captures: a keep-alive comment, a role chunk, content
chunks, a finish chunk, the usage chunk (one empty-delta choice, finish reason repeated), then
``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from hive.openrouter.catalog import ModelPrice, builtin_prices
from hive.openrouter.tokens import approx_tokens, message_tokens
from hive.text import shorten

PROVIDER = "hive-simulator"

_QUESTION = re.compile(r"<question>\s*(.*?)\s*</question>", re.S)
_ANGLES = (
    "the core definition and why it matters",
    "a concrete example a reader can try",
    "the trade-offs and when another choice is better",
    "common mistakes and how to avoid them",
    "what has changed recently and what to double-check",
    "how it compares with the closest alternatives",
)


def _question(messages: list[dict[str, Any]]) -> str:
    user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = str(user.get("content", ""))
    found = _QUESTION.search(content)
    return (found.group(1) if found else content).strip()


def reply_text(body: dict[str, Any]) -> str:
    """The deterministic simulated reply to a chat request body."""
    model = str(body.get("model", "unknown/model"))
    messages = body.get("messages") or []
    question = _question(messages)
    digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).digest()
    angles = [_ANGLES[(digest[i] + i) % len(_ANGLES)] for i in range(3)]
    angles = list(dict.fromkeys(angles))
    short_q = shorten(question, 160)
    lines = [
        f"**Simulated reply** from `{model}`: no model was asked. hive is in simulation mode "
        "(no API key set, or --simulate), so a built-in simulator of OpenRouter's streaming "
        "API answered.",
        "",
        f"> {short_q}" if short_q else "> (empty question)",
        "",
        "With a key set (`export OPENROUTER_API_KEY=...`), this reply would cover:",
        "",
        *[f"- {angle}" for angle in angles],
        "",
        "Everything else you see (streaming, stages, token counts and costs priced from the "
        "model's real per-token rates) works exactly as in a real run.",
    ]
    system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    tag = re.search(r"<(verdict)>", system)
    if tag:
        confidence = 0.5 + digest[7] % 45 / 100  # simulated, and labelled so in every output
        verdict = {"confidence": confidence, "issues": ["simulated review: nothing was checked"]}
        lines += ["", f"<{tag.group(1)}>{json.dumps(verdict)}</{tag.group(1)}>"]
    return "\n".join(lines)


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
        usage += f',"cost":{_decimal_literal(price.cost(prompt_tokens, completion_tokens))}'
    usage += ',"is_byok":false'

    events = [b": OPENROUTER PROCESSING\n\n", chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": p, "role": "assistant"}, None) for p in pieces]
    events.append(chunk({"content": "", "role": "assistant"}, finish))
    events.append(chunk({"content": "", "role": "assistant"}, finish, f',"usage":{{{usage}}}'))
    events.append(b"data: [DONE]\n\n")
    return events


def _decimal_literal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


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
