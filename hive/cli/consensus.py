"""``hive consensus``: read the question, pick the view, run the pipeline, exit with its code."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from hive.errors import UsageError

if TYPE_CHECKING:
    from hive.consensus.events import ConsensusResult
    from hive.consensus.profiles import Profile
    from hive.ui.renderer import Renderer

# A lifelike pace for simulated streams in a terminal; the four-stage run stays near 1.5 s.
SIMULATED_PACE_S = 0.35


def complete_profile(incomplete: str) -> list[str]:
    from hive.consensus.profiles import BUILTIN_PROFILES

    return [name for name in BUILTIN_PROFILES if name.startswith(incomplete)]


def read_question(question: str | None, stdin: TextIO) -> str:
    """``-``, or no question with piped stdin, reads the question from stdin."""
    if question is None or question == "-":
        if question is None and stdin.isatty():
            raise UsageError('no question given: hive consensus "QUESTION" [PROFILE]')
        question = stdin.read()
    if not question.strip():
        raise UsageError("the question is empty")
    return question.strip()


def consensus(
    ctx: typer.Context,
    question: Annotated[
        str | None,
        typer.Argument(
            help="The question; '-' (or nothing, with piped input) reads stdin.", show_default=False
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Argument(
            help="Profile: balanced, speed, quality, cost or free.", autocompletion=complete_profile
        ),
    ] = "balanced",
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (schema in the README).")
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Plain text even in a terminal (no live view).")
    ] = False,
    detailed: Annotated[
        bool, typer.Option("--detailed", "-d", help="Also show every stage's full output.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")
    ] = False,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Use the built-in simulator even with a key.")
    ] = False,
) -> None:
    """Ask several models through four stages and print one answer."""
    from hive.cli.edge import error_edge

    with error_edge(ctx.obj.debug):
        from hive import env
        from hive.consensus.profiles import get_profile

        chosen = get_profile(profile)
        text = read_question(question, sys.stdin)
        key = None if simulate else env.api_key()
        live = not json_output and not plain and sys.stdout.isatty()
        renderer = _renderer(json_output, live, detailed, quiet)
        if key is None and not quiet:
            why = "--simulate" if simulate else "no OPENROUTER_API_KEY"
            sys.stderr.write(
                f"hive: simulation mode ({why}): no model is asked; a built-in simulator replies.\n"
            )
        _run(text, chosen, renderer, key=key, pace=SIMULATED_PACE_S if live else 0.0)


def _renderer(json_output: bool, live: bool, detailed: bool, quiet: bool) -> Renderer:
    if json_output:
        from hive.ui.json import JsonRenderer

        return JsonRenderer()
    if live:
        from hive.ui.console import make_console
        from hive.ui.live import LiveRenderer

        return LiveRenderer(make_console(), detailed=detailed)
    from hive.ui.plain import PlainRenderer

    return PlainRenderer(detailed=detailed, quiet=quiet)


def _run(
    question: str, profile: Profile, renderer: Renderer, *, key: str | None, pace: float
) -> None:
    import asyncio
    from datetime import date

    from hive import env
    from hive.consensus.pipeline import Pipeline
    from hive.openrouter.client import OpenRouterClient, make_http_client
    from hive.openrouter.simulator import SimulatorTransport

    async def go() -> ConsensusResult:
        transport = SimulatorTransport(pace=pace) if key is None else None
        async with make_http_client(
            api_key=key, base_url=env.base_url(), transport=transport
        ) as http:
            pipeline = Pipeline(OpenRouterClient(http), renderer.handle, today=date.today())
            return await pipeline.run(question, profile, simulated=key is None)

    with renderer:
        renderer.finish(asyncio.run(go()))
