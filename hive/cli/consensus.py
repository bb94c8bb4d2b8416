"""``hive consensus``: read the question, pick the view, run the pipeline, exit with its code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from hive.errors import (
    DegradedError,
    HiveError,
    StageError,
    Unreachable,
    UnsavedError,
    UsageError,
)

if TYPE_CHECKING:
    from hive.ui.renderer import Renderer

# A lifelike pace for simulated streams in a terminal; the four-stage run stays near 1.5 s.
SIMULATED_PACE_S = 0.35


def complete_profile(incomplete: str) -> list[str]:
    """Built-in and user profile names, for shell completion (never fails: it runs on <TAB>)."""
    from hive.consensus.profiles import BUILTIN_PROFILES

    names = list(BUILTIN_PROFILES)
    try:
        from hive.store.paths import resolve_paths
        from hive.store.user_profiles import ProfileStore

        names += [n for n in ProfileStore(resolve_paths()).user() if n not in BUILTIN_PROFILES]
    except Exception:  # a broken profiles file: still complete the built-ins
        pass
    return [name for name in names if name.startswith(incomplete)]


def read_question(question: str | None, stdin: TextIO) -> str:
    """``-``, or no question with piped stdin, reads the question from stdin.

    Text that is not valid UTF-8 — bytes the locale cannot decode, or that Python carried
    through as lone surrogates (a C locale, a mis-encoded argument) — is bad input (exit 2),
    found here rather than as an encoding error when the request is built."""
    where = "the question"
    if question is None or question == "-":
        if question is None and stdin.isatty():
            raise UsageError('no question given: hive consensus "QUESTION" [PROFILE]')
        where = "the question on stdin"
        try:
            question = stdin.read()
        except UnicodeDecodeError as exc:
            raise UsageError(_not_text(where, exc.object[exc.start], exc.start)) from None
    if not question.strip():
        raise UsageError("the question is empty")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(question[exc.start])
        byte = char - 0xDC00 if 0xDC80 <= char <= 0xDCFF else None  # surrogateescape'd
        raise UsageError(_not_text(where, byte, exc.start)) from None
    return question.strip()


def _not_text(where: str, byte: int | None, position: int) -> str:
    what = f"byte 0x{byte:02x}" if byte is not None else "a lone surrogate"
    return (
        f"{where} is not UTF-8 text ({what} at position {position}): "
        "convert it first (e.g. iconv -t UTF-8)"
    )


def consensus(
    ctx: typer.Context,
    question: Annotated[
        str | None,
        typer.Argument(
            help="The question; '-' (or nothing, with piped input) reads stdin.", show_default=False
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Argument(
            help="Profile name (default: the default_profile setting, initially balanced).",
            autocompletion=complete_profile,
            show_default=False,
        ),
    ] = None,
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
    estimate: Annotated[
        bool,
        typer.Option("--estimate", help="Print what the run would cost, per stage; spend nothing."),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 5 when the answer is degraded (a stage failed).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even if the estimate breaks a spending limit.")
    ] = False,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            min=1,
            max=5,
            metavar="N",
            help="At most N refine-validate rounds (default: the profile's adaptive.rounds).",
            show_default=False,
        ),
    ] = None,
    fixed: Annotated[
        bool,
        typer.Option(
            "--fixed",
            help="No adaptive rules: every generator, every stage, one round unless --rounds.",
        ),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="OpenRouter key for this run (beats the environment and the stored key).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Ask several models through four stages and print one answer."""
    from hive.cli.edge import error_edge

    with error_edge(ctx.obj.debug), failure_json(json_output) as as_json:
        from hive.cli import run
        from hive.store.keys import resolve_key
        from hive.store.paths import resolve_paths
        from hive.store.settings import load_settings
        from hive.store.user_profiles import ProfileStore

        paths = resolve_paths()
        settings = load_settings(paths).settings
        chosen = ProfileStore(paths).get(profile or settings.default_profile)
        text = read_question(question, sys.stdin)
        resolved = None if simulate else resolve_key(paths, api_key)
        output = "json" if json_output else "plain" if plain else settings.output
        as_json.on = output == "json"
        # The live view draws on stderr (stdout carries only the answer): it runs whenever
        # stderr is a terminal, with stdout a terminal or piped, unless asked to be quiet.
        live = output == "live" or (
            output == "auto" and not quiet and sys.stderr.isatty() and not _dumb_terminal()
        )
        speed = settings.simulation_speed
        notices = []
        if resolved is None:
            why = "--simulate" if simulate else "no API key set"
            notices.append(
                f"simulation mode ({why}): no model is asked; a built-in simulator replies."
            )
        request = run.RunRequest(
            question=text,
            profile=chosen,
            settings=settings,
            paths=paths,
            key=resolved.value if resolved else None,
            pace=SIMULATED_PACE_S / speed if live and speed else 0.0,
            force=force,
            estimate_only=estimate,
            strict=strict,
            as_json=output == "json",
            notices=[] if estimate else notices,
            quiet=quiet,
            rounds=rounds,
            adaptive=not fixed,
        )
        try:
            run.run(request, _renderer(output, live, detailed, quiet, settings.color))
        except StageError as exc:
            if isinstance(exc.cause, Unreachable):  # no server: this command can do without
                exc.args = (f"{exc}, or run with --simulate",)
            raise


def _dumb_terminal() -> bool:
    """A terminal that cannot move its cursor (``TERM=dumb``, Emacs' shell) gets the plain view."""
    return os.environ.get("TERM", "") in ("dumb", "unknown")


class _Flag:
    def __init__(self, on: bool) -> None:
        self.on = on


@contextmanager
def failure_json(on: bool) -> Iterator[_Flag]:
    """With ``--json`` (or ``output = "json"``), a failure still leaves one JSON object on
    stdout — the error, the exit code, and the run's id and spending when one was recorded —
    before the edge writes its line on stderr. A degraded answer under ``--strict`` already
    printed its result object, and so did an answer history could not save: they add none."""
    flag = _Flag(on)
    try:
        yield flag
    except HiveError as exc:
        if flag.on and not isinstance(exc, DegradedError | UnsavedError):
            from hive.ui.json import write_failure

            write_failure(exc)
        raise


def _renderer(output: str, live: bool, detailed: bool, quiet: bool, color: str) -> Renderer:
    if output == "json":
        from hive.ui.json import JsonRenderer

        return JsonRenderer()
    if live:
        from hive.ui.console import make_console
        from hive.ui.live import LiveRenderer

        return LiveRenderer(
            make_console(color, stderr=True), out=make_console(color), detailed=detailed
        )
    from hive.ui.plain import PlainRenderer

    return PlainRenderer(detailed=detailed, quiet=quiet)
