"""History for issue 12: schema v5 (what a run was given, conversations, ``--no-log``, prompt
caching), read back by ``History`` and shown by ``hive history show`` and ``hive cost``.

Real SQLite files in the test's HIVE_HOME; the CLI in-process through ``CliRunner``; the
caching figures from the real captured usage chunk, and end to end from a loopback server.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive.consensus.events import CallFailed, CallFinished, CallRecord
from hive.errors import UsageError
from hive.openrouter.chat import ChunkReducer
from hive.openrouter.sse import Event, SSEDecoder
from hive.store.history import History
from hive.store.paths import resolve_paths
from hive.store.rows import AttachedFile, ConversationTurn
from hive.store.run_record import RunRecord
from hive.store.schema import MIGRATIONS, db_path, utc_now
from tests.conftest import fixture_path
from tests.helpers import hive
from tests.loopback import LoopbackOpenRouter, Scripted

# Text that must never reach the database file of a --no-log run.
SECRET_QUESTION = "ZEBRA-QUESTION-7f3a what is in the vault?"
SECRET_SYSTEM = "ZEBRA-SYSTEM-19c2 answer as a pirate"
SECRET_FILE = "ZEBRA-FILE-5d01 password=hunter2"
SECRET_ANSWER = "ZEBRA-ANSWER-b8e4 the vault holds gold"
SECRETS = (SECRET_QUESTION, SECRET_SYSTEM, SECRET_FILE, SECRET_ANSWER, "ZEBRA")

PANEL = {"name": "speed", "generate": {"models": ["openai/gpt-5.4-mini"]}}


@pytest.fixture
def history() -> Iterator[History]:
    opened = History.open(resolve_paths())
    try:
        yield opened
    finally:
        opened.close()


def call(
    stage: str = "generate",
    *,
    index: int = 0,
    content: str = "an answer",
    cost: str | None = "0.0002",
    error: str | None = None,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    cache_discount: str | None = None,
) -> CallRecord:
    return CallRecord(
        stage=stage, index=index, model="openai/gpt-5.4-mini", model_used="openai/gpt-5.4-mini",
        provider="OpenAI", prompt_tokens=1500, completion_tokens=40,
        cost=None if cost is None else Decimal(cost), ttft_ms=120.0, latency_ms=900.0,
        finish_reason=None if error else "stop", content=content, error=error, accepted=True,
        cached_tokens=cached_tokens, cache_write_tokens=cache_write_tokens,
        cache_discount=None if cache_discount is None else Decimal(cache_discount),
    )  # fmt: skip


def database_bytes() -> bytes:
    """Every byte hive's history left on disk: the database and its WAL and shared memory."""
    path = db_path(resolve_paths())
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def raw(sql: str, *params: object) -> list[sqlite3.Row]:
    db = sqlite3.connect(db_path(resolve_paths()))
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# --- migration ---------------------------------------------------------------------------------


def test_a_version_4_database_migrates_to_5_keeping_its_rows(tmp_path: Path) -> None:
    path = db_path(resolve_paths())
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:4]:
        step(old)
    old.execute("PRAGMA user_version = 4")
    old.execute(
        "INSERT INTO runs (started_at, finished_at, question, profile, simulated, status, answer,"
        " total_cost, total_tokens, rounds) VALUES ('2026-11-01T10:00:00.000+00:00',"
        " '2026-11-01T10:00:05.000+00:00', 'old question', 'balanced', 0, 'ok', 'old answer',"
        " '0.0003', 150, 1)"
    )
    old.execute(
        "INSERT INTO calls (run_id, finished_at, stage, idx, model, prompt_tokens,"
        " completion_tokens, cost, content, accepted) VALUES (1,"
        " '2026-11-01T10:00:04.000+00:00', 'generate', 0, 'a/b', 100, 50, '0.0003', 'draft', 1)"
    )
    old.execute(
        "INSERT INTO decisions (run_id, made_at, kind, message) VALUES (1,"
        " '2026-11-01T10:00:02.000+00:00', 'panel_kept', 'kept the panel')"
    )
    old.close()

    history = History.open(resolve_paths())
    try:
        assert history.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        run = history.run(1)
        assert run is not None
        assert (run.question, run.answer, run.total_cost) == (
            "old question", "old answer", Decimal("0.0003"),
        )  # fmt: skip
        assert [d.message for d in run.decisions] == ["kept the panel"]
        # What an old run never recorded reads back as unknown, not as a made-up value.
        assert run.parent_id is None and run.system is None and run.panel is None
        assert run.logged is True and run.files == () and run.conversation == (1,)
        [old_call] = run.calls
        assert old_call.content == "draft" and old_call.cost == Decimal("0.0003")
        assert old_call.cached_tokens is None and old_call.cache_write_tokens is None
        assert old_call.cache_discount is None
        assert old_call.reasoning_tokens is None  # v6: not reported, not zero
        assert history.conversation(1) == [
            ConversationTurn(id=1, question="old question", answer="old answer", system=None,
                             files=(), logged=True, status="ok"),
        ]  # fmt: skip
        assert history.last_run_id() == 1
        # ...and a new run follows the old one up.
        new = history.start_run("and then?", "balanced", False, parent_id=1, files=[("a", "b")])
        assert [turn.id for turn in history.conversation(new)] == [1, new]
    finally:
        history.close()
    shown = hive("history", "show", "1")
    assert shown.exit_code == 0, shown.stderr
    assert "conversation:" not in shown.stdout and "cached" not in shown.stdout


