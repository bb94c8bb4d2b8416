"""Fault injection: every way OpenRouter or the network can fail, against the real client.

Each case scripts the loopback server (real sockets on 127.0.0.1) and checks what hive did:
the outcome (answer, degraded answer, or the specific error and exit code), how many requests
each model got, the waits it asked for, and what history kept of every attempt. Pipeline-level
runs get a recording sleep and a seeded rng, so no test ever really waits and every backoff is
checked to the exact value; CLI runs (``CliRunner``, or a real process where signals matter)
check exit codes and history, with the millisecond backoff ``conftest`` sets.

No assertion is about elapsed time: only about recorded delays, counts and contents.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from functools import partial
from typing import Any

import pytest

from hive.consensus.caller import Caller
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallRecord,
    ConsensusResult,
    PipelineEvent,
    RunFinished,
    RunWarning,
)
from hive.consensus.pipeline import Pipeline
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES, Profile, StageSpec
from hive.errors import (
    ApiFailure,
    AuthError,
    BadRequest,
    CreditsError,
    HiveError,
    ModelNotFound,
    ModerationBlocked,
    ProviderUnavailable,
    RateLimited,
    StageError,
    Unreachable,
)
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from hive.openrouter.simulator import sse_events
from hive.store.history import db_path
from hive.store.paths import resolve_paths
from hive.store.rows import Run
from tests.conftest import (
    FAKE_KEY,
    ONE_DRAFT_WARNING,
    chunk,
    fixture_path,
    last_run,
    store_without_fallbacks,
    stream,
    without_fallbacks,
    without_ledger,
)
from tests.helpers import hive_without_key as hive  # checks that the key never shows
from tests.helpers import interrupt, reaped, start_hive, wait_until
from tests.loopback import Fault, LoopbackOpenRouter

SPEED = BUILTIN_PROFILES["speed"]
# A scripted reply as OpenRouter streams it (conftest's ``stream`` in the whole envelope), billed
# $0.0000420 unless a test says otherwise.
openrouter_stream = partial(stream, full=True, prompt_tokens=40, cost="0.0000420")
GEN, REF, VAL, CUR = (SPEED.stage(stage).models[0] for stage in STAGES)
# Speed's first choices with nothing to fall back to: what a failing model does on its own.
SPEED_ALONE = without_fallbacks(SPEED)
# Two more models the loopback's catalog lists, to fall back to.
FB1, FB2 = "openai/gpt-4o-mini", "google/gemma-3-27b-it:free"
TRANSIENT = [408, 429, 500, 502, 503, 524, 529]
POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0, max_total_wait=60.0)
QUESTION = "Why is the sky blue?"
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


# --- helpers -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    result: ConsensusResult | None
    error: HiveError | None
    events: list[PipelineEvent]
    sleeps: list[float]  # every backoff wait the run asked for, in order

    @property
    def calls(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallFinished | CallFailed)]

    @property
    def warnings(self) -> list[str]:
        """The run's warnings about faults: not the note that a one-generator profile (most
        of these tests use ``speed``) has no agreement to measure (test_consensus_evidence)."""
        return [
            e.message
            for e in self.events
            if isinstance(e, RunWarning) and e.message != ONE_DRAFT_WARNING
        ]

    def attempts(self, stage: str) -> list[tuple[str, int, bool]]:
        """(model, attempt, ok) of each call the stage made, in order."""
        return [(c.model, c.attempt, c.ok) for c in self.calls if c.stage == stage]


def run_pipeline(
    base_url: str,
    profile: Profile = SPEED,
    *,
    policy: RetryPolicy = POLICY,
    timeout: float = 10.0,
) -> Outcome:
    """One real pipeline run over real sockets; waits are recorded, never slept."""
    events: list[PipelineEvent] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> ConsensusResult:
        async with make_http_client(api_key=FAKE_KEY, base_url=base_url, timeout=timeout) as http:
            caller = Caller(OpenRouterClient(http), events.append, policy=policy, sleep=sleep,
                            rng=random.Random(0))  # fmt: skip
            pipeline = Pipeline(caller, today=datetime.now(UTC).date())
            return await pipeline.run(QUESTION, profile, simulated=False)

    try:
        outcome = Outcome(asyncio.run(go()), None, events, sleeps)
    except HiveError as exc:
        outcome = Outcome(None, exc, events, sleeps)
    text = repr(outcome) + str(outcome.error)
    assert FAKE_KEY not in text, "the key leaked into a result, record, warning or error"
    return outcome


def jitter(*ceilings: float) -> list[float]:
    """The full-jitter waits the seeded rng gives: uniform in [0, ceiling] for each retry."""
    rng = random.Random(0)
    return [rng.uniform(0, ceiling) for ceiling in ceilings]


def asked(server: LoopbackOpenRouter) -> list[str]:
    """The model of every chat request, in arrival order."""
    return [r.body["model"] for r in server.chat_requests()]


def with_stage(profile: Profile, stage: str, **changes: Any) -> Profile:
    spec = profile.stage(stage).model_copy(update=changes)
    field = "validate_" if stage == "validate" else stage
    return profile.model_copy(update={field: StageSpec.model_validate(spec.model_dump())})


def sent_text(events: list[bytes]) -> str:
    """The answer text in some SSE events, as the server wrote it."""
    text = []
    for event in events:
        for line in event.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line.removeprefix("data: "))
                for choice in chunk.get("choices", []):
                    text.append(choice.get("delta", {}).get("content") or "")
    return "".join(text)


def error_line(result: Any) -> str:
    [line] = [x for x in str(result.stderr).splitlines() if x.startswith("hive: error:")]
    return line


def attempts_in(run: Run, stage: str) -> list[tuple[str, int, bool]]:
    return [(c.model, c.attempt, c.error is None) for c in run.calls if c.stage == stage]


def no_key_in_history() -> None:
    path = db_path(resolve_paths())
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            assert FAKE_KEY.encode() not in file.read_bytes()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def user_profile(name: str, *options: str, base: str = "speed", fallbacks: bool = True) -> str:
    """Create ``name`` from ``base`` with ``hive profiles create``; ``fallbacks=False`` then
    empties every stage's fallbacks (inherited ones included), which no option can do."""
    created = hive("profiles", "create", name, "--from", base, *options)
    assert created.exit_code == 0, created.stderr
    if not fallbacks:
        store_without_fallbacks(name)
    return name


# --- transient HTTP statuses: retried with backoff ----------------------------------------------


@pytest.mark.parametrize("status", TRANSIENT)
def test_a_transient_status_is_retried_with_full_jitter(
    openrouter: LoopbackOpenRouter, status: int
) -> None:
    openrouter.fail(GEN, Fault(status=status), Fault(status=status))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer and not out.result.degraded
    assert asked(openrouter) == [GEN, GEN, GEN, REF, VAL, CUR]
    bodies = [r.body for r in openrouter.chat_requests()[:3]]
    assert bodies[0] == bodies[1] == bodies[2], "a retry sends the same request"
    # Full jitter: uniform in [0, base], then [0, 2 * base], drawn from the injected rng.
    assert out.sleeps == jitter(1.0, 2.0)
    assert 0 <= out.sleeps[0] <= 1.0 and 0 <= out.sleeps[1] <= 2.0
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, False), (GEN, 3, True)]
    for call in out.calls[:2]:
        assert call.error is not None and f"HTTP {status}" in call.error
        assert call.cost is None  # an error status bills nothing
    assert out.warnings == [
        f"generate: {GEN} failed (HTTP {status}); retrying in {out.sleeps[0]:.1f}s "
        "(attempt 2 of 3)",
        f"generate: {GEN} failed (HTTP {status}); retrying in {out.sleeps[1]:.1f}s "
        "(attempt 3 of 3)",
    ]


@pytest.mark.parametrize("status", TRANSIENT)
def test_a_transient_status_waits_as_long_as_retry_after_says(
    openrouter: LoopbackOpenRouter, status: int
) -> None:
    fault = Fault(status=status, headers={"Retry-After": "7"})
    openrouter.fail(GEN, fault, fault)

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer
    assert asked(openrouter).count(GEN) == 3
    assert out.sleeps == [7.0, 7.0]
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, False), (GEN, 3, True)]


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(days=1), (30.0, 30.0)),  # far off: capped at max_delay
        (timedelta(days=-1), (0.0, 0.0)),  # already past: no wait
        (timedelta(seconds=20), (10.0, 20.0)),  # seconds away (date precision is one second)
    ],
    ids=["future-capped", "past", "near"],
)
def test_retry_after_as_an_http_date_is_honoured_and_capped(
    openrouter: LoopbackOpenRouter, offset: timedelta, expected: tuple[float, float]
) -> None:
    when = format_datetime(datetime.now(UTC) + offset, usegmt=True)
    openrouter.fail(GEN, Fault(status=503, headers={"Retry-After": when}))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer
    assert asked(openrouter).count(GEN) == 2
    [wait] = out.sleeps
    low, high = expected
    assert low <= wait <= high


def test_retry_after_seconds_are_capped_at_max_delay(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(GEN, Fault(status=429, headers={"Retry-After": "120"}))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None
    assert out.sleeps == [POLICY.max_delay]
    assert asked(openrouter).count(GEN) == 2


def test_max_total_wait_stops_the_retries(openrouter: LoopbackOpenRouter) -> None:
    fault = Fault(status=503, headers={"Retry-After": "7"})
    openrouter.fail(GEN, fault, fault, fault)
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0, max_total_wait=10.0)

    out = run_pipeline(openrouter.base_url, SPEED_ALONE, policy=policy)

    # 7 s waited; another 7 s would pass the 10 s budget, so the second failure is final.
    assert out.sleeps == [7.0]
    assert asked(openrouter) == [GEN, GEN]
    assert isinstance(out.error, StageError) and out.error.exit_code == 1
    assert isinstance(out.error.cause, ProviderUnavailable) and out.error.cause.status == 503
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, False)]


