"""API keys: stored in ``keys.toml`` (mode 0600, folder 0700), never printed unmasked.

Precedence when hive needs a key: a ``--api-key`` flag, then the environment
(``OPENROUTER_API_KEY``, alias ``OPEN_ROUTER_API_KEY``), then the stored key. With none,
hive runs in simulation mode.

A key goes into an HTTP header, so it must be printable ASCII without spaces. One with a line
break, a control or non-ASCII character or a space inside is refused here — where every
command gets its key — in one masked line (exit 2), before any request: sent, it would be
rejected by the HTTP library as a network error, retried, and its tail echoed in error texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hive import env
from hive.errors import ConfigError, UsageError
from hive.redact import is_clean, mask_key
from hive.store.files import locked, read_toml, write_toml
from hive.store.paths import Paths

PROVIDERS = ("openrouter",)
KEY_FILE_MODE = 0o600
# sk-or-v1-<64 hex> today; accept any version and a generous body so a format change is not fatal.
_SHAPE = re.compile(r"^sk-or-(v\d+-)?[A-Za-z0-9_-]{16,}$")


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    value: str
    source: str  # where it came from, for `hive keys show` and messages


def check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise UsageError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")


def key_problem(key: str) -> str | None:
    """What makes ``key`` unusable in an HTTP header (say so, never show it), or None."""
    if is_clean(key):
        return None
    for place, char in enumerate(key, start=1):
        if char in "\r\n":
            what = "a line break"
        elif char.isspace():
            what = "a space" if char == " " else "whitespace"
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            what = "a control character"
        elif ord(char) > 0x7F:
            what = "a non-ASCII character"
        else:
            continue
        return f"contains {what} (character {place} of {len(key)})"
    return None


def _refusal(key: str, source: str, problem: str, what_now: str) -> str:
    return f"the key {mask_key(key)} from {source} {problem}; {what_now}"


def check_shape(key: str) -> str:
    key = key.strip()
    if problem := key_problem(key):
        raise UsageError(_refusal(key, "the input", problem, "nothing stored"))
    if not _SHAPE.match(key):
        raise UsageError("that does not look like an OpenRouter key (sk-or-v1-…); nothing stored")
    return key


def _read(paths: Paths) -> dict[str, Any]:
    """The keys file, checked: one ``[provider]`` table with ``api_key = "…"`` each. A file of
    another shape is reported, never overwritten."""
    data = read_toml(paths.keys_file)
    for provider, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("api_key"), str):
            raise ConfigError(f'{paths.keys_file}: [{provider}] must hold api_key = "…"')
    return data


def stored_key(paths: Paths, provider: str = "openrouter") -> str | None:
    entry = _read(paths).get(provider)
    value = str(entry["api_key"]).strip() if entry is not None else ""
    return value or None


def store_key(paths: Paths, key: str, provider: str = "openrouter") -> None:
    with locked(paths.keys_file):
        data = _read(paths)
        data[provider] = {"api_key": key}
        write_toml(paths.keys_file, data, mode=KEY_FILE_MODE)


def remove_key(paths: Paths, provider: str = "openrouter") -> bool:
    with locked(paths.keys_file):
        data = _read(paths)
        if provider not in data:
            return False
        del data[provider]
        write_toml(paths.keys_file, data, mode=KEY_FILE_MODE)
    return True


def resolve_key(paths: Paths, flag: str | None = None) -> ResolvedKey | None:
    """The key hive would use, refused (exit 2, masked) if it cannot be sent; see above."""
    resolved = _find_key(paths, flag)
    if resolved is None or (problem := key_problem(resolved.value)) is None:
        return resolved
    if resolved.source.startswith("file"):  # a keys file hive refuses to use
        what_now = "nothing was sent; store it again with `hive keys set`"
        raise ConfigError(_refusal(resolved.value, resolved.source, problem, what_now))
    fix = "pass it again without it" if resolved.source.startswith("--") else "fix the variable"
    raise UsageError(_refusal(resolved.value, resolved.source, problem, f"nothing was sent; {fix}"))


def _find_key(paths: Paths, flag: str | None) -> ResolvedKey | None:
    if flag:
        return ResolvedKey(flag.strip(), "--api-key flag")
    found = env.api_key()
    if found:
        return ResolvedKey(found[1], f"environment ({found[0]})")
    value = stored_key(paths)
    return ResolvedKey(value, f"file ({paths.keys_file})") if value else None
