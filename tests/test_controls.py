"""OpenRouter's controls per stage (issue 13): reasoning, provider routing, web search.

Two halves. The pure half tables what a profile's settings become: the request objects, field
for field as OpenRouter documents them, the reasoning budget and its warning, routing laid
over routing and the global data policy, and what each control adds to a call's price. The
other half runs ``hive consensus`` against the loopback server and reads the recorded request
bodies, replays the real web-search capture through the real client, and follows cited pages
from the stream to the answer's sources, the JSON result and ``hive history show``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hive.consensus.controls import (
    ANSWER_ROOM,
    ENGINE_PRICE,
    MaxPrice,
    ProviderSpec,
    ReasoningSpec,
    WebSpec,
    answer_room_warning,
)
from hive.consensus.estimate import cost_at, estimate_run
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES, Profile, StageSpec
from hive.openrouter.catalog import ModelPrice, builtin_prices
from hive.openrouter.chat import ChatRequest, ChunkReducer, Source
from hive.openrouter.sse import Event, SSEDecoder
from hive.store.paths import resolve_paths
from hive.store.user_profiles import ProfileStore
from tests.conftest import chunk, fixture_path, last_run
from tests.helpers import hive, ok
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

TODAY = date(2026, 11, 28)


# --- the request objects -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "body"),
    [
        ({"effort": "high"}, {"effort": "high"}),
        ({"effort": "none"}, {"effort": "none"}),
        ({"max_tokens": 2000}, {"max_tokens": 2000}),
        ({"effort": "low", "exclude": True}, {"effort": "low", "exclude": True}),
        ({"enabled": True}, {"enabled": True}),
        ({"enabled": False}, {"enabled": False}),
    ],
)
def test_reasoning_is_sent_as_documented(settings: dict[str, Any], body: dict[str, Any]) -> None:
    assert ReasoningSpec.model_validate(settings).body() == body


@pytest.mark.parametrize(
    "settings",
    [
        {"effort": "high", "max_tokens": 1000},  # one or the other, as the docs say
        {"effort": "high", "enabled": False},  # off, yet an effort: which is meant?
        {"max_tokens": 2000, "enabled": False},
        {"enabled": "yes"},  # TOML has booleans: text is a mistake, not true
        {"exclude": 1},
        {"effort": "extreme"},
        {"max_tokens": 0},
        {"budget": 1000},  # not a field: a typo is an error, never ignored
    ],
)
def test_reasoning_refuses_what_openrouter_does_not_take(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReasoningSpec.model_validate(settings)


@pytest.mark.parametrize(
    ("settings", "max_tokens", "budget"),
    [
        ({"effort": "high"}, 2048, 1638),  # 80 %
        ({"effort": "medium"}, 4096, 2048),
        ({"effort": "low"}, 2048, 1024),  # 20 % is 409: the floor is 1024
        ({"effort": "minimal"}, 100_000, 10_000),
        ({"effort": "xhigh"}, 1_000_000, 128_000),  # the ceiling
        ({"enabled": True}, 4096, 2048),  # no effort: medium
        ({"max_tokens": 3000}, 4096, 3000),
        ({"max_tokens": 500}, 4096, 1024),  # used directly, with a minimum of 1024
        ({"effort": "max"}, 10_000, 9500),
        ({"effort": "none"}, 4096, 0),
        ({"enabled": False}, 4096, 0),
    ],
)
def test_the_reasoning_budget(settings: dict[str, Any], max_tokens: int, budget: int) -> None:
    assert ReasoningSpec.model_validate(settings).budget(max_tokens) == budget


@pytest.mark.parametrize(
    ("settings", "max_tokens", "left"),
    [
        ({"effort": "high"}, 1536, 308),  # 1228 of 1536 may go to thinking
        ({"max_tokens": 4000}, 4096, 96),
        ({"max_tokens": 5000}, 4096, 0),  # more than all of it
        ({"effort": "low"}, 1024, 0),  # the 1024 floor is all of it
        ({"effort": "high"}, 8192, None),  # 1639 left: room enough
        ({"effort": "none"}, 100, None),
        (None, 100, None),
    ],
)
def test_a_budget_that_leaves_no_room_to_answer_is_a_warning(
    settings: dict[str, Any] | None, max_tokens: int, left: int | None
) -> None:
    reasoning = None if settings is None else ReasoningSpec.model_validate(settings)
    warning = answer_room_warning("validate", reasoning, max_tokens)
    if left is None:
        assert warning is None
    else:
        assert warning is not None and warning.startswith("validate: reasoning may take ")
        assert f"of its {max_tokens} max_tokens, leaving {left} for the answer" in warning
        assert left < ANSWER_ROOM


def test_provider_routing_is_sent_field_for_field() -> None:
    every = ProviderSpec.model_validate(
        {
            "order": ["anthropic", "openai"],
            "allow_fallbacks": False,
            "require_parameters": True,
            "data_collection": "deny",
            "zdr": True,
            "only": ["anthropic"],
            "ignore": ["deepinfra"],
            "quantizations": ["fp8", "bf16"],
            "sort": "throughput",
            "max_price": {"prompt": 1, "completion": 2.5, "request": 0.01, "image": 0.5},
        }
    )
    assert every.body() == {
        "order": ["anthropic", "openai"],
        "allow_fallbacks": False,
        "require_parameters": True,
        "data_collection": "deny",
        "zdr": True,
        "only": ["anthropic"],
        "ignore": ["deepinfra"],
        "quantizations": ["fp8", "bf16"],
        "sort": "throughput",
        "max_price": {"prompt": 1.0, "completion": 2.5, "request": 0.01, "image": 0.5},
    }
    assert ProviderSpec().body() == {}
    # One name where a list is meant is that list; booleans and quantizations are checked.
    assert ProviderSpec.model_validate({"only": "anthropic"}).body() == {"only": ["anthropic"]}
    for wrong in ({"zdr": "yes"}, {"allow_fallbacks": 1}, {"quantizations": ["int3"]}):
        with pytest.raises(ValidationError):
            ProviderSpec.model_validate(wrong)
    assert ProviderSpec(max_price=MaxPrice()).body() == {}  # an empty cap is no cap
    for wrong in ({"sort": "cheapest"}, {"data_collection": "never"}, {"order": 3}):
        with pytest.raises(ValidationError):
            ProviderSpec.model_validate(wrong)


def test_a_stage_s_routing_wins_field_by_field_and_the_data_policy_cannot_be_loosened() -> None:
    profile_wide = ProviderSpec(data_collection="deny", sort="price", ignore=("x",))
    stage = ProviderSpec(sort="latency", only=("anthropic",))
    assert stage.over(profile_wide).body() == {
        "data_collection": "deny", "sort": "latency", "ignore": ["x"], "only": ["anthropic"],
    }  # fmt: skip
    assert stage.over(None) is stage
    allowing = ProviderSpec(data_collection="allow", zdr=False)
    assert allowing.with_policy("deny", True).body() == {"data_collection": "deny", "zdr": True}
    assert allowing.with_policy("allow", False) is allowing  # a loose setting changes nothing
    assert ProviderSpec(data_collection="deny").with_policy("allow", None).data_collection == "deny"


def test_web_true_is_search_with_the_defaults_and_false_is_none() -> None:
    base = {"models": ["a/b"], "temperature": 0.5, "max_tokens": 100}
    assert StageSpec.model_validate({**base, "web": True}).web == WebSpec()
    assert StageSpec.model_validate({**base, "web": False}).web is None
    narrowed = StageSpec.model_validate({**base, "web": {"allowed_domains": "python.org"}})
    assert narrowed.web is not None and narrowed.web.allowed_domains == ("python.org",)


def test_the_controls_in_words() -> None:
    from hive.consensus.controls import MaxPrice, describe

    lines = describe(
        ReasoningSpec(enabled=True),
        ProviderSpec(data_collection="deny", order=("a", "b"), allow_fallbacks=False,
                     max_price=MaxPrice(prompt=1, completion=5, request=0.01)),
        WebSpec(max_uses=2, engine="exa", search_context_size="high",
                allowed_domains=("python.org",)),
    )  # fmt: skip
    assert lines == [
        "reasoning: on, at the model's default effort",
        "web search: up to 2 searches, exa engine, high search context, only python.org",
        "providers: no data collection; try in order a, b; no fallback providers; "
        "at most $1/M prompt, $5/M completion, $0.01 per request",
    ]


def test_web_search_is_the_documented_server_tool() -> None:
    tool = "openrouter:web_search"
    # max_uses is always sent: the model decides how often to search, so hive caps it.
    assert WebSpec().body() == {"type": tool, "parameters": {"max_uses": 1}}
    assert WebSpec(max_results=3, engine="exa", max_uses=2).body() == {
        "type": tool, "parameters": {"engine": "exa", "max_results": 3, "max_uses": 2},
    }  # fmt: skip
    domains = WebSpec(allowed_domains=("python.org",), search_context_size="high").body()
    assert domains["parameters"] == {
        "max_uses": 1, "search_context_size": "high", "allowed_domains": ["python.org"],
    }  # fmt: skip
    for wrong in ({"max_results": 0}, {"engine": "google"}, {"results": 3}, {"max_uses": 0}):
        with pytest.raises(ValidationError):
            WebSpec.model_validate(wrong)


@pytest.mark.parametrize(
    ("web", "native", "fee"),
    [
        (WebSpec(), None, ENGINE_PRICE["exa"]),  # no native search listed: Exa
        (WebSpec(engine="exa", max_results=3), Decimal("0.01"), Decimal("0.007")),
        (WebSpec(engine="exa", max_results=25), None, Decimal("0.022")),  # 15 beyond the 10
        (WebSpec(engine="exa", max_uses=3), None, Decimal("0.021")),  # each search is paid
        (WebSpec(engine="parallel"), None, Decimal("0.005")),
        (WebSpec(engine="native"), Decimal("0.01"), Decimal("0.01")),
        (WebSpec(engine="native"), None, None),  # no stated price: cannot be bounded
        (WebSpec(), Decimal("0.014"), Decimal("0.014")),  # either may run: the dearer
        (WebSpec(engine="auto"), Decimal("0.005"), Decimal("0.007")),
    ],
)
def test_what_a_search_may_add(web: WebSpec, native: Decimal | None, fee: Decimal | None) -> None:
    assert web.worst_fee(native) == fee


def test_chat_request_sends_the_controls_only_when_set() -> None:
    messages = [{"role": "user", "content": "hi"}]
    bare = ChatRequest("a/b", messages).body()
    assert not {"reasoning", "provider", "tools"} & set(bare)
    full = ChatRequest(
        "a/b", messages, reasoning={"effort": "high"}, provider={"zdr": True},
        tools=[WebSpec().body()],
    ).body()  # fmt: skip
    assert full["reasoning"] == {"effort": "high"}
    assert full["provider"] == {"zdr": True}
    assert full["tools"] == [{"type": "openrouter:web_search", "parameters": {"max_uses": 1}}]


# --- what the controls cost ------------------------------------------------------------------

PRICE = ModelPrice(
    prompt=Decimal("0.000001"),
    completion=Decimal("0.000004"),
    web_search=Decimal("0.01"),
    reasoning=Decimal("0.000006"),
)


def stage(**controls: Any) -> StageSpec:
    return StageSpec(models=("a/b",), temperature=0.2, max_tokens=1000, **controls)


@pytest.mark.parametrize(
    ("spec", "worst", "cost"),
    [
        (None, False, Decimal("0.001") + Decimal("0.004")),
        (stage(), True, Decimal("0.005")),
        # Reasoning on: output priced at the model's reasoning price, as it is dearer.
        (stage(reasoning=ReasoningSpec(effort="high")), False, Decimal("0.007")),
        (stage(reasoning=ReasoningSpec(effort="none")), False, Decimal("0.005")),
        # Web search: the dearer of native (0.01) and Exa (0.007).
        (stage(web=WebSpec()), False, Decimal("0.015")),
        (stage(web=WebSpec(engine="native")), False, Decimal("0.015")),
        # A price cap is the worst a routed provider may charge (per million tokens).
        (stage(provider=ProviderSpec(max_price=MaxPrice(prompt=2, completion=10))), True,
         Decimal("0.002") + Decimal("0.01")),
        (stage(provider=ProviderSpec(max_price=MaxPrice(prompt=2, completion=10))), False,
         Decimal("0.005")),  # the expected cost stays at the listed price
    ],
)  # fmt: skip
def test_a_call_s_cost_with_its_controls(
    spec: StageSpec | None, worst: bool, cost: Decimal
) -> None:
    assert cost_at(PRICE, 1000, 1000, spec, worst=worst) == cost


def test_an_unpriced_native_search_has_no_ceiling() -> None:
    unsearchable = ModelPrice(prompt=Decimal("0.000001"), completion=Decimal("0.000004"))
    assert cost_at(unsearchable, 1000, 1000, stage(web=WebSpec(engine="native"))) is None
    assert cost_at(unsearchable, 1000, 1000, stage(web=WebSpec())) == Decimal("0.012")


def test_the_estimate_counts_web_search_and_reasoning_on_every_call_that_makes_them() -> None:
    base = BUILTIN_PROFILES["balanced"]
    searching = base.effective(web=WebSpec(max_results=3))
    plain_calls = estimate_run("q", base, TODAY, builtin_prices().get, lambda m, s: None).calls
    web_calls = estimate_run("q", searching, TODAY, builtin_prices().get, lambda m, s: None).calls
    assert len(plain_calls) == len(web_calls)
    for before, after in zip(plain_calls, web_calls, strict=True):
        if before.stage != "generate":
            assert after.ceiling == before.ceiling and after.expected == before.expected
            continue
        price = builtin_prices()[before.model]
        fee = WebSpec(max_results=3).worst_fee(price.web_search)
        assert fee is not None and fee > 0
        assert after.expected == before.expected + fee  # type: ignore[operator]
        # The ceiling: the dearest of the call's models, each with its own search fee.
        assert after.ceiling is not None and before.ceiling is not None
        assert after.ceiling > before.ceiling


def test_the_estimate_says_what_search_adds() -> None:
    write_profiles(DEEP)
    text = ok(hive("consensus", "q", "deep", "--estimate")).stdout
    assert "note: includes web search (generate): up to $0.0100 to $0.0140 a call" in text
    data = json.loads(ok(hive("consensus", "q", "deep", "--estimate", "--json")).stdout)
    # Each generator's own native search price (the dearer of it and Exa's $0.007).
    assert [c["search_fee"] for c in data["calls"]] == ["0.01", "0.014", None, None, None]
    assert "search" not in ok(hive("consensus", "q", "balanced", "--estimate")).stdout


# --- through the CLI, read off the request bodies --------------------------------------------

DEEP = """
[deep]
description = "A validator that reasons hard, generators that search, no data kept."

