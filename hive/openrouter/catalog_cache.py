"""Where the catalog comes from: a fresh cache, the network, a stale cache, or the package.

``load_catalog`` tries them in that order. A cache belongs to the server it was fetched from:
one file per base URL, ``<cache_dir>/models.json`` for OpenRouter's default and
``models-<host>-<hash>.json`` for any other, each holding ``{"base_url": ..., "fetched_at":
ISO-8601, "response": <GET /models body as received>}``. One file per server, rather than one
file that each server overwrites, because switching between a local server and OpenRouter is
ordinary use: neither then evicts the other's list, and each still works offline. A file is used
only for the base URL it records (a hand-copied file, a hash collision or a cache from a hive
that did not record one counts as missing), so one server's ids and prices are never shown for
another. Files are written atomically, so a crash leaves the old file or the new one; one that
does not parse is treated as missing and replaced by the next successful fetch.

With no list of its own, OpenRouter falls back to the small built-in catalog; any other server
gets ``Catalog.unavailable`` (the built-in one describes OpenRouter's ids and prices, not that
server's). The clock comes in as ``now`` so tests never sleep.

Where the files live and how one is written come in as a ``CatalogCache`` (the CLI builds it
from hive's folders and the store's atomic write): this layer knows the protocol and the cache's
format, not where hive keeps its files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hive.env import DEFAULT_BASE_URL
from hive.errors import (
    HiveError,
    ProviderUnavailable,
    RequestTimeout,
    StorageError,
    StreamError,
)
from hive.openrouter.catalog import Catalog, host_of, is_openrouter

CACHE_NAME = "models.json"
DEFAULT_TTL_HOURS = 24.0
Fetch = Callable[[], Awaitable[dict[str, Any]]]
Write = Callable[[Path, bytes], None]


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogCache:
    """The folder the model lists are kept in, and how a file is written there: ``write``
    replaces a file atomically (the old one or the new, never half) and raises a StorageError
    when it cannot."""

    directory: Path
    write: Write


def _key(base_url: str) -> str:
    """One spelling per server: ``settings`` strips a trailing slash, so does this."""
    return base_url.strip().rstrip("/")


def cache_file(cache: CatalogCache, base_url: str = DEFAULT_BASE_URL) -> Path:
    """The cache of ``base_url``'s model list: ``models.json`` for OpenRouter's default API,
    ``models-<host>-<8 hex>.json`` for another (the hash tells apart two paths on one host)."""
    key = _key(base_url)
    if key == DEFAULT_BASE_URL:
        return cache.directory / CACHE_NAME
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", host_of(key)).strip("._") or "server"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return cache.directory / f"models-{host[:64]}-{digest}.json"


def write_cache(
    cache: CatalogCache,
    body: dict[str, Any],
    fetched_at: datetime,
    base_url: str = DEFAULT_BASE_URL,
) -> None:
    payload = {"base_url": _key(base_url), "fetched_at": fetched_at.isoformat(), "response": body}
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    cache.write(cache_file(cache, base_url), data)


def read_cache(cache: CatalogCache, base_url: str = DEFAULT_BASE_URL) -> Catalog | None:
    """``base_url``'s cached catalog (source "cache"), or None when missing, unreadable,
    corrupt, or recorded for another server (or for none: a cache from before hive kept the
    server is of unknown origin)."""
    try:
        payload = json.loads(cache_file(cache, base_url).read_bytes())
        if payload["base_url"] != _key(base_url):
            return None
        fetched_at = datetime.fromisoformat(payload["fetched_at"])
        if fetched_at.tzinfo is None:
            fetched_at = fetched_at.replace(tzinfo=UTC)
        catalog = Catalog.from_response(
            payload["response"], source="cache", fetched_at=fetched_at, base_url=_key(base_url)
        )
    except (OSError, ValueError, KeyError, TypeError):  # JSONDecodeError is a ValueError
        return None
    return catalog if len(catalog) else None


def fallback_catalog(base_url: str, problem: Exception | None = None) -> Catalog:
    """What is known with no list from the server: OpenRouter's built-in catalog for
    OpenRouter, nothing for any other server."""
    if is_openrouter(base_url):
        return Catalog.builtin(problem)
    return Catalog.unavailable(_key(base_url), problem)


def offline_catalog(cache: CatalogCache, base_url: str = DEFAULT_BASE_URL) -> Catalog:
    """The best catalog without the network: the server's cache however old, else the
    fallback. For commands that only show or store a profile."""
    cached = read_cache(cache, base_url)
    return cached if cached is not None else fallback_catalog(base_url)


async def fetch_catalog(
    cache: CatalogCache,
    fetch: Fetch,
    *,
    base_url: str = DEFAULT_BASE_URL,
    now: datetime | None = None,
    must_cache: bool = True,
) -> Catalog:
    """Fetch ``base_url``'s list now (``fetch`` must ask that server) and cache it as that
    server's. Errors (network, HTTP, a bad body: all HiveErrors) propagate, and so does a
    failed cache write unless ``must_cache`` is False."""
    now = now or datetime.now(UTC)
    body = await fetch()
    try:
        catalog = Catalog.from_response(
            body, source="live", fetched_at=now, base_url=_key(base_url)
        )
    except ValueError as exc:
        raise StreamError(f"unexpected /models reply: {exc}") from exc
    if not len(catalog):
        raise StreamError("the /models reply listed no models")
    try:
        write_cache(cache, body, now, base_url)
    except StorageError:
        if must_cache:
            raise
    return catalog


async def load_catalog(
    cache: CatalogCache,
    fetch: Fetch | None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    ttl_hours: float = DEFAULT_TTL_HOURS,
    refresh: bool = False,
    now: datetime | None = None,
) -> Catalog:
    """``base_url``'s catalog: a fresh cache; else a fetch (cached); else the stale cache; else
    the fallback (the built-in catalog for OpenRouter, an empty one for another server).
    ``fetch`` must ask ``base_url``. ``refresh`` skips the fresh cache. Never raises for a
    network or cache problem: the catalog's ``problem`` says why it is not live."""
    now = now or datetime.now(UTC)
    cached = read_cache(cache, base_url)
    fresh = cached is not None and is_fresh(cached, now, ttl_hours)
    if cached is not None and fresh and not refresh:
        return cached
    problem: Exception | None = None
    if fetch is not None:
        try:
            return await fetch_catalog(cache, fetch, base_url=base_url, now=now, must_cache=False)
        except HiveError as exc:
            problem = exc
    if cached is not None:
        return dataclasses.replace(
            cached, source="cache" if fresh else "cache (stale)", problem=problem
        )
    return fallback_catalog(base_url, problem)


