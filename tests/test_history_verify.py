"""Tests of ``hive history show ID --verify``: each call's recorded cost against what OpenRouter
billed (``GET /generation``).

The end-to-end tests record a real run over the loopback server, then verify it against the
same server with its ``/generation`` replies scripted in OpenRouter's documented shape, through
the real CLI. The comparison, the summary, the exit code and the look-ups are also tested as
the pure functions they are, with a fake fetch and a fake sleep: nothing here sleeps for real.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from hive.cli.bill_check import (
    EXIT_DIFFERS,
    EXIT_UNCHECKED,
    NO_ID,
    Unchecked,
    compare,
    exit_code,
    failure,
    read_bills,
    summary,
)
from hive.cli.history_verify import text_lines
from hive.consensus.events import CallRecord
from hive.errors import AuthError, HostNotFound, ModelNotFound, RateLimited
from hive.openrouter.generation import NO_ENDPOINT, Generation, parse_generation
from hive.redact import mask_key
from hive.store.history import History
from hive.store.paths import resolve_paths
from hive.store.rows import StoredCall
from hive.store.schema import db_path
from tests.conftest import FAKE_KEY, fixture_path
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter

# OpenRouter's documented reply to GET /generation (the spec's example, 2026-08; the same as
# the team's fixture generation_documented.json, checked below when it is present).
DOCUMENTED: dict[str, Any] = {
    "data": {
        "api_type": "completions", "app_id": 12345, "cache_discount": None, "cancelled": False,
        "created_at": "2024-07-15T23:33:19.433273+00:00", "data_region": "global",
        "external_user": "user-123", "finish_reason": "stop", "generation_time": 1200,
        "http_referer": "https://openrouter.ai/", "id": "gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG",
        "is_byok": False, "latency": 1250, "model": "sao10k/l3-stheno-8b",
        "moderation_latency": 50, "native_finish_reason": "stop", "native_tokens_cached": 3,
        "native_tokens_completion": 25, "native_tokens_completion_images": 0,
        "native_tokens_prompt": 10, "native_tokens_reasoning": 5, "num_fetches": 0,
        "num_input_audio_prompt": 0, "num_media_completion": 0, "num_media_prompt": 1,
        "num_search_results": 5, "origin": "https://openrouter.ai/",
        "preset_id": "a9e8d400-592a-494f-908c-375efa66cafd", "provider_name": "Infermatic",
        "provider_responses": None, "request_id": "req-1727282430-aBcDeFgHiJkLmNoPqRsT",
        "router": "openrouter/auto", "service_tier": "priority", "session_id": None,
        "streamed": True, "tokens_completion": 25, "tokens_prompt": 10, "total_cost": 0.0015,
        "upstream_id": "chatcmpl-791bcf62-080e-4568-87d0-94c72e3b4946",
        "upstream_inference_cost": 0.0012, "usage": 0.0015, "user_agent": "Mozilla/5.0",
        "web_search_engine": "exa",
    }
}  # fmt: skip

NOT_FOUND_BODY = b'{"error":{"code":404,"message":"Generation not found"}}'


# --- helpers -----------------------------------------------------------------------------------


def bill_body(call: StoredCall, total_cost: str) -> bytes:
    """The documented reply for ``call``'s generation, billing ``total_cost`` written as this
    exact JSON number literal."""
    data = {
        **DOCUMENTED["data"],
        "id": call.generation_id,
        "model": call.model_used or call.model,
        "provider_name": "TestProvider",
        "tokens_prompt": call.prompt_tokens,
        "tokens_completion": call.completion_tokens,
        "total_cost": "@COST@",
        "usage": "@COST@",
    }
    return json.dumps({"data": data}).replace('"@COST@"', total_cost).encode()


def recorded_run(server: LoopbackOpenRouter) -> tuple[int, tuple[StoredCall, ...]]:
    """A real run over the loopback server, and its calls as history recorded them."""
    ran = hive("consensus", "What is Rust?", "speed", "--json", "--quiet")
    assert ran.exit_code == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    history = History.open(resolve_paths())
    try:
        run = history.run(run_id)
    finally:
        history.close()
    assert run is not None
    calls = run.calls
    ids = [c.generation_id for c in calls]
    assert len(calls) >= 3 and all(ids) and len(set(ids)) == len(ids)
    assert all(c.cost is not None for c in calls)
    return run_id, calls


def bill_all(server: LoopbackOpenRouter, calls: Sequence[StoredCall]) -> None:
    """Every call billed exactly what hive recorded."""
    for call in calls:
        server.generations[call.generation_id] = bill_body(call, str(call.cost))


def generation_requests(server: LoopbackOpenRouter) -> list[str]:
    return [r.path for r in server.requests if r.path.split("?")[0].endswith("/generation")]


def rows(stdout: str) -> list[str]:
    """The report's rows, one per call (between the column header and the summary)."""
    lines = stdout.rstrip("\n").splitlines()
    assert lines[1].split() == ["call", "model", "recorded", "billed", "result"]
    return lines[2:-1]


