"""Run and call history in SQLite: every question asked of it. The schema (opening,
migrations, WAL) is ``schema.py``; the writes are ``recording.py``; what leaves is a typed row
(``rows.py``). Money is read as the decimal text it is stored as and summed as ``Decimal``.

A run records the process that ran it (``pid``, ``host``); a run still ``running`` whose process
is gone from this host (SIGKILL, a power cut) reads back as ``abandoned``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from hive.errors import UsageError
from hive.store.paths import Paths
from hive.store.recording import Recording
from hive.store.rows import (
    AttachedFile,
    ConversationTurn,
    ExportedFile,
    ExportedRun,
    ModelStats,
    Run,
    RunSummary,
    RunWithoutCalls,
    SpentCall,
    StoredCall,
    StoredDecision,
    decimal,
    run_totals,
)
from hive.store.schema import db_path, timestamp, transaction


def billable_sql(table: str = "") -> str:
    """``CallRecord.billable`` as SQL over the ``calls`` table (named ``table`` in a join);
    ``tests/test_history.py`` checks it against the Python rule on every combination."""
    t = f"{table}." if table else ""
    return (
        f"({t}accepted = 1 OR {t}error IS NULL OR {t}content != '' OR {t}cost IS NOT NULL"
        f" OR {t}prompt_tokens IS NOT NULL OR {t}completion_tokens IS NOT NULL)"
    )


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one we may not signal counts too). On
    Windows signal 0 is not a probe (it is CTRL_C_EVENT): there, hive cannot tell, and says
    a run is running rather than guess it abandoned."""
    if sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: do not call a run abandoned on a guess
    return True


def _status(row: sqlite3.Row) -> str:
    """The stored status, except that a run ``running`` in a process that no longer exists on
    this host is ``abandoned``."""
    status = str(row["status"])
    keys = row.keys()
    if status != "running" or "pid" not in keys or row["pid"] is None:
        return status
    if row["host"] != socket.gethostname():
        return status  # another machine's run (a shared folder): we cannot tell
    return status if process_alive(int(row["pid"])) else "abandoned"


def _fold(text: str | None) -> str:
    return (text or "").casefold()


def _local(text: str) -> datetime:
    """A stored timestamp in local time."""
    return datetime.fromisoformat(text).astimezone()


def _since(sql: str, column: str, since: datetime | None) -> tuple[str, tuple[str, ...]]:
    """``sql`` narrowed to rows whose ``column`` is at or after ``since`` (all when None)."""
    if since is None:
        return sql, ()
    return f"{sql} AND {column} >= ?", (timestamp(since),)


