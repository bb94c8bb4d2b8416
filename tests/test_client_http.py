"""The real OpenRouterClient over real sockets, against the loopback OpenRouter server.

Everything here goes through ``make_http_client`` + ``OpenRouterClient`` and a real TCP
connection to 127.0.0.1: request shape, streamed deltas, exact costs, captured OpenRouter
streams replayed byte for byte, every documented and captured error body, and transport faults
(refused connection, a cut stream, a hang, a stream that never finishes).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hive.env import DEFAULT_REFERER, DEFAULT_TITLE
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
from hive.openrouter.chat import ChatRequest, Completion, KeepAlive, StreamItem, TextDelta
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.simulated_replies import reply_text
from hive.openrouter.simulator import sse_events
from tests.conftest import EXPECTED_ERROR_BY_STATUS, FAKE_KEY, fixture_path
from tests.loopback import Fault, LoopbackOpenRouter

MODEL = "openai/gpt-4.1-mini"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name two famous penguins."},
]
REQUEST = ChatRequest(MODEL, MESSAGES, temperature=0.3, max_tokens=512)


# --- helpers -------------------------------------------------------------------------------


def _collect(
    server: LoopbackOpenRouter | None,
    request: ChatRequest = REQUEST,
    *,
    api_key: str | None = FAKE_KEY,
    base_url: str | None = None,
    timeout: float = 10.0,
    sink: list[StreamItem] | None = None,
) -> list[StreamItem]:
    """Run one streamed call through a fresh real client; items also land in ``sink``."""
    items: list[StreamItem] = [] if sink is None else sink
    url = base_url if base_url is not None else server.base_url  # type: ignore[union-attr]

    async def go() -> None:
        async with make_http_client(api_key=api_key, base_url=url, timeout=timeout) as http:
            async for item in OpenRouterClient(http).stream_chat(request):
                items.append(item)

    asyncio.run(go())
    return items


def _failure(
    server: LoopbackOpenRouter, request: ChatRequest = REQUEST, **kwargs: Any
) -> tuple[ApiFailure, list[StreamItem]]:
    """Run a call that must fail; return the typed error and what was yielded before it."""
    items: list[StreamItem] = []
    with pytest.raises(ApiFailure) as info:
        _collect(server, request, sink=items, **kwargs)
    return info.value, items


def _capture_events(name: str) -> list[bytes]:
    """A captured SSE body split into its events (each re-terminated by a blank line)."""
    raw = fixture_path(name).read_bytes().replace(b"\r\n", b"\n")
    return [part.strip(b"\n") + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]


def _data_chunks(events: list[bytes]) -> list[dict[str, Any]]:
    """The JSON chunks among SSE events, numbers kept exact."""
    chunks = []
    for event in events:
        for line in event.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                chunks.append(json.loads(line[5:], parse_float=Decimal, parse_int=Decimal))
    return chunks


def _sent_usage(events: list[bytes]) -> dict[str, Any]:
    usages = [c["usage"] for c in _data_chunks(events) if isinstance(c.get("usage"), dict)]
    assert len(usages) == 1, "the server sent exactly one usage chunk"
    usage: dict[str, Any] = usages[0]
    return usage


def _sent_text(events: list[bytes]) -> str:
    parts = []
    for chunk in _data_chunks(events):
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                parts.append(content)
    return "".join(parts)


def _completion(items: list[StreamItem]) -> Completion:
    completions = [i for i in items if isinstance(i, Completion)]
    assert len(completions) == 1
    assert items[-1] is completions[0], "the Completion comes last"
    return completions[0]


def _deltas(items: list[StreamItem]) -> str:
    return "".join(i.text for i in items if isinstance(i, TextDelta))


def _assert_no_key(err: BaseException) -> None:
    assert FAKE_KEY not in str(err)
    assert FAKE_KEY not in repr(err)
    assert "test0000fake" not in str(err) + repr(err)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the request ---------------------------------------------------------------------------


def test_request_is_a_post_with_openrouter_headers_and_body(openrouter):
    _collect(openrouter)

    [req] = openrouter.requests
    assert req.method == "POST"
    assert req.path == "/api/v1/chat/completions"
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert headers["http-referer"] == DEFAULT_REFERER
    assert headers["x-title"] == DEFAULT_TITLE
    assert headers["content-type"] == "application/json"
    assert req.body == {
        "model": MODEL,
        "messages": MESSAGES,
        "stream": True,
        "temperature": 0.3,
        "max_tokens": 512,
    }


def test_request_without_optional_parameters_omits_them(openrouter):
    _collect(openrouter, ChatRequest(MODEL, MESSAGES))

    [req] = openrouter.requests
    assert req.body == {"model": MODEL, "messages": MESSAGES, "stream": True}


def test_missing_key_is_rejected_by_the_server_as_auth_error(openrouter):
    err, _ = _failure(openrouter, api_key=None)

    [req] = openrouter.requests
    assert "authorization" not in {k.lower() for k in req.headers}
    assert isinstance(err, AuthError)
    assert err.status == 401
    assert err.exit_code == 3
    assert "No cookie auth credentials found" in str(err)


# --- a normal stream -----------------------------------------------------------------------


def test_stream_yields_deltas_then_one_completion_with_server_usage(openrouter):
    items = _collect(openrouter)

    [req] = openrouter.requests
    sent = sse_events(req.body)  # the exact bytes the server streamed for this body
    usage = _sent_usage(sent)
    completion = _completion(items)

    assert any(isinstance(i, KeepAlive) for i in items[:-1]), "': OPENROUTER PROCESSING'"
    assert _deltas(items) == completion.text == _sent_text(sent) == reply_text(req.body)
    assert len([i for i in items if isinstance(i, TextDelta)]) > 1, "streamed, not one lump"
    assert completion.prompt_tokens == usage["prompt_tokens"]
    assert completion.completion_tokens == usage["completion_tokens"]
    assert isinstance(completion.cost, Decimal)
    assert completion.cost == usage["cost"]
    assert str(completion.cost) == str(usage["cost"]), "the literal, not a float round-trip"
    assert completion.model == MODEL
    assert completion.provider == "hive-simulator"
    assert completion.finish_reason == "stop"
    assert completion.generation_id is not None
    assert completion.generation_id.startswith("gen-sim-")


def test_max_tokens_reached_is_reported_as_length(openrouter):
    items = _collect(openrouter, ChatRequest(MODEL, MESSAGES, max_tokens=4))

    completion = _completion(items)
    [req] = openrouter.requests
    assert completion.finish_reason == "length"
    assert completion.text == _sent_text(sse_events(req.body))
    assert completion.cost == _sent_usage(sse_events(req.body))["cost"]


# --- captured OpenRouter streams replayed over the socket ----------------------------------


@pytest.mark.parametrize(
    ("capture", "model", "text", "prompt_tokens", "completion_tokens", "cost", "gen_id"),
    [
        (
            "stream_chat_basic.txt",
            "openai/gpt-4o",
            "Pebbles and Skipper.",
            17,
            6,
            Decimal("0.0001025"),
            "gen-1754441342-hIkMo7SMi0ZecQw3oR4d",
        ),
        (
            "stream_chat_web_search_2026.txt",
            "openai/gpt-4.1-mini",
            "https://github.com/pydantic/pydantic-ai ",
            8174,
            30,
            Decimal("0.0133176"),
            "gen-1786465029-CAkqUciXgQW34RmFaTck",
        ),
    ],
)
def test_captured_stream_replays_exactly(
    openrouter, capture, model, text, prompt_tokens, completion_tokens, cost, gen_id
):
    openrouter.fail(model, Fault(events=_capture_events(capture)))

    items = _collect(openrouter, ChatRequest(model, MESSAGES))

    completion = _completion(items)
    assert isinstance(items[0], KeepAlive), "the capture opens with a keep-alive comment"
    assert _deltas(items) == completion.text == text
    assert completion.prompt_tokens == prompt_tokens
    assert completion.completion_tokens == completion_tokens
    assert completion.cost == cost
    assert str(completion.cost) == str(cost)
    assert completion.model == model
    assert completion.provider == "OpenAI"
    assert completion.finish_reason == "stop"
    assert completion.generation_id == gen_id


def test_real_midstream_error_capture_raises_typed_error_with_billing(openrouter):
    model = "minimax/minimax-m2:free"
    openrouter.fail(model, Fault(events=_capture_events("stream_chat_midstream_error.txt")))

    err, items = _failure(openrouter, ChatRequest(model, MESSAGES, max_tokens=10))

    assert not any(isinstance(i, Completion) for i in items)
    assert isinstance(err, StreamError | ProviderError)
    assert isinstance(err, StreamError), "an in-band 400 is a failed stream"
    assert "Token limit reached" in str(err)
    assert err.code == 400
    assert err.provider == "Minimax"
    assert err.partial_text == "", "the capture streamed reasoning only, no content"
    assert err.cost == Decimal("0")
    assert isinstance(err.cost, Decimal)
    assert (err.prompt_tokens, err.completion_tokens) == (43, 10)
    _assert_no_key(err)


def test_midstream_error_after_content_keeps_partial_text(openrouter):
    """Real chunks: the basic capture's text, then the real in-band error chunk."""
    basic = _capture_events("stream_chat_basic.txt")
    broken = _capture_events("stream_chat_midstream_error.txt")
    content = [e for e in basic if b'"finish_reason":null' in e and b'"usage"' not in e]
    events = [*content, broken[-2], b"data: [DONE]\n\n"]
    openrouter.fail("openai/gpt-4o", Fault(events=events))

    err, items = _failure(openrouter, ChatRequest("openai/gpt-4o", MESSAGES))

    assert isinstance(err, StreamError)
    assert err.partial_text == "Pebbles and Skipper." == _deltas(items)
    assert err.cost == Decimal("0")
    assert not any(isinstance(i, Completion) for i in items)


