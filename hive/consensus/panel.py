"""The panel of drafts as the refiner sees them, and what it agreed on, in model names.

Drafts reach the refiner anonymised and shuffled (``shuffle``): labelled ``A``, ``B``… in an
order drawn from a per-run seed, so neither a model's name nor its place in the profile can
sway the synthesis (judges favour the first-listed answer and their own family). The seed and
the order are kept, so a run can be replayed and audited. What the refiner reports back — the
claim ledger — is read by ``ledger.py`` in labels; ``Consensus`` maps the labels back to the
models that wrote the drafts and carries the agreement measured from it (``agreement.py``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hive.consensus.agreement import agreement
from hive.consensus.ledger import Ledger, label, parse_ledger

ONE_DRAFT = "one draft: agreement needs at least two"


@dataclass(frozen=True, slots=True)
class Draft:
    index: int  # the generator's place in the profile
    model: str  # the model that wrote it (a fallback, if the generator fell back)
    text: str


@dataclass(frozen=True, slots=True)
class Consensus:
    """The panel's agreement and disagreement, from the refiner's ledger; ``agreement`` is
    None (and ``problems`` says why) when it could not be measured."""

    panel: tuple[tuple[str, str], ...]  # (label, model), in the order the refiner saw them
    seed: int  # the shuffle's seed
    ledger: Ledger | None
    agreement: float | None
    problems: tuple[str, ...] = ()

    def model(self, draft_label: str) -> str:
        return dict(self.panel).get(draft_label, draft_label)

    def models(self, labels: Sequence[str]) -> list[str]:
        return [self.model(x) for x in labels]

    def as_dict(self) -> dict[str, Any]:
        """The ``consensus`` object of ``--json`` and of history: labels as model ids."""
        ledger = self.ledger
        return {
            "agreement": self.agreement,
            "panel": [{"label": x, "model": m} for x, m in self.panel],
            "seed": self.seed,
            "claims": [
                {
                    "claim": c.claim,
                    "supported_by": self.models(c.supported_by),
                    "contradicted_by": self.models(c.contradicted_by),
                }
                for c in (ledger.claims if ledger else ())
            ],
            "disputes": [
                {
                    "claim": d.claim,
                    "positions": [
                        {"position": p.position, "models": self.models(p.drafts)}
                        for p in d.positions
                    ],
                    "resolution": d.resolution,
                    "resolved": d.resolved,
                }
                for d in (ledger.disputes if ledger else ())
            ],
            "unique": [
                {"point": u.point, "model": self.model(u.draft), "kept": u.kept}
                for u in (ledger.unique if ledger else ())
            ],
            "gaps": list(ledger.gaps) if ledger else [],
            "problems": list(self.problems),
        }


def shuffle(drafts: Sequence[Draft], seed: int) -> list[tuple[str, Draft]]:
    """The drafts in a seeded random order, labelled ``A``, ``B``… in that order."""
    order = list(drafts)
    random.Random(seed).shuffle(order)
    return [(label(i), draft) for i, draft in enumerate(order)]


def read_synthesis(
    text: str, labelled: Sequence[tuple[str, Draft]], seed: int
) -> tuple[str, Consensus]:
    """The refined answer (ledger block removed) and the consensus it reports."""
    reading = parse_ledger(text, [x for x, _ in labelled])
    panel = tuple((x, d.model) for x, d in labelled)
    problems = list(reading.problems)
    measured = agreement(reading.ledger, len(labelled))
    if len(labelled) < 2:  # whatever the ledger says, one draft cannot agree with itself
        problems = [ONE_DRAFT]
    elif reading.ledger is not None and measured is None:
        problems.append("the ledger lists no claims to measure agreement on")
    return reading.answer, Consensus(panel, seed, reading.ledger, measured, tuple(problems))


def unread(labelled: Sequence[tuple[str, Draft]], seed: int, why: str) -> Consensus:
    """The consensus of a run whose synthesis gave no ledger at all (refine failed)."""
    panel = tuple((x, d.model) for x, d in labelled)
    return Consensus(panel, seed, None, None, (why if len(labelled) > 1 else ONE_DRAFT,))


def carry(previous: Consensus, current: Consensus, round_: int) -> Consensus:
    """Round ``round_``'s consensus, keeping what the drafts held in earlier rounds.

    The drafts do not change between rounds, so neither do their positions: a dispute or a
    contradicted claim an earlier ledger recorded and this one dropped is kept (and said so),
    so a revision cannot quietly converge on the majority. With no ledger this round, the
    earlier one stands."""
    before, now = previous.ledger, current.ledger
    if before is None:
        return current
    if now is None:
        why = f"round {round_}'s refiner gave no readable ledger; round {round_ - 1}'s stands"
        return Consensus(
            previous.panel, previous.seed, before, previous.agreement,
            (*previous.problems, why),
        )  # fmt: skip
    listed = {d.claim.casefold() for d in now.disputes}
    dropped = tuple(d for d in before.disputes if d.claim.casefold() not in listed)
    claims = {c.claim.casefold(): c for c in now.claims}
    merged = list(now.claims)
    lost_claims = 0
    for old in before.claims:
        if not old.contradicted_by:
            continue
        new = claims.get(old.claim.casefold())
        if new is None:
            merged.append(old)
            lost_claims += 1
        elif not set(old.contradicted_by) <= set(new.contradicted_by):
            joined = tuple(dict.fromkeys((*new.contradicted_by, *old.contradicted_by)))
            merged[merged.index(new)] = replace(new, contradicted_by=joined)
            lost_claims += 1
    if not dropped and not lost_claims:
        return current
    # A dispute kept from an earlier round may have been settled under another name: it is
    # kept as the drafts held it, its resolution now unknown (not counted as unresolved).
    kept_disputes = tuple(
        replace(d, resolved=None, resolution=f"(left out of round {round_}'s ledger)")
        for d in dropped
    )
    ledger = replace(now, claims=tuple(merged), disputes=(*now.disputes, *kept_disputes))
    kept = len(dropped) + lost_claims
    problems = (
        *current.problems,
        f"round {round_}'s ledger left out {kept} position{'s' if kept != 1 else ''} the "
        "drafts held earlier; kept",
    )
    return Consensus(
        current.panel, current.seed, ledger, agreement(ledger, len(current.panel)), problems
    )