[deep.provider]
data_collection = "deny"
sort = "price"

[deep.generate]
models = ["openai/gpt-5.4-mini", "google/gemini-3-flash-preview"]
temperature = 0.7
max_tokens = 2048
web = { max_results = 3 }

[deep.refine]
models = ["anthropic/claude-sonnet-4.6"]
temperature = 0.4
max_tokens = 4096

[deep.validate]
models = ["minimax/minimax-m3"]
temperature = 0.1
max_tokens = 8192
reasoning = { effort = "high" }

[deep.validate.provider]
only = ["minimax"]
zdr = true

[deep.curate]
models = ["anthropic/claude-haiku-4.5"]
temperature = 0.3
max_tokens = 3072
reasoning = { effort = "none" }
"""


def write_profiles(text: str) -> None:
    path = resolve_paths().profiles_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


DEEP_MODELS = {
    "generate": ("openai/gpt-5.4-mini", "google/gemini-3-flash-preview"),
    "refine": ("anthropic/claude-sonnet-4.6",),
    "validate": ("minimax/minimax-m3",),
    "curate": ("anthropic/claude-haiku-4.5",),
}


def by_stage(
    requests: list[RecordedRequest], models: dict[str, tuple[str, ...]]
) -> dict[str, list[dict[str, Any]]]:
    """Request bodies by stage, told by model (each model serves one stage here)."""
    found: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    for request in requests:
        [name] = [s for s in STAGES if request.body["model"] in models[s]]
        found[name].append(request.body)
    return found


def balanced_models() -> dict[str, tuple[str, ...]]:
    profile = BUILTIN_PROFILES["balanced"]
    return {s: profile.stage(s).models for s in STAGES}


def test_a_profile_s_controls_reach_each_stage_exactly(keyed_env: LoopbackOpenRouter) -> None:
    write_profiles(DEEP)
    ok(hive("consensus", "What changed in Python 3.14?", "deep", "--fixed", "-q"))

    bodies = by_stage(keyed_env.chat_requests(), DEEP_MODELS)
    assert [len(bodies[s]) for s in STAGES] == [2, 1, 1, 1]
    profile_wide = {"data_collection": "deny", "sort": "price"}
    search = {"type": "openrouter:web_search", "parameters": {"max_results": 3, "max_uses": 1}}
    for body in bodies["generate"]:
        assert body["tools"] == [search]
        assert body["provider"] == profile_wide
        assert "reasoning" not in body
    [refine] = bodies["refine"]
    assert refine["provider"] == profile_wide
    assert "tools" not in refine and "reasoning" not in refine
    [validate] = bodies["validate"]
    assert validate["reasoning"] == {"effort": "high"}
    assert validate["provider"] == {**profile_wide, "only": ["minimax"], "zdr": True}
    [curate] = bodies["curate"]
    assert curate["reasoning"] == {"effort": "none"}
    # History keeps the panel as sent: each stage's routing resolved.
    panel = last_run().panel
    assert panel["validate"]["provider"]["only"] == ["minimax"]
    assert panel["refine"]["provider"] == profile_wide


def test_the_data_policy_setting_reaches_every_call(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(hive("config", "set", "data_collection", "deny"))
    monkeypatch.setenv("HIVE_ZDR", "true")
    ok(hive("consensus", "q", "balanced", "--fixed", "-q"))

    requests = keyed_env.chat_requests()
    assert len(requests) == 6
    for request in requests:
        assert request.body["provider"] == {"data_collection": "deny", "zdr": True}
        assert "tools" not in request.body and "reasoning" not in request.body


def test_the_data_policy_is_shown_where_it_applies(keyed_env: LoopbackOpenRouter) -> None:
    write_profiles(DEEP.replace('data_collection = "deny"', 'data_collection = "allow"'))
    assert "no data collection" not in ok(hive("profiles", "show", "deep")).stdout
    assert ok(hive("config", "set", "zdr", "true")).stdout == "zdr = true\n"  # TOML's spelling
    assert ok(hive("config", "get", "zdr")).stdout == "true\n"
    ok(hive("config", "set", "data_collection", "deny"))
    shown = ok(hive("profiles", "show", "deep")).stdout
    assert "your settings, for every call: no data collection; zero data retention only" in shown
    # Each stage's providers line is what its calls send: the settings win over the profile.
    refine = shown.split("\nrefine:")[1].split("\n\n")[0]
    assert "providers: no data collection; zero data retention only; sorted by price" in refine


def test_a_simulated_run_says_what_it_cannot_show() -> None:
    write_profiles(DEEP)
    searching = ok(hive("consensus", "q", "deep", "--simulate", "--plain"))
    assert "hive: note: web search and reasoning are not simulated" in searching.stderr
    plain = ok(hive("consensus", "q", "balanced", "--simulate", "--plain"))
    assert "not simulated" not in plain.stderr
    web = ok(hive("consensus", "q", "balanced", "--simulate", "--plain", "--web"))
    assert "hive: note: web search is not simulated: the replies show none of it." in web.stderr


def test_a_built_in_run_sends_no_controls(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", "q", "balanced", "--fixed", "-q"))
    for request in keyed_env.chat_requests():
        assert not {"reasoning", "provider", "tools"} & set(request.body)


def test_web_turns_search_on_for_the_generators_only(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", "q", "balanced", "--fixed", "--web", "-q"))
    bodies = by_stage(keyed_env.chat_requests(), balanced_models())
    search = {"type": "openrouter:web_search", "parameters": {"max_uses": 1}}
    assert all(b["tools"] == [search] for b in bodies["generate"])
    assert all("tools" not in b for s in STAGES[1:] for b in bodies[s])


def stage_worst(profile: Profile) -> dict[str, Decimal]:
    """Each stage's worst case on the fixed path, as the run's guard reserves it before the
    stage starts (every generator at once)."""
    calls = estimate_run("q", profile, date.today(), builtin_prices().get, lambda m, s: None,
                         adaptive=False).calls  # fmt: skip
    worst: dict[str, Decimal] = {}
    for call in calls:
        assert call.ceiling is not None
        worst[call.stage] = worst.get(call.stage, Decimal(0)) + call.ceiling
    return worst


def test_a_budget_counts_the_search_fees(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A per-run limit every stage fits without search, but the generators' searches do
    not: the run that searches stops before it sends anything."""
    searching_profile = DEEP.replace("[deep", "[web").replace("= 3 }", "= 25, max_uses = 3 }")
    write_profiles(DEEP.replace("web = { max_results = 3 }", "") + searching_profile)
    store = ProfileStore(resolve_paths())
    without = max(stage_worst(store.get("deep")).values())
    searching = stage_worst(store.get("web"))["generate"]
    assert searching > without
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", str((without + searching) / 2))
    ok(hive("consensus", "q", "deep", "--fixed", "-q"))
    sent = len(keyed_env.chat_requests())
    refused = hive("consensus", "q", "web", "--fixed", "-q")
    assert refused.exit_code == 4, refused.stderr
    # Refused on its estimate (the fees are in it), or by the guard before generate.
    assert "nothing was spent" in refused.stderr or "stopped before generate" in refused.stderr
    assert len(keyed_env.chat_requests()) == sent  # nothing more was sent


