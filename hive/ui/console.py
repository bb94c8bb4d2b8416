"""The one place Rich consoles are made: markup and highlighting off, so model text is shown
exactly as written and never read as Rich markup."""

from __future__ import annotations

from rich.console import Console


def make_console() -> Console:
    return Console(markup=False, highlight=False, emoji=False)
