"""Consensus you can see: the refiner's claim ledger, the agreement measured from it, the
disputes reaching the validator and the curator, and every output form showing who held what.

The loopback server scripts the drafts and a refiner that reads the drafts it was shown (under
their shuffled labels) and writes its ledger about them, as a real model would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES
from tests.conftest import stream
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter

BALANCED = BUILTIN_PROFILES["balanced"]
GENERATORS = list(BALANCED.generate.models)
REFINER = BALANCED.refine.models[0]
VALIDATOR = BALANCED.stage("validate").models[0]
CURATOR = BALANCED.curate.models[0]
DRAFT = re.compile(r'<draft id="(\w+)">\n(.*?)\n</draft>', re.S)

Ledger = Callable[[dict[str, str]], dict[str, Any] | None]  # label -> draft text => ledger


def drafts_shown(body: dict[str, Any]) -> dict[str, str]:
    """label -> draft text, as the refiner's prompt presents them."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return dict(DRAFT.findall(user))


def refiner(ledger: Ledger, answer: str = "The merged answer.") -> Fault:
    def reply(body: dict[str, Any]) -> list[bytes]:
        written = ledger(drafts_shown(body))
        block = "" if written is None else f"\n\n<ledger>{json.dumps(written)}</ledger>"
        return stream(REFINER, answer + block)

    return Fault(reply=reply)


def script(server: LoopbackOpenRouter, texts: list[str], ledger: Ledger | Fault) -> None:
    for model, text in zip(GENERATORS, texts, strict=True):
        server.fail(model, Fault(events=stream(model, text)))
    server.fail(REFINER, ledger if isinstance(ledger, Fault) else refiner(ledger))


def labels_with(drafts: dict[str, str], word: str) -> list[str]:
    return sorted(x for x, text in drafts.items() if word in text)


AGREE = ["Rust has no GC. Async is built in. Safe by default."] * 3
SPLIT = [
    "Rust has no GC. Async is built in. (draft one)",
    "Rust has no GC. Async is built in. (draft two)",
    "Rust has no GC. Async needs a crate. (draft three)",
]


def agreeing(drafts: dict[str, str]) -> dict[str, Any]:
    every = sorted(drafts)
    return {
        "claims": [
            {"claim": c, "supported_by": every, "contradicted_by": []}
            for c in ("no GC", "async built in", "safe by default")
        ],
        "disputes": [],
        "unique": [],
        "gaps": [],
    }


def split(drafts: dict[str, str]) -> dict[str, Any]:
    built_in, crate = labels_with(drafts, "built in"), labels_with(drafts, "needs a crate")
    return {
        "claims": [
            {"claim": "no GC", "supported_by": sorted(drafts), "contradicted_by": []},
            {"claim": "memory safe", "supported_by": sorted(drafts), "contradicted_by": []},
        ],
        "disputes": [
            {
                "claim": "Is async built in?",
                "positions": [
                    {"position": "built in", "drafts": built_in},
                    {"position": "needs a crate", "drafts": crate},
                ],
                "resolution": "syntax is built in, the executor is a crate",
                "resolved": True,
            }
        ],
        "unique": [{"point": "draft three's caveat", "draft": crate[0], "kept": False}],
        "gaps": ["Windows support"],
    }


def model_of(text_marker: str) -> str:
    return next(m for m, t in zip(GENERATORS, SPLIT, strict=True) if text_marker in t)


def run_json(*extra: str) -> dict[str, Any]:
    """A balanced run with its full panel of three (``--fixed``): these tests script three
    drafts; what the adaptive rules do with fewer is tests/test_adaptive_pipeline.py's."""
    result = hive("consensus", "What is Rust?", "balanced", "--json", "--fixed", *extra)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def requests_to(server: LoopbackOpenRouter, model: str) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests() if r.body["model"] == model]