# --- --no-log ----------------------------------------------------------------------------------


def test_an_unlogged_run_leaves_no_user_text_in_the_database_but_keeps_its_costs(
    history: History,
) -> None:
    before = utc_now() - timedelta(minutes=1)
    with RunRecord(history, notice=print, logged=False) as record:
        run_id = record.start(
            SECRET_QUESTION, "speed", False, system=SECRET_SYSTEM, panel=PANEL,
            files=[("vault.txt", SECRET_FILE)],
        )  # fmt: skip
        record.handle(CallFinished(call(content=SECRET_ANSWER, cost="0.0002", cached_tokens=900)))
        record.handle(
            CallFailed(
                call(index=1, content=f"half of {SECRET_ANSWER}", cost="0.00005",
                     error=f"bad request: the model quoted {SECRET_QUESTION!r}")
            )
        )  # fmt: skip
        record.handle(CallFinished(call("refine", content=SECRET_ANSWER, cost="0.0001")))
        record.finish(
            "ok", answer=SECRET_ANSWER, confidence=0.8, duration_ms=2500.0,
            warnings=[f"dropped {SECRET_ANSWER}"], consensus={"agreed": [SECRET_ANSWER]},
            issues=[SECRET_ANSWER], rounds=2,
        )  # fmt: skip
    history.close()

    on_disk = database_bytes()
    assert on_disk  # the run was written
    for secret in SECRETS:
        assert secret.encode() not in on_disk, secret

    [run] = raw("SELECT * FROM runs WHERE id = ?", run_id)
    assert run["question"] == "" and run["system"] is None and run["answer"] is None
    assert run["consensus"] is None and run["issues"] == "[]" and run["warnings"] == "[]"
    assert run["logged"] == 0 and json.loads(run["panel"]) == PANEL  # model ids, not user text
    # What the run was is kept: how it ended, how sure, how long, how many rounds.
    assert (run["status"], run["confidence"], run["duration_ms"], run["rounds"]) == (
        "ok", 0.8, 2500, 2,
    )  # fmt: skip
    assert raw("SELECT * FROM run_files") == []
    calls = raw("SELECT * FROM calls WHERE run_id = ? ORDER BY id", run_id)
    assert [c["content"] for c in calls] == ["", "", ""]
    assert [c["error"] for c in calls] == [None, "bad request", None]  # the kind, no quote
    # Costs, tokens, models and timings stay, so budgets keep holding.
    assert [c["cost"] for c in calls] == ["0.0002", "0.00005", "0.0001"]
    assert [c["prompt_tokens"] for c in calls] == [1500, 1500, 1500]
    assert [c["cached_tokens"] for c in calls] == [900, None, None]
    assert {c["model"] for c in calls} == {"openai/gpt-5.4-mini"}
    assert run["total_cost"] == "0.00035"

    reopened = History.open(resolve_paths())
    try:
        assert reopened.spent_since(before) == Decimal("0.00035")
        stored = reopened.run(run_id)
        assert stored is not None and stored.logged is False and stored.files == ()
        with pytest.raises(UsageError):
            reopened.conversation(run_id + 1)
        [turn] = reopened.conversation(run_id)
        assert turn.logged is False and turn.question == "" and turn.files == ()
    finally:
        reopened.close()

    shown = hive("history", "show", str(run_id))
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "not logged (--no-log): question, files and answers were not stored" in lines
    assert lines[lines.index("── question") + 1] == "(not stored: --no-log)"
    assert lines[lines.index("── answer") + 1] == "(not stored: --no-log)"
    assert "cached 900" in shown.stdout
    listed = hive("history", "list")
    assert "(not logged)" in listed.stdout
    as_json = json.loads(hive("history", "show", str(run_id), "--json").stdout)
    assert as_json["logged"] is False and as_json["panel"] == PANEL
    assert as_json["total_cost"] == "0.00035"  # exact text, as ever
    cost = json.loads(hive("cost", "--json").stdout)
    assert cost["total_cost"] == "0.00035"