def test_documented_string_code_error_without_done_raises(openrouter):
    events = _capture_events("stream_midstream_error_documented.txt")
    assert not any(b"[DONE]" in e for e in events)
    openrouter.fail("openai/gpt-4o", Fault(events=events))

    err, items = _failure(openrouter, ChatRequest("openai/gpt-4o", MESSAGES))

    assert isinstance(err, StreamError)
    assert err.code == "server_error"
    assert "Provider disconnected unexpectedly" in str(err)
    assert not any(isinstance(i, Completion) for i in items)
    _assert_no_key(err)


def test_documented_typed_429_in_band_raises_rate_limited(openrouter):
    events = _capture_events("stream_midstream_error_typed_documented.txt")
    openrouter.fail("openai/gpt-4o", Fault(events=events))

    err, items = _failure(openrouter, ChatRequest("openai/gpt-4o", MESSAGES))

    assert isinstance(err, RateLimited)
    assert err.code == 429
    assert "Rate limit exceeded" in str(err)
    assert not any(isinstance(i, Completion) for i in items)


# --- HTTP error statuses ---------------------------------------------------------------------


_UNIQUE = itertools.count()


@pytest.fixture(scope="module")
def shared_loopback() -> Iterator[LoopbackOpenRouter]:
    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        yield server


