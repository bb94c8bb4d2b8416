"""Runs generate → refine → validate → curate, emitting events; knows nothing of terminals.

Stages start the moment their input exists; generators run concurrently. A failed extra
generator is dropped with a warning as long as one draft survives; any other failure stops the
run with a ``StageError`` naming the stage and model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from hive.consensus import stages
from hive.consensus.budget import SpendLimit
from hive.consensus.estimate import PriceOf, call_ceiling
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallPlan,
    CallRecord,
    CallStarted,
    ConsensusResult,
    PipelineEvent,
    RunFinished,
    RunStarted,
    RunWarning,
    TokenDelta,
)
from hive.consensus.profiles import STAGES, Profile, StageSpec
from hive.errors import ApiFailure, BudgetError, HiveError, StageError
from hive.money import dollars
from hive.openrouter.chat import ChatRequest, Completion, TextDelta
from hive.openrouter.client import OpenRouterClient
from hive.openrouter.tokens import message_tokens

Emit = Callable[[PipelineEvent], None]
EMPTY_ANSWER = "the model returned an empty answer"


class Pipeline:
    def __init__(
        self,
        client: OpenRouterClient,
        emit: Emit,
        *,
        today: date,
        clock: Callable[[], float] = time.perf_counter,
        price_of: PriceOf | None = None,
        limit: SpendLimit | None = None,
    ) -> None:
        """``price_of`` prices calls the server reports no cost for (marked estimated) and
        bounds what a call may cost; ``limit`` is what the run may spend in all."""
        self._client = client
        self._emit = emit
        self._today = today
        self._clock = clock
        self._price_of = price_of or (lambda model: None)
        self._limit = limit
        self._calls: list[CallRecord] = []
        self._warnings: list[str] = []

    async def run(self, question: str, profile: Profile, *, simulated: bool) -> ConsensusResult:
        started = self._clock()
        plan = [
            CallPlan(stage, i, model)
            for stage in STAGES
            for i, model in enumerate(profile.stage(stage).models)
        ]
        self._emit(RunStarted(question, profile.name, simulated, plan))

        drafts = await self._generate(question, profile.stage("generate"))
        refined = await self._call(
            "refine",
            0,
            profile.stage("refine"),
            stages.refine_messages(question, drafts, self._today),
        )
        review = await self._call(
            "validate",
            0,
            profile.stage("validate"),
            stages.validate_messages(question, refined, self._today),
        )
        verdict = stages.parse_verdict(review)
        if not verdict.found:
            self._warn("the validator gave no verdict; confidence is unknown")
        answer = await self._call(
            "curate",
            0,
            profile.stage("curate"),
            stages.curate_messages(question, refined, verdict, self._today),
        )
        result = ConsensusResult(
            question=question,
            profile=profile.name,
            answer=answer.strip(),
            simulated=simulated,
            confidence=verdict.confidence,
            issues=verdict.issues,
            calls=list(self._calls),
            duration_ms=(self._clock() - started) * 1000,
            warnings=list(self._warnings),
        )
        self._emit(RunFinished(result))
        return result

    def _record(self, record: CallRecord) -> None:
        price = self._price_of(record.model_used or record.model)
        if record.cost is None and record.prompt_tokens is not None and price and price.known:
            # The server reported tokens but no cost (some OpenAI-compatible servers): price
            # them from the catalog, and say the figure is hive's.
            cost = price.cost(record.prompt_tokens, record.completion_tokens or 0)
            record = dataclasses.replace(record, cost=cost, cost_estimated=True)
        self._calls.append(record)
        self._emit(CallFinished(record) if record.ok else CallFailed(record))

    def _warn(self, message: str) -> None:
        self._warnings.append(message)
        self._emit(RunWarning(message))

    def _guard(self, stage: str, spec: StageSpec, messages: stages.Messages) -> None:
        """Never start a stage whose calls could, at their worst, take the run over its limit."""
        if self._limit is None:
            return
        spent = sum((c.cost for c in self._calls if c.cost is not None), Decimal(0))
        prompt = message_tokens(messages)
        worst = Decimal(0)
        for model in spec.models if stage == "generate" else spec.models[:1]:
            ceiling = call_ceiling(self._price_of(model), prompt, spec.max_tokens)
            if ceiling is None:
                self._warn(f"cannot bound {model}'s cost (price unknown in advance)")
                continue
            worst += ceiling
        if spent + worst > self._limit.amount:
            raise BudgetError(
                f"stopped before {stage}: it could cost up to {dollars(worst)}, taking this run "
                f"over {self._limit.reason}; spent {dollars(spent)} so far"
            )

    async def _generate(self, question: str, spec: StageSpec) -> list[str]:
        messages = stages.generate_messages(question, self._today)
        self._guard("generate", spec, messages)
        outcomes = await asyncio.gather(
            *(self._call("generate", i, spec, messages) for i in range(len(spec.models))),
            return_exceptions=True,
        )
        drafts = [o for o in outcomes if isinstance(o, str)]
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, StageError):
                raise outcome  # cancellation or a bug: never swallowed
        if not drafts:
            first = next(o for o in outcomes if isinstance(o, StageError))
            raise first
        for outcome in outcomes:
            if isinstance(outcome, StageError):
                self._warn(f"dropped a draft: {outcome}")
        return drafts

    async def _call(
        self, stage: str, index: int, spec: StageSpec, messages: list[dict[str, str]]
    ) -> str:
        model = spec.models[index]
        if stage != "generate":  # generators are guarded together, before any starts
            self._guard(stage, spec, messages)
        self._emit(CallStarted(stage, index, model))
        request = ChatRequest(model, messages, spec.temperature, spec.max_tokens, spec.fallbacks)
        started = self._clock()
        first_token: float | None = None
        completion: Completion | None = None
        try:
            async for item in self._client.stream_chat(request):
                if isinstance(item, TextDelta):
                    if first_token is None:
                        first_token = self._clock()
                    self._emit(TokenDelta(stage, index, item.text))
                elif isinstance(item, Completion):
                    completion = item
        except ApiFailure as exc:
            # A failed call still cost what the server reported; keep that and any partial text.
            self._record(
                CallRecord(
                    stage=stage,
                    index=index,
                    model=model,
                    model_used=None,
                    provider=exc.provider,
                    prompt_tokens=exc.prompt_tokens,
                    completion_tokens=exc.completion_tokens,
                    cost=exc.cost,
                    ttft_ms=_ms(started, first_token),
                    latency_ms=(self._clock() - started) * 1000,
                    finish_reason=None,
                    content=exc.partial_text,
                    error=str(exc),
                )
            )
            raise StageError(stage, model, exc) from exc
        assert completion is not None  # stream_chat always ends with one
        empty = not completion.text.strip()
        self._record(
            CallRecord(
                stage=stage,
                index=index,
                model=model,
                model_used=completion.model,
                provider=completion.provider,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost=completion.cost,
                ttft_ms=_ms(started, first_token),
                latency_ms=(self._clock() - started) * 1000,
                finish_reason=completion.finish_reason,
                content=completion.text,
                error=EMPTY_ANSWER if empty else None,
            )
        )
        if empty:
            raise StageError(stage, model, HiveError(EMPTY_ANSWER))
        if completion.finish_reason == "length":
            self._warn(f"{stage} ({model}) hit its max_tokens limit; its output may be cut short")
        elif completion.finish_reason == "content_filter":
            self._warn(f"{stage} ({model}) output was cut by a content filter")
        return completion.text


def _ms(started: float, at: float | None) -> float | None:
    return None if at is None else (at - started) * 1000