def test_a_logged_run_does_keep_its_text(history: History) -> None:
    """The control for the test above: the same byte search finds text that was stored."""
    with RunRecord(history, notice=print) as record:
        run_id = record.start(
            SECRET_QUESTION, "speed", False, system=SECRET_SYSTEM, panel=PANEL,
            files=[("vault.txt", SECRET_FILE)],
        )  # fmt: skip
        record.handle(CallFinished(call(content=SECRET_ANSWER)))
        record.finish("ok", answer=SECRET_ANSWER, confidence=0.8)
    history.close()
    on_disk = database_bytes()
    for secret in SECRETS:
        assert secret.encode() in on_disk, secret
    [run] = raw("SELECT logged, system FROM runs WHERE id = ?", run_id)
    assert run["logged"] == 1 and run["system"] == SECRET_SYSTEM


# --- conversations and files -------------------------------------------------------------------


def test_a_conversation_reads_back_oldest_first_with_its_files(history: History) -> None:
    files = [("a.py", "print('hi')\n"), ("straße.txt", "Grüße " * 400)]
    first = history.start_run("review this", "balanced", False, files=files, panel=PANEL)
    history.finish_run(first, "ok", answer="looks fine")
    second = history.start_run(
        "and on Windows?", "balanced", False, parent_id=first, system="assume Python 3.12",
        files=[("diff.patch", "+x\n")],
    )  # fmt: skip
    history.finish_run(second, "degraded", answer="also fine")
    third = history.start_run("fix the first issue", "balanced", False, parent_id=second)
    history.finish_run(third, "failed", error="generate stage failed")

    chain = history.conversation(third)
    assert [turn.id for turn in chain] == [first, second, third]
    assert [turn.question for turn in chain] == [
        "review this", "and on Windows?", "fix the first issue",
    ]  # fmt: skip
    assert [turn.answer for turn in chain] == ["looks fine", "also fine", None]
    assert [turn.system for turn in chain] == [None, "assume Python 3.12", None]
    assert [turn.status for turn in chain] == ["ok", "degraded", "failed"]
    assert chain[0].files == tuple(files)  # in order, text exact
    assert chain[1].files == (("diff.patch", "+x\n"),) and chain[2].files == ()
    assert all(turn.logged is True for turn in chain)
    assert [turn.id for turn in history.conversation(first)] == [first]

    run = history.run(third)
    assert run is not None
    assert run.conversation == (first, second, third) and run.parent_id == second
    opening = history.run(first)
    assert opening is not None and opening.panel == PANEL
    assert opening.files == (
        AttachedFile("a.py", 12),
        AttachedFile("straße.txt", len(("Grüße " * 400).encode())),  # UTF-8 bytes
    )
    assert history.last_run_id() == third

    shown = hive("history", "show", str(second))
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"conversation: #{first} → #{second}" in lines
    assert "instructions: assume Python 3.12" in lines
    assert "files: diff.patch (3 B)" in lines
    opening_lines = hive("history", "show", str(first)).stdout.splitlines()
    assert "files: a.py (12 B), straße.txt (3.1 KiB)" in opening_lines  # 3,200 UTF-8 bytes
    as_json = json.loads(hive("history", "show", str(third), "--json").stdout)
    assert as_json["conversation"] == [first, second, third] and as_json["files"] == []

    # A deleted turn ends the chain there: its follow-up keeps its own turn.
    assert history.delete_run(second)
    assert [turn.id for turn in history.conversation(third)] == [third]
    assert raw("SELECT parent_id FROM runs WHERE id = ?", third)[0]["parent_id"] is None


def test_a_cycle_written_by_hand_does_not_loop(history: History) -> None:
    one = history.start_run("one", "speed", True)
    two = history.start_run("two", "speed", True, parent_id=one)
    history.db.execute("UPDATE runs SET parent_id = ? WHERE id = ?", (two, one))
    assert [turn.id for turn in history.conversation(two)] == [one, two]
    run = history.run(one)
    assert run is not None and run.conversation == (two, one)


