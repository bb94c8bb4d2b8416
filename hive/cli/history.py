"""``hive history``: list, show, export and delete recorded runs."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="List, show, export and delete recorded runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
