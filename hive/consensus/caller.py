"""One model call that keeps working through faults: retries, fallbacks, a circuit breaker.

A call tries its model, and on a transient failure tries again after a backoff; when the model
is gone, refused the input, or keeps failing, it moves to the stage's next fallback model (the
rest of the list still goes to OpenRouter as its own ``models`` fallback). Every attempt is
recorded, failed ones with what the server billed and any partial text. A model that fails
``BREAKER_THRESHOLD`` times in a run — across concurrent generators too — is skipped for the
rest of the run. A rejected key or missing credits ends the call at once: no model would fare
better. Waits and randomness come in as parameters, so tests neither sleep nor guess.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from hive.consensus.budget import SpendLimit
from hive.consensus.estimate import PriceOf
from hive.consensus.events import (
    CANCELLED,
    CUT,
    CallFailed,
    CallFinished,
    CallRecord,
    CallRetrying,
    CallRouted,
    CallStarted,
    PipelineEvent,
    RunWarning,
    ThinkingDelta,
    TokenDelta,
)
from hive.consensus.profiles import StageSpec
from hive.consensus.spend_guard import SpendGuard
from hive.consensus.stages import Messages
from hive.errors import (
    ApiFailure,
    AuthError,
    BudgetError,
    ProviderUnavailable,
    StageError,
    StreamError,
)
from hive.openrouter.chat import ChatRequest, Completion, ReasoningDelta, TextDelta
from hive.openrouter.client import OpenRouterClient
from hive.openrouter.retry import RetryPolicy, is_transient, worth_a_fallback
from hive.openrouter.tokens import approx_tokens, message_tokens
from hive.text import shorten

Emit = Callable[[PipelineEvent], None]
Sleep = Callable[[float], Awaitable[None]]
EMPTY_ANSWER = "the model returned an empty answer"
BREAKER_THRESHOLD = 3
Stop = Callable[[str], str | None]  # the text so far -> why to stop now, or None


class StoppedEarly(Exception):
    """A call its ``stop`` ended on purpose: ``text`` is what it wrote until then."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text
        self.reason = reason


