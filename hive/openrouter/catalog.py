"""Model prices, exact as OpenRouter states them (decimal strings in USD per token).

For now only the small catalog shipped in the package (the models the built-in profiles use);
the live ``/models`` catalog arrives with cost accounting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ModelPrice:
    prompt: Decimal  # per input token
    completion: Decimal  # per output token
    request: Decimal = Decimal(0)

    @property
    def known(self) -> bool:
        """Router models (``openrouter/auto``) are priced -1: unknown until the call is made."""
        return self.prompt >= 0 and self.completion >= 0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return self.request + self.prompt * prompt_tokens + self.completion * completion_tokens


@cache
def builtin_prices() -> dict[str, ModelPrice]:
    raw = resources.files("hive.openrouter").joinpath("builtin_catalog.json").read_text("utf-8")
    return {
        entry["id"]: ModelPrice(
            Decimal(entry["pricing"]["prompt"]),
            Decimal(entry["pricing"]["completion"]),
            Decimal(entry["pricing"].get("request", "0")),
        )
        for entry in json.loads(raw)["data"]
    }
