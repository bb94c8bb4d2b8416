"""Reasoning (issue 13, first step): a thinking model's reasoning streams, shows as thinking,
is counted in ``reasoning_tokens``, and never leaks into the answer.

The streams are the real captures (``stream_chat_reasoning.txt``: Claude via OpenRouter with
``reasoning_details`` beside ``reasoning``; ``stream_chat_midstream_error.txt``: MiniMax
reasoning, then an in-band error), replayed over real sockets by the loopback server into the
real client and ``Caller``; the history is a real SQLite file read back by ``hive history
show``; the live board is drawn from the call's own events.
"""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal
from typing import Any

import pytest
from rich.text import Span, Text

from hive.consensus.caller import Caller
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallPlan,
    CallRecord,
    CallStarted,
    PipelineEvent,
    RunStarted,
    ThinkingDelta,
    TokenDelta,
)
from hive.consensus.profiles import StageSpec
from hive.errors import ApiFailure, RequestTimeout, StageError
from hive.openrouter.chat import (
    ChatRequest,
    ChunkReducer,
    Completion,
    KeepAlive,
    ReasoningDelta,
    StreamItem,
    TextDelta,
)
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from hive.openrouter.sse import Event, SSEDecoder
from hive.store.history import History
from hive.store.paths import resolve_paths
from hive.ui import live_layout as layout
from hive.ui.json import call_to_json
from hive.ui.run_board import TAIL_CHARS, Board
from tests.conftest import FAKE_KEY, fixture_path
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter, Scripted

CLAUDE = "anthropic/claude-sonnet-4.5"  # the model of stream_chat_reasoning.txt
MINIMAX = "minimax/minimax-m2:free"  # the model of stream_chat_midstream_error.txt
# What the captures hold, read off the files (see SOURCES.md).
CLAUDE_THINKING = ["This", " is a simple arithmetic question. ", "2+2 equals 4."]
CLAUDE_ANSWER = "2 + 2 = 4"
CLAUDE_REASONING_TOKENS = 13
MINIMAX_THINKING = ["We need", " to respond to a greeting. The user"]
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
POLICY = RetryPolicy(max_attempts=1, base_delay=1.0, max_delay=1.0, max_total_wait=1.0)
SIZES = [(40, 15), (80, 24), (120, 40), (200, 50)]


def spec(model: str) -> StageSpec:
    return StageSpec(models=(model,), temperature=0.2, max_tokens=500)


def captured(name: str) -> list[bytes]:
    """A real OpenRouter stream, event by event, as the loopback server replays it."""
    raw = fixture_path(name).read_bytes()
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]


def reduce(name: str) -> tuple[list[StreamItem], ChunkReducer]:
    """The capture's data lines through the reducer, as the client feeds them."""
    decoder = SSEDecoder()
    events = decoder.feed(fixture_path(name).read_bytes()) + decoder.close()
    reducer = ChunkReducer()
    return [reducer.feed(e.data) for e in events if isinstance(e, Event)], reducer


def chunk(
    delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
) -> str:
    body: dict[str, Any] = {
        "id": "gen-1", "model": CLAUDE,
        "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish}],
    }  # fmt: skip
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body)


def sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def thinking(text: str) -> dict[str, Any]:
    """A reasoning delta as OpenRouter streams it: the text in ``reasoning`` and again in a
    ``reasoning.text`` detail (as in both captures)."""
    detail = {"type": "reasoning.text", "text": text, "index": 0}
    return {"content": "", "reasoning": text, "reasoning_details": [detail]}


# --- the reducer ---------------------------------------------------------------------------


def test_the_capture_s_reasoning_streams_once_and_stays_out_of_the_answer() -> None:
    items, reducer = reduce("stream_chat_reasoning.txt")
    completion = reducer.finish()

    # Each piece is in both ``reasoning`` and ``reasoning_details``: it comes once.
    assert [i.text for i in items if isinstance(i, ReasoningDelta)] == CLAUDE_THINKING
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == CLAUDE_ANSWER
    assert completion.text == CLAUDE_ANSWER  # no reasoning in the answer
    assert completion.reasoning_tokens == CLAUDE_REASONING_TOKENS
    assert completion.completion_tokens == 36  # reasoning tokens are within, not added
    # The signature-only detail and the empty ones show nothing.
    assert sum(isinstance(i, ReasoningDelta) for i in items) == len(CLAUDE_THINKING)


