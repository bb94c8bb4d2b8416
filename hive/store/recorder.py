"""Writes a run to history as it happens: each call when it finishes, the run when it ends."""

from __future__ import annotations

from hive.consensus.events import CallFailed, CallFinished, PipelineEvent
from hive.store.history import History


class Recorder:
    def __init__(self, history: History, run_id: int) -> None:
        self.history = history
        self.run_id = run_id

    def handle(self, event: PipelineEvent) -> None:
        if isinstance(event, CallFinished | CallFailed):
            self.history.record_call(self.run_id, event.record)
