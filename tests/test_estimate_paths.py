"""The estimate of an adaptive run: every call it may make, each saying when, and the cheapest
and the fullest path; a budget checked on the calls every run may need."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from hive.cli.app import app
from hive.consensus.estimate import estimate_run
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.openrouter.catalog import ModelPrice
from tests.loopback import LoopbackOpenRouter

runner = CliRunner()
TODAY = date(2026, 11, 28)
PRICE = ModelPrice(Decimal("0.000001"), Decimal("0.000002"))


def hive(*args: str) -> Any:
    return runner.invoke(app, list(args))


def plan(profile: str, **options: Any) -> list[tuple[str, str, bool, bool]]:
    estimate = estimate_run(
        "What is Rust?", BUILTIN_PROFILES[profile], TODAY, lambda m: PRICE, lambda m, s: None,
        **options,
    )  # fmt: skip
    return [(c.stage, c.when, c.optional, c.skippable) for c in estimate.calls]


@pytest.mark.parametrize(
    ("profile", "options", "expected"),
    [
        (
            "balanced", {},
            [
                ("generate", "", False, False),
                ("generate", "", False, False),
                ("refine", "", False, False),
                ("generate", "if the first 2 drafts disagree", True, False),
                ("refine", "if the first 2 drafts disagree", True, False),
                ("validate", "", False, False),
                ("curate", "unless the review finds nothing to fix", False, True),
            ],
        ),
        (
            "balanced", {"adaptive": False},  # --fixed: today's one path
            [("generate", "", False, False)] * 3
            + [(s, "", False, False) for s in ("refine", "validate", "curate")],
        ),
        (
            "quality", {"rounds": 3},
            [("generate", "", False, False)] * 3
            + [("refine", "", False, False), ("validate", "", False, False)]
            + [
                (stage, f"round {n}, if confidence stays below 0.8", True, False)
                for n in (2, 3) for stage in ("refine", "validate")
            ]
            + [("curate", "", False, False)],
        ),
        (
            "speed", {},
            [(s, "", False, False) for s in ("generate", "refine", "validate")]
            + [("curate", "unless the review finds nothing to fix", False, True)],
        ),
    ],
)  # fmt: skip
def test_each_call_says_when_it_is_made(
    profile: str, options: dict[str, Any], expected: list[tuple[str, str, bool, bool]]
) -> None:
    assert plan(profile, **options) == expected


def test_the_paths_add_up_and_a_revision_prompt_carries_the_previous_round() -> None:
    estimate = estimate_run(
        "What is Rust?", BUILTIN_PROFILES["quality"], TODAY, lambda m: PRICE, lambda m, s: None
    )
    cheapest, fullest = estimate.path("cheapest"), estimate.path("fullest")
    assert len(cheapest) == 6 and len(fullest) == 8
    assert estimate.expected_on("cheapest").known < estimate.expected_on("fullest").known
    assert estimate.expected_on("fullest") == estimate.expected
    first, second = [c for c in estimate.calls if c.stage == "refine"]
    # The revision sees the drafts again plus the previous answer and the review.
    assert second.prompt_tokens > first.prompt_tokens + first.completion_tokens


def test_estimate_json_lists_the_paths(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "balanced", "--estimate", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    paths = data["paths"]
    assert [paths[p]["calls"] for p in ("cheapest", "required", "fullest")] == [4, 5, 7]
    assert paths["fullest"]["expected_cost"] == data["expected_cost"]
    assert paths["fullest"]["max_cost"] == data["max_cost"]
    cheap, full = Decimal(paths["cheapest"]["expected_cost"]), Decimal(data["expected_cost"])
    assert 0 < cheap < full
    whens = [c["when"] for c in data["calls"]]
    assert whens.count("if the first 2 drafts disagree") == 2
    assert data["calls"][-1]["skippable"] is True and data["calls"][3]["optional"] is True

    text = hive("consensus", "What is Rust?", "balanced", "--estimate").stdout.splitlines()
    assert text[0].split() == ["stage", "model", "prompt", "output", "expected", "at", "most",
                               "when"]  # fmt: skip
    assert text[-2].startswith("cheapest path") and text[-2].endswith("4 calls")
    assert text[-1].startswith("fullest path") and text[-1].endswith("7 calls")
    assert keyed_env.chat_requests() == []


def test_a_limit_between_the_paths_lets_the_run_start(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limit the fullest path could break but every run's calls fit: the run is not refused
    (the optional steps are checked mid-run); one below those calls is."""
    data = json.loads(hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout)
    required = Decimal(data["paths"]["required"]["expected_cost"])
    fullest = Decimal(data["paths"]["fullest"]["expected_cost"])
    limit = (required + fullest) / 2
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", format(limit, "f"))

    result = hive("consensus", "What is Rust?", "balanced", "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total_cost"] <= limit
    text = hive("consensus", "What is Rust?", "balanced", "--estimate").stdout
    assert "budget: checked on the calls every run may make" in text

    # The run's own outputs now set the expected lengths: estimate afresh, then go below it.
    again = json.loads(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout
    )
    required = Decimal(again["paths"]["required"]["expected_cost"])
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", format(required / 2, "f"))
    refused = hive("consensus", "What is Rust?", "balanced")
    assert refused.exit_code == 4
    assert "refused: this run is estimated at" in refused.stderr