def is_fresh(catalog: Catalog, now: datetime, ttl_hours: float = DEFAULT_TTL_HOURS) -> bool:
    if catalog.fetched_at is None:
        return False
    age = now - catalog.fetched_at
    return timedelta(0) <= age < timedelta(hours=ttl_hours)


def age(then: datetime, now: datetime) -> str:
    """``3 days ago``, ``5 hours ago``, ``just now``."""
    seconds = int((now - then).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now" if seconds >= 0 else f"at {then:%Y-%m-%d %H:%M} UTC (in the future)"


def provenance_note(catalog: Catalog, now: datetime | None = None) -> str | None:
    """One line saying where the catalog came from, when it is not live or freshly cached."""
    now = now or datetime.now(UTC)
    problem = catalog.problem
    if catalog.source == "live" or (catalog.source == "cache" and problem is None):
        return None
    if problem is None:
        why = "not fetched"
    elif isinstance(problem, ProviderUnavailable | RequestTimeout):
        why = "offline"
    else:
        why = f"could not fetch {catalog.list_name} ({problem})"
    if catalog.source in ("built-in", "none"):
        why = "offline and no cache" if why == "offline" else f"{why}, and no cache"
        if catalog.source == "none":
            return (
                f"{why}: no model ids or prices are known for {host_of(catalog.base_url)} "
                "(the built-in catalog is OpenRouter's)"
            )
        return f"{why}: using the small built-in catalog ({len(catalog)} models)"
    when = age(catalog.fetched_at, now) if catalog.fetched_at else "earlier"
    return f"{why}: using {catalog.list_name} cached {when}"
