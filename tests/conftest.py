"""Shared fixtures: an isolated environment for every test, and the loopback OpenRouter."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive.consensus.panel import ONE_DRAFT
from hive.consensus.profiles import STAGES, Profile
from hive.errors import (
    ApiFailure,
    AuthError,
    BadRequest,
    CreditsError,
    ModelNotFound,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
)
from hive.store.paths import resolve_paths
from hive.store.rows import Run
from hive.store.user_profiles import ProfileStore
from tests.loopback import KEEPALIVE, LoopbackOpenRouter

# The team's captured OpenRouter data lives beside the repo; tests that need it skip without it.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "openrouter"

# What every run of a one-generator profile (``speed``) warns: no panel, no agreement.
ONE_DRAFT_WARNING = f"agreement is unknown: {ONE_DRAFT}"

DONE = b"data: [DONE]\n\n"  # the last event of every stream

# Obviously fake: never a real key anywhere in this repository.
FAKE_KEY = "sk-or-v1-test0000fake0000key0000not0000real0000abcd"

# The typed error each documented HTTP status must become (see errors_documented.json).
EXPECTED_ERROR_BY_STATUS: dict[int, type[ApiFailure]] = {
    400: BadRequest,
    401: AuthError,
    402: CreditsError,
    404: ModelNotFound,
    408: RequestTimeout,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
    500: ProviderUnavailable,
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    524: RequestTimeout,
    529: ProviderUnavailable,
}


def chunk(
    model: str, content: str = "", finish: str | None = None, usage: str = "", *, full: bool = False
) -> bytes:
    """One chat-completion SSE chunk; ``usage`` is raw JSON for a usage object. ``full``: in
    OpenRouter's whole envelope (object, created, provider, the delta's role, the native finish
    reason), written compactly as OpenRouter writes it."""
    if full:
        choice = {"index": 0, "delta": {"role": "assistant", "content": content},
                  "finish_reason": finish, "native_finish_reason": finish}  # fmt: skip
        envelope = {"id": "gen-1786465029-HiveFaultTest0001", "object": "chat.completion.chunk",
                    "created": 1786465029, "model": model, "provider": "Loopback",
                    "choices": [choice]}  # fmt: skip
        body = json.dumps(envelope, separators=(",", ":"))
    else:
        choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
        body = json.dumps({"id": "gen-1", "model": model, "choices": [choice]})
    extra = f',"usage":{{{usage}}}' if usage else ""
    return f"data: {body[:-1]}{extra}}}\n\n".encode()


def stream(
    model: str,
    text: str,
    *,
    finish: str = "stop",
    cost: str = "0.00001",
    prompt_tokens: int = 50,
    full: bool = False,
) -> list[bytes]:
    """A scripted model's whole reply: ``text`` word by word, then ``finish`` with usage
    (``cost`` as its exact literal), DONE. ``full``: as OpenRouter streams it, a keep-alive
    comment first, chunks in the whole envelope (``chunk``), the finish reason in a chunk of
    its own before the one with the usage."""
    words = re.findall(r"\S+\s*|\s+", text)
    usage = f'"prompt_tokens":{prompt_tokens},"completion_tokens":{len(words)},"cost":{cost}'
    if not full:
        return [*(chunk(model, w) for w in words), chunk(model, "", finish, usage), DONE]
    return [
        KEEPALIVE,
        *(chunk(model, w, full=True) for w in words),
        chunk(model, "", finish, full=True),
        chunk(model, "", finish, usage, full=True),
        DONE,
    ]


def without_ledger(synthesis: str) -> str:
    """The refined answer the later stages get: the refiner's text without its ledger."""
    from hive.consensus.ledger import labels, parse_ledger

    return parse_ledger(synthesis, labels(26)).answer


def last_run() -> Run:
    """The newest run in the test's history, with its calls (fields by attribute: ``run.status``,
    ``run.calls[0].cost``)."""
    from hive.store.history import History

    history = History.open(resolve_paths())
    try:
        [summary] = history.runs(limit=1)
        run = history.run(summary.id)
    finally:
        history.close()
    assert run is not None
    return run


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"shared fixture {name} not available")
    return path


def without_fallbacks(profile: Profile) -> Profile:
    """``profile`` with every stage's fallbacks removed: only its first-choice models are asked.

    For tests of what happens when a model fails and nothing can stand in for it (the built-in
    profiles all carry fallbacks)."""
    fields = {"validate_" if stage == "validate" else stage: stage for stage in STAGES}
    return profile.model_copy(
        update={
            field: profile.stage(stage).model_copy(update={"fallbacks": ()})
            for field, stage in fields.items()
        }
    )


def store_without_fallbacks(name: str, base: str | None = None) -> str:
    """Store user profile ``name`` in the test's HIVE_HOME: profile ``base`` (built-in or user;
    by default ``name`` itself, which is replaced) with every stage's fallbacks emptied, as no
    ``hive profiles`` option can do. Returns ``name``, for ``hive consensus``."""
    store = ProfileStore(resolve_paths())
    source = store.get(base or name)
    store.save(without_fallbacks(source).model_copy(update={"name": name}), replace=True)
    stored = store.get(name)
    assert all(stored.stage(stage).fallbacks == () for stage in STAGES)
    assert [stored.stage(stage).models for stage in STAGES] == [
        source.stage(stage).models for stage in STAGES
    ]
    return name


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, settings or terminal quirks."""
    for name in ("OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY", "OPENROUTER_BASE_URL", "HIVE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HIVE_HOME", str(tmp_path / "hive-home"))
    monkeypatch.setenv("NO_COLOR", "1")
    # Real retries, but backoff in milliseconds: the fault suite checks the waits themselves.
    monkeypatch.setenv("HIVE_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def openrouter() -> Iterator[LoopbackOpenRouter]:
    """A loopback OpenRouter that requires FAKE_KEY."""
    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        yield server


@pytest.fixture
def keyed_env(
    monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter
) -> LoopbackOpenRouter:
    """hive configured, through its real environment variables, to talk to the loopback server."""
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    return openrouter
