"""Timeouts (connect, idle stream, first token) and client-side rate limiting.

The timeout tests run over real sockets against the loopback OpenRouter, whose scripted models
(below) stream on either side of a timeout: keep-alive comments every 50 ms for a second, a
second of silence, or keep-alives with no answer text. They assert outcomes, never durations.
The rate limiter's own tests run on a fake clock whose sleep records what it was asked to wait,
so no test sleeps for a window to pass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from hive.cli.run import RunRequest, _client, _http
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.errors import RequestTimeout
from hive.openrouter.chat import ChatRequest, Completion, KeepAlive, StreamItem, TextDelta
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.ratelimit import RateLimiter, is_free
from hive.store.paths import resolve_paths
from hive.store.settings import load_settings
from tests.conftest import FAKE_KEY, stream
from tests.loopback import KEEPALIVE, LoopbackOpenRouter, Script, Scripted

BEAT = 0.05  # seconds between the scripted models' keep-alive comments
BEATS = 20  # keep-alives before the answer: a second of them in all
ANSWER = "Keep-alives kept me alive."

# Models name the script the server follows for them.
KEEPS_ALIVE = "loop/keep-alive"  # headers, a keep-alive every BEAT for BEATS beats, the answer
SILENT = "loop/silent"  # headers, then a second of nothing at all, then the answer
MUTE = "loop/mute"  # a second of nothing, not even headers, then the answer
STARTS_THEN_PAUSES = "loop/starts-then-pauses"  # one word, the keep-alives, then the rest
QUICK = "loop/quick"  # the answer in a few chunks, a fifth of a beat apart
MEET = "loop/meet"  # waits (at most a few seconds) until another MEET request has arrived


# --- the scripted models -----------------------------------------------------------------------


def paced(events: list[bytes], every: float) -> Scripted:
    """``events`` sent ``every`` seconds apart."""
    return Scripted(events, latency=every * len(events))


def scripted_models(meet: threading.Barrier) -> Script:
    def reply(body: dict[str, Any]) -> Scripted | None:
        model = str(body.get("model"))
        answer, keep_alives = stream(model, ANSWER), [KEEPALIVE] * BEATS
        if model == KEEPS_ALIVE:
            return paced([*keep_alives, *answer], BEAT)
        if model == STARTS_THEN_PAUSES:
            return paced([answer[0], *keep_alives, *answer[1:]], BEAT)
        if model == SILENT:
            return Scripted(answer, first_byte=1.0)
        if model == MUTE:
            return Scripted(answer, delay=1.0)
        if model == QUICK:
            return paced(answer, BEAT / 5)  # long enough for an unlimited client to overlap
        if model == MEET:
            meet.wait(timeout=5)
            return Scripted(answer)
        return None

    return reply


@pytest.fixture
def server(openrouter: LoopbackOpenRouter) -> Iterator[LoopbackOpenRouter]:
    meet = threading.Barrier(2)
    openrouter.script = scripted_models(meet)
    yield openrouter
    meet.abort()


def timeline(server: LoopbackOpenRouter) -> list[tuple[str, int]]:
    """``("start" | "end", n)`` for each chat request the server saw (numbered from 1 as they
    came), in the order these happened: a request ends as its last byte is about to go out."""
    marks: list[tuple[float, str, int]] = []
    for n, request in enumerate(server.chat_requests(), 1):
        marks.append((request.started, "start", n))
        if request.finished:
            marks.append((request.finished, "end", n))
    return [(kind, n) for _, kind, n in sorted(marks)]


def _request(model: str) -> ChatRequest:
    return ChatRequest(model, [{"role": "user", "content": "Are you there?"}])


async def _stream(
    server: LoopbackOpenRouter,
    model: str,
    items: list[StreamItem],
    *,
    request_timeout: float = 5.0,
    first_token_timeout: float | None = None,
    limiter: RateLimiter | None = None,
) -> None:
    """Stream one call into ``items`` (so a test sees what came before a failure)."""
    async with make_http_client(
        api_key=FAKE_KEY, base_url=server.base_url, timeout=request_timeout, connect_timeout=1.0
    ) as http:
        client = OpenRouterClient(http, first_token_timeout=first_token_timeout, limiter=limiter)
        async for item in client.stream_chat(_request(model)):
            items.append(item)


def _text(items: list[StreamItem]) -> str:
    return "".join(i.text for i in items if isinstance(i, TextDelta))


# --- timeouts over real sockets ----------------------------------------------------------------


def test_keep_alives_keep_a_stream_alive_past_the_idle_timeout(server: LoopbackOpenRouter) -> None:
    items: list[StreamItem] = []

    # A second of keep-alives, with 0.3 s allowed between any two reads.
    asyncio.run(_stream(server, KEEPS_ALIVE, items, request_timeout=0.3))

    assert sum(isinstance(i, KeepAlive) for i in items) >= BEATS
    assert _text(items) == ANSWER
    completion = items[-1]
    assert isinstance(completion, Completion)
    assert completion.text == ANSWER and completion.finish_reason == "stop"


@pytest.mark.parametrize("model", [SILENT, MUTE], ids=["after-headers", "before-headers"])
def test_a_silent_stream_times_out(server: LoopbackOpenRouter, model: str) -> None:
    items: list[StreamItem] = []

    with pytest.raises(RequestTimeout) as info:
        asyncio.run(_stream(server, model, items, request_timeout=0.3))

    assert "0.3 s" in str(info.value) and "127.0.0.1" in str(info.value)
    assert model in str(info.value)
    assert FAKE_KEY not in str(info.value)
    assert not any(isinstance(i, TextDelta | Completion) for i in items)


def test_keep_alives_without_an_answer_hit_the_first_token_timeout(
    server: LoopbackOpenRouter,
) -> None:
    items: list[StreamItem] = []

    with pytest.raises(RequestTimeout) as info:
        asyncio.run(
            _stream(server, KEEPS_ALIVE, items, request_timeout=0.3, first_token_timeout=0.5)
        )

    assert str(info.value) == f"no answer from {KEEPS_ALIVE} within 0.5 s"
    assert items and all(isinstance(i, KeepAlive) for i in items)  # alive, but saying nothing


def test_the_first_token_timeout_stops_counting_at_the_first_token(
    server: LoopbackOpenRouter,
) -> None:
    items: list[StreamItem] = []

    # The first word comes at once, then a second of keep-alives, then the rest.
    asyncio.run(
        _stream(server, STARTS_THEN_PAUSES, items, request_timeout=0.3, first_token_timeout=0.5)
    )

    assert _text(items) == ANSWER
    assert isinstance(items[-1], Completion)


def test_a_generous_first_token_timeout_lets_a_thinking_model_answer(
    server: LoopbackOpenRouter,
) -> None:
    items: list[StreamItem] = []

    asyncio.run(_stream(server, KEEPS_ALIVE, items, request_timeout=0.3, first_token_timeout=30))

    assert _text(items) == ANSWER


def test_the_first_token_timeout_is_a_transient_request_timeout() -> None:
    from hive.openrouter.retry import is_transient

    assert is_transient(RequestTimeout(f"no answer from {KEEPS_ALIVE} within 0.5 s"))


def test_make_http_client_passes_the_connect_timeout_to_httpx() -> None:
    http = make_http_client(api_key=None, timeout=7.0, connect_timeout=2.5)

    assert http.timeout.connect == 2.5
    assert http.timeout.read == 7.0
    asyncio.run(http.aclose())


def test_defaults_keep_existing_callers_working() -> None:
    http = make_http_client(api_key=None)
    client = OpenRouterClient(http)

    assert http.timeout.connect == 10.0 and http.timeout.read == 120.0
    assert client.first_token_timeout == 180.0
    assert client.limiter is None
    asyncio.run(http.aclose())


def _run_request(*, simulated: bool) -> RunRequest:
    paths = resolve_paths()
    return RunRequest(
        question="q", profile=BUILTIN_PROFILES["speed"], settings=load_settings(paths).settings,
        paths=paths, key=None if simulated else FAKE_KEY, pace=0.0, force=False,
        estimate_only=False, strict=False, as_json=False, notices=[], quiet=True,
    )  # fmt: skip


def test_the_timeout_and_rate_settings_reach_the_run_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HIVE_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("HIVE_TIMEOUT", "33")
    monkeypatch.setenv("HIVE_FIRST_TOKEN_TIMEOUT", "44")
    monkeypatch.setenv("HIVE_MAX_CONCURRENT_REQUESTS", "3")
    monkeypatch.setenv("HIVE_REQUESTS_PER_MINUTE", "50")
    monkeypatch.setenv("HIVE_FREE_REQUESTS_PER_MINUTE", "7")
    request = _run_request(simulated=False)

    http = _http(request)
    client = _client(request, http)

    assert (http.timeout.connect, http.timeout.read) == (2.5, 33.0)
    assert client.first_token_timeout == 44.0
    assert client.limiter is not None
    assert (client.limiter.max_concurrent, client.limiter.per_minute,
            client.limiter.free_per_minute) == (3, 50, 7)  # fmt: skip
    asyncio.run(http.aclose())


def test_a_simulated_run_keeps_the_concurrency_limit_but_not_openrouters_quotas() -> None:
    request = _run_request(simulated=True)

    http = _http(request)
    client = _client(request, http)

    assert client.limiter is not None
    assert (client.limiter.max_concurrent, client.limiter.per_minute,
            client.limiter.free_per_minute) == (8, 0, 0)  # fmt: skip
    asyncio.run(http.aclose())


# --- the rate limiter on a fake clock ----------------------------------------------------------


class FakeTime:
    """A clock that only moves when slept on; every requested sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def limiter(self, **limits: int) -> RateLimiter:
        return RateLimiter(clock=self.clock, sleep=self.sleep, **limits)


