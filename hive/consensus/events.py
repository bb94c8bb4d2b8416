"""What the pipeline tells the world while it runs, and what it returns.

Plain frozen dataclasses, not pydantic: one is made per streamed token, so they must be cheap.
A call is identified by ``(stage, index)``: index is the generator's position; for a later
stage, how many times the stage ran before (an escalated panel's second refine, a second
round's refine and validate, are index 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from hive.money import Total

if TYPE_CHECKING:
    from hive.consensus.adaptive import Decision
    from hive.consensus.panel import Consensus


CUT = "cut: "  # how the error of a call stopped as a straggler begins
CANCELLED = "cancelled: the run was stopped during this call"  # a call's error on Ctrl-C


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call as it happened. ``cost`` is what the server reported; only when it
    reported none is it computed from catalog prices, and then ``cost_estimated`` says so."""

    stage: str
    index: int
    model: str
    model_used: str | None
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: Decimal | None
    ttft_ms: float | None
    latency_ms: float
    finish_reason: str | None
    content: str
    error: str | None = None
    cost_estimated: bool = False  # True when the server reported no cost and hive priced it
    attempt: int = 1
    # The server accepted the request (answered 200), so the call may be billed even if it
    # then failed; False for a call refused with an error status or never sent.
    accepted: bool = False
    # Prompt caching, as the server reported it (None: not reported, never read as 0):
    # prompt tokens read from the cache, prompt tokens written to it, and what caching saved
    # in USD (negative when a write cost extra; see ``Completion.cache_discount``).
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_discount: Decimal | None = None
    # Completion tokens spent reasoning ("thinking"), as the server reported them (None: not
    # reported); they are part of ``completion_tokens``. The reasoning text is never kept.
    reasoning_tokens: int | None = None
    # OpenRouter's id for the generation (``gen-…``, the chunks' ``id``), to ask its
    # /generation endpoint what it billed (``hive history show N --verify``); None when the
    # server sent none.
    generation_id: str | None = None
    # Web searches the server ran for the call (None: not reported) and the pages the answer
    # cited, (url, title or None) in order.
    web_searches: int | None = None
    sources: tuple[tuple[str, str | None], ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cut(self) -> bool:
        """Stopped on purpose: a straggler the run went on without (``adaptive.py``)."""
        return self.error is not None and self.error.startswith(CUT)

    @property
    def billable(self) -> bool:
        """Whether the server may have charged for this call: it accepted the request (even if
        the stream then failed, or was stopped), answered, or reported usage. A call refused
        with an error status, or one whose connection never opened, is not billed, so its
        missing cost is not an unknown cost."""
        return billable(
            accepted=self.accepted, error=self.error, content=self.content, cost=self.cost,
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
        )  # fmt: skip

    @property
    def tokens(self) -> int | None:
        """Prompt plus completion tokens as the server reported them; None if it did not."""
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def billable(
    *,
    accepted: bool,
    error: str | None,
    content: str,
    cost: Decimal | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
) -> bool:
    """``CallRecord.billable`` from a call's fields (history rows use the same rule, and
    ``store.history.billable_sql`` says it in SQL: a test checks that the two agree)."""
    return (
        accepted
        or error is None
        or bool(content)
        or cost is not None
        or prompt_tokens is not None
        or completion_tokens is not None
    )


def cost_total(calls: Iterable[CallRecord]) -> Total:
    """What calls cost: known costs summed, billable calls of unknown cost counted."""
    return Total.of(call.cost for call in calls if call.billable)


def token_total(calls: Iterable[CallRecord]) -> tuple[int, int]:
    """``(tokens reported, billable calls that reported none)``."""
    reported, unreported = 0, 0
    for call in calls:
        if call.tokens is not None:
            reported += call.tokens
        elif call.billable:
            unreported += 1
    return reported, unreported


@dataclass(frozen=True, slots=True)
class ConsensusResult:
    question: str
    profile: str
    answer: str
    simulated: bool
    confidence: float | None
    issues: list[str]
    calls: list[CallRecord]
    duration_ms: float
    warnings: list[str] = field(default_factory=list)
    degraded: bool = False  # a stage failed and the run went on without it (see warnings)
    consensus: Consensus | None = None  # what the panel agreed on (None: no run got that far)
    decisions: list[Decision] = field(default_factory=list)  # adaptive choices, in order
    rounds: int = 1  # refine -> validate rounds taken

    @property
    def cost(self) -> Total:
        """The run's cost; ``unknown`` counts calls nobody could price."""
        return cost_total(self.calls)

    @property
    def total_tokens(self) -> int:
        """Tokens the server reported (see ``unreported_token_calls`` for the calls it did not)."""
        return token_total(self.calls)[0]

    @property
    def unreported_token_calls(self) -> int:
        return token_total(self.calls)[1]

    @property
    def sources(self) -> list[tuple[str, str | None]]:
        """The web pages the run's calls cited (web search), each url once, in call order:
        the sources the drafts, and so the answer, were written from."""
        found: dict[str, str | None] = {}
        for call in self.calls:
            for url, title in call.sources:
                found.setdefault(url, title)
        return list(found.items())


@dataclass(frozen=True, slots=True)
class CallPlan:
    stage: str
    index: int
    model: str


@dataclass(frozen=True, slots=True)
class RunStarted:
    question: str
    profile: str
    simulated: bool
    plan: list[CallPlan]


@dataclass(frozen=True, slots=True)
class CallStarted:
    """An attempt of call ``(stage, index)`` begins on ``model``. ``attempt`` counts every try
    of the call (retries and fallbacks); ``requested`` is the model the call asked first, set
    only when this attempt is a fallback to another one, so a view can show ``a → b``."""

    stage: str
    index: int
    model: str
    attempt: int = 1
    requested: str | None = None


@dataclass(frozen=True, slots=True)
class CallRetrying:
    """An attempt failed and the call waits ``delay`` seconds before trying ``model`` again
    (attempt number ``attempt`` of at most ``attempts``); ``reason`` is the failure, short."""

    stage: str
    index: int
    model: str
    attempt: int
    attempts: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class CallRouted:
    """The server says ``model`` is answering call ``(stage, index)``, not the model asked:
    OpenRouter fell back on its own (the request's ``models`` list) or resolved an alias."""

    stage: str
    index: int
    model: str


@dataclass(frozen=True, slots=True)
class TokenDelta:
    stage: str
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """Reasoning text a thinking model streams before (or while) it answers: shown live,
    never part of the call's answer or record."""

    stage: str
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class CallFinished:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallFailed:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class RunWarning:
    message: str


@dataclass(frozen=True, slots=True)
class ConsensusMeasured:
    """The refiner's ledger was read: the panel's agreement and disputes are known."""

    consensus: Consensus


@dataclass(frozen=True, slots=True)
class Decided:
    """An adaptive decision (``adaptive.py``): a straggler cut, an escalation, a skipped
    stage, a round started or stopped."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class RunFinished:
    result: ConsensusResult


PipelineEvent = (
    RunStarted
    | CallStarted
    | CallRetrying
    | CallRouted
    | TokenDelta
    | ThinkingDelta
    | CallFinished
    | CallFailed
    | RunWarning
    | ConsensusMeasured
    | Decided
    | RunFinished
)
