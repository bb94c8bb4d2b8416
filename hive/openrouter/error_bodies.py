"""Turning OpenRouter's error envelopes (HTTP bodies and in-band stream chunks) into typed errors.

Seen in real data and the docs: ``{"error": {"message", "code": int, "metadata"?}}``; in-band
``code`` may be a string (``"server_error"``); "availability" errors carry ``error_type`` and
``http_status`` instead of ``code``; ``metadata.raw`` holds the upstream provider's own text.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from hive.errors import (
    ApiFailure,
    AuthError,
    BadRequest,
    CreditsError,
    ModelNotFound,
    ModerationBlocked,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    StreamError,
)
from hive.text import shorten

_BY_STATUS: dict[int, type[ApiFailure]] = {
    400: BadRequest,
    401: AuthError,
    402: CreditsError,
    403: ModerationBlocked,
    404: ModelNotFound,
    408: RequestTimeout,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
    524: RequestTimeout,
}

_BY_ERROR_TYPE: dict[str, type[ApiFailure]] = {
    "rate_limit_exceeded": RateLimited,
    "not_found": ModelNotFound,
    "invalid_request": BadRequest,
    "authentication": AuthError,
    "insufficient_credits": CreditsError,
    "moderation": ModerationBlocked,
    "timeout": RequestTimeout,
}

_HINTS: dict[type[ApiFailure], str] = {
    AuthError: "the API key was rejected (run `hive keys set`, or check OPENROUTER_API_KEY)",
    CreditsError: "insufficient credits (top up at https://openrouter.ai/settings/credits)",
}


def _class_for(status: int | None, code: object, error_type: object) -> type[ApiFailure]:
    if isinstance(error_type, str) and error_type in _BY_ERROR_TYPE:
        return _BY_ERROR_TYPE[error_type]
    for candidate in (code, status):
        if isinstance(candidate, int):
            if candidate in _BY_STATUS:
                return _BY_STATUS[candidate]
            if candidate >= 500:
                return ProviderUnavailable
    return ProviderUnavailable


def parse_body(raw: bytes, *, exact: bool = False) -> Any:
    """Lenient JSON: OpenRouter pads bodies with whitespace; anything unparsable becomes None.
    ``exact``: numbers with a fraction become ``Decimal`` from their literal text (money)."""
    try:
        text = raw.decode("utf-8", errors="replace").strip() or "null"
        return json.loads(text, parse_float=Decimal) if exact else json.loads(text)
    except (ValueError, RecursionError):
        return None


def _metadata(error: dict[str, Any]) -> dict[str, Any]:
    metadata = error.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _describe(error: dict[str, Any]) -> tuple[str, str | None]:
    message = str(error.get("message") or "").strip() or "no message"
    metadata = _metadata(error)
    provider = metadata.get("provider_name")
    raw = metadata.get("raw")
    if isinstance(raw, str) and raw.strip():
        upstream = parse_body(raw.encode("utf-8", "replace"))
        inner = upstream.get("error") if isinstance(upstream, dict) else None
        detail = inner.get("message") if isinstance(inner, dict) else None
        message = f"{message}: {detail if isinstance(detail, str) else raw.strip()}"
    return message, provider if isinstance(provider, str) else None


# 5xx statuses that say the server cannot do this at all, not that it failed this once.
NEVER_RETRIED = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported


def error_from_response(
    status: int, raw: bytes, retry_after: float | None = None, *, location: str | None = None
) -> ApiFailure:
    """The typed error for a non-200 reply. ``retry_after`` is the parsed Retry-After header;
    an availability error's own ``retry_after`` and ``retryable`` take precedence. A redirect
    (``location``: where to) is not followed — the key would go along to wherever it points —
    and not retried: the same request is redirected the same way."""
    if 300 <= status < 400:
        where = f" to {shorten(location, 120)}" if location else ""
        return ProviderUnavailable(
            f"the server redirected the request{where} (HTTP {status}); hive does not follow "
            "redirects: set base_url to the API's own address",
            status=status,
            retryable=False,
        )
    body = parse_body(raw)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = shorten(raw.decode("utf-8", errors="replace"), 200) or "empty body"
        cls = _class_for(status, None, None)
        return cls(
            _with_hint(cls, f"HTTP {status}: {text}"), status=status, retry_after=retry_after,
            retryable=False if status in NEVER_RETRIED else None,
        )  # fmt: skip
    code = error.get("code")
    cls = _class_for(error.get("http_status", status), code, error.get("error_type"))
    message, provider = _describe(error)
    if cls is ModerationBlocked:
        message = _moderation(error) or message
    found = error.get("availability")
    availability: dict[str, Any] = found if isinstance(found, dict) else {}
    wait = availability.get("retry_after")
    retryable = availability.get("retryable")
    return cls(
        _with_hint(cls, f"{message} (HTTP {status})"),
        status=status,
        code=code,
        provider=provider,
        retry_after=_seconds(wait) if _seconds(wait) is not None else retry_after,
        retryable=(
            retryable if isinstance(retryable, bool)
            else False if status in NEVER_RETRIED else None
        ),
    )  # fmt: skip


def _seconds(value: object) -> float | None:
    """A usable wait in seconds from the server, or None (never negative, never infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _moderation(error: dict[str, Any]) -> str | None:
    """OpenRouter's moderation metadata: who flagged what, and why."""
    metadata = _metadata(error)
    reasons = metadata.get("reasons")
    flagged = metadata.get("flagged_input")
    if not reasons and not flagged:
        return None
    who = metadata.get("provider_name") or "the provider"
    why = ", ".join(str(r) for r in reasons) if isinstance(reasons, list) and reasons else "policy"
    text = f"blocked by {who}'s moderation ({why})"
    if isinstance(flagged, str) and flagged.strip():
        text += f'; flagged input: "{shorten(flagged, 80)}"'
    return text


def error_from_chunk(error: object, provider: str | None) -> ApiFailure:
    """The typed error for an ``error`` object delivered inside a 200 stream."""
    if not isinstance(error, dict):
        return StreamError(
            f"stream reported an error: {shorten(repr(error), 270)}", provider=provider
        )
    code = error.get("code")
    error_type = error.get("error_type") or _metadata(error).get("error_type")
    cls = _class_for(None, code, error_type)
    if cls is BadRequest or cls is ProviderUnavailable:
        cls = StreamError  # a failed stream, not a rejected request
    message, named_provider = _describe(error)
    return cls(
        f"{message} (in-stream error {code})", code=code, provider=named_provider or provider
    )


def _with_hint(cls: type[ApiFailure], message: str) -> str:
    hint = _HINTS.get(cls)
    return f"{hint}: {message}" if hint else message
