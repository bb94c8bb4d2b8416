"""The consensus Pipeline with the real OpenRouter client, over real sockets to the loopback server.

What each stage sends is checked from the requests the server recorded; what the run returns is
checked against the bytes the server streamed (``sse_events(body)`` for simulated replies, or
the scripted events). Failures are scripted per model with ``Fault``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from hive.consensus.caller import Caller
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallPlan,
    CallRecord,
    CallStarted,
    ConsensusResult,
    PipelineEvent,
    RunFinished,
    RunStarted,
    RunWarning,
    TokenDelta,
)
from hive.consensus.ledger import parse_ledger
from hive.consensus.pipeline import Pipeline
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES, Profile, StageSpec
from hive.consensus.prompts import system_prompt
from hive.errors import AuthError, CreditsError, StageError
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from hive.openrouter.simulator import sse_events
from tests.conftest import FAKE_KEY, ONE_DRAFT_WARNING, without_fallbacks, without_ledger
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

TODAY = date(2026, 11, 22)
QUESTION = "Why is the sky blue at noon but red at sunset?"
BALANCED = BUILTIN_PROFILES["balanced"]
GENERATORS = BALANCED.generate.models
REFINER = BALANCED.refine.models[0]
VALIDATOR = BALANCED.stage("validate").models[0]
CURATOR = BALANCED.curate.models[0]
# Balanced's first choices with nothing to fall back to: where a failure must show as one.
BALANCED_ALONE = without_fallbacks(BALANCED)
# Retries as in production, but waits are only recorded (see _run): nothing really sleeps.
POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0, max_total_wait=60.0)


# --- helpers -------------------------------------------------------------------------------


def _run(
    server: LoopbackOpenRouter,
    events: list[PipelineEvent],
    profile: Profile = BALANCED,
    question: str = QUESTION,
    sleeps: list[float] | None = None,
) -> ConsensusResult:
    """Run the pipeline; every backoff wait it asks for is appended to ``sleeps``, not slept.

    The adaptive rules are off: these tests are about the stages themselves, with the full
    panel (tests/test_adaptive_pipeline.py covers what the rules change)."""
    waits = [] if sleeps is None else sleeps

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> ConsensusResult:
        async with make_http_client(
            api_key=FAKE_KEY, base_url=server.base_url, timeout=10.0
        ) as http:
            caller = Caller(OpenRouterClient(http), events.append, policy=POLICY, sleep=sleep,
                            rng=random.Random(0))  # fmt: skip
            pipeline = Pipeline(caller, today=TODAY, adaptive_rules=False)
            return await pipeline.run(question, profile, simulated=False)

    return asyncio.run(go())


def _chunk(model: str, content: str = "", finish: str | None = None, extra: str = "") -> bytes:
    """One chunk in OpenRouter's 2026 layout; ``extra`` is raw JSON appended to the object."""
    head = json.dumps(
        {
            "id": "gen-1786465029-HiveLoopbackTest01",
            "object": "chat.completion.chunk",
            "created": 1786465029,
            "model": model,
            "provider": "Loopback",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": content, "role": "assistant"},
                    "finish_reason": finish,
                    "native_finish_reason": finish,
                }
            ],
        },
        separators=(",", ":"),
    )
    return f"data: {head[:-1]}{extra}}}\n\n".encode()