def test_an_unknown_run_has_no_conversation(history: History) -> None:
    with pytest.raises(UsageError, match=r"no run #42 in history"):
        history.conversation(42)
    assert history.last_run_id() is None


def test_the_last_run_is_not_one_still_running(history: History) -> None:
    done = history.start_run("done", "speed", True)
    history.finish_run(done, "interrupted")
    history.start_run("still going", "speed", True)  # this live process runs it
    assert history.last_run_id() == done


# --- prompt caching ----------------------------------------------------------------------------


def capture_payloads() -> list[str]:
    decoder = SSEDecoder()
    path = fixture_path("stream_chat_web_search_2026.txt")
    items = decoder.feed(path.read_bytes()) + decoder.close()
    return [item.data for item in items if isinstance(item, Event)]


def with_cache_details(data: list[str], details: object) -> list[str]:
    """The capture, its usage chunk's ``prompt_tokens_details`` replaced by ``details`` (a
    float's shortest repr is its source text, so the cost stays exact)."""
    out = []
    for payload in data:
        if '"usage"' in payload:
            chunk = json.loads(payload)
            chunk["usage"]["prompt_tokens_details"] = details
            payload = json.dumps(chunk)
        out.append(payload)
    return out


def reduce(data: list[str]) -> Any:
    reducer = ChunkReducer()
    for payload in data:
        reducer.feed(payload)
    return reducer.finish()


def test_cache_figures_are_read_from_the_real_usage_chunk() -> None:
    data = capture_payloads()
    [usage] = [json.loads(p)["usage"] for p in data if '"usage"' in p]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0  # the capture: a reported miss
    completion = reduce(data)
    assert completion.cached_tokens == 0 and completion.cache_write_tokens == 0
    # The streamed usage documents no discount field: it stays unknown, never invented.
    assert completion.cache_discount is None
    assert completion.cost == Decimal("0.0133176")

    hit = reduce(with_cache_details(data, {"cached_tokens": 8000, "cache_write_tokens": 174}))
    assert (hit.cached_tokens, hit.cache_write_tokens) == (8000, 174)
    assert hit.cost == Decimal("0.0133176")


@pytest.mark.parametrize(
    "details",
    [None, [], "8000", {}, {"cached_tokens": "8000"}, {"cached_tokens": True},
     {"cached_tokens": 12.5}, {"cached_tokens": -1}, {"cached_tokens": None}],
)  # fmt: skip
def test_cache_figures_that_are_not_counts_are_unknown(details: object) -> None:
    completion = reduce(with_cache_details(capture_payloads(), details))
    assert completion.cached_tokens is None and completion.cache_write_tokens is None


def test_cached_tokens_are_stored_and_shown(history: History) -> None:
    run_id = history.start_run("q", "balanced", False)
    history.record_call(
        run_id, call(cached_tokens=1200, cache_write_tokens=300, cache_discount="0.00042")
    )
    history.record_call(run_id, call(index=1, cached_tokens=0))
    history.record_call(run_id, call(index=2))  # this one's server said nothing
    history.finish_run(run_id, "ok", answer="a")

    stored = raw("SELECT cached_tokens, cache_write_tokens, cache_discount FROM calls")
    assert [tuple(r) for r in stored] == [(1200, 300, "0.00042"), (0, None, None),
                                          (None, None, None)]  # fmt: skip
    run = history.run(run_id)
    assert run is not None
    assert [c.cache_discount for c in run.calls] == [Decimal("0.00042"), None, None]

    shown = hive("history", "show", str(run_id))
    assert shown.exit_code == 0, shown.stderr
    figures = [line for line in shown.stdout.splitlines() if line.startswith("tokens ")]
    assert "cached 1,200 · cache write 300 · cache discount $0.000420" in figures[0]
    assert "cached 0" in figures[1]
    assert "cached" not in figures[2]  # unknown is not shown as 0
    as_json = json.loads(hive("history", "show", str(run_id), "--json").stdout)
    assert [c["cached_tokens"] for c in as_json["calls"]] == [1200, 0, None]
    assert [c["cache_discount"] for c in as_json["calls"]] == ["0.00042", None, None]

    text = hive("cost").stdout.splitlines()
    line = next(line for line in text if line.startswith("cached prompt tokens"))
    assert line == (
        "cached prompt tokens: 1,200 (reported by 2 of 3 calls) · cache discount $0.000420"
    )
    assert text[-1].endswith("simulated runs not included (they cost nothing)")
    data = json.loads(hive("cost", "--json").stdout)
    assert (data["cached_tokens"], data["cached_token_calls"]) == (1200, 2)
    assert data["cache_discount"] == "0.00042"


