"""Spending, budgets and estimates, end to end: real ``hive`` commands against the loopback
OpenRouter (127.0.0.1 only), with every figure checked against what the server billed.

What the server billed for a request is recomputed from the request itself: the loopback
server streams ``sse_events(request.body)``, whose usage chunk carries the cost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

import pytest

from hive.consensus import stages
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
from hive.money import dollars
from hive.openrouter.catalog import ModelPrice
from hive.openrouter.simulator import sse_events
from hive.store.paths import resolve_paths
from hive.store.user_profiles import ProfileStore
from tests.conftest import store_without_fallbacks
from tests.helpers import hive, run_hive
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

BAR_CHARS = set("█▉▊▋▌▍▎▏")
ESTIMATE_MARGIN = Decimal("0.25")  # the estimate must land within ±25% of the actual cost


# --- helpers -----------------------------------------------------------------------------------


def usage_of(events: list[bytes]) -> dict[str, Any]:
    """The usage object of an SSE stream, numbers as exact decimals."""
    usage: dict[str, Any] = {}
    for event in events:
        line = event.decode().strip()
        if line.startswith("data: {"):
            chunk = json.loads(line.removeprefix("data: "), parse_float=Decimal)
            usage = chunk.get("usage", usage)
    return usage


def billed(request: RecordedRequest) -> Decimal:
    """What the loopback server charged for one chat request."""
    cost = usage_of(sse_events(request.body)).get("cost")
    assert cost is not None, request.body["model"]
    return Decimal(cost)


def billed_total(requests: list[RecordedRequest]) -> Decimal:
    return sum((billed(r) for r in requests), Decimal(0))


def tokens_of(request: RecordedRequest) -> int:
    usage = usage_of(sse_events(request.body))
    return int(usage["prompt_tokens"]) + int(usage["completion_tokens"])


def stages_of(requests: list[RecordedRequest], profile: str) -> list[str]:
    """Stage per request of one run: generators (concurrent) first, then one per stage."""
    n_gen = len(BUILTIN_PROFILES[profile].generate.models)
    return ["generate"] * n_gen + list(STAGES[1:])[: len(requests) - n_gen]


def catalog_price(server: LoopbackOpenRouter, model: str) -> ModelPrice:
    """The price the server's own /models lists for ``model`` (what hive's catalog holds)."""
    entry = next(m for m in json.loads(server.models_body)["data"] if m["id"] == model)
    return ModelPrice(Decimal(entry["pricing"]["prompt"]), Decimal(entry["pricing"]["completion"]))


def parse_json(stdout: str) -> dict[str, Any]:
    data = json.loads(stdout, parse_float=Decimal)
    assert isinstance(data, dict)
    return data


@contextmanager
def db() -> Iterator[sqlite3.Connection]:
    """The history database, read (or, to move runs in time, written) directly."""
    connection = sqlite3.connect(resolve_paths().data_dir / "history.db")
    connection.row_factory = sqlite3.Row
    try:
        with connection:  # one transaction, committed on success
            yield connection
    finally:
        connection.close()


def runs() -> list[sqlite3.Row]:
    path = resolve_paths().data_dir / "history.db"
    if not path.exists():
        return []
    with db() as connection:
        return connection.execute("SELECT * FROM runs ORDER BY id").fetchall()


def calls_of(run_id: int) -> list[sqlite3.Row]:
    with db() as connection:
        return connection.execute(
            "SELECT * FROM calls WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()


def real_run(server: LoopbackOpenRouter, question: str, profile: str) -> list[RecordedRequest]:
    """A successful keyed run with the full panel and every stage (``--fixed``: the requests
    come in ``stages_of`` order); returns the chat requests it made."""
    before = len(server.chat_requests())
    result = hive("consensus", question, profile, "--quiet", "--fixed")
    assert result.exit_code == 0, result.stderr
    return server.chat_requests()[before:]


def estimate(question: str, profile: str, *extra: str) -> dict[str, Any]:
    result = hive("consensus", question, profile, "--estimate", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)


def set_budget(monkeypatch: pytest.MonkeyPatch, how: str, name: str, value: Decimal) -> None:
    """Set a budget through ``hive config set`` or its HIVE_* environment variable."""
    text = format(value, "f")
    if how == "config":
        result = hive("config", "set", name, text)
        assert result.exit_code == 0, result.stderr
    else:
        monkeypatch.setenv(f"HIVE_{name.upper()}", text)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hive: error:")]


# --- hive cost: the figures are the server's ---------------------------------------------------


def test_cost_json_equals_what_the_server_billed(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_before = date.today()
    made: list[tuple[str, list[RecordedRequest]]] = []
    for question, profile in [
        ("What is Rust?", "speed"),
        ("What is Go?", "speed"),
        ("What is Zig?", "cost"),
        ("What is Nim?", "balanced"),
    ]:
        made.append((profile, real_run(keyed_env, question, profile)))
    # Two simulated runs: one forced with --simulate, one with no key at all.
    assert hive("consensus", "What is Rust?", "speed", "--simulate", "-q").exit_code == 0
    monkeypatch.delenv("OPENROUTER_API_KEY")
    assert hive("consensus", "What is Rust?", "cost", "-q").exit_code == 0
    day_after = date.today()
    assert len(keyed_env.chat_requests()) == sum(len(r) for _, r in made)  # simulation: offline

    total = Decimal(0)
    by: dict[str, dict[str, Decimal]] = {"model": defaultdict(Decimal)}
    by["profile"], by["stage"] = defaultdict(Decimal), defaultdict(Decimal)
    calls: dict[str, dict[str, int]] = {"model": defaultdict(int), "stage": defaultdict(int)}
    tokens: dict[str, int] = defaultdict(int)
    for profile, requests in made:
        for request, stage in zip(requests, stages_of(requests, profile), strict=True):
            cost = billed(request)
            total += cost
            by["model"][request.body["model"]] += cost
            by["profile"][profile] += cost
            by["stage"][stage] += cost
            calls["model"][request.body["model"]] += 1
            calls["stage"][stage] += 1
            tokens[request.body["model"]] += tokens_of(request)
    assert total > 0

    for grouping in ("model", "profile", "stage"):
        result = hive("cost", "--json", "--by", grouping)
        assert result.exit_code == 0, result.stderr
        data = parse_json(result.stdout)
        assert data["by"] == grouping and data["period"] == "month"
        assert Decimal(data["total_cost"]) == total
        assert data["runs"] == 4
        assert data["simulated_runs"] == 2
        assert Decimal(data["totals"]["all_time"]) == total
        rows = {row["key"]: row for row in data["rows"]}
        assert {k: Decimal(r["cost"]) for k, r in rows.items()} == dict(by[grouping]), grouping
        for row in data["rows"]:
            assert isinstance(row["cost"], str) and "E" not in row["cost"]  # exact, not 1E-7
        if grouping in calls:
            assert {k: r["calls"] for k, r in rows.items()} == dict(calls[grouping])
        if grouping == "model":
            assert {k: r["tokens"] for k, r in rows.items()} == dict(tokens)
        if grouping == "profile":
            assert {k: r["runs"] for k, r in rows.items()} == {"speed": 2, "cost": 1, "balanced": 1}
        if grouping == "stage":
            assert [row["key"] for row in data["rows"]] == list(STAGES)  # pipeline order
            assert {r["runs"] for r in data["rows"]} == {4}

    for grouping in ("day", "week", "month"):
        data = parse_json(hive("cost", "--json", "--by", grouping, "--period", "all").stdout)
        assert data["period"] == "all" and data["since"] is None
        assert sum(Decimal(row["cost"]) for row in data["rows"]) == total
        keys = {
            "day": {d.isoformat() for d in (day_before, day_after)},
            "week": {f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in (day_before,
                                                                                day_after)},
            "month": {d.strftime("%Y-%m") for d in (day_before, day_after)},
        }[grouping]  # fmt: skip
        assert {row["key"] for row in data["rows"]} <= keys, grouping
        if day_before == day_after:
            assert len(data["rows"]) == 1
            assert data["rows"][0]["runs"] == 4
            assert data["rows"][0]["calls"] == sum(len(r) for _, r in made)
    totals = data["totals"]
    assert Decimal(totals["all_time"]) == total
    if day_before == day_after:  # a run across midnight would split "today"
        assert Decimal(totals["today"]) == total
        assert Decimal(totals["this_week"]) == total
        assert Decimal(totals["this_month"]) == total
    assert data["budgets"] == {
        "max_cost_per_run": None,
        "daily_budget": None,
        "monthly_budget": None,
        "left_today": None,
        "left_this_month": None,
    }


@pytest.mark.slow
def test_cost_table_has_a_bar_per_row_and_no_escapes_when_piped(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    for question, profile in [("What is Rust?", "speed"), ("What is Zig?", "cost")]:
        real_run(keyed_env, question, profile)
    assert hive("consensus", "What is Go?", "speed", "--simulate", "-q").exit_code == 0
    data = parse_json(hive("cost", "--json", "--by", "model").stdout)
    costs = {row["key"]: Decimal(row["cost"]) for row in data["rows"]}
    largest = max(costs.values())

    # A real process with colour allowed: stdout is a pipe, so no escapes either way.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "120")  # room for the full 30-cell bar beside the longest id
    proc = run_hive("cost", "--by", "model")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x1b" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("spent:") and "today" in lines[0] and "all time" in lines[0]
    assert dollars(Decimal(data["total_cost"])) in lines[0]
    for model, cost in costs.items():
        line = next(line for line in lines if line.startswith(model + " "))
        bar = "".join(ch for ch in line if ch in BAR_CHARS)
        assert bar, line
        assert dollars(cost) in line
        if cost == largest:
            assert bar == "█" * 30, line  # the largest cost fills the bar
        else:
            assert len(bar) < 30
    assert lines[-1] == "1 simulated run not included (they cost nothing)"


def test_cost_with_no_history() -> None:
    result = hive("cost")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "spent: $0 today · $0 this week · $0 this month · $0 all time",
        "no spending recorded for the last 30 days",
        "0 simulated runs not included (they cost nothing)",
    ]
    data = parse_json(hive("cost", "--json", "--period", "day").stdout)
    assert data["total_cost"] == "0" and data["rows"] == [] and data["runs"] == 0
    assert not (resolve_paths().data_dir / "history.db").exists()  # looking creates nothing


def test_cost_of_a_damaged_history_is_one_error_line() -> None:
    path = resolve_paths().data_dir / "history.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    result = hive("cost")
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("hive: error:") and "history database" in line, line


def test_cost_rejects_an_unknown_grouping() -> None:
    result = hive("cost", "--by", "colour")
    assert result.exit_code == 2


# New York time as a POSIX rule (no tz database needed): EST, UTC-5 in winter.
NEW_YORK = "EST+5EDT,M3.2.0,M11.1.0"


@pytest.fixture
def new_york() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = NEW_YORK
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_days_weeks_and_months_are_local_time(
    keyed_env: LoopbackOpenRouter, new_york: None
) -> None:
    # Three real runs, then moved into the past: the database keeps UTC, hive cost shows local.
    moments = [
        "2025-12-01T04:30:00.000+00:00",  # Sunday 30 Nov, 23:30 in New York (UTC: Monday 1 Dec)
        "2025-12-01T05:30:00.000+00:00",  # Monday 1 Dec, 00:30 in New York
        "2025-11-30T12:00:00.000+00:00",  # Sunday 30 Nov, 07:00 in New York
    ]
    cost = [billed_total(real_run(keyed_env, f"What is {n}?", "speed")) for n in "ABC"]
    with db() as connection:
        for run, moment in zip(runs(), moments, strict=True):
            connection.execute("UPDATE runs SET started_at = ? WHERE id = ?", (moment, run["id"]))
            connection.execute(
                "UPDATE calls SET finished_at = ? WHERE run_id = ?", (moment, run["id"])
            )
    expected = {
        "day": {"2025-11-30": cost[0] + cost[2], "2025-12-01": cost[1]},
        "week": {"2025-W48": cost[0] + cost[2], "2025-W49": cost[1]},
        "month": {"2025-11": cost[0] + cost[2], "2025-12": cost[1]},
    }
    for grouping, rows in expected.items():
        data = parse_json(hive("cost", "--json", "--by", grouping, "--period", "all").stdout)
        assert {r["key"]: Decimal(r["cost"]) for r in data["rows"]} == rows, grouping
        assert [r["runs"] for r in data["rows"]] == [2, 1]  # oldest first
        assert [r["calls"] for r in data["rows"]] == [8, 4]
    assert Decimal(data["totals"]["all_time"]) == sum(cost, Decimal(0))
    assert Decimal(data["totals"]["this_month"]) == 0  # all of it long ago
    recent = parse_json(hive("cost", "--json").stdout)  # the last 30 days
    assert recent["rows"] == [] and recent["runs"] == 0 and recent["total_cost"] == "0"


@pytest.fixture
def dst_ended_this_month() -> Iterator[datetime]:
    """Local time whose UTC offset changed since the 1st of this month (daylight saving, UTC-4,
    until 02:00 on the 2nd; UTC-5 since), as New York's did on 1 Nov 2026. Yields the local
    start of this month."""
    today = date.today()
    if today.month == 1 or today.day < 3:
        pytest.skip("needs a month that started at least two days ago and is not January")
    day_of_year = (today.replace(day=2) - date(today.year, 1, 1)).days  # zero-based, as TZ wants
    saved = os.environ.get("TZ")
    os.environ["TZ"] = f"XST+5XDT+4,0/0,{day_of_year}/2"
    time.tzset()
    try:
        start = datetime.combine(today.replace(day=1), clock_time()).astimezone()
        assert start.utcoffset() != datetime.now().astimezone().utcoffset()
        yield start
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def _spent_just_after(server: LoopbackOpenRouter, moment: datetime) -> Decimal:
    """A real run, moved to ``moment``: its spending belongs to the month ``moment`` is in."""
    spent = billed_total(real_run(server, "What is Rust?", "speed"))
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    with db() as connection:
        connection.execute("UPDATE runs SET started_at = ?", (text,))
        connection.execute("UPDATE calls SET finished_at = ?", (text,))
    return spent


def test_this_month_starts_at_local_midnight_on_the_1st(
    keyed_env: LoopbackOpenRouter, dst_ended_this_month: datetime
) -> None:
    spent = _spent_just_after(keyed_env, dst_ended_this_month + timedelta(minutes=30))
    assert hive("config", "set", "monthly_budget", "1").exit_code == 0

    data = parse_json(hive("cost", "--json").stdout)

    assert Decimal(data["totals"]["this_month"]) == spent
    assert Decimal(data["budgets"]["left_this_month"]) == 1 - spent


def test_monthly_budget_counts_spending_just_after_local_midnight_on_the_1st(
    keyed_env: LoopbackOpenRouter, dst_ended_this_month: datetime
) -> None:
    spent = _spent_just_after(keyed_env, dst_ended_this_month + timedelta(minutes=30))
    expected = Decimal(estimate("What is Go?", "speed")["expected_cost"])
    assert hive("config", "set", "monthly_budget", format(spent + expected / 2, "f")).exit_code == 0

    result = hive("consensus", "What is Go?", "speed")

    # Refused up front, counting what was spent on the 1st (the bug: the run starts, with
    # that spending forgotten, and only the in-run guard stops it before generate).
    assert result.exit_code == 4, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("hive: error: refused"), line
    assert f"monthly_budget ({dollars(expected / 2)} left this month)" in line, line
    assert len(runs()) == 1
    assert len(keyed_env.chat_requests()) == 4  # the seeding run's only


# --- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["config", "env"])
def test_max_cost_per_run_below_the_estimate_is_refused_before_any_request(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    expected = Decimal(estimate("What is Rust?", "speed")["expected_cost"])
    set_budget(monkeypatch, how, "max_cost_per_run", expected / 2)

    result = hive("consensus", "What is Rust?", "speed")

    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("hive: error: refused") and "estimate" in line, line
    assert "max_cost_per_run" in line
    assert keyed_env.chat_requests() == []
    assert runs() == []

    forced = hive("consensus", "What is Rust?", "speed", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(keyed_env.chat_requests()) == 4
    [run] = runs()
    assert run["status"] == "ok"
    assert Decimal(run["total_cost"]) == billed_total(keyed_env.chat_requests())


@pytest.mark.parametrize(("name", "how"), [("daily_budget", "config"), ("monthly_budget", "env")])
def test_a_nearly_spent_budget_refuses_the_next_run(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch, name: str, how: str
) -> None:
    spent = billed_total(real_run(keyed_env, "What is Rust?", "speed"))
    expected = Decimal(estimate("What is Go?", "speed")["expected_cost"])
    set_budget(monkeypatch, how, name, spent + expected / 2)  # just above what was spent

    result = hive("consensus", "What is Go?", "speed")

    assert result.exit_code == 4, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("hive: error: refused") and "estimate" in line, line
    left = "left today" if name == "daily_budget" else "left this month"
    assert f"{name} ({dollars(expected / 2)} {left})" in line
    assert len(keyed_env.chat_requests()) == 4  # the seeding run's only
    assert len(runs()) == 1


def test_a_stage_whose_worst_case_crosses_the_limit_is_never_started(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without fallbacks, each stage's worst case is its own model's (the dearest-fallback case
    # has its own test); history first, so the estimate expects this server's output sizes.
    store_without_fallbacks("lean", "cost")
    real_run(keyed_env, "What is Rust?", "lean")
    question = "What is Go?"
    plan = estimate(question, "lean")
    calls = plan["calls"]
    assert [c["stage"] for c in calls] == ["generate", "generate", *STAGES[1:]]
    # Before each stage the pipeline stops if spent-so-far + the stage's worst case (its
    # calls' prompts at max_tokens of output, on the dearest model each may end on: its
    # fallbacks are billed if they answer) would cross the limit. With history, the
    # estimate's prompts and outputs are this server's sizes, so each check is computed as:
    # the expected cost of the calls before the stage + the stage's ceiling at its prompt.
    expected = [Decimal(c["expected_cost"]) for c in calls]
    profile = ProfileStore(resolve_paths()).get("lean")

    def ceiling(call: dict[str, Any]) -> Decimal:
        models = [call["model"], *profile.stage(call["stage"]).fallbacks]
        return max(
            catalog_price(keyed_env, model).cost(
                call["prompt_tokens"], call["max_completion_tokens"]
            )
            for model in models
        )

    checks = {
        "generate": ceiling(calls[0]) + ceiling(calls[1]),
        "refine": sum(expected[:2], Decimal(0)) + ceiling(calls[2]),
        "validate": sum(expected[:3], Decimal(0)) + ceiling(calls[3]),
        "curate": sum(expected[:4], Decimal(0)) + ceiling(calls[4]),
    }
    # The limit must pass the pre-run check (the expected total) and the first three stages,
    # and fail curate's; the midpoint leaves room for outputs a few tokens off the estimate.
    low = max(Decimal(plan["expected_cost"]), checks["generate"], checks["refine"],
              checks["validate"])  # fmt: skip
    high = checks["curate"]
    assert low < high * Decimal("0.9"), checks
    limit = (low + high) / 2
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", format(limit, "f"))
    before = len(keyed_env.chat_requests())

    result = hive("consensus", question, "lean")

    assert result.exit_code == 4, result.stderr
    [line] = error_lines(result.stderr)
    assert "stopped before curate" in line, line
    assert "max_cost_per_run" in line
    requests = keyed_env.chat_requests()[before:]
    assert [r.body["model"] for r in requests][2:] == [c["model"] for c in calls[2:-1]]
    assert len(requests) == 4  # two drafts, refine, validate: never curate
    run = runs()[-1]
    assert run["status"] == "budget"
    assert "stopped before curate" in run["error"]
    recorded = calls_of(run["id"])
    assert [c["stage"] for c in recorded] == stages_of(requests, "cost")
    assert sorted(Decimal(c["cost"]) for c in recorded) == sorted(billed(r) for r in requests)
    assert Decimal(run["total_cost"]) == billed_total(requests) <= limit
    assert f"hive history show {run['id']}" in line


def test_a_limit_below_the_drafts_worst_case_stops_before_any_request(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A profile whose drafts may run long, so their worst case is far above the whole run's
    # expected cost; history first, so the expected cost is realistic.
    made = hive("profiles", "create", "wide", "--from", "speed", "--max-tokens", "generate=16000")
    assert made.exit_code == 0, made.stderr
    real_run(keyed_env, "What is Rust?", "wide")
    plan = estimate("What is Go?", "wide")
    # The generate check is exact: same prompt, max_tokens of output.
    drafts_worst = Decimal(plan["calls"][0]["max_cost"])
    assert Decimal(plan["expected_cost"]) < drafts_worst
    limit = (Decimal(plan["expected_cost"]) + drafts_worst) / 2
    set_budget(monkeypatch, "config", "max_cost_per_run", limit)

    result = hive("consensus", "What is Go?", "wide")

    assert result.exit_code == 4, result.stderr
    [line] = error_lines(result.stderr)
    assert "stopped before generate" in line, line
    assert len(keyed_env.chat_requests()) == 4  # the first run's only
    run = runs()[-1]
    assert run["status"] == "budget" and calls_of(run["id"]) == []
    assert Decimal(run["total_cost"]) == 0
    # hive cost counts the stopped run (it spent nothing) beside the first.
    data = parse_json(hive("cost", "--json", "--by", "profile").stdout)
    assert data["runs"] == 2 and [r["runs"] for r in data["rows"]] == [2]
    assert Decimal(data["total_cost"]) == billed_total(keyed_env.chat_requests())


def test_summary_line_shows_what_budgets_leave(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = billed_total(real_run(keyed_env, "What is Rust?", "speed"))
    assert hive("config", "set", "daily_budget", "0.5").exit_code == 0
    monkeypatch.setenv("HIVE_MONTHLY_BUDGET", "20")
    before = len(keyed_env.chat_requests())

    result = hive("consensus", "What is Go?", "speed")

    assert result.exit_code == 0, result.stderr
    spent = first + billed_total(keyed_env.chat_requests()[before:])
    summary = result.stderr.splitlines()[-1]
    assert f"{dollars(Decimal('0.5') - spent)} left today" in summary, summary
    assert f"{dollars(Decimal(20) - spent)} left this month" in summary, summary

    data = parse_json(hive("cost", "--json").stdout)
    assert data["budgets"]["daily_budget"] == "0.5"
    assert Decimal(data["budgets"]["left_today"]) == Decimal("0.5") - spent
    assert Decimal(data["budgets"]["left_this_month"]) == Decimal(20) - spent
    header = hive("cost").stdout.splitlines()[0]
    assert f"{dollars(Decimal('0.5') - spent)} left today" in header
    assert f"{dollars(Decimal(20) - spent)} left this month" in header


def test_budgets_never_apply_to_simulated_runs(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("max_cost_per_run", "daily_budget", "monthly_budget"):
        assert hive("config", "set", name, "0").exit_code == 0
    keyed = hive("consensus", "What is Rust?", "speed")
    assert keyed.exit_code == 4  # the same limits do stop a real run

    simulated = hive("consensus", "What is Rust?", "speed", "--simulate", "--json")
    assert simulated.exit_code == 0, simulated.stderr
    assert Decimal(parse_json(simulated.stdout)["total_cost"]) > 0  # priced, but not real
    monkeypatch.delenv("OPENROUTER_API_KEY")
    keyless = hive("consensus", "What is Go?", "balanced")
    assert keyless.exit_code == 0, keyless.stderr
    assert "left today" not in keyless.stderr
    assert keyed_env.chat_requests() == []
    assert [r["simulated"] for r in runs()] == [1, 1]
    data = parse_json(hive("cost", "--json").stdout)
    assert data["total_cost"] == "0" and data["simulated_runs"] == 2
    assert Decimal(data["budgets"]["left_today"]) == 0


# --- estimates ---------------------------------------------------------------------------------


def test_estimate_prints_every_call_and_spends_nothing(keyed_env: LoopbackOpenRouter) -> None:
    profile = BUILTIN_PROFILES["balanced"]
    planned = [(stage, model) for stage in STAGES for model in profile.stage(stage).models]

    text = hive("consensus", "What is Rust?", "balanced", "--estimate", "--fixed")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    for stage, model in planned:
        line = next(line for line in lines if line.split()[:2] == [stage, model])
        assert line.count("$") == 2, line  # expected and at most
    assert lines[-1].startswith("total")

    data = parse_json(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json", "--fixed").stdout
    )
    assert [(c["stage"], c["model"]) for c in data["calls"]] == planned
    for call in data["calls"]:
        assert 0 < Decimal(call["expected_cost"]) <= Decimal(call["max_cost"])
    assert Decimal(data["expected_cost"]) == sum(Decimal(c["expected_cost"]) for c in data["calls"])
    assert Decimal(data["max_cost"]) == sum(Decimal(c["max_cost"]) for c in data["calls"])
    assert f"{dollars(Decimal(data['expected_cost']))}" in lines[-1]

    assert keyed_env.chat_requests() == []
    assert runs() == []


def test_estimate_after_three_runs_is_close_to_the_actual_cost(
    keyed_env: LoopbackOpenRouter,
) -> None:
    for question in ("What is Rust used for?", "What is Go good at?", "Why is Zig popular?"):
        real_run(keyed_env, question, "balanced")
    question = "What does Nim compile to?"
    plan = estimate(question, "balanced", "--fixed")
    expected, ceiling = Decimal(plan["expected_cost"]), Decimal(plan["max_cost"])

    actual = billed_total(real_run(keyed_env, question, "balanced"))

    error = (expected - actual) / actual
    assert abs(error) <= ESTIMATE_MARGIN, (
        f"estimate {expected} is {error:+.1%} off the actual {actual}; allowed ±25%"
    )
    assert ceiling >= actual


# --- costs the server did not report -----------------------------------------------------------


def _without_cost(events: list[bytes]) -> list[bytes]:
    """The same stream with ``cost`` removed from the usage chunk (tokens kept)."""
    out = []
    for event in events:
        line = event.decode()
        if line.startswith("data: {") and '"usage"' in line:
            chunk = json.loads(line.removeprefix("data: "))
            del chunk["usage"]["cost"]
            event = f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
        out.append(event)
    return out


def test_a_call_without_a_reported_cost_is_priced_from_the_catalog(
    keyed_env: LoopbackOpenRouter,
) -> None:
    question = "What is Rust?"
    profile = BUILTIN_PROFILES["speed"]
    today = date.today()
    messages = {
        "generate": stages.generate_messages(question, today),
        "refine": stages.refine_messages(question, [("A", "a draft")], today),
        "validate": stages.validate_messages(question, "a refined answer", today),
        "curate": stages.curate_messages(question, "an answer", stages.Verdict(None), today),
    }
    served: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        spec = profile.stage(stage)
        model = spec.models[0]
        body = {"model": model, "messages": messages[stage], "max_tokens": spec.max_tokens}
        events = _without_cost(sse_events(body))
        usage = usage_of(events)
        assert "cost" not in usage and usage["completion_tokens"] > 0
        served[model] = usage
        keyed_env.fail(model, Fault(events=events))

    result = hive("consensus", question, "speed", "--json")

    assert result.exit_code == 0, result.stderr
    data = parse_json(result.stdout)
    total = Decimal(0)
    for stage in data["stages"]:
        usage = served[stage["model"]]
        price = catalog_price(keyed_env, stage["model"])
        cost = price.cost(usage["prompt_tokens"], usage["completion_tokens"])
        total += cost
        assert stage["cost_estimated"] is True
        assert Decimal(stage["cost"]) == cost, stage["model"]
    [run] = runs()
    recorded = calls_of(run["id"])
    assert len(recorded) == 4
    for call in recorded:
        usage = served[call["model"]]
        price = catalog_price(keyed_env, call["model"])
        assert call["cost_estimated"] == 1
        assert Decimal(call["cost"]) == price.cost(
            usage["prompt_tokens"], usage["completion_tokens"]
        )
    assert Decimal(run["total_cost"]) == total
    assert Decimal(parse_json(hive("cost", "--json").stdout)["total_cost"]) == total


def test_spending_module_agrees_with_the_budget_counter(keyed_env: LoopbackOpenRouter) -> None:
    """``hive cost``'s today total is what the budgets count (History.spent_since)."""
    from hive.cli.run import budgets
    from hive.store.history import History
    from hive.store.settings import load_settings
    from hive.store.spending import spending, totals

    spent = billed_total(real_run(keyed_env, "What is Rust?", "speed"))
    paths = resolve_paths()
    history = History.open(paths)
    try:
        limits = budgets(load_settings(paths).settings, history, date.today())
        sums = totals(history)
        assert limits.spent_today == sums.today.known == spent and sums.today.complete
        assert limits.spent_this_month == sums.this_month.known == spent
        rows = spending(history, since=datetime.now().astimezone(), by="stage")
        assert rows == []  # nothing finished after now
    finally:
        history.close()


@pytest.mark.parametrize(
    ("amount", "text", "trimmed"),
    [
        (Decimal("0.00176160"), "0.00176160", "0.0017616"),
        (Decimal("1E-7"), "0.0000001", "0.0000001"),
        (Decimal("0E-7"), "0.0000000", "0"),
        (Decimal("-0"), "0", "0"),
        (Decimal("100"), "100", "100"),
        (Decimal("-0.50"), "-0.50", "-0.5"),
    ],
)
def test_money_is_written_exactly_in_plain_notation(
    amount: Decimal, text: str, trimmed: str
) -> None:
    from hive.money import money_text, trimmed_money_text

    assert money_text(amount) == text and trimmed_money_text(amount) == trimmed
    assert money_text(None) is None