def _stream(
    model: str,
    text: str,
    *,
    finish: str | None = "stop",
    cost: str = "0.0000420",
    prompt_tokens: int = 40,
    error: dict[str, Any] | None = None,
) -> list[bytes]:
    """SSE events for a scripted reply: keep-alive, role, word deltas, finish, usage, [DONE]."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    usage = (
        f',"usage":{{"prompt_tokens":{prompt_tokens},"completion_tokens":{len(pieces)},'
        f'"total_tokens":{prompt_tokens + len(pieces)},"cost":{cost},"is_byok":false}}'
    )
    if error is not None:
        usage += ',"error":' + json.dumps(error)
    events = [b": OPENROUTER PROCESSING\n\n", _chunk(model)]
    events += [_chunk(model, piece) for piece in pieces]
    if finish is not None:
        events.append(_chunk(model, "", finish))
    events.append(_chunk(model, "", finish, usage))
    events.append(b"data: [DONE]\n\n")
    return events


def _data(events: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        for line in event.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                out.append(json.loads(line[5:], parse_float=Decimal, parse_int=Decimal))
    return out


def _sent_text(events: list[bytes]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in _data(events) if c.get("choices")
    )


def _sent_usage(events: list[bytes]) -> dict[str, Any]:
    [usage] = [c["usage"] for c in _data(events) if "usage" in c]
    assert isinstance(usage, dict)
    typed: dict[str, Any] = usage
    return typed


def _served(req: RecordedRequest, scripted: dict[str, list[bytes]] | None = None) -> list[bytes]:
    """The events the loopback server streamed for this request."""
    return (scripted or {}).get(req.body["model"]) or sse_events(req.body)


def _verdict(text: str) -> dict[str, Any]:
    [block] = re.findall(r"<verdict>(.*?)</verdict>", text, re.S)
    data: dict[str, Any] = json.loads(block)
    return data


def _system(req: RecordedRequest) -> str:
    [message] = [m for m in req.body["messages"] if m["role"] == "system"]
    return str(message["content"])


def _user(req: RecordedRequest) -> str:
    [message] = [m for m in req.body["messages"] if m["role"] == "user"]
    return str(message["content"])


def _records(calls: list[CallRecord], stage: str) -> list[CallRecord]:
    return sorted((c for c in calls if c.stage == stage), key=lambda c: c.index)


def _key(event: PipelineEvent) -> tuple[str, int] | None:
    if isinstance(event, CallStarted | TokenDelta):
        return event.stage, event.index
    if isinstance(event, CallFinished | CallFailed):
        return event.record.stage, event.record.index
    return None


def _by_model(server: LoopbackOpenRouter) -> dict[str, RecordedRequest]:
    requests = server.chat_requests()
    by_model = {r.body["model"]: r for r in requests}
    assert len(by_model) == len(requests), "each model was asked once"
    return by_model


def _by_model_last(server: LoopbackOpenRouter) -> dict[str, RecordedRequest]:
    """Each model's last request (retried models were asked more than once)."""
    return {r.body["model"]: r for r in server.chat_requests()}


@pytest.fixture
def balanced_run(
    openrouter: LoopbackOpenRouter,
) -> tuple[LoopbackOpenRouter, ConsensusResult, list[PipelineEvent]]:
    events: list[PipelineEvent] = []
    result = _run(openrouter, events)
    return openrouter, result, events


# --- what each stage sends -----------------------------------------------------------------


def test_generate_requests_come_first_one_per_generator(balanced_run):
    server, _, _ = balanced_run

    requests = server.chat_requests()
    assert len(requests) == len(GENERATORS) + 3
    generate = requests[: len(GENERATORS)]
    assert sorted(r.body["model"] for r in generate) == sorted(GENERATORS)
    assert [r.body["model"] for r in requests[len(GENERATORS) :]] == [REFINER, VALIDATOR, CURATOR]
    for req in generate:
        assert "Today's date is 2026-11-22." in _system(req)
        assert _system(req) == system_prompt("generate", TODAY)
        assert _user(req) == QUESTION
        assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
        assert req.body["stream"] is True
        assert req.body["temperature"] == BALANCED.generate.temperature
        assert req.body["max_tokens"] == BALANCED.generate.max_tokens
    for req, stage in zip(requests[len(GENERATORS) :], STAGES[1:], strict=True):
        assert _system(req) == system_prompt(stage, TODAY)
        assert "2026-11-22" in _system(req)
        assert req.body["max_tokens"] == BALANCED.stage(stage).max_tokens


