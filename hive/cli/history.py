"""``hive history``: list, show, export and delete recorded runs.

Costs leave hive as exact decimal strings (``"0.000123"``), never floats; times are stored in
UTC and shown in local time. ``show`` replays a run completely: every call in the order it
finished, with its full output, then the answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.application import App, state

if TYPE_CHECKING:
    from datetime import datetime

    from hive.store.history import History
    from hive.store.rows import ExportedRun, RunSummary

app = typer.Typer(
    help="List, show, export and delete recorded runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RunId = Annotated[int, typer.Argument(metavar="ID", help="A run id (see `hive history list`).")]

QUESTION_WIDTH = 60  # characters of a question's first line in the list


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


# The CSV's columns: the run's fields on every row, then the call's.
CSV_RUN_FIELDS = ("run_id", "started_at", "question", "profile", "status", "simulated")
CSV_CALL_FIELDS = (
    "call_id", "finished_at", "stage", "idx", "attempt", "model", "model_used", "provider",
    "prompt_tokens", "completion_tokens", "cost", "cost_estimated", "ttft_ms", "latency_ms",
    "finish_reason", "error", "content", "accepted", "cached_tokens",
    "cache_write_tokens", "cache_discount", "reasoning_tokens", "generation_id", "web_searches",
    "sources", "billable",
)  # fmt: skip
# The run's later fields, after the call's (columns added since keep the older ones' places).
CSV_RUN_LATER_FIELDS = ("parent_id", "rounds", "files", "pid", "host")


def _open(app: App) -> History:
    from hive.store.history import History

    return History.open(app.paths)


def _first_line(text: str, width: int = QUESTION_WIDTH) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    more = line != text.strip()
    if len(line) > width:
        from hive.text import shorten

        return shorten(line, width)  # at a word boundary, never mid-word
    return line + (" …" if more else "")


def _run_cost(run: RunSummary) -> str:
    from hive.money import total_text

    return total_text(run.total, compact=True) + (" (sim)" if run.simulated else "")


def _run_tokens(run: RunSummary) -> str:
    """Reported tokens; ``?`` when none were, ``+?`` when some calls reported none."""
    if not run.unreported_token_calls:
        return f"{run.total_tokens:,}"
    return "?" if not run.total_tokens else f"{run.total_tokens:,}+?"


def _dump(data: object) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="Show at most N runs.")
    ] = 20,
    search: Annotated[
        str | None,
        typer.Option("--search", metavar="TEXT", help="Text in the question or answer (any case)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Recorded runs, newest first: when, profile, status, cost, tokens and the question."""
    history = _open(state(ctx))
    try:
        runs = history.runs(limit, search)
    finally:
        history.close()
    if json_output:
        typer.echo(_dump([run.as_json() for run in runs]))
        return
    if not runs:
        typer.echo("no runs match" if search else "no runs recorded yet", err=True)
        return
    from rich.table import Table

    from hive.ui.console import make_console
    from hive.ui.run_replay import local_time

    # The question takes whatever width is left, cut to one line; the figures never are.
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("profile", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("question", no_wrap=True, overflow="ellipsis", ratio=1, min_width=10)
    for run in runs:
        when = local_time(run.started_at, "%Y-%m-%d %H:%M")
        table.add_row(
            str(run.id), when, run.profile, run.status, _run_cost(run), _run_tokens(run),
            _first_line(run.question) if run.logged else "(not logged)",
        )  # fmt: skip
    make_console(state(ctx).settings.color).print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: RunId,
    json_output: JsonFlag = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check each call's recorded cost against what OpenRouter billed (needs a key).",
        ),
    ] = False,
) -> None:
    """Replay one run: the question, every call with its full output, then the answer."""
    from hive.errors import UsageError

    history = _open(state(ctx))
    try:
        run = history.run(run_id)
    finally:
        history.close()
    if run is None:
        raise UsageError(f"no run #{run_id} in history (see `hive history list`)")
    if verify:
        from hive.cli.history_verify import verify_run

        verify_run(run, state(ctx), json_output=json_output)
        return
    if json_output:
        typer.echo(_dump(run.as_json()))
        return
    from hive.ui.run_replay import replay

    for line in replay(run):
        typer.echo(line)


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="jsonl: one run per line, calls nested; csv: one row per call.",
        ),
    ] = ExportFormat.jsonl,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write FILE (atomically) instead of stdout.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Every recorded run with its calls; costs are exact decimal strings."""
    history = _open(state(ctx))
    try:
        rows = history.export_rows()
    finally:
        history.close()
    text = _jsonl(rows) if fmt is ExportFormat.jsonl else _csv(rows)
    if output is None or output == "-":
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from pathlib import Path

    from hive.store.files import atomic_write

    path = Path(output).expanduser()
    # History holds your questions and answers: the file is private, like the database.
    atomic_write(path, text.encode("utf-8"), mode=0o600)
    typer.echo(f"exported {len(rows)} run{'s' if len(rows) != 1 else ''} to {path}", err=True)


def _jsonl(rows: list[ExportedRun]) -> str:
    import json

    return "".join(json.dumps(row.as_json(), ensure_ascii=False) + "\n" for row in rows)


def _csv(rows: list[ExportedRun]) -> str:
    """One row per call with its run's fields; a run with no calls still gets one row."""
    import csv
    import io

    def cell(value: object) -> object:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else value

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_RUN_FIELDS, *CSV_CALL_FIELDS, *CSV_RUN_LATER_FIELDS])
    for run in rows:
        head = [run.id, run.started_at, run.question, run.profile, run.status, run.simulated]
        # The files by name and the pages a call cited by address, one per line (the jsonl
        # export has their text and titles).
        files = "\n".join(file.name for file in run.files)
        later = [run.parent_id, run.rounds, files, run.pid, run.host]
        tails: list[list[object]] = []
        for call in run.calls:
            values = {**call.as_json(), "call_id": call.id}
            values["sources"] = "\n".join(source.url for source in call.sources)
            tails.append([values[name] for name in CSV_CALL_FIELDS])
        for tail in tails or [[""] * len(CSV_CALL_FIELDS)]:
            writer.writerow([cell(v) for v in [*head, *tail, *later]])
    return buffer.getvalue()


@app.command("delete")
def delete(
    ctx: typer.Context,
    run_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", help="The run to delete.", show_default=False),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="YYYY-MM-DD",
            help="Delete every run started before this local date.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete one run, or every run before a date; their calls go with them."""
    from hive.errors import UsageError

    if (run_id is None) == (before is None):
        raise UsageError("give a run ID or --before YYYY-MM-DD (one of them)")
    moment = None if before is None else _start_of(before)
    history = _open(state(ctx))
    try:
        if run_id is not None:
            if not history.delete_run(run_id):
                raise UsageError(f"no run #{run_id} in history (see `hive history list`)")
            count = 1
        else:
            assert moment is not None
            count = history.delete_before(moment)
    finally:
        history.close()
    typer.echo(f"deleted {count} run{'s' if count != 1 else ''}")


def _start_of(text: str) -> datetime:
    """The start of a local calendar date given as ``YYYY-MM-DD``, as an aware datetime."""
    from datetime import date

    from hive.errors import UsageError
    from hive.store.spending import local_midnight

    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--before needs a date as YYYY-MM-DD (got {text!r})") from None
    return local_midnight(day)
