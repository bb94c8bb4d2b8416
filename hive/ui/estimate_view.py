"""``hive consensus --estimate``: what a run would cost, per call and in total, expected and at
most; nothing is spent. An adaptive profile's calls say when each is made, and the totals are
given for the cheapest path and the fullest (``estimate.py``). An unpriced call is shown as
unknown and the totals say how many there are, never a ``$0`` that is only a missing price. In
simulation mode the figures are still those of a real run (a simulated one costs nothing), and
the view says so."""

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
    paths = {
        name: {
            "expected_cost": _partial(estimate.expected_on(name)),
            "max_cost": _partial(estimate.ceiling_on(name)),
            "complete": estimate.expected_on(name).complete and estimate.ceiling_on(name).complete,
            "calls": len(estimate.path(name)),
        }
        for name in ("cheapest", "required", "fullest")
    }
    return {
        "expected_cost": _partial(expected),
        "max_cost": _partial(ceiling),
        "paths": paths,
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
                "when": c.when or None,
                "optional": c.optional,
                "skippable": c.skippable,
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
    rows = [("stage", "model", "prompt", "output", "expected", "at most", "when")]
    rows += [
        (c.stage, c.model, f"~{c.prompt_tokens:,}",
         f"~{c.completion_tokens:,}/{c.max_completion_tokens:,}",
         dollars(c.expected), dollars(c.ceiling), c.when)
        for c in estimate.calls
    ]  # fmt: skip
    if estimate.adaptive:
        rows += [
            (f"{name} path", "", "", "", total_text(estimate.expected_on(name)),
             total_text(estimate.ceiling_on(name)), f"{len(estimate.path(name))} calls")
            for name in ("cheapest", "fullest")
        ]  # fmt: skip
    else:
        rows.append(("total", "", "", "", total_text(estimate.expected),
                     total_text(estimate.ceiling), ""))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    for row in rows:
        cells = [cell.ljust(w) if i < 2 or i == 6 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        out.write("  ".join(cells).rstrip() + "\n")
    if estimate.adaptive and limits.limit() is not None:
        out.write(
            f"budget: checked on the calls every run may make ("
            f"{total_text(estimate.expected_on('required'))} expected); the optional calls "
            "(see when) are made only if their worst case still fits\n"
        )
    for note in limits.notes(Total()):
        out.write(f"budget: {note}\n")
    if estimate.unpriced:
        out.write(f"not priced in advance: {', '.join(estimate.unpriced)}\n")
    if simulated:
        out.write(f"note: {SIMULATION_NOTE}\n")