def cells(row: str) -> list[str]:
    """A row's columns: call, model, recorded, billed, result."""
    return re.split(r" {2,}", row)


def sql(statement: str, *params: object) -> None:
    db = sqlite3.connect(db_path(resolve_paths()))
    try:
        with db:
            db.execute(statement, params)
    finally:
        db.close()


@pytest.fixture
def instant_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The not-found retry waits retry_base_delay: zero here, so no test sleeps."""
    monkeypatch.setenv("HIVE_RETRY_BASE_DELAY", "0")


# --- end to end over the loopback server -------------------------------------------------------


def test_every_call_matches_the_bill(keyed_env: LoopbackOpenRouter) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"run #{run_id} · profile speed · ")
    assert lines[0].endswith(keyed_env.base_url.split("/")[2])  # the server asked
    assert len(rows(result.stdout)) == len(calls)
    for row, call in zip(rows(result.stdout), calls, strict=True):
        assert row.startswith(call.stage) and call.model in row
        assert row.count(f"${Decimal(call.cost).normalize():f}") == 2  # recorded, billed
        assert row.endswith("  matches")
    assert lines[-1] == f"{len(calls)} of {len(calls)} calls match the bill"
    asked = generation_requests(keyed_env)
    assert sorted(asked) == sorted(f"/api/v1/generation?id={c.generation_id}" for c in calls)
    gets = [r for r in keyed_env.requests if r.path in asked]
    assert all(r.headers["Authorization"] == f"Bearer {FAKE_KEY}" for r in gets)
    assert FAKE_KEY not in result.stdout + result.stderr


def test_a_call_that_differs_is_shown_and_exits_6(keyed_env: LoopbackOpenRouter) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    refine = next(c for c in calls if c.stage == "refine")
    more = Decimal(refine.cost) + Decimal("0.000012")
    keyed_env.generations[refine.generation_id] = bill_body(refine, str(more))

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == EXIT_DIFFERS == 6, result.stderr
    [row] = [r for r in rows(result.stdout) if r.startswith("refine")]
    assert f"${more.normalize():f}" in row and row.endswith("differs: billed $0.000012 more")
    assert result.stdout.splitlines()[-1] == (
        f"{len(calls) - 1} of {len(calls)} calls match the bill; "
        "1 call differs by $0.000012 in all (billed more than hive recorded)"
    )
    assert result.stderr == (
        f"hive: error: run #{run_id} does not match the bill: 1 call differs, by $0.000012 in all\n"
    )


def test_costs_are_compared_exactly_not_as_floats(keyed_env: LoopbackOpenRouter) -> None:
    """A bill 1e-20 away from the record, which a float would read as the same number."""
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    first = calls[0]
    literal = f"{Decimal(first.cost).normalize():f}" + "00000000000001"
    assert float(literal) == float(first.cost)
    keyed_env.generations[first.generation_id] = bill_body(first, literal)

    result = hive("history", "show", str(run_id), "--verify", "--json")

    assert result.exit_code == EXIT_DIFFERS, result.stderr
    report = json.loads(result.stdout)
    row = report["calls"][0]
    assert row["status"] == "differs" and row["billed"] == literal
    assert Decimal(row["difference"]) == Decimal(literal) - Decimal(first.cost) > 0


def test_a_generation_not_found_is_asked_once_more_then_reported(
    keyed_env: LoopbackOpenRouter, instant_retry: None
) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    missing = calls[-1]
    del keyed_env.generations[missing.generation_id]

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == EXIT_UNCHECKED == 1, result.stderr
    host = keyed_env.base_url.split("/")[2]
    assert cells(rows(result.stdout)[-1])[3:] == ["-", f"cannot be checked: not found at {host}"]
    assert result.stdout.splitlines()[-1] == (
        f"{len(calls) - 1} of {len(calls)} calls match the bill; "
        "1 call could not be checked: not found"
    )
    assert result.stderr == (
        f"hive: error: run #{run_id} was not fully checked: 1 call could not be checked: "
        "not found\n"
    )
    asked = generation_requests(keyed_env)
    assert asked.count(f"/api/v1/generation?id={missing.generation_id}") == 2  # one retry
    assert len(asked) == len(calls) + 1


def test_a_generation_that_appears_late_is_found_on_the_retry(
    keyed_env: LoopbackOpenRouter, instant_retry: None
) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    late = calls[0].generation_id
    # the server's other form: the data object, dumped by the server (a short cost survives)
    keyed_env.generations[late] = {**DOCUMENTED["data"], "id": late,
                                   "total_cost": float(calls[0].cost)}  # fmt: skip
    keyed_env.fail(f"GET /generation {late}", Fault(status=404, body=NOT_FOUND_BODY))

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(calls)} of {len(calls)} calls match the bill"
    assert result.stderr == ""
    assert generation_requests(keyed_env).count(f"/api/v1/generation?id={late}") == 2


def test_a_server_without_the_endpoint_is_asked_once(keyed_env: LoopbackOpenRouter) -> None:
    """A catalog or other server behind base_url: its 404 is not OpenRouter's envelope."""
    run_id, calls = recorded_run(keyed_env)
    keyed_env.fail("GET /generation", Fault(status=404, body=b"404 page not found"))

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == EXIT_UNCHECKED, result.stderr
    assert all(
        cells(r)[3:] == ["-", f"cannot be checked: {NO_ENDPOINT}"] for r in rows(result.stdout)
    )
    assert result.stdout.splitlines()[-1] == (
        f"none of the {len(calls)} calls could be checked: this server has no /generation endpoint"
    )
    assert len(generation_requests(keyed_env)) == 1