@pytest.fixture
def error_server(shared_loopback: LoopbackOpenRouter) -> LoopbackOpenRouter:
    """One loopback server for the many one-request error-table tests: each server takes about
    half a second to shut down, which would dominate this file. Every test scripts its fault on
    a model name of its own, so nothing queued can leak into another test."""
    shared_loopback.requests.clear()
    return shared_loopback


def _serve_error(server: LoopbackOpenRouter, status: int, body: bytes) -> ApiFailure:
    model = f"probe/error-{next(_UNIQUE)}"
    server.fail(model, Fault(status=status, body=body))
    err, items = _failure(server, ChatRequest(model, MESSAGES))
    assert [r.body["model"] for r in server.requests] == [model]
    assert items == [], "nothing is yielded for a rejected request"
    _assert_no_key(err)
    return err


@pytest.mark.parametrize(
    ("name", "status", "cls", "message"),
    [
        ("error_401_no_cookie_auth.json", 401, AuthError, "No cookie auth credentials found"),
        ("error_401_user_not_found.json", 401, AuthError, "User not found."),
        (
            "error_402_insufficient_credits.json",
            402,
            CreditsError,
            "You requested up to 65536 tokens, but can only afford 10114.",
        ),
        (
            "error_404_no_endpoints.json",
            404,
            ModelNotFound,
            "No endpoints found for google/gemini-2.5-flash:free.",
        ),
        (
            "error_429_provider_rate_limited.json",
            429,
            RateLimited,
            "google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream",
        ),
        (
            "error_429_typed_metadata_documented.json",
            429,
            RateLimited,
            "Rate limit exceeded",
        ),
        (
            "error_400_provider_returned_error.json",
            400,
            BadRequest,
            "The file format is invalid or unsupported",
        ),
        ("error_400_input_min_token.json", 400, BadRequest, "Input must have at least 1 token."),
    ],
)
def test_captured_error_bodies_map_to_typed_errors(error_server, name, status, cls, message):
    body = fixture_path(name).read_bytes()

    err = _serve_error(error_server, status, body)

    assert type(err) is cls
    assert err.status == status
    assert message in str(err)


