"""What a run will cost, before it runs.

Prompt sizes come from the exact prompts hive will send (about four characters a token);
earlier stages' outputs, which later prompts include, are taken at their expected length.
A model's expected output is the median of its recent outputs for that stage in your history,
or half its max output tokens when there is none yet; only real runs count (the simulator's
short replies say nothing about a real model). The ceiling assumes every call writes its max
output tokens on the dearest model it may end on (its stage's fallbacks included: OpenRouter
bills whichever answers), so a run cannot cost more unless the prompt count is off. A call any
of whose models has no known price has no ceiling (and, if that is its own model, an unknown
expected cost): never a zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hive.consensus import stages
from hive.consensus.ledger import labels
from hive.consensus.profiles import Profile
from hive.money import Total
from hive.openrouter.catalog import ModelPrice
from hive.openrouter.tokens import message_tokens

PriceOf = Callable[[str], ModelPrice | None]
Typical = Callable[[str, str], int | None]  # (model, stage) -> median completion tokens


@dataclass(frozen=True, slots=True)
class CallEstimate:
    stage: str
    model: str
    prompt_tokens: int
    completion_tokens: int  # expected
    max_completion_tokens: int
    expected: Decimal | None  # None when the model's price is not known in advance
    ceiling: Decimal | None  # None when any model the call may end on has no known price
    unpriced: tuple[str, ...] = ()  # the models (primary or fallbacks) with no known price


@dataclass(frozen=True, slots=True)
class RunEstimate:
    calls: list[CallEstimate]

    @property
    def expected(self) -> Total:
        return Total.of(c.expected for c in self.calls)

    @property
    def ceiling(self) -> Total:
        return Total.of(c.ceiling for c in self.calls)

    @property
    def unpriced(self) -> list[str]:
        """Models a call may run on whose price is unknown in advance (not in the catalog, or
        router models such as ``openrouter/auto``), fallbacks included."""
        return list(dict.fromkeys(m for c in self.calls for m in c.unpriced))


def cost_at(price: ModelPrice | None, prompt_tokens: int, max_tokens: int) -> Decimal | None:
    return price.cost(prompt_tokens, max_tokens) if price is not None and price.known else None


def dearest_ceiling(
    price_of: PriceOf, models: list[str], prompt_tokens: int, max_tokens: int
) -> Decimal | None:
    """The most a call may cost on any of ``models``; None if any of them is unpriced."""
    ceilings = [cost_at(price_of(m), prompt_tokens, max_tokens) for m in models]
    known = [c for c in ceilings if c is not None]
    return max(known) if len(known) == len(ceilings) else None


def estimate_run(
    question: str, profile: Profile, today: date, price_of: PriceOf, typical: Typical
) -> RunEstimate:
    calls: list[CallEstimate] = []

    def add(stage: str, model: str, prompt: int, prompt_max: int) -> CallEstimate:
        spec = profile.stage(stage)
        expected_out = min(typical(model, stage) or spec.max_tokens // 2, spec.max_tokens)
        candidates = [model, *spec.fallbacks]
        call = CallEstimate(
            stage=stage,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=expected_out,
            max_completion_tokens=spec.max_tokens,
            expected=cost_at(price_of(model), prompt, expected_out),
            ceiling=dearest_ceiling(price_of, candidates, prompt_max, spec.max_tokens),
            unpriced=tuple(m for m in candidates if not priced(price_of(m))),
        )
        calls.append(call)
        return call

    # Later prompts carry earlier outputs: their text is added as a token count.
    generate_prompt = message_tokens(stages.generate_messages(question, today))
    drafts = [
        add("generate", m, generate_prompt, generate_prompt)
        for m in profile.stage("generate").models
    ]
    labelled = [(x, "") for x in labels(len(drafts))]
    base = message_tokens(stages.refine_messages(question, labelled, today))
    refined = add(
        "refine",
        profile.stage("refine").models[0],
        base + sum(d.completion_tokens for d in drafts),
        base + sum(d.max_completion_tokens for d in drafts),
    )
    base = message_tokens(stages.validate_messages(question, "", today))
    review = add(
        "validate",
        profile.stage("validate").models[0],
        base + refined.completion_tokens,
        base + refined.max_completion_tokens,
    )
    base = message_tokens(stages.curate_messages(question, "", stages.Verdict(None), today))
    add(
        "curate",
        profile.stage("curate").models[0],
        base + refined.completion_tokens + review.completion_tokens,
        base + refined.max_completion_tokens + review.max_completion_tokens,
    )
    return RunEstimate(calls)


def priced(price: ModelPrice | None) -> bool:
    """Whether a price is known in advance (listed, and not a router's -1)."""
    return price is not None and price.known
