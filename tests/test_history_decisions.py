"""Adaptive decisions in history: one row each, written as it is made, replayed by
``hive history show`` (text and ``--json``) and exported, kept by a run that was stopped."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive.consensus.adaptive import Decision
from hive.consensus.events import CallFinished, CallRecord, Decided, PipelineEvent
from hive.errors import StorageError, UnsavedError
from hive.store import schema
from hive.store.history import History
from hive.store.paths import resolve_paths
from hive.store.run_record import RunRecord
from hive.store.schema import MIGRATIONS, db_path
from tests.helpers import hive


def test_a_runs_decisions_are_replayed_as_they_were_reported() -> None:
    result = hive("consensus", "Is Rust faster than Go?", "quality", "--simulate", "--json",
                  "--rounds", "3")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["decisions"]  # quality with --rounds 3 on the simulator: rounds decided

    shown = json.loads(hive("history", "show", str(run["run_id"]), "--json").stdout)
    assert shown["decisions"] == run["decisions"]
    assert shown["rounds"] == run["rounds"]
    assert [(c["stage"], c["idx"]) for c in shown["calls"]] == [
        (s["stage"], s["index"]) for s in run["stages"]
    ]

    text = hive("history", "show", str(run["run_id"])).stdout
    for decision in run["decisions"]:
        assert f"decided: {decision['message']}" in text
    if run["rounds"] > 1:
        assert f"{run['rounds']} rounds" in text.splitlines()[2]
        assert "── refine #2 · " in text

    exported = hive("history", "export").stdout.splitlines()
    assert json.loads(exported[-1])["decisions"] == run["decisions"]


def test_a_decision_made_before_an_interruption_is_kept() -> None:
    history = History.open(resolve_paths())
    decision = Decision("escalated", "the first 2 drafts agreed 0.40, below 0.75: asking 1 more",
                        {"agreement": 0.4})  # fmt: skip
    try:
        with pytest.raises(KeyboardInterrupt), RunRecord(history, notice=print) as record:
            run_id = record.start("q", "balanced", simulated=True)
            record.handle(Decided(decision))
            raise KeyboardInterrupt
        run = history.run(run_id)
    finally:
        history.close()
    assert run is not None and run.status == "interrupted"
    assert [d.as_json() for d in run.decisions] == [decision.as_dict()]
    assert run.rounds is None  # the run never said how many rounds it took: unknown


def test_runs_from_before_decisions_read_back_with_none(tmp_path: Path, monkeypatch: Any) -> None:
    """A version-3 database (before decisions) is migrated: its runs have no decisions and an
    unknown number of rounds, and new runs record both."""
    monkeypatch.setenv("HIVE_HOME", str(tmp_path / "home"))
    paths = resolve_paths()
    path = db_path(paths)
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:
        step(old)
    old.execute("PRAGMA user_version = 3")
    old.execute(
        "INSERT INTO runs (started_at, finished_at, question, profile, simulated, status)"
        " VALUES ('2026-11-01T10:00:00.000+00:00', '2026-11-01T10:00:05.000+00:00', 'old q',"
        " 'balanced', 1, 'ok')"
    )
    old.close()

    history = History.open(paths)
    try:
        [summary] = history.runs()
        run = history.run(summary.id)
    finally:
        history.close()
    assert run is not None
    assert run.decisions == () and run.rounds is None
    text = hive("history", "show", str(summary.id)).stdout
    assert "decided:" not in text and "rounds" not in text.splitlines()[2]


def test_a_balanced_runs_first_panel_decision_is_in_history() -> None:
    """``balanced`` starts with two generators, so every run decides whether to ask the rest:
    that decision is in history exactly as the run's own ``--json`` reported it."""
    result = hive("consensus", "Is Rust faster than Go?", "balanced", "--simulate", "--json")
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    kinds = [d["kind"] for d in run["decisions"]]
    assert "panel_kept" in kinds or "escalated" in kinds, kinds

    shown = hive("history", "show", str(run["run_id"]), "--json")
    assert shown.exit_code == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["decisions"] == run["decisions"]
    assert stored["rounds"] == run["rounds"] == 1

    text = hive("history", "show", str(run["run_id"])).stdout.splitlines()
    decided = [line for line in text if line.startswith("decided: ")]
    assert decided == [f"decided: {d['message']}" for d in run["decisions"]]
    assert "rounds" not in text[2]  # one round is not worth a mention


def _lock(history: History) -> sqlite3.Connection:
    """Another process writing, for longer than hive waits."""
    holder = sqlite3.connect(history.path or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


CALL = CallRecord("generate", 0, "a/b", "a/b", None, 10, 20, Decimal("0.0001"), 1.0, 2.0,
                  "stop", "text")  # fmt: skip
ESCALATED = Decision(
    "escalated",
    "the first 2 drafts agreed 0.40, below 0.75: asking a/c",
    {"agreement": 0.4, "threshold": 0.75, "drafts": 2, "models": ["a/c"]},
)


def test_decisions_held_by_a_locked_database_are_saved_when_it_frees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    history = History.open(resolve_paths())
    notices: list[str] = []
    try:
        with RunRecord(history, notice=notices.append) as record:
            run_id = record.start("q", "balanced", False)
            holder = _lock(history)
            record.handle(Decided(ESCALATED))  # the first thing held is a decision
            record.handle(CallFinished(CALL))
            holder.execute("ROLLBACK")
            holder.close()
            record.finish("ok", answer="text", rounds=1)
        assert len(notices) == 1 and "holding this run's calls and decisions" in notices[0]
        run = history.run(run_id)
    finally:
        history.close()
    assert run is not None and run.status == "ok" and run.rounds == 1
    assert [d.as_json() for d in run.decisions] == [ESCALATED.as_dict()] and len(run.calls) == 1


@pytest.mark.parametrize(
    ("events", "lost"),
    [
        ([Decided(ESCALATED)], "1 decision"),
        ([CallFinished(CALL), Decided(ESCALATED), Decided(ESCALATED)],
         "1 paid call ($0.000100) and 2 decisions"),
    ],
)  # fmt: skip
def test_decisions_that_could_not_be_saved_are_counted(
    monkeypatch: pytest.MonkeyPatch, events: list[PipelineEvent], lost: str
) -> None:
    """A database that never frees: the exit line counts the decisions lost as well as the
    calls (before, a run that lost only decisions said nothing was lost)."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    history = History.open(resolve_paths())
    holder: sqlite3.Connection | None = None
    try:
        with pytest.raises(UnsavedError) as caught, RunRecord(history, notice=print) as record:
            run_id = record.start("q", "balanced", False)
            holder = _lock(history)
            for event in events:
                record.handle(event)
            with pytest.raises(StorageError):  # the CLI shows the answer all the same
                record.finish("ok", answer="the answer", rounds=1)
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        history.close()
    message = str(caught.value)
    assert message.endswith(f": {lost} of run #{run_id} not saved"), message
