"""``hive consensus --estimate``: what a run would cost, per call and in total, expected and at
most; nothing is spent. An adaptive profile's calls say when each is made, and the totals are
given for the cheapest path and the fullest (``estimate.py``). An unpriced call is shown as
unknown and the totals say how many there are, never a ``$0`` that is only a missing price. In
simulation mode the figures are still those of a real run (a simulated one costs nothing), and
the view says so."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from hive.consensus.budget import Budgets
from hive.consensus.estimate import RunEstimate
from hive.money import Total, dollars, money_text, total_text

SIMULATION_NOTE = "simulation mode: these are the costs of a real run; this one would cost nothing"


def _partial(total: Total) -> str | None:
    return None if total.unknown and not total.known else money_text(total.known)


def _budget(estimate: RunEstimate, limits: Budgets) -> dict[str, Any] | None:
    """The limit and what it does to this run (null with no limit): ``refused`` is why a real
    run would be refused before it starts (checked on the ``required`` path);
    ``required_may_cross``: at its most, the run could stop before a stage to stay within it;
    ``fullest_may_cross``: an optional step may be left out to stay within it."""
    limit = limits.limit()
    if limit is None:
        return None
    refusal = limits.refusal(estimate)
    return {
        "limit": money_text(limit.amount),
        "reason": limit.reason,
        "checked_on": "required",
        "refused": None if refusal is None else refusal.why,
        "required_may_cross": limits.may_cross(estimate, "required"),
        "fullest_may_cross": limits.may_cross(estimate, "fullest"),
    }


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
                "expected_cost": money_text(c.expected),
                "max_cost": money_text(c.ceiling),
                "unpriced_models": list(c.unpriced),
                "when": c.when or None,
                "optional": c.optional,
                "skippable": c.skippable,
                "search_fee": money_text(c.search_fee),
            }
            for c in estimate.calls
        ],
        "budget": _budget(estimate, limits),
        "left_today": money_text(limits.left_today()),
        "left_this_month": money_text(limits.left_this_month()),
    }


def budget_lines(estimate: RunEstimate, limits: Budgets) -> list[str]:
    """What the limit does to this run, in the words of ``Budgets.check``: refused before it
    starts; or, if not, whether at their most the calls every run makes could reach it (a
    stage that would cross it is not started: the run stops there), and for an adaptive run
    whether the fullest path could (an optional step that would not fit is left out)."""
    limit = limits.limit()
    if limit is None:
        return []
    if (refusal := limits.refusal(estimate)) is not None:
        return [f"a real run would be refused: {refusal.why} ({refusal.remedy})"]
    lines = []
    if estimate.adaptive:
        lines.append(
            f"checked before the run on the calls every run may make "
            f"({total_text(estimate.expected_on('required'))} expected), within {limit.reason}"
        )
    if limits.may_cross(estimate, "required"):
        who = "even the calls every run makes" if estimate.adaptive else "the run"
        lines.append(
            f"at most {total_text(estimate.ceiling_on('required'))}, {who} could cross it: "
            "the run would stop before the stage that could, keeping what it produced"
        )
    if estimate.adaptive:
        lines.append(
            f"the fullest path could cross it (at most "
            f"{total_text(estimate.ceiling_on('fullest'))}): an escalation or another round "
            "whose worst case does not fit is left out, and the run says so"
            if limits.may_cross(estimate, "fullest")
            else "even the fullest path fits at its most"
        )
    return lines


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
    columns = 7 if estimate.adaptive else 6  # "when" only where a call may not be made
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
    shown = [row[:columns] for row in rows]
    widths = [max(len(row[i]) for row in shown) for i in range(columns)]
    for row in shown:
        cells = [cell.ljust(w) if i < 2 or i == 6 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        out.write("  ".join(cells).rstrip() + "\n")
    for line in budget_lines(estimate, limits):
        out.write(f"budget: {line}\n")
    for note in limits.notes(Total()):
        out.write(f"budget: {note}\n")
    if estimate.unpriced:
        out.write(f"not priced in advance: {', '.join(estimate.unpriced)}\n")
    if searching := [c for c in estimate.calls if c.search_fee is not None]:
        fees = sorted({c.search_fee for c in searching if c.search_fee is not None})
        span = dollars(fees[0]) if len(fees) == 1 else f"{dollars(fees[0])} to {dollars(fees[-1])}"
        stages = ", ".join(dict.fromkeys(c.stage for c in searching))
        out.write(f"note: includes web search ({stages}): up to {span} a call\n")
    if simulated:
        out.write(f"note: {SIMULATION_NOTE}\n")
