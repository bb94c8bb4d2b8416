"""The Typer app. Command modules are imported here, but they import nothing heavy at module
level: httpx and Rich's live view load only inside the command that runs, so ``hive --help``
stays fast. (Typer itself imports pydantic to coerce a subcommand's arguments, so it loads for
``hive consensus`` but not for the root.) A bare ``hive --version`` never gets here: the
entry point (hive/cli/entry.py) answers it before Typer loads; ``--version`` below serves it
after other root options."""

from __future__ import annotations

from typing import Annotated

import typer

from hive import __version__
from hive.cli import (
    config,
    consensus,
    cost,
    history,
    history_rerun,
    keys,
    models,
    profile_authoring,
    profile_check,
    profile_sharing,
    profiles,
)
from hive.cli.application import App, HiveGroup


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hive {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="hive",
    help="Multi-model AI consensus: several models generate, refine, validate and curate one "
    "answer over OpenRouter. Runs in simulation mode when no API key is set.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=HiveGroup,  # every command inside the one error net (hive/cli/application.py)
    # Plain click help: Rich-formatted help costs ~90 ms of imports on every --help.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="HIVE_DEBUG",
            help="Show full tracebacks for errors (API keys stay masked).",
        ),
    ] = False,
) -> None:
    ctx.obj = App(debug=debug)


app.command("consensus")(consensus.consensus)
# Commands of one group live in several modules; importing them registers them on its app.
_ = (profile_authoring, profile_check, profile_sharing, history_rerun)
app.add_typer(profiles.app, name="profiles")
app.add_typer(keys.app, name="keys")
app.add_typer(config.app, name="config")
app.add_typer(models.app, name="models")
app.add_typer(history.app, name="history")
app.add_typer(cost.app, name="cost")


def main() -> None:
    """Run the app (called by hive/cli/entry.py once it knows Typer is needed)."""
    from hive.cli.edge import protect_stderr

    protect_stderr()
    app()