def test_a_failed_thinking_stream_keeps_its_reasoning_tokens_and_no_reasoning_text() -> None:
    items, reducer = reduce("stream_chat_midstream_error.txt")

    assert [i.text for i in items if isinstance(i, ReasoningDelta)] == MINIMAX_THINKING
    with pytest.raises(ApiFailure) as info:
        reducer.finish()
    assert info.value.message.startswith("Token limit reached")
    assert info.value.partial_text == ""  # it only thought: no answer text
    assert info.value.reasoning_tokens == 11


def test_reasoning_details_alone_carry_the_text() -> None:
    reducer = ChunkReducer()
    details = [
        {"type": "reasoning.text", "text": "Let me ", "format": "anthropic-claude-v1"},
        {"type": "reasoning.encrypted", "data": "c2VjcmV0"},  # nothing to show
        {"type": "reasoning.summary", "summary": "think."},
        {"type": "reasoning.text", "signature": "Et0BCkgI"},  # a signature alone: no text
        "not a detail",
    ]
    assert reducer.feed(
        chunk({"content": "", "reasoning": None, "reasoning_details": details})
    ) == (ReasoningDelta("Let me think."))
    # ``reasoning`` wins when both are there: the same text is never shown twice.
    assert reducer.feed(chunk(thinking("Twice?"))) == ReasoningDelta("Twice?")
    assert reducer.feed(chunk({"content": "", "reasoning": None, "reasoning_details": []})) == (
        KeepAlive()
    )
    assert reducer.feed(chunk({"content": "Answer.", "reasoning": None})) == TextDelta(
        "Answer.", CLAUDE
    )
    reducer.feed(chunk({"content": ""}, "stop"))
    assert reducer.finish().text == "Answer."


@pytest.mark.parametrize(
    "usage",
    [
        {"completion_tokens_details": {"reasoning_tokens": 13.0}},
        {"completion_tokens_details": {"reasoning_tokens": "13"}},
        {"completion_tokens_details": {"reasoning_tokens": -1}},
        {"completion_tokens_details": {"reasoning_tokens": True}},
        {"completion_tokens_details": None},
        {},
    ],
)
def test_reasoning_tokens_that_are_not_counts_are_unknown(usage: dict[str, Any]) -> None:
    reducer = ChunkReducer()
    reducer.feed(chunk({"content": "ok"}, "stop", usage))
    assert reducer.finish().reasoning_tokens is None


def test_split_surrogates_in_reasoning_are_paired() -> None:
    reducer = ChunkReducer()
    assert reducer.feed(chunk(thinking("hm \ud83d"))) == ReasoningDelta("hm ")
    assert reducer.feed(chunk(thinking("\ude00"))) == ReasoningDelta("\U0001f600")


# --- the caller, over real sockets ----------------------------------------------------------


def call_over(server: LoopbackOpenRouter, model: str) -> tuple[str, list[PipelineEvent]]:
    """One real ``generate`` call of ``model``; its events kept."""
    events: list[PipelineEvent] = []

    async def go() -> str:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            caller = Caller(OpenRouterClient(http), events.append, policy=POLICY,
                            rng=random.Random(0))  # fmt: skip
            return await caller.call("generate", 0, spec(model), MESSAGES)

    return asyncio.run(go()), events


@pytest.fixture(scope="module")
def claude_call() -> tuple[str, list[PipelineEvent]]:
    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        server.fail(CLAUDE, Fault(events=captured("stream_chat_reasoning.txt")))
        return call_over(server, CLAUDE)


def test_a_thinking_call_tells_its_thinking_and_answers_only_the_answer(
    claude_call: tuple[str, list[PipelineEvent]],
) -> None:
    answer, events = claude_call

    assert answer == CLAUDE_ANSWER
    assert [e.text for e in events if isinstance(e, ThinkingDelta)] == CLAUDE_THINKING
    assert all(
        (e.stage, e.index) == ("generate", 0) for e in events if isinstance(e, ThinkingDelta)
    )
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == CLAUDE_ANSWER
    kinds = [type(e) for e in events if isinstance(e, ThinkingDelta | TokenDelta)]
    assert kinds.index(TokenDelta) > kinds.index(ThinkingDelta)  # it thought, then answered
    [finished] = [e for e in events if isinstance(e, CallFinished)]
    assert finished.record.content == CLAUDE_ANSWER
    assert finished.record.reasoning_tokens == CLAUDE_REASONING_TOKENS
    assert finished.record.cost == Decimal("0.000669")
    assert call_to_json(finished.record)["reasoning_tokens"] == CLAUDE_REASONING_TOKENS


