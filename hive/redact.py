"""Keeping API keys out of everything a user or a log can see."""

from __future__ import annotations

import re

# OpenRouter keys look like sk-or-v1-<64 hex>; catch that shape even when we were not told the key.
_KEY_SHAPE = re.compile(r"sk-or-[A-Za-z0-9_-]{6,}")


def mask_key(key: str) -> str:
    """``sk-or-v1-…abcd``: enough to recognise a key, never enough to use it."""
    if len(key) <= 12:
        return "…" + key[-2:] if len(key) > 4 else "…"
    prefix = "sk-or-v1-" if key.startswith("sk-or-v1-") else key[:3]
    return f"{prefix}…{key[-4:]}"


def redact(text: str, *secrets: str | None) -> str:
    """Replace each given secret, and anything shaped like an OpenRouter key, by its mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return _KEY_SHAPE.sub(lambda m: mask_key(m.group(0)), text)