def availability(retryable: bool) -> bytes:
    """OpenRouter's documented availability error (errors_availability_documented.json)."""
    return json.dumps(
        {
            "error": {
                "message": f"All providers for {GEN} are at capacity. Retry after 40 seconds.",
                "error_type": "rate_limit_exceeded",
                "http_status": 429,
                "availability": {
                    "code": "capacity_exhausted",
                    "retryable": retryable,
                    "retry_after": 40,
                    "requested_models": [GEN],
                    "fallback_models": [FB1],
                },
            }
        }
    ).encode()


def test_an_availability_error_marked_retryable_waits_its_retry_after(
    openrouter: LoopbackOpenRouter,
) -> None:
    openrouter.fail(GEN, Fault(status=429, body=availability(True)))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer
    assert out.sleeps == [30.0]  # the body's 40 s, capped at max_delay
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, True)]
    assert out.calls[0].error is not None and "at capacity" in out.calls[0].error


def test_an_availability_error_marked_not_retryable_is_not_retried(
    openrouter: LoopbackOpenRouter,
) -> None:
    openrouter.fail(GEN, Fault(status=429, body=availability(False)))

    out = run_pipeline(openrouter.base_url)

    assert out.sleeps == []
    assert asked(openrouter) == [GEN]
    assert isinstance(out.error, StageError) and out.error.exit_code == 1
    cause = out.error.cause
    assert isinstance(cause, RateLimited)
    assert (cause.retryable, cause.retry_after) == (False, 40.0)
    assert "at capacity" in str(out.error)


# --- never retried ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "exit_code"),
    [(400, BadRequest, 1), (401, AuthError, 3), (402, CreditsError, 3)],
)
def test_a_request_that_would_fail_again_is_neither_retried_nor_passed_on(
    openrouter: LoopbackOpenRouter, status: int, kind: type[HiveError], exit_code: int
) -> None:
    profile = with_stage(SPEED, "generate", fallbacks=(FB1,))
    openrouter.fail(GEN, Fault(status=status))

    out = run_pipeline(openrouter.base_url, profile)

    assert asked(openrouter) == [GEN]  # no retry, no fallback
    assert out.sleeps == []
    assert isinstance(out.error, StageError) and isinstance(out.error.cause, kind)
    assert out.error.exit_code == exit_code
    assert out.attempts("generate") == [(GEN, 1, False)]


def test_a_rejected_key_in_a_later_stage_stops_the_run_instead_of_degrading(
    openrouter: LoopbackOpenRouter,
) -> None:
    openrouter.fail(VAL, Fault(status=401))

    out = run_pipeline(openrouter.base_url, with_stage(SPEED, "validate", fallbacks=(FB1,)))

    assert isinstance(out.error, StageError) and out.error.exit_code == 3
    assert out.error.stage == "validate"
    assert asked(openrouter) == [GEN, REF, VAL]
    assert not any(isinstance(e, RunFinished) for e in out.events)


def test_a_generator_out_of_credits_stops_the_run_even_when_another_answered(
    openrouter: LoopbackOpenRouter,
) -> None:
    balanced = BUILTIN_PROFILES["balanced"]
    openrouter.fail(balanced.generate.models[1], Fault(status=402))

    out = run_pipeline(openrouter.base_url, balanced)

    assert isinstance(out.error, StageError) and out.error.exit_code == 3
    assert isinstance(out.error.cause, CreditsError)
    assert balanced.refine.models[0] not in asked(openrouter)


@pytest.mark.parametrize(("status", "exit_code"), [(400, 1), (401, 3), (402, 3)])
def test_cli_exit_codes_for_requests_that_would_fail_again(
    keyed_env: LoopbackOpenRouter, status: int, exit_code: int
) -> None:
    user_profile("withfb", "--fallback", f"generate={FB1}")
    keyed_env.fail(GEN, Fault(status=status))

    result = hive("consensus", QUESTION, "withfb")

    assert result.exit_code == exit_code, result.stderr
    assert result.stdout == ""
    assert "generate stage failed" in error_line(result)
    assert asked(keyed_env) == [GEN]  # immediately: no retry, no fallback
    run = last_run()
    assert run.status == "failed"
    assert attempts_in(run, "generate") == [(GEN, 1, False)]
    no_key_in_history()


MODERATION = json.dumps(
    {
        "error": {
            "code": 403,
            "message": "Input was flagged by moderation",
            "metadata": {
                "reasons": ["violence", "harassment"],
                "flagged_input": "How do I\nbuild " + "a very long flagged request " * 5,
                "provider_name": "OpenAI",
                "model_slug": GEN,
            },
        }
    }
).encode()


