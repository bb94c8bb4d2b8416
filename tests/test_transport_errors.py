"""Every transport failure becomes hive's typed error and follows the retry policy (issue 8,
items 8 and 17): a body that will not decode, a redirect (a loop, when followed), a host name
that does not resolve, a connection reset — over real sockets, through the client, the
pipeline and the CLI.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hive.consensus.profiles import BUILTIN_PROFILES
from hive.errors import (
    ApiFailure,
    HostNotFound,
    ProviderUnavailable,
    StageError,
    StreamError,
    Unreachable,
)
from hive.openrouter.chat import ChatRequest, StreamItem
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import is_transient, worth_a_fallback
from tests.conftest import FAKE_KEY, last_run
from tests.helpers import hive_without_key as hive  # checks that the key never shows
from tests.loopback import Fault, LoopbackOpenRouter
from tests.test_faults import GEN, REF, SPEED_ALONE, asked, run_pipeline, with_stage

MODEL = "openai/gpt-4.1-mini"
REQUEST = ChatRequest(MODEL, [{"role": "user", "content": "Name two famous penguins."}])
NO_SUCH_HOST = "http://no-such-host.invalid/api/v1"  # .invalid never resolves (RFC 2606)
GARBAGE_GZIP = Fault(events=[b"this is not gzip at all\n\n"], headers={"Content-Encoding": "gzip"})


def failure(base_url: str, *, follow_redirects: bool = False) -> ApiFailure:
    """The typed error one streamed call through the real client ends in."""

    async def go() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=base_url) as http:
            http.follow_redirects = follow_redirects
            items: list[StreamItem] = []
            async for item in OpenRouterClient(http).stream_chat(REQUEST):
                items.append(item)

    with pytest.raises(ApiFailure) as info:
        asyncio.run(go())
    assert FAKE_KEY not in str(info.value)
    return info.value


def error_lines(result: Any) -> list[str]:
    return [x for x in str(result.stderr).splitlines() if x.startswith("hive: error:")]


# --- a body that will not decode ---------------------------------------------------------------


def test_a_body_that_will_not_decode_is_a_stream_error(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(MODEL, GARBAGE_GZIP)

    err = failure(openrouter.base_url)

    assert type(err) is StreamError
    assert isinstance(err.__cause__, httpx.DecodingError)
    assert str(err).startswith("the reply from 127.0.0.1 could not be decoded (")
    assert is_transient(err)


def test_a_body_that_will_not_decode_is_retried_in_a_run(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(GEN, GARBAGE_GZIP)

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and out.result.answer and not out.result.degraded
    assert asked(openrouter)[:2] == [GEN, GEN]
    assert out.attempts("generate") == [(GEN, 1, False), (GEN, 2, True)]
    assert out.warnings[0].startswith(
        f"generate: {GEN} failed (the reply from 127.0.0.1 could not be decoded ("
    )


# --- redirects ---------------------------------------------------------------------------------


def redirect(status: int = 307) -> Fault:
    return Fault(status=status, headers={"Location": "/api/v1/chat/completions"})


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_not_retried(
    openrouter: LoopbackOpenRouter, status: int
) -> None:
    openrouter.fail(MODEL, redirect(status))

    err = failure(openrouter.base_url)

    assert type(err) is ProviderUnavailable
    assert (err.status, err.retryable) == (status, False)
    assert not is_transient(err) and not worth_a_fallback(err)
    assert "redirected the request to /api/v1/chat/completions" in str(err)
    assert len(openrouter.chat_requests()) == 1


def test_a_redirect_loop_followed_is_a_typed_error(openrouter: LoopbackOpenRouter) -> None:
    """Only an AsyncClient told to follow redirects sees TooManyRedirects; it must still be
    hive's error, never an internal one."""
    openrouter.fail(MODEL, *(redirect() for _ in range(30)))

    err = failure(openrouter.base_url, follow_redirects=True)

    assert type(err) is ProviderUnavailable
    assert isinstance(err.__cause__, httpx.TooManyRedirects)
    assert err.retryable is False
    assert str(err).startswith("127.0.0.1 redirected the request in a loop")