# --- reasoning that leaves no room, through a run ------------------------------------------


def test_a_reasoning_budget_with_no_room_is_a_warning_of_the_run(
    keyed_env: LoopbackOpenRouter,
) -> None:
    tight = "max_tokens = 2048\nreasoning = { max_tokens = 1900 }"
    write_profiles(DEEP.replace('max_tokens = 8192\nreasoning = { effort = "high" }', tight))
    result = ok(hive("consensus", "q", "deep", "--fixed", "--plain"))
    expected = (
        "validate: reasoning may take 1900 of its 2048 max_tokens, leaving 148 for the answer"
    )
    assert expected in result.stderr
    assert any(expected in w for w in last_run().warnings)
    shown = ok(hive("profiles", "show", "deep"))
    assert expected in shown.stderr
    assert "reasoning: up to 1900 tokens" in shown.stdout


def test_a_model_that_thinks_until_max_tokens_is_told_apart(keyed_env: LoopbackOpenRouter) -> None:
    """The validator reasons, runs out at max_tokens and answers nothing: the run says why
    (and does not retry the same request, which would end the same way)."""
    write_profiles(DEEP)
    thought = (
        b'data: {"id":"gen-9","model":"minimax/minimax-m3","choices":[{"index":0,"delta":'
        b'{"content":"","reasoning":"Let me think..."},"finish_reason":null}]}\n\n'
    )
    usage = '"prompt_tokens":50,"completion_tokens":8192,"cost":0.0099,' \
        '"completion_tokens_details":{"reasoning_tokens":8192}'  # fmt: skip
    events = [thought, chunk("minimax/minimax-m3", "", "length", usage), b"data: [DONE]\n\n"]
    keyed_env.fail("minimax/minimax-m3", Fault(events=events))
    result = hive("consensus", "q", "deep", "--fixed", "--plain")
    assert "it spent 8192 of its 8192 max_tokens reasoning and ran out before answering" in (
        result.stderr
    )
    validators = [r for r in keyed_env.chat_requests() if r.body["model"] == "minimax/minimax-m3"]
    assert len(validators) == 1