async def _call(limiter: RateLimiter, model: str) -> None:
    async with limiter.slot(model):
        pass


def test_free_models_are_recognised_by_their_suffix() -> None:
    assert is_free("google/gemma-3-27b-it:free")
    assert not is_free("openai/gpt-4o-mini")
    assert not is_free("vendor/free-model")


def test_concurrency_never_exceeds_the_limit() -> None:
    fake = FakeTime()
    limiter = fake.limiter(max_concurrent=3, free_per_minute=0)
    in_flight = peak = done = 0

    async def call(n: int) -> None:
        nonlocal in_flight, peak, done
        async with limiter.slot(f"vendor/model-{n}"):
            in_flight += 1
            peak = max(peak, in_flight)
            for _ in range(n % 4 + 1):  # calls of different lengths, finishing out of order
                await asyncio.sleep(0)
            in_flight -= 1
            done += 1

    async def main() -> None:
        await asyncio.gather(*(call(n) for n in range(25)))

    asyncio.run(main())

    assert peak == 3  # reached, never passed
    assert done == 25 and in_flight == 0
    assert fake.sleeps == []  # waiting for a slot is not a timed wait


def test_the_21st_free_request_in_a_minute_waits_for_the_window() -> None:
    fake = FakeTime()
    limiter = fake.limiter()  # the defaults: 8 at once, 20 free a minute, no overall limit

    async def main() -> None:
        for _ in range(20):
            await _call(limiter, "google/gemma-3-27b-it:free")
            fake.now += 1.0  # one a second: the first at 1000, the 20th at 1019
        assert fake.sleeps == []
        await _call(limiter, "meta-llama/llama-3.3-70b-instruct:free")  # at 1020
        assert fake.sleeps == [40.0]  # until the first is a minute old, at 1060
        await _call(limiter, "google/gemma-3-27b-it:free")  # at 1060: the second is at 1001
        assert fake.sleeps == [40.0, 1.0]

    asyncio.run(main())
    assert fake.now == 1061.0


def test_paid_models_are_not_held_by_the_free_limit() -> None:
    fake = FakeTime()
    limiter = fake.limiter()

    async def main() -> None:
        for _ in range(20):
            await _call(limiter, "google/gemma-3-27b-it:free")
        for _ in range(100):
            await _call(limiter, "openai/gpt-4o-mini")

    asyncio.run(main())
    assert fake.sleeps == []


def test_zero_means_no_limit() -> None:
    fake = FakeTime()
    limiter = fake.limiter(max_concurrent=0, per_minute=0, free_per_minute=0)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        async with limiter.slot("google/gemma-3-27b-it:free"):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
            in_flight -= 1

    async def main() -> None:
        await asyncio.gather(*(call() for _ in range(200)))

    asyncio.run(main())
    assert peak == 200
    assert fake.sleeps == []


def test_the_overall_limit_counts_free_and_paid_calls_alike() -> None:
    fake = FakeTime()
    limiter = fake.limiter(per_minute=2)

    async def main() -> None:
        await _call(limiter, "google/gemma-3-27b-it:free")  # at 1000
        fake.now += 5.0
        await _call(limiter, "openai/gpt-4o-mini")  # at 1005
        fake.now += 5.0
        await _call(limiter, "openai/gpt-4o-mini")  # at 1010: waits for 1060

    asyncio.run(main())
    assert fake.sleeps == [50.0]


