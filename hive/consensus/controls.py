"""OpenRouter's per-call controls a profile may set: reasoning, provider routing, web search.

Each spec validates what a profile's TOML says and writes the request field exactly as
OpenRouter documents it (``body()``), so what hive sends is what the docs name, and nothing
when a profile sets nothing. What they add to a call's cost (web search fees, a provider
price cap) and the check that a reasoning budget leaves room for an answer are pure functions
here too, table-tested in ``tests/test_controls.py``.

Sources: OpenRouter's "Reasoning Tokens", "Provider Routing" and "Web Search" pages (the
README links them); the captured reasoning stream in ``../shared/fixtures/openrouter/``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

Effort = Literal["max", "xhigh", "high", "medium", "low", "minimal", "none"]
# OpenRouter turns an effort into a share of the request's max_tokens for models that take a
# token budget: budget = max(min(max_tokens * share, 128000), 1024) ("Reasoning Tokens").
EFFORT_SHARE: dict[str, Decimal] = {
    "max": Decimal("0.95"),
    "xhigh": Decimal("0.95"),
    "high": Decimal("0.8"),
    "medium": Decimal("0.5"),
    "low": Decimal("0.2"),
    "minimal": Decimal("0.1"),
    "none": Decimal(0),
}
BUDGET_FLOOR, BUDGET_CEILING = 1024, 128_000
# Fewer output tokens than this left for the answer after the reasoning budget is a warning:
# a verdict or a draft needs room, and a model that spends max_tokens thinking answers nothing.
ANSWER_ROOM = 512

# What one web search costs on OpenRouter's own engines, per its "Web Search" page (August
# 2026): Exa $0.007, Parallel (basic) $0.005, Perplexity $0.005 a search, each including up to
# 10 results and $0.001 a result beyond. A native search is priced per model in the catalog
# (``pricing.web_search``). These bound the estimate and the budget only: what a call cost is
# always the server's ``usage.cost``, which includes the search.
ENGINE_PRICE: dict[str, Decimal] = {
    "exa": Decimal("0.007"),
    "parallel": Decimal("0.005"),
    "perplexity": Decimal("0.005"),
}
INCLUDED_RESULTS = 10
EXTRA_RESULT = Decimal("0.001")
DEFAULT_RESULTS = 5  # OpenRouter's default max_results
DEFAULT_USES = 1  # searches a call may run: hive always sends max_uses, so the fee is bounded


def _listed(value: object) -> object:
    """A TOML user may write one name where a list is meant (``only = "anthropic"``)."""
    return [value] if isinstance(value, str) else value


Names = Annotated[tuple[str, ...], BeforeValidator(_listed)]
# OpenRouter's documented quantization levels.
Quantization = Literal["int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, Any]:
        """The documented request object: only the fields the profile set."""
        return self.model_dump(mode="json", exclude_none=True)


class ReasoningSpec(_Strict):
    """OpenRouter's ``reasoning`` object: an ``effort`` or a token budget (``max_tokens``),
    never both; ``exclude`` keeps the reasoning out of the response (it is still billed);
    ``enabled`` turns a model's default reasoning on or off."""

    effort: Effort | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    exclude: StrictBool | None = None
    enabled: StrictBool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ReasoningSpec:
        if self.effort is not None and self.max_tokens is not None:
            raise ValueError("reasoning takes effort or max_tokens, not both")
        if self.enabled is False and (self.effort not in (None, "none") or self.max_tokens):
            raise ValueError("reasoning is enabled = false: it takes no effort or max_tokens")
        return self

    @property
    def off(self) -> bool:
        return self.enabled is False or self.effort == "none"

    def budget(self, max_tokens: int) -> int:
        """The most output tokens the reasoning may take out of a call's ``max_tokens``: its
        own ``max_tokens``, else the effort's share (medium when only enabled), as OpenRouter
        computes it; 0 when reasoning is off."""
        if self.off:
            return 0
        if self.max_tokens is not None:
            return max(self.max_tokens, BUDGET_FLOOR)
        share = EFFORT_SHARE[self.effort or "medium"]
        return max(min(int(max_tokens * share), BUDGET_CEILING), BUDGET_FLOOR)


def answer_room_warning(stage: str, reasoning: ReasoningSpec | None, max_tokens: int) -> str | None:
    """Why ``stage`` may answer nothing: its reasoning budget leaves fewer than
    ``ANSWER_ROOM`` of its ``max_tokens`` for the answer. None when there is room."""
    if reasoning is None:
        return None
    budget = reasoning.budget(max_tokens)
    if budget == 0 or max_tokens - budget >= ANSWER_ROOM:
        return None
    left = max(max_tokens - budget, 0)
    return (
        f"{stage}: reasoning may take {budget} of its {max_tokens} max_tokens, leaving {left} "
        f"for the answer; raise {stage}'s max_tokens or lower its reasoning"
    )


class MaxPrice(_Strict):
    """The most a routed provider may charge: USD per million prompt / completion tokens, and
    per request and per image; providers above it are not used."""

    prompt: float | None = Field(default=None, ge=0)
    completion: float | None = Field(default=None, ge=0)
    request: float | None = Field(default=None, ge=0)
    image: float | None = Field(default=None, ge=0)

    def per_token(self, field: str) -> Decimal | None:
        """A per-million cap as USD per token (the catalog's unit); None: no cap."""
        value = getattr(self, field)
        return None if value is None else Decimal(str(value)) / 1_000_000


Sort = Literal["price", "throughput", "latency"]


