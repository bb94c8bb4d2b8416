"""API keys: stored in ``keys.toml`` (mode 0600, folder 0700), never printed unmasked.

Precedence when hive needs a key: a ``--api-key`` flag, then the environment
(``OPENROUTER_API_KEY``, alias ``OPEN_ROUTER_API_KEY``), then the stored key. With none,
hive runs in simulation mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hive import env
from hive.errors import ConfigError, UsageError
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


def check_shape(key: str) -> str:
    key = key.strip()
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
    if entry is None or not entry["api_key"]:
        return None
    return str(entry["api_key"])


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
    if flag:
        return ResolvedKey(flag.strip(), "--api-key flag")
    found = env.api_key()
    if found:
        return ResolvedKey(found[1], f"environment ({found[0]})")
    value = stored_key(paths)
    return ResolvedKey(value, f"file ({paths.keys_file})") if value else None
