"""One run's record in history, owned from its first write to its last under every exit path.

``with RunRecord(history) as record:`` wraps the whole run. ``start`` writes the run before the
first call, ``handle`` writes each call the moment it finishes and each adaptive decision the
moment it is made (history first: what was paid for and decided is kept even if a view fails),
and ``finish`` closes it with the answer and the rounds it took. Whatever ends the block
instead — a failure, a budget stop, Ctrl-C, SIGTERM, SIGHUP, a bug — ``__exit__`` closes the
run with the matching status, so no run is left ``running`` by a process that goes on.

A storage failure mid-run (locked, full, read-only) does not lose paid calls or decisions
silently: they are held, in order, the user is told at once, and they are written when the run
closes if the database allows by then. If ``finish`` itself fails, the outcome it meant to write
is kept and tried once more as the block ends; only if that fails too does an ``UnsavedError``
say how many paid calls, at what cost, and how many decisions were not saved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hive.consensus.adaptive import Decision
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallRecord,
    CallStarted,
    Decided,
    PipelineEvent,
    cost_total,
)
from hive.errors import BudgetError, HiveError, Interrupted, StorageError, UnsavedError
from hive.money import Total, total_text
from hive.store.history import History

Notice = Callable[[str], None]


def status_for(exc: BaseException | None) -> str:
    """The history status of a run that ended with ``exc`` before it could finish."""
    if isinstance(exc, BudgetError):
        return "budget"
    if isinstance(exc, Interrupted | KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted"
    return "failed"


class RunRecord:
    def __init__(self, history: History, *, notice: Notice, logged: bool = True) -> None:
        """``notice`` tells the user, at once, about a storage problem that holds calls.
        ``logged=False`` (``--no-log``) keeps none of the user's text in history, at every
        write: the calls' costs and tokens still are, so budgets keep holding."""
        self._history = history
        self._notice = notice
        self.logged = logged
        self.run_id: int | None = None
        self.calls: list[CallRecord] = []  # every call of the run, saved or not
        self._unsaved: list[CallRecord | Decision] = []  # held by a storage failure, in order
        self._finished = False
        self._outcome: _Outcome | None = None  # what finish meant to write, if it failed
        self.stage: str | None = None  # the stage of the call that started last

    def __enter__(self) -> RunRecord:
        return self

    def start(
        self,
        question: str,
        profile: str,
        simulated: bool,
        *,
        parent_id: int | None = None,
        system: str | None = None,
        panel: dict[str, Any] | None = None,
        files: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Write the run before its first call, with what it was given (``History.start_run``)."""
        self.run_id = self._history.start_run(
            question, profile, simulated, parent_id=parent_id, system=system, panel=panel,
            files=files, logged=self.logged,
        )  # fmt: skip
        return self.run_id

    @property
    def spent(self) -> Total:
        return cost_total(self.calls)

    def handle(self, event: PipelineEvent) -> None:
        """Each call, and each adaptive decision, is written the moment it is made."""
        if isinstance(event, CallStarted):
            self.stage = event.stage
            return
        if isinstance(event, CallFinished | CallFailed):
            self.calls.append(event.record)
            self._unsaved.append(event.record)
        elif isinstance(event, Decided):
            self._unsaved.append(event.decision)
        else:
            return
        try:
            self._save_held()
        except StorageError as exc:
            if len(self._unsaved) == 1:  # say it once, when the first is held
                held = "this run's calls and decisions"
                self._notice(f"{exc}; holding {held} to save when it ends")

    def _save_held(self) -> None:
        assert self.run_id is not None
        while self._unsaved:
            held = self._unsaved[0]
            if isinstance(held, Decision):
                self._history.record_decision(self.run_id, held)
            else:
                self._history.record_call(self.run_id, held, logged=self.logged)
            self._unsaved.pop(0)

    def finish(
        self,
        status: str,
        *,
        answer: str | None = None,
        confidence: float | None = None,
        error: str | None = None,
        duration_ms: float | None = None,
        warnings: list[str] | None = None,
        consensus: dict[str, Any] | None = None,
        issues: list[str] | None = None,
        rounds: int | None = None,
    ) -> None:
        """Close the run with its outcome; the held calls and decisions are saved first. A
        StorageError leaves the outcome to be tried once more when the block ends."""
        if self.run_id is None or self._finished:
            return
        self._outcome = _Outcome(
            status, answer, confidence, error, duration_ms, warnings, consensus, issues, rounds
        )
        self._write_outcome()

    def _write_outcome(self) -> None:
        assert self.run_id is not None and self._outcome is not None
        o = self._outcome
        self._save_held()
        self._history.finish_run(
            self.run_id, o.status, answer=o.answer, confidence=o.confidence, error=o.error,
            duration_ms=o.duration_ms, warnings=o.warnings, consensus=o.consensus,
            issues=o.issues, rounds=o.rounds, logged=self.logged,
        )  # fmt: skip
        self._finished = True

    def _unsaved_message(self, exc: StorageError) -> str:
        held = [c for c in self._unsaved if isinstance(c, CallRecord)]
        decided = len(self._unsaved) - len(held)
        lost = []
        if held:
            n = len(held)
            lost.append(f"{n} paid call{'s' if n != 1 else ''} ({total_text(cost_total(held))})")
        if decided:
            lost.append(f"{decided} decision{'s' if decided != 1 else ''}")
        if not lost:
            return f"{exc} (run #{self.run_id} may show as running or abandoned)"
        return f"{exc}: {' and '.join(lost)} of run #{self.run_id} not saved"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.run_id is None or self._finished:
            return
        if self._outcome is None:  # the run ended before its outcome: say how it ended
            if exc is None:  # a bug: still closed honestly
                exc = HiveError("the run ended without an outcome")
            detail = str(exc) if isinstance(exc, HiveError) else f"{type(exc).__name__}: {exc}"
            self._outcome = _Outcome(status_for(exc), error=detail or "interrupted")
        try:
            self._write_outcome()
        except StorageError as failure:
            message = self._unsaved_message(failure)
            if exc is None:  # the answer was shown: this is what the exit line must say
                raise UnsavedError(message) from failure
            self._notice(message)  # the run's own error still leaves as the exit line


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    answer: str | None = None
    confidence: float | None = None
    error: str | None = None
    duration_ms: float | None = None
    warnings: list[str] | None = None
    consensus: dict[str, Any] | None = None
    issues: list[str] | None = None
    rounds: int | None = None
