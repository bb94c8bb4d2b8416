"""Constants and the key variables hive reads from the environment (all documented in the
README). Settings' own environment overrides live with the settings."""

from __future__ import annotations

import os

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
# Attribution headers OpenRouter shows for apps (settings `referer` and `title` override them).
DEFAULT_REFERER = "https://github.com/hive-consensus/hive"
DEFAULT_TITLE = "hive"
KEY_VARIABLES = ("OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY")


def api_key() -> tuple[str, str] | None:
    """``(variable, key)`` from the environment; ``OPEN_ROUTER_API_KEY`` is an accepted alias."""
    for name in KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None
