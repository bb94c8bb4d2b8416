"""``hive history show ID --verify``: each call's recorded cost against what OpenRouter billed.

For every call with a generation id, ``GET /generation?id=…`` says what OpenRouter billed
(``total_cost``); hive compares it, exactly, with the cost it recorded. A call with no
generation id (recorded before hive kept them, or from a server that sends none) cannot be
checked; a call refused before any answer was not billed and is only listed. A simulated run
billed nothing and is refused whole.

Reading the bills is ``read_bills``; the comparison (``compare``, ``summary``, ``exit_code``)
is pure and table-tested; the rest renders. As ``hive profiles check`` does, a check that
fails prints its report, then one line on stderr, through the CLI's one error edge. Exit codes:
0 every billed call matches the bill; 6 at least one call differs from it (hive's record is
wrong, or knew no cost); 1 none differs but some call could not be checked; the usual codes for
errors (2 a simulated or unknown run, 3 no key or a rejected one).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from hive.ui.run_replay import call_label

if TYPE_CHECKING:
    from hive.cli.application import App
    from hive.errors import HiveError
    from hive.openrouter.generation import Generation
    from hive.store.rows import Run, StoredCall
    from hive.store.settings import Settings

EXIT_DIFFERS = 6  # the bill and hive's record disagree
EXIT_UNCHECKED = 1  # nothing disagrees, but not every billed call could be checked
CONCURRENT_LOOKUPS = 4

Status = Literal["matches", "differs", "unchecked", "not_billed"]
Kind = Literal["no_id", "not_found", "no_endpoint", "error", "no_total"]
Fetch = Callable[[str], Awaitable["Generation | None"]]
Sleep = Callable[[float], Awaitable[None]]

NO_ID = "no generation id (recorded before hive kept them, or a server that sends none)"
NO_TOTAL = "the reply has no total_cost"
NOT_BILLED = "refused before any answer: nothing was billed"
# How the summary names each reason a call could not be checked.
SHORT: dict[Kind, str] = {
    "no_id": "no generation id",
    "not_found": "not found",
    "no_endpoint": "this server has no /generation endpoint",
    "error": "the request failed",
    "no_total": "no total_cost in the reply",
}


@dataclass(frozen=True, slots=True)
class Unchecked:
    """Why a call's bill could not be read."""

    kind: Kind
    reason: str


@dataclass(frozen=True, slots=True)
class Check:
    """One call: what hive recorded, what the bill says, and the verdict."""

    call: StoredCall
    status: Status
    recorded: Decimal | None = None
    billed: Decimal | None = None
    difference: Decimal | None = None  # billed minus recorded (an unknown record counts 0)
    unchecked: Unchecked | None = None
    generation: Generation | None = None

    @property
    def unrecorded(self) -> bool:
        """hive knew no cost for a call the bill has a figure for."""
        return self.status == "differs" and self.recorded is None


# --- reading the bills ---------------------------------------------------------------------


async def read_bills(
    ids: Sequence[str],
    fetch: Fetch,
    *,
    not_found: str,
    retry_delay: float,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Generation | Unchecked]:
    """Each generation's bill, or why it could not be read. The first id is asked alone: a
    server without the endpoint says so once for all. Ids OpenRouter does not know yet (a
    generation appears a moment after its call) are asked once more after ``retry_delay``.
    A rejected key and no connection end it all (``AuthError``, ``Unreachable``)."""
    from hive.errors import ApiFailure, AuthError, ModelNotFound, Unreachable

    async def one(gen_id: str) -> Generation | Unchecked | None:
        try:
            return await fetch(gen_id)
        except (AuthError, Unreachable):
            raise
        except ModelNotFound:  # what fetch raises for a server without the endpoint
            return Unchecked("no_endpoint", SHORT["no_endpoint"])
        except ApiFailure as exc:
            return Unchecked("error", exc.message)

    async def each(some: Sequence[str]) -> dict[str, Generation | Unchecked | None]:
        gate = asyncio.Semaphore(CONCURRENT_LOOKUPS)

        async def gated(gen_id: str) -> Generation | Unchecked | None:
            async with gate:
                return await one(gen_id)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = {gen_id: group.create_task(gated(gen_id)) for gen_id in some}
        except ExceptionGroup as failed:  # the first to fail ends it, as itself
            raise failed.exceptions[0] from None
        return {gen_id: task.result() for gen_id, task in tasks.items()}

    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    first = await one(ids[0])
    if isinstance(first, Unchecked) and first.kind == "no_endpoint":
        return dict.fromkeys(ids, first)
    found = {ids[0]: first, **await each(ids[1:])}
    if missing := [gen_id for gen_id, bill in found.items() if bill is None]:
        await sleep(retry_delay)
        found |= await each(missing)
    gone = Unchecked("not_found", not_found)
    return {gen_id: gone if bill is None else bill for gen_id, bill in found.items()}