class Caller:
    def __init__(
        self,
        client: OpenRouterClient,
        emit: Emit,
        *,
        clock: Callable[[], float] = time.perf_counter,
        price_of: PriceOf | None = None,
        limit: SpendLimit | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """``price_of`` prices calls the server reports no cost for (marked estimated) and
        bounds what a call may cost; ``limit`` is what the run may spend in all."""
        self._client = client
        self._emit = emit
        self._clock = clock
        self._price_of = price_of or (lambda model: None)
        self._guard = SpendGuard(limit, self._price_of, self._spent)
        # Per call: hive's count of the prompt it sent, and the models it may end on.
        self._sent: dict[tuple[str, int], tuple[int, list[str]]] = {}
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._failures: dict[str, int] = {}  # per model, for the circuit breaker
        self._cut: dict[tuple[str, int], str] = {}  # calls the pipeline chose to stop, and why
        self.calls: list[CallRecord] = []
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._emit(RunWarning(message))

    def _spent(self) -> Decimal:
        return sum((c.cost for c in self.calls if c.cost is not None), Decimal(0))

    def guard(
        self, stage: str, spec: StageSpec, messages: Messages, indexes: Sequence[int] = (0,)
    ) -> None:
        """Never start a stage's calls (generators ``indexes``) if they could, at their worst
        (on the dearest model each may end on), take the run over its limit; a BudgetError
        says so before anything is sent."""
        calls = {(stage, i): [_model(stage, spec, i), *spec.fallbacks] for i in indexes}
        self._guard.admit(stage, calls, message_tokens(messages), spec)

    def affordable(
        self,
        planned: Sequence[tuple[str, int, StageSpec, int]],
        *,
        excluding: tuple[str, int] | None = None,
    ) -> bool:
        """Whether ``planned`` calls — (stage, index, spec, prompt tokens) — each at its worst,
        fit the limit with what is spent and held; asked before an optional step (another
        round, the rest of the panel), never raising. Always True with no limit.
        ``excluding``: a call in flight whose reservation the plan makes moot (a refine that
        would be stopped for it)."""
        if not self._guard.limited:
            return True
        try:
            worst = sum(
                (
                    self._guard.worst_case(stage, [_model(stage, spec, index), *spec.fallbacks],
                                           prompt, spec)
                    for stage, index, spec, prompt in planned
                ),
                Decimal(0),
            )  # fmt: skip
        except BudgetError:
            return False
        return self._guard.fits(worst, excluding=excluding)

    def cut(self, stage: str, index: int, reason: str) -> None:
        """Say why call ``(stage, index)`` is about to be cancelled: its record carries
        ``reason`` instead of ``CANCELLED`` (a straggler cut, not a stopped run)."""
        self._cut[(stage, index)] = reason

    async def call(
        self,
        stage: str,
        index: int,
        spec: StageSpec,
        messages: Messages,
        *,
        seed: int | None = None,
        stop: Stop | None = None,
    ) -> str:
        """The model's answer, from the first model of [primary, *fallbacks] that gives one.
        ``stop`` reads the text so far (each time a tag may have closed) and may end the call
        early with a reason: the call is recorded as cut and ``StoppedEarly`` carries its text.
        ``index``: the generator's place, or for a later stage the times it ran before (a
        second refine is index 1). ``seed`` goes to the server (one model sampled several
        times differs by seed)."""
        candidates = [_model(stage, spec, index), *spec.fallbacks]
        prompt = message_tokens(messages)
        self._sent[(stage, index)] = (prompt, candidates)
        try:
            return await self._call(stage, index, spec, messages, candidates, prompt, seed, stop)
        finally:
            self._guard.release((stage, index))

    async def _call(
        self,
        stage: str,
        index: int,
        spec: StageSpec,
        messages: Messages,
        candidates: list[str],
        prompt: int,
        seed: int | None,
        stop: Stop | None,
    ) -> str:
        waited = 0.0
        last: ApiFailure | None = None
        last_model = candidates[0]  # the model of the last failure, named in the error
        attempt = 0
        for position, model in enumerate(candidates):
            if self._failures.get(model, 0) >= BREAKER_THRESHOLD:
                self.warn(f"{stage}: skipping {model}, which failed {BREAKER_THRESHOLD} times")
                continue
            if last is not None:
                self.warn(f"{stage}: {candidates[0]} gave no answer; falling back to {model}")
            request = ChatRequest(model, messages, spec.temperature, spec.max_tokens,
                                  tuple(candidates[position + 1 :]), seed=seed,
                                  **controls_of(spec))  # fmt: skip
            requested = None if model == candidates[0] else candidates[0]  # a fallback's origin
            for tries in range(1, self._policy.max_attempts + 1):
                attempt += 1
                if attempt > 1:  # a retry or a fallback: it must fit the limit again
                    self._guard.admit(
                        stage, {(stage, index): candidates[position:]}, prompt,
                        spec, what=f"retrying {stage} on {model}",
                    )  # fmt: skip
                self._emit(CallStarted(stage, index, model, attempt, requested))
                try:
                    return await self._attempt(stage, index, request, attempt, stop)
                except ApiFailure as exc:
                    last, last_model = exc, model
                    # What the attempt cost is spent now; the next attempt reserves anew.
                    self._guard.release((stage, index))
                    self._failures[model] = self._failures.get(model, 0) + 1
                    if isinstance(exc, AuthError):
                        raise StageError(stage, model, exc) from exc
                    if not is_transient(exc) or tries == self._policy.max_attempts:
                        break
                    if self._failures[model] >= BREAKER_THRESHOLD:
                        break
                    delay = self._policy.delay(tries, exc, self._rng)
                    if waited + delay > self._policy.max_total_wait:
                        break
                    self.warn(
                        f"{stage}: {model} failed ({_short(exc)}); retrying in {delay:.1f}s "
                        f"(attempt {tries + 1} of {self._policy.max_attempts})"
                    )
                    self._emit(
                        CallRetrying(stage, index, model, attempt=attempt + 1,
                                     attempts=self._policy.max_attempts, delay=delay,
                                     reason=_short(exc))
                    )  # fmt: skip
                    try:
                        await self._sleep(delay)
                    except asyncio.CancelledError:
                        self._cut_while_waiting(stage, index, model, attempt + 1)
                        raise
                    waited += delay
            if last is not None and not worth_a_fallback(last):
                break
        if last is None:  # every candidate was skipped by the circuit breaker
            last = ProviderUnavailable(
                f"{', '.join(candidates)} failed {BREAKER_THRESHOLD} times each in this run"
            )
        raise StageError(stage, last_model, last) from last

    async def _attempt(
        self, stage: str, index: int, request: ChatRequest, attempt: int, stop: Stop | None
    ) -> str:
        model = request.model
        routed = model  # who the server says answers: a change is told once (CallRouted)
        started = self._clock()
        first_token: float | None = None
        completion: Completion | None = None
        received: list[str] = []  # what streamed so far, kept if the run is stopped mid-call
        answered = False  # the server's reply had begun: a call stopped now may be billed
        record = functools.partial(CallRecord, stage=stage, index=index, model=model,
                                   attempt=attempt)  # fmt: skip
        stopped: str | None = None  # why ``stop`` ended the call early
        stream = self._client.stream_chat(request)
        try:
            async for item in stream:
                answered = True
                if isinstance(item, TextDelta):
                    if item.model != routed and item.model is not None:
                        routed = item.model
                        self._emit(CallRouted(stage, index, routed))
                    if first_token is None:
                        first_token = self._clock()
                    received.append(item.text)
                    self._emit(TokenDelta(stage, index, item.text))
                    if stop is not None and ">" in item.text:
                        stopped = stop("".join(received))
                        if stopped is not None:
                            break
                elif isinstance(item, ReasoningDelta):
                    # Shown as thinking; never part of ``received``, the answer so far.
                    self._emit(ThinkingDelta(stage, index, item.text))
                elif isinstance(item, Completion):
                    completion = item
            if stopped is not None:
                await stream.aclose()  # the connection goes: the model stops writing
                text = "".join(received)
                self._record(
                    record(
                        model_used=None, provider=None, prompt_tokens=None,
                        completion_tokens=None, cost=None, ttft_ms=_ms(started, first_token),
                        latency_ms=(self._clock() - started) * 1000, finish_reason=None,
                        content=text, error=f"{CUT}{stopped}", accepted=True,
                    )
                )  # fmt: skip
                raise StoppedEarly(text, stopped)
            assert completion is not None  # stream_chat always ends with one
            if not completion.text.strip():
                empty = StreamError(
                    _empty_answer(completion, request.max_tokens),
                    provider=completion.provider, cost=completion.cost,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                )  # fmt: skip
                empty.warnings = completion.warnings
                empty.accepted, empty.model = True, completion.model  # answered, and billed
                empty.reasoning_tokens = completion.reasoning_tokens  # it may have only thought
                if empty.args[0] != EMPTY_ANSWER:  # it thought until max_tokens: so would a retry
                    empty.retryable = False
                raise empty
        except ApiFailure as exc:
            # A failed attempt still cost what the server reported; keep that and any partial text.
            self._record(
                record(
                    model_used=exc.model, provider=exc.provider,
                    prompt_tokens=exc.prompt_tokens, completion_tokens=exc.completion_tokens,
                    cost=exc.cost, ttft_ms=_ms(started, first_token),
                    latency_ms=(self._clock() - started) * 1000, finish_reason=None,
                    content=exc.partial_text, error=str(exc), accepted=exc.accepted,
                    reasoning_tokens=exc.reasoning_tokens,
                )
            )  # fmt: skip
            for warning in exc.warnings:  # e.g. a skipped stream line, quoted: the run keeps it
                self.warn(f"{stage} ({model}): {warning}")
            raise
        except asyncio.CancelledError:
            # The run was stopped (Ctrl-C, SIGTERM) mid-call: text that streamed may be billed,
            # so the attempt is recorded with it (and priced as hive can) before cancelling on.
            self._record(
                record(
                    model_used=None, provider=None, prompt_tokens=None, completion_tokens=None,
                    cost=None, ttft_ms=_ms(started, first_token),
                    latency_ms=(self._clock() - started) * 1000, finish_reason=None,
                    content="".join(received), accepted=answered,
                    error=self._cut.get((stage, index), CANCELLED),
                )
            )  # fmt: skip
            raise
        self._record(
            record(
                model_used=completion.model, provider=completion.provider,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens, cost=completion.cost,
                ttft_ms=_ms(started, first_token), latency_ms=(self._clock() - started) * 1000,
                finish_reason=completion.finish_reason, content=completion.text, accepted=True,
                cached_tokens=completion.cached_tokens,
                cache_write_tokens=completion.cache_write_tokens,
                cache_discount=completion.cache_discount,
                reasoning_tokens=completion.reasoning_tokens,
                generation_id=completion.generation_id, web_searches=completion.web_searches,
                sources=tuple((s.url, s.title) for s in completion.sources),
            )
        )  # fmt: skip
        for warning in completion.warnings:
            self.warn(f"{stage} ({model}): {warning}")
        if completion.finish_reason == "length":
            self.warn(f"{stage} ({model}) hit its max_tokens limit; its output may be cut short")
        elif completion.finish_reason == "content_filter":
            self.warn(f"{stage} ({model}) output was cut by a content filter")
        return completion.text

    def _cut_while_waiting(self, stage: str, index: int, model: str, attempt: int) -> None:
        """A call cut between attempts (waiting to retry) is recorded as cut: nothing was
        sent for the attempt it was waiting for, so nothing is billed for it."""
        reason = self._cut.get((stage, index))
        if reason is None:
            return  # the run was stopped: the attempts already recorded say what was spent
        self._record(
            CallRecord(
                stage=stage, index=index, model=model, model_used=None, provider=None,
                prompt_tokens=None, completion_tokens=None, cost=None, ttft_ms=None,
                latency_ms=0.0, finish_reason=None, content="", error=reason, attempt=attempt,
            )
        )  # fmt: skip

    def _record(self, record: CallRecord) -> None:
        if record.cost is None and record.billable:
            record = self._priced(record)
        self.calls.append(record)
        self._emit(CallFinished(record) if record.ok else CallFailed(record))

    def _priced(self, record: CallRecord) -> CallRecord:
        """A call the server reported no cost for (some OpenAI-compatible servers), priced from
        the catalog: its reported tokens, or else hive's own count of what was sent and
        received. Marked estimated; left unknown (None) when the model has no known price.

        The model that answered is priced; a name the catalog does not know and that is none
        of the models the call asked for is a server's own name for the requested model (a
        local server says ``llama-3-8b.gguf``), so that call is priced as the one requested."""
        sent, candidates = self._sent.get((record.stage, record.index), (0, [record.model]))
        used = record.model_used or record.model
        price = self._price_of(used)
        if price is None and used not in candidates:
            price = self._price_of(record.model)
        if price is None or not price.known:
            return record
        prompt = record.prompt_tokens
        if prompt is None:
            prompt = sent
        completion = record.completion_tokens
        if completion is None:
            completion = approx_tokens(record.content) if record.content else 0
        return dataclasses.replace(record, cost=price.cost(prompt, completion), cost_estimated=True)


def controls_of(spec: StageSpec) -> dict[str, Any]:
    """The stage's OpenRouter controls as ``ChatRequest`` fields, in their documented shape;
    an empty provider object is not sent."""
    routing = spec.provider.body() if spec.provider is not None else None
    return {
        "reasoning": spec.reasoning.body() if spec.reasoning is not None else None,
        "provider": routing or None,
        "tools": [spec.web.body()] if spec.web is not None else None,
    }


def _model(stage: str, spec: StageSpec, index: int) -> str:
    """The model call ``(stage, index)`` asks first: a generator's own; every later stage has
    one model, and its index counts the times the stage ran (a second round's refine is 1)."""
    return spec.models[index] if stage == "generate" else spec.models[0]


def _empty_answer(completion: Completion, max_tokens: int | None) -> str:
    """Why a call has no answer; a model that thought until ``max_tokens`` ran out is told
    apart, with what to change, since a retry would end the same way."""
    thought = completion.reasoning_tokens
    if completion.finish_reason == "length" and thought:
        limit = f" of its {max_tokens} max_tokens" if max_tokens else ""
        return (
            f"{EMPTY_ANSWER}: it spent {thought}{limit} reasoning and ran out before answering "
            "(raise the stage's max_tokens or lower its reasoning)"
        )
    return EMPTY_ANSWER


def _short(exc: ApiFailure) -> str:
    """The error in a few words, for a retry notice: its status, else its first clause."""
    return f"HTTP {exc.status}" if exc.status else shorten(str(exc).split(":")[0], 80)


def _ms(started: float, at: float | None) -> float | None:
    return None if at is None else (at - started) * 1000
