"""Run and call history in SQLite (``history.db`` in the data folder).

WAL mode and a generous busy timeout let many ``hive`` processes write at once; every write is
its own short ``BEGIN IMMEDIATE`` transaction, made as each call finishes, so a run stopped by
Ctrl-C or a crash keeps everything it paid for. Costs are stored as decimal text and summed as
``Decimal``: SQLite's REAL would round them. The schema version lives in ``PRAGMA
user_version``; ``MIGRATIONS`` is the ordered list of steps from an empty database. A database
from a newer hive (a version this one does not know) is refused before anything is written to
it. Every SQLite failure (locked, full, read-only, corrupt) leaves as a ``StorageError`` naming
the file: one line at the CLI edge.

A run records the process that ran it (``pid``, ``host``); a run still ``running`` whose process
is gone from this host (SIGKILL, a power cut) reads back as ``abandoned``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hive.consensus.events import CallRecord, billable
from hive.errors import StorageError, UsageError
from hive.money import Total
from hive.store.files import ensure_dir
from hive.store.paths import Paths

if TYPE_CHECKING:
    from hive.consensus.adaptive import Decision

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


def billable_sql(table: str = "") -> str:
    """``CallRecord.billable`` as SQL over the ``calls`` table (named ``table`` in a join);
    ``tests/test_history.py`` checks it against the Python rule on every combination."""
    t = f"{table}." if table else ""
    return (
        f"({t}accepted = 1 OR {t}error IS NULL OR {t}content != '' OR {t}cost IS NOT NULL"
        f" OR {t}prompt_tokens IS NOT NULL OR {t}completion_tokens IS NOT NULL)"
    )


def _v2(db: sqlite3.Connection) -> None:
    """Unknown costs and unreported tokens are counted, not summed as zero; a call records
    whether the server accepted it (so may bill it); runs know their process, so one left
    ``running`` by a dead process can be told apart. Self-contained SQL: a released step
    never changes with the code around it."""
    db.execute("ALTER TABLE calls ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN unknown_cost_calls INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN unreported_token_calls INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN host TEXT")
    # Before v2 a call kept no such flag: one that answered, streamed text or reported usage
    # had been accepted.
    db.execute(
        "UPDATE calls SET accepted = 1 WHERE error IS NULL OR content != ''"
        " OR cost IS NOT NULL OR prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL"
    )
    db.execute(
        "UPDATE runs SET unknown_cost_calls = (SELECT COUNT(*) FROM calls"
        " WHERE calls.run_id = runs.id AND cost IS NULL AND accepted = 1),"
        " unreported_token_calls = (SELECT COUNT(*) FROM calls WHERE calls.run_id = runs.id"
        " AND prompt_tokens IS NULL AND completion_tokens IS NULL AND accepted = 1)"
    )
    # Runs an earlier hive left running, with no process to check, that started over a day
    # ago: no run lasts that long, so their process is gone.
    db.execute(
        "UPDATE runs SET status = 'abandoned' WHERE status = 'running'"
        " AND finished_at IS NULL AND started_at < ?",
        (_iso(utc_now() - timedelta(days=1)),),
    )


def _v3(db: sqlite3.Connection) -> None:
    """What the panel agreed on (the ``consensus`` object of ``--json``) and the validator's
    issues, so ``hive history show`` replays them."""
    db.execute("ALTER TABLE runs ADD COLUMN consensus TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN issues TEXT NOT NULL DEFAULT '[]'")


def _v4(db: sqlite3.Connection) -> None:
    """Adaptive decisions (a straggler cut, an escalation, a skipped stage, a round), one row
    each as it is made, and the rounds a run took (NULL for runs from before: unknown)."""
    db.execute(
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            made_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX decisions_by_run ON decisions(run_id)")
    db.execute("ALTER TABLE runs ADD COLUMN rounds INTEGER")


def _v5(db: sqlite3.Connection) -> None:
    """Context and conversations (issue 12): the run a run follows up (kept as NULL if that
    one is deleted), the user's instructions, the panel that actually ran (JSON; NULL for runs
    from before: unknown), whether the run was logged (``--no-log`` keeps no user text), the
    files attached, in order; and per call the prompt-caching figures the server reported
    (NULL: not reported)."""
    db.execute("ALTER TABLE calls ADD COLUMN cached_tokens INTEGER")
    db.execute("ALTER TABLE calls ADD COLUMN cache_write_tokens INTEGER")
    db.execute("ALTER TABLE calls ADD COLUMN cache_discount TEXT")
    db.execute(
        "ALTER TABLE runs ADD COLUMN parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL"
    )
    db.execute("ALTER TABLE runs ADD COLUMN system TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN panel TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN logged INTEGER NOT NULL DEFAULT 1")
    # Deleting a run sets its follow-ups' parent_id to NULL: without this index each deleted
    # run would scan the whole table for them.
    db.execute("CREATE INDEX runs_by_parent ON runs(parent_id)")
    db.execute(
        """
        CREATE TABLE run_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            text TEXT NOT NULL,
            bytes INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX run_files_by_run ON run_files(run_id)")


