"""ChunkReducer over the real captured streams, synthetic edge cases, and error-body typing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from hive.errors import (
    ApiFailure,
    AuthError,
    BadRequest,
    CreditsError,
    ModelNotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    StreamError,
)
from hive.openrouter.chat import (
    MAX_SKIPPED,
    ChunkReducer,
    Completion,
    KeepAlive,
    ReasoningDelta,
    TextDelta,
)
from hive.openrouter.error_bodies import error_from_chunk, error_from_response
from hive.openrouter.sse import Event, SSEDecoder
from tests.conftest import EXPECTED_ERROR_BY_STATUS, fixture_path


def payloads(name: str) -> list[str]:
    """The data payloads of a capture, decoded with the real SSE decoder."""
    decoder = SSEDecoder()
    items = decoder.feed(fixture_path(name).read_bytes()) + decoder.close()
    return [item.data for item in items if isinstance(item, Event)]


def run(data: list[str]) -> tuple[ChunkReducer, list[TextDelta | ReasoningDelta | KeepAlive]]:
    reducer = ChunkReducer()
    return reducer, [reducer.feed(d) for d in data]


def content_deltas(data: list[str]) -> list[str]:
    """``choices[0].delta.content`` of every chunk, read independently of the reducer."""
    out = []
    for d in data:
        if d == "[DONE]":
            continue
        chunk = json.loads(d)
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                out.append(content)
    return out


def chunk(**fields: Any) -> str:
    base: dict[str, Any] = {
        "id": "gen-1-test",
        "object": "chat.completion.chunk",
        "model": "test/model",
        "provider": "Test",
    }
    return json.dumps(base | fields)


def content(text: str, finish_reason: str | None = None) -> str:
    return chunk(
        choices=[
            {
                "index": 0,
                "delta": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ]
    )


# --- real captures ----------------------------------------------------------------------------


def test_basic_capture() -> None:
    data = payloads("stream_chat_basic.txt")
    reducer, items = run(data)
    completion = reducer.finish()
    expected_text = "".join(content_deltas(data))
    assert expected_text == "Pebbles and Skipper."
    assert completion == Completion(
        text=expected_text,
        model="openai/gpt-4o",
        provider="OpenAI",
        finish_reason="stop",
        prompt_tokens=17,
        completion_tokens=6,
        cost=Decimal("0.0001025"),
        generation_id="gen-1754441342-hIkMo7SMi0ZecQw3oR4d",
        cached_tokens=0,  # the capture's prompt_tokens_details says 0: a reported miss
        reasoning_tokens=0,  # and its completion_tokens_details: no reasoning, reported
    )
    assert isinstance(completion.cost, Decimal)
    assert str(completion.cost) == "0.0001025"  # exact, no binary-float residue
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == expected_text
    assert [i.text for i in items if isinstance(i, TextDelta)] == [
        "Peb",
        "bles",
        " and",
        " Sk",
        "ipper",
        ".",
    ]


def test_web_search_2026_capture() -> None:
    data = payloads("stream_chat_web_search_2026.txt")
    reducer, _ = run(data)
    completion = reducer.finish()
    assert completion.text == "".join(content_deltas(data))
    assert completion.text
    assert completion.cost == Decimal("0.0133176")
    assert isinstance(completion.cost, Decimal)
    assert (completion.prompt_tokens, completion.completion_tokens) == (8174, 30)
    assert completion.finish_reason == "stop"
    assert completion.model == "openai/gpt-4.1-mini"
    assert completion.provider == "OpenAI"


def test_reasoning_capture_keeps_reasoning_out_of_the_text() -> None:
    data = payloads("stream_chat_reasoning.txt")
    reasoning = []
    for d in data[:-1]:
        delta = json.loads(d)["choices"][0]["delta"]
        if isinstance(delta.get("reasoning"), str) and delta["reasoning"]:
            reasoning.append(delta["reasoning"])
    assert "2+2 equals 4." in reasoning  # the capture really does carry reasoning
    reducer, items = run(data)
    completion = reducer.finish()
    assert completion.text == "".join(content_deltas(data))
    assert completion.text.startswith("2 + 2 = 4")
    for piece in reasoning:
        assert piece not in completion.text
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    assert not set(reasoning) & set(deltas)
    assert completion.provider == "Google"
    assert completion.model == "anthropic/claude-sonnet-4.5"


def test_tool_calls_capture() -> None:
    data = payloads("stream_chat_tool_calls.txt")
    reducer, _ = run(data)
    completion = reducer.finish()
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""  # content was null or "" throughout
    assert completion.cost == Decimal("0.0000368")
    assert (completion.prompt_tokens, completion.completion_tokens) == (48, 11)


def test_real_midstream_error_capture() -> None:
    data = payloads("stream_chat_midstream_error.txt")
    reducer, _ = run(data)  # feeding does not raise: the error surfaces at finish()
    with pytest.raises(StreamError) as info:
        reducer.finish()
    err = info.value
    assert isinstance(err, ProviderError)
    assert "Token limit reached" in str(err)
    assert err.cost == Decimal("0")
    assert isinstance(err.cost, Decimal)
    assert (err.prompt_tokens, err.completion_tokens) == (43, 10)
    assert err.partial_text == "".join(content_deltas(data)) == ""
    assert err.code == 400
    assert err.provider == "Minimax"


def test_real_midstream_error_keeps_content_that_arrived() -> None:
    """The same capture with visible content in its first chunk: partial_text holds it."""
    data = payloads("stream_chat_midstream_error.txt")
    first = json.loads(data[0])
    first["choices"][0]["delta"]["content"] = "Hello, wor"
    data[0] = json.dumps(first)
    reducer, _ = run(data)
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert info.value.partial_text == "Hello, wor"
    assert info.value.completion_tokens == 10


def test_documented_midstream_error_with_string_code_and_no_done() -> None:
    data = payloads("stream_midstream_error_documented.txt")
    assert data[-1] != "[DONE]"
    reducer, _ = run(data)
    assert reducer.finish_reason == "error"
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert "Provider disconnected unexpectedly" in str(info.value)
    assert info.value.code == "server_error"


def test_documented_typed_midstream_error_is_rate_limited() -> None:
    reducer, _ = run(payloads("stream_midstream_error_typed_documented.txt"))
    with pytest.raises(RateLimited) as info:
        reducer.finish()
    assert "Rate limit exceeded" in str(info.value)
    assert info.value.code == 429
    assert info.value.provider == "OpenAI"


# --- synthetic layouts ------------------------------------------------------------------------


def test_docs_usage_layout_with_empty_choices() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "cost": 0.00042}
    data = [
        content("Hi"),
        content(" there", "stop"),
        chunk(choices=[], usage=usage),
        "[DONE]",
    ]
    completion = run(data)[0].finish()
    assert completion.text == "Hi there"
    assert completion.finish_reason == "stop"
    assert (completion.prompt_tokens, completion.completion_tokens) == (12, 3)
    assert completion.cost == Decimal("0.00042")


def test_end_without_done_and_without_finish_reason_is_a_stream_error() -> None:
    reducer, _ = run([content("Half an ans")])
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert info.value.partial_text == "Half an ans"


def test_end_without_done_but_with_finish_reason_is_a_completion() -> None:
    completion = run([content("Done"), content("", "stop")])[0].finish()
    assert completion.text == "Done"
    assert completion.finish_reason == "stop"
    assert completion.cost is None  # no usage chunk: no invented cost


def test_done_without_finish_reason_is_a_stream_error_keeping_text_and_cost() -> None:
    """[DONE] says the server stopped, not that the model finished: without a finish reason
    the answer may be a fragment (issue 8, item 6)."""
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "cost": 0.00002}
    reducer, _ = run([content("A 49-character frag"), chunk(choices=[], usage=usage), "[DONE]"])
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert "without a finish reason" in str(info.value)
    assert info.value.partial_text == "A 49-character frag"
    assert info.value.cost == Decimal("0.00002")
    assert (info.value.prompt_tokens, info.value.completion_tokens) == (5, 2)


def test_finish_reason_error_without_details_is_a_stream_error() -> None:
    reducer, _ = run([content("par", "error")])
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert info.value.partial_text == "par"


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ("{not json", "malformed"),
        ('{"id": "x"', "malformed"),
        ("data: {}", "malformed"),
        ("", "malformed"),
        ("[1, 2]", "unexpected"),
        ("42", "unexpected"),
        ('"text"', "unexpected"),
        ("null", "unexpected"),
        ("true", "unexpected"),
    ],
)
def test_a_line_that_is_not_a_chunk_is_skipped_with_a_warning(bad: str, kind: str) -> None:
    """The server streams (and bills) on after a bad line: skipping it keeps the paid answer."""
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "cost": 0.00003}
    reducer = ChunkReducer()
    assert reducer.feed(content("before ")) == TextDelta("before ", "test/model")
    assert reducer.feed(bad) == KeepAlive()
    reducer.feed(content("after", "stop"))
    reducer.feed(chunk(choices=[], usage=usage))
    reducer.feed("[DONE]")
    completion = reducer.finish()
    assert completion.text == "before after"
    assert completion.cost == Decimal("0.00003")
    assert completion.warnings == (f"skipped a {kind} stream line: {bad!r}",)


def test_a_skipped_line_is_quoted_shortened_at_a_word_boundary() -> None:
    bad = "{oops " + "word " * 40
    reducer = ChunkReducer()
    reducer.feed(bad)
    [warning] = reducer.warnings
    quote = warning.removeprefix("skipped a malformed stream line: ")
    assert quote.startswith("'{oops word") and quote.endswith("word…'")
    assert len(quote) <= 82  # QUOTE_WIDTH plus the quotes


def test_a_stream_of_garbage_is_given_up_on() -> None:
    reducer = ChunkReducer()
    reducer.feed(content("partial "))
    for _ in range(MAX_SKIPPED):
        assert reducer.feed("<html>") == KeepAlive()
    with pytest.raises(StreamError) as info:
        reducer.feed("<html>")
    assert f"{MAX_SKIPPED + 1} skipped" in str(info.value)
    assert info.value.partial_text == "partial "
    assert len(info.value.warnings) == MAX_SKIPPED


def test_garbage_then_end_without_finish_reason_is_a_stream_error() -> None:
    reducer, _ = run(["nope", "still nope", "[DONE]"])
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert len(info.value.warnings) == 2


def test_integer_cost_zero_is_decimal_zero() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0}
    completion = run([content("x", "stop"), chunk(choices=[], usage=usage), "[DONE]"])[0].finish()
    assert completion.cost == Decimal(0)
    assert isinstance(completion.cost, Decimal)


def test_error_inside_the_choice_is_raised() -> None:
    body = json.loads(fixture_path("chat_completion_error_in_choice_documented.json").read_text())
    reducer, _ = run([json.dumps(body)])
    with pytest.raises(StreamError) as info:
        reducer.finish()
    assert "Provider disconnected mid-stream" in str(info.value)
    assert info.value.code == 502


def test_keep_alive_items_for_content_free_chunks() -> None:
    reducer = ChunkReducer()
    assert reducer.feed(content("")) == KeepAlive()
    assert reducer.feed("[DONE]") == KeepAlive()
    assert reducer.done


# --- error_from_response ----------------------------------------------------------------------

REAL_ERROR_BODIES = [
    (
        "error_400_provider_returned_error.json",
        400,
        BadRequest,
        ["Provider returned error", "The file format is invalid or unsupported"],
        "Anthropic",
    ),
    (
        "error_400_input_min_token.json",
        400,
        BadRequest,
        ["Input must have at least 1 token."],
        None,
    ),
    (
        "error_401_no_cookie_auth.json",
        401,
        AuthError,
        ["No cookie auth credentials found", "OPENROUTER_API_KEY"],
        None,
    ),
    ("error_401_user_not_found.json", 401, AuthError, ["User not found."], None),
    ("error_402_insufficient_credits.json", 402, CreditsError, ["can only afford 10114"], None),
    (
        "error_404_no_endpoints.json",
        404,
        ModelNotFound,
        ["No endpoints found for google/gemini-2.5-flash:free."],
        None,
    ),
    (
        "error_429_provider_rate_limited.json",
        429,
        RateLimited,
        ["Provider returned error", "temporarily rate-limited upstream"],
        "Google",
    ),
    ("error_429_typed_metadata_documented.json", 429, RateLimited, ["Rate limit exceeded"], None),
]


@pytest.mark.parametrize(
    ("name", "status", "cls", "fragments", "provider"),
    REAL_ERROR_BODIES,
    ids=[row[0] for row in REAL_ERROR_BODIES],
)
def test_error_from_response_real_bodies(
    name: str, status: int, cls: type[ApiFailure], fragments: list[str], provider: str | None
) -> None:
    err = error_from_response(status, fixture_path(name).read_bytes())
    assert type(err) is cls
    assert err.status == status
    assert err.code == status
    assert err.provider == provider
    for fragment in fragments:
        assert fragment in str(err)
    assert f"(HTTP {status})" in str(err)


def test_auth_errors_are_not_provider_errors() -> None:
    for name in ("error_401_user_not_found.json", "error_402_insufficient_credits.json"):
        status = int(name.split("_")[1])
        err = error_from_response(status, fixture_path(name).read_bytes())
        assert isinstance(err, AuthError)
        assert not isinstance(err, ProviderError)
        assert err.exit_code == 3


def test_error_from_response_documented_spec_examples() -> None:
    bodies = json.loads(fixture_path("errors_documented.json").read_text())
    assert {int(k) for k in bodies} == set(EXPECTED_ERROR_BY_STATUS)
    for key, body in bodies.items():
        status = int(key)
        err = error_from_response(status, json.dumps(body).encode())
        assert type(err) is EXPECTED_ERROR_BY_STATUS[status], status
        assert body["error"]["message"] in str(err)


def test_error_from_response_availability_errors_without_code() -> None:
    bodies = json.loads(fixture_path("errors_availability_documented.json").read_text())
    expected = [RateLimited, ModelNotFound, ModelNotFound, BadRequest]
    for body, cls in zip(bodies, expected, strict=True):
        status = body["error"]["http_status"]
        err = error_from_response(status, json.dumps(body).encode())
        assert type(err) is cls
        assert err.code is None
        assert body["error"]["message"] in str(err)


def test_error_from_response_tolerates_keep_alive_padding() -> None:
    padded = fixture_path("chat_completion.json").read_bytes()
    padding = padded[: len(padded) - len(padded.lstrip())]
    assert padding.strip() == b"" and padding  # the real capture really is padded
    body = fixture_path("error_401_user_not_found.json").read_bytes()
    err = error_from_response(401, padding + body)
    assert type(err) is AuthError
    assert "User not found." in str(err)
    assert err.code == 401


def test_error_from_response_non_json_and_empty_bodies() -> None:
    err = error_from_response(502, b"<html><body>Bad gateway</body></html>")
    assert type(err) is ProviderUnavailable
    assert "HTTP 502" in str(err) and "Bad gateway" in str(err)
    empty = error_from_response(503, b"")
    assert type(empty) is ProviderUnavailable
    assert "empty body" in str(empty)
    assert type(error_from_response(401, b"   \n")) is AuthError


# --- error_from_chunk -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (429, RateLimited),
        (400, StreamError),  # a failed stream, not a rejected request
        (402, CreditsError),
        (401, AuthError),
        (408, RequestTimeout),
        (502, StreamError),
        ("server_error", StreamError),
        ("something_new", StreamError),
        (None, StreamError),
    ],
)
def test_error_from_chunk_codes(code: object, cls: type[ApiFailure]) -> None:
    err = error_from_chunk({"code": code, "message": "went wrong"}, "Prov")
    assert type(err) is cls
    assert err.code == code
    assert err.provider == "Prov"
    assert "went wrong" in str(err)


def test_error_from_chunk_typed_metadata_and_provider_name() -> None:
    err = error_from_chunk(
        {
            "code": "x",
            "message": "slow down",
            "metadata": {"error_type": "rate_limit_exceeded", "provider_name": "Upstream"},
        },
        "Fallback",
    )
    assert type(err) is RateLimited
    assert err.provider == "Upstream"


def test_error_from_chunk_non_dict() -> None:
    err = error_from_chunk("boom", None)
    assert type(err) is StreamError
    assert "boom" in str(err)


def test_explicit_null_error_field_is_not_an_error() -> None:
    data = [
        chunk(
            choices=[{"index": 0, "delta": {"content": "fine"}, "finish_reason": None}], error=None
        ),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop", "error": None}]),
        "[DONE]",
    ]
    completion = run(data)[0].finish()
    assert completion.text == "fine"
    assert completion.finish_reason == "stop"
