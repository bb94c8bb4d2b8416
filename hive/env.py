"""The environment variables hive reads, in one place (documented in the README)."""

from __future__ import annotations

import os

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
KEY_VARIABLES = ("OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY")


def api_key() -> str | None:
    """The key from the environment; ``OPEN_ROUTER_API_KEY`` is accepted as an alias."""
    for name in KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def base_url() -> str:
    return os.environ.get("OPENROUTER_BASE_URL", "").strip() or DEFAULT_BASE_URL
