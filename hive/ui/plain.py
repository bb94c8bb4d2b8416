"""Plain output for pipes and scripts: the answer alone on stdout, no colour, no escapes;
progress and warnings as short lines on stderr (none with ``--quiet``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from hive.consensus.events import (
    CANCELLED,
    CallFailed,
    CallFinished,
    CallRecord,
    ConsensusResult,
    Decided,
    PipelineEvent,
    RunWarning,
)
from hive.text import terminal_safe
from hive.ui import format as fmt
from hive.ui.agreement_view import agreement_lines
from hive.ui.sources_view import source_lines
from hive.ui.stage_detail import sections


class PlainRenderer:
    def __init__(
        self,
        *,
        detailed: bool = False,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self._detailed = detailed
        self._quiet = quiet
        self._out = out or sys.stdout
        self._err = err or sys.stderr

    def __enter__(self) -> PlainRenderer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._err.flush()

    def handle(self, event: PipelineEvent) -> None:
        if self._quiet:
            return
        if isinstance(event, CallFinished | CallFailed):
            self._err.write(f"hive: {_progress(event.record)}\n")
        elif isinstance(event, RunWarning):
            self._err.write(f"hive: warning: {terminal_safe(event.message)}\n")
        elif isinstance(event, Decided):
            self._err.write(f"hive: decided: {event.decision.message}\n")
        else:
            return
        self._err.flush()

    def finish(
        self, result: ConsensusResult, *, run_id: int | None = None, notes: Sequence[str] = ()
    ) -> None:
        if self._detailed:
            for section in sections(result):
                self._out.write(f"## {section.title}\n\n{section.body}\n\n")
            self._out.write("## answer\n\n")
        self._out.write(result.answer + "\n")
        self._out.flush()
        if not self._quiet:
            consensus = None if result.consensus is None else result.consensus.as_dict()
            for line in [
                *source_lines(result.sources),
                *agreement_lines(consensus, result.confidence, result.issues),
            ]:
                self._err.write(f"hive: {terminal_safe(line)}\n")  # fmt: skip
            self._err.write(f"hive: {fmt.summary(result, run_id, notes)}\n")


def _progress(record: CallRecord) -> str:
    state = "done" if record.ok else "cut" if record.cut else "failed"
    if record.error == CANCELLED:
        state = "cancelled"
    return (
        f"{record.stage} {record.model} {state} · {fmt.seconds(record.latency_ms)} · "
        f"{fmt.count(record.completion_tokens)} tokens · {fmt.call_cost(record)}"
    )