def test_moderation_names_who_flagged_what_and_falls_back(openrouter: LoopbackOpenRouter) -> None:
    profile = with_stage(SPEED, "generate", fallbacks=(FB1, FB2))
    openrouter.fail(GEN, Fault(status=403, body=MODERATION))

    out = run_pipeline(openrouter.base_url, profile)

    assert out.result is not None and out.result.answer and not out.result.degraded
    assert out.sleeps == []  # refused, not failing: straight to the next model
    assert asked(openrouter)[:2] == [GEN, FB1]
    first, second = openrouter.chat_requests()[:2]
    assert first.body["models"] == [FB1, FB2]  # OpenRouter gets the rest as its own fallbacks
    assert second.body["models"] == [FB2]
    failed, answered = out.calls[:2]
    assert failed.error is not None
    [line] = failed.error.splitlines()
    assert line.startswith("blocked by OpenAI's moderation (violence, harassment); flagged input:")
    assert '"How do I build a very long flagged request' in line  # whitespace folded
    assert line.endswith('…" (HTTP 403)')  # long input cut short
    assert (answered.model, answered.model_used, answered.attempt) == (FB1, FB1, 2)
    assert f"generate: {GEN} gave no answer; falling back to {FB1}" in out.warnings


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(403, MODERATION, ModerationBlocked), (404, None, ModelNotFound)],
    ids=["moderation", "not-found"],
)
def test_a_refused_or_unknown_model_without_fallback_is_not_retried(
    openrouter: LoopbackOpenRouter, status: int, body: bytes | None, kind: type[ApiFailure]
) -> None:
    openrouter.fail(GEN, Fault(status=status, body=body))

    out = run_pipeline(openrouter.base_url, SPEED_ALONE)

    assert isinstance(out.error, StageError)
    cause = out.error.cause
    assert isinstance(cause, kind) and cause.status == status
    assert out.error.exit_code == 1
    assert asked(openrouter) == [GEN] and out.sleeps == []


def test_cli_moderation_without_fallback_is_one_line_naming_who_flagged_what(
    keyed_env: LoopbackOpenRouter,
) -> None:
    alone = user_profile("alone", fallbacks=False)
    keyed_env.fail(GEN, Fault(status=403, body=MODERATION))

    result = hive("consensus", QUESTION, alone)

    assert result.exit_code == 1
    assert result.stdout == ""
    line = error_line(result)
    assert f"generate stage failed ({GEN}): blocked by OpenAI's moderation" in line
    assert "(violence, harassment); flagged input:" in line
    assert asked(keyed_env) == [GEN]  # refused: not retried
    assert attempts_in(last_run(), "generate") == [(GEN, 1, False)]


def test_an_unknown_model_falls_back(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(REF, Fault(status=404))

    out = run_pipeline(openrouter.base_url, with_stage(SPEED, "refine", fallbacks=(FB1,)))

    assert out.result is not None and not out.result.degraded
    assert asked(openrouter) == [GEN, REF, FB1, VAL, CUR]
    assert out.sleeps == []
    assert out.attempts("refine") == [(REF, 1, False), (FB1, 2, True)]
    [refined] = [c for c in out.calls if c.stage == "refine" and c.ok]
    assert refined.model_used == FB1


def test_cli_unknown_model_without_fallback_names_the_closest_ids(
    keyed_env: LoopbackOpenRouter,
) -> None:
    typo = "openai/gpt-4o-minii"
    user_profile("typo", "--generate", typo, fallbacks=False)
    keyed_env.fail(typo, Fault(status=404))

    result = hive("consensus", QUESTION, "typo")

    assert result.exit_code == 1
    line = error_line(result)
    assert f"generate stage failed ({typo})" in line
    assert "No endpoints found" in line
    assert re.search(r"closest model ids: .*\bopenai/gpt-4o-mini\b", line)
    assert asked(keyed_env) == [typo]
    assert attempts_in(last_run(), "generate") == [(typo, 1, False)]


# --- the network ---------------------------------------------------------------------------------


def test_connection_refused_is_retried_then_says_what_to_do() -> None:
    out = run_pipeline(f"http://127.0.0.1:{closed_port()}/api/v1", SPEED_ALONE)

    assert isinstance(out.error, StageError) and out.error.exit_code == 1
    assert isinstance(out.error.cause, Unreachable)
    assert "could not reach 127.0.0.1 (Connection refused): check your connection" in str(out.error)
    # The client serves commands without --simulate too: the consensus command adds it.
    assert "--simulate" not in str(out.error)
    assert out.sleeps == jitter(1.0, 2.0)
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, False), (GEN, 3, False)]


