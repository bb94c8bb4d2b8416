"""Keeping API keys out of everything a user or a log can see."""

from __future__ import annotations

import json
import re

# OpenRouter keys look like sk-or-v1-<64 hex>; catch that shape even when we were not told the key.
_KEY_SHAPE = re.compile(r"sk-or-[A-Za-z0-9_-]{6,}")
# What a usable key is made of: printable ASCII, no spaces. Anything else (a line break, a
# control or non-ASCII character) splits a key into pieces that error texts show apart.
_KEY_CHAR = re.compile(r"[!-~]")
_NOT_KEY_CHARS = re.compile(r"[^!-~]+")
# The shortest piece of a broken key that is redacted wherever it appears on its own.
_MIN_PIECE = 4


def is_clean(key: str) -> bool:
    """Whether ``key`` is printable ASCII without spaces, as an HTTP header value needs."""
    return all(_KEY_CHAR.fullmatch(ch) for ch in key)


def mask_key(key: str) -> str:
    """``sk-or-v1-…abcd``: enough to recognise a key, never enough to use it.

    A key with a line break, control or non-ASCII character shows no more than its prefix: its
    last characters may be the start of something else pasted with it, and could break the line
    they are printed on."""
    if not is_clean(key):
        return "sk-or-v1-…" if key.startswith("sk-or-v1-") else "…"
    if len(key) <= 12:
        return "…" + key[-2:] if len(key) > 4 else "…"
    prefix = "sk-or-v1-" if key.startswith("sk-or-v1-") else key[:3]
    return f"{prefix}…{key[-4:]}"


def _forms(secret: str) -> list[str]:
    """Every way ``secret`` may appear in a text, longest first: as itself, and — when it holds
    characters an error message escapes or splits on — escaped as Python and JSON write it,
    and each of its pieces between such characters."""
    forms = {secret}
    if not is_clean(secret):
        raw = secret.encode("utf-8", "surrogateescape")
        escaped = (repr(secret), repr(raw)[1:], json.dumps(secret))
        forms |= {form[1:-1] for form in escaped}
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        forms |= {p for p in _NOT_KEY_CHARS.split(secret) if len(p) >= _MIN_PIECE}
    return sorted(forms, key=len, reverse=True)


def redact(text: str, *secrets: str | None) -> str:
    """Replace each given secret, and anything shaped like an OpenRouter key, by its mask."""
    for secret in secrets:
        if secret:
            mask = mask_key(secret)
            for form in _forms(secret):
                text = text.replace(form, mask)
    return _KEY_SHAPE.sub(lambda m: mask_key(m.group(0)), text)