def test_upstream_provider_error_names_provider_and_both_messages(error_server):
    body = fixture_path("error_400_provider_returned_error.json").read_bytes()

    err = _serve_error(error_server, 400, body)

    assert err.provider == "Anthropic"
    assert "Provider returned error" in str(err)
    assert (
        "messages.0.content.1.image.source.base64.data: The file format is invalid or unsupported"
        in str(err)
    )


def test_every_documented_status_is_covered():
    documented = json.loads(fixture_path("errors_documented.json").read_text("utf-8"))
    assert {int(s) for s in documented} == set(EXPECTED_ERROR_BY_STATUS)


@pytest.mark.parametrize(("status", "cls"), sorted(EXPECTED_ERROR_BY_STATUS.items()))
def test_documented_error_statuses_map_to_typed_errors(error_server, status, cls):
    documented = json.loads(fixture_path("errors_documented.json").read_text("utf-8"))
    envelope = documented[str(status)]
    body = json.dumps(envelope).encode()

    err = _serve_error(error_server, status, body)

    assert type(err) is cls
    assert err.status == status
    assert err.code == envelope["error"]["code"]
    assert envelope["error"]["message"] in str(err)
    assert str(status) in str(err)


@pytest.mark.parametrize(
    ("availability", "cls"),
    [
        ("capacity_exhausted", RateLimited),
        ("model_deprecated", ModelNotFound),
        ("privacy_restricted", ModelNotFound),
        ("model_not_found", BadRequest),
    ],
)
def test_availability_errors_without_code_map_by_error_type(error_server, availability, cls):
    bodies = json.loads(fixture_path("errors_availability_documented.json").read_text("utf-8"))
    [envelope] = [b for b in bodies if b["error"]["availability"]["code"] == availability]
    assert "code" not in envelope["error"]
    status = envelope["error"]["http_status"]

    err = _serve_error(error_server, status, json.dumps(envelope).encode())

    assert type(err) is cls
    assert err.status == status
    assert envelope["error"]["message"] in str(err)


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        ("error_402_insufficient_credits.json", 402, CreditsError),
        ("error_404_no_endpoints.json", 404, ModelNotFound),
        ("error_400_provider_returned_error.json", 400, BadRequest),
    ],
)
def test_error_bodies_padded_with_whitespace_still_parse(error_server, name, status, cls):
    body = fixture_path(name).read_bytes()
    message = json.loads(body)["error"]["message"]

    err = _serve_error(error_server, status, b"\n         \n\n" + body + b"\n")

    assert type(err) is cls
    assert err.status == status
    assert message in str(err)
    assert '{"error"' not in str(err), "parsed, not shown raw"