def test_refine_receives_every_draft(balanced_run):
    server, result, _ = balanced_run

    refine = _by_model(server)[REFINER]
    drafts = _records(result.calls, "generate")
    assert [d.model for d in drafts] == list(GENERATORS)
    user = _user(refine)
    assert f"<question>\n{QUESTION}\n</question>" in user
    # Anonymised and shuffled: each draft under the letter the recorded panel gives its model.
    label = {model: x for x, model in result.consensus.panel}
    for draft in drafts:
        assert draft.content
        assert draft.content == _sent_text(_served(_by_model(server)[draft.model]))
        assert f'<draft id="{label[draft.model]}">\n{draft.content}\n</draft>' in user
    assert sorted(label.values()) == ["A", "B", "C"]
    assert len({d.content for d in drafts}) == len(drafts), "three different drafts"


def test_validate_receives_question_and_refined_answer(balanced_run):
    server, result, _ = balanced_run

    [refined] = _records(result.calls, "refine")
    assert refined.content == _sent_text(_served(_by_model(server)[REFINER]))
    user = _user(_by_model(server)[VALIDATOR])
    assert f"<question>\n{QUESTION}\n</question>" in user
    answer = parse_ledger(refined.content, ["A", "B", "C"]).answer  # the ledger stays behind
    assert f"<answer>\n{answer}\n</answer>" in user
    assert "<draft" not in user


def test_curate_receives_review_but_not_the_verdict_block(balanced_run):
    server, result, _ = balanced_run

    [refined] = _records(result.calls, "refine")
    review = _sent_text(_served(_by_model(server)[VALIDATOR]))
    verdict = _verdict(review)
    prose = review[: review.index("<verdict>")].strip()
    user = _user(_by_model(server)[CURATOR])

    assert f"<question>\n{QUESTION}\n</question>" in user
    assert f"<answer>\n{without_ledger(refined.content)}\n</answer>" in user
    assert prose and prose in user
    assert verdict["issues"]
    for issue in verdict["issues"]:
        assert f"- {issue}" in user
    assert "<verdict>" not in user and "</verdict>" not in user
    assert json.dumps(verdict) not in user
    assert '"confidence"' not in user


# --- what the run returns ------------------------------------------------------------------


def test_result_matches_what_the_server_sent(balanced_run):
    server, result, _ = balanced_run
    by_model = _by_model(server)

    curate_text = _sent_text(_served(by_model[CURATOR]))
    verdict = _verdict(_sent_text(_served(by_model[VALIDATOR])))
    assert result.question == QUESTION
    assert result.profile == "balanced"
    assert result.simulated is False
    assert result.answer == curate_text.strip()
    assert result.answer
    assert result.confidence == verdict["confidence"]
    assert result.confidence is not None
    assert result.issues == verdict["issues"]
    assert result.warnings == []
    assert result.consensus is not None and result.consensus.agreement is not None

    assert len(result.calls) == len(by_model) == 6
    for call in result.calls:
        sent = _served(by_model[call.model])
        usage = _sent_usage(sent)
        assert call.ok and call.error is None
        assert call.model_used == call.model
        assert call.provider == "hive-simulator"
        assert call.prompt_tokens == usage["prompt_tokens"]
        assert call.completion_tokens == usage["completion_tokens"]
        assert isinstance(call.cost, Decimal)
        assert call.cost == usage["cost"]
        assert call.finish_reason == "stop"
        assert call.content == _sent_text(sent)
        assert call.ttft_ms is not None and call.ttft_ms >= 0
        assert call.latency_ms >= call.ttft_ms
    stages = [(c.stage, c.index) for c in result.calls]
    assert sorted(stages[:3]) == [("generate", 0), ("generate", 1), ("generate", 2)]
    assert stages[3:] == [("refine", 0), ("validate", 0), ("curate", 0)]

    expected_total = sum((_sent_usage(_served(r))["cost"] for r in by_model.values()), Decimal(0))
    assert isinstance(result.cost.known, Decimal)
    assert result.cost.known == expected_total
    assert result.cost.known > 0
    expected_tokens = sum(
        _sent_usage(_served(r))["prompt_tokens"] + _sent_usage(_served(r))["completion_tokens"]
        for r in by_model.values()
    )
    assert result.total_tokens == expected_tokens