# --- web search results: usage and cited pages ------------------------------------------------


def test_the_web_search_capture_over_a_socket_through_the_real_client() -> None:
    """The real 2026 capture, replayed by the loopback server to the real client, asked with
    the search tool on: the search is counted, the cost is the server's, nothing is cited."""
    import asyncio

    from hive.openrouter.client import OpenRouterClient, make_http_client
    from tests.conftest import FAKE_KEY

    raw = fixture_path("stream_chat_web_search_2026.txt").read_bytes()
    events = [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]
    model = "openai/gpt-4.1-mini"
    request = ChatRequest(model, [{"role": "user", "content": "hive on GitHub?"}],
                          tools=[WebSpec(max_uses=1).body()])  # fmt: skip

    async def go() -> list[Any]:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            return [item async for item in OpenRouterClient(http).stream_chat(request)]

    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        server.fail(model, Fault(events=events))
        items = asyncio.run(go())
        [sent] = server.chat_requests()
    completion = items[-1]
    assert sent.body["tools"] == [{"type": "openrouter:web_search", "parameters": {"max_uses": 1}}]
    assert completion.text == "https://github.com/pydantic/pydantic-ai "
    assert completion.web_searches == 1 and completion.cost == Decimal("0.0133176")
    assert completion.provider == "OpenAI" and completion.sources == ()


