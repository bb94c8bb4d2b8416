"""Parsing the small option syntaxes several commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hive.consensus.profiles import STAGES
from hive.errors import UsageError

T = TypeVar("T")


def stage_pairs(
    values: list[str] | None, convert: Callable[[str], T], what: str
) -> dict[str, list[T]]:
    """``["refine=0.2", "curate=0.1"]`` → ``{"refine": [0.2], "curate": [0.1]}`` (repeats add)."""
    out: dict[str, list[T]] = {}
    for item in values or []:
        stage, sep, raw = item.partition("=")
        stage = stage.strip()
        if not sep or stage not in STAGES:
            raise UsageError(
                f"{what} must look like STAGE=VALUE with STAGE one of {', '.join(STAGES)}"
            )
        try:
            out.setdefault(stage, []).append(convert(raw.strip()))
        except ValueError:
            raise UsageError(f"{what}: {raw!r} is not a valid value for {stage}") from None
    return out


def panel_changes(
    *,
    generate: Sequence[str] | None,
    refine: str | None,
    validate: str | None,
    curate: str | None,
    temperature: Sequence[str] | None,
    max_tokens: Sequence[str] | None,
) -> dict[str, Any]:
    """What ``--generate``, ``--refine``, ``--validate``, ``--curate``, ``--temperature`` and
    ``--max-tokens`` ask of a profile, as ``derive_profile``'s ``models``, ``temperatures``
    and ``max_tokens`` (each empty when not asked; a repeated STAGE=VALUE: the last wins)."""
    single = {"refine": refine, "validate": validate, "curate": curate}
    models = {stage: [model] for stage, model in single.items() if model}
    if generate:
        models["generate"] = list(generate)
    temperatures = stage_pairs(list(temperature or []), float, "--temperature")
    limits = stage_pairs(list(max_tokens or []), int, "--max-tokens")
    return {
        "models": models,
        "temperatures": {stage: values[-1] for stage, values in temperatures.items()},
        "max_tokens": {stage: values[-1] for stage, values in limits.items()},
    }
