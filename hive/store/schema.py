"""The history database's schema (``history.db`` in the data folder): opening, migrating, WAL.

WAL mode and a generous busy timeout let many ``hive`` processes write at once; every write is
its own short ``BEGIN IMMEDIATE`` transaction (``transaction``). The schema version lives in
``PRAGMA user_version``; ``MIGRATIONS`` is the ordered list of steps from an empty database. A
database from a newer hive (a version this one does not know) is refused before anything is
written to it. Failing to open one leaves as a ``StorageError`` naming the file: one line at
the CLI edge. The queries live in ``history.py``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
        (timestamp(utc_now() - timedelta(days=1)),),
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


def timestamp(moment: datetime) -> str:
    """A moment as the database keeps it: UTC, ISO text to the millisecond, so comparing the
    text is comparing the time. A naive ``moment`` is local time."""
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
