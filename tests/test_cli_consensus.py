"""End-to-end tests of ``hive consensus`` and friends: real commands, a real loopback server.

In-process runs go through Typer's ``CliRunner`` (stdout and stderr are captured separately);
where a real process matters (``python -m hive``, signals, shell completion, a terminal on
stdin) the CLI runs in a subprocess. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from hive import __version__
from hive.cli.consensus import complete_profile
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
from hive.openrouter.simulator import sse_events
from tests.conftest import FAKE_KEY, store_without_fallbacks
from tests.helpers import (
    complete_bash,
    hive,
    interrupt,
    reaped,
    run_hive,
    start_hive,
    wait_until,
)
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

PROFILE_NAMES = ["balanced", "speed", "quality", "cost", "free"]


# --- helpers -----------------------------------------------------------------------------------


def served(body: dict[str, Any]) -> tuple[str, Decimal | None, dict[str, Any]]:
    """What the loopback server streamed for one request: the text, the billed cost, usage."""
    text: list[str] = []
    usage: dict[str, Any] = {}
    for event in sse_events(body):
        line = event.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line.removeprefix("data: "), parse_float=Decimal)
        for choice in chunk.get("choices", []):
            content = choice.get("delta", {}).get("content")
            if content:
                text.append(content)
        if "usage" in chunk:
            usage = chunk["usage"]
    cost = usage.get("cost")
    return "".join(text), None if cost is None else Decimal(cost), usage


def user_message(request: RecordedRequest) -> str:
    return next(m["content"] for m in request.body["messages"] if m["role"] == "user")


def stage_of_requests(requests: list[RecordedRequest], profile: str) -> list[str]:
    """Stage names in request order: all generators start before refine, then one per stage."""
    n_gen = len(BUILTIN_PROFILES[profile].generate.models)
    return ["generate"] * n_gen + list(STAGES[1:])[: len(requests) - n_gen]


def expected_calls(profile: str) -> int:
    return len(BUILTIN_PROFILES[profile].generate.models) + 3


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hive: error:")]


def parse_json(stdout: str) -> dict[str, Any]:
    """Exactly one JSON document (json.loads rejects trailing data), numbers as exact decimals."""
    data = json.loads(stdout, parse_float=Decimal)
    assert isinstance(data, dict)
    return data


def no_key(*texts: str) -> None:
    for text in texts:
        assert FAKE_KEY not in text


# --- a keyed run against the loopback server --------------------------------------------------


def test_plain_run_prints_exactly_the_curated_answer(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "speed")

    assert result.exit_code == 0, result.stderr
    requests = keyed_env.chat_requests()
    assert len(requests) == 4
    assert [r.body["model"] for r in requests[1:]] == [
        BUILTIN_PROFILES["speed"].stage(s).models[0] for s in STAGES[1:]
    ]
    curated, _, _ = served(requests[-1].body)
    assert result.stdout == curated.strip() + "\n"
    assert "\x1b" not in result.stdout
    assert "hive:" not in result.stdout
    no_key(result.stdout, result.stderr)


def test_plain_stdout_equals_json_answer(keyed_env: LoopbackOpenRouter) -> None:
    plain = hive("consensus", "What is Rust?", "speed")
    as_json = hive("consensus", "What is Rust?", "speed", "--json")

    assert plain.exit_code == 0 and as_json.exit_code == 0
    assert plain.stdout == parse_json(as_json.stdout)["answer"] + "\n"


def test_progress_goes_to_stderr_one_line_per_call(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "speed")

    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    profile = BUILTIN_PROFILES["speed"]
    for stage in STAGES:
        model = profile.stage(stage).models[0]
        assert any(line.startswith(f"hive: {stage} {model} done") for line in lines), lines
    assert "confidence" in lines[-1]
    # A keyed run is no simulation (the loopback's replies quote the simulator's own text,
    # which the Agreement section repeats, so look at what hive itself says).
    assert "simulation mode" not in result.stderr and "(simulated)" not in lines[-1]
    assert "\x1b" not in result.stderr


def test_quiet_leaves_stderr_empty(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "speed", "--quiet")

    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.strip()
    assert len(keyed_env.chat_requests()) == 4


def test_request_count_matches_each_profile(keyed_env: LoopbackOpenRouter) -> None:
    for profile in PROFILE_NAMES:
        before = len(keyed_env.chat_requests())
        result = hive("consensus", "What is Rust?", profile, "--quiet", "--fixed")

        assert result.exit_code == 0, (profile, result.stderr)
        requests = keyed_env.chat_requests()[before:]
        assert len(requests) == expected_calls(profile), profile
        spec = BUILTIN_PROFILES[profile]
        n_gen = len(spec.generate.models)
        assert sorted(r.body["model"] for r in requests[:n_gen]) == sorted(spec.generate.models)
        assert [r.body["model"] for r in requests[n_gen:]] == [
            spec.stage(s).models[0] for s in STAGES[1:]
        ]
        for request in requests:
            assert request.headers.get("Authorization") == f"Bearer {FAKE_KEY}"
            assert request.body["stream"] is True


@pytest.mark.slow
def test_python_dash_m_runs_against_the_server(keyed_env: LoopbackOpenRouter) -> None:
    proc = run_hive("consensus", "What is Rust?", "speed")

    assert proc.returncode == 0, proc.stderr
    curated, _, _ = served(keyed_env.chat_requests()[-1].body)
    assert proc.stdout == curated.strip() + "\n"
    assert "\x1b" not in proc.stdout
    assert "done" in proc.stderr
    no_key(proc.stdout, proc.stderr)


def test_sequential_stages_reuse_a_connection(keyed_env: LoopbackOpenRouter) -> None:
    connections: list[Any] = []
    accept = keyed_env._server.process_request

    def process_request(request: Any, client_address: Any) -> None:
        connections.append(client_address)
        accept(request, client_address)

    keyed_env._server.process_request = process_request  # type: ignore[method-assign]
    result = hive("consensus", "What is Rust?", "speed", "--quiet")

    assert result.exit_code == 0
    assert len(keyed_env.chat_requests()) == 4
    # generate → refine → validate → curate run one after another: one pooled connection
    # carries them all (each stream is read to its end, so httpx can reuse it).
    assert len(connections) == 1


# --- --json --------------------------------------------------------------------------------------

STAGE_KEYS = {
    "stage",
    "model",
    "model_used",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "ttft_ms",
    "latency_ms",
    "finish_reason",
    "content",
}
TOP_KEYS = {
    "question",
    "profile",
    "answer",
    "simulated",
    "confidence",
    "total_cost",
    "total_tokens",
    "duration_ms",
    "stages",
    "rounds",
    "decisions",
}


def is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_money(value: object) -> bool:
    """Money as every --json writes it: exact decimal text in plain notation, never a float."""
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


@pytest.mark.parametrize("profile", ["speed", "balanced"])
def test_json_schema_and_costs(keyed_env: LoopbackOpenRouter, profile: str) -> None:
    # --fixed: every stage with the full panel (the adaptive paths: test_adaptive_pipeline.py)
    result = hive("consensus", "What is Rust?", profile, "--json", "--fixed")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # --json writes nothing else; a key means no simulation notice
    data = parse_json(result.stdout)
    assert data.keys() >= TOP_KEYS
    assert data["question"] == "What is Rust?"
    assert data["profile"] == profile
    assert data["simulated"] is False
    assert data["confidence"] is None or is_number(data["confidence"])
    assert isinstance(data["answer"], str) and data["answer"]
    assert is_money(data["total_cost"])
    assert isinstance(data["total_tokens"], int)
    assert isinstance(data["duration_ms"], int) and data["duration_ms"] >= 0

    stages = data["stages"]
    assert isinstance(stages, list) and len(stages) == expected_calls(profile)
    for stage in stages:
        assert stage.keys() >= STAGE_KEYS
        assert stage["stage"] in STAGES
        for key in ("model", "model_used", "provider", "finish_reason", "content"):
            assert isinstance(stage[key], str), key
        for key in ("prompt_tokens", "completion_tokens", "latency_ms"):
            assert isinstance(stage[key], int) and not isinstance(stage[key], bool), key
        assert stage["ttft_ms"] is None or isinstance(stage["ttft_ms"], int)
        assert is_money(stage["cost"])
    assert [s["stage"] for s in stages].count("generate") == len(
        BUILTIN_PROFILES[profile].generate.models
    )
    assert [s["stage"] for s in stages][-3:] == list(STAGES[1:])

    # Totals add up, and equal exactly what the server billed in its usage chunks.
    assert Decimal(data["total_cost"]) == sum(Decimal(s["cost"]) for s in stages)
    assert data["total_tokens"] == sum(s["prompt_tokens"] + s["completion_tokens"] for s in stages)
    billed = [served(r.body) for r in keyed_env.chat_requests()]
    assert Decimal(data["total_cost"]) == sum(cost for _, cost, _ in billed if cost is not None)
    assert data["total_tokens"] == sum(u["total_tokens"] for _, _, u in billed)

    # Each stage's content is what the server streamed for it; the answer is curate's.
    streamed = [(r.body["model"], served(r.body)[0]) for r in keyed_env.chat_requests()]
    assert sorted((s["model"], s["content"]) for s in stages) == sorted(streamed)
    assert data["answer"] == stages[-1]["content"].strip()
    no_key(result.stdout, result.stderr)


# --- the question from stdin --------------------------------------------------------------------


def test_dash_reads_the_question_from_stdin(keyed_env: LoopbackOpenRouter) -> None:
    question = "Why is the sky blue?\nAnswer for a ten-year-old.\n"
    result = hive("consensus", "-", "quality", "--quiet", "--fixed", input=question)

    assert result.exit_code == 0, result.stderr
    requests = keyed_env.chat_requests()
    assert len(requests) == 6
    generate = requests[: len(BUILTIN_PROFILES["quality"].generate.models)]
    assert [user_message(r) for r in generate] == [question.strip()] * 3


def test_no_question_with_piped_stdin_reads_it(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "--fixed", input="What is a monad?")

    assert result.exit_code == 0, result.stderr
    requests = keyed_env.chat_requests()
    assert len(requests) == expected_calls("balanced")
    assert user_message(requests[0]) == "What is a monad?"


@pytest.mark.slow
def test_piped_stdin_in_a_real_process(keyed_env: LoopbackOpenRouter) -> None:
    proc = run_hive("consensus", "-", "speed", "--json", input="What is a monad?\n")

    assert proc.returncode == 0, proc.stderr
    assert parse_json(proc.stdout)["question"] == "What is a monad?"
    assert user_message(keyed_env.chat_requests()[0]) == "What is a monad?"


EMPTY_QUESTIONS = [
    (["consensus", ""], None),
    (["consensus", "   \n\t "], None),
    (["consensus", "-"], ""),
    (["consensus", "-"], " \n \n"),
    (["consensus"], ""),
    (["consensus", "", "speed", "--json"], None),
    (["--debug", "consensus", " "], None),
]


def test_empty_question_is_a_usage_error(keyed_env: LoopbackOpenRouter) -> None:
    for args, stdin in EMPTY_QUESTIONS:
        result = hive(*args, input=stdin)

        assert result.exit_code == 2, args
        if "--json" in args:  # a failure is still one JSON object on stdout
            failure = {"error": "the question is empty", "exit_code": 2, "run_id": None}
            assert json.loads(result.stdout) == failure
        else:
            assert result.stdout == ""
        errors = error_lines(result.stderr)
        assert len(errors) == 1, args
        assert "empty" in errors[0]
        if "--debug" not in args:
            assert result.stderr == errors[0] + "\n"
            assert "Traceback" not in result.stderr
    assert keyed_env.chat_requests() == []


@pytest.mark.slow
def test_empty_stdin_in_a_real_process() -> None:
    proc = run_hive("consensus", stdin=subprocess.DEVNULL)

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_no_question_with_a_terminal_on_stdin_asks_for_one() -> None:
    primary, secondary = os.openpty()
    try:
        proc = run_hive("consensus", stdin=secondary)
    finally:
        os.close(primary)
        os.close(secondary)

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert "no question given" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- bad usage and failures -------------------------------------------------------------------


def test_unknown_profile_lists_the_valid_ones(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "fastest")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "fastest" in result.stderr
    for name in PROFILE_NAMES:
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert keyed_env.chat_requests() == []


def assert_one_error_line(result: Any, exit_code: int, *, debug: bool = False) -> str:
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    if result.stdout:  # --json: the failure as one object, saying what the line says
        failure = json.loads(result.stdout)
        assert failure["exit_code"] == exit_code
        assert lines[0] == f"hive: error: {failure['error']}"
    else:
        assert result.stdout == ""
    if debug:
        assert "Traceback" in result.stderr
    else:
        assert "Traceback" not in result.stderr
    no_key(result.stdout, result.stderr)
    return lines[0]


def test_server_rejecting_the_key_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackOpenRouter(api_key="a-different-fake-key") as server:
        monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
        monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
        plain = hive("consensus", "What is Rust?", "balanced")
        debug = hive("--debug", "consensus", "What is Rust?", "balanced")
        quiet = hive("consensus", "What is Rust?", "balanced", "--quiet")
        requests = server.chat_requests()

    for result, is_debug in ((plain, False), (debug, True)):
        line = assert_one_error_line(result, 3, debug=is_debug)
        assert "key" in line.lower()
        assert "generate" in line
    # --quiet: the error is the whole of stderr, one line.
    assert quiet.exit_code == 3
    assert len(quiet.stderr.splitlines()) == 1
    assert quiet.stderr.startswith("hive: error:")
    no_key(quiet.stderr)
    # Three runs, each stopped by the first rejection among balanced's first panel (two
    # generators; the other may be cancelled before it is sent, or while its body is on
    # the wire, when the server records an empty body): nothing after.
    first_panel = BUILTIN_PROFILES["balanced"].generate.models[:2]
    assert 3 <= len(requests) <= 3 * 2
    assert {r.body["model"] for r in requests if r.body} <= set(first_panel)
    assert all(r.headers.get("Authorization") == f"Bearer {FAKE_KEY}" for r in requests)


# Tries per model for a transient failure (the retry_attempts setting's default).
ATTEMPTS = 3


@pytest.mark.parametrize(
    ("status", "exit_code", "word"),
    [(401, 3, "key"), (402, 3, "credits"), (500, 1, "500")],
)
def test_http_errors_map_to_exit_codes(
    keyed_env: LoopbackOpenRouter, status: int, exit_code: int, word: str
) -> None:
    # A rejected key or missing credits ends the call at once; a 500 is transient, so it fails
    # the run only when every try fails (on speed's models alone: no fallback to turn to).
    tries = ATTEMPTS if status == 500 else 1
    generator = BUILTIN_PROFILES["speed"].generate.models[0]
    alone = store_without_fallbacks("speed-alone", "speed")
    for debug in (False, True):
        keyed_env.fail(generator, *[Fault(status=status)] * tries)
        args = ["--debug"] if debug else []
        result = hive(*args, "consensus", "What is Rust?", alone)

        line = assert_one_error_line(result, exit_code, debug=debug)
        assert word in line.lower()
        assert "generate" in line
    requests = keyed_env.chat_requests()
    assert [r.body["model"] for r in requests] == [generator] * tries * 2  # nothing after


def test_a_single_500_is_retried_and_the_run_succeeds(keyed_env: LoopbackOpenRouter) -> None:
    generator = BUILTIN_PROFILES["speed"].generate.models[0]
    keyed_env.fail(generator, Fault(status=500))

    result = hive("consensus", "What is Rust?", "speed", "--json")

    assert result.exit_code == 0, result.stderr
    data = parse_json(result.stdout)
    assert data["degraded"] is False
    assert [r.body["model"] for r in keyed_env.chat_requests()] == [
        generator, *(BUILTIN_PROFILES["speed"].stage(s).models[0] for s in STAGES)
    ]  # fmt: skip
    assert any("retrying" in w and "HTTP 500" in w for w in data["warnings"])
    no_key(result.stdout, result.stderr)


def test_500_on_every_generator_exits_1(keyed_env: LoopbackOpenRouter) -> None:
    generators = BUILTIN_PROFILES["balanced"].generate.models
    alone = store_without_fallbacks("balanced-alone", "balanced")  # no fallback to turn to
    for model in generators:
        keyed_env.fail(model, *[Fault(status=500)] * ATTEMPTS)
    result = hive("consensus", "What is Rust?", alone)

    line = assert_one_error_line(result, 1)
    assert "generate stage failed" in line
    assert "Internal Server Error" in line and "HTTP 500" in line  # the real cause
    requests = keyed_env.chat_requests()
    assert sorted(r.body["model"] for r in requests) == sorted(generators * ATTEMPTS)
    json_result = hive("consensus", "What is Rust?", alone, "--json")
    assert json_result.exit_code == 0  # the faults were used up: the server answers again
    assert parse_json(json_result.stdout)["simulated"] is False
    assert parse_json(json_result.stdout)["degraded"] is False


@pytest.mark.slow
def test_500_on_every_generator_in_a_real_process(keyed_env: LoopbackOpenRouter) -> None:
    generators = BUILTIN_PROFILES["balanced"].generate.models
    alone = store_without_fallbacks("balanced-alone", "balanced")  # no fallback to turn to
    for model in generators:
        keyed_env.fail(model, *[Fault(status=500)] * ATTEMPTS)
    proc = run_hive("--debug", "consensus", "What is Rust?", alone)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" in proc.stderr
    [line] = error_lines(proc.stderr)
    assert "generate stage failed" in line and "HTTP 500" in line
    assert len(keyed_env.chat_requests()) == len(generators) * ATTEMPTS  # no later stage ran
    no_key(proc.stdout, proc.stderr)


def key_in_message() -> bytes:
    return json.dumps(
        {"error": {"code": 400, "message": f"Invalid credentials {FAKE_KEY} for this request"}}
    ).encode()


def test_key_in_a_server_error_message_is_masked(keyed_env: LoopbackOpenRouter) -> None:
    generator = BUILTIN_PROFILES["speed"].generate.models[0]
    for debug in (False, True):
        for json_output in (False, True):
            keyed_env.fail(generator, Fault(status=400, body=key_in_message()))
            args = (["--debug"] if debug else []) + ["consensus", "What is Rust?", "speed"]
            result = hive(*args, *(["--json"] if json_output else []))

            line = assert_one_error_line(result, 1, debug=debug)
            assert "Invalid credentials" in line
            assert "sk-or-v1-…abcd" in line  # masked, yet recognisable
    assert len(keyed_env.chat_requests()) == 4


def test_key_in_a_dropped_drafts_error_is_masked_on_stderr(
    keyed_env: LoopbackOpenRouter,
) -> None:
    keyed_env.fail("openai/gpt-5.4-mini", Fault(status=400, body=key_in_message()))
    result = hive("consensus", "What is Rust?", "balanced")

    assert result.exit_code == 0  # one draft dropped, two survive
    assert "warning: dropped a draft" in result.stderr
    no_key(result.stdout, result.stderr)


def test_key_in_a_dropped_drafts_error_is_masked_in_json(
    keyed_env: LoopbackOpenRouter,
) -> None:
    keyed_env.fail("openai/gpt-5.4-mini", Fault(status=400, body=key_in_message()))
    result = hive("consensus", "What is Rust?", "balanced", "--json")

    assert result.exit_code == 0
    data = parse_json(result.stdout)
    assert any(s["error"] for s in data["stages"])
    no_key(result.stdout, result.stderr)


# --- simulation mode ----------------------------------------------------------------------------


def test_simulation_mode_without_a_key() -> None:
    result = hive("consensus", "What is Rust?", "speed")

    assert result.exit_code == 0, result.stderr
    assert "simulation" in result.stderr.lower()
    assert "Simulated reply" in result.stdout
    assert "\x1b" not in result.stdout


@pytest.mark.slow
def test_simulation_mode_in_a_real_process() -> None:
    proc = run_hive("consensus", "What is Rust?", "cost", "--json")

    assert proc.returncode == 0, proc.stderr
    assert "simulation" in proc.stderr.lower()
    data = parse_json(proc.stdout)
    assert data["simulated"] is True
    assert len(data["stages"]) == expected_calls("cost")


def test_quiet_simulation_is_silent_on_stderr() -> None:
    result = hive("consensus", "What is Rust?", "speed", "--quiet")

    assert result.exit_code == 0
    assert result.stderr == ""


def comparable(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            s["stage"],
            s["model"],
            s["content"],
            s["prompt_tokens"],
            s["completion_tokens"],
            s["cost"],
        )
        for s in data["stages"]
    ]


@pytest.mark.parametrize("profile", ["speed", "balanced"])
def test_simulation_is_deterministic(profile: str) -> None:
    first = hive("consensus", "What is Rust?", profile, "--json")
    second = hive("consensus", "What is Rust?", profile, "--json")

    assert first.exit_code == 0 and second.exit_code == 0
    a, b = parse_json(first.stdout), parse_json(second.stdout)
    assert a["simulated"] is True and b["simulated"] is True
    assert a["answer"] == b["answer"]
    assert a["confidence"] == b["confidence"]
    assert a["total_cost"] == b["total_cost"] and a["total_tokens"] == b["total_tokens"]
    # Generators finish in any order; compare them as a set, the rest in order.
    assert sorted(comparable(a), key=repr) == sorted(comparable(b), key=repr)
    assert comparable(a)[-3:] == comparable(b)[-3:]
    assert Decimal(a["total_cost"]) == sum(Decimal(s["cost"]) for s in a["stages"])


def test_simulation_differs_by_question() -> None:
    a = parse_json(hive("consensus", "What is Rust?", "speed", "--json").stdout)
    b = parse_json(hive("consensus", "What is Go?", "speed", "--json").stdout)

    assert a["answer"] != b["answer"]
    assert "What is Go?" in b["answer"]
    assert "What is Go?" not in a["answer"]


def test_simulate_flag_never_contacts_the_server(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "balanced", "--simulate", "--json")

    assert result.exit_code == 0, result.stderr
    assert parse_json(result.stdout)["simulated"] is True
    assert "simulation" in result.stderr.lower()
    assert keyed_env.requests == []
    no_key(result.stdout, result.stderr)


# --- --detailed -----------------------------------------------------------------------------


def test_detailed_prints_every_stage_readably_before_the_answer(
    keyed_env: LoopbackOpenRouter,
) -> None:
    """Each call under its own heading (stage, model, tokens, cost, time): a draft as written,
    the refine's answer without its ledger, the review as its confidence and a list of issues,
    and the final answer once, at the end, not again under curate."""
    from hive.consensus.ledger import parse_ledger
    from hive.consensus.stages import parse_verdict

    result = hive("consensus", "What is Rust?", "balanced", "--detailed", "--fixed")

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    requests = keyed_env.chat_requests()
    assert len(requests) == 6
    answer_at = out.index("## answer\n\n")
    stages = stage_of_requests(requests, "balanced")
    for stage, request in zip(stages, requests, strict=True):
        text, _, _ = served(request.body)
        title = rf"## {stage} #\d" if stage == "generate" else f"## {stage}"
        found = re.search(rf"{title} · {re.escape(request.body['model'])} · ", out)
        assert found, (stage, out[:2000])
        at = found.start()
        body = out[out.index("\n\n", at) + 2 :]
        if stage == "generate":
            assert body.startswith(text.strip())
        elif stage == "refine":
            answer = parse_ledger(text, ()).answer
            assert body.startswith(answer[:200]) and "<ledger>" not in body[: len(answer)]
        elif stage == "validate":
            verdict = parse_verdict(text)
            assert body.startswith(f"**confidence {verdict.confidence:.2f}**")
            assert all(f"- {issue}" in body for issue in verdict.issues)
            assert "<verdict>" not in body.split("## ")[0]
        else:
            assert body.startswith("(the final answer, shown below)")
        assert at < answer_at
    curated, _, _ = served(requests[-1].body)
    assert out.endswith("## answer\n\n" + curated.strip() + "\n")
    assert out.count(curated.strip()[:80]) == 1  # the answer is not repeated under curate
    assert "\x1b" not in out


# --- version, help, profiles ------------------------------------------------------------------


@pytest.mark.slow
def test_version() -> None:
    result = hive("--version")
    assert result.exit_code == 0
    assert result.stdout == f"hive {__version__}\n"
    proc = run_hive("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"hive {__version__}\n"


def test_help_lists_the_commands() -> None:
    result = hive("--help")
    assert result.exit_code == 0
    assert "consensus" in result.stdout
    assert "profiles" in result.stdout
    sub = hive("consensus", "--help")
    assert sub.exit_code == 0
    for option in ("--json", "--plain", "--detailed", "--quiet", "--simulate"):
        assert option in sub.stdout


def test_profiles_list_shows_every_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # room for every full model id
    result = hive("profiles", "list")

    assert result.exit_code == 0
    assert "balanced *" in result.stdout
    assert "* default profile" in result.stdout
    for name, profile in BUILTIN_PROFILES.items():
        assert name in result.stdout
        for model in profile.models():
            assert model in result.stdout, model


def test_profiles_list_shows_full_model_ids_at_100_columns() -> None:
    result = hive("profiles", "list")

    assert result.exit_code == 0
    missing = [m for p in BUILTIN_PROFILES.values() for m in p.models() if m not in result.stdout]
    assert missing == []


def test_profiles_list_json() -> None:
    result = hive("profiles", "list", "--json")

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [p["name"] for p in data] == PROFILE_NAMES
    assert [p["name"] for p in data if p["default"]] == ["balanced"]
    for entry in data:
        profile = BUILTIN_PROFILES[entry["name"]]
        assert list(entry["stages"]) == list(STAGES)
        for stage in STAGES:
            assert entry["stages"][stage]["models"] == list(profile.stage(stage).models)
            assert entry["stages"][stage]["max_tokens"] == profile.stage(stage).max_tokens


# --- shell completion --------------------------------------------------------------------------


def test_complete_profile() -> None:
    assert complete_profile("b") == ["balanced"]
    assert complete_profile("") == PROFILE_NAMES
    assert complete_profile("f") == ["free"]
    assert complete_profile("x") == []


@pytest.mark.slow
@pytest.mark.parametrize(("typed", "expected"), [("", PROFILE_NAMES), ("b", ["balanced"])])
def test_bash_completion_of_the_profile(typed: str, expected: list[str]) -> None:
    assert complete_bash(f"hive consensus q {typed}", 3) == expected


# --- Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_exits_130_without_a_traceback(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail("*", *(Fault(hang=True) for _ in range(6)))
    proc = start_hive("consensus", "q", "balanced")
    with reaped(proc):
        # At most ~20 s for the interpreter to start and connect.
        wait_until(keyed_env.chat_requests, proc, within=20)
        assert keyed_env.chat_requests(), "hive never reached the server"
        assert proc.poll() is None
        out, err = interrupt(proc)

    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    assert out == ""
    no_key(out, err)


# --- the live renderer on a non-terminal console ------------------------------------------------


def run_live(profile_name: str, question: str, *, adaptive_rules: bool = True) -> tuple[str, Any]:
    from rich.console import Console

    from hive.consensus.caller import Caller
    from hive.consensus.pipeline import Pipeline
    from hive.consensus.profiles import BUILTIN_PROFILES
    from hive.openrouter.client import OpenRouterClient, make_http_client
    from hive.openrouter.simulator import SimulatorTransport
    from hive.ui.live import LiveRenderer

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=False,
        width=100,
        markup=False,
        highlight=False,
        emoji=False,
    )
    renderer = LiveRenderer(console)

    async def go() -> Any:
        async with make_http_client(api_key=None, transport=SimulatorTransport()) as http:
            caller = Caller(OpenRouterClient(http), renderer.handle)
            pipeline = Pipeline(caller, today=date.today(), adaptive_rules=adaptive_rules)
            return await pipeline.run(question, BUILTIN_PROFILES[profile_name], simulated=True)

    with renderer:
        result = asyncio.run(go())
        renderer.finish(result)
    return buffer.getvalue(), result


def words(text: str) -> str:
    """Text with Markdown and box-drawing marks removed, whitespace collapsed."""
    text = re.sub(r"[*`]", "", text)
    text = re.sub(r"[│╭╮╰╯─▌•]", " ", text)
    text = re.sub(r"(?m)^\s*[>-] ", " ", text)
    return " ".join(text.split())


def test_live_renderer_shows_stages_models_answer_and_summary() -> None:
    text, result = run_live("balanced", "What is Rust?")

    assert "\x1b" not in text  # not a terminal: no escapes, no cursor movement
    for stage in STAGES:
        assert stage in text
    for model in BUILTIN_PROFILES["balanced"].models():
        assert model in text, model
    assert "answer" in text
    assert words(result.answer) in words(text)
    summary = text.strip().splitlines()[-1]
    assert "confidence" in summary
    assert f"{result.confidence:.2f}" in summary
    assert f"{len(result.calls)} calls" in summary
    assert "(simulated)" in summary
    # Each adaptive decision is shown as it is made: balanced asks two generators first.
    assert f"decided: {result.decisions[0].message}" in text


def test_live_renderer_shows_the_agreement_section_after_the_answer() -> None:
    text, result = run_live("balanced", "What is Rust?", adaptive_rules=False)

    consensus = result.consensus
    assert consensus is not None and consensus.agreement is not None
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Agreement: "))
    assert lines[head].startswith(f"Agreement: {consensus.agreement:.2f} across 3 drafts")
    assert head > next(i for i, line in enumerate(lines) if "answer" in line)
    section = " ".join(lines[head:])
    assert "Disputed:" in section and "(minority)" in section
    [dispute] = consensus.ledger.disputes if consensus.ledger else ()
    minority = min(dispute.positions, key=lambda p: len(p.drafts))
    assert all(m in " ".join(section.split()) for m in consensus.models(minority.drafts))
    assert "Validator's issues:" in section


def test_live_renderer_starts_the_answer_on_its_own_line() -> None:
    text, _ = run_live("speed", "What is Rust?")

    curate_model = BUILTIN_PROFILES["speed"].curate.models[0]
    row = next(line for line in text.splitlines() if curate_model in line)
    assert "answer" not in row
    assert "╭" not in row