def test_a_call_that_only_thought_then_failed_records_its_reasoning_tokens() -> None:
    events: list[PipelineEvent] = []

    async def go() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            caller = Caller(OpenRouterClient(http), events.append, policy=POLICY)
            await caller.call("generate", 0, spec(MINIMAX), MESSAGES)

    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        server.fail(MINIMAX, Fault(events=captured("stream_chat_midstream_error.txt")))
        with pytest.raises(StageError):
            asyncio.run(go())

    assert [e.text for e in events if isinstance(e, ThinkingDelta)] == MINIMAX_THINKING
    assert not [e for e in events if isinstance(e, TokenDelta)]
    [failed] = [e.record for e in events if isinstance(e, CallFailed)]
    assert failed.reasoning_tokens == 11
    assert failed.content == ""  # the reasoning is never kept as the answer


# --- the first-token timeout ----------------------------------------------------------------

FIRST_TOKEN = 0.5  # seconds; the model below answers after about 1 s


def slow_thinker(reasoning: bool) -> list[bytes]:
    """A model that streams for about 1 s before its first answer text: reasoning pieces,
    or (``reasoning=False``) the same chunks with nothing in them."""
    pieces = [f"step {n}. " for n in range(6)]
    deltas = [thinking(p) if reasoning else {"content": "", "reasoning": None} for p in pieces]
    usage = {"prompt_tokens": 10, "completion_tokens": 20, "cost": 0.0001,
             "completion_tokens_details": {"reasoning_tokens": 15}}  # fmt: skip
    return [
        *(sse(chunk(d)) for d in deltas),
        sse(chunk({"content": "Four."})),
        sse(chunk({"content": ""}, "stop", usage)),
        b"data: [DONE]\n\n",
    ]


def stream_slowly(reasoning: bool) -> list[StreamItem]:
    events = slow_thinker(reasoning)
    script = lambda body: Scripted(events, latency=1.5)  # noqa: E731
    items: list[StreamItem] = []
    with LoopbackOpenRouter(api_key=FAKE_KEY, script=script) as server:

        async def go() -> None:
            async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
                client = OpenRouterClient(http, first_token_timeout=FIRST_TOKEN)
                async for item in client.stream_chat(ChatRequest(CLAUDE, MESSAGES)):
                    items.append(item)

        asyncio.run(go())
    return items


def test_a_model_streaming_its_reasoning_is_not_cut_by_the_first_token_timeout() -> None:
    items = stream_slowly(reasoning=True)

    assert isinstance(items[-1], Completion)
    assert items[-1].text == "Four." and items[-1].reasoning_tokens == 15
    assert "".join(i.text for i in items if isinstance(i, ReasoningDelta)) == "".join(
        f"step {n}. " for n in range(6)
    )


def test_the_same_stream_without_reasoning_text_is_cut() -> None:
    with pytest.raises(RequestTimeout) as info:
        stream_slowly(reasoning=False)
    assert str(info.value) == f"no answer from {CLAUDE} within {FIRST_TOKEN:g} s"


# --- history ----------------------------------------------------------------------------------


def record(index: int, reasoning_tokens: int | None) -> CallRecord:
    return CallRecord(
        stage="generate", index=index, model=CLAUDE, model_used=CLAUDE, provider="Google",
        prompt_tokens=43, completion_tokens=36, cost=Decimal("0.000669"), ttft_ms=900.0,
        latency_ms=1500.0, finish_reason="stop", content=CLAUDE_ANSWER, accepted=True,
        reasoning_tokens=reasoning_tokens,
    )  # fmt: skip


def test_reasoning_tokens_are_stored_shown_and_in_json() -> None:
    history = History.open(resolve_paths())
    try:
        run_id = history.start_run("What is 2+2?", "balanced", False)
        history.record_call(run_id, record(0, CLAUDE_REASONING_TOKENS))
        history.record_call(run_id, record(1, None))  # a model that said nothing of it
        history.record_call(run_id, record(2, 1234))
        history.finish_run(run_id, "ok", answer=CLAUDE_ANSWER)
        run = history.run(run_id)
    finally:
        history.close()
    assert run is not None
    assert [c.reasoning_tokens for c in run.calls] == [CLAUDE_REASONING_TOKENS, None, 1234]

    shown = hive("history", "show", str(run_id))
    assert shown.exit_code == 0, shown.stderr
    figures = [line for line in shown.stdout.splitlines() if line.startswith("tokens ")]
    assert "tokens 43 in, 36 out · reasoning 13 · " in figures[0]
    assert "reasoning" not in figures[1]  # unknown is not shown as 0
    assert "reasoning 1,234" in figures[2]

    as_json = hive("history", "show", str(run_id), "--json")
    assert as_json.exit_code == 0, as_json.stderr
    calls = json.loads(as_json.stdout)["calls"]
    assert [c["reasoning_tokens"] for c in calls] == [CLAUDE_REASONING_TOKENS, None, 1234]


