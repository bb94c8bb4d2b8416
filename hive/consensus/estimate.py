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

An adaptive run (``adaptive.py``) may take more or fewer calls than its profile lists, so each
call says when it is made (``when``): every run (""), only if the review leaves something to
fix (a curation the profile may skip), or only if an optional step is taken — the rest of the
panel when the first drafts disagree, another round. The estimate gives the cheapest path (no
optional step, curation skipped where allowed) and the fullest (every step, every round); a
budget is checked against the path every run may need (the curation included), since the run
itself takes an optional step only when its worst case still fits the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hive.consensus import stages
from hive.consensus.adaptive import FIXED
from hive.consensus.context import NO_CONTEXT, Context
from hive.consensus.ledger import labels
from hive.consensus.profiles import Profile, StageSpec
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
    when: str = ""  # "" on every run; else the condition it is made on, for the reader
    optional: bool = False  # only if an optional step (escalation, a round) is taken
    skippable: bool = False  # a curation the run skips when the review is clean
    # The most the call's web search may add (its own model's price; in ``expected`` and
    # ``ceiling`` already); None when the call does not search or its search has no price.
    search_fee: Decimal | None = None

    @property
    def required(self) -> bool:
        """Made on every run that does not stop early (a skippable curation counts: a run
        must be able to afford it)."""
        return not self.optional


Path = Callable[[CallEstimate], bool]
PATHS: dict[str, Path] = {
    "cheapest": lambda c: not c.optional and not c.skippable,
    "required": lambda c: c.required,
    "fullest": lambda c: True,
}


@dataclass(frozen=True, slots=True)
class RunEstimate:
    calls: list[CallEstimate]

    def path(self, name: str) -> list[CallEstimate]:
        """The calls of the ``cheapest``, ``required`` or ``fullest`` path."""
        return [c for c in self.calls if PATHS[name](c)]

    @property
    def adaptive(self) -> bool:
        """Whether the run may take more or fewer calls than every run makes."""
        return any(c.optional or c.skippable for c in self.calls)

    @property
    def expected(self) -> Total:
        """The fullest path's expected cost (every call listed)."""
        return Total.of(c.expected for c in self.calls)

    @property
    def ceiling(self) -> Total:
        """The most the fullest path may cost."""
        return Total.of(c.ceiling for c in self.calls)

    def expected_on(self, name: str) -> Total:
        return Total.of(c.expected for c in self.path(name))

    def ceiling_on(self, name: str) -> Total:
        return Total.of(c.ceiling for c in self.path(name))

    @property
    def unpriced(self) -> list[str]:
        """Models a call may run on whose price is unknown in advance (not in the catalog, or
        router models such as ``openrouter/auto``), fallbacks included."""
        return list(dict.fromkeys(m for c in self.calls for m in c.unpriced))

    def unpriced_on(self, name: str) -> list[str]:
        return list(dict.fromkeys(m for c in self.path(name) for m in c.unpriced))


def cost_at(
    price: ModelPrice | None,
    prompt_tokens: int,
    completion_tokens: int,
    spec: StageSpec | None = None,
    *,
    worst: bool = False,
) -> Decimal | None:
    """A call's cost at the model's catalog price, with what the stage's OpenRouter controls
    add (``controls.py``): output priced at the model's reasoning price when that is dearer
    and reasoning is on (reasoning tokens are output, inside ``max_tokens``), and the most its
    web search may charge. ``worst``: at the dearest provider the stage's routing allows,
    which is its ``max_price`` where set (the catalog's one price otherwise: per-provider
    prices are not in the model list). None when the model, or its search, has no known
    price."""
    if price is None or not price.known:
        return None
    prompt_rate, output_rate, request = price.prompt, price.completion, price.request
    fee = Decimal(0)
    if spec is not None:
        reasoning = spec.reasoning
        if reasoning is not None and not reasoning.off and price.reasoning is not None:
            output_rate = max(output_rate, price.reasoning)
        cap = spec.provider.max_price if spec.provider is not None else None
        if worst and cap is not None:
            prompt_rate = _capped(cap.per_token("prompt"), prompt_rate)
            output_rate = _capped(cap.per_token("completion"), output_rate)
            request = _capped(cap.request, request)
        if spec.web is not None:
            web = spec.web.worst_fee(price.web_search)
            if web is None:
                return None
            fee = web
    return request + fee + prompt_rate * prompt_tokens + output_rate * completion_tokens


def _capped(cap: Decimal | float | None, rate: Decimal) -> Decimal:
    """A routing cap is the dearest price a provider may charge: it bounds the worst case."""
    return rate if cap is None else Decimal(str(cap))