def test_the_web_search_capture_reports_its_search() -> None:
    decoder = SSEDecoder()
    raw = fixture_path("stream_chat_web_search_2026.txt").read_bytes()
    reducer = ChunkReducer()
    for event in decoder.feed(raw) + decoder.close():
        if isinstance(event, Event):
            reducer.feed(event.data)
    completion = reducer.finish()
    assert completion.web_searches == 1
    assert completion.cost == Decimal("0.0133176")
    assert completion.sources == ()  # the capture cites nothing in annotations
    assert completion.generation_id == "gen-1786465029-CAkqUciXgQW34RmFaTck"


def cited(model: str, *pages: tuple[str, str | None]) -> bytes:
    """A chunk carrying ``url_citation`` annotations on its delta, as OpenRouter's web search
    attaches them."""
    notes = [
        {"type": "url_citation",
         "url_citation": {"url": url, **({"title": title} if title else {}),
                          "content": "…", "start_index": 0, "end_index": 5}}
        for url, title in pages
    ]  # fmt: skip
    body = {"id": "gen-7", "model": model,
            "choices": [{"index": 0, "delta": {"content": "", "annotations": notes},
                         "finish_reason": None}]}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n".encode()


def test_annotations_become_sources() -> None:
    reducer = ChunkReducer()
    for line in (
        chunk("a/b", "Python 3.14 ships free-threading.")[6:-2],
        cited("a/b", ("https://docs.python.org/3.14/whatsnew", "What's New"))[6:-2],
        # The same page again, another kind of note, a malformed one: each url once.
        cited("a/b", ("https://docs.python.org/3.14/whatsnew", "Again"), ("https://x.org", None))[
            6:-2
        ],
        b'{"choices":[{"index":0,"delta":{"annotations":[{"type":"file"},7,'
        b'{"type":"url_citation","url_citation":{"title":"no url"}}]}}]}',
        chunk("a/b", "", "stop", '"prompt_tokens":1,"completion_tokens":1')[6:-2],
    ):
        reducer.feed(line.decode())
    completion = reducer.finish()
    assert completion.sources == (
        Source("https://docs.python.org/3.14/whatsnew", "What's New"),
        Source("https://x.org", None),
    )
    assert completion.web_searches is None  # not reported is unknown, not 0