class ProviderSpec(_Strict):
    """OpenRouter's ``provider`` routing preferences, field for field."""

    order: Names | None = None
    allow_fallbacks: StrictBool | None = None
    require_parameters: StrictBool | None = None
    data_collection: Literal["allow", "deny"] | None = None
    zdr: StrictBool | None = None
    only: Names | None = None
    ignore: Names | None = None
    quantizations: tuple[Quantization, ...] | None = None
    sort: Sort | None = None
    max_price: MaxPrice | None = None

    def body(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude_none=True)
        if not body.get("max_price"):
            body.pop("max_price", None)
        return body

    def over(self, base: ProviderSpec | None) -> ProviderSpec:
        """These preferences laid over ``base`` (a profile's): a field set here wins."""
        if base is None:
            return self
        own = {name: getattr(self, name) for name in self.model_fields_set}
        return base.model_copy(update={k: v for k, v in own.items() if v is not None})

    def with_policy(self, data_collection: str | None, zdr: bool | None) -> ProviderSpec:
        """The global data policy applied: the stricter of the setting and the profile wins
        (``deny`` over ``allow``, ``zdr`` on over off), so no profile can loosen it."""
        update: dict[str, Any] = {}
        if data_collection == "deny":
            update["data_collection"] = "deny"
        if zdr:
            update["zdr"] = True
        return self.model_copy(update=update) if update else self


class WebSpec(_Strict):
    """OpenRouter's web search server tool for a stage's calls, sent as
    ``{"type": "openrouter:web_search", "parameters": {...}}`` in ``tools`` (the ``web``
    plugin and ``:online`` are deprecated). The model decides whether to search; ``max_uses``
    (always sent) caps how often, so a call's search fee has a bound."""

    # auto (OpenRouter's default): the provider's native search where it has one, else Exa.
    engine: Literal["auto", "native", "exa", "parallel", "perplexity"] | None = None
    max_results: int | None = Field(default=None, ge=1, le=25)
    max_uses: int = Field(default=DEFAULT_USES, ge=1, le=10)
    search_context_size: Literal["low", "medium", "high"] | None = None
    allowed_domains: Names | None = None
    excluded_domains: Names | None = None

    def body(self) -> dict[str, Any]:
        parameters = self.model_dump(mode="json", exclude_none=True)
        return {"type": "openrouter:web_search", "parameters": parameters}

    def worst_fee(self, native_price: Decimal | None) -> Decimal | None:
        """The most one call's searches may add: ``max_uses`` searches, each at its engine's
        price (more results than the ten included cost extra), or at the model's stated
        native price. For ``auto`` the dearer of native and Exa. None when the model's
        native price is unknown and native search is asked for."""
        results = self.max_results or DEFAULT_RESULTS
        extra = EXTRA_RESULT * max(results - INCLUDED_RESULTS, 0)
        native = native_price if native_price is not None and native_price >= 0 else None
        engine = self.engine or "auto"
        if engine == "native":
            if native is None:
                return None
            per_search = native
        elif engine == "auto":
            exa = ENGINE_PRICE["exa"] + extra
            per_search = exa if native is None else max(exa, native)
        else:
            per_search = ENGINE_PRICE[engine] + extra
        return per_search * self.max_uses


def describe(
    reasoning: ReasoningSpec | None, routing: ProviderSpec | None, web: WebSpec | None
) -> list[str]:
    """A stage's controls in words, one line each (``hive profiles show``); none when unset."""
    lines = []
    if reasoning is not None:
        if reasoning.off:
            what = "off"
        elif reasoning.max_tokens is not None:
            what = f"up to {reasoning.max_tokens} tokens"
        elif reasoning.effort is not None:
            what = f"effort {reasoning.effort}"
        else:
            what = "on, at the model's default effort"
        hidden = ", not returned (still billed)" if reasoning.exclude else ""
        lines.append(f"reasoning: {what}{hidden}")
    if web is not None:
        parts = [f"up to {web.max_uses} search{'es' if web.max_uses != 1 else ''}"]
        if web.max_results:
            parts.append(f"{web.max_results} results each")
        if web.engine:
            parts.append(f"{web.engine} engine")
        if web.search_context_size:
            parts.append(f"{web.search_context_size} search context")
        if web.allowed_domains:
            parts.append(f"only {', '.join(web.allowed_domains)}")
        if web.excluded_domains:
            parts.append(f"not {', '.join(web.excluded_domains)}")
        lines.append(f"web search: {', '.join(parts)}")
    if routing is not None and (words := routing_words(routing)):
        lines.append(f"providers: {'; '.join(words)}")
    return lines


def routing_words(routing: ProviderSpec) -> list[str]:
    """Provider preferences as a reader says them, one phrase per field set."""
    words = []
    if routing.data_collection == "deny":
        words.append("no data collection")
    elif routing.data_collection == "allow":
        words.append("data collection allowed")
    if routing.zdr is not None:
        words.append("zero data retention only" if routing.zdr else "zdr off")
    for name, phrase in (("order", "try in order"), ("only", "only"), ("ignore", "never"),
                         ("quantizations", "quantized as")):  # fmt: skip
        names = getattr(routing, name)
        if names:
            words.append(f"{phrase} {', '.join(names)}")
    if routing.sort:
        words.append(f"sorted by {routing.sort}")
    if routing.allow_fallbacks is False:
        words.append("no fallback providers")
    if routing.require_parameters:
        words.append("providers must take every parameter")
    cap = routing.max_price
    if cap is not None:
        prices = [f"${getattr(cap, k):g}/M {k}" for k in ("prompt", "completion")
                  if getattr(cap, k) is not None]  # fmt: skip
        prices += [f"${getattr(cap, k):g} per {k}" for k in ("request", "image")
                   if getattr(cap, k) is not None]  # fmt: skip
        if prices:
            words.append(f"at most {', '.join(prices)}")
    return words
