"""``hive cost``: what hive has spent, by period, model, profile or stage."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="What hive has spent: by day, week or month, model, profile or stage.",
    rich_markup_mode=None,
)
