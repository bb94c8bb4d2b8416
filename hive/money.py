"""How hive writes dollar amounts: exact to the micro-dollar below a cent."""

from __future__ import annotations

from decimal import Decimal


def dollars(cost: Decimal | None) -> str:
    if cost is None:
        return "$?"
    sign, cost = ("-", -cost) if cost < 0 else ("", cost)
    if cost == 0:
        return "$0"
    if cost < Decimal("0.01"):
        return f"{sign}${cost:.6f}"  # micro-dollars: cheap calls still show what they cost
    return f"{sign}${cost:.4f}"