def _v6(db: sqlite3.Connection) -> None:
    """Reasoning (issue 13): per call, the completion tokens the model spent thinking, as the
    server reported them (NULL: not reported, or a call from before)."""
    db.execute("ALTER TABLE calls ADD COLUMN reasoning_tokens INTEGER")


def _v7(db: sqlite3.Connection) -> None:
    """OpenRouter's controls (issue 13): per call, the generation id (to check the bill with
    /generation), the web searches the server ran, and the pages cited (a JSON list of
    ``{"url", "title"}``; NULL for calls from before)."""
    db.execute("ALTER TABLE calls ADD COLUMN generation_id TEXT")
    db.execute("ALTER TABLE calls ADD COLUMN web_searches INTEGER")
    db.execute("ALTER TABLE calls ADD COLUMN sources TEXT")


# Append only: each entry upgrades the schema by one version. Never edit a released step.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def db_path(paths: Paths) -> Path:
    return paths.data_dir / "history.db"


def open_db(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the history database. One from a newer hive is
    refused before anything is written to it (not even the journal mode)."""
    ensure_dir(path.parent)
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _refuse_newer(db, path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db, path)
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise StorageError(f"cannot open the history database {path}: {exc}") from exc
    except StorageError:
        if db is not None:
            db.close()
        raise
    return db


def _refuse_newer(db: sqlite3.Connection, path: Path | None) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        where = f" {path}" if path else ""
        raise StorageError(
            f"the history database{where} was written by a newer hive (schema {version}; this "
            f"hive knows up to {len(MIGRATIONS)}): upgrade hive, or point HIVE_HOME elsewhere; "
            "it was left unchanged"
        )
    return version


def migrate(db: sqlite3.Connection, path: Path | None = None) -> int:
    """Apply the missing steps, each in its own transaction; safe when processes race."""
    while True:
        with transaction(db):
            version = _refuse_newer(db, path)
            if version == len(MIGRATIONS):
                return version
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite may have rolled back already (a full disk, an I/O error): the real error,
        # not a failed ROLLBACK, is what the user must see; an interrupt stays an interrupt.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


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


def error_kind(error: str | None) -> str | None:
    """What an unlogged run keeps of an error: its kind, up to the first ``:``. What follows
    may quote the server, and a server may quote the prompt."""
    return None if error is None else error.split(":", 1)[0]


class History:
    """The history of one hive home. Every method is one short transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, paths: Paths) -> History:
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
                (_iso(started or utc_now()), question if logged else "", profile, int(simulated),
                 os.getpid(), socket.gethostname(), parent_id, system if logged else None,
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
                    run_id, _iso(utc_now()), call.stage, call.index, call.attempt, call.model,
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
                (run_id, _iso(utc_now()), decision.kind, decision.message,
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
                    _iso(utc_now()), status, answer, confidence, error,
                    format(totals.cost.known, "f"), totals.tokens,
                    None if duration_ms is None else round(duration_ms),
                    json.dumps(warnings or []), totals.cost.unknown, totals.unreported,
                    None if consensus is None else json.dumps(consensus, ensure_ascii=False),
                    json.dumps(issues or [], ensure_ascii=False), rounds, run_id,
                ),
            )  # fmt: skip

    def _totals(self, run_id: int) -> RunTotals:
        """A run's totals, summed from its calls (``finish_run`` stores them; a run that never
        finished is summed when read, so it never shows a zero that only means "not yet")."""
        calls = self.db.execute("SELECT * FROM calls WHERE run_id = ?", (run_id,))
        return run_totals([call_dict(row) for row in calls])

    def _with_totals(self, run: dict[str, Any]) -> dict[str, Any]:
        if run["finished_at"] is not None:
            return run
        totals = self._totals(int(run["id"]))
        return {
            **run, "total_cost": totals.cost.known, "unknown_cost_calls": totals.cost.unknown,
            "total_tokens": totals.tokens, "unreported_token_calls": totals.unreported,
        }  # fmt: skip

    def spent_since(self, since: datetime) -> Decimal:
        """Real (not simulated) spending on calls finished since ``since`` (known costs)."""
        with self._errors("read"):
            rows = self.db.execute(
                "SELECT c.cost FROM calls c JOIN runs r ON r.id = c.run_id"
                " WHERE r.simulated = 0 AND c.cost IS NOT NULL AND c.finished_at >= ?",
                (_iso(since),),
            ).fetchall()
        return sum((Decimal(r["cost"]) for r in rows), Decimal(0))

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

    def run(self, run_id: int) -> dict[str, Any] | None:
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
            chain = [int(r["id"]) for r in self._chain(row)]
            run = self._with_totals(run_dict(row))
        return {
            **run,
            "files": [{"name": f["name"], "bytes": int(f["bytes"])} for f in files],
            "conversation": chain,
            "decisions": [decision_dict(d) for d in decisions],
            "calls": [call_dict(c) for c in calls],
        }

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

    def conversation(self, run_id: int) -> list[dict[str, Any]]:
        """The conversation ending at run ``run_id``, oldest turn first: each run's question,
        answer, instructions and files (``(name, text)`` in order), whether it was logged and
        its status. A run no one followed up is a conversation of one."""
        with self._errors("read"):
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run #{run_id} in history (see `hive history list`)")
            return [self._turn(r) for r in self._chain(row)]

    def _turn(self, row: sqlite3.Row) -> dict[str, Any]:
        files = self.db.execute(
            "SELECT name, text FROM run_files WHERE run_id = ? ORDER BY position", (row["id"],)
        ).fetchall()
        return {
            "id": int(row["id"]),
            "question": row["question"],
            "answer": row["answer"],
            "system": row["system"],
            "files": [(f["name"], f["text"]) for f in files],
            "logged": bool(row["logged"]),
            "status": _status(row),
        }

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
        with self._errors("read"):
            rows = self.db.execute(sql, params).fetchall()
            return [self._with_totals(run_dict(row)) for row in rows]

    def delete_run(self, run_id: int) -> bool:
        """Delete one run; its calls go with it (ON DELETE CASCADE)."""
        with self._errors("write to"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return cursor.rowcount > 0

    def delete_before(self, moment: datetime) -> int:
        """Delete every run started before ``moment`` (an aware datetime); how many went."""
        with self._errors("write to"), transaction(self.db):
            cursor = self.db.execute("DELETE FROM runs WHERE started_at < ?", (_iso(moment),))
        return max(cursor.rowcount, 0)

    def export_rows(self) -> list[dict[str, Any]]:
        """Every run, oldest first, each with its calls in order: one consistent snapshot."""
        with self._errors("read"):
            self.db.execute("BEGIN")
            try:
                runs = self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()
                calls = self.db.execute("SELECT * FROM calls ORDER BY run_id, id").fetchall()
                decisions = self.db.execute(
                    "SELECT * FROM decisions ORDER BY run_id, id"
                ).fetchall()
            finally:
                self.db.execute("COMMIT")
        by_run: dict[int, list[dict[str, Any]]] = {}
        for call in calls:
            by_run.setdefault(int(call["run_id"]), []).append(call_dict(call))
        decided: dict[int, list[dict[str, Any]]] = {}
        for decision in decisions:
            decided.setdefault(int(decision["run_id"]), []).append(decision_dict(decision))
        out = []
        for row in runs:
            calls_of_run = by_run.get(int(row["id"]), [])
            run = run_dict(row)
            if run["finished_at"] is None:
                totals = run_totals(calls_of_run)
                run = {**run, "total_cost": totals.cost.known,
                       "unknown_cost_calls": totals.cost.unknown, "total_tokens": totals.tokens,
                       "unreported_token_calls": totals.unreported}  # fmt: skip
            decisions_of_run = decided.get(int(row["id"]), [])
            out.append({**run, "decisions": decisions_of_run, "calls": calls_of_run})
        return out


def model_stats(paths: Paths, model_id: str) -> dict[str, Any] | None:
    """hive's own figures for a model, from real (not simulated) calls that asked for it or
    were served by it; None when there are none. Never creates a history database."""
    path = db_path(paths)
    if not path.exists():
        return None
    history = History.open(paths)
    try:
        with history._errors("read"):
            rows = history.db.execute(
                "SELECT c.* FROM calls c JOIN runs r ON r.id = c.run_id"
                " WHERE r.simulated = 0 AND (c.model = ? OR c.model_used = ?)",
                (model_id, model_id),
            ).fetchall()
    finally:
        history.close()
    if not rows:
        return None
    ok = [r for r in rows if r["error"] is None]
    cost = run_totals([call_dict(r) for r in rows]).cost
    latencies = [float(r["latency_ms"]) for r in ok if r["latency_ms"] is not None]
    ttfts = [float(r["ttft_ms"]) for r in ok if r["ttft_ms"] is not None]
    return {
        "calls": len(rows),
        "ok": len(ok),
        "success_rate": len(ok) / len(rows),
        "median_latency_ms": statistics.median(latencies) if latencies else None,
        "median_ttft_ms": statistics.median(ttfts) if ttfts else None,
        # Known costs (null when every billed call's cost is unknown), and how many are not.
        "total_cost": None if cost.unknown and not cost.known else cost.known,
        "unknown_cost_calls": cost.unknown,
        "estimated_cost_calls": sum(1 for r in rows if r["cost_estimated"]),
    }


@dataclass(frozen=True, slots=True)
class RunTotals:
    cost: Total  # known costs summed; billable calls of unknown cost counted
    tokens: int  # tokens the server reported
    unreported: int  # billable calls that reported no tokens


def run_totals(calls: list[dict[str, Any]]) -> RunTotals:
    billed = [c for c in calls if _billable(c)]
    reported = [t for c in billed if (t := _tokens(c)) is not None]
    cost = Total.of(c["cost"] for c in billed)
    return RunTotals(cost, sum(reported), len(billed) - len(reported))


def _billable(call: dict[str, Any]) -> bool:
    return billable(
        accepted=bool(call["accepted"]), error=call["error"], content=call["content"],
        cost=call["cost"], prompt_tokens=call["prompt_tokens"],
        completion_tokens=call["completion_tokens"],
    )  # fmt: skip


def _tokens(call: dict[str, Any]) -> int | None:
    if call["prompt_tokens"] is None and call["completion_tokens"] is None:
        return None
    return int(call["prompt_tokens"] or 0) + int(call["completion_tokens"] or 0)


def run_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["status"] = _status(row)
    data["simulated"] = bool(data["simulated"])
    data["total_cost"] = Decimal(data["total_cost"])
    data["warnings"] = json.loads(data["warnings"] or "[]")
    raw = data.get("consensus")
    data["consensus"] = json.loads(raw) if raw else None
    data["issues"] = json.loads(data.get("issues") or "[]")
    panel = data.get("panel")
    data["panel"] = json.loads(panel) if panel else None
    data["logged"] = bool(data.get("logged", 1))
    return data


def decision_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A decision as ``--json`` shows it: kind, message and the numbers it was made on."""
    return {"kind": row["kind"], "message": row["message"], **json.loads(row["data"] or "{}")}


def call_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["cost"] = _decimal(data["cost"])
    data["cache_discount"] = _decimal(data.get("cache_discount"))
    data["accepted"] = bool(data.get("accepted"))
    data["billable"] = _billable(data)
    data["cost_estimated"] = bool(data["cost_estimated"])
    data["sources"] = _sources(data.get("sources"))
    return data


def _sources(text: str | None) -> list[dict[str, str | None]]:
    """A call's cited pages from their JSON text ([] for none, or for text that is not the
    list hive wrote)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []
