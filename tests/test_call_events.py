"""What a call tells a view while it runs: each attempt's number and, for a fallback, the model
it stands in for (``CallStarted``); a wait before a retry and why (``CallRetrying``); and a
server-side fallback, seen in the chunks' ``model`` (``CallRouted``).

Every test drives the real ``Caller`` (or ``Pipeline``) and client over real sockets against
the loopback server; waits are recorded, never slept.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from hive.consensus.caller import Caller
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallRecord,
    CallRetrying,
    CallRouted,
    CallStarted,
    PipelineEvent,
    TokenDelta,
)
from hive.consensus.pipeline import Pipeline
from hive.consensus.profiles import BUILTIN_PROFILES, StageSpec
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from tests.conftest import FAKE_KEY, fixture_path, stream
from tests.loopback import Fault, LoopbackOpenRouter

PRIMARY = "openai/gpt-4o"  # the model of the real capture (stream_chat_basic.txt)
FALLBACK = "openai/gpt-4o-mini"
OTHER = "google/gemma-3-27b-it:free"
SPEC = StageSpec(models=(PRIMARY,), fallbacks=(FALLBACK,), temperature=0.2, max_tokens=500)
POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0, max_total_wait=60.0)
ANSWER = "Rayleigh scattering makes the sky blue."
MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
# What the call tells a view, in order: the token deltas and warnings are left out.
TOLD = (CallStarted, CallRetrying, CallRouted, CallFinished, CallFailed)
E = TypeVar("E")


@dataclass
class Outcome:
    answer: str
    events: list[PipelineEvent]
    sleeps: list[float] = field(default_factory=list)

    @property
    def told(self) -> list[PipelineEvent]:
        return [e for e in self.events if isinstance(e, TOLD)]

    @property
    def records(self) -> list[CallRecord]:
        return [e.record for e in self.events if isinstance(e, CallFinished | CallFailed)]

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


def call(server: LoopbackOpenRouter, spec: StageSpec = SPEC) -> Outcome:
    """One real ``refine`` call over real sockets; backoff waits recorded, not slept."""
    events: list[PipelineEvent] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> str:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            caller = Caller(
                OpenRouterClient(http), events.append, policy=POLICY, sleep=sleep,
                rng=random.Random(0),
            )  # fmt: skip
            return await caller.call("refine", 0, spec, MESSAGES)

    return Outcome(asyncio.run(go()), events, sleeps)


def captured(name: str) -> list[bytes]:
    """A real OpenRouter stream, event by event, as the loopback server replays it."""
    raw = fixture_path(name).read_bytes()
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]


# --- attempts and retries -----------------------------------------------------------------


def test_a_retry_is_announced_with_its_wait_and_reason(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(PRIMARY, Fault(status=429, headers={"Retry-After": "7"}))

    out = call(openrouter)

    assert [type(e) for e in out.told] == [
        CallStarted, CallFailed, CallRetrying, CallStarted, CallFinished,
    ]  # fmt: skip
    assert [out.told[0], *out.told[2:4]] == [
        CallStarted("refine", 0, PRIMARY, attempt=1),
        CallRetrying("refine", 0, PRIMARY, attempt=2, attempts=3, delay=7.0, reason="HTTP 429"),
        CallStarted("refine", 0, PRIMARY, attempt=2),
    ]
    assert out.sleeps == [7.0]  # the wait announced is the wait taken
    [failed, finished] = out.records
    assert (failed.attempt, failed.ok, finished.attempt, finished.ok) == (1, False, 2, True)
    assert out.answer == finished.content and out.answer.strip()


def test_a_jittered_retry_announces_the_wait_it_takes(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(PRIMARY, Fault(status=503), Fault(status=503))

    out = call(openrouter)

    retries = out.of(CallRetrying)
    assert [(r.attempt, r.reason) for r in retries] == [(2, "HTTP 503"), (3, "HTTP 503")]
    assert [r.delay for r in retries] == out.sleeps
    assert all(delay > 0 for delay in out.sleeps)
    assert [(s.model, s.attempt) for s in out.of(CallStarted)] == [
        (PRIMARY, 1), (PRIMARY, 2), (PRIMARY, 3),
    ]  # fmt: skip
    assert [r.attempt for r in out.records] == [1, 2, 3]


# --- hive-side fallback -------------------------------------------------------------------


def test_a_fallback_names_the_model_it_stands_in_for(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(PRIMARY, Fault(status=404))  # "No endpoints found": gone, not retried

    out = call(openrouter)

    assert out.of(CallStarted) == [
        CallStarted("refine", 0, PRIMARY, attempt=1, requested=None),
        CallStarted("refine", 0, FALLBACK, attempt=2, requested=PRIMARY),
    ]
    assert out.of(CallRetrying) == [] and out.sleeps == []
    assert [(r.model, r.attempt, r.ok) for r in out.records] == [
        (PRIMARY, 1, False), (FALLBACK, 2, True),
    ]  # fmt: skip
    assert out.of(CallRouted) == []  # the fallback answered as itself


def test_attempt_numbers_run_on_across_a_fallback(openrouter: LoopbackOpenRouter) -> None:
    """The retry announced after a fallback carries the number its CallStarted will carry."""
    openrouter.fail(PRIMARY, Fault(status=404))
    openrouter.fail(FALLBACK, Fault(status=429, headers={"Retry-After": "2"}))

    out = call(openrouter)

    assert out.told[:-1] == [
        CallStarted("refine", 0, PRIMARY, attempt=1),
        out.told[1],  # the primary's failure record
        CallStarted("refine", 0, FALLBACK, attempt=2, requested=PRIMARY),
        out.told[3],  # the fallback's first failure record
        CallRetrying("refine", 0, FALLBACK, attempt=3, attempts=3, delay=2.0, reason="HTTP 429"),
        CallStarted("refine", 0, FALLBACK, attempt=3, requested=PRIMARY),
    ]
    assert [(r.model, r.attempt, r.ok) for r in out.records] == [
        (PRIMARY, 1, False), (FALLBACK, 2, False), (FALLBACK, 3, True),
    ]  # fmt: skip


# --- server-side routing ------------------------------------------------------------------


def test_a_reply_from_another_model_is_announced_once(openrouter: LoopbackOpenRouter) -> None:
    """OpenRouter fell back through the request's ``models`` list: its chunks name FALLBACK."""
    openrouter.fail(PRIMARY, Fault(events=stream(FALLBACK, ANSWER)))

    out = call(openrouter)

    [request] = openrouter.chat_requests()
    assert (request.body["model"], request.body["models"]) == (PRIMARY, [FALLBACK])
    assert out.of(CallRouted) == [CallRouted("refine", 0, FALLBACK)]
    assert len(out.of(TokenDelta)) > 1, "announced once, though many chunks named it"
    routed = out.events.index(CallRouted("refine", 0, FALLBACK))
    assert isinstance(out.events[routed + 1], TokenDelta), "told before its first text shows"
    [record] = out.records
    assert (record.model, record.model_used, record.ok) == (PRIMARY, FALLBACK, True)
    assert out.answer == ANSWER


