"""How hive adds and writes dollar amounts: exact to the micro-dollar below a cent, and never
a made-up zero.

A cost nobody reported and hive could not price is *unknown*, not free. ``Total`` keeps the
known part and counts the unknown ones beside it, so every total can say it is incomplete
(``$0.0123 + 2 calls of unknown cost``) instead of silently under-reporting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


def money_text(amount: Decimal | None) -> str | None:
    """An amount for JSON and for storage: exact decimal text in plain notation, USD
    (``"0.0000001"``, never ``1E-7``, and never a float that rounds); None stays unknown
    (``null``). Every ``--json`` writes money this way; ``jq -r '.total_cost'`` reads it as
    text, ``jq '.total_cost | tonumber'`` as a (rounded) number."""
    return None if amount is None else _plain(amount)


def trimmed_money_text(amount: Decimal) -> str:
    """``money_text`` without trailing zeros (``0.00012``; ``0`` for ``0E-7``): for a bill
    compared with a record, and for a literal in a simulated stream."""
    return _plain(amount.normalize())


def _plain(amount: Decimal) -> str:
    text = format(amount, "f")
    return "0" if text == "-0" else text


def dollars(cost: Decimal | None) -> str:
    if cost is None:
        return "$?"
    sign, cost = ("-", -cost) if cost < 0 else ("", cost)
    if cost == 0:
        return "$0"
    if cost < Decimal("0.01"):
        return f"{sign}${cost:.6f}"  # micro-dollars: cheap calls still show what they cost
    return f"{sign}${cost:.4f}"


@dataclass(frozen=True, slots=True)
class Total:
    """A sum of costs: the ``known`` part, exact, and how many costs were ``unknown``."""

    known: Decimal = Decimal(0)
    unknown: int = 0  # calls that may have been billed, at a cost nobody knows

    @classmethod
    def of(cls, costs: Iterable[Decimal | None]) -> Total:
        known, unknown = Decimal(0), 0
        for cost in costs:
            if cost is None:
                unknown += 1
            else:
                known += cost
        return cls(known, unknown)

    def __add__(self, other: Total) -> Total:
        return Total(self.known + other.known, self.unknown + other.unknown)

    @property
    def complete(self) -> bool:
        return self.unknown == 0

    @property
    def amount(self) -> Decimal | None:
        """The total when every part is known; otherwise None (unknown is not a number)."""
        return self.known if self.complete else None


def total_text(total: Total, noun: str = "call", *, compact: bool = False) -> str:
    """``$0.0123``, ``$0.0123 + 2 calls of unknown cost``, or ``$? (3 calls of unknown cost)``;
    ``compact`` (for table cells): ``$0.0123+?`` or ``$?``."""
    if total.complete:
        return dollars(total.known)
    if compact:
        return "$?" if total.known == 0 else f"{dollars(total.known)}+?"
    unknown = f"{total.unknown} {noun}{'s' if total.unknown != 1 else ''} of unknown cost"
    if total.known == 0:
        return f"$? ({unknown})"
    return f"{dollars(total.known)} + {unknown}"
