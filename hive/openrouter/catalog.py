"""OpenRouter's model catalog (``GET /models``) as typed models, with prices exact.

Prices arrive as decimal strings in USD per token (``"0.0000000208333333333333"``) and stay
``Decimal`` from the wire to the screen: no float ever touches them. ``"-1"`` marks a price that
is unknown until the call is made (router models such as ``openrouter/auto``); it is kept as
``Decimal(-1)`` and shows as ``ModelPrice.known == False``. Every model keeps the fields this
module does not know about (``model_config = ConfigDict(extra="allow")``), so a new field in
OpenRouter's reply is carried along rather than lost or fatal.

``builtin_prices()`` reads the small catalog shipped in the package (the models the built-in
profiles use) without pydantic; ``Catalog.builtin()`` is the same file as a ``Catalog``, the last
fallback when there is neither network nor cache (see ``catalog_cache``).

A catalog belongs to the server it came from (``Catalog.base_url``): another OpenAI-compatible
server's ``/models`` lists its own ids, with its own prices or none. The built-in catalog
describes OpenRouter only, so for another server with nothing fetched or cached the catalog is
``Catalog.unavailable()``: empty, every price unknown, and no model called unknown to that host.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from hive.env import DEFAULT_BASE_URL

# "none": another server's list could be neither fetched nor read from its cache.
CatalogSource = Literal["live", "cache", "cache (stale)", "built-in", "none"]

# Prices that are not per token: OpenRouter states them per request, per input image, per search.
PER_UNIT_PRICES: dict[str, str] = {"request": "request", "image": "image", "web_search": "search"}


@dataclass(frozen=True, slots=True)
class ModelPrice:
    prompt: Decimal  # per input token
    completion: Decimal  # per output token
    request: Decimal = Decimal(0)
    # Per native web search (``pricing.web_search``) and per reasoning token when it differs
    # from output (``pricing.internal_reasoning``); None: not stated.
    web_search: Decimal | None = None
    reasoning: Decimal | None = None

    @property
    def known(self) -> bool:
        """Router models (``openrouter/auto``) are priced -1: unknown until the call is made."""
        return self.prompt >= 0 and self.completion >= 0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return self.request + self.prompt * prompt_tokens + self.completion * completion_tokens


@cache
def builtin_prices() -> dict[str, ModelPrice]:
    return {
        entry["id"]: ModelPrice(
            Decimal(entry["pricing"]["prompt"]),
            Decimal(entry["pricing"]["completion"]),
            Decimal(entry["pricing"].get("request", "0")),
            to_decimal(entry["pricing"].get("web_search")),
            to_decimal(entry["pricing"].get("internal_reasoning")),
        )
        for entry in _builtin_body()["data"]
    }


def is_openrouter(base_url: str) -> bool:
    """Whether ``base_url`` is OpenRouter's API (any path on openrouter.ai or a subdomain)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "openrouter.ai" or host.endswith(".openrouter.ai")


def host_of(base_url: str) -> str:
    """``localhost:8080`` for ``http://localhost:8080/v1``: the server, as messages name it."""
    return urlsplit(base_url).netloc or base_url


def server_name(base_url: str) -> str:
    """The server as messages name it: OpenRouter, or the host (``localhost:8080``)."""
    return "OpenRouter" if is_openrouter(base_url) else host_of(base_url)


def model_list_name(base_url: str) -> str:
    """What a catalog is of: OpenRouter's model list, or the model list of <host>."""
    if is_openrouter(base_url):
        return "OpenRouter's model list"
    return f"the model list of {host_of(base_url)}"


def _builtin_body() -> dict[str, Any]:
    raw = resources.files("hive.openrouter").joinpath("builtin_catalog.json").read_text("utf-8")
    body: dict[str, Any] = json.loads(raw)
    return body


# --- the wire format ----------------------------------------------------------------------------


def to_decimal(value: object) -> Decimal | None:
    """A price exactly as stated: a decimal string (or an integer) becomes that Decimal. A JSON
    number that arrived as a float is read back from its shortest repr, never through binary.
    Anything else (text, NaN, infinity, a bool) is no price at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


Price = Annotated[Decimal | None, BeforeValidator(to_decimal)]


class _Lenient(BaseModel):
    """Keeps unknown fields; a ``null`` where a list or text is expected means "none"."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            keep = {n for n, f in cls.model_fields.items() if f.default is None}
            return {k: v for k, v in data.items() if v is not None or k in keep}
        return data


class Pricing(_Lenient):
    """USD per token unless ``PER_UNIT_PRICES`` says otherwise; -1 = unknown in advance."""

    prompt: Price = None
    completion: Price = None
    request: Price = None
    image: Price = None
    image_token: Price = None
    image_output: Price = None
    audio: Price = None
    audio_output: Price = None
    input_audio_cache: Price = None
    web_search: Price = None
    internal_reasoning: Price = None
    input_cache_read: Price = None
    input_cache_write: Price = None
    input_cache_write_1h: Price = None
    # Tiered (``min_prompt_tokens``) or time-of-day (``utc_start``/``utc_end``) prices: raw data.
    overrides: list[Any] | None = None

    def prices(self) -> dict[str, Decimal]:
        """Every stated price by name, unknown future price fields included when they parse."""
        found = {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), Decimal)
        }
        for name, raw in (self.model_extra or {}).items():
            if isinstance(raw, str) and (value := to_decimal(raw)) is not None:
                found[name] = value
        return found


class Architecture(_Lenient):
    modality: str | None = None
    input_modalities: list[str] = []
    output_modalities: list[str] = []
    tokenizer: str | None = None
    instruct_type: str | None = None