# --- the live board -----------------------------------------------------------------------------


def board_frames(
    events: list[PipelineEvent],
) -> list[tuple[PipelineEvent, dict[tuple[int, int], list[Text]]]]:
    """The board after each event, drawn at every size."""
    board = Board()
    board.handle(RunStarted("q", "balanced", False, [CallPlan("generate", 0, CLAUDE)]), 0.0)
    out = []
    for n, event in enumerate(events, 1):
        board.handle(event, n * 0.05)
        frames = {(w, h): layout.frame(board, w, h, n * 0.05) for w, h in SIZES}
        for (w, h), lines in frames.items():
            assert len(lines) <= h - 1
            assert all(line.cell_len <= w for line in lines)
        out.append((event, frames))
    return out


def dim_text(lines: list[Text]) -> str:
    """What the frame shows in the thinking style."""
    return "".join(
        line.plain[span.start : span.end]
        for line in lines
        for span in [*line.spans, *([] if not line.style else [_whole(line)])]
        if "dim" in str(span.style) and "italic" in str(span.style)
    )


def _whole(line: Text) -> Span:
    return Span(0, len(line.plain), line.style)


def test_the_live_board_shows_thinking_then_the_answer(
    claude_call: tuple[str, list[PipelineEvent]],
) -> None:
    _, events = claude_call
    frames = board_frames(events)
    first_answer = next(
        n for n, (e, _) in enumerate(frames) if isinstance(e, TokenDelta) and e.text
    )
    last_thought = max(n for n, (e, _) in enumerate(frames) if isinstance(e, ThinkingDelta))
    assert last_thought < first_answer

    thinking_frame = frames[last_thought][1]
    for (w, h), lines in thinking_frame.items():
        plain = "\n".join(line.plain for line in lines)
        assert "thinking" in plain, (w, h)
        assert "no text yet" not in plain
        assert "equals 4." in plain  # the newest thinking
        assert "equals 4." in dim_text(lines)  # shown dim, not as answer text
    wide = "\n".join(line.plain for line in thinking_frame[(120, 40)])
    assert "· thinking" in wide.split("\n")[2]  # the call's row
    assert CLAUDE_ANSWER not in wide

    answered = frames[-1][1] if isinstance(frames[-1][0], CallFinished) else frames[first_answer][1]
    for (w, h), lines in answered.items():
        plain = "\n".join(line.plain for line in lines)
        assert "equals 4." not in plain and "thinking" not in plain, (w, h)
    assert CLAUDE_ANSWER in "\n".join(line.plain for line in frames[-2][1][(120, 40)])


def test_thinking_text_is_made_safe_and_bounded() -> None:
    board = Board()
    board.handle(RunStarted("q", "balanced", False, [CallPlan("generate", 0, CLAUDE)]), 0.0)
    board.handle(CallStarted("generate", 0, CLAUDE), 0.0)
    for _ in range(2000):
        board.handle(ThinkingDelta("generate", 0, "hmm \x1b[31mred\x1b[0m\x07 "), 0.1)
    call = board.calls[("generate", 0)]
    assert len(call.thinking_tail) <= 2 * TAIL_CHARS
    assert call.tail == "" and call.thinking
    for w, h in SIZES:
        lines = layout.frame(board, w, h, 0.2)
        plain = "".join(line.plain for line in lines)
        assert "\x1b" not in plain and "\x07" not in plain
        assert "red" in plain
    count, estimated = call.tokens()
    assert estimated and count is not None and count > 1000  # thinking is billed output
    board.handle(CallStarted("generate", 0, CLAUDE, attempt=2), 0.3)  # a new attempt: gone
    again = board.calls[("generate", 0)]
    assert (again.thinking, again.thinking_tail, again.thought) == (False, "", 0)
