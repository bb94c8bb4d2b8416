"""A run's record under every way a run can end: SIGTERM, SIGHUP, SIGKILL, a database from a
newer hive, a database that stops taking writes mid-run, and ``--json`` on failure.

Signals are sent to a real ``python -m hive`` process talking to the loopback server; the other
tests drive the real CLI in-process against real SQLite files.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive.consensus.events import CallFinished, CallRecord
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.errors import StorageError
from hive.store import schema
from hive.store.history import History
from hive.store.paths import resolve_paths
from hive.store.run_record import RunRecord
from hive.store.schema import MIGRATIONS, db_path, open_db
from tests.helpers import (
    WAIT_S,
    hive,
    interrupt,
    reaped,
    start_hive,
    wait_until,
)
from tests.loopback import Fault, LoopbackOpenRouter

SPEED = BUILTIN_PROFILES["speed"]


def wait_for_requests(server: LoopbackOpenRouter, count: int) -> None:
    seen = wait_until(lambda: len(server.chat_requests()) >= count, every=0.02)
    assert seen, f"the server saw {len(server.chat_requests())}"


def history_runs() -> list[dict[str, Any]]:
    result = hive("history", "list", "--json")
    assert result.exit_code == 0, result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def calls_in_db(run_id: int) -> list[sqlite3.Row]:
    db = sqlite3.connect(db_path(resolve_paths()))
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM calls WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        db.close()


@pytest.fixture
def hung_refine(keyed_env: LoopbackOpenRouter) -> Iterator[subprocess.Popen[str]]:
    """A real hive process whose generator has answered and whose refine call hangs."""
    keyed_env.fail(SPEED.refine.models[0], Fault(hang=True))
    proc = start_hive("consensus", "What is Rust?", "speed", "--plain")
    with reaped(proc):
        wait_for_requests(keyed_env, 2)  # the generator's, then the hanging refine's
        yield proc


# --- 9. SIGTERM and SIGHUP end a run like Ctrl-C; SIGKILL leaves it abandoned -------------------


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_ends_the_run_as_interrupted_and_keeps_what_was_spent(
    hung_refine: subprocess.Popen[str], signum: int, code: int
) -> None:
    _, stderr = interrupt(hung_refine, signum)

    assert hung_refine.returncode == code, stderr
    last = stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"hive: interrupted ({name}) during refine: spent $"), last
    assert last.endswith("run #1 is kept: hive history show 1"), last
    assert "Traceback" not in stderr
    [run] = history_runs()
    assert run["status"] == "interrupted" and name in run["error"]
    # The generator's answer, paid for, is kept; so is the refine call cut off mid-wait (it
    # had streamed nothing, so nothing of it was billed).
    generated, refine = calls_in_db(run["id"])
    assert generated["stage"] == "generate" and Decimal(generated["cost"]) > 0
    assert refine["stage"] == "refine" and refine["error"].startswith("cancelled")
    assert refine["cost"] is None and refine["content"] == ""
    assert Decimal(run["total_cost"]) == Decimal(generated["cost"])
    assert f"spent ${Decimal(generated['cost']):.6f}" in last


@pytest.mark.slow
def test_a_run_whose_process_was_killed_shows_as_abandoned(
    hung_refine: subprocess.Popen[str],
) -> None:
    hung_refine.kill()
    hung_refine.communicate(timeout=WAIT_S)

    [run] = history_runs()
    assert run["status"] == "abandoned"
    assert run["pid"] == hung_refine.pid
    # It never finished, so its totals are summed from the calls it recorded, not a "$0".
    [generated] = calls_in_db(run["id"])
    assert Decimal(run["total_cost"]) == Decimal(generated["cost"]) > 0
    assert run["total_tokens"] == generated["prompt_tokens"] + generated["completion_tokens"]
    listed = hive("history", "list").stdout
    assert "abandoned" in listed and " $0 " not in listed
    shown = hive("history", "show", str(run["id"]))
    assert shown.stdout.startswith(f"run #{run['id']} · abandoned")


@pytest.mark.slow
def test_an_ignored_sighup_stays_ignored(keyed_env: LoopbackOpenRouter) -> None:
    """Under ``nohup`` (SIGHUP ignored) a closed terminal must not stop the run."""
    keyed_env.fail(SPEED.refine.models[0], Fault(hang=True))

    def ignore_sighup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = start_hive("consensus", "What is Rust?", "speed", "--plain", preexec_fn=ignore_sighup)
    with reaped(proc):
        wait_for_requests(keyed_env, 2)
        proc.send_signal(signal.SIGHUP)  # ignored, as nohup asked
        _, stderr = interrupt(proc, signal.SIGTERM)  # what actually ends it
    assert proc.returncode == 143, stderr
    assert "interrupted (SIGTERM)" in stderr


def test_a_run_of_a_live_process_still_shows_as_running() -> None:
    history = History.open(resolve_paths())
    try:
        run_id = history.start_run("q", "speed", False)  # this very process: alive
    finally:
        history.close()
    assert [r["status"] for r in history_runs() if r["id"] == run_id] == ["running"]


# --- 10. a newer database is refused; storage errors are one line and lose nothing silently -----


def newer_database() -> Path:
    path = db_path(resolve_paths())
    db = open_db(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    return path


def test_a_database_from_a_newer_hive_is_refused_before_any_request(
    keyed_env: LoopbackOpenRouter,
) -> None:
    path = newer_database()
    before = path.read_bytes()

    for command in (["consensus", "What is Rust?", "speed"], ["history", "list"], ["cost"]):
        result = hive(*command)

        assert result.exit_code == 1, command
        [line] = result.stderr.strip().splitlines()
        assert str(path) in line and "newer hive" in line and "unchanged" in line, line
    assert keyed_env.requests == []  # not even the model list was asked for
    assert path.read_bytes() == before


def test_a_locked_database_is_one_line_naming_the_file(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 100)
    path = db_path(resolve_paths())
    open_db(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than hive waits
    try:
        result = hive("consensus", "What is Rust?", "speed")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("hive: error: cannot open the history database") and str(path) in line
    assert "database is locked" in line
    assert "internal error" not in result.stderr
    assert keyed_env.chat_requests() == []  # the run could not be recorded: nothing was sent


def test_a_database_locked_mid_run_shows_the_answer_and_names_the_unsaved_calls(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 100)
    path = db_path(resolve_paths())
    keyed_env.fail(SPEED.refine.models[0], Fault(delay=0.5))  # the lock is taken meanwhile
    taken, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        wait_for_requests(keyed_env, 2)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        taken.set()
        release.wait(WAIT_S)
        holder.execute("ROLLBACK")
        holder.close()

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    try:
        result = hive("consensus", "What is Rust?", "speed", "--json")
    finally:
        release.set()
        thread.join()

    assert taken.is_set()
    assert result.exit_code == 1
    out = json.loads(result.stdout)  # the answer, paid for, is shown: one object
    assert out["answer"] and len(out["stages"]) == 4
    errors = [x for x in result.stderr.splitlines() if x.startswith("hive: error:")]
    assert len(errors) == 1 and str(path) in errors[0]
    assert "3 paid calls" in errors[0] and "not saved" in errors[0], errors[0]
    assert any(w.startswith("history could not record the run's end") for w in out["warnings"])
    assert "holding this run's calls" in result.stderr  # said when it happened
    assert len(calls_in_db(out["run_id"])) == 1  # the generator's, saved before the lock


def test_a_full_disk_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    history = History.open(resolve_paths())
    try:
        run_id = history.start_run("q", "speed", False)
        pages = history.db.execute("PRAGMA page_count").fetchone()[0]
        history.db.execute(f"PRAGMA max_page_count = {pages}")  # no room for one page more
        call = CallRecord("generate", 0, "a/b", "a/b", None, 10, 20, Decimal("0.0001"), 1.0,
                          2.0, "stop", "x" * 200_000)  # fmt: skip
        with pytest.raises(StorageError) as caught:
            history.record_call(run_id, call)
    finally:
        history.close()
    message = str(caught.value)
    assert "full" in message and str(db_path(resolve_paths())) in message, message
    assert "rollback" not in message.lower()


def test_an_outcome_that_could_not_be_written_is_written_when_the_run_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    history = History.open(resolve_paths())
    try:
        with RunRecord(history, notice=lambda message: None) as record:
            run_id = record.start("q", "speed", False)
            holder = sqlite3.connect(history.path or "", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageError):
                record.finish("ok", answer="the answer", confidence=0.9)
            holder.execute("ROLLBACK")
            holder.close()
        run = history.run(run_id)
        # Not "failed" with no answer: the outcome the run meant to write.
        assert run is not None and run.status == "ok" and run.answer == "the answer"
    finally:
        history.close()


def test_calls_held_by_a_locked_database_are_saved_when_it_frees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    history = History.open(resolve_paths())
    notices: list[str] = []
    call = CallRecord("generate", 0, "a/b", "a/b", None, 10, 20, Decimal("0.0001"), 1.0, 2.0,
                      "stop", "text")  # fmt: skip
    try:
        with RunRecord(history, notice=notices.append) as record:
            run_id = record.start("q", "speed", False)
            holder = sqlite3.connect(history.path or "", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            record.handle(CallFinished(call))
            record.handle(CallFinished(call))
            holder.execute("ROLLBACK")
            holder.close()
            record.finish("ok", answer="text")
        assert len(notices) == 1 and "holding this run's calls" in notices[0]
        run = history.run(run_id)
        assert run is not None and run.status == "ok" and len(run.calls) == 2
        assert run.total_cost == Decimal("0.0002")
    finally:
        history.close()


# --- 13. --json stays machine-readable on failure -----------------------------------------------


def test_json_failure_carries_the_run_id_and_what_was_spent(
    openrouter: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-" + "0" * 64)  # well formed, not accepted

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 3
    failure = json.loads(result.stdout)
    assert failure["exit_code"] == 3 and failure["run_id"] == 1
    assert failure["total_cost"] == "0" and failure["unknown_cost_calls"] == 0
    assert result.stderr.strip().splitlines()[-1] == f"hive: error: {failure['error']}"
    assert "0" * 64 not in result.stdout  # the key stays masked on stdout too


def test_text_streamed_before_a_stop_is_recorded_and_priced(openrouter: LoopbackOpenRouter) -> None:
    """A call cut off by Ctrl-C or SIGTERM (its task cancelled) keeps what had streamed, priced
    from the catalog as hive's estimate: the server may bill it."""
    import asyncio

    from hive.consensus.caller import Caller
    from hive.consensus.events import CallFailed, PipelineEvent, TokenDelta
    from hive.openrouter.catalog import builtin_prices
    from hive.openrouter.client import OpenRouterClient, make_http_client
    from tests.conftest import FAKE_KEY

    model = SPEED.refine.models[0]
    text = "Rust is a systems programming language. " * 10
    delta = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    chunk = {"id": "gen-1", "model": model, "choices": [delta]}
    openrouter.fail(model, Fault(events=[f"data: {json.dumps(chunk)}\n\n".encode()], stall=True))
    events: list[PipelineEvent] = []

    async def main() -> None:
        streamed = asyncio.Event()

        def emit(event: PipelineEvent) -> None:
            events.append(event)
            if isinstance(event, TokenDelta):
                streamed.set()

        async with make_http_client(api_key=FAKE_KEY, base_url=openrouter.base_url) as http:
            caller = Caller(OpenRouterClient(http), emit, price_of=builtin_prices().get)
            messages = [{"role": "user", "content": "What is Rust?"}]
            task = asyncio.create_task(caller.call("refine", 0, SPEED.refine, messages))
            await asyncio.wait_for(streamed.wait(), WAIT_S)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())

    [failed] = [e.record for e in events if isinstance(e, CallFailed)]
    assert failed.error is not None and failed.error.startswith("cancelled")
    assert failed.content == text
    price = builtin_prices()[model]
    assert failed.cost_estimated and failed.cost is not None
    assert failed.cost > price.cost(0, len(text) // 4 - 1)  # at least what streamed
