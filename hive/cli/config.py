"""``hive config``: show, get, set, unset and edit settings; print where hive keeps its files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hive.cli.application import state

app = typer.Typer(
    help="Show and change settings (config.toml); print where hive keeps its files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="A setting name (see `hive config show`).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("show")
def show(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Explain each setting.")] = False,
) -> None:
    """Every setting's effective value and where it came from (default, file or environment)."""
    import json

    from hive.store.settings import ENVIRONMENT, Settings

    loaded = state(ctx).loaded
    values = loaded.settings.model_dump(mode="json")
    if json_output:
        rows = {
            n: {
                "value": v,
                "source": loaded.sources[n],
                "description": Settings.model_fields[n].description,
            }
            for n, v in values.items()
        }
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from hive.ui.console import make_console

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", no_wrap=True)  # values are what people copy: never broken
    table.add_column("source", no_wrap=True)
    for name, value in values.items():
        shown = "(not set)" if value is None else _toml_text(value)
        table.add_row(name, shown, loaded.sources[name])
    make_console(loaded.settings.color).print(table)
    if verbose:  # what each means, and the environment variable that overrides it
        for name, field in Settings.model_fields.items():
            variable = f" [{ENVIRONMENT[name]}]" if name in ENVIRONMENT else ""
            typer.echo(f"{name}{variable}: {field.description}")


@app.command("get")
def get(ctx: typer.Context, name: Name) -> None:
    """Print one setting's effective value."""
    from decimal import Decimal

    from hive.money import money_text
    from hive.store.settings import check_name

    check_name(name)
    value = getattr(state(ctx).settings, name)
    # Unset prints an empty line (for scripts); amounts in plain decimal, never 1E-7.
    if isinstance(value, Decimal):
        value = money_text(value)
    typer.echo("" if value is None else _toml_text(value))


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Name,
    value: Annotated[str, typer.Argument(help="The value: a number, true/false, or text.")],
) -> None:
    """Validate and store a setting in config.toml (default_profile must name a profile)."""
    import json

    from hive.store.settings import set_setting

    paths = state(ctx).paths
    if name == "default_profile":
        from hive.store.user_profiles import ProfileStore

        ProfileStore(paths).entry(value)  # a UsageError naming the profiles if not
    stored = set_setting(paths, name, value)
    typer.echo(f"{name} = {json.dumps(stored) if isinstance(stored, str) else _toml_text(stored)}")


@app.command("unset")
def unset(ctx: typer.Context, name: Name) -> None:
    """Remove a setting from config.toml, back to its default."""
    from hive.store.settings import unset_setting

    removed = unset_setting(state(ctx).paths, name)
    typer.echo(f"{name} reset to its default" if removed else f"{name} was not set")


@app.command("edit")
def edit(ctx: typer.Context) -> None:
    """Open config.toml in $VISUAL or $EDITOR; the change is kept only if it validates."""
    from hive.store.config_edit import edit_config
    from hive.store.files import read_toml
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths

    def names_a_profile(copy: Path) -> None:
        """A default_profile changed by the edit must name a profile (one already in the
        file is left to `hive consensus` to report, so it never blocks other edits)."""
        name = read_toml(copy).get("default_profile")
        if isinstance(name, str) and name != read_toml(config_file).get("default_profile"):
            ProfileStore(paths).entry(name)

    config_file = paths.config_file
    saved = edit_config(config_file, check=names_a_profile)
    typer.echo(f"saved {config_file}" if saved else "no changes")


@app.command("path")
def path(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Print the folders and files hive uses (HIVE_HOME puts them all under one folder)."""
    import json

    paths = state(ctx).paths
    rows = {
        "config_dir": str(paths.config_dir),
        "data_dir": str(paths.data_dir),
        "cache_dir": str(paths.cache_dir),
        "config_file": str(paths.config_file),
        "profiles_file": str(paths.profiles_file),
        "keys_file": str(paths.keys_file),
    }
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(map(len, rows))
    for key, value in rows.items():
        typer.echo(f"{key:<{width}}  {value}")


def _toml_text(value: object) -> str:
    """A setting's value as the file holds it: ``true``/``false``, not Python's ``True``."""
    return str(value).lower() if isinstance(value, bool) else str(value)