WHATS_NEW = "https://docs.python.org/3.14/whatsnew/3.14.html"
PEP = "https://peps.python.org/pep-0779/"
SEARCH_USAGE = (
    '"prompt_tokens":900,"completion_tokens":9,"cost":0.0241,'
    '"server_tool_use_details":{"web_search_requests":1}'
)


def searched(body: dict[str, Any]) -> list[bytes] | None:
    model = body["model"]
    if not body.get("tools"):
        return None
    return [
        chunk(model, "Free-threading is no longer experimental. "),
        cited(
            model, (WHATS_NEW, "What's New In 3.14"), ("https://peps.python.org/pep-0779/", None)
        ),
        chunk(model, "", "stop", SEARCH_USAGE),
        b"data: [DONE]\n\n",
    ]


def test_cited_pages_are_shown_under_the_answer_kept_and_listed(
    keyed_env: LoopbackOpenRouter,
) -> None:
    for model in BUILTIN_PROFILES["balanced"].generate.models:
        keyed_env.fail(model, *[Fault(reply=searched)] * 4)
    plain = ok(hive("consensus", "What is new in 3.14?", "balanced", "--fixed", "--web", "--plain"))
    assert "hive: sources (2 web pages cited):" in plain.stderr
    assert (
        "hive:   1. What's New In 3.14 — https://docs.python.org/3.14/whatsnew/3.14.html"
        in plain.stderr
    )
    assert "hive:   2. https://peps.python.org/pep-0779/" in plain.stderr
    assert "pep-0779" not in plain.stdout  # stdout is the answer alone

    as_json = json.loads(ok(hive("consensus", "again", "balanced", "--fixed", "--web",
                                 "--json")).stdout)  # fmt: skip
    assert as_json["sources"] == [
        {"url": "https://docs.python.org/3.14/whatsnew/3.14.html", "title": "What's New In 3.14"},
        {"url": "https://peps.python.org/pep-0779/", "title": None},
    ]
    generators = [c for c in as_json["stages"] if c["stage"] == "generate"]
    assert all(c["web_searches"] == 1 for c in generators)
    assert all(c["generation_id"] == "gen-1" for c in generators)

    detailed = ok(hive("consensus", "once more", "balanced", "--fixed", "--web", "--plain",
                       "--detailed"))  # fmt: skip
    titles = [line for line in detailed.stdout.splitlines() if line.startswith("## generate")]
    assert len(titles) == 3 and all("· 1 web search ·" in t for t in titles)

    run = last_run()
    shown = ok(hive("history", "show", str(run.id)))
    assert "sources (2 web pages cited):" in shown.stdout
    assert "1 web search" in shown.stdout
    assert "generation gen-1" in shown.stdout


