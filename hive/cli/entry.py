"""The console script's entry point (``hive``, and ``python -m hive``).

``hive --version`` is answered here, before anything else loads: importing Typer and Click
alone costs several times the interpreter's own start-up, and a version check — run by
scripts, installers and shell prompts — needs neither. Everything else goes to the Typer app.
"""

from __future__ import annotations

import sys

VERSION_FLAGS = (["--version"], ["-V"])


def main() -> None:
    if sys.argv[1:] in VERSION_FLAGS:
        print_version()
        return
    from hive.cli.app import main as run_app

    run_app()


def print_version() -> None:
    """``hive <version>``, as ``hive --version`` prints it through Typer too."""
    from hive import __version__

    try:
        sys.stdout.write(f"hive {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `hive --version | true`: nothing to say, and no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
