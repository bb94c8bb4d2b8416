"""How numbers read in every view: dollars exact to the micro-dollar, times in seconds."""

from __future__ import annotations

from collections.abc import Sequence

from hive.consensus.events import ConsensusResult
from hive.money import dollars


def seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f}s"


def confidence(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary(result: ConsensusResult, run_id: int | None = None, notes: Sequence[str] = ()) -> str:
    calls = len(result.calls)
    parts = [
        f"{calls} call{'s' if calls != 1 else ''}",
        seconds(result.duration_ms),
        f"{result.total_tokens:,} tokens",
        dollars(result.total_cost) + (" (simulated)" if result.simulated else ""),
        f"confidence {confidence(result.confidence)}",
        *(["degraded (see warnings)"] if result.degraded else []),
        *notes,
    ]
    if run_id is not None:
        parts.append(f"run #{run_id}")
    return " · ".join(parts)
