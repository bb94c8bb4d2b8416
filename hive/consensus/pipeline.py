"""Runs generate → refine → validate → curate, emitting events; knows nothing of terminals.

Stages start the moment their input exists; generators run concurrently. Calls retry and fall
back on their own (caller.py); when a stage still fails, the run degrades instead of dying: a
failed extra generator is dropped, a failed refine passes the first draft on, a failed validate
leaves the answer unvalidated (confidence unknown), a failed curate returns the refined answer.
The result then says ``degraded`` and why. Only a run with no answer at all fails, and a
rejected key or an exhausted budget stops it at once.

The refiner sees the drafts anonymised and shuffled (``panel.py``, seeded per run) and reports
a claim ledger beside its answer; the agreement measured from it, and the disputes, go to the
validator, the curator and the result. With one draft, or no readable ledger, agreement is
None and a warning says why: never a made-up number.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from hive.consensus import panel, stages
from hive.consensus.bias import base_model, judge_warnings
from hive.consensus.budget import SpendLimit
from hive.consensus.caller import Caller, Emit, Sleep
from hive.consensus.estimate import PriceOf
from hive.consensus.events import (
    CallPlan,
    ConsensusMeasured,
    ConsensusResult,
    RunFinished,
    RunStarted,
)
from hive.consensus.profiles import STAGES, Profile, StageSpec
from hive.errors import AuthError, StageError
from hive.openrouter.client import OpenRouterClient
from hive.openrouter.retry import RetryPolicy

T = TypeVar("T", str, None)
NO_REVIEW = stages.Verdict(None, [], "No review was possible; check the answer yourself.")


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
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        seed: int | None = None,
    ) -> None:
        """``rng``: the retries' jitter; ``seed``: the order the refiner sees the drafts in
        (drawn at random when None, and recorded either way)."""
        self._seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        self._emit = emit
        self._today = today
        self._clock = clock
        self._caller = Caller(
            client, emit, clock=clock, price_of=price_of, limit=limit, policy=policy,
            sleep=sleep, rng=rng,
        )  # fmt: skip
        self._degraded = False

    async def run(self, question: str, profile: Profile, *, simulated: bool) -> ConsensusResult:
        started = self._clock()
        plan = [
            CallPlan(stage, i, model)
            for stage in STAGES
            for i, model in enumerate(profile.stage(stage).models)
        ]
        self._emit(RunStarted(question, profile.name, simulated, plan))
        today = self._today

        for warning in judge_warnings(profile):
            self._caller.warn(warning)
        drafts = await self._generate(question, profile.stage("generate"))
        labelled = panel.shuffle(drafts, self._seed)
        synthesis = await self._stage(
            "refine", profile,
            stages.refine_messages(question, [(x, d.text) for x, d in labelled], today),
            fallback=None, why="using the first draft unrefined",
        )  # fmt: skip
        if synthesis is None:
            refined = drafts[0].text
            consensus = panel.unread(labelled, self._seed, "the refine stage failed: no ledger")
        else:
            refined, consensus = panel.read_synthesis(synthesis, labelled, self._seed)
            if not refined:  # a ledger and nothing else: there is no refined answer
                self._degraded = True
                self._caller.warn("the refiner gave no answer besides its ledger; "
                                  "using the first draft unrefined")  # fmt: skip
                refined = drafts[0].text
        if consensus.agreement is None:
            self._caller.warn(f"agreement is unknown: {'; '.join(consensus.problems)}")
        elif consensus.problems:
            self._caller.warn(f"the ledger: {'; '.join(consensus.problems)}")
        self._emit(ConsensusMeasured(consensus))
        disputes = stages.contested(consensus.ledger)
        review = await self._stage(
            "validate", profile, stages.validate_messages(question, refined, today, disputes),
            fallback=None, why="the answer is unvalidated",
        )  # fmt: skip
        verdict = NO_REVIEW if review is None else stages.parse_verdict(review)
        if review is not None and not verdict.found:
            self._caller.warn("the validator gave no verdict; confidence is unknown")
        answer = await self._stage(
            "curate", profile,
            stages.curate_messages(question, refined, verdict, today, disputes),
            fallback=refined, why="returning the refined answer uncurated",
        )  # fmt: skip
        result = ConsensusResult(
            question=question,
            profile=profile.name,
            answer=answer.strip(),
            simulated=simulated,
            confidence=verdict.confidence,
            issues=verdict.issues,
            calls=list(self._caller.calls),
            duration_ms=(self._clock() - started) * 1000,
            warnings=list(self._caller.warnings),
            degraded=self._degraded,
            consensus=consensus,
        )
        self._emit(RunFinished(result))
        return result

    async def _stage(
        self, stage: str, profile: Profile, messages: stages.Messages, *, fallback: T, why: str
    ) -> str | T:
        spec = profile.stage(stage)
        self._caller.guard(stage, spec, messages)
        try:
            return await self._caller.call(stage, 0, spec, messages)
        except StageError as exc:
            if isinstance(exc.cause, AuthError):
                raise  # the key is the problem: every later stage would fail the same way
            self._degraded = True
            self._caller.warn(f"{exc}; {why}")
            return fallback

    async def _generate(self, question: str, spec: StageSpec) -> list[panel.Draft]:
        messages = stages.generate_messages(question, self._today)
        self._caller.guard("generate", spec, messages)
        # One model asked several times (a strong baseline) must not give one answer several
        # times: each such call gets its own seed, derived from the run's.
        repeated = len({base_model(m) for m in spec.models}) < len(spec.models)
        outcomes = await asyncio.gather(
            *(
                self._caller.call(
                    "generate",
                    i,
                    spec,
                    messages,
                    seed=(self._seed + i) % 2**31 if repeated else None,
                )
                for i in range(len(spec.models))
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, StageError):
                raise outcome  # cancellation, a budget stop or a bug: never swallowed
        failures = [o for o in outcomes if isinstance(o, StageError)]
        drafts = [
            panel.Draft(i, self._answered_by(i, spec), text)
            for i, text in enumerate(outcomes)
            if isinstance(text, str)
        ]
        for failure in failures:
            if isinstance(failure.cause, AuthError):
                raise failure  # a rejected key or no credits: the run stops, it does not degrade
        if not drafts:
            raise failures[0]  # no answer at all: the run fails with the real cause
        for failure in failures:
            self._degraded = True
            self._caller.warn(f"dropped a draft: {failure}")
        return drafts

    def _answered_by(self, index: int, spec: StageSpec) -> str:
        """The model whose answer generator ``index`` returned (its fallback, if it fell back)."""
        answered = [c for c in self._caller.calls if c.stage == "generate" and c.index == index]
        call = next(c for c in reversed(answered) if c.ok)
        # OpenRouter may have answered with a fallback from the request's `models` list: then
        # `model_used` names it. A name that is none of the candidates is the server's own
        # name for the model asked for (a local server's file name), so that one stays.
        candidates = {call.model, *spec.fallbacks}
        return call.model_used if call.model_used in candidates else call.model
