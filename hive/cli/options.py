"""Parsing the small option syntaxes several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
