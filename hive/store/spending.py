"""What hive has spent, summed for ``hive cost`` from the calls history reads for it
(``History.spent_calls``, ``History.runs_without_calls``): this module runs no SQL.

Money is read as the decimal text it is stored as and summed as ``Decimal`` in Python, never
through SQLite's floating-point ``SUM``. A call counts at the moment it finished (as the budgets
count it: ``History.spent_since``); a run with no calls at all counts, at no cost, when it
started. Days, weeks (ISO, Monday first) and months are local time; the database keeps UTC.
Simulated runs cost nothing real: they are left out of every sum and only counted. A call that
may have been billed at a cost nobody knows is counted beside each sum (``Total.unknown``), never
added as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from hive.consensus.profiles import STAGES
from hive.errors import UsageError
from hive.money import Total
from hive.store.grouping import TIME_GROUPINGS, Grouping
from hive.store.history import History
from hive.store.paths import Paths
from hive.store.rows import SpentCall
from hive.store.schema import db_path


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cost: Total
    runs: int
    calls: int
    tokens: int  # tokens the server reported
    unreported: int = 0  # billable calls that reported no tokens


@dataclass(frozen=True, slots=True)
class Totals:
    """Real spending by calendar window, local time: what the budgets count against."""

    today: Total
    this_week: Total  # since Monday
    this_month: Total  # since the 1st
    all_time: Total


@dataclass(frozen=True, slots=True)
class CacheTotals:
    """Prompt caching over a window's billable real calls, summed over the calls that
    reported it: a call that did not is counted out, never added as 0."""

    cached_tokens: int | None = None  # None: no call reported any
    reported: int = 0  # calls that reported their cached prompt tokens
    calls: int = 0  # billable calls in the window
    discount: Decimal | None = None  # None: no call reported a discount


@dataclass(frozen=True, slots=True)
class Report:
    """``spending`` and everything ``hive cost`` shows beside it, for one window."""

    since: datetime | None
    by: str
    rows: list[Row]
    cost: Total
    runs: int
    calls: int
    tokens: int
    simulated_runs: int
    totals: Totals
    unreported: int = 0  # billable calls that reported no tokens
    cache: CacheTotals = CacheTotals()


@dataclass(slots=True)
class _Group:
    cost: Total = field(default_factory=Total)
    calls: int = 0
    tokens: int = 0
    unreported: int = 0
    runs: set[int] = field(default_factory=set)


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in local time, as an aware datetime."""
    return datetime.combine(day, time()).astimezone()


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


_KEYS: dict[str, Callable[[SpentCall], str]] = {
    Grouping.day: lambda c: c.at.date().isoformat(),
    Grouping.week: lambda c: week_key(c.at.date()),
    Grouping.month: lambda c: f"{c.at.year:04d}-{c.at.month:02d}",
    Grouping.model: lambda c: c.model,
    Grouping.profile: lambda c: c.profile,
    Grouping.stage: lambda c: c.stage,
}


def _order(by: str, groups: dict[str, _Group]) -> list[str]:
    if by in TIME_GROUPINGS:
        return sorted(groups)  # these keys sort as time does
    if by == Grouping.stage:
        rank = {stage: n for n, stage in enumerate(STAGES)}
        return sorted(groups, key=lambda k: (rank.get(k, len(STAGES)), k))
    return sorted(groups, key=lambda k: (-groups[k].cost.known, k))  # most spent first


def _check_grouping(by: str) -> None:
    if by not in set(Grouping):
        choices = ", ".join(Grouping)
        raise UsageError(f"cannot group spending by {by!r}; choose one of: {choices}")


def spending(history: History, *, since: datetime | None, by: str) -> list[Row]:
    """Real spending since ``since`` (all time when None), one row per ``by`` group: a local
    day ("2026-11-20"), ISO week ("2026-W47") or month ("2026-11"), the model that answered
    (the one requested when none did), the profile, or the stage. A row's ``runs`` counts the
    runs with a call in it; its ``tokens`` are prompt plus completion tokens."""
    _check_grouping(by)
    key_of = _KEYS[by]
    groups: dict[str, _Group] = {}
    for call in history.spent_calls(since):
        group = groups.setdefault(key_of(call), _Group())
        group.calls += 1
        group.tokens += call.tokens or 0
        if call.tokens is None and call.billable:
            group.unreported += 1
        group.runs.add(call.run_id)
        group.cost += call.total
    if by in (*TIME_GROUPINGS, Grouping.profile):
        for run in history.runs_without_calls(since):
            placeholder = SpentCall(run.id, run.started, "", run.profile, "", None, 0, False)
            groups.setdefault(key_of(placeholder), _Group()).runs.add(run.id)
    rows = []
    for key in _order(by, groups):
        g = groups[key]
        rows.append(Row(key, g.cost, len(g.runs), g.calls, g.tokens, g.unreported))
    return rows


def cache_totals(calls: Iterable[SpentCall]) -> CacheTotals:
    """What prompt caching did over ``calls``: cached prompt tokens from the calls that
    reported them, and the discount only if some call reported one."""
    billed = [c for c in calls if c.billable]
    cached = [c.cached_tokens for c in billed if c.cached_tokens is not None]
    discounts = [c.cache_discount for c in billed if c.cache_discount is not None]
    return CacheTotals(
        cached_tokens=sum(cached) if cached else None,
        reported=len(cached),
        calls=len(billed),
        discount=sum(discounts, Decimal(0)) if discounts else None,
    )


def _sum(calls: Iterable[SpentCall]) -> Total:
    return sum((c.total for c in calls), Total())


def totals(history: History, *, now: datetime | None = None) -> Totals:
    """Real spending today, this week (from Monday), this month and ever, in local time."""
    today = (now or datetime.now()).astimezone().date()
    starts = {
        "today": local_midnight(today),
        "week": local_midnight(today - timedelta(days=today.weekday())),
        "month": local_midnight(today.replace(day=1)),
    }
    calls = history.spent_calls(None)
    return Totals(
        today=_sum(c for c in calls if c.at >= starts["today"]),
        this_week=_sum(c for c in calls if c.at >= starts["week"]),
        this_month=_sum(c for c in calls if c.at >= starts["month"]),
        all_time=_sum(calls),
    )


def report(history: History, *, since: datetime | None, by: str) -> Report:
    """Everything ``hive cost`` prints, read from one snapshot of the database (a run
    recording calls meanwhile cannot make the rows and the totals disagree)."""
    with history.snapshot():
        rows = spending(history, since=since, by=by)
        calls = history.spent_calls(since)
        runs = {c.run_id for c in calls} | {r.id for r in history.runs_without_calls(since)}
        return Report(
            since=since,
            by=by,
            rows=rows,
            cost=_sum(calls),
            runs=len(runs),
            calls=len(calls),
            tokens=sum(c.tokens or 0 for c in calls),
            unreported=sum(1 for c in calls if c.tokens is None and c.billable),
            simulated_runs=history.simulated_runs(since),
            totals=totals(history),
            cache=cache_totals(calls),
        )


def read_report(paths: Paths, *, since: datetime | None, by: str) -> Report:
    """``report`` for a hive home; all zeros when it has no history yet (none is created).
    A damaged database is a StorageError: one line at the CLI edge."""
    _check_grouping(by)
    if not db_path(paths).exists():
        zero = Total()
        return Report(since, by, [], zero, 0, 0, 0, 0, Totals(zero, zero, zero, zero))
    history = History.open(paths)
    try:
        return report(history, since=since, by=by)
    finally:
        history.close()
