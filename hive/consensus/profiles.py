"""Profiles: which model runs each stage, how hot, and how long it may write.

Built-ins only for now. Every model id must exist in OpenRouter's catalog (tests check them
against a real snapshot); user profiles arrive with local state.
"""

from __future__ import annotations

from dataclasses import dataclass

from hive.errors import UsageError

STAGES = ("generate", "refine", "validate", "curate")


@dataclass(frozen=True, slots=True)
class StageSpec:
    models: tuple[str, ...]  # several only for generate: they run concurrently
    temperature: float
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    generate: StageSpec
    refine: StageSpec
    validate: StageSpec
    curate: StageSpec

    def stage(self, name: str) -> StageSpec:
        spec: StageSpec = getattr(self, name)
        return spec

    def models(self) -> list[str]:
        """Every model the profile uses, in stage order, without repeats."""
        seen: dict[str, None] = {}
        for stage in STAGES:
            seen.update(dict.fromkeys(self.stage(stage).models))
        return list(seen)


def _spec(models: str | tuple[str, ...], temperature: float, max_tokens: int) -> StageSpec:
    return StageSpec(models if isinstance(models, tuple) else (models,), temperature, max_tokens)


BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "balanced",
            "Three mid-priced drafts, a strong refiner, an independent checker.",
            _spec(
                (
                    "openai/gpt-5.4-mini",
                    "google/gemini-3-flash-preview",
                    "deepseek/deepseek-v4-flash",
                ),
                0.7,
                2048,
            ),
            _spec("anthropic/claude-sonnet-4.6", 0.4, 3072),
            _spec("deepseek/deepseek-v4-pro", 0.1, 1536),
            _spec("anthropic/claude-haiku-4.5", 0.3, 3072),
        ),
        Profile(
            "speed",
            "One fast draft and small, quick models for every later stage.",
            _spec("google/gemini-3.1-flash-lite", 0.7, 1024),
            _spec("openai/gpt-4.1-mini", 0.4, 1536),
            _spec("mistralai/mistral-small-2603", 0.1, 768),
            _spec("google/gemini-2.5-flash-lite", 0.3, 1536),
        ),
        Profile(
            "quality",
            "Three frontier drafts, the strongest refiner, a separate frontier checker.",
            _spec(
                ("anthropic/claude-opus-4.8", "openai/gpt-5.5", "google/gemini-3.1-pro-preview"),
                0.7,
                4096,
            ),
            _spec("anthropic/claude-opus-5", 0.4, 6144),
            _spec("openai/gpt-5.4", 0.1, 2048),
            _spec("anthropic/claude-sonnet-5", 0.3, 6144),
        ),
        Profile(
            "cost",
            "Cheapest capable models: fractions of a cent per run.",
            _spec(("deepseek/deepseek-v4-flash", "qwen/qwen3.7-flash"), 0.7, 2048),
            _spec("qwen/qwen3.7-plus", 0.4, 3072),
            _spec("mistralai/mistral-small-3.2-24b-instruct", 0.1, 1536),
            _spec("deepseek/deepseek-v4-pro", 0.3, 3072),
        ),
        Profile(
            "free",
            "Only :free models: no cost, but rate-limited by OpenRouter.",
            _spec(
                (
                    "nvidia/nemotron-3-super-120b-a12b:free",
                    "google/gemma-4-31b-it:free",
                    "openai/gpt-oss-20b:free",
                ),
                0.7,
                2048,
            ),
            _spec("z-ai/glm-5.2:free", 0.4, 3072),
            _spec("nvidia/nemotron-3-ultra-550b-a55b:free", 0.1, 1536),
            _spec("google/gemma-4-26b-a4b-it:free", 0.3, 3072),
        ),
    )
}

DEFAULT_PROFILE = "balanced"


def get_profile(name: str) -> Profile:
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        valid = ", ".join(BUILTIN_PROFILES)
        raise UsageError(f"unknown profile {name!r}; choose one of: {valid}") from None
