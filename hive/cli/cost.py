"""``hive cost``: what hive has spent, by period, model, profile or stage."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hive.cli.application import state
from hive.store.grouping import Grouping  # light: the choices of --by

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from hive.money import Total
    from hive.store.settings import Settings
    from hive.store.spending import CacheTotals, Report

app = typer.Typer(
    help="What hive has spent: by day, week or month, model, profile or stage.",
    rich_markup_mode=None,
    subcommand_metavar="",  # no subcommands: `hive cost [OPTIONS]` is the whole command
)

BAR_CELLS = 30  # the largest row's bar; the others in proportion, to an eighth of a cell
MIN_BAR_CELLS = 8  # on a narrow terminal, before the first column is folded
_EIGHTHS = " ▏▎▍▌▋▊▉"


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


PERIOD_LABELS = {
    Period.day: "today",
    Period.week: "the last 7 days",
    Period.month: "the last 30 days",
    Period.all: "all time",
}


@app.callback(invoke_without_command=True)
def cost(
    ctx: typer.Context,
    period: Annotated[
        Period,
        typer.Option(
            "--period", help="day: today; week: the last 7 days; month: the last 30 days; all."
        ),
    ] = Period.month,
    by: Annotated[Grouping, typer.Option("--by", help="One row per this.")] = Grouping.day,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Real spending (simulated runs are counted, never summed), with what budgets leave."""
    if ctx.invoked_subcommand is not None:
        return
    import json

    from hive.store.spending import read_report

    paths, settings = state(ctx).paths, state(ctx).settings
    found = read_report(paths, since=period_start(period), by=by)
    if json_output:
        typer.echo(json.dumps(to_json(found, period, settings), indent=2))
        return
    _print(found, period, settings)


def period_start(period: Period, now: datetime | None = None) -> datetime | None:
    """Local midnight that many calendar days back (today included); None for all time."""
    from datetime import datetime, timedelta

    from hive.store.spending import local_midnight

    days = {Period.day: 1, Period.week: 7, Period.month: 30}.get(period)
    if days is None:
        return None
    today = (now or datetime.now()).astimezone().date()
    return local_midnight(today - timedelta(days=days - 1))


def money(value: Decimal | None) -> str | None:
    """Exact decimal text, never scientific notation (str(Decimal) writes 1E-7)."""
    return None if value is None else format(value, "f")


def known_part(total: Total) -> str | None:
    """A total's known part as exact text; null when it is all unknown (never a made-up 0)."""
    return None if total.unknown and not total.known else money(total.known)


def tokens(reported: int, unreported: int) -> str:
    """``1,234``; ``1,234+?`` when some calls reported none; ``?`` when none did."""
    if not unreported:
        return f"{reported:,}"
    return f"{reported:,}+?" if reported else "?"


def token_count(reported: int, unreported: int) -> int | None:
    return None if unreported and not reported else reported


def budget_left(found: Report, settings: Settings) -> tuple[Decimal | None, Decimal | None]:
    from hive.consensus.budget import Budgets

    limits = Budgets.from_settings(
        settings,
        spent_today=found.totals.today.known,
        spent_this_month=found.totals.this_month.known,
    )
    return limits.left_today(), limits.left_this_month()


def to_json(found: Report, period: Period, settings: Settings) -> dict[str, Any]:
    left_today, left_month = budget_left(found, settings)
    return {
        "period": period.value,
        "by": found.by,
        "since": None if found.since is None else found.since.isoformat(),
        "total_cost": known_part(found.cost),
        "unknown_cost_calls": found.cost.unknown,
        "tokens": token_count(found.tokens, found.unreported),
        "unreported_token_calls": found.unreported,
        "runs": found.runs,
        "simulated_runs": found.simulated_runs,
        # Prompt caching, from the calls that reported it (null: none did, not 0).
        "cached_tokens": found.cache.cached_tokens,
        "cached_token_calls": found.cache.reported,
        "cache_discount": money(found.cache.discount),
        "rows": [
            {
                "key": row.key,
                "cost": known_part(row.cost),
                "unknown_cost_calls": row.cost.unknown,
                "runs": row.runs,
                "calls": row.calls,
                "tokens": token_count(row.tokens, row.unreported),
                "unreported_token_calls": row.unreported,
            }
            for row in found.rows
        ],
        "totals": {
            "today": known_part(found.totals.today),
            "this_week": known_part(found.totals.this_week),
            "this_month": known_part(found.totals.this_month),
            "all_time": known_part(found.totals.all_time),
        },
        "totals_unknown_cost_calls": {
            "today": found.totals.today.unknown,
            "this_week": found.totals.this_week.unknown,
            "this_month": found.totals.this_month.unknown,
            "all_time": found.totals.all_time.unknown,
        },
        "budgets": {
            "max_cost_per_run": money(settings.max_cost_per_run),
            "daily_budget": money(settings.daily_budget),
            "monthly_budget": money(settings.monthly_budget),
            "left_today": money(left_today),
            "left_this_month": money(left_month),
        },
    }


