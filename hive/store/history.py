"""Run and call history in SQLite (``history.db`` in the data folder).

WAL mode and a generous busy timeout let many ``hive`` processes write at once; every write is
its own short ``BEGIN IMMEDIATE`` transaction, made as each call finishes, so a run stopped by
Ctrl-C or a crash keeps everything it paid for. Costs are stored as decimal text and summed as
``Decimal``: SQLite's REAL would round them. The schema version lives in ``PRAGMA
user_version``; ``MIGRATIONS`` is the ordered list of steps from an empty database.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hive.consensus.events import CallRecord
from hive.errors import StorageError
from hive.store.files import ensure_dir
from hive.store.paths import Paths

BUSY_TIMEOUT_MS = 30_000


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            question TEXT NOT NULL,
            profile TEXT NOT NULL,
            answer TEXT,
            simulated INTEGER NOT NULL,
            confidence REAL,
            status TEXT NOT NULL,
            error TEXT,
            total_cost TEXT NOT NULL DEFAULT '0',
            total_tokens INTEGER NOT NULL DEFAULT 0,
            duration_ms INTEGER,
            warnings TEXT NOT NULL DEFAULT '[]'
        )"""
    )
    db.execute(
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            finished_at TEXT NOT NULL,
            stage TEXT NOT NULL,
            idx INTEGER NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            model TEXT NOT NULL,
            model_used TEXT,
            provider TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost TEXT,
            cost_estimated INTEGER NOT NULL DEFAULT 0,
            ttft_ms REAL,
            latency_ms REAL,
            finish_reason TEXT,
            error TEXT,
            content TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX calls_by_run ON calls(run_id)")
    db.execute("CREATE INDEX runs_by_start ON runs(started_at)")


# Append only: each entry upgrades the schema by one version. Never edit a released step.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def db_path(paths: Paths) -> Path:
    return paths.data_dir / "history.db"


def open_db(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the history database."""
    ensure_dir(path.parent)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the history database {path}: {exc}") from exc
    return db


def migrate(db: sqlite3.Connection) -> int:
    """Apply the missing steps, each in its own transaction; safe when processes race."""
    while True:
        with transaction(db):
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(MIGRATIONS):
                return version
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    """A corrupt or locked database becomes a StorageError (one line at the CLI edge)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"cannot {what} the history database: {exc}") from exc


def _fold(text: str | None) -> str:
    return (text or "").casefold()


class History:
    """The history of one hive home. Every method is one short transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @classmethod
    def open(cls, paths: Paths) -> History:
        return cls(open_db(db_path(paths)))

    def close(self) -> None:
        self.db.close()

    def start_run(
        self, question: str, profile: str, simulated: bool, started: datetime | None = None
    ) -> int:
        with transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, question, profile, simulated, status)"
                " VALUES (?, ?, ?, ?, 'running')",
                (_iso(started or utc_now()), question, profile, int(simulated)),
            )
        return int(cursor.lastrowid or 0)

    def record_call(self, run_id: int, call: CallRecord) -> None:
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO calls (run_id, finished_at, stage, idx, attempt, model, model_used,"
                " provider, prompt_tokens, completion_tokens, cost, cost_estimated, ttft_ms,"
                " latency_ms, finish_reason, error, content)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, _iso(utc_now()), call.stage, call.index, call.attempt, call.model,
                    call.model_used, call.provider, call.prompt_tokens, call.completion_tokens,
                    None if call.cost is None else format(call.cost, "f"), int(call.cost_estimated),
                    call.ttft_ms, call.latency_ms, call.finish_reason, call.error, call.content,
                ),
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
    ) -> None:
        """Close a run; its totals are summed from the calls recorded, so they always agree."""
        with transaction(self.db):
            rows = self.db.execute(
                "SELECT cost, prompt_tokens, completion_tokens FROM calls WHERE run_id = ?",
                (run_id,),
            ).fetchall()
            cost = sum((Decimal(r["cost"]) for r in rows if r["cost"] is not None), Decimal(0))
            tokens = sum((r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0) for r in rows)
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, answer = ?, confidence = ?,"
                " error = ?, total_cost = ?, total_tokens = ?, duration_ms = ?, warnings = ?"
                " WHERE id = ?",
                (
                    _iso(utc_now()), status, answer, confidence, error, format(cost, "f"), tokens,
                    None if duration_ms is None else round(duration_ms),
                    json.dumps(warnings or []), run_id,
                ),
            )  # fmt: skip

    def spent_since(self, since: datetime) -> Decimal:
        """Real (not simulated) spending on calls finished since ``since``."""
        rows = self.db.execute(
            "SELECT c.cost FROM calls c JOIN runs r ON r.id = c.run_id"
            " WHERE r.simulated = 0 AND c.cost IS NOT NULL AND c.finished_at >= ?",
            (_iso(since),),
        ).fetchall()
        return sum((Decimal(r["cost"]) for r in rows), Decimal(0))

    def typical_completion(self, model: str, stage: str, *, simulated: bool = False) -> int | None:
        """Median completion tokens of this model's successful calls in this stage (recent 50),
        from real runs only (or simulated ones only, to estimate a simulated run)."""
        rows = self.db.execute(
            "SELECT c.completion_tokens FROM calls c JOIN runs r ON r.id = c.run_id"
            " WHERE c.model = ? AND c.stage = ? AND c.error IS NULL AND r.simulated = ?"
            " AND c.completion_tokens IS NOT NULL ORDER BY c.id DESC LIMIT 50",
            (model, stage, int(simulated)),
        ).fetchall()
        values = [int(r["completion_tokens"]) for r in rows]
        return round(statistics.median(values)) if values else None

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run with its calls, or None."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        calls = self.db.execute(
            "SELECT * FROM calls WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return {**run_dict(row), "calls": [call_dict(c) for c in calls]}

    def runs(self, limit: int | None = 20, search: str | None = None) -> list[dict[str, Any]]:
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
        with _storage_errors("read"):
            return [run_dict(row) for row in self.db.execute(sql, params).fetchall()]

    def delete_run(self, run_id: int) -> bool:
        """Delete one run; its calls go with it (ON DELETE CASCADE)."""
        with _storage_errors("write"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return cursor.rowcount > 0

    def delete_before(self, moment: datetime) -> int:
        """Delete every run started before ``moment`` (an aware datetime); how many went."""
        with _storage_errors("write"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE started_at < ?", (_iso(moment),))
        return max(cursor.rowcount, 0)

    def export_rows(self) -> list[dict[str, Any]]:
        """Every run, oldest first, each with its calls in order: one consistent snapshot."""
        with _storage_errors("read"):
            self.db.execute("BEGIN")
            try:
                runs = self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()
                calls = self.db.execute("SELECT * FROM calls ORDER BY run_id, id").fetchall()
            finally:
                self.db.execute("COMMIT")
        by_run: dict[int, list[dict[str, Any]]] = {}
        for call in calls:
            by_run.setdefault(int(call["run_id"]), []).append(call_dict(call))
        return [{**run_dict(row), "calls": by_run.get(int(row["id"]), [])} for row in runs]


def model_stats(paths: Paths, model_id: str) -> dict[str, Any] | None:
    """hive's own figures for a model, from real (not simulated) calls that asked for it or
    were served by it; None when there are none. Never creates a history database."""
    path = db_path(paths)
    if not path.exists():
        return None
    history = History.open(paths)
    try:
        with _storage_errors("read"):
            rows = history.db.execute(
                "SELECT c.error, c.latency_ms, c.ttft_ms, c.cost FROM calls c"
                " JOIN runs r ON r.id = c.run_id"
                " WHERE r.simulated = 0 AND (c.model = ? OR c.model_used = ?)",
                (model_id, model_id),
            ).fetchall()
    finally:
        history.close()
    if not rows:
        return None
    ok = [r for r in rows if r["error"] is None]
    latencies = [float(r["latency_ms"]) for r in ok if r["latency_ms"] is not None]
    ttfts = [float(r["ttft_ms"]) for r in ok if r["ttft_ms"] is not None]
    return {
        "calls": len(rows),
        "ok": len(ok),
        "success_rate": len(ok) / len(rows),
        "median_latency_ms": statistics.median(latencies) if latencies else None,
        "median_ttft_ms": statistics.median(ttfts) if ttfts else None,
        "total_cost": sum((Decimal(r["cost"]) for r in rows if r["cost"] is not None), Decimal(0)),
    }


def run_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["simulated"] = bool(data["simulated"])
    data["total_cost"] = Decimal(data["total_cost"])
    data["warnings"] = json.loads(data["warnings"] or "[]")
    return data


def call_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["cost"] = _decimal(data["cost"])
    data["cost_estimated"] = bool(data["cost_estimated"])
    return data