def test_a_simulated_run_is_refused(keyed_env: LoopbackOpenRouter) -> None:
    ran = hive("consensus", "What is Rust?", "speed", "--simulate", "--json", "--quiet")
    assert ran.exit_code == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]

    for extra in ([], ["--json"]):
        result = hive("history", "show", str(run_id), "--verify", *extra)

        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"hive: error: run #{run_id} was simulated: nothing was billed, "
            "so there is no bill to check\n"
        )
    assert generation_requests(keyed_env) == []


def test_calls_recorded_before_generation_ids_cannot_be_checked(
    keyed_env: LoopbackOpenRouter,
) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    sql("UPDATE calls SET generation_id = NULL WHERE id = ?", calls[0].id)

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == EXIT_UNCHECKED, result.stderr
    assert cells(rows(result.stdout)[0])[3:] == ["-", f"cannot be checked: {NO_ID}"]
    assert result.stdout.splitlines()[-1] == (
        f"{len(calls) - 1} of {len(calls)} calls match the bill; "
        "1 call could not be checked: no generation id"
    )
    assert len(generation_requests(keyed_env)) == len(calls) - 1


def test_an_old_run_needs_no_key_and_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run from before generation ids were kept (every one NULL): nothing to ask anyone."""
    history = History.open(resolve_paths())
    try:
        run_id = history.start_run("q", "speed", False)
        for stage, cost in (("generate", "0.0001"), ("refine", "0.0002")):
            history.record_call(run_id, CallRecord(
                stage=stage, index=0, model="a/b", model_used="a/b", provider="P",
                prompt_tokens=10, completion_tokens=5, cost=Decimal(cost), ttft_ms=1.0,
                latency_ms=2.0, finish_reason="stop", content="text",
            ))  # fmt: skip
        history.finish_run(run_id, "ok", answer="a", confidence=None, duration_ms=5.0)
    finally:
        history.close()
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1")  # nothing listens

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == EXIT_UNCHECKED, result.stderr
    assert result.stdout.splitlines()[0] == f"run #{run_id} · profile speed"
    assert result.stdout.splitlines()[-1] == (
        "none of the 2 calls could be checked: no generation id"
    )


def test_json_gives_rows_and_totals(keyed_env: LoopbackOpenRouter) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    refine = next(c for c in calls if c.stage == "refine")
    less = Decimal(refine.cost) - Decimal("0.0000001")
    keyed_env.generations[refine.generation_id] = bill_body(refine, f"{less:f}")

    result = hive("history", "show", str(run_id), "--verify", "--json")

    assert result.exit_code == EXIT_DIFFERS, result.stderr
    report = json.loads(result.stdout)  # money is strings: no float anywhere
    assert set(report) == {"run_id", "calls", "totals", "summary"}
    assert report["run_id"] == run_id
    assert [r["call_id"] for r in report["calls"]] == [c.id for c in calls]
    row = next(r for r in report["calls"] if r["stage"] == "refine")
    assert row == {
        "call_id": refine.id, "stage": "refine", "idx": 0, "attempt": 1,
        "model": refine.model, "model_used": refine.model_used,
        "generation_id": refine.generation_id, "status": "differs",
        "recorded": f"{Decimal(refine.cost).normalize():f}", "cost_estimated": False,
        "billed": f"{less.normalize():f}", "difference": "-0.0000001",
        "reason_kind": None, "reason": None,
        "bill": {
            "id": refine.generation_id, "total_cost": f"{less.normalize():f}",
            "model": refine.model_used, "provider_name": "TestProvider",
            "tokens_prompt": refine.prompt_tokens,
            "tokens_completion": refine.completion_tokens,
            "native_tokens_reasoning": 5, "native_tokens_cached": 3, "cache_discount": None,
            "upstream_inference_cost": "0.0012", "is_byok": False, "cancelled": False,
            "finish_reason": "stop",
        },
    }  # fmt: skip
    assert all(r["status"] == "matches" for r in report["calls"] if r is not row)
    recorded = sum((Decimal(c.cost) for c in calls), Decimal(0))
    assert report["totals"] == {
        "calls": len(calls), "matching": len(calls) - 1, "differing": 1, "unchecked": 0,
        "not_billed": 0, "recorded": f"{recorded.normalize():f}",
        "billed": f"{(recorded - Decimal('0.0000001')).normalize():f}",
        "difference": "-0.0000001",
    }  # fmt: skip
    assert report["summary"].endswith(
        "1 call differs by $0.0000001 in all (billed less than hive recorded)"
    )


def test_the_key_is_never_printed(keyed_env: LoopbackOpenRouter) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    echo = json.dumps({"error": {"code": 500, "message": f"upstream saw key {FAKE_KEY}"}})

    for extra in ([], ["--json"]):
        keyed_env.fail(f"GET /generation {calls[1].generation_id}",
                       Fault(status=500, body=echo.encode()))  # fmt: skip
        result = hive("history", "show", str(run_id), "--verify", *extra)

        assert result.exit_code == EXIT_UNCHECKED, result.stderr
        assert FAKE_KEY not in result.stdout + result.stderr
        assert f"upstream saw key {mask_key(FAKE_KEY)}" in result.stdout


def test_no_key_is_the_usual_error(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, _ = recorded_run(keyed_env)
    monkeypatch.delenv("OPENROUTER_API_KEY")

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "hive: error: no OpenRouter key set: run `hive keys set` or set OPENROUTER_API_KEY\n"
    )
    assert generation_requests(keyed_env) == []


def test_a_rejected_key_stops_at_the_first_call(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, calls = recorded_run(keyed_env)
    bill_all(keyed_env, calls)
    other = "sk-or-v1-" + "9" * 64
    monkeypatch.setenv("OPENROUTER_API_KEY", other)

    result = hive("history", "show", str(run_id), "--verify")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("hive: error: the API key was rejected")
    assert len(result.stderr.splitlines()) == 1 and other not in result.stderr
    assert len(generation_requests(keyed_env)) == 1


def test_an_unknown_run(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("history", "show", "99", "--verify")
    assert result.exit_code == 2
    assert "no run #99 in history" in result.stderr


# --- the documented reply, parsed ----------------------------------------------------------------


def test_the_documented_shape_is_the_fixture() -> None:
    assert json.loads(fixture_path("generation_documented.json").read_text()) == DOCUMENTED


def test_parse_the_documented_reply_exactly() -> None:
    data = json.loads(json.dumps(DOCUMENTED), parse_float=Decimal)["data"]
    assert parse_generation(data) == Generation(
        id="gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG", total_cost=Decimal("0.0015"),
        model="sao10k/l3-stheno-8b", provider_name="Infermatic", tokens_prompt=10,
        tokens_completion=25, native_tokens_reasoning=5, native_tokens_cached=3,
        cache_discount=None, upstream_inference_cost=Decimal("0.0012"), is_byok=False,
        cancelled=False, finish_reason="stop",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.0015"), Decimal("0.0015")),
        (0, Decimal(0)),
        ("0.000123", Decimal("0.000123")),  # a decimal string, as some servers send money
        (None, None),
        (True, None),
        ("free", None),
        ([], None),
        (Decimal("NaN"), None),
    ],
)
def test_total_cost_is_read_leniently(value: object, expected: Decimal | None) -> None:
    assert parse_generation({"total_cost": value}).total_cost == expected


def test_fields_of_another_type_are_unknown() -> None:
    generation = parse_generation(
        {"id": 7, "tokens_prompt": -1, "tokens_completion": Decimal("2.5"), "cancelled": "no",
         "native_tokens_reasoning": True, "provider_name": "", "cache_discount": "x"}
    )  # fmt: skip
    assert generation == Generation(*[None] * 13)


# --- the comparison, pure ----------------------------------------------------------------------


# A call as history holds it; each test changes what it is about.
STORED = StoredCall(
    id=1, run_id=1, finished_at="2026-11-20T10:00:00.000+00:00", stage="generate", idx=0,
    attempt=1, model="a/b", model_used="a/b", provider="P", prompt_tokens=10,
    completion_tokens=5, cost=Decimal("0.001"), cost_estimated=False, ttft_ms=1.0,
    latency_ms=2.0, finish_reason="stop", error=None, content="text", accepted=True,
    cached_tokens=None, cache_write_tokens=None, cache_discount=None, reasoning_tokens=None,
    generation_id="gen-1", web_searches=None, sources=(), billable=True,
)  # fmt: skip


def call(cost: str | None = "0.001", *, billable: bool = True, **extra: Any) -> StoredCall:
    return replace(STORED, cost=None if cost is None else Decimal(cost), billable=billable, **extra)


def billed(total: str | None) -> Generation:
    cost = None if total is None else Decimal(total)
    return parse_generation({"id": "gen-1", "total_cost": cost})


@pytest.mark.parametrize(
    ("recorded", "bill", "status", "difference"),
    [
        (call("0.001"), billed("0.001"), "matches", Decimal(0)),
        (call("0.00100"), billed("0.001"), "matches", Decimal(0)),  # the same number
        (call("0.001"), billed("0.001012"), "differs", Decimal("0.000012")),
        (call("0.001"), billed("0.0009"), "differs", Decimal("-0.0001")),
        (call(None), billed("0.001"), "differs", Decimal("0.001")),  # hive knew no cost
        (call(None), billed("0"), "differs", Decimal(0)),
        (call(None, billable=False), billed("0"), "matches", Decimal(0)),
        (call(None, billable=False), None, "not_billed", None),
        (call("0.001"), None, "unchecked", None),
        (call(None), None, "unchecked", None),
        (call("0.001"), billed(None), "unchecked", None),
        (call("0.001"), Unchecked("not_found", "not found"), "unchecked", None),
    ],
)
def test_compare(
    recorded: StoredCall,
    bill: Generation | Unchecked | None,
    status: str,
    difference: Decimal | None,
) -> None:
    check = compare(recorded, bill)
    assert (check.status, check.difference) == (status, difference)


def checks(*pairs: tuple[StoredCall, Generation | Unchecked | None]) -> list[Any]:
    return [compare(c, b) for c, b in pairs]


MATCH = (call("0.001"), billed("0.001"))
MORE = (call("0.001"), billed("0.001012"))
LESS = (call("0.001"), billed("0.000988"))
LOST = (call("0.001"), Unchecked("not_found", "not found at x"))
OLD = (call("0.001"), None)
REFUSED = (call(None, billable=False), None)


@pytest.mark.parametrize(
    ("pairs", "line", "code"),
    [
        ([MATCH, MATCH, MATCH], "3 of 3 calls match the bill", 0),
        ([MATCH], "1 of 1 call matches the bill", 0),
        ([MATCH, MORE], "1 of 2 calls matches the bill; 1 call differs by $0.000012 in all "
                        "(billed more than hive recorded)", 6),
        ([MORE, LESS], "0 of 2 calls match the bill; 2 calls differ by $0 in all "
                       "(the differences cancel out)", 6),
        ([MATCH, LOST], "1 of 2 calls matches the bill; 1 call could not be checked: not found",
         1),
        ([MORE, LOST], "0 of 2 calls match the bill; 1 call differs by $0.000012 in all "
                       "(billed more than hive recorded); 1 call could not be checked: not found",
         6),
        ([OLD, LOST, LOST], "none of the 3 calls could be checked (1 no generation id, "
                            "2 not found)", 1),
        ([OLD], "the one call could not be checked: no generation id", 1),
        ([MATCH, REFUSED], "1 of 1 call matches the bill; 1 call refused, not billed", 0),
        ([REFUSED], "no call was billed (1 call refused): nothing to check", 0),
        ([], "the run made no calls: nothing to check", 0),
    ],
)  # fmt: skip
def test_summary_and_exit_code(pairs: list[Any], line: str, code: int) -> None:
    done = checks(*pairs)
    assert summary(done) == line
    assert exit_code(done) == code
    error = failure(4, done)  # what the CLI's edge prints and exits with
    assert (0 if error is None else error.exit_code) == code


def test_the_failure_lines() -> None:
    differs, unchecked = failure(4, checks(MORE, LESS, MORE, LOST)), failure(4, checks(OLD, LOST))
    assert str(differs) == "run #4 does not match the bill: 3 calls differ, by $0.000012 in all"
    assert str(unchecked) == (
        "run #4 was not fully checked: 2 calls could not be checked (1 no generation id, "
        "1 not found)"
    )


def test_the_report_rows() -> None:
    def row(stage: str, idx: int, cost: str | None, **extra: Any) -> StoredCall:
        return call(cost, **{"stage": stage, "idx": idx, "attempt": 1, "model": "a/b",
                             "cost_estimated": False, **extra})  # fmt: skip

    lines = text_lines(
        7,
        "speed",
        checks(
            (row("generate", 0, "0.00100"), billed("0.001")),
            (row("generate", 1, "0.001", attempt=2), billed("0.0009")),
            (row("refine", 0, "0.00002", cost_estimated=True), billed("0.000025")),
            (row("validate", 0, None), billed("0.0004")),
            (row("validate", 1, None, billable=False), None),
            (row("curate", 0, "0.001"), Unchecked("error", "Rate limit exceeded (HTTP 429)")),
        ),
        "openrouter.ai",
    )

    assert lines[0] == "run #7 · profile speed · recorded costs against the bill from openrouter.ai"
    assert [cells(line) for line in lines[1:-1]] == [
        ["call", "model", "recorded", "billed", "result"],
        ["generate #1", "a/b", "$0.001", "$0.001", "matches"],
        ["generate #2 (attempt 2)", "a/b", "$0.001", "$0.0009", "differs: billed $0.0001 less"],
        ["refine", "a/b", "$0.00002 (estimated)", "$0.000025", "differs: billed $0.000005 more"],
        ["validate", "a/b", "$?", "$0.0004", "differs: hive recorded no cost"],
        ["validate #2", "a/b", "-", "-", "not billed: refused before any answer"],
        ["curate", "a/b", "$0.001", "-", "cannot be checked: Rate limit exceeded (HTTP 429)"],
    ]
    # aligned: every column starts where its heading does
    starts = [lines[1].index(name) for name in ("model", "recorded", "billed", "result")]
    for line in lines[2:-1]:
        assert [line[at - 2 : at] for at in starts] == ["  "] * 4
        assert all(line[at] != " " for at in starts)
    assert lines[-1] == (
        "1 of 5 calls matches the bill; 3 calls differ by $0.000305 in all (billed more than hive "
        "recorded); 1 call could not be checked: the request failed; 1 call refused, not billed"
    )


# --- the look-ups, with a fake fetch and a fake sleep --------------------------------------------


class FakeBills:
    """A scripted /generation: per id, the replies in turn (a Generation, None for not found,
    or an error to raise); records every id asked and every wait."""

    def __init__(self, replies: dict[str, list[Any]]) -> None:
        self.replies = replies
        self.asked: list[str] = []
        self.waits: list[float] = []

    async def fetch(self, gen_id: str) -> Generation | None:
        self.asked.append(gen_id)
        reply = self.replies[gen_id].pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[no-any-return]

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def read(self, *ids: str) -> dict[str, Generation | Unchecked]:
        return asyncio.run(
            read_bills(ids, self.fetch, not_found="gone", retry_delay=1.5, sleep=self.sleep)
        )


def test_not_found_is_asked_once_more_after_one_wait() -> None:
    one, two = billed("0.1"), billed("0.2")
    fake = FakeBills({"a": [one], "b": [None, two], "c": [None, None]})

    found = fake.read("a", "b", "c")

    assert found == {"a": one, "b": two, "c": Unchecked("not_found", "gone")}
    assert fake.waits == [1.5]  # one wait for every id not found, not one each
    assert sorted(fake.asked) == ["a", "b", "b", "c", "c"]


def test_everything_found_means_no_wait() -> None:
    fake = FakeBills({"a": [billed("0.1")], "b": [billed("0.2")]})
    fake.read("a", "b", "a")
    assert fake.waits == [] and sorted(fake.asked) == ["a", "b"]  # each id asked once


def test_a_server_without_the_endpoint_answers_for_every_id() -> None:
    fake = FakeBills({"a": [ModelNotFound(f"GET … answered 404: {NO_ENDPOINT}")]})
    found = fake.read("a", "b", "c")
    assert set(found) == {"a", "b", "c"}
    assert all(isinstance(v, Unchecked) and v.kind == "no_endpoint" for v in found.values())
    assert fake.asked == ["a"] and fake.waits == []


def test_other_errors_are_per_call() -> None:
    fake = FakeBills({"a": [billed("0.1")], "b": [RateLimited("Rate limit exceeded (HTTP 429)")]})
    found = fake.read("a", "b")
    assert found["b"] == Unchecked("error", "Rate limit exceeded (HTTP 429)")


@pytest.mark.parametrize(
    "error", [AuthError("rejected (HTTP 401)"), HostNotFound("cannot find the host x")]
)
def test_a_rejected_key_or_no_server_ends_it_all(error: Exception) -> None:
    fake = FakeBills({"a": [error]})
    with pytest.raises(type(error)):
        fake.read("a", "b")
    assert fake.asked == ["a"]
    # met while several are asked at once, it still ends it as itself, not in a group
    fake = FakeBills({"a": [billed("0.1")], "b": [billed("0.2")], "c": [error]})
    with pytest.raises(type(error)):
        fake.read("a", "b", "c")
