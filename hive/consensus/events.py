"""What the pipeline tells the world while it runs, and what it returns.

Plain frozen dataclasses, not pydantic: one is made per streamed token, so they must be cheap.
A call is identified by ``(stage, index)``: index is the generator's position, 0 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


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

    @property
    def ok(self) -> bool:
        return self.error is None


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

    @property
    def total_cost(self) -> Decimal:
        return sum((c.cost for c in self.calls if c.cost is not None), Decimal(0))

    @property
    def total_tokens(self) -> int:
        return sum((c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in self.calls)


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
    stage: str
    index: int
    model: str


@dataclass(frozen=True, slots=True)
class TokenDelta:
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
class RunFinished:
    result: ConsensusResult


PipelineEvent = (
    RunStarted | CallStarted | TokenDelta | CallFinished | CallFailed | RunWarning | RunFinished
)