def test_cli_connection_refused_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    alone = user_profile("alone", fallbacks=False)

    result = hive("consensus", QUESTION, alone, "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["run_id"] == last_run().id
    assert error_line(result).endswith("check your connection, or run with --simulate")
    run = last_run()
    assert run.status == "failed"
    assert attempts_in(run, "generate") == [(GEN, 1, False), (GEN, 2, False), (GEN, 3, False)]


def test_a_reset_before_any_reply_is_retried(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(GEN, Fault(reset=True))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer
    assert asked(openrouter) == [GEN, GEN, REF, VAL, CUR]
    assert out.sleeps == jitter(1.0)
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, True)]
    failed = out.calls[0]
    assert failed.error is not None
    assert "the connection to 127.0.0.1 was reset" in failed.error
    assert failed.content == "" and failed.cost is None
    # The server was reached: a retry notice must not say it could not be.
    assert out.warnings == [
        f"generate: {GEN} failed (the connection to 127.0.0.1 was reset (Connection reset by "
        f"peer)); retrying in {out.sleeps[0]:.1f}s (attempt 2 of 3)"
    ]
    assert not any("could not reach" in w for w in out.warnings)


def test_a_reset_names_the_network_error(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(GEN, Fault(reset=True))

    out = run_pipeline(openrouter.base_url)

    failed = out.calls[0]
    assert failed.error is not None and "()" not in failed.error
    assert failed.error.endswith("(Connection reset by peer)")


def test_a_reset_mid_stream_is_retried_and_keeps_the_partial_text(
    openrouter: LoopbackOpenRouter,
) -> None:
    openrouter.fail(GEN, Fault(cut_after=4))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and not out.result.degraded
    assert asked(openrouter)[:2] == [GEN, GEN]
    assert out.sleeps == jitter(1.0)
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, True)]
    failed, answered = out.calls[:2]
    partial = sent_text(sse_events(openrouter.chat_requests()[0].body)[:4])
    assert partial and failed.content == partial
    assert failed.error is not None and "connection lost mid-stream" in failed.error
    assert answered.content.startswith(partial)


def test_a_hung_stream_times_out_and_is_retried(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(GEN, Fault(hang=True))

    out = run_pipeline(openrouter.base_url, timeout=0.5)

    assert out.result is not None and out.result.answer
    assert asked(openrouter) == [GEN, GEN, REF, VAL, CUR]
    assert out.sleeps == jitter(1.0)
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, True)]
    failed = out.calls[0]
    assert failed.error is not None and "0.5 s" in failed.error
    assert f"generate: {GEN} failed (" in out.warnings[0]


def test_keep_alive_comments_keep_a_slow_stream_alive(openrouter: LoopbackOpenRouter) -> None:
    # 1.5 s without a word, but a comment every 50 ms: never 0.5 s of silence.
    openrouter.fail(GEN, Fault(keepalive_for=1.5))

    out = run_pipeline(openrouter.base_url, timeout=0.5)

    assert out.result is not None and out.result.answer
    assert asked(openrouter) == [GEN, REF, VAL, CUR]
    assert out.sleeps == [] and out.warnings == []
    [draft] = [c for c in out.calls if c.stage == "generate"]
    assert draft.ok and draft.content == sent_text(sse_events(openrouter.chat_requests()[0].body))


# --- broken streams --------------------------------------------------------------------------


def test_a_malformed_stream_line_is_skipped_and_the_paid_call_kept(
    openrouter: LoopbackOpenRouter,
) -> None:
    """Issue 8, item 4: the server streams and bills on after a bad line; retrying would pay
    twice and record once. The line is skipped, quoted in a warning the run keeps."""
    events = openrouter_stream(GEN, "Rayleigh scattering.", cost="0.0000420")
    events.insert(2, b'data: {"choices": [oops\n\n')
    openrouter.fail(GEN, Fault(events=events))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer and not out.result.degraded
    assert asked(openrouter) == [GEN, REF, VAL, CUR]
    assert out.sleeps == []
    assert out.attempts("generate") == [(GEN, 1, True)]
    [draft] = [c for c in out.calls if c.stage == "generate"]
    assert draft.content == "Rayleigh scattering."
    assert draft.cost == Decimal("0.0000420") and not draft.cost_estimated
    assert out.warnings == [
        f"generate ({GEN}): skipped a malformed stream line: '{{\"choices\": [oops'"
    ]
    assert [w for w in out.result.warnings if w != ONE_DRAFT_WARNING] == out.warnings


def test_a_stream_closed_without_a_finish_reason_is_retried_keeping_the_fragment(
    openrouter: LoopbackOpenRouter,
) -> None:
    """Issue 8, item 6: [DONE] without a finish reason is not a whole answer."""
    fragment = "The sky is blue because of Rayleigh scattering, wh"
    events = [
        e
        for e in openrouter_stream(REF, fragment, cost="0.0000077")
        if b'"finish_reason":"' not in e
    ]
    usage = '"prompt_tokens":40,"completion_tokens":9,"cost":0.0000077'
    events.insert(-1, chunk(REF, "", None, usage, full=True))
    openrouter.fail(REF, Fault(events=events))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and not out.result.degraded
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, True)]
    failed = next(c for c in out.calls if c.stage == "refine")
    assert failed.content == fragment
    assert failed.cost == Decimal("0.0000077")  # billed, so recorded
    assert failed.error is not None and "without a finish reason" in failed.error
    assert failed.error.endswith(
        "the stream ended without a finish reason: the answer may be incomplete"
    )
    assert out.warnings == [
        f"refine: {REF} failed (the stream ended without a finish reason); "
        f"retrying in {out.sleeps[0]:.1f}s (attempt 2 of 3)"
    ]
    # the fragment never went on to be validated: the retry's whole answer did
    [refined] = [without_ledger(c.content) for c in out.calls if c.stage == "refine" and c.ok]
    validate = openrouter.chat_requests()[-2]
    assert validate.body["model"] == VAL
    user = next(m["content"] for m in validate.body["messages"] if m["role"] == "user")
    assert f"<answer>\n{refined}\n</answer>" in user


