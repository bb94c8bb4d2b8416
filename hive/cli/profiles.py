"""``hive profiles``: the built-in profiles and the models each stage uses."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="List the profiles and the models each stage uses.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("list")
def list_profiles(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List profiles with their models per stage (the default is marked)."""
    import json

    from hive.consensus.profiles import BUILTIN_PROFILES, DEFAULT_PROFILE, STAGES

    if json_output:
        data = [
            {
                "name": p.name,
                "default": p.name == DEFAULT_PROFILE,
                "description": p.description,
                "stages": {
                    s: {
                        "models": list(p.stage(s).models),
                        "temperature": p.stage(s).temperature,
                        "max_tokens": p.stage(s).max_tokens,
                    }
                    for s in STAGES
                },
            }
            for p in BUILTIN_PROFILES.values()
        ]
        typer.echo(json.dumps(data, indent=2))
        return

    from rich.table import Table

    from hive.ui.console import make_console

    table = Table(show_lines=True)
    table.add_column("profile", no_wrap=True)
    for stage in STAGES:
        table.add_column(stage)
    for p in BUILTIN_PROFILES.values():
        name = f"{p.name} (default)" if p.name == DEFAULT_PROFILE else p.name
        table.add_row(name, *("\n".join(p.stage(s).models) for s in STAGES))
    make_console().print(table)
