"""Tests of run history: the SQLite schema and its migrations, exact costs as recorded from a
real (loopback) OpenRouter stream, what survives Ctrl-C and twenty concurrent runs, and the
``hive history`` commands (list, show, export, delete) plus ``model_stats``.

Everything goes through real code paths: ``CliRunner`` in-process, ``python -m hive`` where a
real process matters (signals, concurrency). Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive.consensus.events import CallRecord
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
from hive.money import dollars
from hive.openrouter.catalog import builtin_prices
from hive.openrouter.simulator import sse_events
from hive.store.history import History, model_stats
from hive.store.paths import resolve_paths
from hive.store.rows import ModelStats
from hive.store.schema import MIGRATIONS, db_path, migrate, open_db
from tests.conftest import FAKE_KEY, fixture_path
from tests.helpers import hive, interrupt, outcomes, reaped, start, start_hive, wait_until
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and modes")


SPEED = BUILTIN_PROFILES["speed"]
SPEED_GENERATOR = SPEED.generate.models[0]
SPEED_REFINER = SPEED.refine.models[0]

CALL_COLUMNS = {
    "id", "run_id", "finished_at", "stage", "idx", "attempt", "model", "model_used",
    "provider", "prompt_tokens", "completion_tokens", "cost", "cost_estimated", "ttft_ms",
    "latency_ms", "finish_reason", "error", "content", "accepted", "cached_tokens",
    "cache_write_tokens", "cache_discount", "reasoning_tokens", "generation_id", "web_searches",
    "sources",
}  # fmt: skip
RUN_COLUMNS = {
    "id", "started_at", "finished_at", "question", "profile", "answer", "simulated",
    "confidence", "status", "error", "total_cost", "total_tokens", "duration_ms", "warnings",
    "unknown_cost_calls", "unreported_token_calls", "pid", "host", "consensus", "issues",
    "rounds", "parent_id", "system", "panel", "logged",
}  # fmt: skip


# --- helpers -----------------------------------------------------------------------------------


def billed(body: dict[str, Any]) -> tuple[str, str | None]:
    """What the loopback server streamed for one request: the text, and ``usage.cost`` exactly
    as the literal it wrote on the wire (numbers kept as their source text)."""
    text: list[str] = []
    cost: str | None = None
    for event in sse_events(body):
        line = event.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line.removeprefix("data: "), parse_float=str, parse_int=str)
        for choice in chunk.get("choices", []):
            text.append(choice.get("delta", {}).get("content") or "")
        if "usage" in chunk:
            cost = chunk["usage"].get("cost")
    return "".join(text), cost


def billed_total(requests: list[RecordedRequest]) -> Decimal:
    return sum((Decimal(c) for r in requests if (c := billed(r.body)[1]) is not None), Decimal(0))


@pytest.fixture
def history() -> Iterator[History]:
    opened = History.open(resolve_paths())
    try:
        yield opened
    finally:
        opened.close()


def raw(sql: str, *params: object) -> list[sqlite3.Row]:
    """Rows straight from the database file, as stored (costs are their exact text)."""
    db = sqlite3.connect(db_path(resolve_paths()), timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def record(
    stage: str,
    model: str,
    *,
    index: int = 0,
    cost: str | None = "0.0001",
    content: str = "",
    error: str | None = None,
    model_used: str | None = "",
    latency_ms: float = 1000.0,
    ttft_ms: float | None = 100.0,
    cost_estimated: bool = False,
    attempt: int = 1,
    prompt_tokens: int | None = 100,
    completion_tokens: int | None = 50,
) -> CallRecord:
    return CallRecord(
        stage=stage,
        index=index,
        model=model,
        model_used=model if model_used == "" else model_used,
        provider=None if error else "TestProvider",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=None if cost is None else Decimal(cost),
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        finish_reason=None if error else "stop",
        content=content or f"{stage} {index} output from {model}\nsecond line of {stage}",
        error=error,
        cost_estimated=cost_estimated,
        attempt=attempt,
    )


def local(text: str) -> datetime:
    """A local wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).astimezone()


