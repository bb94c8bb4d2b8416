"""A run's calls and warnings as they happen, each told as an event on its way in.

Every attempt of every call ends up here as a ``CallRecord`` (one the server reported no cost
for priced from the catalog, ``unreported_cost.py``), and every warning as text; each is told
at once (``CallFinished`` / ``CallFailed``, ``RunWarning``). Events go to the run's watchers
first (the generate stage watches its streams), then to the run's sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from hive.consensus.estimate import PriceOf
from hive.consensus.events import CallFailed, CallFinished, CallRecord, PipelineEvent, RunWarning
from hive.consensus.spend_guard import CallKey
from hive.consensus.unreported_cost import price_unreported

Emit = Callable[[PipelineEvent], None]


class CallLog:
    def __init__(self, emit: Emit, price_of: PriceOf) -> None:
        self._emit = emit
        self._watchers: list[Emit] = []
        self._price_of = price_of
        # Per call: hive's count of the prompt it sent, and the models it asked for.
        self._sent: dict[CallKey, tuple[int, list[str]]] = {}
        self.calls: list[CallRecord] = []
        self.warnings: list[str] = []

    def watch(self, watcher: Emit) -> None:
        """``watcher`` sees every event before the sink does."""
        self._watchers.append(watcher)

    def emit(self, event: PipelineEvent) -> None:
        for watcher in self._watchers:
            watcher(event)
        self._emit(event)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.emit(RunWarning(message))

    def sent(self, call: CallKey, prompt_tokens: int, models: Sequence[str]) -> None:
        """What call ``call`` sends, to price it by if the server reports no cost."""
        self._sent[call] = (prompt_tokens, list(models))

    def spent(self) -> Decimal:
        """What the recorded calls cost, as far as known."""
        return sum((c.cost for c in self.calls if c.cost is not None), Decimal(0))

    def record(self, record: CallRecord) -> None:
        if record.cost is None and record.billable:
            sent, asked = self._sent.get((record.stage, record.index), (0, [record.model]))
            record = price_unreported(record, self._price_of, sent, asked)
        self.calls.append(record)
        self.emit(CallFinished(record) if record.ok else CallFailed(record))
