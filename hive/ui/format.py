"""How numbers read in every view: dollars exact to the micro-dollar, times in seconds, and
unknown shown as unknown (``$?``, ``?``), never as a zero."""

from __future__ import annotations

from collections.abc import Sequence

from hive.consensus.events import CallRecord, ConsensusResult
from hive.money import dollars, total_text


def seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f}s"


def confidence(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def count(value: int | None) -> str:
    """A token count, or ``?`` when the server did not report one."""
    return "?" if value is None else f"{value:,}"


def tokens(reported: int, unreported: int) -> str:
    """``3,014 tokens``; ``3,014 tokens + 2 calls unreported``; ``tokens not reported``."""
    if not unreported:
        return f"{reported:,} tokens"
    calls = f"{unreported} call{'s' if unreported != 1 else ''}"
    if not reported:
        return f"tokens not reported ({calls})"
    return f"{reported:,} tokens + {calls} unreported"


def call_cost(record: CallRecord) -> str:
    """A call's cost: ``~`` marks hive's own estimate, ``$?`` an unknown cost, a dash a call
    refused before any answer (nothing billed)."""
    if record.cost is None:
        return "$?" if record.billable else "–"
    return ("~" if record.cost_estimated else "") + dollars(record.cost)


def estimated_note(estimated: Sequence[bool]) -> str:
    """`` (estimated)`` when every known cost is hive's estimate, `` (partly estimated)`` when
    some are; ``estimated`` holds ``cost_estimated`` for each call whose cost is known."""
    if not any(estimated):
        return ""
    return " (estimated)" if all(estimated) else " (partly estimated)"


def summary(
    result: ConsensusResult,
    run_id: int | None = None,
    notes: Sequence[str] = (),
    *,
    notes_below: bool = False,
) -> str:
    """The run in one line. ``notes_below``: the view repeats its notes under this line, so
    a degraded run points down to them rather than up to warnings printed as they came."""
    calls = len(result.calls)
    estimated = estimated_note([c.cost_estimated for c in result.calls if c.cost is not None])
    parts = [
        f"{calls} call{'s' if calls != 1 else ''}",
        seconds(result.duration_ms),
        tokens(result.total_tokens, result.unreported_token_calls),
        total_text(result.cost) + (" (simulated)" if result.simulated else "") + estimated,
        f"confidence {confidence(result.confidence)}",
        *([f"{result.rounds} rounds"] if result.rounds > 1 else []),
        *(
            [f"degraded (see {'notes below' if notes_below else 'warnings'})"]
            if result.degraded
            else []
        ),
        *notes,
    ]
    if run_id is not None:
        parts.append(f"run #{run_id}")
    return " · ".join(parts)
