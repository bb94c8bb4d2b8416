"""``--json``: exactly one JSON object on stdout when the run ends; nothing else there.

Money is written as every ``--json`` of hive writes it: exact decimal strings in USD
(``hive.money.money_text``), ``null`` when unknown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TextIO

from hive.consensus.events import CallRecord, ConsensusResult, PipelineEvent
from hive.errors import HiveError
from hive.money import Total, money_text
from hive.redact import redact


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def call_to_json(record: CallRecord) -> dict[str, Any]:
    return {
        "stage": record.stage,
        "index": record.index,
        "model": record.model,
        "model_used": record.model_used,
        "provider": record.provider,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost": money_text(record.cost),
        "cost_estimated": record.cost_estimated,
        "ttft_ms": _ms(record.ttft_ms),
        "latency_ms": _ms(record.latency_ms),
        "finish_reason": record.finish_reason,
        "content": record.content,
        "error": record.error,
        "cached_tokens": record.cached_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "cache_discount": money_text(record.cache_discount),
        "reasoning_tokens": record.reasoning_tokens,
        "generation_id": record.generation_id,
        "web_searches": record.web_searches,
        "sources": [{"url": url, "title": title} for url, title in record.sources],
    }


def cost_fields(total: Total) -> dict[str, Any]:
    """``total_cost`` (USD, the known part; null when no part is known) and
    ``unknown_cost_calls`` (billable calls nobody could price; 0 when the total is complete)."""
    nothing_known = total.unknown and total.known == 0
    return {
        "total_cost": None if nothing_known else money_text(total.known),
        "unknown_cost_calls": total.unknown,
    }


def result_to_json(result: ConsensusResult) -> dict[str, Any]:
    return {
        "question": result.question,
        "profile": result.profile,
        "answer": result.answer,
        "simulated": result.simulated,
        "degraded": result.degraded,
        "confidence": result.confidence,
        "issues": result.issues,
        **cost_fields(result.cost),
        "total_tokens": (
            None
            if result.unreported_token_calls and not result.total_tokens
            else result.total_tokens
        ),
        "unreported_token_calls": result.unreported_token_calls,
        "duration_ms": _ms(result.duration_ms),
        "warnings": result.warnings,
        "consensus": None if result.consensus is None else result.consensus.as_dict(),
        "rounds": result.rounds,
        "decisions": [decision.as_dict() for decision in result.decisions],
        "sources": [{"url": url, "title": title} for url, title in result.sources],
        "stages": [call_to_json(record) for record in result.calls],
    }


def failure_to_json(exc: HiveError) -> dict[str, Any]:
    """What ``--json`` prints when the command fails (schema in the README)."""
    data: dict[str, Any] = {
        "error": redact(str(exc)),
        "exit_code": exc.exit_code,
        "run_id": exc.run_id,
    }
    if exc.spent is not None:
        data.update(cost_fields(exc.spent))
    return data


def write_failure(exc: HiveError, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    try:
        json.dump(failure_to_json(exc), out, ensure_ascii=False, indent=2)
        out.write("\n")
        out.flush()
    except (BrokenPipeError, ValueError):
        pass  # stdout is gone: the line on stderr still says what happened


class JsonRenderer:
    """Prints nothing while the run goes on, then the one result object. ``parent_id`` (the
    run this one follows up) and ``files`` (name and size in bytes of every file sent, the
    conversation's and this run's) let a script follow a chain without reading history."""

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        parent_id: int | None = None,
        files: Sequence[tuple[str, int]] = (),
    ) -> None:
        self._out = out or sys.stdout
        self._parent_id = parent_id
        self._files = [{"name": name, "bytes": size} for name, size in files]

    def __enter__(self) -> JsonRenderer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def handle(self, event: PipelineEvent) -> None:
        pass

    def finish(
        self, result: ConsensusResult, *, run_id: int | None = None, notes: Sequence[str] = ()
    ) -> None:
        data = {
            "run_id": run_id,
            "parent_id": self._parent_id,
            "files": self._files,
            **result_to_json(result),
        }
        json.dump(data, self._out, ensure_ascii=False, indent=2)
        self._out.write("\n")
        self._out.flush()