# --- the comparison (pure) -----------------------------------------------------------------


def compare(call: StoredCall, bill: Generation | Unchecked | None) -> Check:
    """``call`` (as history recorded it: its ``cost``, whether it was ``billable``) against
    its ``bill``: what ``read_bills`` found for its generation id, or None when it has none."""
    recorded = call.cost
    if bill is None:
        if recorded is None and not call.billable:
            return Check(call, "not_billed")
        return Check(call, "unchecked", recorded, unchecked=Unchecked("no_id", NO_ID))
    if isinstance(bill, Unchecked):
        return Check(call, "unchecked", recorded, unchecked=bill)
    billed = bill.total_cost
    if billed is None:
        return Check(call, "unchecked", recorded, unchecked=Unchecked("no_total", NO_TOTAL),
                     generation=bill)  # fmt: skip
    difference = billed - (recorded if recorded is not None else Decimal(0))
    unknown = recorded is None and call.billable
    status: Status = "differs" if unknown or difference != 0 else "matches"
    return Check(call, status, recorded, billed, difference, generation=bill)


def _of(checks: Sequence[Check], status: Status) -> list[Check]:
    return [c for c in checks if c.status == status]


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"


def summary(checks: Sequence[Check]) -> str:
    """One line: how many calls match the bill, by how much the others differ, and what could
    not be checked and why."""
    if not checks:
        return "the run made no calls: nothing to check"
    counted = [c for c in checks if c.status != "not_billed"]
    matching, differing = _of(checks, "matches"), _of(checks, "differs")
    unchecked, refused = _of(checks, "unchecked"), _of(checks, "not_billed")
    if not counted:
        return f"no call was billed ({_calls(len(refused))} refused): nothing to check"
    why = _why(unchecked)
    if not matching and not differing:
        if len(counted) == 1:
            return f"the one call could not be checked{why}"
        return f"none of the {_calls(len(counted))} could be checked{why}"
    verb = "matches" if len(matching) == 1 else "match"
    parts = [f"{len(matching)} of {_calls(len(counted))} {verb} the bill"]
    if differing:
        net = sum((c.difference or Decimal(0) for c in differing), Decimal(0))
        direction = (
            "billed more than hive recorded" if net > 0
            else "billed less than hive recorded" if net < 0
            else "the differences cancel out"
        )  # fmt: skip
        verb = "differs" if len(differing) == 1 else "differ"
        parts.append(f"{_calls(len(differing))} {verb} by {usd(abs(net))} in all ({direction})")
    if unchecked:
        parts.append(f"{_calls(len(unchecked))} could not be checked{why}")
    if refused:
        parts.append(f"{_calls(len(refused))} refused, not billed")
    return "; ".join(parts)


def _why(unchecked: Sequence[Check]) -> str:
    """``: not found``, or ``(1 no generation id, 2 not found)`` when the reasons differ."""
    kinds = Counter(c.unchecked.kind for c in unchecked if c.unchecked)
    if len(kinds) == 1:
        return f": {SHORT[next(iter(kinds))]}"
    return " (" + ", ".join(f"{n} {SHORT[kind]}" for kind, n in kinds.items()) + ")"


