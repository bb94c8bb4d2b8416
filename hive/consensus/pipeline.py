"""Runs generate → refine → validate → curate, emitting events; knows nothing of terminals.

Stages start the moment their input exists; generators run concurrently. Calls retry and fall
back on their own (caller.py); when a stage still fails, the run degrades instead of dying: a
failed extra generator is dropped, a failed refine passes the first draft on, a failed validate
leaves the answer unvalidated (confidence unknown), a failed curate returns the refined answer.
The result then says ``degraded`` and why. Only a run with no answer at all fails, and a
rejected key or an exhausted budget stops it at once.

The refiner sees the drafts anonymised and shuffled (``panel.py``, seeded per run) and reports
a claim ledger before its answer; the agreement measured from it, and the disputes, go to the
validator, the curator and the result. With one draft, or no readable ledger, agreement is
None and a warning says why: never a made-up number.

Adaptive rules (``adaptive.py`` decides, this module acts, each decision an event): the
generate stage cuts stragglers (``drafting.py``); a profile with a first panel asks the rest
only when its drafts disagree; a clean review skips curation; another refine -> validate round
is taken while it pays, within the cap and the budget.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from hive.consensus import adaptive, panel, stages
from hive.consensus.adaptive import FIXED, Decision
from hive.consensus.attempt import Stop, StoppedEarly
from hive.consensus.bias import judge_warnings
from hive.consensus.caller import Caller
from hive.consensus.context import NO_CONTEXT, Context
from hive.consensus.drafting import Drafting
from hive.consensus.events import (
    CallPlan,
    ConsensusMeasured,
    ConsensusResult,
    Decided,
    RunFinished,
    RunStarted,
)
from hive.consensus.ledger import Dispute
from hive.consensus.profiles import STAGES, AdaptiveSpec, Profile
from hive.consensus.prompts import LEDGER_TAG
from hive.consensus.worst_case import NO_REVIEW, CallsAhead
from hive.errors import AuthError, StageError
from hive.openrouter.tokens import message_tokens

T = TypeVar("T", str, None)


Labelled = list[tuple[str, panel.Draft]]
_CLOSED_LEDGER = f"</{LEDGER_TAG}>"
# A ledger that closes after more answer than this came last: stopping then saves nothing.
EARLY_ANSWER_CHARS = 400


@dataclass(frozen=True, slots=True)
class _Synthesis:
    labelled: Labelled
    refined: str | None  # None: the refine was stopped early, at its ledger
    consensus: panel.Consensus
    escalated: Decision | None  # the decision that stopped it


def _unresolved(disputes: Sequence[Dispute]) -> int:
    return sum(1 for d in disputes if d.resolved is False)


class Pipeline:
    def __init__(
        self,
        caller: Caller,
        *,
        today: date,
        seed: int | None = None,
        adaptive_rules: bool = True,
    ) -> None:
        """``caller`` makes the run's calls (its client, budget, retries, clock) and carries
        the run's events out: a new one per run, as its calls and warnings are the result's.
        ``seed``: the order the refiner sees the drafts in (drawn at random when None, and
        recorded either way); ``adaptive_rules``: False runs every stage with the full panel,
        whatever the profile's ``adaptive`` says."""
        self._seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        self._context = NO_CONTEXT
        self._caller = caller
        self._emit = caller.emit
        self._today = today
        self._clock = caller.clock
        self._degraded = False
        self._adaptive = adaptive_rules
        self._decisions: list[Decision] = []
        self._drafting = Drafting(caller, self._decide, self._clock, self._seed)
        caller.watch(self._drafting.observe)  # the generators' progress: who is straggling
        self._reported = 0  # failed generators already warned about
        self._ran: dict[str, int] = {}  # per later stage, the index of its last call

    async def run(
        self,
        question: str,
        profile: Profile,
        *,
        simulated: bool,
        rounds: int | None = None,
        context: Context = NO_CONTEXT,
    ) -> ConsensusResult:
        """``rounds``: the most refine -> validate rounds (default: the profile's);
        ``context``: instructions, files and earlier turns every call sends first."""
        self._context = context
        started = self._clock()
        plan = [
            CallPlan(stage, i, model)
            for stage in STAGES
            for i, model in enumerate(profile.stage(stage).models)
        ]
        self._emit(RunStarted(question, profile.name, simulated, plan))
        rules = profile.adaptive if self._adaptive else FIXED
        cap = rounds or rules.rounds
        self._drafting.messages = stages.generate_messages(
            question, self._today, context=self._context
        )

        for warning in [*judge_warnings(profile), *profile.reasoning_warnings()]:
            self._caller.warn(warning)
        labelled, refined, consensus = await self._panel(question, profile, rules)
        for problem in self._consensus_warnings(consensus):
            self._caller.warn(problem)
        disputes = stages.contested(consensus.ledger)
        verdict = await self._validate(question, profile, refined, disputes)
        refined, consensus, disputes, verdict, done = await self._rounds(
            question, profile, rules, cap, labelled, refined, consensus, disputes, verdict
        )
        answer = refined
        unresolved = _unresolved(disputes)
        skip = adaptive.curate_skip(rules, verdict.confidence, verdict.issues, unresolved)
        if skip is not None:
            self._decide(skip)
        else:
            answer = await self._stage(
                "curate", profile,
                stages.curate_messages(question, refined, verdict, self._today, disputes,
                                       context=self._context),
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
            decisions=list(self._decisions),
            rounds=done,
        )
        self._emit(RunFinished(result))
        return result

    async def _rounds(
        self,
        question: str,
        profile: Profile,
        rules: AdaptiveSpec,
        cap: int,
        labelled: list[tuple[str, panel.Draft]],
        refined: str,
        consensus: panel.Consensus,
        disputes: tuple[Dispute, ...],
        verdict: stages.Verdict,
    ) -> tuple[str, panel.Consensus, tuple[Dispute, ...], stages.Verdict, int]:
        """Further refine -> validate rounds while ``adaptive.next_round`` says they pay, up
        to ``cap`` rounds in all: the last answer, consensus, disputes, verdict and the number
        of rounds taken. A round is taken only if its worst case fits the budget together with
        the validate and curate that must follow it (``worst_case.py``)."""
        ahead = self._ahead(question, profile)
        done = 1
        while cap > 1:
            revise = stages.revise_messages(
                question, [(x, d.text) for x, d in labelled], refined, verdict, self._today,
                disputes, context=self._context
            )  # fmt: skip
            state = adaptive.RoundState(done, verdict.confidence, consensus.agreement,
                                        _unresolved(disputes))  # fmt: skip
            decision = adaptive.next_round(
                rules, cap, state, affordable=self._caller.affordable(
                    [ahead.refine(message_tokens(revise)), *ahead.after_refine(disputes)]
                ),
            )  # fmt: skip
            self._decide(decision)
            if decision.kind != "round_started":
                break
            text = await self._stage("refine", profile, revise, fallback=None,
                                     why=f"round {done}'s answer stands")  # fmt: skip
            answer, measured = (
                panel.read_synthesis(text, labelled, self._seed) if text else ("", consensus)
            )
            if not answer:
                if text is not None:  # a ledger and nothing else
                    self._degraded = True
                    self._caller.warn(f"round {done + 1}'s refiner gave no answer besides its "
                                      f"ledger; round {done}'s answer stands")  # fmt: skip
                self._decide(adaptive.round_failed(cap, done))
                break
            done += 1
            carried = panel.carry(consensus, measured, done)
            for problem in self._consensus_warnings(carried):
                if problem not in self._caller.warnings:
                    self._caller.warn(problem)
            refined, consensus = answer, carried
            self._emit(ConsensusMeasured(consensus))
            disputes = stages.contested(consensus.ledger)
            verdict = await self._validate(question, profile, refined, disputes)
        return refined, consensus, disputes, verdict, done

    def _decide(self, decision: Decision) -> None:
        self._decisions.append(decision)
        self._emit(Decided(decision))

    def _consensus_warnings(self, consensus: panel.Consensus) -> list[str]:
        if consensus.agreement is None:
            return [f"agreement is unknown: {'; '.join(consensus.problems)}"]
        if consensus.problems:
            return [f"the ledger: {'; '.join(consensus.problems)}"]
        return []

    async def _panel(
        self, question: str, profile: Profile, rules: AdaptiveSpec
    ) -> tuple[list[tuple[str, panel.Draft]], str, panel.Consensus]:
        """Generate and refine: the labelled drafts, the refined answer and the consensus.

        With ``first_panel``, the first generators are asked first and the rest only when
        their drafts are too few or agree too little (``adaptive.escalation``); the drafts
        are then refined again, all together."""
        spec = profile.stage("generate")
        size = len(spec.models)
        first = rules.first_panel if 0 < rules.first_panel < size else size
        unasked = list(range(first, size))
        ahead = self._ahead(question, profile)
        self._drafting.must_follow = lambda extra: ahead.after_drafts(first + extra)
        drafts = await self._drafting.batch(spec, range(first), rules, unasked)
        gen_prompt = message_tokens(self._drafting.messages)
        if unasked and len(drafts) < 2:
            decision = adaptive.escalation(
                rules, None, len(drafts), [spec.models[i] for i in unasked],
                affordable=self._caller.affordable(
                    [("generate", i, spec, gen_prompt) for i in unasked]
                    + ahead.after_drafts(len(drafts) + len(unasked))
                ),
            )  # fmt: skip
            assert decision is not None
            self._decide(decision)
            if decision.kind == "escalated":
                drafts += await self._drafting.batch(spec, unasked, rules, [])
            unasked = []
        if not drafts:
            raise self._drafting.failures[0]  # no answer at all: the run fails with the real cause
        self._dropped()
        models = [spec.models[i] for i in unasked]

        def escalation(consensus: panel.Consensus, shown: Labelled) -> Decision | None:
            planned = [("generate", i, spec, gen_prompt) for i in unasked]
            # The refine over these drafts and the new ones, those at their longest.
            planned.append(ahead.refine_over([(x, d.text) for x, d in shown], len(unasked)))
            planned += ahead.after_refine(stages.contested(consensus.ledger))
            in_flight = ("refine", self._ran.get("refine", 0))  # stopped if this escalates
            return adaptive.escalation(
                rules, consensus.agreement, len(drafts), models,
                affordable=self._caller.affordable(planned, excluding=in_flight),
            )  # fmt: skip

        synthesis = await self._refine(
            question, profile, drafts, early=escalation if unasked else None
        )
        decision = synthesis.escalated or escalation(synthesis.consensus, synthesis.labelled)
        if decision is not None:
            self._decide(decision)
        if decision is not None and decision.kind == "escalated":
            more = await self._drafting.batch(spec, unasked, rules, [])
            self._dropped()
            if more or synthesis.refined is None:  # a stopped refine has no answer to keep
                synthesis = await self._refine(question, profile, drafts + more)
            else:
                self._caller.warn("the escalated generators gave no draft; "
                                  "the first panel's synthesis stands")  # fmt: skip
        assert synthesis.refined is not None  # only a refine with `early` stops
        return synthesis.labelled, synthesis.refined, synthesis.consensus

    def _next(self, stage: str) -> int:
        """The index the stage's next call will have."""
        return self._ran.get(stage, -1) + 1

    def _ahead(self, question: str, profile: Profile) -> CallsAhead:
        """This run's later calls at their worst, for what an optional step must fit."""
        return CallsAhead(question, profile, self._today, self._context, self._next)

    def _dropped(self) -> None:
        """Say which generators gave no draft (once each): the run goes on without them."""
        for failure in self._drafting.failures[self._reported :]:
            self._degraded = True
            self._caller.warn(f"dropped a draft: {failure}")
        self._reported = len(self._drafting.failures)

    async def _refine(
        self,
        question: str,
        profile: Profile,
        drafts: list[panel.Draft],
        *,
        early: Callable[[panel.Consensus, Labelled], Decision | None] | None = None,
    ) -> _Synthesis:
        """Refine ``drafts``. With ``early``, the refiner's ledger (which it writes before
        its answer) is read the moment it closes: if ``early`` then escalates, the refine is
        stopped there — its answer would be replaced by the full panel's — and the synthesis
        has no answer, only the consensus and the decision."""
        labelled = panel.shuffle(drafts, self._seed)
        read: list[Decision | None] = []  # the ledger is judged once, when it first closes

        def stop(text: str) -> str | None:
            if early is None or read or _CLOSED_LEDGER not in text.lower():
                return None
            answer, consensus = panel.read_synthesis(text, labelled, self._seed)
            if len(answer) > EARLY_ANSWER_CHARS:
                read.append(None)  # the answer came first: nothing left to save
                return None
            read.append(early(consensus, labelled))
            decision = read[0]
            return decision.message if decision and decision.kind == "escalated" else None

        messages = stages.refine_messages(
            question, [(x, d.text) for x, d in labelled], self._today, context=self._context
        )
        try:
            text = await self._stage("refine", profile, messages, fallback=None,
                                     why="using the first draft unrefined", stop=stop)  # fmt: skip
        except StoppedEarly as stopped:
            _, consensus = panel.read_synthesis(stopped.text, labelled, self._seed)
            return _Synthesis(labelled, None, consensus, read[0])
        if text is None:
            refined = drafts[0].text
            consensus = panel.unread(labelled, self._seed, "the refine stage failed: no ledger")
        else:
            refined, consensus = panel.read_synthesis(text, labelled, self._seed)
            if not refined:  # a ledger and nothing else: there is no refined answer
                self._degraded = True
                self._caller.warn("the refiner gave no answer besides its ledger; "
                                  "using the first draft unrefined")  # fmt: skip
                refined = drafts[0].text
        self._emit(ConsensusMeasured(consensus))
        return _Synthesis(labelled, refined, consensus, None)

    async def _validate(
        self,
        question: str,
        profile: Profile,
        answer: str,
        disputes: tuple[Dispute, ...],
    ) -> stages.Verdict:
        review = await self._stage(
            "validate", profile,
            stages.validate_messages(question, answer, self._today, disputes,
                                     context=self._context),
            fallback=None, why="the answer is unvalidated",
        )  # fmt: skip
        verdict = NO_REVIEW if review is None else stages.parse_verdict(review)
        if review is not None and not verdict.found:
            self._caller.warn("the validator gave no verdict; confidence is unknown")
        return verdict

    async def _stage(
        self,
        stage: str,
        profile: Profile,
        messages: stages.Messages,
        *,
        fallback: T,
        why: str,
        stop: Stop | None = None,
    ) -> str | T:
        spec = profile.stage(stage)
        # Each time a stage runs again (a second refine, a second round) is a call of its own.
        index = self._ran[stage] = self._next(stage)
        self._caller.guard(stage, spec, messages, (index,))
        try:
            return await self._caller.call(stage, index, spec, messages, stop=stop)
        except StageError as exc:
            if isinstance(exc.cause, AuthError):
                raise  # the key is the problem: every later stage would fail the same way
            self._degraded = True
            self._caller.warn(f"{exc}; {why}")
            return fallback