def test_cost_says_when_no_call_reported_caching(history: History) -> None:
    run_id = history.start_run("q", "balanced", False)
    history.record_call(run_id, call())
    history.finish_run(run_id, "ok", answer="a")
    text = hive("cost").stdout.splitlines()
    assert "cached prompt tokens: not reported" in text
    assert not any("cache discount" in line for line in text)  # none reported: not shown
    data = json.loads(hive("cost", "--json").stdout)
    assert data["cached_tokens"] is None and data["cache_discount"] is None


def test_cached_tokens_from_the_wire_reach_history_and_json(
    keyed_env: LoopbackOpenRouter,
) -> None:
    """End to end: a server reporting ``prompt_tokens_details`` (the real capture's layout)
    on every call; every recorded call and the run's ``--json`` carry the figures."""
    from hive.openrouter.simulator import sse_events

    details = b'"prompt_tokens_details":{"cached_tokens":1200,"cache_write_tokens":0},'

    def cached(body: dict[str, Any]) -> Scripted:
        events = [e.replace(b'"usage":{', b'"usage":{' + details) for e in sse_events(body)]
        return Scripted(events)

    keyed_env.script = cached
    result = hive("consensus", "What is Rust?", "speed", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["stages"] and all(s["cached_tokens"] == 1200 for s in out["stages"])
    assert all(s["cache_write_tokens"] == 0 and s["cache_discount"] is None for s in out["stages"])
    calls = raw("SELECT cached_tokens, cache_write_tokens FROM calls")
    assert calls and all(tuple(c) == (1200, 0) for c in calls)
    shown = hive("history", "show", str(out["run_id"]))
    assert shown.stdout.count("cached 1,200") == len(calls)


def test_the_export_carries_files_chains_and_every_call_field(history: History) -> None:
    import csv
    import io

    files = [("a.py", "print('hi')\n"), ("straße.txt", "Grüße\n")]
    first = history.start_run("review this", "balanced", False, files=files)
    call = CallRecord(
        "generate", 0, "a/b", "a/b", "P", 10, 5, Decimal("0.00012"), 100.0, 200.0, "stop",
        "text", accepted=True, cached_tokens=8, cache_write_tokens=2,
        cache_discount=Decimal("0.00001"), reasoning_tokens=3, generation_id="gen-1",
        web_searches=1,
        sources=(("https://a.example/1", "A"), ("https://b.example", None)),
    )  # fmt: skip
    history.record_call(first, call)
    history.finish_run(first, "ok", answer="fine", rounds=1)
    second = history.start_run("and then?", "balanced", False, parent_id=first)
    history.finish_run(second, "ok", answer="also")

    runs = [json.loads(line) for line in hive("history", "export").stdout.splitlines()]
    assert runs[0]["files"] == [
        {"name": "a.py", "bytes": 12, "text": "print('hi')\n"},
        {"name": "straße.txt", "bytes": 8, "text": "Grüße\n"},
    ]
    assert runs[1]["files"] == [] and runs[1]["parent_id"] == first

    rows = list(csv.DictReader(io.StringIO(hive("history", "export", "-f", "csv").stdout)))
    assert rows[0]["files"] == "a.py\nstraße.txt" and rows[0]["rounds"] == "1"
    assert rows[1]["parent_id"] == str(first) and rows[1]["files"] == ""
    got = {k: rows[0][k] for k in (
        "accepted", "billable", "cached_tokens", "cache_write_tokens", "cache_discount",
        "reasoning_tokens", "generation_id", "web_searches",
    )}  # fmt: skip
    assert got == {
        "accepted": "true", "billable": "true", "cached_tokens": "8",
        "cache_write_tokens": "2", "cache_discount": "0.00001", "reasoning_tokens": "3",
        "generation_id": "gen-1", "web_searches": "1",
    }  # fmt: skip
    assert rows[0]["sources"] == "https://a.example/1\nhttps://b.example"
    assert rows[0]["pid"] == str(os.getpid()) and rows[0]["host"]


def test_the_csv_export_has_a_column_for_every_column_of_calls(history: History) -> None:
    """A column added to ``calls`` must reach the csv export too (``id`` is ``call_id``; the
    run's id is the row's ``run_id``; ``billable`` is computed)."""
    from hive.cli.history import CSV_CALL_FIELDS

    columns = {r[1] for r in history.db.execute("PRAGMA table_info(calls)")}
    assert set(CSV_CALL_FIELDS) == (columns - {"id", "run_id"}) | {"call_id", "billable"}