def test_event_order(balanced_run):
    _, result, events = balanced_run

    assert isinstance(events[0], RunStarted)
    assert events[0].question == QUESTION
    assert events[0].profile == "balanced"
    assert events[0].plan == [
        CallPlan(stage, i, model)
        for stage in STAGES
        for i, model in enumerate(BALANCED.stage(stage).models)
    ]
    assert isinstance(events[-1], RunFinished)
    assert events[-1].result == result
    assert sum(isinstance(e, RunStarted | RunFinished) for e in events) == 2

    calls = {_key(e) for e in events if _key(e) is not None}
    assert len(calls) == 6
    for call in calls:
        mine = [(n, e) for n, e in enumerate(events) if _key(e) == call]
        kinds = [type(e) for _, e in mine]
        assert kinds[0] is CallStarted
        assert kinds[-1] is CallFinished
        assert set(kinds[1:-1]) == {TokenDelta}, "only deltas between start and finish"
        assert len(kinds) > 3
        text = "".join(e.text for _, e in mine if isinstance(e, TokenDelta))
        finished = mine[-1][1]
        assert isinstance(finished, CallFinished)
        assert text == finished.record.content

    def position(kind: type, stage: str) -> list[int]:
        keys = [(n, _key(e), type(e)) for n, e in enumerate(events)]
        return [n for n, key, cls in keys if cls is kind and key is not None and key[0] == stage]

    for earlier, later in itertools.pairwise(STAGES):
        assert max(position(CallFinished, earlier)) < min(position(CallStarted, later))


# --- concurrency ---------------------------------------------------------------------------


def test_generators_run_concurrently_and_refine_waits_for_all():
    events: list[PipelineEvent] = []
    with LoopbackOpenRouter(api_key=FAKE_KEY, first_byte=0.3) as server:
        result = _run(server, events)
        requests = server.chat_requests()

    generate = requests[: len(GENERATORS)]
    assert sorted(r.body["model"] for r in generate) == sorted(GENERATORS)
    # Every generator request reached the server before any of them was answered.
    assert max(r.started for r in generate) < min(r.finished for r in generate)
    # Refine was sent after the generators, carrying every one of their drafts.
    assert requests[len(GENERATORS)].body["model"] == REFINER
    refine_user = _user(requests[len(GENERATORS)])
    for draft in _records(result.calls, "generate"):
        assert draft.content in refine_user
    started_refine = next(
        n for n, e in enumerate(events) if isinstance(e, CallStarted) and e.stage == "refine"
    )
    generate_done = [
        n
        for n, e in enumerate(events)
        if isinstance(e, CallFinished | CallFailed) and e.record.stage == "generate"
    ]
    assert len(generate_done) == len(GENERATORS)
    assert max(generate_done) < started_refine
    # All three CallStarted events come before the first generator finishes.
    generate_started = [
        n for n, e in enumerate(events) if isinstance(e, CallStarted) and e.stage == "generate"
    ]
    assert max(generate_started) < min(generate_done)


def test_single_generator_profile_sends_its_one_draft_and_measures_no_agreement(openrouter):
    speed = BUILTIN_PROFILES["speed"]
    events: list[PipelineEvent] = []

    result = _run(openrouter, events, profile=speed)

    requests = openrouter.chat_requests()
    assert [r.body["model"] for r in requests] == [speed.stage(s).models[0] for s in STAGES]
    [draft] = _records(result.calls, "generate")
    assert f'<draft id="A">\n{draft.content}\n</draft>' in _user(requests[1])
    assert result.consensus is not None and result.consensus.agreement is None
    assert result.warnings == [ONE_DRAFT_WARNING]


