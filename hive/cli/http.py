"""The HTTP client every command builds from the settings: one place, so base URL, timeouts
and attribution headers can never differ between `consensus`, `keys test` and `models`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from hive.store.settings import Settings


def http_client(
    settings: Settings, key: str | None, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    from hive.openrouter.client import make_http_client

    return make_http_client(
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        referer=settings.referer,
        title=settings.title,
        transport=transport,
    )