def test_a_call_waiting_for_the_free_window_holds_no_slot() -> None:
    fake = FakeTime()
    gate = asyncio.Event()
    requested: list[float] = []

    async def held_sleep(seconds: float) -> None:
        requested.append(seconds)
        await gate.wait()
        fake.now += seconds

    limiter = RateLimiter(max_concurrent=1, free_per_minute=1, clock=fake.clock, sleep=held_sleep)
    order: list[str] = []

    async def call(model: str) -> None:
        async with limiter.slot(model):
            order.append(model)

    async def main() -> None:
        await call("a/first:free")
        waiting = asyncio.create_task(call("a/second:free"))
        await asyncio.sleep(0)  # the second free call is now asleep on the window
        assert requested == [60.0]
        await call("b/paid")  # the only slot is free for it
        gate.set()
        await waiting

    asyncio.run(main())
    assert order == ["a/first:free", "b/paid", "a/second:free"]


def test_a_window_that_filled_while_waiting_for_a_slot_is_checked_again() -> None:
    fake = FakeTime()
    limiter = fake.limiter(max_concurrent=1, free_per_minute=1)
    release = asyncio.Event()

    async def main() -> None:
        async def long_paid_call() -> None:
            async with limiter.slot("b/paid"):
                await release.wait()

        holder = asyncio.create_task(long_paid_call())
        await asyncio.sleep(0)
        first = asyncio.create_task(_call(limiter, "a/first:free"))  # queued for the slot
        second = asyncio.create_task(_call(limiter, "a/second:free"))  # queued too
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, first, second)

    asyncio.run(main())
    # Both saw an empty window while queued; only one may have it, the other waits a minute.
    assert fake.sleeps == [60.0]


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(max_concurrent=-1)


# --- the limiter in the client, over real sockets ----------------------------------------------


def _run_together(
    server: LoopbackOpenRouter, models: list[str], limiter: RateLimiter | None
) -> list[list[StreamItem]]:
    results: list[list[StreamItem]] = [[] for _ in models]

    async def main() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            client = OpenRouterClient(http, limiter=limiter)

            async def one(model: str, into: list[StreamItem]) -> None:
                async for item in client.stream_chat(_request(model)):
                    into.append(item)

            calls: list[Awaitable[None]] = [one(m, r) for m, r in zip(models, results, strict=True)]
            await asyncio.wait_for(asyncio.gather(*calls), 30)  # a guard, not a measurement

    asyncio.run(main())
    return results


def test_one_request_at_a_time_serializes_calls_to_the_server(server: LoopbackOpenRouter) -> None:
    results = _run_together(server, [QUICK] * 4, RateLimiter(max_concurrent=1))

    assert all(_text(items) == ANSWER for items in results)
    events = timeline(server)
    assert [kind for kind, _ in events] == ["start", "end"] * 4
    # Each request ended before the next one started.
    for (_, started), (_, ended) in zip(events[::2], events[1::2], strict=True):
        assert started == ended


def test_without_a_limit_calls_to_the_server_overlap(server: LoopbackOpenRouter) -> None:
    # Each MEET request waits in the server until the other has arrived, so this finishes
    # only if both were in flight at once.
    results = _run_together(server, [MEET, MEET], RateLimiter(max_concurrent=0))

    assert all(_text(items) == ANSWER for items in results)
    assert [kind for kind, _ in timeline(server)[:2]] == ["start", "start"]


def test_a_timed_out_call_gives_its_slot_back(server: LoopbackOpenRouter) -> None:
    limiter = RateLimiter(max_concurrent=1)
    failed: list[StreamItem] = []
    answered: list[StreamItem] = []

    async def main() -> None:
        with pytest.raises(RequestTimeout):
            await _stream(server, SILENT, failed, request_timeout=0.3, limiter=limiter)
        await asyncio.wait_for(_stream(server, QUICK, answered, limiter=limiter), 30)

    asyncio.run(main())
    assert _text(answered) == ANSWER
