"""What every view offers the command that drives the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from hive.consensus.events import ConsensusResult, PipelineEvent


class Renderer(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def handle(self, event: PipelineEvent) -> None: ...

    def finish(
        self, result: ConsensusResult, *, run_id: int | None = None, notes: Sequence[str] = ()
    ) -> None:
        """Show the result; ``run_id`` is its history id, ``notes`` extra summary facts."""