# --- failures ------------------------------------------------------------------------------


def test_one_failed_generator_is_dropped_with_a_warning(openrouter):
    # A 500 is transient: the generator is retried, and dropped only when every try fails.
    failing = GENERATORS[1]
    openrouter.fail(failing, *[Fault(status=500)] * POLICY.max_attempts)
    events: list[PipelineEvent] = []
    sleeps: list[float] = []

    result = _run(openrouter, events, BALANCED_ALONE, sleeps=sleeps)

    models = [r.body["model"] for r in openrouter.chat_requests()]
    assert sorted(models) == sorted([*GENERATORS, failing, failing, REFINER, VALIDATOR, CURATOR])
    jitter = random.Random(0)  # full jitter: uniform in [0, base * 2^(try-1)]
    assert sleeps == [jitter.uniform(0, 1.0), jitter.uniform(0, 2.0)]
    survivors = [r for r in _records(result.calls, "generate") if r.ok]
    assert [r.model for r in survivors] == [GENERATORS[0], GENERATORS[2]]
    refine_user = _user(_by_model_last(openrouter)[REFINER])
    assert result.consensus is not None
    label = {model: x for x, model in result.consensus.panel}
    for draft in survivors:
        assert f'<draft id="{label[draft.model]}">\n{draft.content}\n</draft>' in refine_user
    assert '<draft id="C">' not in refine_user  # two drafts: A and B

    retries, dropped = result.warnings[:2], result.warnings[2:]
    assert retries == [
        f"generate: {failing} failed (HTTP 500); retrying in {sleeps[0]:.1f}s (attempt 2 of 3)",
        f"generate: {failing} failed (HTTP 500); retrying in {sleeps[1]:.1f}s (attempt 3 of 3)",
    ]
    [warning] = dropped
    assert "dropped a draft" in warning
    assert failing in warning
    assert "Internal Server Error" in warning
    assert [e.message for e in events if isinstance(e, RunWarning)] == result.warnings
    assert result.degraded is True

    failed = [c for c in result.calls if not c.ok]
    assert [(c.stage, c.index, c.model, c.attempt) for c in failed] == [
        ("generate", 1, failing, n) for n in (1, 2, 3)
    ]
    for call in failed:
        assert call.error is not None and "Internal Server Error" in call.error
        assert call.cost is None, "an HTTP 500 reports no cost"
    assert [e.record for e in events if isinstance(e, CallFailed)] == failed
    assert result.answer
    assert isinstance(events[-1], RunFinished)


def test_all_generators_rejected_is_an_auth_stage_error(openrouter):
    for model in GENERATORS:
        openrouter.fail(model, Fault(status=401))
    events: list[PipelineEvent] = []

    with pytest.raises(StageError) as info:
        _run(openrouter, events)

    err = info.value
    assert err.exit_code == 3
    assert err.stage == "generate"
    assert err.model in GENERATORS
    assert isinstance(err.cause, AuthError)
    assert err.cause.status == 401
    assert "No cookie auth credentials found" in str(err)
    assert FAKE_KEY not in str(err) and FAKE_KEY not in repr(err)
    # The first 401 stops the run: the other generators may have been refused too, or
    # cancelled before (or while) their requests were sent, which the server records as an
    # empty body. No later stage is asked; each call recorded as failed (refused, or cut off
    # by the stop) is a generator's.
    asked = [r.body["model"] for r in openrouter.chat_requests() if r.body]
    assert err.model in asked and set(asked) <= set(GENERATORS)
    failed = {e.record.model for e in events if isinstance(e, CallFailed)}
    assert err.model in failed and failed <= set(GENERATORS)
    assert not any(isinstance(e, RunFinished) for e in events)


