"""Bias controls for profiles (issue 9): a validator that judges its own answers or its own
family's is named, the built-in profiles avoid both, a profile may repeat a generator, and a
request can carry OpenRouter's ``seed`` so repeated calls of one model differ.

``judge_warnings`` is checked as a table; the CLI through Typer's CliRunner on a fresh
HIVE_HOME; the seed through the real client over a real socket to the loopback server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hive.consensus.bias import author, base_model, judge_warnings
from hive.consensus.profiles import BUILTIN_PROFILES, Profile
from hive.openrouter.chat import ChatRequest
from hive.openrouter.client import OpenRouterClient, make_http_client
from tests.conftest import FAKE_KEY
from tests.helpers import hive, ok
from tests.loopback import LoopbackOpenRouter

OWN = "judges tend to favour their own answers; choose a validator that neither drafts nor refines"
FAMILY = "judges tend to favour their own family's answers; choose a validator from another author"


def warnings(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("hive: warning: ")]


def profile(
    generate: tuple[str, ...],
    refine: str,
    validate: str,
    *validate_fallbacks: str,
    curate: str = "anthropic/claude-haiku-4.5",
    fallbacks: tuple[str, ...] = (),
) -> Profile:
    """A profile with these models; ``fallbacks`` go to generate and refine alike."""

    def spec(models: tuple[str, ...], extra: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"models": models, "fallbacks": extra, "temperature": 0.5, "max_tokens": 100}

    return Profile.model_validate(
        {
            "name": "probe",
            "generate": spec(generate, fallbacks),
            "refine": spec((refine,), fallbacks),
            "validate": spec((validate,), validate_fallbacks),
            "curate": spec((curate,)),
        }
    )


# --- judge_warnings --------------------------------------------------------------------------


def test_ids_reduce_to_model_and_author() -> None:
    assert base_model("openai/gpt-oss-20b:free") == "openai/gpt-oss-20b"
    assert base_model("~Anthropic/Claude-Opus-Latest") == "anthropic/claude-opus-latest"
    assert author("meta-llama/llama-4-maverick:nitro") == "meta-llama"


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        pytest.param(
            (
                ("openai/gpt-5.4-mini", "google/gemini-3-flash-preview"),
                "qwen/qwen3.7-plus",
                "x-ai/grok-4.6",
            ),
            [],
            id="independent",
        ),
        pytest.param(
            (("openai/gpt-5.4-mini", "x-ai/grok-4.6"), "qwen/qwen3.7-plus", "x-ai/grok-4.6"),
            [f"validator x-ai/grok-4.6 is the same model as generator x-ai/grok-4.6: {OWN}"],
            id="validator-is-a-generator",
        ),
        pytest.param(
            (("openai/gpt-oss-20b",), "qwen/qwen3.7-plus", "openai/gpt-oss-20b:free"),
            [
                "validator openai/gpt-oss-20b:free is the same model as generator "
                f"openai/gpt-oss-20b: {OWN}"
            ],
            id="free-variant-is-the-same-model",
        ),
        pytest.param(
            (("openai/gpt-5.4-mini",), "z-ai/glm-5.2:nitro", "Z-AI/GLM-5.2"),
            [f"validator Z-AI/GLM-5.2 is the same model as refiner z-ai/glm-5.2:nitro: {OWN}"],
            id="nitro-variant-and-case-are-the-same-model",
        ),
        pytest.param(
            (
                ("deepseek/deepseek-v4-flash", "openai/gpt-5.4-mini"),
                "qwen/qwen3.7-plus",
                "deepseek/deepseek-v4-pro",
            ),
            [
                "validator deepseek/deepseek-v4-pro is from the same author (deepseek) as "
                f"generator deepseek/deepseek-v4-flash: {FAMILY}"
            ],
            id="same-author-as-a-generator",
        ),
        pytest.param(
            (
                ("google/gemini-3-flash-preview",),
                "anthropic/claude-opus-5",
                "~anthropic/claude-sonnet-latest",
            ),
            [
                "validator ~anthropic/claude-sonnet-latest is from the same author (anthropic) "
                f"as refiner anthropic/claude-opus-5: {FAMILY}"
            ],
            id="alias-id-same-author-as-the-refiner",
        ),
        pytest.param(
            (
                ("openai/gpt-5.5", "openai/gpt-5.4", "openai/gpt-5.4"),
                "openai/gpt-5.4",
                "openai/gpt-5.4:nitro",
            ),
            [
                "validator openai/gpt-5.4:nitro is the same model as generator openai/gpt-5.4 "
                f"and refiner openai/gpt-5.4: {OWN}",
                "validator openai/gpt-5.4:nitro is from the same author (openai) as generator "
                f"openai/gpt-5.5: {FAMILY}",
            ],
            id="same-model-and-same-author-repeats-named-once",
        ),
        pytest.param(
            (("openai/gpt-5.4-mini",), "qwen/qwen3.7-plus", "openai-community/gpt-x"),
            [],
            id="an-author-prefix-is-not-the-author",
        ),
    ],
)
def test_judge_warnings(models: tuple[Any, ...], expected: list[str]) -> None:
    generate, refine, validate = models
    assert judge_warnings(profile(generate, refine, validate)) == expected


def test_the_validators_fallbacks_are_judges_too() -> None:
    probe = profile(
        ("openai/gpt-oss-20b:free", "google/gemma-4-31b-it:free"),
        "z-ai/glm-5.2:free",
        "x-ai/grok-4.6",
        "openai/gpt-oss-20b:free",
        "google/gemma-4-26b-a4b-it:free",
    )
    assert judge_warnings(probe) == [
        "validate fallback openai/gpt-oss-20b:free is the same model as generator "
        f"openai/gpt-oss-20b:free: {OWN}",
        "validate fallback google/gemma-4-26b-a4b-it:free is from the same author (google) as "
        f"generator google/gemma-4-31b-it:free: {FAMILY}",
    ]


def test_the_curator_and_the_writers_fallbacks_are_not_judges() -> None:
    # The curator edits rather than grades; a generator's or the refiner's fallback writes only
    # when its model fails: neither is a reason to warn.
    probe = profile(
        ("openai/gpt-5.4-mini",),
        "anthropic/claude-sonnet-4.6",
        "x-ai/grok-4.6",
        curate="x-ai/grok-4.6",
        fallbacks=("x-ai/grok-4.5",),
    )
    assert judge_warnings(probe) == []


def test_every_warning_is_one_line_naming_both_models_and_why() -> None:
    probe = profile(("openai/gpt-5.4-mini",), "openai/gpt-5.4", "openai/gpt-5.4", "openai/gpt-5.5")
    lines = judge_warnings(probe)
    assert len(lines) == 3  # same model as the refiner; two of the family, one per judge
    for line in lines:
        assert "\n" not in line and line.count("openai/") >= 2
        assert line.endswith((OWN, FAMILY))


# --- the built-in profiles ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILTIN_PROFILES))
def test_builtin_profiles_have_independent_validators(name: str) -> None:
    builtin = BUILTIN_PROFILES[name]
    assert judge_warnings(builtin) == []
    # Stricter than the warning: not even the writers' fallbacks share the validator's family.
    validate = builtin.validate_
    writers = [
        *builtin.generate.models,
        *builtin.generate.fallbacks,
        *builtin.refine.models,
        *builtin.refine.fallbacks,
    ]
    for judge in (*validate.models, *validate.fallbacks):
        assert author(judge) not in {author(m) for m in writers}, (name, judge)


def test_builtin_profiles_show_no_bias_warning() -> None:
    for name in BUILTIN_PROFILES:
        assert warnings(ok(hive("profiles", "show", name))) == [], name


# --- the CLI ----------------------------------------------------------------------------------


def test_profiles_show_create_and_edit_warn_about_a_judge_of_its_own_family() -> None:
    # balanced drafts with openai/gpt-5.4-mini; openai/gpt-5.4 would judge its family's draft.
    expected = [
        "hive: warning: validator openai/gpt-5.4 is from the same author (openai) as generator "
        f"openai/gpt-5.4-mini: {FAMILY}"
    ]
    created = ok(hive("profiles", "create", "team", "--validate", "openai/gpt-5.4"))
    assert created.stdout == "created profile 'team'\n"
    assert warnings(created) == expected

    shown = ok(hive("profiles", "show", "team"))
    assert warnings(shown) == expected
    assert "validate: " in shown.stdout and "hive: warning" not in shown.stdout
    as_json = ok(hive("profiles", "show", "team", "--json"))
    assert warnings(as_json) == expected
    assert json.loads(as_json.stdout)["stages"]["validate"]["models"] == ["openai/gpt-5.4"]

    # Drafting with the validator itself: the same-model warning, on edit too.
    edited = ok(hive("profiles", "edit", "team", "--generate", "openai/gpt-5.4"))
    assert warnings(edited) == [
        "hive: warning: validator openai/gpt-5.4 is the same model as generator openai/gpt-5.4: "
        f"{OWN}"
    ]

    fixed = ok(hive("profiles", "edit", "team", "--validate", "minimax/minimax-m3"))
    assert warnings(fixed) == []
    assert warnings(ok(hive("profiles", "show", "team"))) == []


def test_a_profile_may_repeat_one_generator() -> None:
    model = "google/gemini-3-flash-preview"  # not the speed profile's validator's family

    created = ok(
        hive("profiles", "create", "x", "--from", "speed", "--generate", model, "--generate", model)
    )

    assert warnings(created) == []
    shown = json.loads(ok(hive("profiles", "show", "x", "--json")).stdout)
    assert shown["stages"]["generate"]["models"] == [model, model]
    ok(hive("profiles", "edit", "x", "--generate", model, "--generate", model, "--generate", model))
    shown = json.loads(ok(hive("profiles", "show", "x", "--json")).stdout)
    assert shown["stages"]["generate"]["models"] == [model, model, model]


# --- the seed on the wire ---------------------------------------------------------------------


def _send(server: LoopbackOpenRouter, request: ChatRequest) -> dict[str, Any]:
    """One streamed call through the real client; the body the server received."""

    async def go() -> None:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            async for _ in OpenRouterClient(http).stream_chat(request):
                pass

    asyncio.run(go())
    body: dict[str, Any] = server.chat_requests()[-1].body
    return body


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1])
def test_a_seed_is_sent_as_openrouters_integer_seed(
    openrouter: LoopbackOpenRouter, seed: int
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = _send(openrouter, ChatRequest("openai/gpt-4.1-mini", messages, seed=seed))
    assert body["seed"] == seed and type(body["seed"]) is int


def test_no_seed_is_sent_when_none_is_set(openrouter: LoopbackOpenRouter) -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = _send(openrouter, ChatRequest("openai/gpt-4.1-mini", messages, temperature=0.7))
    assert "seed" not in body
