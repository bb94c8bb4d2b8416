"""``GET /generation?id=…``: what OpenRouter billed for one call, read after the fact.

The reply is ``{"data": {"id", "total_cost", "provider_name", "tokens_prompt", ...}}``
(``generation_documented.json`` in the team's fixtures). Only the fields hive uses are kept, each
parsed leniently: a field missing or of another type is None, never a made-up value. Money is
read exactly: JSON numbers become ``Decimal`` from their literal text, as the chat stream's
``usage.cost`` is, so a cost can be compared with the one hive recorded to the last digit.

A generation appears a moment after its call ends: until then OpenRouter answers 404 in its own
error envelope, as it does for an id made with another key. A 404 without that envelope (a
plain page, a framework's ``{"detail": "Not Found"}``) means the server has no such endpoint: a
catalog or another OpenAI-compatible server behind ``base_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hive.openrouter.catalog import to_decimal
from hive.openrouter.client import OpenRouterClient

# How the client words a 404 that is not OpenRouter's (the server lacks the endpoint).
NO_ENDPOINT = "this server has no /generation endpoint"


@dataclass(frozen=True, slots=True)
class Generation:
    """One call as OpenRouter billed it (fields the reply lacked are None)."""

    id: str | None
    total_cost: Decimal | None  # USD billed for the call
    model: str | None
    provider_name: str | None
    tokens_prompt: int | None
    tokens_completion: int | None
    native_tokens_reasoning: int | None
    native_tokens_cached: int | None
    cache_discount: Decimal | None  # USD; negative when writing the cache cost extra
    upstream_inference_cost: Decimal | None  # USD the provider charged (BYOK)
    is_byok: bool | None
    cancelled: bool | None
    finish_reason: str | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    """A whole non-negative number (``12`` or ``12.0``), else None."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral()):
        return None
    return int(value) if value >= 0 else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_generation(data: dict[str, Any]) -> Generation:
    """The ``data`` member of a ``/generation`` reply, parsed leniently (numbers as Decimal)."""
    return Generation(
        id=_text(data.get("id")),
        total_cost=to_decimal(data.get("total_cost")),
        model=_text(data.get("model")),
        provider_name=_text(data.get("provider_name")),
        tokens_prompt=_count(data.get("tokens_prompt")),
        tokens_completion=_count(data.get("tokens_completion")),
        native_tokens_reasoning=_count(data.get("native_tokens_reasoning")),
        native_tokens_cached=_count(data.get("native_tokens_cached")),
        cache_discount=to_decimal(data.get("cache_discount")),
        upstream_inference_cost=to_decimal(data.get("upstream_inference_cost")),
        is_byok=_flag(data.get("is_byok")),
        cancelled=_flag(data.get("cancelled")),
        finish_reason=_text(data.get("finish_reason")),
    )


async def fetch_generation(client: OpenRouterClient, generation_id: str) -> Generation | None:
    """What OpenRouter billed for ``generation_id``; None when it answers that it has no such
    generation (not yet, or not for this key). Errors are the client's, key masked:
    ``ModelNotFound`` for a server with no /generation endpoint, ``AuthError`` for a rejected
    key, ``Unreachable`` for no connection, ``StreamError`` for a reply that is not
    OpenRouter's JSON, and so on by status."""
    data = await client.generation(generation_id)
    return None if data is None else parse_generation(data)
