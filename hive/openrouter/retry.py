"""When a failed call is worth another try, and how long to wait first.

Transient: connection failures, timeouts (408, 524, client-side), 429, 500, 502, 503, 529,
OpenRouter availability errors it marks retryable, and broken streams. Never retried: 400, 401,
402, 403 (moderation), 404 (model not found), a redirect, a host name that does not resolve —
the same request would fail the same way. The last two are not passed to a fallback model
either: every model sits behind the same address.
Waits use exponential backoff with full jitter, unless the server said how long (``Retry-After``
in seconds or as an HTTP date, or OpenRouter's ``retry_after``), always capped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from hive.env import DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_BASE_DELAY, DEFAULT_RETRY_MAX_WAIT
from hive.errors import (
    ApiFailure,
    AuthError,
    ModelNotFound,
    ModerationBlocked,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    StreamError,
)


def is_transient(exc: ApiFailure) -> bool:
    if isinstance(exc, AuthError):
        return False
    if exc.retryable is not None:  # the server said so (availability errors)
        return exc.retryable
    return isinstance(exc, RateLimited | ProviderUnavailable | RequestTimeout | StreamError)


def worth_a_fallback(exc: ApiFailure) -> bool:
    """Another model may succeed where this one cannot: gone, refused, or failing repeatedly.
    Not so for a host that does not resolve or a redirect (not transient): every model is
    behind the same address."""
    return isinstance(exc, ModelNotFound | ModerationBlocked) or is_transient(exc)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP date; None if absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_RETRY_ATTEMPTS  # per model, first try included
    base_delay: float = DEFAULT_RETRY_BASE_DELAY  # seconds; doubles each attempt before jitter
    max_delay: float = 30.0  # cap on any single wait, server-requested ones included
    max_total_wait: float = DEFAULT_RETRY_MAX_WAIT  # cap on all waits of one call, across models

    def delay(self, attempt: int, exc: ApiFailure, rng: random.Random) -> float:
        """The wait before attempt ``attempt + 1``, after ``exc`` ended attempt ``attempt``."""
        if exc.retry_after is not None:
            return min(exc.retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)  # full jitter: spreads out clients that failed together
