"""``hive keys``: store, show (masked), test and remove API keys."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.application import state

if TYPE_CHECKING:
    from hive.openrouter.client import KeyInfo
    from hive.store.paths import Paths

app = typer.Typer(
    help="Store, show (masked), test and remove API keys.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Provider = Annotated[str, typer.Argument(help="The provider (only openrouter for now).")]


def _read_key() -> str:
    """Hidden prompt at a terminal; all of stdin when piped (for scripts), so a key broken
    over two lines is refused whole rather than stored cut short."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("OpenRouter API key (input hidden): ")
    return sys.stdin.read()


@app.command("set")
def set_key(
    ctx: typer.Context,
    provider: Provider = "openrouter",
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Check the key with OpenRouter; store it only if it works."),
    ] = False,
) -> None:
    """Store a key (prompted with hidden input, or read from stdin when piped)."""
    from hive import env
    from hive.redact import mask_key
    from hive.store.keys import check_provider, check_shape, store_key

    check_provider(provider)
    key = check_shape(_read_key())
    paths = state(ctx).paths
    if verify:
        _print_info(_fetch_info(paths, key))
    store_key(paths, key, provider)
    typer.echo(f"stored {mask_key(key)} in {paths.keys_file}")
    if found := env.api_key():
        typer.echo(f"note: {found[0]} is set in the environment and takes precedence", err=True)


@app.command("show")
def show(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every key hive can see, masked, with where it comes from and which one is used."""
    import json
    import os

    from hive import env
    from hive.redact import mask_key
    from hive.store.keys import key_problem, stored_key

    paths = state(ctx).paths
    found = [
        (value, f"environment ({name})")
        for name in env.KEY_VARIABLES
        if (value := os.environ.get(name, "").strip())
    ]
    if stored := stored_key(paths):
        found.append((stored, f"file ({paths.keys_file})"))
    rows = [
        {"provider": "openrouter", "key": mask_key(key), "source": source, "in_use": i == 0}
        | ({"unusable": problem} if (problem := key_problem(key)) else {})
        for i, (key, source) in enumerate(found)
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
    elif not rows:
        typer.echo("no OpenRouter key set: hive runs in simulation mode (run `hive keys set`)")
    for row in [] if json_output else rows:
        marker = "  (in use)" if row["in_use"] else "  (overridden)"
        if "unusable" in row:
            marker += f"  (unusable: {row['unusable']})"
        typer.echo(f"{row['provider']}  {row['key']}  {row['source']}{marker}")


@app.command("remove")
def remove(ctx: typer.Context, provider: Provider = "openrouter") -> None:
    """Delete the stored key (keys in the environment are yours to unset)."""
    from hive.store.keys import check_provider, remove_key

    check_provider(provider)
    paths = state(ctx).paths
    removed = remove_key(paths, provider)
    typer.echo(f"removed the stored {provider} key" if removed else f"no stored {provider} key")


@app.command("test")
def test(
    ctx: typer.Context,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Test this key instead.", show_default=False)
    ] = None,
) -> None:
    """Ask OpenRouter about the key hive would use: label, usage, limit, free tier."""
    from hive.errors import AuthError
    from hive.store.keys import resolve_key

    paths = state(ctx).paths
    resolved = resolve_key(paths, api_key)
    if resolved is None:
        raise AuthError("no OpenRouter key set: run `hive keys set` or set OPENROUTER_API_KEY")
    typer.echo(f"testing the key from {resolved.source}", err=True)
    _print_info(_fetch_info(paths, resolved.value))


def _fetch_info(paths: Paths, key: str) -> KeyInfo:
    import asyncio

    from hive.cli.http import http_client
    from hive.openrouter.client import OpenRouterClient
    from hive.store.settings import load_settings

    settings = load_settings(paths).settings

    async def fetch() -> KeyInfo:
        async with http_client(settings, key) as http:
            return await OpenRouterClient(http).key_info()

    return asyncio.run(fetch())


def _print_info(info: KeyInfo) -> None:
    def usd(value: object) -> str:
        return "unknown" if value is None else f"${value}"

    typer.echo("the key works")
    typer.echo(f"  label:      {info.label or '(none)'}")
    typer.echo(f"  usage:      {usd(info.usage)}")
    typer.echo(f"  limit:      {'none' if info.limit is None else usd(info.limit)}")
    if info.limit_remaining is not None:
        typer.echo(f"  remaining:  {usd(info.limit_remaining)}")
    free = {True: "yes", False: "no", None: "unknown"}[info.is_free_tier]
    typer.echo(f"  free tier:  {free}")
    if info.expires_at:
        typer.echo(f"  expires:    {info.expires_at}")
