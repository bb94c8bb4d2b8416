"""What ``hive models`` shows: which models a listing keeps, and how prices and details read.

Prices stay ``Decimal`` to the last digit: per million tokens is an exact shift, never a float.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from hive.openrouter.catalog import PER_UNIT_PRICES, CatalogModel, ModelPrice

MILLION = 6  # decimal places to shift for a per-million-token figure
SortKey = Literal["id", "name", "price", "context"]


def select(
    models: Iterable[CatalogModel],
    *,
    free: bool = False,
    search: str | None = None,
    max_price: Decimal | None = None,
    sort: SortKey = "id",
) -> list[CatalogModel]:
    """Filter and order models as ``hive models list`` does. ``max_price`` is USD per million
    tokens, met when both input and output cost at most that (unknown prices never meet it)."""
    needle = (search or "").casefold()
    chosen = [
        m
        for m in models
        if (not free or m.is_free)
        and (not needle or needle in m.id.casefold() or needle in m.name.casefold())
        and (max_price is None or _within(m.price, max_price))
    ]
    if sort == "price":
        chosen.sort(key=lambda m: (not m.price.known, m.price.completion, m.price.prompt, m.id))
    elif sort == "context":
        chosen.sort(key=lambda m: (m.context_length is None, -(m.context_length or 0), m.id))
    elif sort == "name":
        chosen.sort(key=lambda m: (m.display_name.casefold(), m.id))
    else:
        chosen.sort(key=lambda m: m.id)
    return chosen


def _within(price: ModelPrice, limit: Decimal) -> bool:
    return price.known and max(price.prompt, price.completion).scaleb(MILLION) <= limit


def plain(value: Decimal) -> str:
    """A Decimal in positional notation, exactly (``str`` would give ``1.5E-7``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def per_million(value: Decimal | None) -> str | None:
    """USD per million tokens from USD per token, exact; None when unknown (-1 or missing)."""
    if value is None or value < 0:
        return None
    return plain(value.scaleb(MILLION))


def describe_price(value: Decimal | None) -> str:
    """What the table shows: "free", "varies" (router models), or the exact figure."""
    if value is None or value < 0:
        return "varies"
    return "free" if value == 0 else plain(value.scaleb(MILLION))


def summary_json(model: CatalogModel) -> dict[str, Any]:
    """One row of ``hive models list --json``."""
    p = model.pricing
    return {
        "id": model.id,
        "name": model.name,
        "context_length": model.context_length,
        "pricing": {
            "per_million": {
                "prompt": per_million(p.prompt),
                "completion": per_million(p.completion),
            },
            "per_token": {
                "prompt": None if p.prompt is None else plain(p.prompt),
                "completion": None if p.completion is None else plain(p.completion),
            },
        },
        "modalities": {
            "input": list(model.architecture.input_modalities),
            "output": list(model.architecture.output_modalities),
        },
    }


def detail_json(model: CatalogModel) -> dict[str, Any]:
    """``hive models show --json``: the summary plus every price and the model's details."""
    row = summary_json(model)
    prices = model.pricing.prices()
    row["pricing"] = {
        "known": model.price.known,
        "per_million": {n: per_million(v) for n, v in prices.items() if n not in PER_UNIT_PRICES},
        "per_token": {n: plain(v) for n, v in prices.items() if n not in PER_UNIT_PRICES},
        "per_unit": {n: plain(v) for n, v in prices.items() if n in PER_UNIT_PRICES},
        "overrides": model.pricing.overrides,
    }
    row.update(
        description=model.description,
        created=model.created,
        max_completion_tokens=model.max_output,
        is_moderated=model.top_provider.is_moderated,
        tokenizer=model.architecture.tokenizer,
        supported_parameters=list(model.supported_parameters),
        hugging_face_id=model.hugging_face_id,
        knowledge_cutoff=model.knowledge_cutoff,
        expiration_date=model.expiration_date,
    )
    return row


def details(model: CatalogModel, figures: dict[str, Any] | None) -> list[str]:
    def tokens(n: int | None) -> str:
        return "unknown" if n is None else f"{n:,} tokens"

    arch = model.architecture
    flags = {True: "yes", False: "no", None: "unknown"}
    rows: list[tuple[str, str]] = [
        ("context", tokens(model.context_length)),
        ("max output", tokens(model.max_output)),
    ]
    for name, value in model.pricing.prices().items():
        if name in PER_UNIT_PRICES:
            rows.append((name, f"${plain(value)} per {PER_UNIT_PRICES[name]}"))
        else:
            shown = describe_price(value)
            rows.append((name, shown if shown in ("free", "varies") else f"${shown} per M tokens"))
    if model.pricing.overrides:
        rows.append(("price tiers", f"{len(model.pricing.overrides)} (see --json)"))
    modalities = f"{', '.join(arch.input_modalities)} -> {', '.join(arch.output_modalities)}"
    rows += [
        ("modalities", modalities if arch.input_modalities else "unknown"),
        ("parameters", ", ".join(model.supported_parameters) or "unknown"),
        ("moderated", flags[model.top_provider.is_moderated]),
        ("knowledge cutoff", model.knowledge_cutoff or "unknown"),
        ("expires", model.expiration_date or "no date set"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{model.id}  ({model.display_name})"]
    lines += [model.description] if model.description else []
    lines += [f"  {label + ':':<{width + 1}}  {value}" for label, value in rows]
    if figures is not None:
        lines.append("hive's own figures")
        lines += [f"  {name}: {figure(name, value)}" for name, value in figures.items()]
    return lines


def figure(name: str, value: object) -> str:
    if value is None:
        return "$?" if name.endswith("cost") else "-"
    if name == "success_rate" and isinstance(value, float) and 0 <= value <= 1:
        return f"{value:.0%}"
    if name.endswith("_ms") and isinstance(value, int | float):
        return f"{value:,.0f} ms"
    return f"${value}" if name.endswith("cost") else str(value)