def dearest_ceiling(
    price_of: PriceOf, models: list[str], prompt_tokens: int, spec: StageSpec
) -> Decimal | None:
    """The most a call may cost on any of ``models`` at ``spec``'s ``max_tokens`` (and its
    controls); None if any of them is unpriced."""
    ceilings = [
        cost_at(price_of(m), prompt_tokens, spec.max_tokens, spec, worst=True) for m in models
    ]
    known = [c for c in ceilings if c is not None]
    return max(known) if len(known) == len(ceilings) else None


def estimate_run(
    question: str,
    profile: Profile,
    today: date,
    price_of: PriceOf,
    typical: Typical,
    *,
    rounds: int | None = None,
    adaptive: bool = True,
    context: Context = NO_CONTEXT,
) -> RunEstimate:
    """Every call the run may make, in order; ``rounds`` (``--rounds``) overrides the
    profile's, and ``adaptive=False`` (``--fixed``) is the one path with every generator.
    ``context`` (instructions, files, earlier turns) goes in front of every prompt, so it is
    counted in each."""
    rules = profile.adaptive if adaptive else FIXED
    cap = rounds or rules.rounds
    calls: list[CallEstimate] = []

    def add(
        stage: str, model: str, prompt: int, prompt_max: int, when: str = "", **flags: bool
    ) -> CallEstimate:
        spec = profile.stage(stage)
        expected_out = min(typical(model, stage) or spec.max_tokens // 2, spec.max_tokens)
        candidates = [model, *spec.fallbacks]
        call = CallEstimate(
            stage=stage,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=expected_out,
            max_completion_tokens=spec.max_tokens,
            expected=cost_at(price_of(model), prompt, expected_out, spec),
            ceiling=dearest_ceiling(price_of, candidates, prompt_max, spec),
            unpriced=tuple(m for m in candidates if not priced(price_of(m))),
            when=when,
            search_fee=_search_fee(spec, price_of(model)),
            **flags,
        )
        calls.append(call)
        return call

    def refine(drafts: list[CallEstimate], when: str = "", **flags: bool) -> CallEstimate:
        labelled = [(x, "") for x in labels(len(drafts))]
        base = message_tokens(stages.refine_messages(question, labelled, today, context=context))
        return add(
            "refine", profile.stage("refine").models[0],
            base + sum(d.completion_tokens for d in drafts),
            base + sum(d.max_completion_tokens for d in drafts),
            when, **flags,
        )  # fmt: skip

    # Later prompts carry earlier outputs: their text is added as a token count.
    generate_prompt = message_tokens(stages.generate_messages(question, today, context=context))
    models = profile.stage("generate").models
    first = rules.first_panel if 0 < rules.first_panel < len(models) else len(models)
    drafts = [add("generate", m, generate_prompt, generate_prompt) for m in models[:first]]
    refined = refine(drafts)
    if first < len(models):
        escalated = f"if the first {first} drafts disagree"
        drafts += [
            add("generate", m, generate_prompt, generate_prompt, escalated, optional=True)
            for m in models[first:]
        ]
        refined = refine(drafts, escalated, optional=True)
    base = message_tokens(stages.validate_messages(question, "", today, context=context))
    review = add(
        "validate",
        profile.stage("validate").models[0],
        base + refined.completion_tokens,
        base + refined.max_completion_tokens,
    )
    for n in range(2, cap + 1):
        # The revision sees the drafts again, its previous answer and the review.
        again = (
            f"round {n}, if confidence stays below {rules.round_below:g} or a dispute stays open"
        )
        labelled = [(x, "") for x in labels(len(drafts))]
        revise = message_tokens(
            stages.revise_messages(
                question, labelled, "", stages.Verdict(None), today, context=context
            )
        )
        refined = add(
            "refine", profile.stage("refine").models[0],
            revise + sum(d.completion_tokens for d in drafts) + refined.completion_tokens
            + review.completion_tokens,
            revise + sum(d.max_completion_tokens for d in drafts) + refined.max_completion_tokens
            + review.max_completion_tokens,
            again, optional=True,
        )  # fmt: skip
        review = add(
            "validate", profile.stage("validate").models[0],
            base + refined.completion_tokens, base + refined.max_completion_tokens,
            again, optional=True,
        )  # fmt: skip
    base = message_tokens(
        stages.curate_messages(question, "", stages.Verdict(None), today, context=context)
    )
    add(
        "curate",
        profile.stage("curate").models[0],
        base + refined.completion_tokens + review.completion_tokens,
        base + refined.max_completion_tokens + review.max_completion_tokens,
        "unless the review finds nothing to fix" if rules.skip_curate else "",
        skippable=rules.skip_curate,
    )
    return RunEstimate(calls)


def _search_fee(spec: StageSpec, price: ModelPrice | None) -> Decimal | None:
    if spec.web is None:
        return None
    return spec.web.worst_fee(price.web_search if price is not None else None)


def priced(price: ModelPrice | None) -> bool:
    """Whether a price is known in advance (listed, and not a router's -1)."""
    return price is not None and price.known