def test_a_captured_in_band_error_is_retried(openrouter: LoopbackOpenRouter) -> None:
    captured = fixture_path("stream_chat_midstream_error.txt").read_bytes()
    events = [part + b"\n\n" for part in captured.split(b"\n\n") if part.strip()]
    openrouter.fail(REF, Fault(events=events))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and not out.result.degraded
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, True)]
    failed = next(c for c in out.calls if c.stage == "refine")
    assert failed.error is not None and "Token limit reached" in failed.error
    assert (failed.provider, failed.cost) == ("Minimax", Decimal(0))
    assert (failed.prompt_tokens, failed.completion_tokens) == (43, 10)
    assert out.sleeps == jitter(1.0)


def test_an_empty_answer_is_retried_then_the_stage_degrades(
    openrouter: LoopbackOpenRouter,
) -> None:
    empty = Fault(events=openrouter_stream(REF, " \n ", cost="0.00001"))
    openrouter.fail(REF, empty, empty, empty)

    out = run_pipeline(openrouter.base_url, SPEED_ALONE)

    result = out.result
    assert result is not None and result.degraded
    assert asked(openrouter) == [GEN, REF, REF, REF, VAL, CUR]
    assert out.sleeps == jitter(1.0, 2.0)
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, False), (REF, 3, False)]
    assert all(c.cost == Decimal("0.00001") for c in out.calls if c.stage == "refine")
    assert result.cost.known >= Decimal("0.00003")
    assert [w for w in result.warnings if w != ONE_DRAFT_WARNING][-1] == (
        f"refine stage failed ({REF}): the model returned an empty answer; "
        "using the first draft unrefined"
    )
    # The first draft went on to be validated in the refined answer's place.
    [draft] = [c for c in out.calls if c.stage == "generate"]
    validate = openrouter.chat_requests()[4]
    user = next(m["content"] for m in validate.body["messages"] if m["role"] == "user")
    assert f"<answer>\n{draft.content}\n</answer>" in user