def test_no_log_keeps_no_cited_pages(keyed_env: LoopbackOpenRouter) -> None:
    for model in BUILTIN_PROFILES["balanced"].generate.models:
        keyed_env.fail(model, *[Fault(reply=searched)] * 3)
    ok(hive("consensus", "private", "balanced", "--fixed", "--web", "--no-log", "-q"))
    run = last_run()
    assert all(call.sources == () for call in run.calls)
    # The searches themselves are counted: they are billed.
    assert [c.web_searches for c in run.calls if c.stage == "generate"] == [1, 1, 1]


# --- profiles round-trip ----------------------------------------------------------------------


def test_a_profile_with_controls_survives_export_and_import(
    keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    write_profiles(DEEP)
    exported = ok(hive("profiles", "export", "deep")).stdout
    assert "[deep.validate.reasoning]" in exported or "reasoning = " in exported
    assert "null" not in exported  # unset controls are absent, never written as nothing
    shown = json.loads(ok(hive("profiles", "show", "deep", "--json")).stdout)
    assert shown["provider"] == {"data_collection": "deny", "sort": "price"}
    assert shown["stages"]["generate"]["web"] == {"max_results": 3, "max_uses": 1}
    assert "reasoning" not in shown["stages"]["refine"]
    text = ok(hive("profiles", "show", "deep")).stdout
    assert "web search: up to 1 search, 3 results each" in text
    assert (
        "providers: no data collection; zero data retention only; only minimax; sorted by price"
        in text
    )
    copy = tmp_path / "deep.toml"
    copy.write_text(exported.replace("[deep", "[deep2"), encoding="utf-8")
    ok(hive("profiles", "import", str(copy)))
    again = Profile.model_validate(
        {**json.loads(ok(hive("profiles", "show", "deep2", "--json")).stdout)["stages"],
         "name": "deep2", "provider": shown["provider"]}
    )  # fmt: skip
    assert again.stage("validate").reasoning == ReasoningSpec(effort="high")
