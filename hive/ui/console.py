"""The one place Rich consoles are made: markup and highlighting off, so model text is shown
exactly as written and never read as Rich markup."""

from __future__ import annotations

from rich.console import Console


def make_console(color: str = "auto", *, stderr: bool = False) -> Console:
    """``color`` is the setting: auto (Rich decides, honouring NO_COLOR), always, or never;
    ``stderr``: a console on standard error (the live view's), else on standard output."""
    return Console(
        stderr=stderr,
        markup=False,
        highlight=False,
        emoji=False,
        no_color=True if color == "never" else None,
        force_terminal=True if color == "always" else None,
    )
