"""What hive has spent, summed from the history database for ``hive cost``.

Money is read as the decimal text it is stored as and summed as ``Decimal`` in Python, never
through SQLite's floating-point ``SUM``. A call counts at the moment it finished (as the budgets
count it: ``History.spent_since``); a run with no calls at all counts, at no cost, when it
started. Days, weeks (ISO, Monday first) and months are local time; the database keeps UTC.
Simulated runs cost nothing real: they are left out of every sum and only counted. A call that
may have been billed at a cost nobody knows is counted beside each sum (``Total.unknown``), never
added as zero.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hive.consensus.profiles import STAGES
from hive.errors import StorageError, UsageError
from hive.money import Total
from hive.store.history import History, billable_sql, db_path
from hive.store.paths import Paths

GROUPINGS = ("day", "week", "month", "model", "profile", "stage")
TIME_GROUPINGS = ("day", "week", "month")


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


@dataclass(frozen=True, slots=True)
class _Call:
    run_id: int
    at: datetime  # local
    model: str
    profile: str
    stage: str
    cost: Decimal | None
    tokens: int | None  # None: the server reported none
    billable: bool = True  # a call refused before any answer was not billed
    cached_tokens: int | None = None  # None: the server did not say
    cache_discount: Decimal | None = None

    @property
    def total(self) -> Total:
        return Total.of([self.cost]) if self.billable else Total()


def _utc_text(moment: datetime) -> str:
    """The database's timestamp form (UTC, milliseconds), so text comparison is time order.
    A naive ``moment`` is local time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone()


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in local time, as an aware datetime."""
    return datetime.combine(day, time()).astimezone()


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


_KEYS: dict[str, Callable[[_Call], str]] = {
    "day": lambda c: c.at.date().isoformat(),
    "week": lambda c: week_key(c.at.date()),
    "month": lambda c: f"{c.at.year:04d}-{c.at.month:02d}",
    "model": lambda c: c.model,
    "profile": lambda c: c.profile,
    "stage": lambda c: c.stage,
}


def _calls(history: History, since: datetime | None) -> list[_Call]:
    """Every call of a real run finished since ``since`` (all of them when None)."""
    sql = (
        "SELECT c.run_id, c.finished_at, c.stage, c.model, c.model_used, c.cost,"
        " c.prompt_tokens, c.completion_tokens, c.cached_tokens, c.cache_discount, r.profile,"
        f" {billable_sql('c')} AS billable"
        " FROM calls c JOIN runs r ON r.id = c.run_id WHERE r.simulated = 0"
    )
    params: tuple[str, ...] = ()
    if since is not None:
        sql += " AND c.finished_at >= ?"
        params = (_utc_text(since),)
    rows = history.db.execute(sql + " ORDER BY c.id", params).fetchall()
    return [
        _Call(
            run_id=int(r["run_id"]),
            at=_local(r["finished_at"]),
            model=r["model_used"] or r["model"],
            profile=r["profile"],
            stage=r["stage"],
            cost=None if r["cost"] is None else Decimal(r["cost"]),
            tokens=(
                None
                if r["prompt_tokens"] is None and r["completion_tokens"] is None
                else (r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0)
            ),
            billable=bool(r["billable"]),
            cached_tokens=r["cached_tokens"],
            cache_discount=None if r["cache_discount"] is None else Decimal(r["cache_discount"]),
        )
        for r in rows
    ]


def _empty_runs(history: History, since: datetime | None) -> list[tuple[int, datetime, str]]:
    """Real runs without a single call (stopped before they spent), started since ``since``."""
    sql = (
        "SELECT r.id, r.started_at, r.profile FROM runs r WHERE r.simulated = 0"
        " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id)"
    )
    params: tuple[str, ...] = ()
    if since is not None:
        sql += " AND r.started_at >= ?"
        params = (_utc_text(since),)
    rows = history.db.execute(sql + " ORDER BY r.id", params).fetchall()
    return [(int(r["id"]), _local(r["started_at"]), r["profile"]) for r in rows]


def _order(by: str, groups: dict[str, _Group]) -> list[str]:
    if by in TIME_GROUPINGS:
        return sorted(groups)  # these keys sort as time does
    if by == "stage":
        rank = {stage: n for n, stage in enumerate(STAGES)}
        return sorted(groups, key=lambda k: (rank.get(k, len(STAGES)), k))
    return sorted(groups, key=lambda k: (-groups[k].cost.known, k))  # most spent first


def _check_grouping(by: str) -> None:
    if by not in GROUPINGS:
        raise UsageError(f"cannot group spending by {by!r}; choose one of: {', '.join(GROUPINGS)}")


def spending(history: History, *, since: datetime | None, by: str) -> list[Row]:
    """Real spending since ``since`` (all time when None), one row per ``by`` group: a local
    day ("2026-11-20"), ISO week ("2026-W47") or month ("2026-11"), the model that answered
    (the one requested when none did), the profile, or the stage. A row's ``runs`` counts the
    runs with a call in it; its ``tokens`` are prompt plus completion tokens."""
    _check_grouping(by)
    key_of = _KEYS[by]
    groups: dict[str, _Group] = {}
    for call in _calls(history, since):
        group = groups.setdefault(key_of(call), _Group())
        group.calls += 1
        group.tokens += call.tokens or 0
        if call.tokens is None and call.billable:
            group.unreported += 1
        group.runs.add(call.run_id)
        group.cost += call.total
    if by in (*TIME_GROUPINGS, "profile"):
        for run_id, started, profile in _empty_runs(history, since):
            placeholder = _Call(run_id, started, "", profile, "", None, 0, billable=False)
            groups.setdefault(key_of(placeholder), _Group()).runs.add(run_id)
    rows = []
    for key in _order(by, groups):
        g = groups[key]
        rows.append(Row(key, g.cost, len(g.runs), g.calls, g.tokens, g.unreported))
    return rows


def simulated_runs(history: History, *, since: datetime | None) -> int:
    """Simulated runs started since ``since``: shown as a count, never as spending."""
    sql = "SELECT COUNT(*) FROM runs WHERE simulated = 1"
    params: tuple[str, ...] = ()
    if since is not None:
        sql += " AND started_at >= ?"
        params = (_utc_text(since),)
    return int(history.db.execute(sql, params).fetchone()[0])


def cache_totals(calls: Iterable[_Call]) -> CacheTotals:
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


def _sum(calls: Iterable[_Call]) -> Total:
    return sum((c.total for c in calls), Total())


def totals(history: History, *, now: datetime | None = None) -> Totals:
    """Real spending today, this week (from Monday), this month and ever, in local time."""
    today = (now or datetime.now()).astimezone().date()
    starts = {
        "today": local_midnight(today),
        "week": local_midnight(today - timedelta(days=today.weekday())),
        "month": local_midnight(today.replace(day=1)),
    }
    calls = _calls(history, None)
    return Totals(
        today=_sum(c for c in calls if c.at >= starts["today"]),
        this_week=_sum(c for c in calls if c.at >= starts["week"]),
        this_month=_sum(c for c in calls if c.at >= starts["month"]),
        all_time=_sum(calls),
    )


def report(history: History, *, since: datetime | None, by: str) -> Report:
    """Everything ``hive cost`` prints, read from one snapshot of the database (a run
    recording calls meanwhile cannot make the rows and the totals disagree)."""
    history.db.execute("BEGIN")  # deferred: a read snapshot, no lock taken
    try:
        rows = spending(history, since=since, by=by)
        calls = _calls(history, since)
        runs = {c.run_id for c in calls} | {r[0] for r in _empty_runs(history, since)}
        return Report(
            since=since,
            by=by,
            rows=rows,
            cost=_sum(calls),
            runs=len(runs),
            calls=len(calls),
            tokens=sum(c.tokens or 0 for c in calls),
            unreported=sum(1 for c in calls if c.tokens is None and c.billable),
            simulated_runs=simulated_runs(history, since=since),
            totals=totals(history),
            cache=cache_totals(calls),
        )
    finally:
        history.db.execute("COMMIT")


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
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the history database: {exc}") from exc
    finally:
        history.close()