@pytest.fixture
def seeded(history: History) -> dict[str, int]:
    """Three hand-made runs: real ok (five calls, one estimated, one failed retry), simulated
    ok, and real failed with no calls at all."""
    magnets = history.start_run(
        "How do magnets work?\nExplain it simply.", "balanced", False, local("2024-01-10T12:00")
    )
    for call in [
        record("generate", "openai/gpt-5.4-mini", cost="0.000123", content="draft one"),
        record(
            "generate", "google/gemini-3-flash-preview", index=1, cost=None, content="half a dr",
            error="Provider returned error (in-stream error 502)", attempt=2, ttft_ms=None,
        ),
        record("refine", "anthropic/claude-sonnet-4.6", cost="0.0012345678",
               model_used="anthropic/claude-4.6-sonnet-20260101", content="refined text"),
        record("validate", "deepseek/deepseek-v4-pro", cost="0.00002", cost_estimated=True,
               content='looks right <verdict>{"confidence": 0.9}</verdict>'),
        record("curate", "anthropic/claude-haiku-4.5", cost="0.0004", content="Magnets align."),
    ]:  # fmt: skip
        history.record_call(magnets, call)
    history.finish_run(
        magnets, "ok", answer="Magnets align their DOMAINS.", confidence=0.9, duration_ms=4321.0,
        warnings=["dropped a draft: generate stage failed"],
    )  # fmt: skip

    street = history.start_run("Über Straße?", "speed", True, local("2024-03-01T05:00"))
    for stage in STAGES:
        history.record_call(street, record(stage, SPEED.stage(stage).models[0], cost="0.0005"))
    history.finish_run(street, "ok", answer="Eine Straße.", confidence=0.5, duration_ms=10.0)

    broken = history.start_run("What went wrong?", "quality", False, local("2024-05-01T09:30"))
    history.finish_run(broken, "failed", error="generate stage failed (x/y): boom")
    return {"magnets": magnets, "street": street, "broken": broken}


@pytest.fixture
def auckland() -> Iterator[None]:
    """Local time is UTC+13 (a POSIX TZ string: no tz database needed), so local and UTC dates
    differ for half the day."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "NZD-13"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


# --- schema and migrations ------------------------------------------------------------------


def test_migrate_an_empty_database_to_the_latest_version(tmp_path: Path) -> None:
    db = open_db(tmp_path / "h.db")
    try:
        assert user_version(db) == len(MIGRATIONS)
        names = {name for _, name, _ in schema(db)}
        assert {"runs", "calls", "decisions"} <= names
        assert {r[1] for r in db.execute("PRAGMA table_info(runs)")} == RUN_COLUMNS
        assert {r[1] for r in db.execute("PRAGMA table_info(calls)")} == CALL_COLUMNS
    finally:
        db.close()


@pytest.mark.parametrize("version", range(len(MIGRATIONS)))
def test_migrate_from_every_earlier_version(tmp_path: Path, version: int) -> None:
    fresh = open_db(tmp_path / "fresh.db")
    latest = schema(fresh)
    fresh.close()

    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        step(old)
    old.execute(f"PRAGMA user_version = {version}")
    old.close()

    db = open_db(path)
    try:
        assert user_version(db) == len(MIGRATIONS)
        assert schema(db) == latest
    finally:
        db.close()


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    db = open_db(tmp_path / "h.db")
    try:
        history = History(db)
        run_id = history.start_run("q", "speed", False)
        history.record_call(run_id, record("generate", "a/b", cost="0.5"))
        before = schema(db)
        assert migrate(db) == len(MIGRATIONS)
        assert migrate(db) == len(MIGRATIONS)
        assert schema(db) == before
        assert user_version(db) == len(MIGRATIONS)
        run = history.run(run_id)
        assert run is not None and run.calls[0].cost == Decimal("0.5")
    finally:
        db.close()
    reopened = open_db(tmp_path / "h.db")  # opening again migrates again: still nothing to do
    try:
        assert schema(reopened) == before
    finally:
        reopened.close()


def test_json_rows_keep_the_tables_column_order(history: History) -> None:
    """``--json`` has always shown a run and a call as every column, in the table's order (the
    typed rows list them by hand): a new column must be added to ``as_json`` too."""

    def columns(table: str) -> list[str]:
        return [r[1] for r in history.db.execute(f"PRAGMA table_info({table})")]

    run_id = history.start_run("q", "speed", False)
    history.record_call(run_id, record("generate", "a/b", cost="0.5"))
    history.finish_run(run_id, "ok", answer="a")
    run = history.run(run_id)
    assert run is not None
    assert list(run.as_json()) == [*columns("runs"), "files", "conversation", "decisions", "calls"]
    assert list(run.calls[0].as_json()) == [*columns("calls"), "billable"]
    [exported] = history.export_rows()
    assert list(exported.as_json()) == [*columns("runs"), "files", "decisions", "calls"]
    [summary] = history.runs()
    assert list(summary.as_json()) == columns("runs")


def test_wal_mode_and_foreign_keys(tmp_path: Path) -> None:
    db = open_db(tmp_path / "h.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()


CONCURRENT_OPEN = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import hive.store.schema as h

    db_file, log, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def logged(index, step):
        def apply(db):
            with open(log, "a") as out:
                out.write(f"{index} {os.getpid()}\\n")
            step(db)
        return apply

    h.MIGRATIONS[:] = [logged(i, step) for i, step in enumerate(h.MIGRATIONS)]
    for _ in range(600):  # bounded: all start together once the go file appears
        if go.exists():
            break
        time.sleep(0.01)
    db = h.open_db(db_file)
    print(db.execute("PRAGMA user_version").fetchone()[0])
    db.close()
    """
)