def exit_code(checks: Sequence[Check]) -> int:
    if _of(checks, "differs"):
        return EXIT_DIFFERS
    return EXIT_UNCHECKED if _of(checks, "unchecked") else 0


def failure(run_id: int, checks: Sequence[Check]) -> HiveError | None:
    """The one line (and exit code) a check that did not pass ends with; None when it passed."""
    from hive.errors import HiveError

    code = exit_code(checks)
    if code == 0:
        return None
    if code == EXIT_DIFFERS:
        differing = _of(checks, "differs")
        net = sum((c.difference or Decimal(0) for c in differing), Decimal(0))
        error = HiveError(
            f"run #{run_id} does not match the bill: {_calls(len(differing))} "
            f"{'differs' if len(differing) == 1 else 'differ'}, by {usd(abs(net))} in all"
        )
    else:
        unchecked = _of(checks, "unchecked")
        error = HiveError(
            f"run #{run_id} was not fully checked: {_calls(len(unchecked))} "
            f"could not be checked{_why(unchecked)}"
        )
    error.exit_code = code
    return error


# --- rendering -----------------------------------------------------------------------------


def exact(value: Decimal) -> str:
    """An exact decimal in plain notation, no trailing zeros (``0.0000123``, never ``1.23E-5``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def usd(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"-${exact(-value)}" if value < 0 else f"${exact(value)}"


def _stage(call: StoredCall) -> str:
    """As `hive history show` names a call (a generator's place, a later stage's repeat),
    with its attempt when it was not the first."""
    return call_label(call) + (f" (attempt {call.attempt})" if call.attempt > 1 else "")


def _result(check: Check) -> str:
    if check.status == "matches":
        return "matches"
    if check.status == "not_billed":
        return "not billed: refused before any answer"
    if check.status == "unchecked":
        assert check.unchecked is not None
        return f"cannot be checked: {check.unchecked.reason}"
    if check.unrecorded:
        return "differs: hive recorded no cost"
    difference = check.difference or Decimal(0)
    return f"differs: billed {usd(abs(difference))} {'more' if difference > 0 else 'less'}"


def text_lines(run_id: int, profile: str, checks: Sequence[Check], asked: str | None) -> list[str]:
    """The report on run ``run_id`` (of ``profile``): a heading, one row per call (call,
    model, recorded, billed, result), then the summary. ``asked``: the server whose bills were
    read (None: none was asked)."""
    head = f"run #{run_id} · profile {profile}"
    if asked:
        head += f" · recorded costs against the bill from {asked}"
    rows = [("call", "model", "recorded", "billed", "result")]
    for check in checks:
        call = check.call
        if check.recorded is not None:
            recorded = usd(check.recorded) + (" (estimated)" if call.cost_estimated else "")
        else:  # unknown, as `hive history show` writes it; or nothing, for a refused call
            recorded = "$?" if call.billable else "-"
        rows.append((_stage(call), call.model, recorded, usd(check.billed), _result(check)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    cells = [[c.ljust(w) for c, w in zip(row[:4], widths, strict=True)] for row in rows]
    table = ["  ".join([*padded, row[4]]) for padded, row in zip(cells, rows, strict=True)]
    return [head, *(table if checks else []), summary(checks)]


def json_report(run_id: int, checks: Sequence[Check]) -> dict[str, Any]:
    """The report on run ``run_id`` as one object: per-call rows and the totals, money as
    exact decimal strings (null when unknown)."""

    def money(value: Decimal | None) -> str | None:
        return None if value is None else exact(value)

    def bill(generation: Generation | None) -> dict[str, Any] | None:
        if generation is None:
            return None
        from dataclasses import asdict

        fields = asdict(generation)
        return {k: money(v) if isinstance(v, Decimal) else v for k, v in fields.items()}

    compared = [c for c in checks if c.status in ("matches", "differs")]
    recorded = sum((c.recorded or Decimal(0) for c in compared), Decimal(0))
    billed = sum((c.billed or Decimal(0) for c in compared), Decimal(0))
    return {
        "run_id": run_id,
        "calls": [
            {
                "call_id": c.call.id,
                "stage": c.call.stage,
                "idx": c.call.idx,
                "attempt": c.call.attempt,
                "model": c.call.model,
                "model_used": c.call.model_used,
                "generation_id": c.call.generation_id,
                "status": c.status,
                "recorded": money(c.recorded),
                "cost_estimated": c.call.cost_estimated,
                "billed": money(c.billed),
                "difference": money(c.difference),
                "reason_kind": c.unchecked.kind if c.unchecked else None,
                "reason": _reason(c),
                "bill": bill(c.generation),
            }
            for c in checks
        ],
        "totals": {
            "calls": len(checks),
            "matching": len(_of(checks, "matches")),
            "differing": len(_of(checks, "differs")),
            "unchecked": len(_of(checks, "unchecked")),
            "not_billed": len(_of(checks, "not_billed")),
            "recorded": exact(recorded),
            "billed": exact(billed),
            "difference": exact(billed - recorded),
        },
        "summary": summary(checks),
    }


def _reason(check: Check) -> str | None:
    if check.unchecked:
        return check.unchecked.reason
    return NOT_BILLED if check.status == "not_billed" else None


# --- the command ---------------------------------------------------------------------------


def verify_run(run: Run, app: App, *, json_output: bool, sleep: Sleep = asyncio.sleep) -> None:
    """Check ``run`` (as ``History.run`` read it) against OpenRouter's bills and print the report;
    then, unless every billed call matched, raise the error that says so in one line (exit 6 or
    1, see above). Needs a key only when some call has a generation id to look up."""
    import json
    from urllib.parse import urlsplit

    import typer

    from hive.errors import AuthError, UsageError
    from hive.redact import redact
    from hive.store.keys import resolve_key

    if run.simulated:
        raise UsageError(
            f"run #{run.id} was simulated: nothing was billed, so there is no bill to check"
        )
    ids = [c.generation_id for c in run.calls if c.generation_id]
    bills: dict[str, Generation | Unchecked] = {}
    key, asked = "", None
    if ids:
        settings = app.settings
        resolved = resolve_key(app.paths)
        if resolved is None:
            raise AuthError("no OpenRouter key set: run `hive keys set` or set OPENROUTER_API_KEY")
        key, url = resolved.value, urlsplit(settings.base_url)
        asked = url.netloc
        host = (url.hostname or "").lower()
        not_found = (
            "not found at OpenRouter (a generation takes a moment to appear; "
            "or the run used another key)"
            if host == "openrouter.ai" or host.endswith(".openrouter.ai")
            else f"not found at {asked}"
        )
        bills = asyncio.run(_read(settings, key, ids, not_found, sleep))
    checks = [
        compare(call, bills[call.generation_id] if call.generation_id else None)
        for call in run.calls
    ]
    if json_output:
        text = json.dumps(json_report(run.id, checks), indent=2, ensure_ascii=False)
    else:
        text = "\n".join(text_lines(run.id, run.profile, checks, asked))
    typer.echo(redact(text, key) if key else text)
    if (failed := failure(run.id, checks)) is not None:
        raise failed


async def _read(
    settings: Settings, key: str, ids: list[str], not_found: str, sleep: Sleep
) -> dict[str, Generation | Unchecked]:
    from hive.cli.http import http_client
    from hive.openrouter.client import OpenRouterClient
    from hive.openrouter.generation import fetch_generation

    async with http_client(settings, key) as http:
        client = OpenRouterClient(http)

        async def fetch(gen_id: str) -> Generation | None:
            return await fetch_generation(client, gen_id)

        return await read_bills(
            ids, fetch, not_found=not_found, retry_delay=settings.retry_base_delay, sleep=sleep
        )
