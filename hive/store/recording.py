"""Writing a run's history: the connection to the database, and every write to it.

Every write is its own short ``BEGIN IMMEDIATE`` transaction, made as each call finishes, so a
run stopped by Ctrl-C or a crash keeps everything it paid for. Costs are stored as decimal text:
SQLite's REAL would round them. ``--no-log`` keeps none of the user's text, at every write.
Every SQLite failure (locked, full, read-only, corrupt) leaves as a ``StorageError`` naming the
file: one line at the CLI edge. ``History`` (``history.py``) adds the reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from hive.consensus.events import CallRecord
from hive.errors import StorageError
from hive.store.paths import Paths
from hive.store.rows import RunTotals, StoredCall, run_totals
from hive.store.schema import db_path, open_db, timestamp, transaction, utc_now

if TYPE_CHECKING:
    from hive.consensus.adaptive import Decision


def _money_text(amount: Decimal | None) -> str | None:
    """An amount as exact decimal text (SQLite's REAL would round it); None stays unknown."""
    return None if amount is None else format(amount, "f")


def _sources_text(sources: Sequence[tuple[str, str | None]]) -> str | None:
    """A call's cited pages as JSON; None when it cited none (most calls)."""
    if not sources:
        return None
    return json.dumps([{"url": url, "title": title} for url, title in sources], ensure_ascii=False)


@contextmanager
def _storage_errors(what: str, path: Path | None = None) -> Iterator[None]:
    """A corrupt, locked, full or read-only database becomes a StorageError naming the file
    (one line at the CLI edge)."""
    try:
        yield
    except sqlite3.Error as exc:
        where = f" {path}" if path else ""
        raise StorageError(f"cannot {what} the history database{where}: {exc}") from exc


def error_kind(error: str | None) -> str | None:
    """What an unlogged run keeps of an error: its kind, up to the first ``:``. What follows
    may quote the server, and a server may quote the prompt."""
    return None if error is None else error.split(":", 1)[0]


class Recording:
    """A hive home's history database, open, and the writes to it. Every method is one short
    transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, paths: Paths) -> Self:
        path = db_path(paths)
        return cls(open_db(path), path)

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _storage_errors(what, self.path)

    def close(self) -> None:
        self.db.close()

    def start_run(
        self,
        question: str,
        profile: str,
        simulated: bool,
        started: datetime | None = None,
        *,
        parent_id: int | None = None,
        system: str | None = None,
        panel: dict[str, Any] | None = None,
        files: Sequence[tuple[str, str]] = (),
        logged: bool = True,
    ) -> int:
        """Record a run before its first call, with what it was given: the run it follows up,
        the user's instructions, the panel that runs it and the files attached, ``(name,
        text)`` in order, in the same transaction. ``logged=False`` (``--no-log``) keeps none
        of the user's text (question, instructions, files): only the panel, which names models."""
        with self._errors("write to"), transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, question, profile, simulated, status, pid, host,"
                " parent_id, system, panel, logged)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (timestamp(started or utc_now()), question if logged else "", profile,
                 int(simulated), os.getpid(), socket.gethostname(), parent_id,
                 system if logged else None,
                 None if panel is None else json.dumps(panel, ensure_ascii=False), int(logged)),
            )  # fmt: skip
            run_id = int(cursor.lastrowid or 0)
            if logged:
                self._store_files(run_id, files)
        return run_id

    def _store_files(self, run_id: int, files: Sequence[tuple[str, str]]) -> None:
        """The attached files, in order, each with its size in UTF-8 bytes."""
        self.db.executemany(
            "INSERT INTO run_files (run_id, position, name, text, bytes) VALUES (?, ?, ?, ?, ?)",
            [(run_id, position, name, text, len(text.encode("utf-8", "surrogatepass")))
             for position, (name, text) in enumerate(files)],
        )  # fmt: skip

    def record_call(self, run_id: int, call: CallRecord, *, logged: bool = True) -> None:
        """Write one call. Unlogged, its output is not kept and its error only by kind; its
        costs, tokens, models and timings always are, so budgets keep holding."""
        with self._errors("write to"), transaction(self.db):
            self.db.execute(
                "INSERT INTO calls (run_id, finished_at, stage, idx, attempt, model, model_used,"
                " provider, prompt_tokens, completion_tokens, cost, cost_estimated, ttft_ms,"
                " latency_ms, finish_reason, error, content, accepted, cached_tokens,"
                " cache_write_tokens, cache_discount, reasoning_tokens, generation_id,"
                " web_searches, sources)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?)",
                (
                    run_id, timestamp(utc_now()), call.stage, call.index, call.attempt, call.model,
                    call.model_used, call.provider, call.prompt_tokens, call.completion_tokens,
                    _money_text(call.cost), int(call.cost_estimated), call.ttft_ms,
                    call.latency_ms, call.finish_reason,
                    call.error if logged else error_kind(call.error),
                    call.content if logged else "", int(call.accepted), call.cached_tokens,
                    call.cache_write_tokens, _money_text(call.cache_discount),
                    call.reasoning_tokens, call.generation_id, call.web_searches,
                    _sources_text(call.sources) if logged else None,
                ),
            )  # fmt: skip

    def record_decision(self, run_id: int, decision: Decision) -> None:
        with self._errors("write to"), transaction(self.db):
            self.db.execute(
                "INSERT INTO decisions (run_id, made_at, kind, message, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, timestamp(utc_now()), decision.kind, decision.message,
                 json.dumps(decision.data, ensure_ascii=False)),
            )  # fmt: skip

    def finish_run(
        self,
        run_id: int,
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
        logged: bool = True,
    ) -> None:
        """Close a run; its totals are summed from the calls recorded, so they always agree:
        known costs and reported tokens summed, billable calls without them counted.
        Unlogged, what could carry the user's text (answer, consensus, issues, warnings) is
        not kept, and the error only by kind; status, confidence, duration and rounds are."""
        if not logged:
            answer, consensus, issues, warnings = None, None, None, None
            error = error_kind(error)
        with self._errors("write to"), transaction(self.db):
            totals = self._totals(run_id)
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, answer = ?, confidence = ?,"
                " error = ?, total_cost = ?, total_tokens = ?, duration_ms = ?, warnings = ?,"
                " unknown_cost_calls = ?, unreported_token_calls = ?, consensus = ?, issues = ?,"
                " rounds = ? WHERE id = ?",
                (
                    timestamp(utc_now()), status, answer, confidence, error,
                    format(totals.cost.known, "f"), totals.tokens,
                    None if duration_ms is None else round(duration_ms),
                    json.dumps(warnings or []), totals.cost.unknown, totals.unreported,
                    None if consensus is None else json.dumps(consensus, ensure_ascii=False),
                    json.dumps(issues or [], ensure_ascii=False), rounds, run_id,
                ),
            )  # fmt: skip

    def _totals(self, run_id: int) -> RunTotals:
        """A run's totals, summed from its calls (``finish_run`` stores them)."""
        calls = self.db.execute("SELECT * FROM calls WHERE run_id = ?", (run_id,))
        return run_totals([StoredCall.from_row(row) for row in calls])