class TopProvider(_Lenient):
    context_length: int | None = None
    max_completion_tokens: int | None = None
    is_moderated: bool | None = None


class CatalogModel(_Lenient):
    id: str
    name: str = ""
    created: int | None = None
    description: str = ""
    context_length: int | None = None
    pricing: Pricing = Pricing()
    architecture: Architecture = Architecture()
    top_provider: TopProvider = TopProvider()
    supported_parameters: list[str] = []
    hugging_face_id: str | None = None  # may also be "" in real data
    knowledge_cutoff: str | None = None
    expiration_date: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def price(self) -> ModelPrice:
        """Per-token prompt/completion/request prices; a missing one counts as unknown (-1)."""
        unknown = Decimal(-1)
        p = self.pricing
        return ModelPrice(
            p.prompt if p.prompt is not None else unknown,
            p.completion if p.completion is not None else unknown,
            p.request if p.request is not None else Decimal(0),
            p.web_search,
            p.internal_reasoning,
        )

    @property
    def is_free(self) -> bool:
        """A ``:free`` variant, or input and output free with no other charge stated (image
        models priced 0 per token charge per output image instead)."""
        p = self.pricing
        charges = p.prices().values()
        return self.id.endswith(":free") or (
            p.prompt == 0 and p.completion == 0 and all(v == 0 for v in charges)
        )

    @property
    def max_output(self) -> int | None:
        return self.top_provider.max_completion_tokens


# --- the catalog --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    models: dict[str, CatalogModel]
    source: CatalogSource
    fetched_at: datetime | None = None
    skipped: int = 0  # entries in the reply that did not parse (left out, never fatal)
    problem: Exception | None = field(default=None, compare=False)  # why it is not live
    base_url: str = DEFAULT_BASE_URL  # the server whose list this is

    @classmethod
    def from_response(
        cls,
        body: Mapping[str, Any],
        *,
        source: CatalogSource,
        fetched_at: datetime | None = None,
        problem: Exception | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> Catalog:
        """Parse ``GET /models``'s ``{"data": [...]}`` (``total_count`` and ``links`` optional).
        A body of another shape is a ValueError; one bad entry is skipped, not fatal."""
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise ValueError("not a /models reply: no 'data' list")
        models: dict[str, CatalogModel] = {}
        skipped = 0
        for entry in data:
            try:
                model = CatalogModel.model_validate(entry)
            except ValidationError:
                skipped += 1
                continue
            models.setdefault(model.id, model)
        return cls(models, source, fetched_at, skipped, problem, base_url)

    @classmethod
    def unavailable(cls, base_url: str, problem: Exception | None = None) -> Catalog:
        """No list for a server other than OpenRouter: nothing known, nothing claimed. (The
        built-in catalog's ids and prices are OpenRouter's and say nothing about that host.)"""
        return cls({}, "none", None, 0, problem, base_url)

    @classmethod
    def builtin(cls, problem: Exception | None = None) -> Catalog:
        """The catalog shipped in the package: OpenRouter's entries for the models of the
        built-in profiles (so its ``base_url`` is always OpenRouter's)."""
        body = _builtin_body()
        entries = []
        for entry in body["data"]:
            entry = dict(entry)
            if "max_completion_tokens" in entry and "top_provider" not in entry:
                entry["top_provider"] = {
                    "context_length": entry.get("context_length"),
                    "max_completion_tokens": entry.pop("max_completion_tokens"),
                }
            entries.append(entry)
        snapshot = datetime.fromisoformat(body["snapshot"]).replace(tzinfo=UTC)
        return cls.from_response(
            {"data": entries}, source="built-in", fetched_at=snapshot, problem=problem
        )

    def get(self, model_id: str) -> CatalogModel | None:
        return self.models.get(model_id)

    def price(self, model_id: str) -> ModelPrice | None:
        model = self.models.get(model_id)
        return None if model is None else model.price

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        """The ids most like ``model_id`` (for "did you mean"), best first."""
        ids = list(self.models)
        by_lower = {i.lower(): i for i in ids}
        found = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.5)
        if len(found) < n:  # a bare name ("gpt-4o-mini") still finds "openai/gpt-4o-mini"
            tail = model_id.lower().rpartition("/")[2]
            by_tail = {i.lower().rpartition("/")[2]: i.lower() for i in ids}
            more = difflib.get_close_matches(tail, list(by_tail), n=n, cutoff=0.6)
            found += [by_tail[t] for t in more if by_tail[t] not in found]
        return [by_lower[f] for f in found[:n]]

    @property
    def list_name(self) -> str:
        """What this catalog is of: OpenRouter's model list, or the model list of <host>."""
        return model_list_name(self.base_url)

    def unlisted(self, model_ids: Iterable[str]) -> list[str]:
        """A warning per id this catalog does not list: with the server's own list (live or
        cached), that it is not there and the closest ids that are; with only the small built-in
        catalog, that it cannot be verified (a new model and a typo look alike); with no list
        for another server at all, one line saying nothing could be verified."""
        missing = [m for m in dict.fromkeys(model_ids) if m not in self.models]
        if not missing:
            return []
        if self.source == "none":
            return [
                f"cannot verify model ids ({', '.join(missing)}): hive has no copy of "
                f"{self.list_name}"
            ]
        if self.source == "built-in":
            return [
                f"cannot verify: {m} is not in the built-in catalog "
                f"(hive has no copy of {self.list_name})"
                for m in missing
            ]
        return [
            f"{m} is not in {self.list_name}; closest: " + (", ".join(self.closest(m)) or "none")
            for m in missing
        ]

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)
