"""What the live view knows about a run, built from the pipeline's events: state, no drawing.

One ``CallView`` per call (a row, and a lane while its stage runs; a thinking model's reasoning
kept apart from its answer, shown only until the answer begins), the notes (retries,
fallbacks, drops: the run's warnings, in order), the adaptive decisions as short labels, and
what was spent. ``live_layout.py`` draws a board; ``LiveRenderer`` feeds one from the event
loop while its screen thread draws it, under one lock. Times come in as ``now`` (monotonic
seconds), so tests build a board event by event at the times they choose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hive.consensus.events import (
    CANCELLED,
    CallFailed,
    CallFinished,
    CallRecord,
    CallRetrying,
    CallRouted,
    CallStarted,
    Decided,
    PipelineEvent,
    RunStarted,
    RunWarning,
    ThinkingDelta,
    TokenDelta,
)
from hive.consensus.profiles import STAGES
from hive.money import Total

TAIL_CHARS = 4000  # streamed text kept per call: far more than any lane shows
_COMPACT_AT = 256  # pieces of text held before they are joined and trimmed to the tail

# The short label a decision leaves in the header (None: it leaves none).
_LABELS = {
    "straggler_cut": "quorum met",
    "replacement_asked": "replacement asked",
    "escalated": "escalated",
    "panel_kept": "panel kept",
    "curate_skipped": "curate skipped",
}


@dataclass
class CallView:
    """One call as the view shows it. ``model`` is the model this attempt asked;
    ``requested`` the one the call asked first when hive fell back to another; ``answering``
    the one the server says answered when it is not ``model`` (OpenRouter's own fallback)."""

    stage: str
    index: int
    model: str
    requested: str | None = None
    answering: str | None = None
    state: str = "waiting"  # waiting streaming retrying done failed cut cancelled skipped
    attempt: int = 1
    started: float | None = None  # the call's first attempt began (its time runs from here)
    ended: float | None = None  # cleared when the call starts again
    retry_at: float | None = None  # when the next attempt begins, while waiting to retry
    chars: int = 0  # characters of answer streamed by this attempt
    thought: int = 0  # characters of reasoning ("thinking") streamed by this attempt
    record: CallRecord | None = None  # the last attempt's record, once it ended
    _pieces: list[str] = field(default_factory=list)
    _thinking: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """A streamed piece: counted, and kept while it is among the last ``TAIL_CHARS``."""
        self.chars += len(text)
        _keep(self._pieces, text)

    def think(self, text: str) -> None:
        """A piece of reasoning: counted, and kept (bounded the same way) apart from the
        answer, which it never joins."""
        self.thought += len(text)
        _keep(self._thinking, text)

    @property
    def tail(self) -> str:
        """The newest streamed text (at least the last ``TAIL_CHARS`` characters of it)."""
        return _joined(self._pieces)

    @property
    def thinking_tail(self) -> str:
        """The newest reasoning text (at least the last ``TAIL_CHARS`` characters of it)."""
        return _joined(self._thinking)

    @property
    def thinking(self) -> bool:
        """The call has reasoned and not yet begun its answer: its lane shows the thinking."""
        return self.thought > 0 and self.chars == 0

    def restart(self) -> None:
        """A new attempt: what the last one streamed, answer and reasoning, is let go."""
        self.chars, self.thought, self._pieces, self._thinking = 0, 0, [], []

    def elapsed(self, now: float) -> float | None:
        """Seconds since the call's first attempt began (backoff waits included), to its end."""
        if self.started is None:
            return None
        return max(0.0, (self.ended if self.ended is not None else now) - self.started)

    def tokens(self) -> tuple[int | None, bool]:
        """(count, estimated): the server's count once reported; while streaming, hive's
        estimate from the text (about four characters a token); (None, False) if unknown."""
        if self.record is not None and self.record.completion_tokens is not None:
            return self.record.completion_tokens, False
        if self.chars or self.thought:  # reasoning tokens are completion tokens too
            return max(1, (self.chars + self.thought) // 4), True
        return (None, False) if self.record is not None else (0, True)

    @property
    def live(self) -> bool:
        return self.state in ("streaming", "retrying")


@dataclass
class Board:
    """The run as the live view draws it."""

    profile: str = ""
    simulated: bool = False
    started: float | None = None
    calls: dict[tuple[str, int], CallView] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # retries, fallbacks, drops: the warnings
    decisions: list[str] = field(default_factory=list)  # the adaptive decisions' sentences
    labels: list[str] = field(default_factory=list)  # the same, short, for the header
    stage: str | None = None  # the stage of the call that started last
    rounds: int = 1
    spent: Total = field(default_factory=Total)
    ended: float | None = None

    def handle(self, event: PipelineEvent, now: float) -> None:
        if self.started is None:
            self.started = now
        if isinstance(event, TokenDelta):  # first: one per streamed piece
            call = self.calls.get((event.stage, event.index))
            if call is not None:
                call.add(event.text)
                call.state = "streaming"
        elif isinstance(event, ThinkingDelta):
            call = self.calls.get((event.stage, event.index))
            if call is not None:
                call.think(event.text)
                call.state = "streaming"
        elif isinstance(event, RunStarted):
            self.profile, self.simulated = event.profile, event.simulated
            for plan in event.plan:
                self._call(plan.stage, plan.index, plan.model)
        elif isinstance(event, CallStarted):
            self._started(event, now)
        elif isinstance(event, CallRetrying):
            call = self._call(event.stage, event.index, event.model)
            call.state, call.retry_at, call.attempt = "retrying", now + event.delay, event.attempt
            call.ended = None  # the call goes on: its time runs through the wait
        elif isinstance(event, CallRouted):
            self._call(event.stage, event.index, event.model).answering = event.model
        elif isinstance(event, CallFinished | CallFailed):
            self._ended(event.record, now)
        elif isinstance(event, RunWarning):
            self.notes.append(event.message)
        elif isinstance(event, Decided):
            self._decided(event)

    def _call(self, stage: str, index: int, model: str) -> CallView:
        """The call's view, made for a call the plan did not list (a second round's refine)."""
        return self.calls.setdefault((stage, index), CallView(stage, index, model))

    def _started(self, event: CallStarted, now: float) -> None:
        call = self._call(event.stage, event.index, event.model)
        call.model, call.requested, call.answering = event.model, event.requested, None
        call.state, call.attempt, call.retry_at, call.ended = "streaming", event.attempt, None, None
        call.record = None
        call.restart()
        if call.started is None:
            call.started = now
        self.stage = event.stage

    def _ended(self, record: CallRecord, now: float) -> None:
        call = self._call(record.stage, record.index, record.model)
        call.record, call.ended = record, now
        if call.started is None:  # cut while waiting to retry: nothing ran
            call.started = now
        if record.ok:
            call.state = "done"
        elif record.error == CANCELLED:
            call.state = "cancelled"
        else:
            call.state = "cut" if record.cut else "failed"
        used = record.model_used
        if used and used != record.model:
            call.answering = used
        if record.billable:
            self.spent = self.spent + Total.of([record.cost])

    def _decided(self, event: Decided) -> None:
        decision = event.decision
        self.decisions.append(decision.message)
        if decision.kind == "round_started":
            self.rounds += 1
            self.labels.append(f"round {self.rounds}")
        elif (label := _LABELS.get(decision.kind)) is not None:
            self.labels.append(label)
        if decision.kind in ("panel_kept", "curate_skipped"):
            stage = "curate" if decision.kind == "curate_skipped" else "generate"
            for call in self.calls.values():
                if call.stage == stage and call.state == "waiting":
                    call.state = "skipped"

    def interrupted(self, now: float) -> None:
        """The run was stopped: calls still running are shown cancelled, not running."""
        for call in self.calls.values():
            if call.live:
                call.state, call.ended = "cancelled", now
        self.ended = now

    def rows(self) -> list[CallView]:
        """Every call in the order it ran: the generators first (by index), then each later
        call when it began (a second refine after the first validate when it is a second
        round, before it when the panel escalated), then the calls not begun, in plan order."""
        order = {stage: n for n, stage in enumerate(STAGES)}

        def key(c: CallView) -> tuple[int, float, int, int]:
            if c.stage == "generate":
                return (0, 0.0, 0, c.index)
            begun = c.started is not None
            return (1 if begun else 2, c.started or 0.0, order.get(c.stage, 9), c.index)

        return sorted(self.calls.values(), key=key)

    def lanes(self) -> list[CallView]:
        """The calls of the stage running now that have begun: each gets a lane, kept (with
        its last text) until the next stage begins, so lanes never jump while a stage runs."""
        if self.stage is None or self.ended is not None:
            return []
        idle = ("waiting", "skipped")
        begun = [c for c in self.rows() if c.stage == self.stage and c.state not in idle]
        # Generators run side by side; a later stage's calls run one after another (a second
        # round, an escalated refine): only the newest has a lane.
        return begun if self.stage == "generate" else begun[-1:]

    def stage_number(self) -> int:
        return STAGES.index(self.stage) + 1 if self.stage in STAGES else 0

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else now) - self.started


def _keep(pieces: list[str], text: str) -> None:
    """Add ``text`` to ``pieces``, joined and cut to the last ``TAIL_CHARS`` now and then."""
    pieces.append(text)
    if len(pieces) > _COMPACT_AT:
        pieces[:] = ["".join(pieces)[-TAIL_CHARS:]]


def _joined(pieces: list[str]) -> str:
    """The pieces as one text, the last ``TAIL_CHARS`` characters at least (kept joined)."""
    if len(pieces) > 1:
        pieces[:] = ["".join(pieces)[-TAIL_CHARS:]]
    return pieces[0] if pieces else ""
