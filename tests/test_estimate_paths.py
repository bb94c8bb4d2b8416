"""The estimate of an adaptive run: every call it may make, each saying when, and the cheapest
and the fullest path; a budget checked on the calls every run may need."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from hive.consensus.budget import Budgets
from hive.consensus.estimate import RunEstimate, estimate_run
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.errors import BudgetError
from hive.money import dollars
from hive.openrouter.catalog import ModelPrice
from tests.helpers import hive
from tests.loopback import LoopbackOpenRouter

TODAY = date(2026, 11, 28)
PRICE = ModelPrice(Decimal("0.000001"), Decimal("0.000002"))


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
                (stage, f"round {n}, if confidence stays below 0.8 or a dispute stays open",
                 True, False)
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
    assert Decimal(json.loads(result.stdout)["total_cost"]) <= limit
    text = hive("consensus", "What is Rust?", "balanced", "--estimate").stdout
    assert "budget: checked before the run on the calls every run may make" in text
    assert "budget: the fullest path could cross it" in text  # what the run may leave out

    # The run's own outputs now set the expected lengths: estimate afresh, then go below it.
    again = json.loads(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout
    )
    required = Decimal(again["paths"]["required"]["expected_cost"])
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", format(required / 2, "f"))
    refused = hive("consensus", "What is Rust?", "balanced")
    assert refused.exit_code == 4
    assert "refused: this run is estimated at" in refused.stderr


def per_run(limit: Decimal | None) -> Budgets:
    return Budgets(limit, None, None, Decimal(0), Decimal(0))


def speed_estimate(price_of: Any = lambda m: PRICE) -> RunEstimate:
    """``speed`` may skip its curation: its cheapest path is one call short of ``required``."""
    return estimate_run(
        "What is Rust?", BUILTIN_PROFILES["speed"], TODAY, price_of, lambda m, s: None
    )


@pytest.mark.parametrize(
    ("where", "refused", "required_may_cross", "fullest_may_cross"),
    [
        ("below the cheapest path", True, True, True),
        # The curation a clean review skips still counts: a run whose review is not clean
        # would otherwise stop at the limit after paying for everything else.
        ("between the cheapest and the required path", True, True, True),
        ("above the required path's expected cost", False, True, True),
        ("above the fullest path's ceiling", False, False, False),
    ],
)
def test_the_check_refuses_only_what_every_run_may_need(
    where: str, refused: bool, required_may_cross: bool, fullest_may_cross: bool
) -> None:
    estimate = speed_estimate()
    cheapest, required = (estimate.expected_on(p).known for p in ("cheapest", "required"))
    assert cheapest < required < estimate.ceiling_on("required").known
    limit = {
        "below the cheapest path": cheapest / 2,
        "between the cheapest and the required path": (cheapest + required) / 2,
        "above the required path's expected cost": required * Decimal("1.01"),
        "above the fullest path's ceiling": estimate.ceiling.known,
    }[where]
    budgets = per_run(limit)

    assert (budgets.refusal(estimate) is not None) == refused
    assert budgets.may_cross(estimate, "required") == required_may_cross
    assert budgets.may_cross(estimate, "fullest") == fullest_may_cross
    if refused:
        with pytest.raises(BudgetError, match="refused: this run is estimated at"):
            budgets.check(estimate)
    else:
        budgets.check(estimate)
    assert per_run(None).refusal(estimate) is None  # no limit, nothing to refuse


def test_an_unpriced_model_only_on_an_optional_call_is_not_refused() -> None:
    """Unknown cost on an escalation is shown as unknown on the fullest path, never $0; the
    run is not refused for it (mid-run an unbounded step is never affordable, so it is left
    out), but the same model on the first panel is refused."""
    profile = BUILTIN_PROFILES["balanced"]
    last = profile.generate.models[-1]
    estimate = estimate_run(
        "What is Rust?", profile, TODAY, lambda m: None if m == last else PRICE,
        lambda m, s: None,
    )  # fmt: skip
    assert estimate.expected_on("cheapest").complete and estimate.ceiling_on("required").complete
    assert estimate.ceiling_on("fullest").unknown == 1
    assert estimate.expected_on("fullest").unknown == 1  # its own model: expected unknown too
    budgets = per_run(Decimal(100))
    budgets.check(estimate)
    assert budgets.may_cross(estimate, "fullest") and not budgets.may_cross(estimate, "required")

    first = profile.generate.models[0]
    refused = estimate_run(
        "What is Rust?", profile, TODAY, lambda m: None if m == first else PRICE,
        lambda m, s: None,
    )  # fmt: skip
    with pytest.raises(BudgetError, match=f"the cost of {first} cannot be bounded"):
        budgets.check(refused)


def estimate_text(*args: str) -> list[str]:
    result = hive("consensus", "What is Rust?", *args, "--estimate")
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_the_estimate_says_what_a_limit_does_to_the_run(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout)
    assert data["budget"] is None  # no limit set
    assert not [line for line in estimate_text("balanced") if line.startswith("budget:")]
    required = Decimal(data["paths"]["required"]["expected_cost"])

    # Far above every path: the estimate says even the fullest path fits.
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", "100")
    notes = [line for line in estimate_text("balanced") if line.startswith("budget:")]
    assert notes == [
        f"budget: checked before the run on the calls every run may make ({dollars(required)} "
        f"expected), within max_cost_per_run ({dollars(Decimal(100))})",
        "budget: even the fullest path fits at its most",
    ]

    # Below the calls every run makes: the estimate says a real run is refused, in the words
    # of the refusal itself, and the real run is.
    monkeypatch.setenv("HIVE_MAX_COST_PER_RUN", format(required / 2, "f"))
    lines = estimate_text("balanced")
    refused = json.loads(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json").stdout
    )["budget"]
    assert refused["refused"].startswith("this run is estimated at")
    assert refused["checked_on"] == "required" and refused["fullest_may_cross"] is True
    assert f"budget: a real run would be refused: {refused['refused']}" in "\n".join(lines)
    run = hive("consensus", "What is Rust?", "balanced")
    assert run.exit_code == 4 and refused["refused"] in run.stderr
    assert keyed_env.chat_requests() == []


def test_fixed_has_one_path_and_no_when_column(keyed_env: LoopbackOpenRouter) -> None:
    lines = estimate_text("balanced", "--fixed")
    assert lines[0].split()[-2:] == ["at", "most"]  # no "when": every call is made
    assert lines[-1].startswith("total") and not any("path" in line for line in lines)
    data = json.loads(
        hive("consensus", "What is Rust?", "balanced", "--estimate", "--json", "--fixed").stdout
    )
    paths = data["paths"]
    assert paths["cheapest"] == paths["required"] == paths["fullest"]
    assert paths["fullest"]["calls"] == 6 and not any(c["optional"] for c in data["calls"])


def test_a_run_is_not_refused_for_an_unpriced_escalation_and_never_asks_it(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.loads(keyed_env.models_body)
    body["data"].append({"id": "openrouter/auto", "name": "auto", "context_length": 100000,
                         "pricing": {"prompt": "-1", "completion": "-1"}})  # fmt: skip
    keyed_env.models_body = json.dumps(body).encode()
    first, second = BUILTIN_PROFILES["balanced"].generate.models[:2]
    made = hive("profiles", "create", "wide", "--from", "balanced", "--generate", first,
                "--generate", second, "--generate", "openrouter/auto",
                "--adaptive", "first_panel=2")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    monkeypatch.setenv("HIVE_DAILY_BUDGET", "5")

    lines = estimate_text("wide")
    fullest = next(line for line in lines if line.startswith("fullest path"))
    assert "$0 " not in fullest and "+?" not in fullest and "unknown cost" in fullest
    assert any(line.startswith("budget: the fullest path could cross it") for line in lines)

    result = hive("consensus", "What is Rust?", "wide", "--json")

    assert result.exit_code == 0, result.stderr
    asked = [r.body["model"] for r in keyed_env.chat_requests()]
    assert "openrouter/auto" not in asked and first in asked and second in asked
