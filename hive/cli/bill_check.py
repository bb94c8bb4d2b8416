"""Checking a run's recorded costs against OpenRouter's bills: reading them, comparing them.

For every call with a generation id, ``GET /generation?id=…`` says what OpenRouter billed
(``total_cost``); hive compares it, exactly, with the cost it recorded. A call with no
generation id (recorded before hive kept them, or from a server that sends none) cannot be
checked; a call refused before any answer was not billed and is only listed.

Reading the bills is ``read_bills``; the comparison (``compare``, ``summary``, ``exit_code``,
``failure``) is pure and table-tested. ``hive.cli.history_verify`` renders it and is the
command. Exit codes: 0 every billed call matches the bill; 6 at least one call differs from it
(hive's record is wrong, or knew no cost); 1 none differs but some call could not be checked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from hive.money import trimmed_money_text

if TYPE_CHECKING:
    from hive.errors import HiveError
    from hive.openrouter.generation import Generation
    from hive.store.rows import StoredCall

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


def with_status(checks: Sequence[Check], status: Status) -> list[Check]:
    return [c for c in checks if c.status == status]


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"


def summary(checks: Sequence[Check]) -> str:
    """One line: how many calls match the bill, by how much the others differ, and what could
    not be checked and why."""
    if not checks:
        return "the run made no calls: nothing to check"
    counted = [c for c in checks if c.status != "not_billed"]
    matching, differing = with_status(checks, "matches"), with_status(checks, "differs")
    unchecked, refused = with_status(checks, "unchecked"), with_status(checks, "not_billed")
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
    if with_status(checks, "differs"):
        return EXIT_DIFFERS
    return EXIT_UNCHECKED if with_status(checks, "unchecked") else 0


def failure(run_id: int, checks: Sequence[Check]) -> HiveError | None:
    """The one line (and exit code) a check that did not pass ends with; None when it passed."""
    from hive.errors import HiveError

    code = exit_code(checks)
    if code == 0:
        return None
    if code == EXIT_DIFFERS:
        differing = with_status(checks, "differs")
        net = sum((c.difference or Decimal(0) for c in differing), Decimal(0))
        error = HiveError(
            f"run #{run_id} does not match the bill: {_calls(len(differing))} "
            f"{'differs' if len(differing) == 1 else 'differ'}, by {usd(abs(net))} in all"
        )
    else:
        unchecked = with_status(checks, "unchecked")
        error = HiveError(
            f"run #{run_id} was not fully checked: {_calls(len(unchecked))} "
            f"could not be checked{_why(unchecked)}"
        )
    error.exit_code = code
    return error


def usd(value: Decimal | None) -> str:
    """Dollars for the report's text, exact and without trailing zeros (``$0.0000123``); ``-``
    when there is no figure."""
    if value is None:
        return "-"
    return ("-$" if value < 0 else "$") + trimmed_money_text(abs(value))
