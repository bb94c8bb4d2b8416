"""``hive consensus``: read the question, pick the view, run the pipeline, exit with its code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from hive.cli.application import state
from hive.errors import (
    DegradedError,
    HiveError,
    UnsavedError,
    UsageError,
)

if TYPE_CHECKING:
    from hive.cli.launch import Asked
    from hive.store.paths import Paths
    from hive.store.settings import Settings


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
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="PATH",
            help="Attach a text file to every stage (repeat for several; - reads stdin).",
            show_default=False,
        ),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option("--recursive", "-r", help="With -f DIR: attach the text files in it."),
    ] = False,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            metavar="TEXT",
            help="Instructions for every stage, e.g. 'answer in German' (beats the profile's).",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--continue", "-c", help="Follow up the last run: it is sent as context."),
    ] = False,
    follow_run: Annotated[
        int | None,
        typer.Option(
            "--continue-run",
            metavar="N",
            min=1,
            help="Follow up run N (see hive history list).",
            show_default=False,
        ),
    ] = None,
    generate: Annotated[
        list[str] | None,
        typer.Option(
            "--generate",
            metavar="MODEL",
            help="This run's generators instead of the profile's (repeat for several).",
            show_default=False,
        ),
    ] = None,
    refine: Annotated[
        str | None, typer.Option("--refine", metavar="MODEL", help="This run's refiner.")
    ] = None,
    validate: Annotated[
        str | None, typer.Option("--validate", metavar="MODEL", help="This run's validator.")
    ] = None,
    curate: Annotated[
        str | None, typer.Option("--curate", metavar="MODEL", help="This run's curator.")
    ] = None,
    temperature: Annotated[
        list[str] | None,
        typer.Option(metavar="STAGE=T", help="This run's temperature, e.g. refine=0.3."),
    ] = None,
    max_tokens: Annotated[
        list[str] | None,
        typer.Option(metavar="STAGE=N", help="This run's max output tokens, e.g. curate=4096."),
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web",
            help="Let the generators search the web (OpenRouter's web search; its fees are "
            "counted in the estimate and budgets, the pages cited listed as sources).",
        ),
    ] = False,
    no_log: Annotated[
        bool,
        typer.Option(
            "--no-log",
            help="Keep no question, file, instruction or answer text in history (costs and "
            "tokens are still recorded, so budgets hold).",
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
    from hive.cli.launch import Shown, run_command

    def ask(paths: Paths, settings: Settings) -> Asked:
        if follow and follow_run is not None:
            raise UsageError("give --continue (the newest run) or --continue-run N, not both")
        return _asked(
            paths, settings, question, profile,
            files=files or [], recursive=recursive, system=system,
            follow=follow_run if follow_run is not None else (0 if follow else None),
            overrides={"generate": generate, "refine": refine, "validate": validate,
                       "curate": curate, "temperature": temperature, "max_tokens": max_tokens},
            logged=not no_log,
        )  # fmt: skip

    shown = Shown(
        json_output=json_output, plain=plain, detailed=detailed, quiet=quiet,
        simulate=simulate, estimate=estimate, strict=strict, force=force, rounds=rounds,
        fixed=fixed, api_key=api_key, web=web,
    )  # fmt: skip
    run_command(state(ctx), shown, ask)


def _asked(
    paths: Paths,
    settings: Settings,
    question: str | None,
    profile: str | None,
    *,
    files: list[str],
    recursive: bool,
    system: str | None,
    follow: int | None,
    overrides: dict[str, Any],
    logged: bool,
) -> Asked:
    """The question, the panel and the context, each checked before anything is spent.
    ``follow``: the run to follow up (0: the newest), or None."""
    from hive.cli.attach import read_files
    from hive.cli.launch import Asked
    from hive.cli.run_inputs import context_notice, follow_up, panel_of, with_overrides
    from hive.consensus.context import Context
    from hive.store.history import History
    from hive.store.user_profiles import ProfileStore

    if "-" in files and (question is None or question == "-"):
        raise UsageError('-f - reads stdin, so give the question as an argument: -f - "QUESTION"')
    text = read_question(question, sys.stdin)
    attached = read_files(files, sys.stdin, recursive=recursive, max_kb=settings.max_file_kb)
    conversation = None
    if follow is not None:
        history = History.open(paths)
        try:
            conversation = follow_up(history, follow or None)
        finally:
            history.close()
    chosen = None
    if profile is None and conversation is not None:
        chosen = panel_of(conversation)
    if chosen is None:
        fallback = conversation.profile_name if conversation else settings.default_profile
        chosen = ProfileStore(paths).get(profile or fallback)
    chosen = with_overrides(chosen, **overrides)
    # A run's --system (even "", which clears them) beats all; a follow-up keeps the
    # instructions its conversation was last sent, unless a profile is named for it.
    if system is not None:
        instructions = system
    elif conversation is not None and profile is None:
        instructions = conversation.system
    else:
        instructions = chosen.system
    # A file attached again (same name) replaces its earlier version: the models see the
    # current one once, not two blocks of the same name.
    again = {f.name for f in attached.files}
    earlier = tuple(f for f in (conversation.files if conversation else ()) if f.name not in again)
    context = Context(
        system=instructions,
        files=(*earlier, *attached.files),
        turns=conversation.turns if conversation else (),
    )
    notices = [f"note: {note}" for note in attached.notes]
    if context:
        notices.append(context_notice(context, attached.files, conversation))
    return Asked(
        question=text, profile=chosen, context=context, new_files=tuple(attached.files),
        parent_id=conversation.parent_id if conversation else None, logged=logged,
        notices=notices, simulated_turns=conversation.simulated if conversation else (),
    )  # fmt: skip


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
