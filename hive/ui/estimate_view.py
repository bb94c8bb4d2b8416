"""``hive consensus --estimate``: what a run would cost, per call and in total, expected and at
most; nothing is spent. An unpriced call is shown as unknown and the totals say how many there
are, never a ``$0`` that is only a missing price. In simulation mode the figures are still those
of a real run (a simulated one costs nothing), and the view says so."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any, TextIO

from hive.consensus.budget import Budgets
from hive.consensus.estimate import RunEstimate
from hive.money import Total, dollars, total_text

SIMULATION_NOTE = "simulation mode: these are the costs of a real run; this one would cost nothing"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _partial(total: Total) -> str | None:
    return None if total.unknown and not total.known else _money(total.known)


def estimate_to_json(estimate: RunEstimate, limits: Budgets, *, simulated: bool) -> dict[str, Any]:
    """``expected_cost``/``max_cost`` are exact decimal strings of the priced calls (null when
    none is priced); ``unpriced_calls`` counts the calls they leave out."""
    expected, ceiling = estimate.expected, estimate.ceiling
    return {
        "expected_cost": _partial(expected),
        "max_cost": _partial(ceiling),
        "complete": expected.complete and ceiling.complete,
        "unpriced_calls": ceiling.unknown,
        "unpriced_models": estimate.unpriced,
        "simulated": simulated,
        "calls": [
            {
                "stage": c.stage,
                "model": c.model,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "max_completion_tokens": c.max_completion_tokens,
                "expected_cost": _money(c.expected),
                "max_cost": _money(c.ceiling),
                "unpriced_models": list(c.unpriced),
            }
            for c in estimate.calls
        ],
        "left_today": _money(limits.left_today()),
        "left_this_month": _money(limits.left_this_month()),
    }


def print_estimate(
    estimate: RunEstimate,
    limits: Budgets,
    *,
    as_json: bool,
    simulated: bool,
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    if as_json:
        data = estimate_to_json(estimate, limits, simulated=simulated)
        out.write(json.dumps(data, indent=2) + "\n")
        return
    rows = [("stage", "model", "prompt", "output", "expected", "at most")]
    rows += [
        (c.stage, c.model, f"~{c.prompt_tokens:,}",
         f"~{c.completion_tokens:,}/{c.max_completion_tokens:,}",
         dollars(c.expected), dollars(c.ceiling))
        for c in estimate.calls
    ]  # fmt: skip
    rows.append(("total", "", "", "", total_text(estimate.expected),
                 total_text(estimate.ceiling)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        out.write("  ".join(cells).rstrip() + "\n")
    for note in limits.notes(Total()):
        out.write(f"budget: {note}\n")
    if estimate.unpriced:
        out.write(f"not priced in advance: {', '.join(estimate.unpriced)}\n")
    if simulated:
        out.write(f"note: {SIMULATION_NOTE}\n")
