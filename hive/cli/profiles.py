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

    # One row per stage, model ids never cut: they are what a user copies.
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("profile", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("models", no_wrap=True, overflow="ignore")
    table.add_column("temp", justify="right", no_wrap=True, min_width=4)
    table.add_column("max out", justify="right", no_wrap=True, min_width=7)
    for p in BUILTIN_PROFILES.values():
        name = f"{p.name} *" if p.name == DEFAULT_PROFILE else p.name
        for i, stage in enumerate(STAGES):
            spec = p.stage(stage)
            table.add_row(
                name if i == 0 else "",
                stage,
                "\n".join(spec.models),
                f"{spec.temperature:g}",
                str(spec.max_tokens),
            )
        table.add_section()
    console = make_console()
    console.print(table)
    console.print("* default profile")
