"""The run's spending limit, held while it runs: no call starts unless its worst case fits.

Each call's worst case is its prompt plus ``max_tokens`` of output priced at the *most
expensive* model it may end on: OpenRouter bills whichever model of the ``models`` fallback
list answers, and hive may fall back client-side too. A stage reserves the worst case of all
its calls before it starts; a retry or a fallback reserves again, against what the run has
spent by then plus what the other calls in flight still hold. A call whose cost cannot be
bounded (a model with no known price, a router such as ``openrouter/auto``) never starts under
a limit: a warning is not a budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from hive.consensus.budget import SpendLimit
from hive.consensus.estimate import PriceOf, dearest_ceiling, priced
from hive.consensus.profiles import StageSpec
from hive.errors import BudgetError
from hive.money import dollars

CallKey = tuple[str, int]  # (stage, index)


class SpendGuard:
    def __init__(
        self, limit: SpendLimit | None, price_of: PriceOf, spent: Callable[[], Decimal]
    ) -> None:
        """``spent``: what the run's recorded calls have cost so far."""
        self._limit = limit
        self._price_of = price_of
        self._spent = spent
        self._held: dict[CallKey, Decimal] = {}

    def worst_case(
        self, stage: str, models: Sequence[str], prompt_tokens: int, spec: StageSpec
    ) -> Decimal:
        """The most one call may cost on any of ``models`` (``spec``'s max_tokens, routing
        cap and web search included); a BudgetError if one is unpriced."""
        worst = dearest_ceiling(self._price_of, list(models), prompt_tokens, spec)
        if worst is None:
            unpriced = next(
                (m for m in models if not priced(self._price_of(m))), f"{stage}'s web search"
            )
            reason = self._limit.reason if self._limit else "a spending limit"
            raise BudgetError(
                f"stopped before {stage}: the cost of {unpriced} cannot be bounded in advance "
                f"(no known price) and {reason} is set; spent {dollars(self._spent())} so far "
                "(--force runs without the limit)"
            )
        return worst

    def admit(
        self,
        stage: str,
        calls: Mapping[CallKey, Sequence[str]],
        prompt_tokens: int,
        spec: StageSpec,
        *,
        what: str | None = None,
    ) -> None:
        """Reserve the worst case of ``calls`` (each with the models it may end on), or raise
        BudgetError if that, with what is spent and held, would cross the limit."""
        if self._limit is None:
            return
        worst = {
            key: self.worst_case(stage, models, prompt_tokens, spec)
            for key, models in calls.items()
        }
        spent = self._spent()
        held = sum((v for k, v in self._held.items() if k not in worst), Decimal(0))
        needed = sum(worst.values(), Decimal(0))
        if spent + held + needed > self._limit.amount:
            raise BudgetError(
                f"stopped before {what or stage}: it could cost up to {dollars(needed)}, taking "
                f"this run over {self._limit.reason}; spent {dollars(spent)} so far"
            )
        self._held.update(worst)

    @property
    def limited(self) -> bool:
        return self._limit is not None

    def fits(self, amount: Decimal, *, excluding: CallKey | None = None) -> bool:
        """Whether ``amount`` more, on top of what is spent and held (but for the call
        ``excluding``, which the amount replaces), stays within the limit."""
        if self._limit is None:
            return True
        held = sum((v for k, v in self._held.items() if k != excluding), Decimal(0))
        return self._spent() + held + amount <= self._limit.amount

    def release(self, key: CallKey) -> None:
        """The call is over: what it cost is in ``spent`` now."""
        self._held.pop(key, None)
