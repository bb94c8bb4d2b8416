"""The one place Rich consoles are made: markup and highlighting off, so model text is shown
exactly as written and never read as Rich markup."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    return Console(
        stderr=stderr,
        markup=False,
        highlight=False,
        emoji=False,
        file=sys.stderr if stderr else sys.stdout,
    )
