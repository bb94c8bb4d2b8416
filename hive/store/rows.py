"""What leaves the history store: typed, frozen rows (the SQL stays in ``history.py``).

A run as ``hive history list`` shows it (``RunSummary``), with its calls, decisions and files
for ``show`` (``Run``) or with its calls and decisions for ``export`` (``ExportedRun``); one
turn of a conversation; a model's figures; and the calls and call-less runs ``hive cost`` sums
(``SpentCall``, ``RunWithoutCalls``). Money is ``Decimal``; unknown is None, never a made-up 0.

Where ``--json`` shows a row whole, its ``as_json`` lists the fields in the order the output
has always had (the database's column order), money as exact decimal text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

from hive.consensus import events
from hive.money import Total, money_text

if TYPE_CHECKING:
    import sqlite3


@dataclass(frozen=True, slots=True)
class Source:
    """A page a call's answer cited."""

    url: str
    title: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"url": self.url, "title": self.title}


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One model call as history recorded it (``CallRecord`` as written, with its row's ids and
    time). ``billable``: the server may have billed it (``CallRecord.billable``)."""

    id: int
    run_id: int
    finished_at: str
    stage: str
    idx: int
    attempt: int
    model: str
    model_used: str | None
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: Decimal | None
    cost_estimated: bool
    ttft_ms: float | None
    latency_ms: float | None
    finish_reason: str | None
    error: str | None
    content: str
    accepted: bool
    cached_tokens: int | None
    cache_write_tokens: int | None
    cache_discount: Decimal | None
    reasoning_tokens: int | None
    generation_id: str | None
    web_searches: int | None
    sources: tuple[Source, ...]
    billable: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredCall:
        cost, accepted = decimal(row["cost"]), bool(row["accepted"])
        billable = events.billable(
            accepted=accepted, error=row["error"], content=row["content"], cost=cost,
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        )  # fmt: skip
        return cls(
            id=row["id"], run_id=row["run_id"], finished_at=row["finished_at"],
            stage=row["stage"], idx=row["idx"], attempt=row["attempt"], model=row["model"],
            model_used=row["model_used"], provider=row["provider"],
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
            cost=cost, cost_estimated=bool(row["cost_estimated"]),
            ttft_ms=row["ttft_ms"], latency_ms=row["latency_ms"],
            finish_reason=row["finish_reason"], error=row["error"], content=row["content"],
            accepted=accepted, cached_tokens=row["cached_tokens"],
            cache_write_tokens=row["cache_write_tokens"],
            cache_discount=decimal(row["cache_discount"]),
            reasoning_tokens=row["reasoning_tokens"], generation_id=row["generation_id"],
            web_searches=row["web_searches"], sources=_sources(row["sources"]),
            billable=billable,
        )  # fmt: skip

    @property
    def tokens(self) -> int | None:
        """Prompt plus completion tokens; None when the server reported neither."""
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return int(self.prompt_tokens or 0) + int(self.completion_tokens or 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "finished_at": self.finished_at,
            "stage": self.stage, "idx": self.idx, "attempt": self.attempt, "model": self.model,
            "model_used": self.model_used, "provider": self.provider,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost": money_text(self.cost), "cost_estimated": self.cost_estimated,
            "ttft_ms": self.ttft_ms, "latency_ms": self.latency_ms,
            "finish_reason": self.finish_reason, "error": self.error, "content": self.content,
            "accepted": self.accepted, "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_discount": money_text(self.cache_discount),
            "reasoning_tokens": self.reasoning_tokens, "generation_id": self.generation_id,
            "web_searches": self.web_searches,
            "sources": [source.as_json() for source in self.sources],
            "billable": self.billable,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """An adaptive decision as history recorded it: kind, message and the numbers it was made
    on (``Decision``, read back)."""

    kind: str
    message: str
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredDecision:
        return cls(row["kind"], row["message"], json.loads(row["data"] or "{}"))

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **self.data}


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """A file a run was given: its name and size in UTF-8 bytes (not its text)."""

    name: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.size}


@dataclass(frozen=True, slots=True)
class ExportedFile(AttachedFile):
    """A file as ``hive history export`` writes it: with its text, as it was sent."""

    text: str

    def as_json(self) -> dict[str, Any]:
        return {**AttachedFile.as_json(self), "text": self.text}


@dataclass(frozen=True, slots=True)
class RunTotals:
    cost: Total  # known costs summed; billable calls of unknown cost counted
    tokens: int  # tokens the server reported
    unreported: int  # billable calls that reported no tokens


def run_totals(calls: Sequence[StoredCall]) -> RunTotals:
    billed = [c for c in calls if c.billable]
    reported = [t for c in billed if (t := c.tokens) is not None]
    cost = Total.of(c.cost for c in billed)
    return RunTotals(cost, sum(reported), len(billed) - len(reported))


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run without its calls, as ``hive history list`` shows it. ``status`` is as read:
    ``abandoned`` for a run left ``running`` by a process that is gone. JSON values (the
    ``consensus`` object, the ``panel``) are kept as they were written; None: not recorded."""

    id: int
    started_at: str
    finished_at: str | None
    question: str
    profile: str
    answer: str | None
    simulated: bool
    confidence: float | None
    status: str
    error: str | None
    total_cost: Decimal
    total_tokens: int
    duration_ms: int | None
    warnings: tuple[str, ...]
    unknown_cost_calls: int
    unreported_token_calls: int
    pid: int | None
    host: str | None
    consensus: dict[str, Any] | None
    issues: tuple[str, ...]
    rounds: int | None
    parent_id: int | None
    system: str | None
    panel: dict[str, Any] | None
    logged: bool

    @classmethod
    def from_row(cls, row: sqlite3.Row, *, status: str) -> RunSummary:
        return cls(
            id=row["id"], started_at=row["started_at"], finished_at=row["finished_at"],
            question=row["question"], profile=row["profile"], answer=row["answer"],
            simulated=bool(row["simulated"]), confidence=row["confidence"], status=status,
            error=row["error"], total_cost=Decimal(row["total_cost"]),
            total_tokens=row["total_tokens"], duration_ms=row["duration_ms"],
            warnings=tuple(json.loads(row["warnings"] or "[]")),
            unknown_cost_calls=row["unknown_cost_calls"],
            unreported_token_calls=row["unreported_token_calls"], pid=row["pid"],
            host=row["host"], consensus=_json(row["consensus"]),
            issues=tuple(json.loads(row["issues"] or "[]")), rounds=row["rounds"],
            parent_id=row["parent_id"], system=row["system"], panel=_json(row["panel"]),
            logged=bool(row["logged"]),
        )  # fmt: skip

    def with_totals(self, totals: RunTotals) -> Self:
        """The run with these totals (a run that never finished is summed when read, so it
        never shows a zero that only means "not yet")."""
        return replace(
            self, total_cost=totals.cost.known, unknown_cost_calls=totals.cost.unknown,
            total_tokens=totals.tokens, unreported_token_calls=totals.unreported,
        )  # fmt: skip

    @property
    def total(self) -> Total:
        return Total(self.total_cost, self.unknown_cost_calls)

    def summary_fields(self) -> dict[str, Any]:
        """The summary's fields by name, to build a ``Run`` or ``ExportedRun`` from it."""
        return {f.name: getattr(self, f.name) for f in fields(RunSummary)}

    def as_json(self) -> dict[str, Any]:
        """Money as exact text; a total none of whose billed parts is known, and tokens no
        call reported, are null, never a made-up zero."""
        unknown_cost = bool(self.unknown_cost_calls) and not self.total_cost
        unknown_tokens = bool(self.unreported_token_calls) and not self.total_tokens
        return {
            "id": self.id, "started_at": self.started_at, "finished_at": self.finished_at,
            "question": self.question, "profile": self.profile, "answer": self.answer,
            "simulated": self.simulated, "confidence": self.confidence, "status": self.status,
            "error": self.error,
            "total_cost": None if unknown_cost else money_text(self.total_cost),
            "total_tokens": None if unknown_tokens else self.total_tokens,
            "duration_ms": self.duration_ms, "warnings": list(self.warnings),
            "unknown_cost_calls": self.unknown_cost_calls,
            "unreported_token_calls": self.unreported_token_calls, "pid": self.pid,
            "host": self.host, "consensus": self.consensus, "issues": list(self.issues),
            "rounds": self.rounds, "parent_id": self.parent_id, "system": self.system,
            "panel": self.panel, "logged": self.logged,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Run(RunSummary):
    """One run whole, as ``hive history show`` replays it: the files it was given, its
    conversation (run ids from the first turn to this one), its decisions and calls in order."""

    files: tuple[AttachedFile, ...]
    conversation: tuple[int, ...]
    decisions: tuple[StoredDecision, ...]
    calls: tuple[StoredCall, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            **RunSummary.as_json(self),
            "files": [file.as_json() for file in self.files],
            "conversation": list(self.conversation),
            "decisions": [decision.as_json() for decision in self.decisions],
            "calls": [call.as_json() for call in self.calls],
        }


@dataclass(frozen=True, slots=True)
class ExportedRun(RunSummary):
    """One run as ``hive history export`` writes it: with the files it was given (their text
    too: an export is the whole record), its decisions and calls in order."""

    files: tuple[ExportedFile, ...]
    decisions: tuple[StoredDecision, ...]
    calls: tuple[StoredCall, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            **RunSummary.as_json(self),
            "files": [file.as_json() for file in self.files],
            "decisions": [decision.as_json() for decision in self.decisions],
            "calls": [call.as_json() for call in self.calls],
        }


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One run of a conversation, as a follow-up sends it again: its question, answer,
    instructions and files (``(name, text)`` in order), whether it was logged, its status."""

    id: int
    question: str
    answer: str | None
    system: str | None
    files: tuple[tuple[str, str], ...]
    logged: bool
    status: str
    simulated: bool = False  # its answer is the simulator's, not a model's


@dataclass(frozen=True, slots=True)
class ModelStats:
    """hive's own figures for a model, from real calls that asked for it or were served by it."""

    calls: int
    ok: int
    success_rate: float
    median_latency_ms: float | None
    median_ttft_ms: float | None
    total_cost: Decimal | None  # known costs; None when every billed call's cost is unknown
    unknown_cost_calls: int
    estimated_cost_calls: int

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "ok": self.ok,
            "success_rate": self.success_rate,
            "median_latency_ms": self.median_latency_ms,
            "median_ttft_ms": self.median_ttft_ms,
            "total_cost": money_text(self.total_cost),
            "unknown_cost_calls": self.unknown_cost_calls,
            "estimated_cost_calls": self.estimated_cost_calls,
        }


@dataclass(frozen=True, slots=True)
class SpentCall:
    """A call of a real run, as ``hive cost`` sums it."""

    run_id: int
    at: datetime  # when it finished, local time
    model: str  # the model that answered (the one requested when none did)
    profile: str
    stage: str
    cost: Decimal | None
    tokens: int | None  # None: the server reported none
    billable: bool = True  # a call refused before any answer was not billed
    cached_tokens: int | None = None  # None: the server did not say
    cache_discount: Decimal | None = None

    @property
    def total(self) -> Total:
        return Total.of([self.cost]) if self.billable else Total()


@dataclass(frozen=True, slots=True)
class RunWithoutCalls:
    """A real run stopped before it spent anything: ``hive cost`` counts it when it started."""

    id: int
    started: datetime  # local time
    profile: str


def decimal(text: str | None) -> Decimal | None:
    """Money as stored (exact decimal text) as a ``Decimal``; None stays unknown."""
    return None if text is None else Decimal(text)


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _sources(text: str | None) -> tuple[Source, ...]:
    """A call's cited pages from their JSON text (none for text that is not the list hive
    wrote)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(
        Source(s["url"], s.get("title"))
        for s in value
        if isinstance(s, dict) and isinstance(s.get("url"), str)
    )
