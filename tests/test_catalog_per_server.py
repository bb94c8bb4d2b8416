"""The catalog cache belongs to its server (issue 8, item 16).

A ``models.json`` fetched from a local server was once shown for OpenRouter for a day, and every
OpenRouter model was flagged unknown. Now each base URL has its own cache file recording where
it came from, a file is only ever read for that base URL, messages name the server whose list it
is, and another server with no list of its own gets no borrowed OpenRouter ids or prices.
Two loopback servers on 127.0.0.1 stand in for two different servers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hive.cli.models import catalog_cache
from hive.env import DEFAULT_BASE_URL
from hive.errors import ProviderUnavailable
from hive.openrouter.catalog import Catalog, model_list_name
from hive.openrouter.catalog_cache import (
    cache_file,
    load_catalog,
    offline_catalog,
    provenance_note,
    read_cache,
    write_cache,
)
from hive.store.paths import resolve_paths
from tests.helpers import hive
from tests.loopback import LoopbackOpenRouter

NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)


def body(*ids: str) -> dict[str, Any]:
    return {
        "data": [
            {"id": i, "pricing": {"prompt": "0.000001", "completion": "0.000002"}} for i in ids
        ]
    }


def listed(result: Any) -> set[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return {row["id"] for row in json.loads(result.stdout)}


def models_requests(server: LoopbackOpenRouter) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/models"))


@pytest.fixture
def two_servers() -> Iterator[tuple[LoopbackOpenRouter, LoopbackOpenRouter]]:
    with LoopbackOpenRouter() as local, LoopbackOpenRouter() as other:
        local.models_body = json.dumps(body("local/llama-small")).encode()
        other.models_body = json.dumps(body("other/model-a", "other/model-b")).encode()
        yield local, other


def test_one_servers_cache_is_never_shown_for_another(
    monkeypatch: pytest.MonkeyPatch, two_servers: tuple[LoopbackOpenRouter, LoopbackOpenRouter]
) -> None:
    local, other = two_servers
    monkeypatch.setenv("OPENROUTER_BASE_URL", local.base_url)
    assert listed(hive("models", "list", "--json")) == {"local/llama-small"}

    monkeypatch.setenv("OPENROUTER_BASE_URL", other.base_url)
    assert listed(hive("models", "list", "--json")) == {"other/model-a", "other/model-b"}
    assert models_requests(other) == 1  # the local server's fresh cache was not used for it

    # Each kept its own cache: back on the local server, nothing is fetched again.
    monkeypatch.setenv("OPENROUTER_BASE_URL", local.base_url)
    assert listed(hive("models", "list", "--json")) == {"local/llama-small"}
    assert models_requests(local) == 1
    cache = catalog_cache(resolve_paths())
    assert cache_file(cache, local.base_url) != cache_file(cache, other.base_url)
    for server in (local, other):
        stored = json.loads(cache_file(cache, server.base_url).read_bytes())
        assert stored["base_url"] == server.base_url


def test_a_run_on_openrouter_ignores_a_local_servers_cache() -> None:
    cache = catalog_cache(resolve_paths())
    write_cache(cache, body("local/llama-small"), NOW, "http://localhost:8080/v1")

    catalog = asyncio.run(load_catalog(cache, None, now=NOW))  # OpenRouter, no network

    assert catalog.source == "built-in" and catalog.base_url == DEFAULT_BASE_URL
    assert "local/llama-small" not in catalog
    assert catalog.unlisted(["anthropic/claude-haiku-4.5"]) == []  # not flagged as unknown


def test_a_file_recording_another_server_or_none_is_treated_as_missing() -> None:
    cache = catalog_cache(resolve_paths())
    path = cache_file(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    fetched = NOW.isoformat()
    # A cache written before hive recorded the server: its origin is unknown.
    path.write_text(json.dumps({"fetched_at": fetched, "response": body("a/b")}))
    assert read_cache(cache) is None
    # A file copied by hand from another server's cache.
    moved = {"base_url": "http://localhost:8080/v1", "fetched_at": fetched, "response": body("a/b")}
    path.write_text(json.dumps(moved))
    assert read_cache(cache) is None

    class Fetch:
        async def __call__(self) -> dict[str, Any]:
            return body("openai/fresh")

    catalog = asyncio.run(load_catalog(cache, Fetch(), now=NOW))
    assert catalog.source == "live" and list(catalog.models) == ["openai/fresh"]
    assert json.loads(path.read_bytes())["base_url"] == DEFAULT_BASE_URL  # replaced


def test_messages_name_the_server_whose_list_it_is() -> None:
    local = Catalog.from_response(
        body("local/llama-small"), source="live", base_url="http://127.0.0.1:8080/v1"
    )
    assert local.unlisted(["local/llama-smal"]) == [
        "local/llama-smal is not in the model list of 127.0.0.1:8080; closest: local/llama-small"
    ]
    openrouter = Catalog.from_response(body("openai/gpt-4o-mini"), source="live")
    assert openrouter.unlisted(["openai/gpt-4o-minii"]) == [
        "openai/gpt-4o-minii is not in OpenRouter's model list; closest: openai/gpt-4o-mini"
    ]
    assert model_list_name("https://openrouter.ai/api/v1") == "OpenRouter's model list"
    cache = catalog_cache(resolve_paths())
    write_cache(
        cache, body("local/llama-small"), NOW - timedelta(days=2), "http://127.0.0.1:8080/v1"
    )
    stale = asyncio.run(load_catalog(cache, None, base_url="http://127.0.0.1:8080/v1", now=NOW))
    assert provenance_note(stale, NOW) == (
        "not fetched: using the model list of 127.0.0.1:8080 cached 2 days ago"
    )


def test_another_server_with_no_list_borrows_nothing_from_openrouter() -> None:
    base_url = "http://127.0.0.1:9/v1"
    down = ProviderUnavailable("could not reach 127.0.0.1")

    class Fetch:
        async def __call__(self) -> dict[str, Any]:
            raise down

    cache = catalog_cache(resolve_paths())
    catalog = asyncio.run(load_catalog(cache, Fetch(), base_url=base_url, now=NOW))

    assert catalog.source == "none" and len(catalog) == 0 and catalog.problem is down
    # The built-in catalog's prices are OpenRouter's: for this server they are unknown.
    assert catalog.price("anthropic/claude-haiku-4.5") is None
    assert catalog.unlisted(["anthropic/claude-haiku-4.5", "local/x"]) == [
        "cannot verify model ids (anthropic/claude-haiku-4.5, local/x): hive has no copy of "
        "the model list of 127.0.0.1:9"
    ]
    assert provenance_note(catalog, NOW) == (
        "offline and no cache: no model ids or prices are known for 127.0.0.1:9 "
        "(the built-in catalog is OpenRouter's)"
    )
    assert offline_catalog(cache, base_url).source == "none"
    assert offline_catalog(cache).source == "built-in"  # OpenRouter's fallback


def test_hive_models_for_another_server_offline_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackOpenRouter() as server:
        base_url = server.base_url
    monkeypatch.setenv("OPENROUTER_BASE_URL", base_url)  # that server is gone now

    result = hive("models", "list")

    assert result.exit_code == 0
    host = base_url.split("/")[2]
    assert result.stderr.splitlines() == [
        f"note: offline and no cache: no model ids or prices are known for {host} "
        "(the built-in catalog is OpenRouter's)",
        "no models match (of 0)",
    ]