@pytest.mark.slow
def test_eight_processes_open_a_fresh_database_at_once(tmp_path: Path) -> None:
    db_file, log, go = tmp_path / "h.db", tmp_path / "applied.log", tmp_path / "go"
    procs = [
        start([sys.executable, "-c", CONCURRENT_OPEN, str(db_file), str(log), str(go)])
        for _ in range(8)
    ]
    go.touch()

    for out, err, code in outcomes(procs):
        assert code == 0, err
        assert out.strip() == str(len(MIGRATIONS))
    applied = log.read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in applied) == list(range(len(MIGRATIONS)))
    db = open_db(db_file)
    try:
        assert user_version(db) == len(MIGRATIONS)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


# --- exact costs, from the wire to the database -----------------------------------------------


def test_each_recorded_cost_is_exactly_what_the_server_billed(
    keyed_env: LoopbackOpenRouter,
) -> None:
    result = hive("consensus", "What is Rust?", "balanced", "--json", "--fixed")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout, parse_float=Decimal)

    requests = keyed_env.chat_requests()
    assert len(requests) == 6
    calls = raw("SELECT * FROM calls WHERE run_id = ? ORDER BY id", data["run_id"])
    assert len(calls) == len(requests)
    by_model = {r.body["model"]: billed(r.body) for r in requests}
    assert len(by_model) == len(requests)  # every model once: a call is found by its model
    for call in calls:
        text, cost = by_model[call["model"]]
        assert cost is not None
        assert call["cost"] == cost  # the literal on the wire, to the last digit
        assert call["cost_estimated"] == 0
        assert call["content"] == text

    (run,) = raw("SELECT * FROM runs WHERE id = ?", data["run_id"])
    assert run["status"] == "ok"
    total = sum((Decimal(c["cost"]) for c in calls), Decimal(0))
    assert run["total_cost"] == str(total)
    assert total == billed_total(requests)
    assert Decimal(data["total_cost"]) == total
    assert run["total_tokens"] == data["total_tokens"]


def sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()


def chunk(model: str, content: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {"role": "assistant", "content": content or ""}
    return {
        "id": "gen-test-1",
        "object": "chat.completion.chunk",
        "created": 1786465029,
        "model": model,
        "provider": "Upstream",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        **extra,
    }


def test_a_failed_call_keeps_its_error_cost_and_partial_text(
    keyed_env: LoopbackOpenRouter,
) -> None:
    usage = {"prompt_tokens": 321, "completion_tokens": 7, "total_tokens": 328}
    events = [
        b": OPENROUTER PROCESSING\n\n",
        sse(chunk(SPEED_REFINER, "Partial refined")),
        sse(chunk(SPEED_REFINER, " answer")),
        # json.dumps would write a float; the literal goes on the wire as OpenRouter writes it.
        sse(
            chunk(
                SPEED_REFINER,
                error={"code": 502, "message": "Upstream exploded"},
                usage=usage,
            )
        ).replace(b'"total_tokens":328', b'"total_tokens":328,"cost":0.000123'),
        b"data: [DONE]\n\n",
    ]
    keyed_env.fail(SPEED_REFINER, Fault(events=events))

    result = hive("consensus", "What is Rust?", "speed", "--json")

    # The broken stream is retried and the second try answers: the run succeeds, and history
    # keeps both tries of the refine, the failed one with what it was billed.
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["degraded"] is False
    (run,) = raw("SELECT * FROM runs")
    assert run["status"] == "ok" and run["error"] is None
    assert "retrying" in run["warnings"] and "Upstream exploded" in run["warnings"]
    calls = raw("SELECT * FROM calls WHERE run_id = ? ORDER BY id", run["id"])
    assert [(c["stage"], c["attempt"]) for c in calls] == [
        ("generate", 1), ("refine", 1), ("refine", 2), ("validate", 1), ("curate", 1)
    ]  # fmt: skip
    generate, refine, retried, *_ = calls
    requests = keyed_env.chat_requests()
    assert [r.body["model"] for r in requests[1:3]] == [SPEED_REFINER, SPEED_REFINER]
    assert generate["error"] is None
    assert generate["cost"] == billed(requests[0].body)[1]
    assert refine["model"] == SPEED_REFINER
    assert "Upstream exploded" in refine["error"]
    assert refine["cost"] == "0.000123"
    assert refine["content"] == "Partial refined answer"
    assert (refine["prompt_tokens"], refine["completion_tokens"]) == (321, 7)
    assert retried["model"] == SPEED_REFINER and retried["error"] is None
    assert retried["content"] == billed(requests[2].body)[0]
    assert retried["cost"] == billed(requests[2].body)[1]
    others = [r for i, r in enumerate(requests) if i != 1]  # all but the scripted stream
    assert Decimal(run["total_cost"]) == billed_total(others) + Decimal("0.000123")
    assert run["total_tokens"] == sum(c["prompt_tokens"] + c["completion_tokens"] for c in calls)


def test_a_call_without_a_reported_cost_is_priced_and_marked_estimated(
    keyed_env: LoopbackOpenRouter,
) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 250, "total_tokens": 1250}  # no cost
    events = [
        sse(chunk(SPEED_REFINER, "A refined answer.")),
        sse(chunk(SPEED_REFINER, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])),
        sse(chunk(SPEED_REFINER, choices=[], usage=usage)),
        b"data: [DONE]\n\n",
    ]
    keyed_env.fail(SPEED_REFINER, Fault(events=events))

    ran = hive("consensus", "What is Rust?", "speed", "--json")

    assert ran.exit_code == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    (refine,) = raw("SELECT * FROM calls WHERE stage = 'refine'")
    assert refine["cost_estimated"] == 1
    price = builtin_prices()[SPEED_REFINER]  # what the loopback's /models lists for it
    assert Decimal(refine["cost"]) == price.cost(1000, 250)
    others = raw("SELECT cost FROM calls WHERE stage != 'refine'")
    (run,) = raw("SELECT total_cost FROM runs")
    assert Decimal(run["total_cost"]) == price.cost(1000, 250) + sum(
        Decimal(c["cost"]) for c in others
    )

    shown = hive("history", "show", str(run_id))
    refine_section = shown.stdout.split("── refine", 1)[1].split("── validate", 1)[0]
    assert f"{dollars(price.cost(1000, 250))} (estimated)" in refine_section
    assert shown.stdout.count("(estimated)") == 1
    (exported,) = [json.loads(line) for line in hive("history", "export").stdout.splitlines()]
    flags = {c["stage"]: c["cost_estimated"] for c in exported["calls"]}
    assert flags == {"generate": False, "refine": True, "validate": False, "curate": False}