def test_refine_out_of_credits_is_stage_error_exit_3(openrouter):
    openrouter.fail(REFINER, Fault(status=402))
    events: list[PipelineEvent] = []

    with pytest.raises(StageError) as info:
        _run(openrouter, events)

    err = info.value
    assert err.exit_code == 3
    assert (err.stage, err.model) == ("refine", REFINER)
    assert isinstance(err.cause, CreditsError)
    assert err.cause.status == 402
    assert "Insufficient credits" in str(err)
    models = [r.body["model"] for r in openrouter.chat_requests()]
    assert models[-1] == REFINER and VALIDATOR not in models and CURATOR not in models
    [failed] = [e.record for e in events if isinstance(e, CallFailed)]
    assert (failed.stage, failed.model) == ("refine", REFINER)


def test_validator_without_verdict_gives_no_confidence_and_a_warning(openrouter):
    review = "The answer is sound. Rayleigh scattering explains both colours."
    scripted = {VALIDATOR: _stream(VALIDATOR, review, cost="0.0000133")}
    openrouter.fail(VALIDATOR, Fault(events=scripted[VALIDATOR]))
    events: list[PipelineEvent] = []

    result = _run(openrouter, events)

    assert result.confidence is None
    assert result.issues == []
    assert any("no verdict" in w for w in result.warnings)
    assert [e.message for e in events if isinstance(e, RunWarning)] == result.warnings
    by_model = _by_model(openrouter)
    assert review in _user(by_model[CURATOR])
    [validate] = _records(result.calls, "validate")
    assert validate.content == review
    assert validate.cost == Decimal("0.0000133")
    assert validate.provider == "Loopback"
    expected = sum(
        (_sent_usage(_served(r, scripted))["cost"] for r in by_model.values()), Decimal(0)
    )
    assert result.cost.known == expected


def test_empty_curate_answer_is_a_stage_error(openrouter):
    # An empty answer is a failed call: retried, and when every try is empty the curate stage
    # fails and the run degrades to the refined answer.
    for _ in range(POLICY.max_attempts):
        openrouter.fail(CURATOR, Fault(events=_stream(CURATOR, "  \n ")))
    events: list[PipelineEvent] = []
    sleeps: list[float] = []

    result = _run(openrouter, events, BALANCED_ALONE, sleeps=sleeps)

    assert len(sleeps) == POLICY.max_attempts - 1
    [refined] = _records(result.calls, "refine")
    assert result.degraded is True
    assert result.answer == without_ledger(refined.content)
    assert result.confidence is not None  # the validator did its part
    assert result.warnings[-1] == (
        f"curate stage failed ({CURATOR}): the model returned an empty answer; "
        "returning the refined answer uncurated"
    )
    assert [r.body["model"] for r in openrouter.chat_requests()][-3:] == [CURATOR] * 3
    # Each empty answer is a failed call, and still keeps the cost the server billed.
    failed = [e.record for e in events if isinstance(e, CallFailed)]
    assert [(r.stage, r.attempt) for r in failed] == [("curate", 1), ("curate", 2), ("curate", 3)]
    for record in failed:
        assert record.cost == Decimal("0.0000420")
        assert record.error == "the model returned an empty answer"
    assert not any(isinstance(e, CallFinished) and e.record.stage == "curate" for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].result == result


def test_max_tokens_cut_adds_a_warning(openrouter):
    short_refine = BALANCED.model_copy(
        update={"refine": StageSpec(models=(REFINER,), temperature=0.4, max_tokens=8)}
    )
    events: list[PipelineEvent] = []

    result = _run(openrouter, events, profile=short_refine)

    refine_req = _by_model(openrouter)[REFINER]
    assert refine_req.body["max_tokens"] == 8
    [refine] = _records(result.calls, "refine")
    assert refine.finish_reason == "length"
    assert refine.content == _sent_text(sse_events(refine_req.body))
    assert [w for w in result.warnings if "max_tokens" in w] == [
        f"refine ({REFINER}) hit its max_tokens limit; its output may be cut short"
    ]
    # The ledger comes first: cut off inside it, the refine left no answer, so the first
    # draft goes on unrefined (and the cut-off ledger never reaches the validator).
    assert parse_ledger(refine.content, ["A"]).answer == ""
    first_draft = next(c for c in result.calls if c.stage == "generate" and c.index == 0)
    validated = _user(_by_model(openrouter)[VALIDATOR])
    assert f"<answer>\n{first_draft.content.strip()}\n</answer>" in validated
    assert "<ledger" not in validated
    assert result.degraded