def test_cli_history_keeps_every_attempt_with_its_cost(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(REF, Fault(events=openrouter_stream(REF, " ", cost="0.00001")))

    result = hive("consensus", QUESTION, "speed", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["degraded"] is False
    run = last_run()
    assert run.status == "ok"
    assert [(c.stage, c.attempt) for c in run.calls] == [
        ("generate", 1), ("refine", 1), ("refine", 2), ("validate", 1), ("curate", 1)
    ]  # fmt: skip
    failed = run.calls[1]
    assert failed.error == "the model returned an empty answer"
    assert failed.cost == Decimal("0.00001")
    assert all(c.cost is not None for c in run.calls)
    assert run.total_cost == sum(c.cost for c in run.calls)
    assert any("retrying" in w for w in run.warnings)
    no_key_in_history()


def test_cli_request_timeout_setting_bounds_a_hung_stream(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_TIMEOUT", "0.5")
    keyed_env.fail(VAL, Fault(hang=True))

    result = hive("consensus", QUESTION, "speed", "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["degraded"] is False
    assert asked(keyed_env) == [GEN, REF, VAL, VAL, CUR]
    assert attempts_in(last_run(), "validate") == [(VAL, 1, False), (VAL, 2, True)]


def test_cli_retry_attempts_setting_limits_the_tries(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_RETRY_ATTEMPTS", "1")
    alone = user_profile("alone", fallbacks=False)
    keyed_env.fail(GEN, Fault(status=500))

    result = hive("consensus", QUESTION, alone)

    assert result.exit_code == 1
    assert "HTTP 500" in error_line(result)
    assert asked(keyed_env) == [GEN]


def test_a_length_cut_answer_is_kept_with_a_warning(openrouter: LoopbackOpenRouter) -> None:
    text = "The sky is blue because air scatters short"
    openrouter.fail(CUR, Fault(events=openrouter_stream(CUR, text, finish="length")))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and not out.result.degraded
    assert out.result.answer == text
    assert out.sleeps == [] and asked(openrouter).count(CUR) == 1
    assert out.warnings == [f"curate ({CUR}) hit its max_tokens limit; its output may be cut short"]


# --- circuit breaker and fallbacks -------------------------------------------------------------


def test_a_model_that_failed_three_times_is_skipped_later_in_the_run(
    openrouter: LoopbackOpenRouter,
) -> None:
    profile = with_stage(SPEED_ALONE, "generate", models=(GEN, FB1))
    profile = with_stage(profile, "refine", fallbacks=(GEN, FB2))
    openrouter.fail(GEN, *[Fault(status=500)] * 4)  # one more than it may use
    openrouter.fail(REF, Fault(status=404))

    out = run_pipeline(openrouter.base_url, profile)

    assert out.result is not None and out.result.degraded  # one draft was dropped
    assert asked(openrouter).count(GEN) == 3  # never asked again once its breaker opened
    assert out.attempts("refine") == [(REF, 1, False), (FB2, 2, True)]
    assert f"refine: skipping {GEN}, which failed 3 times" in out.warnings
    assert f"refine: {REF} gave no answer; falling back to {FB2}" in out.warnings
    [refined] = [c for c in out.calls if c.stage == "refine" and c.ok]
    assert refined.model_used == FB2
    refine_requests = [r for r in openrouter.chat_requests() if r.body["model"] in (REF, FB2)]
    assert [r.body.get("models") for r in refine_requests] == [[GEN, FB2], None]


def test_a_stage_whose_only_model_is_broken_degrades(openrouter: LoopbackOpenRouter) -> None:
    profile = with_stage(SPEED_ALONE, "generate", models=(GEN, FB1))
    profile = with_stage(profile, "refine", models=(GEN,))
    openrouter.fail(GEN, *[Fault(status=500)] * 3)

    out = run_pipeline(openrouter.base_url, profile)

    assert out.result is not None and out.result.degraded
    # The generators run concurrently; refine never asks GEN again.
    assert sorted(asked(openrouter)[:4]) == sorted([GEN, GEN, GEN, FB1])
    assert asked(openrouter)[4:] == [VAL, CUR]
    assert out.attempts("refine") == []
    assert f"refine: skipping {GEN}, which failed 3 times" in out.warnings
    [degraded] = [w for w in out.warnings if w.startswith("refine stage failed")]
    assert degraded.startswith(f"refine stage failed ({GEN}): ")
    assert degraded.endswith("using the first draft unrefined")


def test_transient_failures_exhaust_a_model_then_fall_back(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(REF, *[Fault(status=503)] * 3)

    out = run_pipeline(openrouter.base_url, with_stage(SPEED, "refine", fallbacks=(FB1,)))

    assert out.result is not None and not out.result.degraded
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, False), (REF, 3, False),
                                      (FB1, 4, True)]  # fmt: skip
    assert out.sleeps == jitter(1.0, 2.0)  # no wait before moving to another model
    [refined] = [c for c in out.calls if c.stage == "refine" and c.ok]
    assert refined.model_used == FB1


def test_model_used_says_which_model_openrouter_really_used(
    openrouter: LoopbackOpenRouter,
) -> None:
    # OpenRouter itself fell back (the body's `models`): the stream names the model that answered.
    openrouter.fail(REF, Fault(events=openrouter_stream(FB1, "An answer from the fallback.")))

    out = run_pipeline(openrouter.base_url, with_stage(SPEED, "refine", fallbacks=(FB1,)))

    assert out.result is not None
    [refined] = [c for c in out.calls if c.stage == "refine"]
    assert (refined.model, refined.model_used) == (REF, FB1)
    assert asked(openrouter).count(FB1) == 0  # hive did not need to ask it itself
    [request] = [r for r in openrouter.chat_requests() if r.body["model"] == REF]
    assert request.body["models"] == [FB1]


def test_cli_fallback_profile_answers_from_the_fallback(keyed_env: LoopbackOpenRouter) -> None:
    user_profile("fb", "--fallback", f"refine={FB1}", "--fallback", f"refine={FB2}")
    keyed_env.fail(REF, Fault(status=404))

    result = hive("consensus", QUESTION, "fb", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["degraded"] is False
    refine = [s for s in data["stages"] if s["stage"] == "refine"]
    assert [(s["model"], s["model_used"], s["error"] is None) for s in refine] == [
        (REF, None, False), (FB1, FB1, True)
    ]  # fmt: skip
    first, second = [r for r in keyed_env.chat_requests() if r.body["model"] in (REF, FB1)]
    assert first.body["models"] == [FB1, FB2] and second.body["models"] == [FB2]
    assert attempts_in(last_run(), "refine") == [(REF, 1, False), (FB1, 2, True)]
    no_key_in_history()


def test_cli_builtin_fallback_answers_when_the_refine_model_keeps_failing(
    keyed_env: LoopbackOpenRouter,
) -> None:
    # The built-in profiles' own fallbacks at work: no user profile, nothing patched.
    [fallback] = SPEED.refine.fallbacks
    keyed_env.fail(REF, *[Fault(status=503)] * 3)  # every try the retry_attempts default allows

    result = hive("consensus", QUESTION, "speed", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["degraded"] is False
    assert not any("stage failed" in w for w in data["warnings"])
    assert f"refine: {REF} gave no answer; falling back to {fallback}" in data["warnings"]
    refine = [s for s in data["stages"] if s["stage"] == "refine"]
    assert [(s["model"], s["model_used"], s["error"] is None) for s in refine] == [
        (REF, None, False), (REF, None, False), (REF, None, False), (fallback, fallback, True)
    ]  # fmt: skip
    assert asked(keyed_env) == [GEN, REF, REF, REF, fallback, VAL, CUR]
    refine_requests = [r for r in keyed_env.chat_requests() if r.body["model"] in (REF, fallback)]
    # OpenRouter was told of the fallback on every try of the refine model, then hive asked it.
    assert [r.body.get("models") for r in refine_requests] == [[fallback]] * 3 + [None]
    # The refined answer is the fallback's, and it went on to be validated.
    answered = without_ledger(refine[-1]["content"])
    validate = next(r for r in keyed_env.chat_requests() if r.body["model"] == VAL)
    user = next(m["content"] for m in validate.body["messages"] if m["role"] == "user")
    assert answered and f"<answer>\n{answered}\n</answer>" in user
    run = last_run()
    assert run.status == "ok"
    assert attempts_in(run, "refine") == [
        (REF, 1, False), (REF, 2, False), (REF, 3, False), (fallback, 4, True)
    ]  # fmt: skip
    calls = [c for c in run.calls if c.stage == "refine"]
    assert all("HTTP 503" in c.error for c in calls[:3])
    assert [c.model_used for c in calls] == [None, None, None, fallback]
    no_key_in_history()


# --- graceful degradation through the CLI --------------------------------------------------------


@pytest.mark.parametrize("stage", ["refine", "validate", "curate"])
def test_a_failed_stage_degrades_the_answer_and_strict_exits_5(
    keyed_env: LoopbackOpenRouter, stage: str
) -> None:
    model = SPEED.stage(stage).models[0]
    alone = user_profile("alone", fallbacks=False)
    keyed_env.fail(model, *[Fault(status=502)] * 3)

    result = hive("consensus", QUESTION, alone, "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["degraded"] is True
    assert any(w.startswith(f"{stage} stage failed ({model})") for w in data["warnings"])
    stages = {s["stage"]: s for s in data["stages"] if s["error"] is None}
    if stage == "refine":
        assert "refine" not in stages and data["answer"] == stages["curate"]["content"].strip()
    elif stage == "validate":
        assert data["confidence"] is None and data["issues"] == []
    else:
        assert data["answer"] == without_ledger(stages["refine"]["content"])
    run = last_run()
    assert run.status == "degraded"
    assert attempts_in(run, stage) == [(model, 1, False), (model, 2, False), (model, 3, False)]
    assert asked(keyed_env).count(model) == 3

    keyed_env.fail(model, *[Fault(status=502)] * 3)
    strict = hive("consensus", QUESTION, alone, "--json", "--strict")

    assert strict.exit_code == 5
    assert json.loads(strict.stdout)["degraded"] is True  # the answer is still printed
    assert "degraded" in error_line(strict)
    no_key_in_history()


def test_every_call_failing_exits_1_with_the_real_cause(keyed_env: LoopbackOpenRouter) -> None:
    balanced = BUILTIN_PROFILES["balanced"]
    alone = user_profile("alone", base="balanced", fallbacks=False)
    keyed_env.fail("*", *[Fault(status=500)] * 9)  # three tries for each of three generators

    result = hive("consensus", QUESTION, alone, "--json")

    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["exit_code"] == 1 and failure["total_cost"] == "0"
    assert failure["unknown_cost_calls"] == 0  # HTTP 500s answered nothing: nothing billed
    line = error_line(result)
    assert "generate stage failed" in line and "Internal Server Error (HTTP 500)" in line
    assert sorted(asked(keyed_env)) == sorted(balanced.generate.models * 3)
    run = last_run()
    assert run.status == "failed" and "HTTP 500" in run.error
    for model in balanced.generate.models:
        mine = [(c.attempt, c.error is None) for c in run.calls if c.model == model]
        assert mine == [(1, False), (2, False), (3, False)]


@pytest.mark.slow
@POSIX_ONLY
def test_ctrl_c_during_a_retry_wait_exits_130(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(GEN, Fault(status=503, headers={"Retry-After": "30"}))
    path = db_path(resolve_paths())
    proc = start_hive("consensus", QUESTION, "speed")
    with reaped(proc):
        # Start-up and the first request, until the failed try is in history: hive is then
        # waiting 30 s to retry.
        recorded = wait_until(
            lambda: (
                bool(keyed_env.chat_requests())
                and path.exists()
                and any(c.error for c in last_run().calls)
            ),
            proc,
        )
        assert proc.poll() is None, proc.communicate()
        assert recorded, "the failed try never reached history"
        out, err = interrupt(proc)

    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert asked(keyed_env) == [GEN]  # interrupted before the retry
    run = last_run()
    assert run.status == "interrupted"
    assert attempts_in(run, "generate") == [(GEN, 1, False)]
    assert FAKE_KEY not in out + err
    no_key_in_history()