def test_a_captured_mid_stream_error_is_recorded(keyed_env: LoopbackOpenRouter) -> None:
    captured = fixture_path("stream_chat_midstream_error.txt").read_bytes()
    events = [part + b"\n\n" for part in captured.split(b"\n\n") if part.strip()]
    keyed_env.fail(SPEED_REFINER, Fault(events=events))

    result = hive("consensus", "Hello", "speed", "--quiet")

    # The in-stream error is retried, and the second try answers.
    assert result.exit_code == 0, result.stderr
    (run,) = raw("SELECT * FROM runs")
    assert run["status"] == "ok"
    refine, retried = raw("SELECT * FROM calls WHERE stage = 'refine' ORDER BY id")
    assert (refine["attempt"], retried["attempt"]) == (1, 2)
    assert "Token limit reached" in refine["error"]
    assert refine["provider"] == "Minimax"
    assert refine["cost"] == "0"  # the capture reports a (free) cost of 0: recorded, not unknown
    assert (refine["prompt_tokens"], refine["completion_tokens"]) == (43, 10)
    assert refine["content"] == ""  # only reasoning was streamed
    assert retried["error"] is None and retried["content"]


# --- Ctrl-C --------------------------------------------------------------------------------------


@pytest.mark.slow
@POSIX_ONLY
def test_ctrl_c_keeps_paid_calls_and_marks_the_run_interrupted(
    keyed_env: LoopbackOpenRouter,
) -> None:
    keyed_env.fail(SPEED_REFINER, Fault(hang=True))
    path = db_path(resolve_paths())
    proc = start_hive("consensus", "What is Rust?", "speed")
    with reaped(proc):
        # Start-up, the generator and the refine request: until the generator's call is kept.
        recorded = wait_until(
            lambda: (
                len(keyed_env.chat_requests()) >= 2
                and path.exists()
                and len(raw("SELECT id FROM calls"))
            ),
            proc,
        )
        assert proc.poll() is None, proc.communicate()
        assert recorded == 1, "the generator's call never reached history"
        out, err = interrupt(proc)

    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (run,) = raw("SELECT * FROM runs")
    assert run["status"] == "interrupted"
    assert run["finished_at"] is not None
    # The generator's paid answer; then the refine call cut off while it waited (recorded too,
    # with nothing streamed and so nothing billed).
    call, cut = raw("SELECT * FROM calls ORDER BY id")
    assert cut["stage"] == "refine" and cut["error"].startswith("cancelled")
    assert cut["cost"] is None and cut["content"] == ""
    assert call["stage"] == "generate" and call["model"] == SPEED_GENERATOR
    assert call["cost"] == billed(keyed_env.chat_requests()[0].body)[1]
    assert run["total_cost"] == call["cost"]
    assert FAKE_KEY not in out + err


# --- many hive processes at once ------------------------------------------------------------


