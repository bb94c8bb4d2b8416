"""Money that nobody reported: unknown is shown as unknown, priced when it can be, and a budget
never lets through a call it cannot bound.

The server here behaves like many OpenAI-compatible servers (llama.cpp's, for one): its streams
carry text and a ``finish_reason`` but no ``usage`` and no cost. Everything goes through the real
CLI, client and sockets.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES
from hive.store.paths import resolve_paths
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter

SPEED = BUILTIN_PROFILES["speed"]
CALLS_IN_SPEED = 4  # one generator, then refine, validate, curate


def bare_stream(text: str, model: str = "local/model") -> list[bytes]:
    """An OpenAI-compatible stream with no usage and no cost: text, a finish reason, [DONE]."""

    def chunk(choice: dict[str, Any]) -> bytes:
        body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, **choice}]}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n".encode()

    return [
        chunk({"delta": {"role": "assistant", "content": text[:10]}, "finish_reason": None}),
        chunk({"delta": {"content": text[10:]}, "finish_reason": None}),
        chunk({"delta": {}, "finish_reason": "stop"}),
        b"data: [DONE]\n\n",
    ]


ANSWER = "Rust is a systems programming language focused on safety and speed. " * 4


def no_usage_anywhere(server: LoopbackOpenRouter, calls: int = CALLS_IN_SPEED) -> None:
    server.fail("*", *[Fault(events=bare_stream(ANSWER)) for _ in range(calls)])


def only_models(server: LoopbackOpenRouter, *entries: dict[str, Any]) -> None:
    """The server's /models lists just these (none of the built-in profiles' models)."""
    server.models_body = json.dumps({"data": list(entries)}).encode()


def priced(model_id: str, prompt: str, completion: str) -> dict[str, Any]:
    return {"id": model_id, "name": model_id, "context_length": 100000,
            "pricing": {"prompt": prompt, "completion": completion}}  # fmt: skip


def history_rows(sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(resolve_paths().data_dir / "history.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# --- 1. unknown cost is not $0 ------------------------------------------------------------------


def test_no_usage_is_priced_from_the_catalog_and_marked_estimated(
    keyed_env: LoopbackOpenRouter,
) -> None:
    no_usage_anywhere(keyed_env)

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout, parse_float=Decimal)
    assert len(out["stages"]) == CALLS_IN_SPEED
    for call in out["stages"]:
        # hive's own count of what was sent and received, at the catalog's price: marked
        assert call["cost_estimated"] is True and Decimal(call["cost"]) > 0, call
        assert call["prompt_tokens"] is None and call["completion_tokens"] is None
    assert Decimal(out["total_cost"]) == sum(Decimal(c["cost"]) for c in out["stages"]) > 0
    assert out["unknown_cost_calls"] == 0
    # Tokens nobody reported are not a zero.
    assert out["total_tokens"] is None
    assert out["unreported_token_calls"] == CALLS_IN_SPEED
    [run] = history_rows("SELECT * FROM runs")
    assert run["total_cost"] == out["total_cost"] and run["unknown_cost_calls"] == 0  # same text
    assert run["unreported_token_calls"] == CALLS_IN_SPEED


def test_no_usage_and_no_price_is_unknown_everywhere(keyed_env: LoopbackOpenRouter) -> None:
    only_models(keyed_env, priced("openai/gpt-4o-mini", "0.00000015", "0.0000006"))
    no_usage_anywhere(keyed_env)

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [c["cost"] for c in out["stages"]] == [None] * CALLS_IN_SPEED
    assert out["total_cost"] is None  # not 0.0: nothing about it is known
    assert out["unknown_cost_calls"] == CALLS_IN_SPEED

    no_usage_anywhere(keyed_env)
    plain = hive("consensus", "What is Rust?", "speed", "--plain")
    assert plain.exit_code == 0, plain.stderr
    summary = plain.stderr.strip().splitlines()[-1]
    assert f"$? ({CALLS_IN_SPEED} calls of unknown cost)" in summary, summary
    assert "tokens not reported" in summary and "0 tokens" not in summary
    progress = [line for line in plain.stderr.splitlines() if " done · " in line]
    assert progress and all(line.endswith("? tokens · $?") for line in progress), progress

    listing = hive("history", "list")
    assert listing.exit_code == 0, listing.stderr
    rows = [line for line in listing.stdout.splitlines() if "speed" in line]
    assert len(rows) == 2 and all("$?" in row and "$0" not in row for row in rows), rows

    shown = hive("history", "show", "2")
    assert f"$? ({CALLS_IN_SPEED} calls of unknown cost)" in shown.stdout
    assert "tokens not reported" in shown.stdout

    spent = hive("cost", "--by", "profile")
    assert spent.exit_code == 0, spent.stderr
    assert f"$? ({2 * CALLS_IN_SPEED} calls of unknown cost) today" in spent.stdout
    data = json.loads(hive("cost", "--json").stdout)
    assert data["total_cost"] is None and data["unknown_cost_calls"] == 2 * CALLS_IN_SPEED
    assert data["tokens"] is None and data["unreported_token_calls"] == 2 * CALLS_IN_SPEED
    assert data["totals"]["today"] is None  # not "0": nothing of it is known
    [row] = [line.split() for line in spent.stdout.splitlines() if line.startswith("speed")]
    assert row[:4] == ["speed", "2", str(2 * CALLS_IN_SPEED), "?"], row  # tokens: ?, never 0
    listed = json.loads(hive("history", "list", "--json").stdout)
    assert [(r["total_cost"], r["total_tokens"]) for r in listed] == [(None, None)] * 2


def test_the_estimate_of_an_unpriced_profile_is_not_zero(keyed_env: LoopbackOpenRouter) -> None:
    only_models(keyed_env, priced("openai/gpt-4o-mini", "0.00000015", "0.0000006"))

    result = hive("consensus", "What is Rust?", "speed", "--estimate")

    assert result.exit_code == 0, result.stderr
    # speed may skip its curation: the fullest path has every call, the cheapest one fewer.
    lines = result.stdout.splitlines()
    total = next(line for line in lines if line.startswith("fullest path"))
    assert "$0" not in total and f"$? ({CALLS_IN_SPEED} calls of unknown cost)" in total
    cheapest = next(line for line in lines if line.startswith("cheapest path"))
    assert "$0" not in cheapest and f"$? ({CALLS_IN_SPEED - 1} calls of unknown cost)" in cheapest
    data = json.loads(hive("consensus", "What is Rust?", "speed", "--estimate", "--json").stdout)
    assert data["expected_cost"] is None and data["max_cost"] is None
    assert data["complete"] is False and data["unpriced_calls"] == CALLS_IN_SPEED
    assert keyed_env.chat_requests() == []


# --- 2. budgets hold when a price is unknown ----------------------------------------------------


def test_a_budget_refuses_a_model_it_cannot_price(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_models(keyed_env, priced("openai/gpt-4o-mini", "0.00000015", "0.0000006"))
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", "1")

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 4
    [line] = [x for x in result.stderr.splitlines() if x.startswith("hive: error:")]
    assert SPEED.generate.models[0] in line and "cannot be bounded" in line
    assert "max_cost_per_run ($1.0000)" in line and "--force" in line, line
    assert json.loads(result.stdout) == {
        "error": line.removeprefix("hive: error: "), "exit_code": 4, "run_id": None,
    }  # fmt: skip
    assert keyed_env.chat_requests() == []  # refused before a cent was spent

    no_usage_anywhere(keyed_env)
    forced = hive("consensus", "What is Rust?", "speed", "--force", "--quiet")
    assert forced.exit_code == 0, forced.stderr
    assert len(keyed_env.chat_requests()) == CALLS_IN_SPEED


def test_a_budget_refuses_a_router_priced_minus_one(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = priced("openrouter/auto", "-1", "-1")
    body = json.loads(keyed_env.models_body)
    body["data"].append(router)
    keyed_env.models_body = json.dumps(body).encode()
    made = hive("profiles", "create", "auto", "--from", "speed", "--generate", "openrouter/auto")
    assert made.exit_code == 0, made.stderr
    monkeypatch.setenv("HIVE_DAILY_BUDGET", "5")

    result = hive("consensus", "What is Rust?", "auto")

    assert result.exit_code == 4
    assert "openrouter/auto" in result.stderr and "daily_budget" in result.stderr
    assert keyed_env.chat_requests() == []


def test_a_budget_refuses_when_the_model_list_cannot_be_fetched(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = hive("profiles", "create", "odd", "--from", "speed", "--generate", "acme/unlisted-1")
    assert made.exit_code == 0, made.stderr
    keyed_env.fail("GET /models", Fault(status=503))
    monkeypatch.setenv("HIVE_MONTHLY_BUDGET", "20")

    result = hive("consensus", "What is Rust?", "odd")

    assert result.exit_code == 4
    line = result.stderr.strip().splitlines()[-1]
    assert "acme/unlisted-1" in line and "could not be fetched" in line, line
    assert keyed_env.chat_requests() == []


# --- 3. the worst case covers every model a call may end on -------------------------------------

DEAR = priced("acme/dear-1", "0.001", "0.001")  # $1,000 per million tokens


def test_the_worst_case_is_priced_on_the_dearest_fallback(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.loads(keyed_env.models_body)
    body["data"].append(DEAR)
    keyed_env.models_body = json.dumps(body).encode()
    made = hive("profiles", "create", "probe", "--from", "speed",
                "--fallback", "refine=acme/dear-1")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    plan = json.loads(hive("consensus", "What is Rust?", "probe", "--estimate", "--json").stdout)
    refine = next(c for c in plan["calls"] if c["stage"] == "refine")
    dear_ceiling = Decimal("0.001") * (refine["max_completion_tokens"] + refine["prompt_tokens"])
    # The ceiling is the fallback's, not the primary's (the expected figure stays the primary's).
    assert Decimal(refine["max_cost"]) >= dear_ceiling
    assert Decimal(refine["expected_cost"]) < Decimal("0.01")
    # A limit far above what the primary models could cost, far below the dear fallback's.
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", "0.5")

    result = hive("consensus", "What is Rust?", "probe")

    assert result.exit_code == 4, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "stopped before refine" in line and "max_cost_per_run" in line, line
    asked = [r.body["model"] for r in keyed_env.chat_requests()]
    assert asked == [SPEED.generate.models[0]]  # refine was never sent


# --- 5. simulated runs never shape real estimates -----------------------------------------------


def test_simulated_runs_do_not_move_the_estimate() -> None:
    before = json.loads(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout
    )
    for question in ("What is Rust?", "What is Go?", "What is Zig?"):
        assert hive("consensus", question, "balanced", "--quiet").exit_code == 0

    after = hive("consensus", "What is Rust?", "balanced", "--estimate")
    data = json.loads(hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout)

    assert data["expected_cost"] == before["expected_cost"]
    assert data["calls"] == before["calls"]
    assert data["simulated"] is True
    assert "costs of a real run" in after.stdout


# --- what counts as billed ----------------------------------------------------------------------


def test_a_stream_accepted_then_broken_may_be_billed_but_a_refusal_is_not(
    keyed_env: LoopbackOpenRouter,
) -> None:
    generator = SPEED.generate.models[0]
    # First attempt: refused with HTTP 503 (never billed). Second: accepted (200), then the
    # connection drops before any text (the prompt may be billed). Third: a normal answer.
    keyed_env.fail(generator, Fault(status=503), Fault(cut_after=0))

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout, parse_float=Decimal)
    refused, broken, answered = [s for s in out["stages"] if s["stage"] == "generate"]
    assert refused["error"] and refused["cost"] is None  # not billed: not an unknown cost
    assert broken["error"] and broken["content"] == ""
    assert broken["cost_estimated"] is True and Decimal(broken["cost"]) > 0  # priced by hive
    assert answered["error"] is None and answered["cost_estimated"] is False
    assert out["unknown_cost_calls"] == 0
    assert Decimal(out["total_cost"]) == sum(
        Decimal(s["cost"]) for s in out["stages"] if s["cost"] is not None
    )


def test_the_billable_rule_reads_the_same_in_sql_and_in_python() -> None:
    import itertools

    from hive.consensus.events import billable
    from hive.store.history import billable_sql

    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE calls (accepted INTEGER, error TEXT, content TEXT, cost TEXT,"
        " prompt_tokens INTEGER, completion_tokens INTEGER)"
    )
    cases = list(itertools.product([0, 1], [None, "boom"], ["", "text"], [None, "0.01"],
                                   [None, 5], [None, 7]))  # fmt: skip
    for case in cases:
        db.execute("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?)", case)
    rows = db.execute(f"SELECT *, {billable_sql()} FROM calls").fetchall()
    assert len(rows) == 64
    for accepted, error, content, cost, prompt, completion, in_sql in rows:
        in_python = billable(
            accepted=bool(accepted), error=error, content=content,
            cost=None if cost is None else Decimal(cost), prompt_tokens=prompt,
            completion_tokens=completion,
        )  # fmt: skip
        assert bool(in_sql) == in_python, (accepted, error, content, cost, prompt, completion)


def test_not_implemented_is_not_retried(keyed_env: LoopbackOpenRouter) -> None:
    """A server without the endpoint (HTTP 501) will not grow one on a retry or another model."""
    keyed_env.fail("*", Fault(status=501, body=b"<html><body>Not Implemented</body></html>"))

    result = hive("consensus", "What is Rust?", "speed")

    assert result.exit_code == 1
    assert len(keyed_env.chat_requests()) == 1
    assert "HTTP 501" in result.stderr.strip().splitlines()[-1]
