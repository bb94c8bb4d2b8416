"""Profiles: which model runs each stage, how hot, and how long it may write.

One pydantic model validates built-in and user profiles alike (user ones live in
hive/store/user_profiles.py). Every built-in model id, fallbacks included, exists in OpenRouter's
catalog: tests check them against a real snapshot. No built-in validator (fallbacks included)
shares a model or an author with its profile's generators or refiner: judges favour their own
answers and their own family's (hive/consensus/bias.py warns about user profiles that do).

A generator may be listed more than once: sampling one strong model several times is a strong
baseline, and each such call is sent with its own seed so the drafts differ.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hive.consensus.controls import ProviderSpec, ReasoningSpec, WebSpec, answer_room_warning

STAGES = ("generate", "refine", "validate", "curate")
MAX_GENERATORS = 8
MAX_ROUNDS = 5  # refine -> validate rounds a run may take at most
MAX_FALLBACKS = 3  # OpenRouter's `models` routing takes a short list
# author/slug[:variant], with the `~` prefix OpenRouter uses for alias ids.
MODEL_ID = re.compile(
    r"^~?[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9._-]+)?$"
)
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def check_model_id(model: str) -> str:
    if not MODEL_ID.fullmatch(model):
        raise ValueError(f"{model!r} is not a model id of the form author/slug[:variant]")
    return model


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid profile name: use 1-40 lowercase letters, digits, - or _, "
            "starting with a letter or digit"
        )
    return name


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[str, ...] = Field(min_length=1, max_length=MAX_GENERATORS)
    fallbacks: tuple[str, ...] = Field(default=(), max_length=MAX_FALLBACKS)
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(gt=0, le=1_000_000)
    # OpenRouter's controls (``controls.py``), sent as documented; None: not sent.
    reasoning: ReasoningSpec | None = None
    provider: ProviderSpec | None = None  # laid over the profile's own ``provider``
    web: WebSpec | None = None

    @field_validator("web", mode="before")
    @classmethod
    def _web_switch(cls, value: object) -> object:
        """``web = true`` is web search with OpenRouter's defaults; ``web = false``, none."""
        if value is True:
            return {}
        return None if value is False else value

    @field_validator("models", "fallbacks")
    @classmethod
    def _ids(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        for model in models:
            check_model_id(model)
        return models


class AdaptiveSpec(BaseModel):
    """How a run spends effort where the question needs it (``hive/consensus/adaptive.py``
    decides; the README explains each rule). The defaults change nothing a run would do on a
    one-generator profile: every rule needs a panel, a verdict or ``rounds`` above 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Stragglers: once `quorum` drafts are in, a generator still writing at `straggler_factor`
    # times the median time the finished ones took (and never before `straggler_floor`
    # seconds) is cut, and the run goes on without it.
    quorum: int = Field(default=2, ge=1, le=MAX_GENERATORS)
    straggler_factor: float = Field(default=2.0, ge=1, le=100)
    straggler_floor: float = Field(default=10.0, ge=0, le=3600)
    # Escalation: ask only the first `first_panel` generators (0: all of them at once), and
    # the rest only when those drafts agree less than `escalate_below`.
    first_panel: int = Field(default=0, ge=0, le=MAX_GENERATORS)
    escalate_below: float = Field(default=0.75, ge=0, le=1)
    # Skip curation when the validator lists no issues at `skip_confidence` or more.
    skip_curate: bool = False
    skip_confidence: float = Field(default=0.9, ge=0, le=1)
    # Up to `rounds` refine -> validate rounds: another while the validator's confidence is
    # below `round_below` (or the panel disagreed and a dispute was left unresolved).
    rounds: int = Field(default=1, ge=1, le=MAX_ROUNDS)
    round_below: float = Field(default=0.8, ge=0, le=1)


class Profile(BaseModel):
    # `validate` is a BaseModel method, so that stage's field is stored as `validate_`.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    description: str = ""
    # The user's standing instructions, sent first to every stage (``context.py``), e.g.
    # "answer in German"; a run's --system replaces them.
    system: str = ""
    generate: StageSpec
    refine: StageSpec
    validate_: StageSpec = Field(alias="validate")
    curate: StageSpec
    adaptive: AdaptiveSpec = AdaptiveSpec()
    # Provider routing for every stage; a stage's own ``provider`` fields win over these.
    provider: ProviderSpec | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_profile_name(name)

    @model_validator(mode="after")
    def _one_model_after_generate(self) -> Profile:
        for stage in STAGES[1:]:
            if len(self.stage(stage).models) != 1:
                raise ValueError(f"{stage} takes exactly one model (only generate takes several)")
        return self

    def stage(self, name: str) -> StageSpec:
        spec: StageSpec = getattr(self, "validate_" if name == "validate" else name)
        return spec

    def routing(self, name: str) -> ProviderSpec | None:
        """The provider preferences a stage's calls send: its own over the profile's."""
        own = self.stage(name).provider
        return own.over(self.provider) if own is not None else self.provider

    def effective(
        self,
        *,
        data_collection: str | None = None,
        zdr: bool | None = None,
        web: WebSpec | None = None,
    ) -> Profile:
        """The profile as a run sends it: each stage's provider preferences resolved (its own
        over the profile's, then the global data policy, stricter wins), and ``web`` (``--web``)
        turned on for the generators unless they already search."""
        stages: dict[str, StageSpec] = {}
        for name in STAGES:
            spec, routing = self.stage(name), self.routing(name)
            if routing is not None or data_collection == "deny" or zdr:
                routing = (routing or ProviderSpec()).with_policy(data_collection, zdr)
            update: dict[str, object] = {"provider": routing}
            if name == "generate" and web is not None and spec.web is None:
                update["web"] = web
            stages["validate_" if name == "validate" else name] = spec.model_copy(update=update)
        return self.model_copy(update={**stages, "provider": None})

    def reasoning_warnings(self) -> list[str]:
        """Stages whose reasoning budget may leave too little of max_tokens for an answer."""
        found = (answer_room_warning(s, self.stage(s).reasoning, self.stage(s).max_tokens)
                 for s in STAGES)  # fmt: skip
        return [warning for warning in found if warning is not None]

    def models(self) -> list[str]:
        """Every model the profile asks first, in stage order, without repeats."""
        seen: dict[str, None] = {}
        for stage in STAGES:
            seen.update(dict.fromkeys(self.stage(stage).models))
        return list(seen)

    def all_models(self) -> list[str]:
        """``models()`` and then every fallback, without repeats."""
        seen = dict.fromkeys(self.models())
        for stage in STAGES:
            seen.update(dict.fromkeys(self.stage(stage).fallbacks))
        return list(seen)


def _spec(
    models: str | tuple[str, ...], temperature: float, max_tokens: int, *fallbacks: str
) -> StageSpec:
    return StageSpec(
        models=models if isinstance(models, tuple) else (models,),
        fallbacks=fallbacks,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def _profile(
    name: str, description: str, *stages: StageSpec, **adaptive: int | float | bool
) -> Profile:
    return Profile.model_validate(
        {
            "name": name,
            "description": description,
            **dict(zip(STAGES, stages, strict=True)),
            "adaptive": adaptive,
        }
    )


# Adaptive rules (AdaptiveSpec): `quality` always curates and may take a second round; the
# others skip a curation that would add nothing, and the three-generator ones ask two first.
# The refine stage's max_tokens leave room for its claim ledger before the answer (about a
# thousand tokens for a dozen claims and a few disputes).
BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        _profile(
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
                "openai/gpt-4.1-mini",
            ),
            _spec(
                "anthropic/claude-sonnet-4.6",
                0.4,
                4096,
                "openai/gpt-5.4",
                "google/gemini-3.1-pro-preview",
            ),
            _spec("minimax/minimax-m3", 0.1, 1536, "qwen/qwen3.7-plus"),
            _spec("anthropic/claude-haiku-4.5", 0.3, 3072, "openai/gpt-5.4-mini"),
            first_panel=2,
            skip_curate=True,
        ),
        _profile(
            "speed",
            "One fast draft and small, quick models for every later stage.",
            _spec("google/gemini-3.1-flash-lite", 0.7, 1024, "openai/gpt-4.1-nano"),
            _spec("openai/gpt-4.1-mini", 0.4, 2048, "google/gemini-2.5-flash"),
            _spec("mistralai/mistral-small-2603", 0.1, 768, "meta-llama/llama-4-maverick"),
            _spec("google/gemini-2.5-flash-lite", 0.3, 1536, "openai/gpt-4.1-mini"),
            skip_curate=True,
        ),
        _profile(
            "quality",
            "Three frontier drafts, the strongest refiner, a frontier checker from another lab.",
            _spec(
                ("anthropic/claude-opus-4.8", "openai/gpt-5.5", "google/gemini-3.1-pro-preview"),
                0.7,
                4096,
                "anthropic/claude-sonnet-5",
            ),
            _spec("anthropic/claude-opus-5", 0.4, 8192, "openai/gpt-5.5"),
            _spec("deepseek/deepseek-v4-pro-0813", 0.1, 2048, "minimax/minimax-m3"),
            _spec("anthropic/claude-sonnet-5", 0.3, 6144, "anthropic/claude-opus-4.8"),
            rounds=2,
        ),
        _profile(
            "cost",
            "Cheapest capable models: fractions of a cent per run.",
            _spec(
                ("deepseek/deepseek-v4-flash", "qwen/qwen3.7-flash"),
                0.7,
                2048,
                "meta-llama/llama-4-maverick",
            ),
            _spec("qwen/qwen3.7-plus", 0.4, 4096, "deepseek/deepseek-v4-pro"),
            _spec(
                "mistralai/mistral-small-3.2-24b-instruct",
                0.1,
                1536,
                "google/gemini-2.5-flash-lite",
            ),
            _spec("deepseek/deepseek-v4-pro", 0.3, 3072, "qwen/qwen3.7-plus"),
            skip_curate=True,
        ),
        _profile(
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
                "z-ai/glm-5.2:free",
            ),
            _spec("z-ai/glm-5.2:free", 0.4, 4096, "nvidia/nemotron-3-super-120b-a12b:free"),
            _spec("dots-studio/dots-3-note-preview:free", 0.1, 1536, "poolside/laguna-s-2.1:free"),
            _spec("google/gemma-4-26b-a4b-it:free", 0.3, 3072, "google/gemma-4-31b-it:free"),
            first_panel=2,
        ),
    )
}