@pytest.mark.slow
def test_twenty_concurrent_runs_record_everything_exactly(keyed_env: LoopbackOpenRouter) -> None:
    ended = outcomes([start_hive("consensus", f"q {n}", "speed", "--json") for n in range(20)])

    for _, err, code in ended:
        assert code == 0, err
    outputs = [json.loads(out, parse_float=Decimal) for out, _, _ in ended]
    assert sorted(o["question"] for o in outputs) == sorted(f"q {n}" for n in range(20))

    runs = raw("SELECT * FROM runs")
    assert len(runs) == 20
    assert {r["status"] for r in runs} == {"ok"}
    assert {r["id"] for r in runs} == {o["run_id"] for o in outputs}
    counts = raw("SELECT run_id, count(*) AS n FROM calls GROUP BY run_id")
    assert {r["n"] for r in counts} == {4} and len(counts) == 20
    assert raw("PRAGMA integrity_check")[0][0] == "ok"

    requests = keyed_env.chat_requests()
    assert len(requests) == 80
    recorded = sum((Decimal(c["cost"]) for c in raw("SELECT cost FROM calls")), Decimal(0))
    assert recorded == billed_total(requests)
    assert sum((Decimal(r["total_cost"]) for r in runs), Decimal(0)) == recorded
    for output in outputs:
        (run,) = [r for r in runs if r["id"] == output["run_id"]]
        assert run["total_cost"] == output["total_cost"]  # the same exact text in both


# --- hive history list ------------------------------------------------------------------------


def test_list_shows_runs_newest_first(seeded: dict[str, int]) -> None:
    result = hive("history", "list")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "when", "profile", "status", "cost", "tokens", "question"]
    rows = [line.split() for line in lines[1:]]
    assert [int(row[0]) for row in rows] == [
        seeded["broken"], seeded["street"], seeded["magnets"]
    ]  # fmt: skip
    magnets = lines[3]
    assert "2024-01-10 12:00" in magnets  # local time, as started
    assert "balanced" in magnets and " ok " in magnets
    # One failed attempt streamed half a draft and reported no cost: it may have been billed,
    # so the total is marked incomplete rather than summed as if that attempt were free.
    assert dollars(Decimal("0.0017775678")) + "+?" in magnets and "(sim)" not in magnets
    assert "How do magnets work? …" in magnets  # the first line, marked as continuing
    assert "Explain it simply" not in result.stdout
    street = lines[2]
    assert "$0.002000 (sim)" in street  # simulated costs are marked
    assert "Über Straße?" in street
    assert "failed" in lines[1] and "$0 " in lines[1]


def test_list_truncates_a_long_question_to_one_line(history: History) -> None:
    run_id = history.start_run("why " * 100, "speed", False)
    history.finish_run(run_id, "ok", answer="because")

    result = hive("history", "list")

    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 2
    assert "…" in result.stdout
    assert all(len(line) <= 100 for line in result.stdout.splitlines())


def test_list_json(seeded: dict[str, int]) -> None:
    result = hive("history", "list", "--json")

    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["id"] for r in runs] == [seeded["broken"], seeded["street"], seeded["magnets"]]
    stored = {r["id"]: r for r in raw("SELECT * FROM runs")}
    for run in runs:
        assert set(run) == RUN_COLUMNS
        assert run["total_cost"] == stored[run["id"]]["total_cost"]  # exact, as text
        assert run["simulated"] is bool(stored[run["id"]]["simulated"])
    assert runs[0]["total_cost"] == "0" and runs[0]["status"] == "failed"
    assert runs[2]["total_cost"] == "0.0017775678"


def test_list_limit_and_search(seeded: dict[str, int]) -> None:
    def ids(*args: str) -> list[int]:
        result = hive("history", "list", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids("--limit", "2") == [seeded["broken"], seeded["street"]]
    assert ids("--limit", "1") == [seeded["broken"]]
    assert ids("--search", "MAGNETS") == [seeded["magnets"]]  # in the question, any case
    assert ids("--search", "domains") == [seeded["magnets"]]  # in the answer
    assert ids("--search", "über straße") == [seeded["street"]]  # not only ASCII
    assert ids("--search", "STRASSE") == [seeded["street"]]  # full case folding: ß is ss
    assert ids("--search", "w") == [seeded["broken"], seeded["magnets"]]
    assert ids("--search", "w", "--limit", "1") == [seeded["broken"]]
    assert ids("--search", "100%") == []  # no LIKE wildcards
    assert hive("history", "list", "--limit", "0").exit_code == 2

    nothing = hive("history", "list", "--search", "zebra")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "no runs match" in nothing.stderr


def test_list_of_an_empty_history() -> None:
    result = hive("history", "list")
    assert result.exit_code == 0
    assert result.stdout == "" and "no runs recorded yet" in result.stderr
    assert json.loads(hive("history", "list", "--json").stdout) == []


def test_simulated_runs_are_marked() -> None:
    result = hive("consensus", "What is Rust?", "speed", "--simulate", "--quiet")
    assert result.exit_code == 0, result.stderr

    table = hive("history", "list")
    assert "(sim)" in table.stdout
    (run,) = json.loads(hive("history", "list", "--json").stdout)
    assert run["simulated"] is True and run["status"] == "ok"
    shown = hive("history", "show", str(run["id"]))
    assert "(simulated)" in shown.stdout.splitlines()[0]


# --- hive history show ----------------------------------------------------------------------


def test_show_replays_a_real_run(keyed_env: LoopbackOpenRouter) -> None:
    ran = hive("consensus", "What is Rust?", "balanced", "--json")
    assert ran.exit_code == 0, ran.stderr
    data = json.loads(ran.stdout, parse_float=Decimal)

    result = hive("history", "show", str(data["run_id"]))

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"run #{data['run_id']} · ok · profile balanced\n")
    assert "── question\nWhat is Rust?\n" in out
    assert "(simulated)" not in out
    position = 0
    for stage in data["stages"]:  # every call's full output, in the order the calls finished
        header = f"── {stage['stage']}"
        position = out.index(header, position)
        assert stage["model"] in out[position : out.index("\n", position)]
        position = out.index(stage["content"], position)
    answer_at = out.index("── answer\n" + data["answer"] + "\n")
    assert answer_at > position
    for request in keyed_env.chat_requests():
        assert billed(request.body)[0] in out
    total = sum((Decimal(s["cost"]) for s in data["stages"]), Decimal(0))
    assert dollars(total) in out.splitlines()[2]


