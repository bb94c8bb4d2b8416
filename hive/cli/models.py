"""``hive models``: OpenRouter's models and their prices, from a day-long cache or offline."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hive.cli.application import App, state

if TYPE_CHECKING:
    from decimal import Decimal

    from rich.console import Console

    from hive.openrouter.catalog import Catalog
    from hive.openrouter.catalog_cache import CatalogCache, Fetch
    from hive.store.paths import Paths

app = typer.Typer(
    help="List and inspect OpenRouter's models and prices (cached for a day; works offline).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class SortBy(StrEnum):
    id = "id"
    name = "name"
    price = "price"
    context = "context"


@app.command("list")
def list_models(
    ctx: typer.Context,
    free: Annotated[bool, typer.Option("--free", help="Only models that cost nothing.")] = False,
    search: Annotated[
        str | None,
        typer.Option("--search", metavar="TEXT", help="Text in the id or name (any case)."),
    ] = None,
    max_price: Annotated[
        str | None,
        typer.Option(
            "--max-price", metavar="USD", help="USD per million tokens, for input and output alike."
        ),
    ] = None,
    sort: Annotated[
        SortBy,
        typer.Option("--sort", help="price: output price, cheapest first; context: largest first."),
    ] = SortBy.id,
    json_output: JsonFlag = False,
) -> None:
    """Models with their context size and USD per million tokens.

    Prices are exact; "varies" marks router models, priced only once the call is made."""
    import json

    from hive.ui.model_catalog import describe_price, select, summary_json

    limit = _usd(max_price)
    catalog = catalog_for(state(ctx))
    models = select(catalog, free=free, search=search, max_price=limit, sort=sort.value)
    if json_output:
        typer.echo(json.dumps([summary_json(m) for m in models], indent=2))
        return
    if not models:
        typer.echo(f"no models match (of {len(catalog)})", err=True)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True, overflow="ignore")  # ids are what users copy
    table.add_column("context", justify="right", no_wrap=True)
    table.add_column("$/M input", justify="right", no_wrap=True)
    table.add_column("$/M output", justify="right", no_wrap=True)
    for m in models:
        context = "?" if m.context_length is None else f"{m.context_length:,}"
        prices = (describe_price(m.pricing.prompt), describe_price(m.pricing.completion))
        table.add_row(m.id, context, *prices)
    table.caption = f"{len(models)} of {len(catalog)} models"
    _console(state(ctx)).print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(metavar="ID", help="A model id, e.g. openai/gpt-4o.")],
    json_output: JsonFlag = False,
) -> None:
    """Everything known about one model, and hive's own figures for it."""
    import json

    from hive.errors import UsageError
    from hive.ui.model_catalog import detail_json, details

    paths = state(ctx).paths
    catalog = catalog_for(state(ctx))
    model = catalog.get(model_id)
    if model is None:
        close = catalog.closest(model_id)
        hint = f"closest: {', '.join(close)}" if close else "see `hive models list`"
        raise UsageError(f"unknown model {model_id}; {hint}")
    figures = _own_figures(paths, model.id)
    if json_output:
        row = {**detail_json(model), "hive_figures": figures}
        typer.echo(json.dumps(row, indent=2, default=str, ensure_ascii=False))
        return
    for line in details(model, figures):
        typer.echo(line)


@app.command("refresh")
def refresh(ctx: typer.Context) -> None:
    """Fetch the model list now (from OpenRouter, or the base_url setting's server) and cache it."""
    import asyncio

    from hive.openrouter.catalog_cache import cache_file, fetch_catalog

    paths = state(ctx).paths
    fetch, base_url = _fetcher(state(ctx))
    cache = catalog_cache(paths)
    catalog = asyncio.run(fetch_catalog(cache, fetch, base_url=base_url))
    from hive.openrouter.catalog import server_name

    where = cache_file(cache, base_url)
    typer.echo(f"cached {len(catalog)} models of {server_name(base_url)} in {where}")


def _usd(text: str | None) -> Decimal | None:
    """``--max-price`` as an exact Decimal (never a float)."""
    if text is None:
        return None
    from decimal import Decimal, InvalidOperation

    from hive.errors import UsageError

    try:
        value = Decimal(text.strip().removeprefix("$"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise UsageError(f"--max-price must be a number of USD, 0 or more (got {text!r})")
    return value


def _fetcher(app: App) -> tuple[Fetch, str]:
    """A fetch of ``GET /models`` from the configured server, and that server's base URL (the
    cache it fills is that server's)."""
    from hive.cli.http import http_client
    from hive.openrouter.client import OpenRouterClient
    from hive.store.keys import resolve_key

    settings = app.settings
    key = resolve_key(app.paths)  # /models is public; a key only goes along if there is one

    async def fetch() -> dict[str, Any]:
        async with http_client(settings, key.value if key else None) as http:
            return await OpenRouterClient(http).list_models()

    return fetch, settings.base_url


def catalog_cache(paths: Paths) -> CatalogCache:
    """hive's cache of model lists: its cache folder, written to atomically by the store."""
    from hive.openrouter.catalog_cache import CatalogCache
    from hive.store.files import atomic_write

    return CatalogCache(paths.cache_dir, atomic_write)


def catalog_for(app: App) -> Catalog:
    """The configured server's model list as the model commands read it: a fresh cache, else
    a fetch, else a stale cache, else the built-in catalog (a note on stderr says which)."""
    import asyncio

    from hive.openrouter.catalog_cache import load_catalog, provenance_note

    fetch, base_url = _fetcher(app)
    catalog = asyncio.run(load_catalog(catalog_cache(app.paths), fetch, base_url=base_url))
    if note := provenance_note(catalog):
        typer.echo(f"note: {note}", err=True)
    return catalog


def _console(app: App) -> Console:
    from hive.ui.console import make_console

    return make_console(app.settings.color)


def _own_figures(paths: Paths, model_id: str) -> dict[str, Any] | None:
    """hive's own figures for the model from history, as ``--json`` shows them (None when it
    has none)."""
    from hive.errors import HiveError
    from hive.store.history import model_stats

    try:
        stats = model_stats(paths, model_id)
    except HiveError as exc:  # an unreadable history must not hide what the catalog knows
        typer.echo(f"note: hive's own figures are unavailable: {exc}", err=True)
        return None
    return None if stats is None else stats.as_json()
