"""The calls a run may still have to make, each at its worst: what an optional step must fit.

An optional step (a generator asked alongside, the rest of the panel, another round) is taken
only if its own worst case still fits the budget together with what must follow it: a refine
over the drafts, then validate and curate. Each is counted with its prompt at its longest (the
drafts, the answer and the review at their ``max_tokens``, as the estimate counts them) and
priced on the dearest model it may end on (``Caller.affordable``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from hive.consensus import stages
from hive.consensus.context import Context
from hive.consensus.ledger import Dispute, labels
from hive.consensus.profiles import Profile, StageSpec
from hive.openrouter.tokens import message_tokens

PlannedCall = tuple[str, int, StageSpec, int]  # (stage, index, spec, prompt tokens)
Planned = list[PlannedCall]
NO_REVIEW = stages.Verdict(None, [], "No review was possible; check the answer yourself.")


@dataclass(frozen=True, slots=True)
class CallsAhead:
    """The later calls of one run (its question, profile, day and context)."""

    question: str
    profile: Profile
    today: date
    context: Context
    next_index: Callable[[str], int]  # the index a stage's next call will have

    def refine(self, prompt_tokens: int) -> PlannedCall:
        """The stage's next refine, sending ``prompt_tokens``."""
        return ("refine", self.next_index("refine"), self.profile.stage("refine"), prompt_tokens)

    def refine_over(self, drafts: Sequence[tuple[str, str]], more: int) -> PlannedCall:
        """The next refine over ``drafts`` (label, text) and ``more`` drafts yet to come, each
        of those at its longest."""
        prompt = message_tokens(
            stages.refine_messages(self.question, drafts, self.today, context=self.context)
        )
        return self.refine(prompt + more * self.profile.generate.max_tokens)

    def after_drafts(self, drafts: int) -> Planned:
        """The refine over ``drafts`` drafts (each at its longest), and what follows it."""
        return [self.refine_over([(x, "") for x in labels(drafts)], drafts),
                *self.after_refine(())]  # fmt: skip

    def after_refine(self, disputes: tuple[Dispute, ...]) -> Planned:
        """The validate and curate that follow a refine, at their longest: an optional step
        is taken only if what must follow it still fits."""
        refine, validate = self.profile.stage("refine"), self.profile.stage("validate")
        question, today, context = self.question, self.today, self.context
        review = message_tokens(
            stages.validate_messages(question, "", today, disputes, context=context)
        )
        curate = message_tokens(
            stages.curate_messages(question, "", NO_REVIEW, today, disputes, context=context)
        )
        return [
            ("validate", self.next_index("validate"), validate, review + refine.max_tokens),
            ("curate", 0, self.profile.stage("curate"),
             curate + refine.max_tokens + validate.max_tokens),
        ]  # fmt: skip
