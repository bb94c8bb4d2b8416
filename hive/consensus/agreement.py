"""How much the panel agreed, measured from the drafts themselves.

A validator's confidence is one model rating an answer, and self-rated confidence runs high.
Agreement is counted instead: the refiner's claim ledger says, for each key claim and each
disputed point, which drafts hold which side, and this module turns those counts into one
number. It is pure arithmetic over the ledger, so the same ledger always gives the same number,
and it is never invented: with one draft, no ledger, or nothing in it to count, it is ``None``.

For every key claim, the share of the panel on its larger side (supporters or contradictors);
for every dispute, the share holding its most-held position. A draft silent on a point counts as
not agreeing, so a point only one draft made scores ``1/panel``. Agreement is the mean of those
shares, computed exactly and rounded half up to two decimals (0.125 -> 0.13, as a reader
rounds, not float's banker's rounding).
"""

from __future__ import annotations

from fractions import Fraction

from hive.consensus.ledger import Ledger

AGREEMENT_DEFINITION = (
    "Agreement is the share of the drafts on the most-held side of each key claim and each "
    "disputed point, averaged over those points: 1.0 means every draft agreed on every point, "
    "1/N (for N drafts) that each point came from one draft alone. It is counted from the "
    "drafts, unlike the validator's confidence, which is one model's opinion of the answer."
)


def agreement(ledger: Ledger | None, panel: int) -> float | None:
    """The panel's agreement in [0, 1], rounded to 2 decimals; ``panel`` is the number of
    drafts the refiner saw. None when it cannot be measured: fewer than two drafts, no ledger,
    or a ledger with no claims and no disputes."""
    if ledger is None or panel < 2:
        return None
    held = [max(len(c.supported_by), len(c.contradicted_by)) for c in ledger.claims]
    held += [max((len(p.drafts) for p in d.positions), default=0) for d in ledger.disputes]
    if not held:
        return None
    # A share never exceeds the panel, even if a ledger lists more drafts than were counted.
    mean = Fraction(sum(min(n, panel) for n in held), panel * len(held))
    return int(mean * 100 + Fraction(1, 2)) / 100