def test_failed_generator_keeps_the_cost_the_server_reported(openrouter):
    failing = GENERATORS[2]
    error = {"code": 502, "message": "Upstream went away"}
    broken = _stream(failing, "Partial draft about Rayleigh ", finish=None, error=error)
    openrouter.fail(failing, Fault(events=broken))
    events: list[PipelineEvent] = []
    sleeps: list[float] = []

    result = _run(openrouter, events, sleeps=sleeps)

    # The broken stream is retried once; the second try's draft is the one used.
    assert sleeps == [random.Random(0).uniform(0, 1.0)]
    [failed] = [c for c in result.calls if not c.ok]
    assert (failed.stage, failed.index, failed.model, failed.attempt) == ("generate", 2, failing, 1)
    assert failed.cost == Decimal("0.0000420")
    assert failed.prompt_tokens == 40
    assert failed.content == "Partial draft about Rayleigh "
    assert failed.error is not None and "Upstream went away" in failed.error
    assert [e.record for e in events if isinstance(e, CallFailed)] == [failed]
    [retried] = [c for c in result.calls if c.ok and c.model == failing]
    assert (retried.index, retried.attempt) == (2, 2)
    requests = openrouter.chat_requests()
    [first, second] = [r for r in requests if r.body["model"] == failing]
    assert retried.content == _sent_text(sse_events(second.body))
    refine_user = _user(_by_model_last(openrouter)[REFINER])
    assert "Partial draft" not in refine_user
    assert result.consensus is not None
    label = dict((model, x) for x, model in result.consensus.panel)[failing]
    assert f'<draft id="{label}">\n{retried.content}\n</draft>' in refine_user
    assert result.degraded is False
    assert any(failing in w and "retrying" in w for w in result.warnings)
    served = [broken if r is first else sse_events(r.body) for r in requests]
    expected = sum((_sent_usage(sent)["cost"] for sent in served), Decimal(0))
    assert result.cost.known == expected
    assert Decimal("0.0000420") < expected


def test_failed_validator_reports_its_cost_in_call_failed(openrouter):
    error = {"code": "server_error", "message": "Provider disconnected unexpectedly"}
    stream = _stream(VALIDATOR, "Checking the claims", finish="error", cost="0.00021", error=error)
    openrouter.fail(VALIDATOR, *[Fault(events=stream)] * POLICY.max_attempts)
    events: list[PipelineEvent] = []

    result = _run(openrouter, events, BALANCED_ALONE)

    # Every try failed: the answer goes on unvalidated, and each try reported its cost.
    assert result.degraded is True
    assert result.confidence is None and result.issues == []
    assert any(
        w.startswith(f"validate stage failed ({VALIDATOR}):") and w.endswith("unvalidated")
        for w in result.warnings
    )
    failed = [e.record for e in events if isinstance(e, CallFailed)]
    assert [(r.stage, r.model, r.attempt) for r in failed] == [
        ("validate", VALIDATOR, n) for n in (1, 2, 3)
    ]
    for record in failed:
        assert record.cost == Decimal("0.00021")
        assert record.content == "Checking the claims"
        assert record.error is not None and "Provider disconnected unexpectedly" in record.error
    models = [r.body["model"] for r in openrouter.chat_requests()]
    assert models.count(VALIDATOR) == 3 and models[-1] == CURATOR
    assert "Checking the claims" not in _user(openrouter.chat_requests()[-1])
    assert isinstance(events[-1], RunFinished)
