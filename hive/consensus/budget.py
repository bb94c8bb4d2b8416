"""Spending limits: ``max_cost_per_run``, ``daily_budget`` and ``monthly_budget`` (USD).

The tightest of them becomes one ``SpendLimit`` for a run: refused up front if the estimate
breaks it or if a call's cost cannot be bounded at all (an unpriced model: a limit nobody can
check is no limit), and enforced during the run by never starting a call whose worst case would
(``spend_guard``). An adaptive run is refused only on the calls every run makes; its optional
steps are left out mid-run when they would not fit (``Budgets.check``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from hive.consensus.estimate import RunEstimate
from hive.errors import BudgetError
from hive.money import Total, dollars


class Limits(Protocol):
    """Where the three limits are set, in USD (None: no limit): hive's settings, in practice.
    Read through this shape so that the consensus layer needs nothing from the store."""

    @property
    def max_cost_per_run(self) -> Decimal | None: ...
    @property
    def daily_budget(self) -> Decimal | None: ...
    @property
    def monthly_budget(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class SpendLimit:
    amount: Decimal  # what this run may still spend
    reason: str  # which limit that is, for messages


@dataclass(frozen=True, slots=True)
class Refusal:
    why: str  # what breaks which limit
    remedy: str  # what the user can do about it
    error: str  # the whole line a refused run prints


@dataclass(frozen=True, slots=True)
class Budgets:
    max_cost_per_run: Decimal | None
    daily_budget: Decimal | None
    monthly_budget: Decimal | None
    spent_today: Decimal
    spent_this_month: Decimal

    @classmethod
    def from_settings(
        cls, settings: Limits, *, spent_today: Decimal, spent_this_month: Decimal
    ) -> Budgets:
        """The limits as ``settings`` sets them, with what was spent today and this month."""
        return cls(
            max_cost_per_run=settings.max_cost_per_run,
            daily_budget=settings.daily_budget,
            monthly_budget=settings.monthly_budget,
            spent_today=spent_today,
            spent_this_month=spent_this_month,
        )

    def left_today(self) -> Decimal | None:
        return None if self.daily_budget is None else self.daily_budget - self.spent_today

    def left_this_month(self) -> Decimal | None:
        if self.monthly_budget is None:
            return None
        return self.monthly_budget - self.spent_this_month

    def limit(self) -> SpendLimit | None:
        candidates = []
        if self.max_cost_per_run is not None:
            candidates.append(
                SpendLimit(
                    self.max_cost_per_run, f"max_cost_per_run ({dollars(self.max_cost_per_run)})"
                )
            )
        if (left := self.left_today()) is not None:
            candidates.append(
                SpendLimit(max(left, Decimal(0)), f"daily_budget ({dollars(left)} left today)")
            )
        if (left := self.left_this_month()) is not None:
            candidates.append(
                SpendLimit(
                    max(left, Decimal(0)), f"monthly_budget ({dollars(left)} left this month)"
                )
            )
        return min(candidates, key=lambda c: c.amount, default=None)

    def check(self, estimate: RunEstimate, *, unpriced_why: str = "no known price") -> None:
        """Refuse, before it spends anything, a run whose expected cost would break a limit,
        or any of whose calls could cost an amount nobody can bound (``unpriced_why`` says why
        prices are missing, e.g. that the model list could not be fetched).

        An adaptive run is checked on the calls every run may need (``required``: the first
        panel, refine, validate and the curation even where it may be skipped: a run whose
        review is not clean must be able to afford it, or it would stop at the limit after
        paying for the rest). Its optional steps — the rest of the panel, another round — are
        not checked here: mid-run each is taken only if its worst case, with the validate and
        curate that must follow, still fits, and is otherwise left out (a decision says so):
        an optional step never stops a run at the limit."""
        refusal = self.refusal(estimate, unpriced_why=unpriced_why)
        if refusal is not None:
            raise BudgetError(refusal.error)

    def refusal(
        self, estimate: RunEstimate, *, unpriced_why: str = "no known price"
    ) -> Refusal | None:
        """Why ``check`` would refuse a run with this estimate, or None: one answer for the
        check and for ``--estimate``, which says so before anyone tries."""
        limit = self.limit()
        if limit is None:
            return None
        if unpriced := estimate.unpriced_on("required"):
            why = (
                f"the cost of {', '.join(unpriced)} cannot be bounded in advance "
                f"({unpriced_why}) and {limit.reason} is set"
            )
            remedy = "choose priced models, or --force to run without the limit"
            return Refusal(why, remedy, f"refused: {why}; nothing was spent ({remedy})")
        expected = estimate.expected_on("required").known
        if expected > limit.amount:
            why = f"this run is estimated at {dollars(expected)}, over {limit.reason}"
            remedy = "--force runs it anyway"
            return Refusal(
                why, remedy, f"refused: {why}; nothing was spent (see --estimate; {remedy})"
            )
        return None

    def may_cross(self, estimate: RunEstimate, path: str) -> bool:
        """Whether ``path``'s worst case (``estimate.path``) could cross the limit, or cannot
        be bounded. On the ``fullest`` path a run may then leave out an optional step (the
        rest of the panel, another round) it would otherwise take; on the ``required`` one it
        may stop before a stage (``spend_guard``), keeping what it produced."""
        limit = self.limit()
        if limit is None:
            return False
        ceiling = estimate.ceiling_on(path)
        return bool(ceiling.unknown) or ceiling.known > limit.amount

    def notes(self, spent_now: Total) -> list[str]:
        """What is left after a run that spent ``spent_now``, for the summary line. With
        calls of unknown cost, what is left is an upper bound, and says so."""
        bound = "at most " if spent_now.unknown else ""
        out = []
        if (left := self.left_today()) is not None:
            out.append(f"{bound}{dollars(left - spent_now.known)} left today")
        if (left := self.left_this_month()) is not None:
            out.append(f"{bound}{dollars(left - spent_now.known)} left this month")
        return out