def test_a_model_change_mid_reply_is_announced_again(openrouter: LoopbackOpenRouter) -> None:
    first, second = stream(FALLBACK, "Rayleigh "), stream(OTHER, "scattering.")
    openrouter.fail(PRIMARY, Fault(events=[*first[:-2], *second]))

    out = call(openrouter)

    assert out.of(CallRouted) == [CallRouted("refine", 0, FALLBACK), CallRouted("refine", 0, OTHER)]
    assert out.records[0].model_used == OTHER


def test_a_reply_from_the_requested_model_is_not_routed(openrouter: LoopbackOpenRouter) -> None:
    """The real capture's chunks name the model asked: nothing to announce."""
    openrouter.fail(PRIMARY, Fault(events=captured("stream_chat_basic.txt")))

    out = call(openrouter)

    assert out.of(CallRouted) == []
    assert out.of(CallStarted) == [CallStarted("refine", 0, PRIMARY, attempt=1)]
    [record] = out.records
    assert (record.model_used, record.ok) == (PRIMARY, True)
    assert len(out.of(TokenDelta)) > 1 and out.answer


def test_routing_per_attempt_and_through_the_pipeline(openrouter: LoopbackOpenRouter) -> None:
    """A whole run: the generator's retry is routed anew, and the events reach the run's sink."""
    speed = BUILTIN_PROFILES["speed"]
    generator = speed.generate.models[0]
    openrouter.fail(
        generator,
        Fault(events=stream(OTHER, "Half an answer")[:-2]),  # never finishes: retried
        Fault(events=stream(OTHER, "Rayleigh scattering: short waves scatter more.")),
    )
    events: list[PipelineEvent] = []

    async def sleep(seconds: float) -> None:
        pass

    async def go() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=openrouter.base_url) as http:
            caller = Caller(OpenRouterClient(http), events.append, policy=POLICY, sleep=sleep,
                            rng=random.Random(0))  # fmt: skip
            pipeline = Pipeline(caller, today=date(2026, 11, 28))
            await pipeline.run("Why is the sky blue?", speed, simulated=False)

    asyncio.run(go())

    generate = [e for e in events if isinstance(e, TOLD) and _stage(e) == "generate"]
    kinds = [type(e).__name__ for e in generate]
    assert kinds == [
        "CallStarted", "CallRouted", "CallFailed", "CallRetrying", "CallStarted", "CallRouted",
        "CallFinished",
    ]  # fmt: skip
    assert {e.model for e in generate if isinstance(e, CallRouted)} == {OTHER}
    [_, _, failed, _, _, _, finished] = generate
    assert isinstance(finished, CallFinished) and finished.record.model_used == OTHER
    assert isinstance(failed, CallFailed) and failed.record.attempt == 1
    later = [e for e in events if isinstance(e, CallRouted) and e.stage != "generate"]
    assert later == []  # the simulated later stages answer as the model asked


def _stage(event: PipelineEvent) -> str | None:
    if isinstance(event, CallFinished | CallFailed):
        return event.record.stage
    return getattr(event, "stage", None)
