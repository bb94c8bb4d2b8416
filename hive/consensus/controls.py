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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Effort = Literal["xhigh", "high", "medium", "low", "minimal", "none"]
# OpenRouter turns an effort into a share of the request's max_tokens for models that take a
# token budget: budget = max(min(max_tokens * share, 128000), 1024) ("Reasoning Tokens").
EFFORT_SHARE: dict[str, Decimal] = {
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

# The web plugin's Exa engine bills per result: $4 per 1,000 ("Web Search"); at most 5
# results unless a profile says otherwise.
EXA_PER_RESULT = Decimal("0.004")
DEFAULT_RESULTS = 5


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
    exclude: bool | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ReasoningSpec:
        if self.effort is not None and self.max_tokens is not None:
            raise ValueError("reasoning takes effort or max_tokens, not both")
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
            return self.max_tokens
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

    order: tuple[str, ...] | None = None
    allow_fallbacks: bool | None = None
    require_parameters: bool | None = None
    data_collection: Literal["allow", "deny"] | None = None
    zdr: bool | None = None
    only: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    quantizations: tuple[str, ...] | None = None
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
    """OpenRouter's web search plugin for a stage's calls: ``{"id": "web", ...}``."""

    max_results: int | None = Field(default=None, ge=1, le=25)
    engine: Literal["native", "exa"] | None = None
    search_prompt: str | None = None

    def body(self) -> dict[str, Any]:
        return {"id": "web", **self.model_dump(mode="json", exclude_none=True)}

    def worst_fee(self, native_price: Decimal | None) -> Decimal | None:
        """The most one call's search may add: Exa's per-result fee for every result it may
        return; for the native engine the model's stated per-search price (None: unknown).
        Without an engine OpenRouter uses native search where the provider has it, else
        Exa, so the dearer of the two bounds it."""
        exa = EXA_PER_RESULT * (self.max_results or DEFAULT_RESULTS)
        if self.engine == "exa":
            return exa
        if native_price is None or native_price < 0:
            return None if self.engine == "native" else exa
        return native_price if self.engine == "native" else max(exa, native_price)


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
        else:
            what = f"effort {reasoning.effort or 'the model default'}"
        hidden = ", not returned (still billed)" if reasoning.exclude else ""
        lines.append(f"reasoning: {what}{hidden}")
    if web is not None:
        results = web.max_results or DEFAULT_RESULTS
        engine = f", {web.engine} engine" if web.engine else ""
        lines.append(f"web search: up to {results} results{engine}")
    if routing is not None and (body := routing.body()):
        parts = []
        for key, value in body.items():
            if isinstance(value, list):
                value = ",".join(map(str, value))
            elif isinstance(value, dict):
                value = ",".join(f"{k}={v:g}/M" if k in ("prompt", "completion") else f"{k}={v:g}"
                                 for k, v in value.items())  # fmt: skip
            elif isinstance(value, bool):
                value = str(value).lower()
            parts.append(f"{key}={value}")
        lines.append(f"providers: {' '.join(parts)}")
    return lines