def test_show_prints_every_detail_of_every_call(seeded: dict[str, int]) -> None:
    result = hive("history", "show", str(seeded["magnets"]))

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "How do magnets work?\nExplain it simply.\n" in out
    assert "confidence 0.90" in out and "4.3s" in out and "750 tokens" in out
    assert "warning: dropped a draft: generate stage failed" in out
    assert "started 2024-01-10 12:00:00" in out
    sections = out.split("\n── ")[2:]  # after the header and the question
    assert [s.split(" ", 1)[0] for s in sections] == [
        "generate", "generate", "refine", "validate", "curate", "answer\nMagnets"
    ]  # fmt: skip
    first, failed, refine, validate, _, answer = sections
    assert first.startswith("generate #1 · openai/gpt-5.4-mini · provider TestProvider")
    assert "tokens 100 in, 50 out · $0.000123 · ttft 100 ms · latency 1,000 ms" in first
    assert "finish stop" in first and "draft one" in first
    assert failed.startswith("generate #2 · google/gemini-3-flash-preview")
    assert "attempt 2" in failed and "$?" in failed and "ttft -" in failed
    assert "error: Provider returned error (in-stream error 502)" in failed
    assert "half a dr" in failed  # the partial output, kept
    assert "anthropic/claude-sonnet-4.6 → anthropic/claude-4.6-sonnet-20260101" in refine
    assert "$0.001235 · " in refine
    assert "$0.000020 (estimated)" in validate
    assert "<verdict>" in validate  # the full output, verbatim
    assert answer == "answer\nMagnets align their DOMAINS.\n"


def test_show_a_failed_run_without_calls(seeded: dict[str, int]) -> None:
    result = hive("history", "show", str(seeded["broken"]))
    assert result.exit_code == 0
    assert "failed" in result.stdout.splitlines()[0]
    assert "error: generate stage failed (x/y): boom" in result.stdout
    assert result.stdout.endswith("── answer\n(no answer)\n")


def test_show_json_has_every_field(seeded: dict[str, int]) -> None:
    result = hive("history", "show", str(seeded["magnets"]), "--json")

    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert set(run) == RUN_COLUMNS | {"calls", "decisions", "files", "conversation"}
    assert run["total_cost"] == "0.0017775678"
    assert run["warnings"] == ["dropped a draft: generate stage failed"]
    stored = raw("SELECT * FROM calls WHERE run_id = ? ORDER BY id", seeded["magnets"])
    assert [c["id"] for c in run["calls"]] == [c["id"] for c in stored]
    for call, row in zip(run["calls"], stored, strict=True):
        assert set(call) == CALL_COLUMNS | {"billable"}  # billable: derived, for readers
        assert call["cost"] == row["cost"]  # exact text or null, never a float
        assert call["cost_estimated"] is bool(row["cost_estimated"])
        for name in CALL_COLUMNS - {"cost", "cost_estimated", "sources"}:
            assert call[name] == row[name], name
        # Cited pages: the stored JSON list, decoded ([] for a call that cited none).
        assert call["sources"] == json.loads(row["sources"] or "[]")
    assert [c["cost_estimated"] for c in run["calls"]] == [False, False, False, True, False]
    assert run["calls"][1]["cost"] is None and run["calls"][1]["attempt"] == 2


