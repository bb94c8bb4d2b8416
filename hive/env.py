"""Constants and the key variables hive reads from the environment (all documented in the
README). Settings' own environment overrides live with the settings."""

from __future__ import annotations

import os

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
# Attribution headers OpenRouter shows for apps (settings `referer` and `title` override them).
DEFAULT_REFERER = "https://github.com/hive-consensus/hive"
DEFAULT_TITLE = "hive"
KEY_VARIABLES = ("OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY")

# Timeouts, in seconds (settings `connect_timeout`, `request_timeout`, `first_token_timeout`).
DEFAULT_CONNECT_TIMEOUT = 10.0  # to open the connection (TCP and TLS)
DEFAULT_REQUEST_TIMEOUT = 120.0  # of silence on a stream; a keep-alive comment ends a silence
DEFAULT_FIRST_TOKEN_TIMEOUT = 180.0  # from sending a request to its first answer text
# Client-side rate limits (settings `max_concurrent_requests`, `requests_per_minute`,
# `free_requests_per_minute`); 0 means no limit.
DEFAULT_MAX_CONCURRENT_REQUESTS = 8
DEFAULT_REQUESTS_PER_MINUTE = 0
# OpenRouter's documented limit for ":free" model variants: 20 requests per minute.
DEFAULT_FREE_REQUESTS_PER_MINUTE = 20
# Retries of a transient failure (settings `retry_attempts`, `retry_base_delay`,
# `retry_max_wait`; the retry policy's own defaults too).
DEFAULT_RETRY_ATTEMPTS = 3  # tries per model, the first included
DEFAULT_RETRY_BASE_DELAY = 1.0  # seconds before the second try; doubles, jittered
DEFAULT_RETRY_MAX_WAIT = 60.0  # seconds one call may wait between tries in all


def api_key() -> tuple[str, str] | None:
    """``(variable, key)`` from the environment; ``OPEN_ROUTER_API_KEY`` is an accepted alias."""
    for name in KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None
