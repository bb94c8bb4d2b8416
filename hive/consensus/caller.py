"""One model call that keeps working through faults: retries, fallbacks, a circuit breaker.

A call tries its model, and on a transient failure tries again after a backoff; when the model
is gone, refused the input, or keeps failing, it moves to the stage's next fallback model (the
rest of the list still goes to OpenRouter as its own ``models`` fallback). Every attempt is
recorded, failed ones with what the server billed and any partial text. A model that fails
``BREAKER_THRESHOLD`` times in a run — across concurrent generators too — is skipped for the
rest of the run. A rejected key or missing credits ends the call at once: no model would fare
better. Waits and randomness come in as parameters, so tests neither sleep nor guess.

This module is the loop over models and tries, and ``Caller``, the face the pipeline sees. One
attempt (its stream, its events, its record) is ``attempt.py``'s; the run's calls and warnings
are kept by ``call_log.py`` (which prices a call the server did not, ``unreported_cost.py``);
the budget is held by ``spend_guard.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from hive.consensus.attempt import Attempts, Clock, Stop
from hive.consensus.budget import SpendLimit
from hive.consensus.call_log import CallLog, Emit
from hive.consensus.estimate import PriceOf
from hive.consensus.events import CallRecord, CallRetrying, CallStarted, PipelineEvent
from hive.consensus.profiles import StageSpec
from hive.consensus.spend_guard import SpendGuard
from hive.consensus.stages import Messages
from hive.consensus.worst_case import PlannedCall
from hive.errors import ApiFailure, AuthError, BudgetError, ProviderUnavailable, StageError
from hive.openrouter.chat import ChatRequest
from hive.openrouter.client import OpenRouterClient
from hive.openrouter.retry import RetryPolicy, is_transient, worth_a_fallback
from hive.openrouter.tokens import message_tokens
from hive.text import shorten

Sleep = Callable[[float], Awaitable[None]]
BREAKER_THRESHOLD = 3


class Caller:
    """A run's model calls, one Caller per run: the calls it records and the warnings it
    gives are the run's, and every event of the run goes out through it (``emit``)."""

    def __init__(
        self,
        client: OpenRouterClient,
        emit: Emit,
        *,
        clock: Clock = time.perf_counter,
        price_of: PriceOf | None = None,
        limit: SpendLimit | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """``price_of`` prices calls the server reports no cost for (marked estimated) and
        bounds what a call may cost; ``limit`` is what the run may spend in all."""
        self.clock = clock
        price_of = price_of or (lambda model: None)
        self._log = CallLog(emit, price_of)
        self._guard = SpendGuard(limit, price_of, self._log.spent)
        self._attempts = Attempts(client, self._log, clock)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._failures: dict[str, int] = {}  # per model, for the circuit breaker

    @property
    def calls(self) -> list[CallRecord]:
        """Every attempt of every call so far, in the order they ended."""
        return self._log.calls

    @property
    def warnings(self) -> list[str]:
        return self._log.warnings

    def emit(self, event: PipelineEvent) -> None:
        self._log.emit(event)

    def watch(self, watcher: Emit) -> None:
        """``watcher`` sees every event of the run before it goes out."""
        self._log.watch(watcher)

    def warn(self, message: str) -> None:
        self._log.warn(message)

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
        planned: Sequence[PlannedCall],
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
        self._attempts.cuts[(stage, index)] = reason

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
        self._log.sent((stage, index), prompt, candidates)
        try:
            return await self._first_answer(
                stage, index, spec, messages, candidates, prompt, seed, stop
            )
        finally:
            self._guard.release((stage, index))

    async def _first_answer(
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
        """Each candidate model in turn (unless its breaker is open), each tried up to the
        policy's ``max_attempts`` while its failures are transient, until one answers."""
        waited = 0.0  # seconds this call has waited between tries, across its models
        attempt_no = 0  # this call's attempts so far, across its models: a record's number
        last: ApiFailure | None = None
        last_model = candidates[0]  # the model of the last failure, named in the error
        for position, model in enumerate(candidates):
            if self._failures.get(model, 0) >= BREAKER_THRESHOLD:
                self.warn(f"{stage}: skipping {model}, which failed {BREAKER_THRESHOLD} times")
                continue
            if last is not None:
                self.warn(f"{stage}: {candidates[0]} gave no answer; falling back to {model}")
            request = _request(spec, messages, candidates, position, seed)
            requested = None if model == candidates[0] else candidates[0]  # a fallback's origin
            for try_no in range(1, self._policy.max_attempts + 1):  # tries on this model
                attempt_no += 1
                if attempt_no > 1:  # a retry or a fallback: it must fit the limit again
                    self._guard.admit(
                        stage, {(stage, index): candidates[position:]}, prompt,
                        spec, what=f"retrying {stage} on {model}",
                    )  # fmt: skip
                self.emit(CallStarted(stage, index, model, attempt_no, requested))
                try:
                    return await self._attempts.run(stage, index, request, attempt_no, stop)
                except ApiFailure as exc:
                    last, last_model = exc, model
                    # What the attempt cost is spent now; the next attempt reserves anew.
                    self._guard.release((stage, index))
                    self._failures[model] = self._failures.get(model, 0) + 1
                    if isinstance(exc, AuthError):
                        raise StageError(stage, model, exc) from exc
                    delay = self._backoff(exc, model, try_no, waited)
                    if delay is None:
                        break
                    await self._wait(stage, index, model, exc, delay, try_no, attempt_no)
                    waited += delay
            if last is not None and not worth_a_fallback(last):
                break
        if last is None:  # every candidate was skipped by the circuit breaker
            last = ProviderUnavailable(
                f"{', '.join(candidates)} failed {BREAKER_THRESHOLD} times each in this run"
            )
        raise StageError(stage, last_model, last) from last

    def _backoff(self, exc: ApiFailure, model: str, try_no: int, waited: float) -> float | None:
        """How long to wait before trying ``model`` again after ``exc`` ended try ``try_no``;
        None to give up on it: not transient, out of tries, its breaker open, or the wait
        would take the call past the policy's ``max_total_wait``."""
        if not is_transient(exc) or try_no == self._policy.max_attempts:
            return None
        if self._failures[model] >= BREAKER_THRESHOLD:
            return None
        delay = self._policy.delay(try_no, exc, self._rng)
        return None if waited + delay > self._policy.max_total_wait else delay

    async def _wait(
        self,
        stage: str,
        index: int,
        model: str,
        exc: ApiFailure,
        delay: float,
        try_no: int,
        attempt_no: int,
    ) -> None:
        """Say that ``model`` is retried and why, then wait ``delay`` seconds; a call cut
        while it waits is recorded as cut."""
        self.warn(
            f"{stage}: {model} failed ({_short(exc)}); retrying in {delay:.1f}s "
            f"(attempt {try_no + 1} of {self._policy.max_attempts})"
        )
        self.emit(
            CallRetrying(stage, index, model, attempt=attempt_no + 1,
                         attempts=self._policy.max_attempts, delay=delay, reason=_short(exc))
        )  # fmt: skip
        try:
            await self._sleep(delay)
        except asyncio.CancelledError:
            self._attempts.cut_while_waiting(stage, index, model, attempt_no + 1)
            raise


def _request(
    spec: StageSpec, messages: Messages, candidates: list[str], position: int, seed: int | None
) -> ChatRequest:
    """The request to ``candidates[position]``, the models after it sent along as OpenRouter's
    own fallbacks."""
    return ChatRequest(candidates[position], messages, spec.temperature, spec.max_tokens,
                       tuple(candidates[position + 1 :]), seed=seed,
                       **controls_of(spec))  # fmt: skip


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


def _short(exc: ApiFailure) -> str:
    """The error in a few words, for a retry notice: its status, else its first clause."""
    return f"HTTP {exc.status}" if exc.status else shorten(str(exc).split(":")[0], 80)