def test_cli_a_redirect_is_one_line_with_no_retry_and_no_fallback(
    keyed_env: LoopbackOpenRouter,
) -> None:
    keyed_env.fail("*", *(redirect(308) for _ in range(10)))

    result = hive("consensus", "Why is the sky blue?", "speed")

    assert result.exit_code == 1, result.stderr
    [line] = error_lines(result)
    assert "redirected the request" in line and "(HTTP 308)" in line
    assert asked(keyed_env) == [BUILTIN_PROFILES["speed"].stage("generate").models[0]]


# --- a host name that does not resolve ---------------------------------------------------------


def test_a_host_that_does_not_resolve_is_not_retried_nor_passed_to_a_fallback() -> None:
    err = failure(NO_SUCH_HOST)

    assert type(err) is HostNotFound
    assert err.retryable is False
    assert not is_transient(err) and not worth_a_fallback(err)
    assert str(err).startswith("cannot find the host no-such-host.invalid (")
    assert "--simulate" not in str(err)  # the client serves commands without that option


def test_a_host_that_does_not_resolve_fails_a_run_at_once() -> None:
    profile = with_stage(SPEED_ALONE, "generate", fallbacks=(MODEL,))

    out = run_pipeline(NO_SUCH_HOST, profile)

    assert isinstance(out.error, StageError) and isinstance(out.error.cause, HostNotFound)
    assert out.attempts("generate") == [(GEN, 1, False)]  # no retry, no fallback
    assert out.sleeps == [] and out.warnings == []


def test_cli_a_host_that_does_not_resolve_is_one_line_and_one_attempt_per_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", NO_SUCH_HOST)
    balanced = BUILTIN_PROFILES["balanced"]
    assert balanced.stage("generate").fallbacks, "the case needs fallbacks that go unused"

    result = hive("consensus", "Why is the sky blue?", "balanced")

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "cannot find the host no-such-host.invalid" in line
    assert line.endswith("and your network, or run with --simulate")
    assert "retrying" not in result.stderr and "falling back" not in result.stderr
    run = last_run()
    calls = sorted((c.stage, c.model, c.attempt) for c in run.calls)
    assert calls == sorted(("generate", m, 1) for m in balanced.stage("generate").models)


def test_cli_models_refresh_names_the_host_without_suggesting_simulate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", NO_SUCH_HOST)

    result = hive("models", "refresh")

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "cannot find the host no-such-host.invalid" in line
    assert "--simulate" not in result.stderr


# --- refused and reset connections -------------------------------------------------------------


def test_a_reset_connection_does_not_say_could_not_reach(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(MODEL, Fault(reset=True))

    err = failure(openrouter.base_url)

    assert type(err) is ProviderUnavailable and is_transient(err)
    assert str(err) == "the connection to 127.0.0.1 was reset (Connection reset by peer)"


def test_a_refused_connection_is_unreachable_and_retried() -> None:
    from tests.test_faults import closed_port

    err = failure(f"http://127.0.0.1:{closed_port()}/api/v1")

    assert type(err) is Unreachable and is_transient(err)
    assert str(err) == "could not reach 127.0.0.1 (Connection refused): check your connection"


def test_cli_models_refresh_refused_does_not_suggest_simulate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_faults import closed_port

    monkeypatch.setenv("OPENROUTER_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")

    result = hive("models", "refresh")

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "could not reach 127.0.0.1" in line
    assert "--simulate" not in line


def test_cli_consensus_refused_suggests_simulate(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_faults import closed_port, user_profile

    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    alone = user_profile("alone", fallbacks=False)

    result = hive("consensus", "Why is the sky blue?", alone)

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.endswith("could not reach 127.0.0.1 (Connection refused): check your connection, "
                         "or run with --simulate")  # fmt: skip


def test_refine_reset_retries_say_reset(openrouter: LoopbackOpenRouter) -> None:
    openrouter.fail(REF, Fault(reset=True))

    out = run_pipeline(openrouter.base_url)

    assert out.result is not None and not out.result.degraded
    assert out.attempts("refine") == [(REF, 1, False), (REF, 2, True)]
    assert "could not reach" not in " ".join(out.warnings)
    assert "the connection to 127.0.0.1 was reset" in out.warnings[0]
