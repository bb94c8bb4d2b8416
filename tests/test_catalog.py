"""OpenRouter's model catalog: parsing the real ``GET /models`` captures exactly, the cache and
its fallbacks (with the clock passed in, never slept on), ``OpenRouterClient.list_models`` over
real sockets against the loopback server, and ``hive models`` end to end.

The CLI tests build their own Typer app with the ``models`` group added, since registering it in
``hive.cli.app`` is a separate change.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive.cli import models as models_cli
from hive.errors import (
    ApiFailure,
    HiveError,
    ProviderUnavailable,
    RequestTimeout,
    StorageError,
    StreamError,
)
from hive.openrouter.catalog import Catalog, ModelPrice, builtin_prices, to_decimal
from hive.openrouter.catalog_cache import (
    CatalogCache,
    cache_file,
    fetch_catalog,
    load_catalog,
    provenance_note,
    read_cache,
    write_cache,
)
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.store.paths import Paths, resolve_paths
from hive.store.rows import ModelStats
from hive.ui.model_catalog import describe_price, per_million, plain, select
from tests import helpers
from tests.conftest import EXPECTED_ERROR_BY_STATUS, FAKE_KEY, fixture_path
from tests.loopback import DEFAULT_MODELS, Fault, LoopbackOpenRouter

ROUTER_MODELS = [
    "openrouter/auto",
    "openrouter/auto-beta",
    "openrouter/fusion",
    "openrouter/pareto-code",
    "openrouter/bodybuilder",
]
BUILTIN_CATALOG = (
    Path(__file__).resolve().parents[1] / "hive" / "openrouter" / "builtin_catalog.json"
)
NOW = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=24)


# --- helpers -------------------------------------------------------------------------------


def snapshot(name: str = "models.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(name).read_text("utf-8"))
    return data


def snapshot_bytes() -> bytes:
    return fixture_path("models.json").read_bytes()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def small_body(*ids: str) -> dict[str, Any]:
    return {
        "data": [
            {"id": i, "pricing": {"prompt": "0.000001", "completion": "0.000002"}} for i in ids
        ]
    }


class Fetcher:
    """A fetch callable that counts its calls and returns a body or raises."""

    def __init__(self, body: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.body = body if body is not None else small_body("vendor/new-model")
        self.error = error
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.body


def load(cache: CatalogCache, fetch: Fetcher | None, **kwargs: Any) -> Catalog:
    return asyncio.run(load_catalog(cache, fetch, **kwargs))


@pytest.fixture
def cache() -> CatalogCache:
    return models_cli.catalog_cache(resolve_paths())  # under the test's HIVE_HOME (conftest)


def fetch_with_client(base_url: str, api_key: str | None = None, timeout: float = 10.0) -> Any:
    async def go() -> dict[str, Any]:
        async with make_http_client(api_key=api_key, base_url=base_url, timeout=timeout) as http:
            return await OpenRouterClient(http).list_models()

    return asyncio.run(go())


# --- parsing the real captures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count"), [("models.json", 414), ("models_output_modalities_all.json", 549)]
)
def test_real_snapshots_parse_completely(name: str, count: int) -> None:
    body = snapshot(name)
    catalog = Catalog.from_response(body, source="live")
    assert len(catalog) == count == body["total_count"]
    assert catalog.skipped == 0
    assert [m.id for m in catalog] == [entry["id"] for entry in body["data"]]


@pytest.mark.parametrize("name", ["models.json", "models_output_modalities_all.json"])
def test_every_price_is_the_exact_decimal_of_its_string(name: str) -> None:
    body = snapshot(name)
    catalog = Catalog.from_response(body, source="live")
    checked = 0
    for entry in body["data"]:
        prices = catalog.models[entry["id"]].pricing.prices()
        for key, raw in entry["pricing"].items():
            if key == "overrides":
                continue
            value = prices[key]
            assert type(value) is Decimal
            # Same digits and exponent, not merely equal: nothing went through a float.
            assert value.as_tuple() == Decimal(raw).as_tuple(), (entry["id"], key, raw)
            checked += 1
    assert checked > 2 * len(body["data"])


def test_long_decimal_prices_survive_exactly() -> None:
    body = snapshot()
    raw = "0.0000000208333333333333"
    hits = [
        (entry["id"], key)
        for entry in body["data"]
        for key, value in entry["pricing"].items()
        if value == raw
    ]
    assert hits, "the capture has this long price"
    catalog = Catalog.from_response(body, source="live")
    for model_id, key in hits:
        value = catalog.models[model_id].pricing.prices()[key]
        assert value == Decimal(raw) and plain(value) == raw
        assert per_million(value) == "0.0208333333333333"


def test_router_models_have_unknown_prices() -> None:
    catalog = Catalog.from_response(snapshot(), source="live")
    for model_id in ROUTER_MODELS:
        price = catalog.price(model_id)
        assert price is not None, model_id
        assert price.prompt == Decimal(-1) and price.completion == Decimal(-1)
        assert price.known is False
        assert describe_price(catalog.models[model_id].pricing.prompt) == "varies"
        assert per_million(price.completion) is None
    assert catalog.price("openai/gpt-4o-mini") == ModelPrice(
        Decimal("0.00000015"), Decimal("0.0000006")
    )
    assert catalog.price("openai/gpt-4o-mini").known  # type: ignore[union-attr]
    assert catalog.price("no/such-model") is None


def test_price_overrides_are_kept_as_raw_data() -> None:
    body = snapshot()
    with_overrides = [e for e in body["data"] if "overrides" in e["pricing"]]
    assert len(with_overrides) == 61
    catalog = Catalog.from_response(body, source="live")
    for entry in with_overrides:
        pricing = catalog.models[entry["id"]].pricing
        assert pricing.overrides == entry["pricing"]["overrides"]
        assert "overrides" not in pricing.prices()
    timed = catalog.models["deepseek/deepseek-v4-pro-0813"].pricing.overrides
    assert timed and any("utc_start" in o for o in timed)
    tiered = [o for e in with_overrides for o in e["pricing"]["overrides"]]
    assert any(isinstance(o.get("min_prompt_tokens"), int) for o in tiered)


def test_nullable_fields_stay_null_or_empty() -> None:
    body = snapshot()
    catalog = Catalog.from_response(body, source="live")
    hf = {e["id"]: e["hugging_face_id"] for e in body["data"]}
    assert None in hf.values() and "" in hf.values()
    for model_id, value in hf.items():
        assert catalog.models[model_id].hugging_face_id == value
    no_max = [e["id"] for e in body["data"] if e["top_provider"]["max_completion_tokens"] is None]
    assert no_max
    for model_id in no_max:
        assert catalog.models[model_id].max_output is None
    mini = catalog.models["openai/gpt-4o-mini"]
    assert mini.max_output == 16384 and mini.top_provider.is_moderated is True
    assert mini.knowledge_cutoff == "2023-10-31" and mini.expiration_date is None
    assert mini.architecture.input_modalities == ["text", "image", "file"]
    assert mini.architecture.tokenizer == "GPT"
    assert "temperature" in mini.supported_parameters


def test_optional_and_alias_fields_are_kept_as_extra() -> None:
    body = snapshot()
    catalog = Catalog.from_response(body, source="live")
    by_id = {e["id"]: e for e in body["data"]}
    for key in ("reasoning", "benchmarks", "links", "canonical_slug", "default_parameters"):
        entry = next(e for e in body["data"] if key in e)
        assert catalog.models[entry["id"]].model_extra[key] == entry[key]  # type: ignore[index]
    aliases = [i for i in by_id if i.startswith("~")]
    assert aliases
    for alias in aliases:
        extra = catalog.models[alias].model_extra or {}
        assert extra.get("alias_target") == by_id[alias].get("alias_target")
    assert all("alias_target" in by_id[a] for a in aliases)


def test_unknown_future_fields_are_kept() -> None:
    entry = {
        "id": "vendor/future",
        "name": "Future",
        "pricing": {"prompt": "0.000001", "completion": "0.000002", "hologram": "0.5"},
        "architecture": {"input_modalities": ["text"], "smell": ["roses"]},
        "top_provider": {"context_length": None, "region": "moon"},
        "brand_new": {"nested": [1, 2]},
    }
    model = Catalog.from_response({"data": [entry]}, source="live").models["vendor/future"]
    assert model.model_extra == {"brand_new": {"nested": [1, 2]}}
    assert model.pricing.prices()["hologram"] == Decimal("0.5")
    assert (model.architecture.model_extra or {})["smell"] == ["roses"]
    assert (model.top_provider.model_extra or {})["region"] == "moon"


def test_top_level_total_count_and_links_are_optional() -> None:
    catalog = Catalog.from_response(small_body("a/b", "c/d"), source="live")
    assert list(catalog.models) == ["a/b", "c/d"]
    assert "a/b" in catalog and "x/y" not in catalog


def test_odd_entries_are_skipped_or_softened_never_fatal() -> None:
    body = {
        "data": [
            {"name": "no id"},
            "not an object",
            {
                "id": "ok/nulls",
                "name": None,
                "description": None,
                "supported_parameters": None,
                "architecture": None,
                "top_provider": None,
                "pricing": None,
            },
            {
                "id": "ok/odd-prices",
                "pricing": {"prompt": "n/a", "completion": 1e-07, "request": True, "image": "NaN"},
            },
        ]
    }
    catalog = Catalog.from_response(body, source="live")
    assert list(catalog.models) == ["ok/nulls", "ok/odd-prices"] and catalog.skipped == 2
    nulls = catalog.models["ok/nulls"]
    assert nulls.name == "" and nulls.display_name == "ok/nulls"
    assert nulls.supported_parameters == [] and nulls.price.known is False
    odd = catalog.models["ok/odd-prices"].pricing
    assert odd.prompt is None and odd.request is None and odd.image is None
    # A JSON number is read from its shortest repr, so 1e-07 is exactly 0.0000001.
    assert odd.completion == Decimal("0.0000001")


@pytest.mark.parametrize("body", [{}, {"data": {}}, {"data": None}, [], "text"])
def test_a_body_without_a_data_list_is_a_value_error(body: Any) -> None:
    with pytest.raises(ValueError, match="data"):
        Catalog.from_response(body, source="live")


def test_builtin_catalog_matches_builtin_prices() -> None:
    catalog = Catalog.builtin()
    assert catalog.source == "built-in"
    assert set(catalog.models) == set(builtin_prices())
    for model_id, price in builtin_prices().items():
        assert catalog.price(model_id) == price
    shipped = json.loads(BUILTIN_CATALOG.read_text("utf-8"))["data"]
    for entry in shipped:
        assert catalog.models[entry["id"]].max_output == entry["max_completion_tokens"]
        assert catalog.models[entry["id"]].context_length == entry["context_length"]


def test_closest_ids() -> None:
    catalog = Catalog.from_response(snapshot(), source="live")
    assert catalog.closest("openai/gpt-4o-minii")[0] == "openai/gpt-4o-mini"
    assert "openai/gpt-4o-mini" in catalog.closest("gpt-4o-mini")
    assert len(catalog.closest("anthropic/claude-sonet-4.5", n=2)) == 2
    assert catalog.closest("zzzzzzzzzzzz") == []


@given(st.decimals(min_value=0, max_value=1, places=20, allow_nan=False, allow_infinity=False))
def test_per_million_is_exact(value: Decimal) -> None:
    text = per_million(to_decimal(format(value, "f")))
    assert text is not None and Decimal(text) == value.scaleb(6)
    assert "E" not in text and not ("." in text and text.endswith(("0", ".")))


def test_plain_never_uses_exponents() -> None:
    assert plain(Decimal("0.00000015")) == "0.00000015"
    assert plain(Decimal("1.5E+1")) == "15"
    assert plain(Decimal("0.000")) == "0"
    assert per_million(Decimal("0.0000006")) == "0.6"
    assert per_million(Decimal("0.000025")) == "25"
    assert describe_price(Decimal(0)) == "free"


def test_select_filters_and_sorts() -> None:
    catalog = Catalog.from_response(snapshot(), source="live")
    free = select(catalog, free=True)
    assert free and all(
        m.id.endswith(":free") or (m.price.prompt == m.price.completion == 0) for m in free
    )
    cheap = select(catalog, max_price=Decimal("0.1"))
    assert cheap and all(
        max(m.price.prompt, m.price.completion) * 10**6 <= Decimal("0.1") for m in cheap
    )
    assert not any(m.id in ROUTER_MODELS for m in cheap)
    by_price = select(catalog, sort="price")
    known = [m.price.completion for m in by_price if m.price.known]
    assert known == sorted(known)
    assert {m.id for m in by_price[-len(ROUTER_MODELS) :]} == set(ROUTER_MODELS)
    by_context = [m.context_length or 0 for m in select(catalog, sort="context")]
    assert by_context == sorted(by_context, reverse=True)
    assert [m.id for m in select(catalog, search="GPT-4O-MINI")][:1] == ["openai/gpt-4o-mini"]


# --- the cache and its fallbacks --------------------------------------------------------------


def test_fresh_cache_is_used_without_fetching(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(hours=1))
    fetch = Fetcher()
    catalog = load(cache, fetch, now=NOW)
    assert fetch.calls == 0
    assert catalog.source == "cache" and list(catalog.models) == ["cached/model"]
    assert catalog.fetched_at == NOW - timedelta(hours=1)
    assert provenance_note(catalog, NOW) is None


def test_stale_cache_triggers_a_fetch_that_rewrites_it(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(days=2))
    fetch = Fetcher(small_body("fresh/model"))
    catalog = load(cache, fetch, now=NOW)
    assert fetch.calls == 1 and catalog.source == "live"
    assert list(catalog.models) == ["fresh/model"] and provenance_note(catalog, NOW) is None
    again = read_cache(cache)
    assert again is not None and list(again.models) == ["fresh/model"] and again.fetched_at == NOW


def test_fetch_failure_falls_back_to_the_stale_cache(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(days=3, minutes=5))
    fetch = Fetcher(error=ProviderUnavailable("could not reach openrouter.ai"))
    catalog = load(cache, fetch, now=NOW)
    assert fetch.calls == 1
    assert catalog.source == "cache (stale)" and list(catalog.models) == ["cached/model"]
    assert isinstance(catalog.problem, ProviderUnavailable)
    assert provenance_note(catalog, NOW) == (
        "offline: using OpenRouter's model list cached 3 days ago"
    )


def test_other_fetch_failures_say_what_went_wrong(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(hours=30))
    catalog = load(cache, Fetcher(error=StreamError("unexpected reply")), now=NOW)
    note = provenance_note(catalog, NOW)
    assert note == (
        "could not fetch OpenRouter's model list (unexpected reply): "
        "using OpenRouter's model list cached 1 day ago"
    )


def test_no_cache_and_a_failed_fetch_give_the_builtin_catalog(cache: CatalogCache) -> None:
    fetch = Fetcher(error=RequestTimeout("no response"))
    catalog = load(cache, fetch, now=NOW)
    assert fetch.calls == 1
    assert catalog.source == "built-in" and set(catalog.models) == set(builtin_prices())
    assert provenance_note(catalog, NOW) == (
        f"offline and no cache: using the small built-in catalog ({len(catalog)} models)"
    )
    assert not cache_file(cache).exists()


def test_no_fetch_at_all(cache: CatalogCache) -> None:
    assert load(cache, None, now=NOW).source == "built-in"
    write_cache(cache, small_body("cached/model"), NOW - timedelta(days=5))
    catalog = load(cache, None, now=NOW)
    assert catalog.source == "cache (stale)" and catalog.problem is None
    assert provenance_note(catalog, NOW) == (
        "not fetched: using OpenRouter's model list cached 5 days ago"
    )


def test_refresh_fetches_even_with_a_fresh_cache(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(minutes=1))
    fetch = Fetcher(small_body("fresh/model"))
    catalog = load(cache, fetch, now=NOW, refresh=True)
    assert fetch.calls == 1 and catalog.source == "live" and "fresh/model" in catalog


def test_a_failed_refresh_keeps_the_fresh_cache_and_says_so(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW - timedelta(hours=2))
    catalog = load(cache, Fetcher(error=ProviderUnavailable("down")), now=NOW, refresh=True)
    assert catalog.source == "cache" and "cached/model" in catalog
    assert provenance_note(catalog, NOW) == (
        "offline: using OpenRouter's model list cached 2 hours ago"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b"[]",
        b'{"response": {"data": []}}',
        b'{"fetched_at": "yesterday", "response": {"data": []}}',
        b'{"fetched_at": "2026-08-20T11:00:00+00:00", "response": {"nodata": 1}}',
        b'{"fetched_at": "2026-08-20T11:00:00+00:00", "response": {"data": []}}',
        b"",
    ],
)
def test_a_corrupt_cache_is_ignored_and_overwritten(cache: CatalogCache, content: bytes) -> None:
    path = cache_file(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    assert read_cache(cache) is None
    fetch = Fetcher(small_body("fresh/model"))
    assert load(cache, fetch, now=NOW).source == "live" and fetch.calls == 1
    cached = read_cache(cache)
    assert cached is not None and list(cached.models) == ["fresh/model"]


def test_a_corrupt_cache_and_no_network_give_the_builtin_catalog(cache: CatalogCache) -> None:
    cache_file(cache).parent.mkdir(parents=True, exist_ok=True)
    cache_file(cache).write_text("{oops")
    catalog = load(cache, Fetcher(error=ProviderUnavailable("down")), now=NOW)
    assert catalog.source == "built-in"
    assert cache_file(cache).read_text() == "{oops"  # left for the next good fetch to replace


def test_ttl_boundary(cache: CatalogCache) -> None:
    fetched = NOW - TTL
    write_cache(cache, small_body("cached/model"), fetched)
    fetch = Fetcher(error=ProviderUnavailable("down"))
    just_fresh = load(cache, fetch, now=fetched + TTL - timedelta(microseconds=1))
    assert just_fresh.source == "cache" and fetch.calls == 0
    at_ttl = load(cache, fetch, now=fetched + TTL)
    assert at_ttl.source == "cache (stale)" and fetch.calls == 1
    # The TTL is a parameter: one hour makes a two-hour-old cache stale.
    write_cache(cache, small_body("cached/model"), NOW - timedelta(hours=2))
    assert load(cache, fetch, now=NOW, ttl_hours=1).source == "cache (stale)"
    assert load(cache, fetch, now=NOW, ttl_hours=3).source == "cache"


def test_a_cache_from_the_future_is_stale(cache: CatalogCache) -> None:
    write_cache(cache, small_body("cached/model"), NOW + timedelta(hours=1))
    fetch = Fetcher(small_body("fresh/model"))
    assert load(cache, fetch, now=NOW).source == "live" and fetch.calls == 1


def test_the_cache_keeps_the_reply_and_prices_verbatim(cache: CatalogCache) -> None:
    body = snapshot()
    asyncio.run(fetch_catalog(cache, Fetcher(body), now=NOW))
    stored = json.loads(cache_file(cache).read_bytes())
    assert stored["response"] == body
    assert datetime.fromisoformat(stored["fetched_at"]) == NOW
    cached = read_cache(cache)
    assert cached is not None and len(cached) == 414 and cached.source == "cache"
    assert not list(cache_file(cache).parent.glob("*.tmp"))  # written atomically


def test_an_unwritable_cache_still_gives_the_live_catalog(cache: CatalogCache) -> None:
    cache.directory.parent.mkdir(parents=True, exist_ok=True)
    cache.directory.write_text("a file where the cache folder should be")
    catalog = load(cache, Fetcher(small_body("fresh/model")), now=NOW)
    assert catalog.source == "live" and "fresh/model" in catalog
    with pytest.raises(HiveError, match="cannot create"):
        asyncio.run(fetch_catalog(cache, Fetcher(), now=NOW))


def test_an_empty_reply_is_an_error_and_not_cached(cache: CatalogCache) -> None:
    with pytest.raises(StreamError, match="no models"):
        asyncio.run(fetch_catalog(cache, Fetcher({"data": []}), now=NOW))
    assert not cache_file(cache).exists()


# --- the client, over real sockets --------------------------------------------------------------


def test_list_models_returns_the_real_snapshot_unchanged(openrouter: LoopbackOpenRouter) -> None:
    openrouter.models_body = snapshot_bytes()
    body = fetch_with_client(openrouter.base_url)  # no key: /models is public
    assert body == snapshot()
    assert len(Catalog.from_response(body, source="live")) == 414
    request = openrouter.requests[-1]
    assert request.method == "GET" and request.path == "/api/v1/models"
    assert "Authorization" not in request.headers
    assert request.headers["Accept"] == "application/json"


def test_list_models_sends_the_key_when_there_is_one(openrouter: LoopbackOpenRouter) -> None:
    body = fetch_with_client(openrouter.base_url, api_key=FAKE_KEY)
    assert body == DEFAULT_MODELS
    assert openrouter.requests[-1].headers["Authorization"] == f"Bearer {FAKE_KEY}"


@pytest.mark.parametrize(("status", "cls"), sorted(EXPECTED_ERROR_BY_STATUS.items()))
def test_list_models_error_statuses(
    openrouter: LoopbackOpenRouter, status: int, cls: type[ApiFailure]
) -> None:
    openrouter.fail("GET /models", Fault(status=status))
    with pytest.raises(ApiFailure) as info:
        fetch_with_client(openrouter.base_url)
    assert type(info.value) is cls and info.value.status == status
    assert fetch_with_client(openrouter.base_url) == DEFAULT_MODELS  # the fault was used up


def test_list_models_error_messages_never_carry_the_key(openrouter: LoopbackOpenRouter) -> None:
    body = json.dumps({"error": {"code": 400, "message": f"bad key {FAKE_KEY}"}}).encode()
    openrouter.fail("GET /models", Fault(status=400, body=body))
    with pytest.raises(ApiFailure) as info:
        fetch_with_client(openrouter.base_url, api_key=FAKE_KEY)
    assert FAKE_KEY not in str(info.value)


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"data": {}}', b""])
def test_list_models_rejects_a_body_of_another_shape(
    openrouter: LoopbackOpenRouter, payload: bytes
) -> None:
    openrouter.fail("GET /models", Fault(body=payload))
    with pytest.raises(StreamError, match="unexpected reply"):
        fetch_with_client(openrouter.base_url)


def test_list_models_tolerates_padding(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail("GET /models", Fault(body=b"\n   \n" + json.dumps(DEFAULT_MODELS).encode()))
    assert fetch_with_client(openrouter.base_url) == DEFAULT_MODELS


def test_list_models_connection_refused_is_provider_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="could not reach"):
        fetch_with_client(f"http://127.0.0.1:{_closed_port()}/api/v1")


def test_list_models_hang_is_request_timeout(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail("GET /models", Fault(hang=True))
    with pytest.raises(RequestTimeout):
        fetch_with_client(openrouter.base_url, timeout=0.3)


# --- hive models ------------------------------------------------------------------------------


def hive(*args: str) -> Any:
    """``hive models ARGS``, in-process through the real app."""
    return helpers.hive("models", *args)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter) -> LoopbackOpenRouter:
    """hive pointed at the loopback server, which serves the real 414-model capture."""
    openrouter.models_body = snapshot_bytes()
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    return openrouter


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> str:
    """hive pointed at a server that is down; returns its base URL."""
    base_url = f"http://127.0.0.1:{_closed_port()}/api/v1"
    monkeypatch.setenv("OPENROUTER_BASE_URL", base_url)
    return base_url


@pytest.fixture
def openrouter_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenRouter's own base URL (the default), with every request sent to a proxy that is down:
    offline without touching the network or DNS."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def list_json(*args: str) -> list[dict[str, Any]]:
    result = hive("list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def models_requests(server: LoopbackOpenRouter) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/models"))


def test_list_table_shows_exact_prices(live: LoopbackOpenRouter) -> None:
    result = hive("list")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # live: no note
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert lines["openai/gpt-4o-mini"] == ["openai/gpt-4o-mini", "128,000", "0.15", "0.6"]
    assert lines["openrouter/auto"][2:] == ["varies", "varies"]
    free_id = next(i for i in lines if i.endswith(":free"))
    assert lines[free_id][2:] == ["free", "free"]
    assert "414 of 414 models" in result.stdout


def test_list_json_shape(live: LoopbackOpenRouter) -> None:
    rows = list_json()
    assert len(rows) == 414
    mini = next(r for r in rows if r["id"] == "openai/gpt-4o-mini")
    assert mini == {
        "id": "openai/gpt-4o-mini",
        "name": "OpenAI: GPT-4o-mini",
        "context_length": 128000,
        "pricing": {
            "per_million": {"prompt": "0.15", "completion": "0.6"},
            "per_token": {"prompt": "0.00000015", "completion": "0.0000006"},
        },
        "modalities": {"input": ["text", "image", "file"], "output": ["text"]},
    }
    auto = next(r for r in rows if r["id"] == "openrouter/auto")
    assert auto["pricing"]["per_million"] == {"prompt": None, "completion": None}
    assert auto["pricing"]["per_token"] == {"prompt": "-1", "completion": "-1"}


def test_list_free(live: LoopbackOpenRouter) -> None:
    rows = list_json("--free")
    assert rows
    for row in rows:
        per_million = row["pricing"]["per_million"]
        assert row["id"].endswith(":free") or per_million == {"prompt": "0", "completion": "0"}
    assert "openrouter/free" in {r["id"] for r in rows}


def test_list_search_is_case_insensitive_over_id_and_name(live: LoopbackOpenRouter) -> None:
    ids = {r["id"] for r in list_json("--search", "GPT-4O-MINI")}
    assert "openai/gpt-4o-mini" in ids and all("gpt-4o-mini" in i for i in ids)
    by_name = list_json("--search", "openai: gpt-4o-mini")  # only the name has "OpenAI: "
    assert "openai/gpt-4o-mini" in {r["id"] for r in by_name}


def test_list_max_price(live: LoopbackOpenRouter) -> None:
    rows = list_json("--max-price", "0.1")
    assert rows
    for row in rows:
        per_million = row["pricing"]["per_million"]
        assert Decimal(per_million["prompt"]) <= Decimal("0.1")
        assert Decimal(per_million["completion"]) <= Decimal("0.1")
    for row in list_json("--max-price", "0"):
        assert row["pricing"]["per_million"] == {"prompt": "0", "completion": "0"}


@pytest.mark.parametrize("bad", ["abc", "-1", "nan"])
def test_list_max_price_must_be_a_number(live: LoopbackOpenRouter, bad: str) -> None:
    result = hive("list", "--max-price", bad)
    assert result.exit_code == 2 and "--max-price" in result.stderr


def test_list_sort(live: LoopbackOpenRouter) -> None:
    by_price = list_json("--sort", "price")
    prices = [r["pricing"]["per_million"]["completion"] for r in by_price]
    known = [Decimal(p) for p in prices if p is not None]
    assert known == sorted(known)
    assert prices[-len(ROUTER_MODELS) :] == [None] * len(ROUTER_MODELS)
    contexts = [r["context_length"] for r in list_json("--sort", "context")]
    assert contexts == sorted(contexts, reverse=True)
    names = [r["name"].casefold() for r in list_json("--sort", "name")]
    assert names == sorted(names)
    ids = [r["id"] for r in list_json()]
    assert ids == sorted(ids)
    assert hive("list", "--sort", "speed").exit_code == 2


def test_list_with_nothing_matching(live: LoopbackOpenRouter) -> None:
    result = hive("list", "--search", "no-such-thing-anywhere")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no models match" in result.stderr
    assert list_json("--search", "no-such-thing-anywhere") == []


def test_list_uses_the_cache_for_a_day(live: LoopbackOpenRouter, cache: CatalogCache) -> None:
    assert hive("list").exit_code == 0
    assert hive("list", "--free").exit_code == 0
    assert models_requests(live) == 1
    assert cache_file(cache, live.base_url).exists()
    assert not cache_file(cache).exists()  # OpenRouter's cache is another file


def test_the_key_goes_along_when_set(
    monkeypatch: pytest.MonkeyPatch, live: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    assert hive("refresh").exit_code == 0
    assert live.requests[-1].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_show_a_real_model(live: LoopbackOpenRouter) -> None:
    result = hive("show", "openai/gpt-4o-mini")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("openai/gpt-4o-mini  (OpenAI: GPT-4o-mini)")
    for expected in [
        "GPT-4o mini is OpenAI's newest model",
        "128,000 tokens",
        "16,384 tokens",
        "$0.15 per M tokens",
        "$0.6 per M tokens",
        "$0.075 per M tokens",
        "text, image, file -> text",
        "structured_outputs",
        "moderated:",
        "2023-10-31",
    ]:
        assert expected in out, expected


def test_show_json(live: LoopbackOpenRouter) -> None:
    result = hive("show", "deepseek/deepseek-v4-pro-0813", "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    entry = next(e for e in snapshot()["data"] if e["id"] == "deepseek/deepseek-v4-pro-0813")
    assert row["pricing"]["overrides"] == entry["pricing"]["overrides"]
    assert row["pricing"]["per_token"]["prompt"] == entry["pricing"]["prompt"]
    assert row["supported_parameters"] == entry["supported_parameters"]
    assert row["max_completion_tokens"] == entry["top_provider"]["max_completion_tokens"]
    assert "hive_figures" in row
    web = next(e for e in snapshot()["data"] if "web_search" in e["pricing"])
    shown = json.loads(hive("show", web["id"], "--json").stdout)
    assert shown["pricing"]["per_unit"]["web_search"] == web["pricing"]["web_search"]
    assert "web_search" not in shown["pricing"]["per_million"]


def test_show_router_model(live: LoopbackOpenRouter) -> None:
    result = hive("show", "openrouter/auto")
    assert result.exit_code == 0 and "varies" in result.stdout
    assert json.loads(hive("show", "openrouter/auto", "--json").stdout)["pricing"]["known"] is False


def test_show_unknown_model_suggests_the_closest(live: LoopbackOpenRouter) -> None:
    result = hive("show", "openai/gpt-4o-minii")
    assert result.exit_code == 2
    assert "unknown model openai/gpt-4o-minii; closest: openai/gpt-4o-mini" in result.stderr
    assert result.stderr.count(",") == 2  # three suggestions


def test_show_prints_hive_figures_when_history_has_them(
    monkeypatch: pytest.MonkeyPatch, live: LoopbackOpenRouter
) -> None:
    seen: list[tuple[Paths, str]] = []

    def model_stats(paths: Paths, model_id: str) -> ModelStats:
        seen.append((paths, model_id))
        return ModelStats(
            calls=12,
            ok=11,
            success_rate=11 / 12,
            median_latency_ms=2345.6,
            median_ttft_ms=410,
            total_cost=Decimal("0.0123"),
            unknown_cost_calls=0,
            estimated_cost_calls=0,
        )

    monkeypatch.setitem(sys.modules, "hive.store.history", SimpleNamespace(model_stats=model_stats))
    result = hive("show", "openai/gpt-4o-mini")
    assert result.exit_code == 0, result.stderr
    figures = result.stdout.split("hive's own figures\n", 1)[1]
    assert "calls: 12" in figures and "success_rate: 92%" in figures
    assert "median_latency_ms: 2,346 ms" in figures and "total_cost: $0.0123" in figures
    assert seen == [(resolve_paths(), "openai/gpt-4o-mini")]
    row = json.loads(hive("show", "openai/gpt-4o-mini", "--json").stdout)
    assert row["hive_figures"]["total_cost"] == "0.0123"


def test_show_survives_an_unreadable_history(
    monkeypatch: pytest.MonkeyPatch, live: LoopbackOpenRouter
) -> None:
    def model_stats(paths: Paths, model_id: str) -> ModelStats:
        raise StorageError("history.db is not a database")

    monkeypatch.setitem(sys.modules, "hive.store.history", SimpleNamespace(model_stats=model_stats))
    result = hive("show", "openai/gpt-4o-mini")
    assert result.exit_code == 0 and "$0.15 per M tokens" in result.stdout
    assert "hive's own figures are unavailable: history.db is not a database" in result.stderr


def test_refresh_writes_the_cache(live: LoopbackOpenRouter, cache: CatalogCache) -> None:
    result = hive("refresh")
    assert result.exit_code == 0, result.stderr
    path = cache_file(cache, live.base_url)
    host = live.base_url.split("/")[2]
    assert result.stdout.strip() == f"cached 414 models of {host} in {path}"
    assert json.loads(path.read_bytes())["response"] == snapshot()
    assert hive("refresh").exit_code == 0
    assert models_requests(live) == 2  # refresh always fetches


def test_refresh_fails_loudly_when_offline(offline: str, cache: CatalogCache) -> None:
    result = hive("refresh")
    assert result.exit_code == 1
    assert "could not reach 127.0.0.1" in result.stderr
    assert not cache_file(cache, offline).exists()


def test_refresh_reports_http_errors(live: LoopbackOpenRouter) -> None:
    live.fail("GET /models", Fault(status=503))
    result = hive("refresh")
    assert result.exit_code == 1 and "HTTP 503" in result.stderr


def test_offline_without_cache_uses_the_builtin_catalog(openrouter_offline: None) -> None:
    result = hive("list")
    assert result.exit_code == 0
    assert result.stderr.startswith("note: offline and no cache: using the small built-in catalog")
    assert "anthropic/claude-haiku-4.5" in result.stdout
    rows = list_json()
    assert {r["id"] for r in rows} == set(builtin_prices())


def test_offline_with_a_stale_cache_says_how_old(offline: str, cache: CatalogCache) -> None:
    write_cache(cache, snapshot(), datetime.now(UTC) - timedelta(days=3, minutes=10), offline)
    result = hive("list", "--search", "gpt-4o-mini")
    assert result.exit_code == 0
    host = offline.split("/")[2]
    assert result.stderr == f"note: offline: using the model list of {host} cached 3 days ago\n"
    assert "openai/gpt-4o-mini" in result.stdout


def test_offline_with_a_fresh_cache_says_nothing(offline: str, cache: CatalogCache) -> None:
    write_cache(cache, snapshot(), datetime.now(UTC) - timedelta(hours=1), offline)
    result = hive("show", "openai/gpt-4o-mini")
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.slow
def test_importing_the_command_group_loads_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys, hive.cli.models; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'pydantic', 'rich')))"
    )
    proc = helpers.run([sys.executable, "-c", code], check=True)
    assert proc.stdout.strip() == "[]"
