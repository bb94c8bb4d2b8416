"""Where the catalog comes from: a fresh cache, the network, a stale cache, or the package.

``load_catalog`` tries them in that order. The cache is ``<cache_dir>/models.json`` holding
``{"fetched_at": ISO-8601, "response": <GET /models body as received>}``, written atomically, so
a crash leaves the old file or the new one. A cache that does not parse is treated as missing
and replaced by the next successful fetch. The clock comes in as ``now`` so tests never sleep.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hive.errors import (
    HiveError,
    ProviderUnavailable,
    RequestTimeout,
    StorageError,
    StreamError,
)
from hive.openrouter.catalog import Catalog
from hive.store.files import atomic_write
from hive.store.paths import Paths

CACHE_NAME = "models.json"
DEFAULT_TTL_HOURS = 24.0
Fetch = Callable[[], Awaitable[dict[str, Any]]]


def cache_file(paths: Paths) -> Path:
    return paths.cache_dir / CACHE_NAME


def write_cache(paths: Paths, body: dict[str, Any], fetched_at: datetime) -> None:
    payload = {"fetched_at": fetched_at.isoformat(), "response": body}
    atomic_write(cache_file(paths), json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def read_cache(paths: Paths) -> Catalog | None:
    """The cached catalog (source "cache"), or None when missing, unreadable or corrupt."""
    try:
        payload = json.loads(cache_file(paths).read_bytes())
        fetched_at = datetime.fromisoformat(payload["fetched_at"])
        if fetched_at.tzinfo is None:
            fetched_at = fetched_at.replace(tzinfo=UTC)
        catalog = Catalog.from_response(payload["response"], source="cache", fetched_at=fetched_at)
    except (OSError, ValueError, KeyError, TypeError):  # JSONDecodeError is a ValueError
        return None
    return catalog if len(catalog) else None


async def fetch_catalog(
    paths: Paths, fetch: Fetch, *, now: datetime | None = None, must_cache: bool = True
) -> Catalog:
    """Fetch now and cache the reply. Errors (network, HTTP, a bad body: all HiveErrors)
    propagate, and so does a failed cache write unless ``must_cache`` is False."""
    now = now or datetime.now(UTC)
    body = await fetch()
    try:
        catalog = Catalog.from_response(body, source="live", fetched_at=now)
    except ValueError as exc:
        raise StreamError(f"unexpected /models reply: {exc}") from exc
    if not len(catalog):
        raise StreamError("the /models reply listed no models")
    try:
        write_cache(paths, body, now)
    except StorageError:
        if must_cache:
            raise
    return catalog


async def load_catalog(
    paths: Paths,
    fetch: Fetch | None,
    *,
    ttl_hours: float = DEFAULT_TTL_HOURS,
    refresh: bool = False,
    now: datetime | None = None,
) -> Catalog:
    """A fresh cache; else a fetch (cached); else the stale cache; else the built-in catalog.
    ``refresh`` skips the fresh cache. Never raises for a network or cache problem: the
    catalog's ``problem`` says why it is not live."""
    now = now or datetime.now(UTC)
    cached = read_cache(paths)
    fresh = cached is not None and is_fresh(cached, now, ttl_hours)
    if cached is not None and fresh and not refresh:
        return cached
    problem: Exception | None = None
    if fetch is not None:
        try:
            return await fetch_catalog(paths, fetch, now=now, must_cache=False)
        except HiveError as exc:
            problem = exc
    if cached is not None:
        return dataclasses.replace(
            cached, source="cache" if fresh else "cache (stale)", problem=problem
        )
    return Catalog.builtin(problem)


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
        why = f"could not fetch the catalog ({problem})"
    if catalog.source == "built-in":
        why = "offline and no cache" if why == "offline" else f"{why}, and no cache"
        return f"{why}: using the small built-in catalog ({len(catalog)} models)"
    when = age(catalog.fetched_at, now) if catalog.fetched_at else "earlier"
    return f"{why}: using the catalog cached {when}"