def test_show_unknown_run_exits_2() -> None:
    for args in (["999"], ["999", "--json"]):
        result = hive("history", "show", *args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == "hive: error: no run #999 in history (see `hive history list`)\n"
    assert hive("history", "show", "abc").exit_code == 2


# --- hive history export ----------------------------------------------------------------------


def test_export_jsonl(seeded: dict[str, int]) -> None:
    result = hive("history", "export", "--format", "jsonl")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    runs = [json.loads(line) for line in lines]
    assert [r["id"] for r in runs] == [seeded["magnets"], seeded["street"], seeded["broken"]]
    stored_runs = {r["id"]: r for r in raw("SELECT * FROM runs")}
    stored_calls = raw("SELECT * FROM calls ORDER BY id")
    for run in runs:
        assert set(run) == RUN_COLUMNS | {"calls", "decisions", "files"}
        assert run["total_cost"] == stored_runs[run["id"]]["total_cost"]
        mine = [c for c in stored_calls if c["run_id"] == run["id"]]
        assert [c["id"] for c in run["calls"]] == [c["id"] for c in mine]
        for call, row in zip(run["calls"], mine, strict=True):
            assert call["cost"] == row["cost"]
            assert call["content"] == row["content"]
    assert runs[2]["calls"] == []
    assert hive("history", "export").stdout == result.stdout  # jsonl is the default


def test_export_csv(seeded: dict[str, int]) -> None:
    result = hive("history", "export", "--format", "csv")

    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    stored = raw("SELECT * FROM calls ORDER BY id")
    assert len(rows) == len(stored) + 1  # one per call, and one for the run without calls
    by_call = {row["call_id"]: row for row in rows if row["call_id"]}
    assert set(by_call) == {str(c["id"]) for c in stored}
    runs = {r["id"]: r for r in raw("SELECT * FROM runs")}
    for call in stored:
        row = by_call[str(call["id"])]
        run = runs[call["run_id"]]
        assert row["run_id"] == str(run["id"])
        assert row["started_at"] == run["started_at"]
        assert row["question"] == run["question"]  # newlines survive quoting
        assert row["profile"] == run["profile"] and row["status"] == run["status"]
        assert row["simulated"] == ("true" if run["simulated"] else "false")
        assert row["cost"] == (call["cost"] or "")  # exact text
        assert row["cost_estimated"] == ("true" if call["cost_estimated"] else "false")
        assert row["stage"] == call["stage"] and row["model"] == call["model"]
        assert row["content"] == call["content"]
        assert row["error"] == (call["error"] or "")
    (lonely,) = [row for row in rows if not row["call_id"]]
    assert lonely["run_id"] == str(seeded["broken"]) and lonely["status"] == "failed"


def test_export_costs_of_a_real_run_are_exact(keyed_env: LoopbackOpenRouter) -> None:
    assert hive("consensus", "What is Rust?", "speed", "--quiet").exit_code == 0
    literals = sorted(c for r in keyed_env.chat_requests() if (c := billed(r.body)[1]))

    jsonl = json.loads(hive("history", "export").stdout)
    assert sorted(c["cost"] for c in jsonl["calls"]) == literals
    rows = list(csv.DictReader(io.StringIO(hive("history", "export", "-f", "csv").stdout)))
    assert sorted(row["cost"] for row in rows) == literals


def test_tiny_costs_are_exported_in_plain_notation(history: History) -> None:
    run_id = history.start_run("q", "speed", False)
    history.record_call(run_id, record("generate", "a/b", cost="0.0000001"))
    history.finish_run(run_id, "ok", answer="a")

    (run,) = [json.loads(line) for line in hive("history", "export").stdout.splitlines()]
    assert run["calls"][0]["cost"] == "0.0000001"
    assert run["total_cost"] == "0.0000001"
    assert Decimal(run["total_cost"]) == Decimal(raw("SELECT total_cost FROM runs")[0][0])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_to_a_file(seeded: dict[str, int], tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "out" / f"history.{fmt}"
    target.parent.mkdir()
    to_stdout = hive("history", "export", "--format", fmt)

    result = hive("history", "export", "--format", fmt, "--output", str(target))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "exported 3 runs" in result.stderr
    assert target.read_text(encoding="utf-8") == to_stdout.stdout
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
    if sys.platform != "win32":
        assert target.stat().st_mode & 0o777 == 0o600


def test_export_rejects_an_unknown_format() -> None:
    assert hive("history", "export", "--format", "xml").exit_code == 2


# --- hive history delete ----------------------------------------------------------------------


def test_delete_one_run_and_its_calls(seeded: dict[str, int]) -> None:
    magnets = seeded["magnets"]
    assert len(raw("SELECT id FROM calls WHERE run_id = ?", magnets)) == 5

    result = hive("history", "delete", str(magnets))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "deleted 1 run\n"
    assert raw("SELECT id FROM calls WHERE run_id = ?", magnets) == []
    assert {r["id"] for r in raw("SELECT id FROM runs")} == {seeded["street"], seeded["broken"]}
    assert len(raw("SELECT id FROM calls")) == 4

    again = hive("history", "delete", str(magnets))
    assert again.exit_code == 2
    assert again.stderr == f"hive: error: no run #{magnets} in history (see `hive history list`)\n"


def test_delete_before_a_date(seeded: dict[str, int]) -> None:
    result = hive("history", "delete", "--before", "2024-03-01")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "deleted 1 run\n"
    assert {r["id"] for r in raw("SELECT id FROM runs")} == {seeded["street"], seeded["broken"]}
    assert {r["run_id"] for r in raw("SELECT run_id FROM calls")} == {seeded["street"]}

    assert hive("history", "delete", "--before", "2024-03-01").stdout == "deleted 0 runs\n"
    assert hive("history", "delete", "--before", "2030-01-01").stdout == "deleted 2 runs\n"
    assert raw("SELECT id FROM runs") == [] and raw("SELECT id FROM calls") == []


def test_delete_before_uses_the_local_date(auckland: None, history: History) -> None:
    # 05:00 on 1 March in UTC+13 is 16:00 on 29 February in UTC.
    early = history.start_run("early", "speed", False, local("2024-03-01T05:00"))
    history.start_run("eve", "speed", False, local("2024-02-29T23:59"))
    assert raw("SELECT started_at FROM runs WHERE id = ?", early)[0][0].startswith("2024-02-29T16")

    result = hive("history", "delete", "--before", "2024-03-01")

    assert result.stdout == "deleted 1 run\n"
    assert [r["id"] for r in raw("SELECT id FROM runs")] == [early]
    listed = hive("history", "list").stdout
    assert "2024-03-01 05:00" in listed  # shown in local time too


def test_delete_needs_an_id_or_a_date(seeded: dict[str, int]) -> None:
    for args in ([], [str(seeded["street"]), "--before", "2024-01-01"]):
        result = hive("history", "delete", *args)
        assert result.exit_code == 2
        assert result.stderr.startswith("hive: error: give a run ID or --before YYYY-MM-DD")
        assert len(result.stderr.splitlines()) == 1
    bad = hive("history", "delete", "--before", "March 1st")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr
    assert len(raw("SELECT id FROM runs")) == 3  # nothing was deleted


def test_history_help_lists_the_commands() -> None:
    result = hive("history", "--help")
    assert result.exit_code == 0
    for name in ("list", "show", "export", "delete"):
        assert name in result.stdout


# --- model_stats (hive models show) -----------------------------------------------------------


def test_model_stats_from_a_hand_made_history(history: History) -> None:
    model = "openai/gpt-4.1-mini"
    real = history.start_run("q", "speed", False)
    for call in [
        record("generate", model, cost="0.001", latency_ms=100.0, ttft_ms=10.0),
        record("refine", model, cost="0.0025", latency_ms=300.0, ttft_ms=30.0),
        record("validate", model, cost="0.0000004", error="boom", latency_ms=9000.0,
               ttft_ms=None, model_used=None),
        # Asked for a router, served by the model: it counts.
        record("curate", "openrouter/auto", cost="0.0001", latency_ms=250.0, ttft_ms=20.0,
               model_used=model),
        record("curate", "other/model", cost="5", latency_ms=1.0),  # another model: ignored
    ]:  # fmt: skip
        history.record_call(real, call)
    history.finish_run(real, "failed")
    simulated = history.start_run("q", "speed", True)
    history.record_call(simulated, record("generate", model, cost="7", latency_ms=5.0))
    history.finish_run(simulated, "ok")

    stats = model_stats(resolve_paths(), model)

    assert stats == ModelStats(
        calls=4,
        ok=3,
        success_rate=0.75,
        median_latency_ms=250.0,
        median_ttft_ms=20.0,
        total_cost=Decimal("0.0036004"),
        unknown_cost_calls=0,
        estimated_cost_calls=0,
    )
    assert isinstance(stats.total_cost, Decimal)
    assert model_stats(resolve_paths(), "nobody/asked") is None
    assert model_stats(resolve_paths(), "openrouter/auto") is not None


def test_model_stats_without_a_history_creates_nothing() -> None:
    paths = resolve_paths()
    assert model_stats(paths, "openai/gpt-4.1-mini") is None
    assert not db_path(paths).exists()


def test_model_stats_ignores_simulated_runs() -> None:
    assert hive("consensus", "q", "speed", "--simulate", "--quiet").exit_code == 0
    assert model_stats(resolve_paths(), SPEED_REFINER) is None


def test_models_show_prints_hive_figures_after_a_real_run(keyed_env: LoopbackOpenRouter) -> None:
    assert hive("consensus", "What is Rust?", "speed", "--quiet").exit_code == 0
    (request,) = [r for r in keyed_env.chat_requests() if r.body["model"] == SPEED_REFINER]

    result = hive("models", "show", SPEED_REFINER, "--json")

    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)["hive_figures"]
    assert figures["calls"] == 1 and figures["ok"] == 1 and figures["success_rate"] == 1.0
    assert figures["total_cost"] == billed(request.body)[1]
    text = hive("models", "show", SPEED_REFINER)
    assert "hive's own figures" in text.stdout and "success_rate: 100%" in text.stdout


def test_an_unreadable_history_is_one_line_and_exit_1() -> None:
    path = db_path(resolve_paths())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, " * 100)
    for args in (["list"], ["show", "1"], ["export"], ["delete", "1"]):
        result = hive("history", *args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("hive: error: cannot open the history database")
        assert len(result.stderr.splitlines()) == 1
    assert path.read_bytes() == b"this is not a database, " * 100  # never overwritten
