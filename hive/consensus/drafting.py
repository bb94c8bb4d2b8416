"""The generate stage: every generator asked, drafts gathered as they come, stragglers cut.

One ``Drafting`` per run. It watches the generators' streams go by (``observe``: when each
began answering, with its answer or its reasoning, and how much it has written) and asks the
policy (``adaptive.stragglers``) what to do while drafts come in: cut a generator far behind
the drafts in (its call cancelled and recorded with what streamed), or ask the next
generator alongside a first-panel one that stays silent. Each such decision goes out through
``decide``; the pipeline keeps the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from hive.consensus import adaptive, panel
from hive.consensus.adaptive import Decision
from hive.consensus.bias import base_model
from hive.consensus.caller import Caller
from hive.consensus.events import (
    CUT,
    CallFailed,
    CallStarted,
    PipelineEvent,
    ThinkingDelta,
    TokenDelta,
)
from hive.consensus.profiles import AdaptiveSpec, StageSpec
from hive.consensus.stages import Messages
from hive.consensus.worst_case import Planned
from hive.errors import AuthError, StageError
from hive.openrouter.tokens import message_tokens


class Drafting:
    def __init__(
        self,
        caller: Caller,
        decide: Callable[[Decision], None],
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self._caller = caller
        self._decide = decide
        self._clock = clock
        self._seed = seed
        self.messages: Messages = []  # the generate prompt, set when the run starts
        # The calls that must follow more drafts (the refine over them all, then validate and
        # curate), at their worst: a generator asked alongside is asked only if they fit.
        self.must_follow: Callable[[int], Planned] = lambda extra: []
        self.finished: list[adaptive.Finished] = []  # the drafts in, with their timings
        self.failures: list[StageError] = []  # generators that gave no draft
        self._asked: dict[int, float] = {}  # per generator, when it was asked
        self._first_token: dict[int, float] = {}  # per generator, when its text began
        self._streamed: dict[int, int] = {}  # per generator, characters so far

    def observe(self, event: PipelineEvent) -> None:
        """The generators' progress (first token, characters so far): what tells a straggler
        from a slow writer. A failed attempt's progress goes with it."""
        if isinstance(event, CallStarted | CallFailed):
            index = event.index if isinstance(event, CallStarted) else event.record.index
            stage = event.stage if isinstance(event, CallStarted) else event.record.stage
            if stage == "generate":
                self._first_token.pop(index, None)  # a retry or a fallback starts afresh
                self._streamed[index] = 0
        elif isinstance(event, TokenDelta) and event.stage == "generate":
            self._first_token.setdefault(event.index, self._clock())
            self._streamed[event.index] = self._streamed.get(event.index, 0) + len(event.text)
        elif isinstance(event, ThinkingDelta) and event.stage == "generate":
            # A model that streams its reasoning is answering, not silent: it is judged as a
            # slow writer, not as one that never began.
            self._first_token.setdefault(event.index, self._clock())

    async def batch(
        self, spec: StageSpec, indexes: Sequence[int], rules: AdaptiveSpec, reserve: list[int]
    ) -> list[panel.Draft]:
        """The drafts of generators ``indexes``, asked at once. Stragglers are judged against
        this batch's own drafts (``adaptive.stragglers``): one far behind is cut — its call
        cancelled and recorded with what streamed — and a decision says who and why.
        ``reserve``: generators not yet asked; one is asked alongside a first-panel generator
        that stays silent, if the budget allows it and what must follow (and taken off)."""
        self._caller.guard("generate", spec, self.messages, indexes)
        begun = self._clock()
        tasks = {self._ask(spec, i): i for i in indexes}
        texts: dict[int, str] = {}
        mine: list[adaptive.Finished] = []  # this batch's drafts: what stragglers are judged by
        replaced: set[int] = set()
        pending = set(tasks)
        try:
            while pending:
                now = self._clock() - begun
                progress = [self._progress_of(tasks[t], begun, replaced) for t in pending]
                spare = len(reserve) if reserve and self._can_ask(spec, reserve[0]) else 0
                verdict = adaptive.stragglers(
                    rules, mine, progress, now, generators=len(spec.models), unasked=spare
                )
                if verdict.replace:
                    began = [f.ttft for f in mine]
                    began += [
                        p.first_token - p.asked for p in progress if p.first_token is not None
                    ]
                    added = self._replace(spec, rules, verdict.replace, reserve, now, began)
                    replaced.update(verdict.replace)
                    tasks.update(added)
                    pending |= set(added)
                    continue
                if verdict.cut:
                    cut = {t for t in pending if tasks[t] in verdict.cut}
                    await self._cut(spec, tasks, cut, verdict.cut, rules, mine, now)
                    pending -= cut
                    continue
                timeout = None if verdict.check_at is None else max(0.0, verdict.check_at - now)
                done, pending = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    outcome = task.exception() or task.result()
                    if isinstance(outcome, str):
                        index = tasks[task]
                        texts[index] = outcome
                        asked = self._asked[index]
                        took = self._clock() - asked
                        first = self._first_token.get(index)
                        ttft = took if first is None else first - asked
                        mine.append(adaptive.Finished(took, ttft, len(outcome)))
                    elif isinstance(outcome, StageError):
                        self.failures.append(outcome)
                        if isinstance(outcome.cause, AuthError):
                            raise outcome  # a rejected key or no credits: the run stops
                    else:
                        raise outcome  # a budget stop or a bug: never swallowed
        finally:
            for task in pending:  # the run itself was stopped, or failed
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self.finished += mine
        return [panel.Draft(i, self._answered_by(i, spec), texts[i]) for i in sorted(texts)]

    def _ask(self, spec: StageSpec, index: int) -> asyncio.Task[str]:
        # One model asked several times (a strong baseline) must not give one answer several
        # times: each such call gets its own seed, derived from the run's.
        repeated = len({base_model(m) for m in spec.models}) < len(spec.models)
        seed = (self._seed + index) % 2**31 if repeated else None
        self._asked[index] = self._clock()
        return asyncio.create_task(
            self._caller.call("generate", index, spec, self.messages, seed=seed)
        )

    def _can_ask(self, spec: StageSpec, index: int) -> bool:
        """Whether generator ``index``, and what must then follow, fit the budget."""
        prompt = message_tokens(self.messages)
        return self._caller.affordable([("generate", index, spec, prompt), *self.must_follow(1)])

    def _replace(
        self,
        spec: StageSpec,
        rules: AdaptiveSpec,
        silent: tuple[int, ...],
        reserve: list[int],
        now: float,
        began: list[float],
    ) -> dict[asyncio.Task[str], int]:
        """Ask the next reserve generator for each silent one (checked affordable by the
        caller of the policy); the silent ones go on: the first drafts in make the panel."""
        asked = reserve[: len(silent)]
        del reserve[: len(asked)]
        self._caller.guard("generate", spec, self.messages, asked)
        self._decide(
            adaptive.replacement(
                rules, began or [now], [(i, spec.models[i]) for i in silent],
                [(i, spec.models[i]) for i in asked], now,
            )
        )  # fmt: skip
        return {self._ask(spec, i): i for i in asked}

    async def _cut(
        self,
        spec: StageSpec,
        tasks: dict[asyncio.Task[str], int],
        cut: set[asyncio.Task[str]],
        why: dict[int, str],
        rules: AdaptiveSpec,
        finished: list[adaptive.Finished],
        at: float,
    ) -> None:
        who = sorted((tasks[t], spec.models[tasks[t]], why[tasks[t]]) for t in cut)
        decision = adaptive.straggler_cut(rules, finished, who, at)
        for index, _, _ in who:
            self._caller.cut("generate", index, f"{CUT}{decision.message}")
        self._decide(decision)  # recorded before the cancellation, which may be interrupted
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)

    def _progress_of(self, index: int, begun: float, replaced: set[int]) -> adaptive.Progress:
        first = self._first_token.get(index)
        return adaptive.Progress(
            index, self._asked[index] - begun, None if first is None else first - begun,
            self._streamed.get(index, 0), index in replaced,
        )  # fmt: skip

    def _answered_by(self, index: int, spec: StageSpec) -> str:
        """The model whose answer generator ``index`` returned (its fallback, if it fell back)."""
        answered = [c for c in self._caller.calls if c.stage == "generate" and c.index == index]
        call = next(c for c in reversed(answered) if c.ok)
        # OpenRouter may have answered with a fallback from the request's `models` list: then
        # `model_used` names it. A name that is none of the candidates is the server's own
        # name for the model asked for (a local server's file name), so that one stays.
        candidates = {call.model, *spec.fallbacks}
        return call.model_used if call.model_used in candidates else call.model
