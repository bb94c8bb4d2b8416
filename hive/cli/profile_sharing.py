"""``hive profiles export`` and ``import``: profiles as TOML files a team can share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hive.cli.application import state
from hive.cli.profiles import Force, Name, app


@app.command("export")
def export(
    ctx: typer.Context,
    name: Name,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print a profile as TOML, ready for `hive profiles import` on another machine."""
    import tomli_w

    from hive.store.files import atomic_write
    from hive.store.user_profiles import ProfileStore, profile_to_toml

    profile = ProfileStore(state(ctx).paths).get(name)
    text = tomli_w.dumps({name: profile_to_toml(profile)})
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write(output, text.encode("utf-8"))
        typer.echo(f"exported {name!r} to {output}", err=True)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A TOML file from `hive profiles export`, or -.")],
    force: Force = False,
) -> None:
    """Add the profiles in a TOML file (all are checked before any is stored)."""
    import tomllib

    from hive.errors import ConfigError
    from hive.store.files import read_toml
    from hive.store.user_profiles import ProfileStore, parse_profiles

    if file == "-":
        try:
            data = tomllib.loads(sys.stdin.read())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"stdin: invalid TOML: {exc}") from exc
    else:
        if not Path(file).is_file():
            raise ConfigError(f"{file}: no such file")
        data = read_toml(Path(file))
    profiles = parse_profiles(data, file)
    if not profiles:
        raise ConfigError(f"{file}: no profiles in it")
    ProfileStore(state(ctx).paths).save(*profiles.values(), force=force)
    for profile_name in profiles:
        typer.echo(f"imported profile {profile_name!r}")