def test_non_json_error_body_still_gives_typed_error(error_server):
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

    err = _serve_error(error_server, 502, html)

    assert type(err) is ProviderUnavailable
    assert err.status == 502
    assert "502 Bad Gateway" in str(err)


# --- transport faults ------------------------------------------------------------------------


def test_connection_refused_is_provider_unavailable():
    port = _closed_port()

    with pytest.raises(ProviderUnavailable) as info:
        _collect(None, base_url=f"http://127.0.0.1:{port}/api/v1")

    assert "127.0.0.1" in str(info.value)
    assert info.value.partial_text == ""
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    _assert_no_key(info.value)


def test_stream_cut_midway_is_stream_error_with_partial_text(openrouter):
    openrouter.fail(MODEL, Fault(cut_after=5))

    err, items = _failure(openrouter)

    [req] = openrouter.requests
    full = reply_text(req.body)
    expected = _sent_text(sse_events(req.body)[:5])
    assert isinstance(err, StreamError)
    assert err.partial_text
    assert err.partial_text == expected == _deltas(items)
    assert full.startswith(err.partial_text) and err.partial_text != full
    assert not any(isinstance(i, Completion) for i in items)
    _assert_no_key(err)


def test_hang_with_short_timeout_is_request_timeout(openrouter):
    openrouter.fail(MODEL, Fault(hang=True))

    err, items = _failure(openrouter, timeout=0.5)

    assert isinstance(err, RequestTimeout)
    assert "127.0.0.1" in str(err)
    assert not any(isinstance(i, Completion) for i in items)
    assert len(openrouter.requests) == 1
    _assert_no_key(err)


def test_stream_ending_without_done_or_finish_reason_is_stream_error(openrouter):
    body = REQUEST.body()
    events = sse_events(body)
    truncated = [e for e in events[:-1] if b'"finish_reason":null' in e or e.startswith(b":")]
    assert len(truncated) < len(events) - 2
    assert not any(b'"usage"' in e or b"[DONE]" in e for e in truncated)
    openrouter.fail(MODEL, Fault(events=truncated))

    err, items = _failure(openrouter)

    assert isinstance(err, StreamError)
    assert "before the model finished" in str(err)
    assert err.partial_text == _sent_text(truncated) == reply_text(body)
    assert not any(isinstance(i, Completion) for i in items)


# --- connection reuse ------------------------------------------------------------------------


def _two_calls_through_one_client(
    server: LoopbackOpenRouter,
) -> tuple[list[Completion], list[object]]:
    """Two sequential calls on one AsyncClient; also note each response's local address."""
    completions: list[Completion] = []
    client_addrs: list[object] = []

    async def note_addr(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        client_addrs.append(stream.get_extra_info("client_addr") if stream else None)

    async def go() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            http.event_hooks["response"].append(note_addr)
            client = OpenRouterClient(http)
            for request in (REQUEST, ChatRequest("openai/gpt-4o", MESSAGES)):
                async for item in client.stream_chat(request):
                    if isinstance(item, Completion):
                        completions.append(item)

    asyncio.run(go())
    return completions, client_addrs


def test_one_client_serves_sequential_calls(openrouter):
    completions, _ = _two_calls_through_one_client(openrouter)

    assert [r.body["model"] for r in openrouter.chat_requests()] == [MODEL, "openai/gpt-4o"]
    assert [c.model for c in completions] == [MODEL, "openai/gpt-4o"]
    for completion, req in zip(completions, openrouter.chat_requests(), strict=True):
        assert completion.text == reply_text(req.body)


def test_sequential_calls_reuse_one_connection(openrouter):
    """Reading only up to [DONE] would leave the chunked body unfinished and make httpcore close
    the connection; every stage would then pay a new TCP (and, for real, TLS) handshake."""
    _, client_addrs = _two_calls_through_one_client(openrouter)

    assert len(client_addrs) == 2
    assert None not in client_addrs
    assert client_addrs[0] == client_addrs[1], "same local port: the keep-alive was reused"