class History(Recording):
    """The history of one hive home: its writes (``Recording``) and every question asked of
    it. Every method is one short transaction."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads from one consistent snapshot (a run recording calls meanwhile cannot
        make them disagree). Deferred: no lock is taken."""
        with self._errors("read"):
            self.db.execute("BEGIN")
            try:
                yield
            finally:
                self.db.execute("COMMIT")

    # --- runs ------------------------------------------------------------------------------

    def _summary(self, row: sqlite3.Row) -> RunSummary:
        """A run as read; one that never finished is summed from its calls."""
        run = RunSummary.from_row(row, status=_status(row))
        return run if run.finished_at is not None else run.with_totals(self._totals(run.id))

    def run(self, run_id: int) -> Run | None:
        """One run with its calls, decisions, attached files (names and sizes, not their
        text) and its conversation (run ids from the first turn to this one), or None."""
        with self._errors("read"):
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            calls = self.db.execute(
                "SELECT * FROM calls WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
            decisions = self.db.execute(
                "SELECT * FROM decisions WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
            files = self.db.execute(
                "SELECT name, bytes FROM run_files WHERE run_id = ? ORDER BY position",
                (run_id,),
            ).fetchall()
            chain = tuple(int(r["id"]) for r in self._chain(row))
            summary = self._summary(row)
        return Run(
            **summary.summary_fields(),
            files=tuple(AttachedFile(f["name"], int(f["bytes"])) for f in files),
            conversation=chain,
            decisions=tuple(StoredDecision.from_row(d) for d in decisions),
            calls=tuple(StoredCall.from_row(c) for c in calls),
        )

    def _chain(self, row: sqlite3.Row) -> list[sqlite3.Row]:
        """The runs from the conversation's first turn to ``row``, oldest first, following
        ``parent_id`` (a deleted parent ends the chain there). A cycle cannot be made through
        this class, but a hand-edited database could hold one: it stops at a repeated id."""
        chain = [row]
        seen = {int(row["id"])}
        while (parent := chain[-1]["parent_id"]) is not None and int(parent) not in seen:
            found = self.db.execute("SELECT * FROM runs WHERE id = ?", (parent,)).fetchone()
            if found is None:
                break
            seen.add(int(parent))
            chain.append(found)
        chain.reverse()
        return chain

    def conversation(self, run_id: int) -> list[ConversationTurn]:
        """The conversation ending at run ``run_id``, oldest turn first. A run no one followed
        up is a conversation of one."""
        with self._errors("read"):
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run #{run_id} in history (see `hive history list`)")
            return [self._turn(r) for r in self._chain(row)]

    def _turn(self, row: sqlite3.Row) -> ConversationTurn:
        files = self.db.execute(
            "SELECT name, text FROM run_files WHERE run_id = ? ORDER BY position", (row["id"],)
        ).fetchall()
        return ConversationTurn(
            id=int(row["id"]), question=row["question"], answer=row["answer"],
            system=row["system"], files=tuple((f["name"], f["text"]) for f in files),
            logged=bool(row["logged"]), status=_status(row), simulated=bool(row["simulated"]),
        )  # fmt: skip

    def last_run_id(self) -> int | None:
        """The newest run that is not still running (``--continue`` follows it up), or None.
        One left ``running`` by a process that is gone reads as abandoned, so it counts."""
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT id, status, pid, host FROM runs ORDER BY started_at DESC, id DESC"
            )
            try:
                for row in rows:
                    if _status(row) != "running":
                        return int(row["id"])
            finally:
                rows.close()  # no read snapshot left open behind the answer
        return None

    def runs(self, limit: int | None = 20, search: str | None = None) -> list[RunSummary]:
        """Runs newest first, without their calls; ``search`` matches text in the question or
        the answer, in any case (Unicode-aware, unlike SQLite's own LIKE)."""
        sql = "SELECT * FROM runs"
        params: list[object] = []
        if search:
            self.db.create_function("hive_fold", 1, _fold, deterministic=True)
            sql += " WHERE instr(hive_fold(question), ?) > 0 OR instr(hive_fold(answer), ?) > 0"
            params += [search.casefold()] * 2
        sql += " ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._errors("read"):
            rows = self.db.execute(sql, params).fetchall()
            return [self._summary(row) for row in rows]

    def delete_run(self, run_id: int) -> bool:
        """Delete one run; its calls go with it (ON DELETE CASCADE)."""
        with self._errors("write to"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return cursor.rowcount > 0

    def delete_before(self, moment: datetime) -> int:
        """Delete every run started before ``moment`` (an aware datetime); how many went."""
        with self._errors("write to"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE started_at < ?", (timestamp(moment),))
        return max(cursor.rowcount, 0)

    def export_rows(self) -> list[ExportedRun]:
        """Every run, oldest first, each with its calls in order: one consistent snapshot."""
        with self.snapshot():
            runs = self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()
            calls = self.db.execute("SELECT * FROM calls ORDER BY run_id, id").fetchall()
            decisions = self.db.execute("SELECT * FROM decisions ORDER BY run_id, id").fetchall()
            files = self.db.execute(
                "SELECT run_id, name, bytes, text FROM run_files ORDER BY run_id, position"
            ).fetchall()
        attached: dict[int, list[ExportedFile]] = {}
        for file in files:
            attached.setdefault(int(file["run_id"]), []).append(
                ExportedFile(file["name"], int(file["bytes"]), file["text"])
            )
        by_run: dict[int, list[StoredCall]] = {}
        for call in calls:
            by_run.setdefault(int(call["run_id"]), []).append(StoredCall.from_row(call))
        decided: dict[int, list[StoredDecision]] = {}
        for decision in decisions:
            decided.setdefault(int(decision["run_id"]), []).append(
                StoredDecision.from_row(decision)
            )
        out = []
        for row in runs:
            calls_of_run = by_run.get(int(row["id"]), [])
            run = RunSummary.from_row(row, status=_status(row))
            if run.finished_at is None:
                run = run.with_totals(run_totals(calls_of_run))
            decisions_of_run = tuple(decided.get(int(row["id"]), []))
            out.append(
                ExportedRun(
                    **run.summary_fields(),
                    files=tuple(attached.get(int(row["id"]), [])),
                    decisions=decisions_of_run,
                    calls=tuple(calls_of_run),
                )
            )
        return out

    # --- spending -----------------------------------------------------------------------------

    def spent_since(self, since: datetime) -> Decimal:
        """Real (not simulated) spending on calls finished since ``since`` (known costs)."""
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT c.cost FROM calls c JOIN runs r ON r.id = c.run_id"
                " WHERE r.simulated = 0 AND c.cost IS NOT NULL AND c.finished_at >= ?",
                (timestamp(since),),
            ).fetchall()
        return sum((Decimal(r["cost"]) for r in rows), Decimal(0))

    def spent_calls(self, since: datetime | None) -> list[SpentCall]:
        """Every call of a real run finished since ``since`` (all of them when None)."""
        sql, params = _since(
            "SELECT c.run_id, c.finished_at, c.stage, c.model, c.model_used, c.cost,"
            " c.prompt_tokens, c.completion_tokens, c.cached_tokens, c.cache_discount,"
            f" r.profile, {billable_sql('c')} AS billable"
            " FROM calls c JOIN runs r ON r.id = c.run_id WHERE r.simulated = 0",
            "c.finished_at",
            since,
        )
        with self._errors("read"):
            rows = self.db.execute(sql + " ORDER BY c.id", params).fetchall()
        return [
            SpentCall(
                run_id=int(r["run_id"]),
                at=_local(r["finished_at"]),
                model=r["model_used"] or r["model"],
                profile=r["profile"],
                stage=r["stage"],
                cost=decimal(r["cost"]),
                tokens=(
                    None
                    if r["prompt_tokens"] is None and r["completion_tokens"] is None
                    else (r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0)
                ),
                billable=bool(r["billable"]),
                cached_tokens=r["cached_tokens"],
                cache_discount=decimal(r["cache_discount"]),
            )
            for r in rows
        ]

    def runs_without_calls(self, since: datetime | None) -> list[RunWithoutCalls]:
        """Real runs without a single call (stopped before they spent), started since
        ``since``."""
        sql, params = _since(
            "SELECT r.id, r.started_at, r.profile FROM runs r WHERE r.simulated = 0"
            " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.run_id = r.id)",
            "r.started_at",
            since,
        )
        with self._errors("read"):
            rows = self.db.execute(sql + " ORDER BY r.id", params).fetchall()
        return [RunWithoutCalls(int(r["id"]), _local(r["started_at"]), r["profile"]) for r in rows]

    def simulated_runs(self, since: datetime | None) -> int:
        """Simulated runs started since ``since``: shown as a count, never as spending."""
        sql, params = _since("SELECT COUNT(*) FROM runs WHERE simulated = 1", "started_at", since)
        with self._errors("read"):
            return int(self.db.execute(sql, params).fetchone()[0])

    # --- models -------------------------------------------------------------------------------

    def typical_completion(self, model: str, stage: str) -> int | None:
        """Median completion tokens of this model's successful calls in this stage (recent 50),
        from real runs only: the simulator's short replies say nothing about a real model."""
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT c.completion_tokens FROM calls c JOIN runs r ON r.id = c.run_id"
                " WHERE c.model = ? AND c.stage = ? AND c.error IS NULL AND r.simulated = 0"
                " AND c.completion_tokens IS NOT NULL ORDER BY c.id DESC LIMIT 50",
                (model, stage),
            ).fetchall()
        values = [int(r["completion_tokens"]) for r in rows]
        return round(statistics.median(values)) if values else None

    def model_calls(self, model_id: str) -> list[StoredCall]:
        """Real (not simulated) calls that asked for ``model_id`` or were served by it."""
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT c.* FROM calls c JOIN runs r ON r.id = c.run_id"
                " WHERE r.simulated = 0 AND (c.model = ? OR c.model_used = ?)",
                (model_id, model_id),
            ).fetchall()
        return [StoredCall.from_row(row) for row in rows]


def model_stats(paths: Paths, model_id: str) -> ModelStats | None:
    """hive's own figures for a model, from real (not simulated) calls that asked for it or
    were served by it; None when there are none. Never creates a history database."""
    if not db_path(paths).exists():
        return None
    history = History.open(paths)
    try:
        calls = history.model_calls(model_id)
    finally:
        history.close()
    if not calls:
        return None
    ok = [c for c in calls if c.error is None]
    cost = run_totals(calls).cost
    latencies = [float(c.latency_ms) for c in ok if c.latency_ms is not None]
    ttfts = [float(c.ttft_ms) for c in ok if c.ttft_ms is not None]
    return ModelStats(
        calls=len(calls),
        ok=len(ok),
        success_rate=len(ok) / len(calls),
        median_latency_ms=statistics.median(latencies) if latencies else None,
        median_ttft_ms=statistics.median(ttfts) if ttfts else None,
        # Known costs (None when every billed call's cost is unknown), and how many are not.
        total_cost=None if cost.unknown and not cost.known else cost.known,
        unknown_cost_calls=cost.unknown,
        estimated_cost_calls=sum(1 for c in calls if c.cost_estimated),
    )
