"""Adaptive decisions in history: one row each, written as it is made, replayed by
``hive history show`` (text and ``--json``) and exported, kept by a run that was stopped."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hive.cli.app import app
from hive.consensus.adaptive import Decision
from hive.consensus.events import Decided
from hive.store.history import MIGRATIONS, History, db_path
from hive.store.paths import resolve_paths
from hive.store.run_record import RunRecord

runner = CliRunner()


def hive(*args: str) -> Any:
    return runner.invoke(app, list(args))


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
    assert run is not None and run["status"] == "interrupted"
    assert run["decisions"] == [decision.as_dict()]
    assert run["rounds"] is None  # the run never said how many rounds it took: unknown


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
        run = history.run(summary["id"])
    finally:
        history.close()
    assert run is not None
    assert run["decisions"] == [] and run["rounds"] is None
    text = hive("history", "show", str(summary["id"])).stdout
    assert "decided:" not in text and "rounds" not in text.splitlines()[2]