def user_prompt(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


# --- agreement, measured ------------------------------------------------------------------------


def test_drafts_that_agree_measure_full_agreement(keyed_env: LoopbackOpenRouter) -> None:
    script(keyed_env, AGREE, agreeing)

    out = run_json()

    assert out["consensus"]["agreement"] == 1.0
    assert sorted(m["model"] for m in out["consensus"]["panel"]) == sorted(GENERATORS)
    assert out["consensus"]["disputes"] == []
    assert all(sorted(c["supported_by"]) == sorted(GENERATORS)
               for c in out["consensus"]["claims"])  # fmt: skip


def test_a_two_one_split_names_the_minority_and_reaches_validator_and_curator(
    keyed_env: LoopbackOpenRouter,
) -> None:
    script(keyed_env, SPLIT, split)

    out = run_json()

    consensus = out["consensus"]
    assert consensus["agreement"] == 0.89  # (1 + 1 + 2/3) / 3
    [dispute] = consensus["disputes"]
    by_position = {p["position"]: sorted(p["models"]) for p in dispute["positions"]}
    # De-anonymised: whatever labels the shuffle gave them, the models behind the drafts.
    assert by_position == {
        "built in": sorted([model_of("draft one"), model_of("draft two")]),
        "needs a crate": [model_of("draft three")],
    }
    assert consensus["unique"] == [
        {"point": "draft three's caveat", "model": model_of("draft three"), "kept": False}
    ]
    assert consensus["gaps"] == ["Windows support"]
    # The panel recorded is the order the refiner really saw.
    [refine] = requests_to(keyed_env, REFINER)
    shown = drafts_shown(refine)
    for member in consensus["panel"]:
        assert shown[member["label"]] == SPLIT[GENERATORS.index(member["model"])]
    # The dispute reaches the validator's and the curator's prompts, anonymously.
    for model in (VALIDATOR, CURATOR):
        [body] = requests_to(keyed_env, model)
        prompt = user_prompt(body)
        assert "<disputed>" in prompt and "Is async built in?" in prompt
        assert '"needs a crate" (held by 1 draft)' in prompt
        assert not any(g in prompt for g in GENERATORS)
    # The ledger itself never reaches the final answer.
    assert "<ledger>" not in out["answer"]


def test_drafts_that_all_differ_measure_low_agreement(keyed_env: LoopbackOpenRouter) -> None:
    texts = ["Only A says this.", "Only B says that.", "Only C says something else."]

    def each_alone(drafts: dict[str, str]) -> dict[str, Any]:
        return {"claims": [{"claim": t, "supported_by": [x], "contradicted_by": []}
                           for x, t in drafts.items()]}  # fmt: skip

    script(keyed_env, texts, each_alone)

    assert run_json()["consensus"]["agreement"] == 0.33


@pytest.mark.parametrize(
    ("synthesis", "why"),
    [
        ("The merged answer.", "no ledger"),
        ("The merged answer.\n\n<ledger>{not json at all</ledger>", "not valid JSON"),
        ('The merged answer.\n\n<ledger>{"claims": [{"claim": "x", "supp', "cut off"),
    ],
    ids=["missing", "malformed", "cut-off"],
)
def test_no_readable_ledger_means_agreement_null_with_a_warning(
    keyed_env: LoopbackOpenRouter, synthesis: str, why: str
) -> None:
    script(keyed_env, SPLIT, Fault(events=stream(REFINER, synthesis)))

    out = run_json()

    assert out["consensus"]["agreement"] is None
    [warning] = [w for w in out["warnings"] if w.startswith("agreement is unknown")]
    assert why in warning, warning
    refine = next(s for s in out["stages"] if s["stage"] == "refine")
    assert refine["content"] == synthesis  # history keeps what the refiner really wrote
    validate_prompt = user_prompt(requests_to(keyed_env, VALIDATOR)[0])
    assert "<ledger" not in validate_prompt  # the answer reviewed is the answer alone


def test_one_generator_has_no_agreement_to_measure(keyed_env: LoopbackOpenRouter) -> None:
    result = hive("consensus", "What is Rust?", "speed", "--json")

    out = json.loads(result.stdout)
    assert out["consensus"]["agreement"] is None
    assert any("one draft" in w for w in out["warnings"])


def test_the_shuffled_order_varies_across_runs(keyed_env: LoopbackOpenRouter) -> None:
    orders = set()
    for _ in range(8):  # 3 drafts: the chance all 8 orders match is about 4 in a million
        script(keyed_env, SPLIT, split)
        out = run_json()
        orders.add(tuple(m["model"] for m in out["consensus"]["panel"]))
    assert len(orders) > 1


# --- every output form shows it -----------------------------------------------------------------


def test_plain_output_keeps_stdout_the_answer_and_shows_agreement_on_stderr(
    keyed_env: LoopbackOpenRouter,
) -> None:
    script(keyed_env, SPLIT, split)

    result = hive("consensus", "What is Rust?", "balanced", "--plain", "--fixed")

    assert result.exit_code == 0, result.stderr
    assert "Agreement" not in result.stdout and "<ledger>" not in result.stdout
    err = result.stderr
    assert "hive: Agreement: 0.89 across 3 drafts" in err
    assert "hive: Disputed:" in err
    assert f"'needs a crate': {model_of('draft three')} (minority)" in err
    assert "No draft covered: Windows support" in err

    shown = hive("history", "show", "1")
    assert "── agreement" in shown.stdout and "Agreement: 0.89" in shown.stdout
    stored = json.loads(hive("history", "show", "1", "--json").stdout)
    assert stored["consensus"]["agreement"] == 0.89


# --- bias controls in a run ---------------------------------------------------------------------


def test_one_model_asked_twice_is_asked_with_two_seeds(keyed_env: LoopbackOpenRouter) -> None:
    model = BUILTIN_PROFILES["speed"].generate.models[0]
    made = hive("profiles", "create", "twice", "--from", "speed",
                "--generate", model, "--generate", model)  # fmt: skip
    assert made.exit_code == 0, made.stderr

    result = hive("consensus", "What is Rust?", "twice", "--json")

    assert result.exit_code == 0, result.stderr
    seeds = [r.body.get("seed") for r in keyed_env.chat_requests() if r.body["model"] == model]
    assert len(seeds) == 2 and None not in seeds and seeds[0] != seeds[1]
    others = [r.body for r in keyed_env.chat_requests() if r.body["model"] != model]
    assert all("seed" not in body for body in others)  # only the repeated model needs one


def test_a_validator_judging_its_own_family_is_warned_about_in_the_run(
    keyed_env: LoopbackOpenRouter,
) -> None:
    made = hive("profiles", "create", "kin", "--from", "balanced",
                "--validate", "openai/gpt-5.4")  # fmt: skip
    assert made.exit_code == 0, made.stderr

    out = json.loads(hive("consensus", "What is Rust?", "kin", "--json").stdout)

    assert any("openai/gpt-5.4" in w and "same author" in w for w in out["warnings"])


def test_a_server_side_fallback_is_credited_with_its_draft(keyed_env: LoopbackOpenRouter) -> None:
    """OpenRouter may answer with a model of the request's ``models`` list: the draft is that
    model's, and the ledger must name it, not the model hive asked for."""
    fallback = BALANCED.generate.fallbacks[0]
    texts = list(SPLIT)
    keyed_env.fail(GENERATORS[2], Fault(events=stream(fallback, texts[2])))  # answered by it
    for model, text in zip(GENERATORS[:2], texts[:2], strict=True):
        keyed_env.fail(model, Fault(events=stream(model, text)))
    keyed_env.fail(REFINER, refiner(split))

    out = run_json()

    [dispute] = out["consensus"]["disputes"]
    minority = min(dispute["positions"], key=lambda p: len(p["models"]))
    assert minority["models"] == [fallback]
    assert fallback in [m["model"] for m in out["consensus"]["panel"]]


def test_a_draft_on_both_sides_of_a_dispute_counts_for_neither(
    keyed_env: LoopbackOpenRouter,
) -> None:
    def confused(drafts: dict[str, str]) -> dict[str, Any]:
        every = sorted(drafts)
        return {"disputes": [{"claim": "x?", "resolution": "", "resolved": None,
                              "positions": [{"position": "yes", "drafts": every},
                                            {"position": "no", "drafts": every[:1]}]}]}  # fmt: skip

    script(keyed_env, SPLIT, confused)

    out = run_json()

    assert out["consensus"]["agreement"] == 0.67  # two of three drafts, not all three
    assert any("more than one side" in p for p in out["consensus"]["problems"])