def cache_line(cache: CacheTotals) -> str:
    """The period's cached prompt tokens, from the calls that reported them (how many of the
    billed calls did, when not all), and what caching saved only if some call reported it."""
    from hive.money import dollars

    if cache.cached_tokens is None:
        line = "cached prompt tokens: not reported"
    else:
        line = f"cached prompt tokens: {cache.cached_tokens:,}"
        if cache.reported < cache.calls:
            line += f" (reported by {cache.reported} of {cache.calls} calls)"
    if cache.discount is not None:
        line += f" · cache discount {dollars(cache.discount)}"
    return line


def bar(value: Decimal, largest: Decimal, cells: int = BAR_CELLS) -> str:
    """Block characters for ``value`` against ``largest`` (the full ``cells``); a non-zero
    amount always shows at least a sliver."""
    if value <= 0 or largest <= 0:
        return ""
    eighths = max(1, round(value / largest * cells * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def header(found: Report, settings: Settings) -> str:
    from hive.money import dollars, total_text

    t = found.totals
    line = (
        f"spent: {total_text(t.today)} today · {total_text(t.this_week)} this week · "
        f"{total_text(t.this_month)} this month · {total_text(t.all_time)} all time"
    )
    left_today, left_month = budget_left(found, settings)
    # Calls of unknown cost make what was spent a lower bound, so what is left an upper one.
    left = [
        f"{'at most ' if spent.unknown else ''}{dollars(amount)} left {when}"
        for amount, spent, when in (
            (left_today, t.today, "today"),
            (left_month, t.this_month, "this month"),
        )
        if amount is not None
    ]
    return line + (f" · budget: {', '.join(left)}" if left else "")


def _print(found: Report, period: Period, settings: Settings) -> None:
    from rich.table import Table

    from hive.money import total_text
    from hive.ui.console import make_console

    console = make_console(settings.color)
    console.print(header(found, settings), soft_wrap=True)
    label = PERIOD_LABELS[period]
    if not found.rows:
        console.print(f"no spending recorded for {label}", soft_wrap=True)
    else:
        largest = max(row.cost.known for row in found.rows)
        cells = [
            (row.key, str(row.runs), str(row.calls), tokens(row.tokens, row.unreported),
             total_text(row.cost))
            for row in found.rows
        ]  # fmt: skip
        footer = ("total", str(found.runs), str(found.calls),
                  tokens(found.tokens, found.unreported), total_text(found.cost))  # fmt: skip
        heads = (found.by, "runs", "calls", "tokens", "cost")
        widths = [max(len(r[i]) for r in [*cells, footer, heads]) for i in range(5)]
        # Columns are two spaces apart; the bar gets what the terminal has left, up to 30.
        room = console.width - sum(widths) - 2 * len(widths)
        bar_cells = max(MIN_BAR_CELLS, min(BAR_CELLS, room))
        table = Table(
            box=None, header_style="bold", pad_edge=False, show_footer=True, caption_justify="left"
        )
        table.add_column(found.by, footer[0], overflow="fold")
        for head, total in zip(heads[1:], footer[1:], strict=True):
            table.add_column(head, total, justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, style="cyan", overflow="crop")
        for row, text in zip(found.rows, cells, strict=True):
            table.add_row(*text, bar(row.cost.known, largest, bar_cells))
        table.caption = f"{label}, by {found.by}"
        console.print(table)
    if found.cache.calls:
        console.print(cache_line(found.cache), soft_wrap=True)
    n = found.simulated_runs
    console.print(
        f"{n} simulated run{'s' if n != 1 else ''} not included (they cost nothing)",
        soft_wrap=True,
    )
