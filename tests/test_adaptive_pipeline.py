"""Adaptive consensus over real sockets: the loopback server plays scripted models (their
latencies, drafts, ledgers and verdicts) and the real pipeline and client decide what to do.

Each test checks what the server was asked (which models, how often) and what the run
returned and recorded: the decision, its reason, and what a cut straggler cost. No timing is
asserted: a straggler here never finishes on its own (it stalls mid-answer), so a run that
waited for it could not end well within the stream timeout."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from hive.consensus.budget import SpendLimit
from hive.consensus.caller import Caller
from hive.consensus.events import ConsensusResult, Decided, PipelineEvent
from hive.consensus.pipeline import Pipeline
from hive.consensus.profiles import BUILTIN_PROFILES, AdaptiveSpec, Profile, StageSpec
from hive.openrouter.catalog import ModelPrice, builtin_prices
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from hive.store.paths import resolve_paths
from hive.store.user_profiles import ProfileStore
from tests.conftest import FAKE_KEY, chunk, last_run, stream, without_ledger
from tests.helpers import hive
from tests.loopback import Fault, LoopbackOpenRouter, Scripted

TODAY = date(2026, 11, 28)
QUESTION = "Is async built into Rust?"
BALANCED = BUILTIN_PROFILES["balanced"]
QUALITY = BUILTIN_PROFILES["quality"]
GENERATORS = BALANCED.generate.models
REFINER = BALANCED.refine.models[0]
VALIDATOR = BALANCED.stage("validate").models[0]
CURATOR = BALANCED.curate.models[0]
DRAFT = re.compile(r'<draft id="(\w+)">\n(.*?)\n</draft>', re.S)


# --- scripted models ------------------------------------------------------------------------


def said(model: str, text: str) -> Fault:
    return Fault(events=stream(model, text))


def drafts_shown(body: dict[str, Any]) -> dict[str, str]:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return dict(DRAFT.findall(user))


def agreeing(drafts: dict[str, str]) -> dict[str, Any]:
    every = sorted(drafts)
    claims = [{"claim": c, "supported_by": every, "contradicted_by": []} for c in ("a", "b")]
    return {"claims": claims, "disputes": [], "unique": [], "gaps": []}


def split(drafts: dict[str, str]) -> dict[str, Any]:
    """Every draft alone on the contested point: agreement 1/N on it, and it stays open."""
    labels = sorted(drafts)
    return {
        "claims": [
            {
                "claim": "async is built in",
                "supported_by": labels[:1],
                "contradicted_by": labels[1:],
            }
        ],
        "disputes": [
            {
                "claim": "Is async built in?",
                "positions": [{"position": f"view {x}", "drafts": [x]} for x in labels],
                "resolution": "the evidence does not settle it",
                "resolved": False,
            }
        ],
        "unique": [],
        "gaps": [],
    }


def refiner(
    ledger: Callable[[dict[str, str]], dict[str, Any]], model: str = REFINER
) -> Callable[[dict[str, Any]], list[bytes]]:
    def reply(body: dict[str, Any]) -> list[bytes]:
        written = json.dumps(ledger(drafts_shown(body)))  # first, as the prompt asks
        return stream(model, f"<ledger>{written}</ledger>\n\nThe refined answer.")

    return reply


def verdict(model: str, confidence: float, *issues: str) -> Fault:
    block = json.dumps({"confidence": confidence, "issues": list(issues)})
    return said(model, f"Reviewed.\n\n<verdict>{block}</verdict>")


def asked(server: LoopbackOpenRouter, model: str) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests() if r.body.get("model") == model]


def kinds(result: ConsensusResult) -> list[str]:
    return [d.kind for d in result.decisions]


def with_rules(profile: Profile, **rules: Any) -> Profile:
    return profile.model_copy(update={"adaptive": profile.adaptive.model_copy(update=rules)})


def run(
    server: LoopbackOpenRouter,
    profile: Profile,
    *,
    events: list[PipelineEvent] | None = None,
    rounds: int | None = None,
    limit: SpendLimit | None = None,
    price_of: Callable[[str], ModelPrice | None] | None = None,
    adaptive_rules: bool = True,
) -> ConsensusResult:
    seen: list[PipelineEvent] = [] if events is None else events

    async def go() -> ConsensusResult:
        async with make_http_client(
            api_key=FAKE_KEY, base_url=server.base_url, timeout=10.0
        ) as http:
            caller = Caller(
                OpenRouterClient(http), seen.append, limit=limit,
                price_of=price_of or builtin_prices().get,
                policy=RetryPolicy(max_attempts=1), rng=random.Random(0),
            )  # fmt: skip
            pipeline = Pipeline(caller, today=TODAY, seed=7, adaptive_rules=adaptive_rules)
            return await pipeline.run(QUESTION, profile, simulated=False, rounds=rounds)

    return asyncio.run(go())


@pytest.fixture
def server() -> Any:
    with LoopbackOpenRouter(api_key=FAKE_KEY) as loopback:
        yield loopback


# --- stragglers ----------------------------------------------------------------------------


def test_a_straggler_is_cut_and_what_it_streamed_is_recorded_and_priced(
    server: LoopbackOpenRouter,
) -> None:
    """Two generators answer at once; the third streams a few words and then stalls, as a
    model 20x slower would. Once the quorum of two is in and the deadline (twice their median
    time, floor 0.05 s) passes, it is cut: the run goes on with two drafts."""
    profile = with_rules(BALANCED, first_panel=0, straggler_floor=0.05)
    server.fail(GENERATORS[0], said(GENERATORS[0], "Yes: async/await is in the language."))
    server.fail(GENERATORS[1], said(GENERATORS[1], "Yes, the syntax; runtimes are crates."))
    partial = [chunk(GENERATORS[2], w) for w in ("Async ", "in ", "Rust ")]
    server.fail(GENERATORS[2], Fault(events=partial, stall=True))
    server.fail(REFINER, Fault(reply=refiner(agreeing)))
    events: list[PipelineEvent] = []

    result = run(server, profile, events=events)

    assert kinds(result)[0] == "straggler_cut"
    cut = result.decisions[0]
    assert [(g["index"], g["model"]) for g in cut.data["generators"]] == [(2, GENERATORS[2])]
    assert cut.data["drafts"] == 2
    assert f"left out generator 3 ({GENERATORS[2]}), " in cut.message
    assert Decided(cut) in events
    straggler = next(c for c in result.calls if c.stage == "generate" and c.index == 2)
    assert straggler.error == f"cut: {cut.message}"
    assert straggler.content == "Async in Rust "  # what streamed before the cut is kept ...
    assert straggler.accepted and straggler.billable
    assert straggler.cost is not None and straggler.cost_estimated  # ... and priced as billed
    assert result.cost.known >= straggler.cost
    assert not result.degraded  # a decision, not a failure
    assert result.consensus is not None and len(result.consensus.panel) == 2
    assert len(drafts_shown(asked(server, REFINER)[0])) == 2
    assert result.answer  # the run ended with an answer, without the straggler


def test_one_generator_is_never_cut(server: LoopbackOpenRouter) -> None:
    speed = with_rules(BUILTIN_PROFILES["speed"], straggler_floor=0.0)

    result = run(server, speed)

    assert "straggler_cut" not in kinds(result)
    assert [c.stage for c in result.calls if c.ok][:1] == ["generate"]


def test_the_fixed_pipeline_waits_for_every_generator(server: LoopbackOpenRouter) -> None:
    profile = with_rules(BALANCED, first_panel=0, straggler_floor=0.0)
    server.fail(GENERATORS[2], Fault(delay=0.3))  # slower than the others: waited for

    result = run(server, profile, adaptive_rules=False)

    assert result.decisions == []
    assert len([c for c in result.calls if c.stage == "generate" and c.ok]) == 3


# --- escalation ----------------------------------------------------------------------------


def test_agreeing_first_drafts_ask_no_one_else(server: LoopbackOpenRouter) -> None:
    server.fail(REFINER, Fault(reply=refiner(agreeing)))

    result = run(server, BALANCED)

    assert asked(server, GENERATORS[2]) == []
    assert len(asked(server, REFINER)) == 1
    assert kinds(result)[0] == "panel_kept"
    assert result.decisions[0].message == (
        "the first 2 drafts agreed 1.00 (at least 0.75): 1 more generator not asked"
    )
    assert result.consensus is not None and result.consensus.agreement == 1.0


def test_disagreeing_first_drafts_escalate_to_the_full_panel(server: LoopbackOpenRouter) -> None:
    server.fail(REFINER, Fault(reply=refiner(split)), Fault(reply=refiner(agreeing)))

    result = run(server, BALANCED)

    assert kinds(result)[0] == "escalated"
    assert "agreed 0.50, below 0.75: asking 1 more generator" in result.decisions[0].message
    assert len(asked(server, GENERATORS[2])) == 1
    first, second = asked(server, REFINER)
    assert len(drafts_shown(first)) == 2 and len(drafts_shown(second)) == 3
    refines = [c for c in result.calls if c.stage == "refine"]
    assert [c.index for c in refines] == [0, 1]
    # The result reports the full panel's consensus, measured on the second refine.
    assert result.consensus is not None and len(result.consensus.panel) == 3
    assert result.consensus.agreement == 1.0


def test_a_first_panel_that_lost_a_draft_escalates_before_refining(
    server: LoopbackOpenRouter,
) -> None:
    alone = BALANCED.model_copy(
        update={"generate": BALANCED.generate.model_copy(update={"fallbacks": ()})}
    )
    server.fail(GENERATORS[1], Fault(status=404))
    server.fail(REFINER, Fault(reply=refiner(agreeing)))

    result = run(server, alone)

    assert kinds(result)[0] == "escalated"
    assert "the first panel gave 1 draft" in result.decisions[0].message
    assert len(asked(server, REFINER)) == 1  # one refine, over the two drafts there are
    assert len(drafts_shown(asked(server, REFINER)[0])) == 2
    assert result.degraded  # a generator failed: that is still said


# --- skipping curation ---------------------------------------------------------------------


def test_a_clean_confident_verdict_skips_curation_where_the_profile_allows(
    server: LoopbackOpenRouter,
) -> None:
    server.fail(REFINER, Fault(reply=refiner(agreeing)))
    server.fail(VALIDATOR, verdict(VALIDATOR, 0.95))

    result = run(server, BALANCED)

    assert asked(server, CURATOR) == []
    assert kinds(result) == ["panel_kept", "curate_skipped"]
    assert result.answer == "The refined answer."
    assert "the validator found no issues at confidence 0.95" in result.decisions[1].message
    assert not result.degraded


def test_a_verdict_with_an_issue_is_curated(server: LoopbackOpenRouter) -> None:
    server.fail(REFINER, Fault(reply=refiner(agreeing)))
    server.fail(VALIDATOR, verdict(VALIDATOR, 0.95, "the date is wrong"))

    result = run(server, BALANCED)

    assert len(asked(server, CURATOR)) == 1
    assert "curate_skipped" not in kinds(result)


def test_quality_always_curates(server: LoopbackOpenRouter) -> None:
    validator = QUALITY.stage("validate").models[0]
    server.fail(validator, verdict(validator, 0.99))

    result = run(server, QUALITY)

    assert len(asked(server, QUALITY.curate.models[0])) == 1
    assert "curate_skipped" not in kinds(result)


# --- rounds --------------------------------------------------------------------------------

Q_REFINER = QUALITY.refine.models[0]
Q_VALIDATOR = QUALITY.stage("validate").models[0]


def test_a_low_confidence_verdict_takes_another_round_up_to_the_cap(
    server: LoopbackOpenRouter,
) -> None:
    server.fail(Q_VALIDATOR, verdict(Q_VALIDATOR, 0.5, "misses tokio"),
                verdict(Q_VALIDATOR, 0.6, "still vague"))  # fmt: skip

    result = run(server, QUALITY)  # quality: rounds = 2

    assert kinds(result) == ["round_started", "rounds_stopped"]
    assert result.decisions[0].message == "round 2 of 2: confidence 0.50 is below 0.80"
    assert result.decisions[1].data["reason"] == "cap"
    assert result.rounds == 2
    first, second = asked(server, Q_REFINER)
    revision = second["messages"][1]["content"]
    assert "<previous_answer>" in revision and "misses tokio" in revision
    assert drafts_shown(second) == drafts_shown(first)  # same drafts, same labels
    assert "revision round" in second["messages"][0]["content"]
    assert [c.index for c in result.calls if c.stage == "validate"] == [0, 1]
    assert result.confidence == 0.6  # the last round's verdict


def test_rounds_stop_at_the_threshold(server: LoopbackOpenRouter) -> None:
    server.fail(Q_VALIDATOR, verdict(Q_VALIDATOR, 0.5, "misses tokio"),
                verdict(Q_VALIDATOR, 0.9))  # fmt: skip

    result = run(server, QUALITY, rounds=4)

    assert kinds(result) == ["round_started", "rounds_stopped"]
    assert result.decisions[1].data["reason"] == "threshold"
    assert len(asked(server, Q_REFINER)) == 2


def test_a_round_is_not_started_when_its_worst_case_could_cross_the_budget(
    server: LoopbackOpenRouter,
) -> None:
    """Every call costs at most ~$0.01 here (10,000 output tokens at $1/M): two generators fit
    $0.025, and so does each later stage, but a round (refine, validate and the curate that
    must follow) could cost ~$0.03: it is not started, and the run still ends with curation."""
    spec = StageSpec(models=("openai/gpt-4o-mini",), temperature=0.5, max_tokens=10_000)
    profile = Profile.model_validate(
        {
            "name": "tight",
            "generate": spec.model_copy(update={"models": ("openai/gpt-4o-mini", "x/other")}),
            "refine": spec, "validate": spec, "curate": spec,
            "adaptive": AdaptiveSpec(rounds=3),
        }
    )  # fmt: skip
    server.fail("openai/gpt-4o-mini", said("openai/gpt-4o-mini", "draft"),
                Fault(reply=refiner(agreeing, "openai/gpt-4o-mini")),
                verdict("openai/gpt-4o-mini", 0.3, "wrong"))  # fmt: skip
    price = ModelPrice(Decimal("0.000001"), Decimal("0.000001"))

    result = run(server, profile, limit=SpendLimit(Decimal("0.025"), "a test limit"),
                 price_of=lambda model: price)  # fmt: skip

    assert kinds(result)[-1] == "rounds_stopped"
    assert result.decisions[-1].data["reason"] == "budget"
    assert [c.stage for c in result.calls if c.ok][-1] == "curate"
    assert len([r for r in server.chat_requests()]) == 5  # 2 drafts, refine, validate, curate


def test_minority_positions_survive_a_round_that_drops_them(server: LoopbackOpenRouter) -> None:
    """Round 2's refiner 'converges' on the majority and leaves the dispute out of its ledger;
    the dispute the drafts really had is kept, and said so."""
    server.fail(Q_REFINER, Fault(reply=refiner(split, Q_REFINER)),
                Fault(reply=refiner(agreeing, Q_REFINER)))  # fmt: skip
    server.fail(Q_VALIDATOR, verdict(Q_VALIDATOR, 0.5), verdict(Q_VALIDATOR, 0.9))

    result = run(server, QUALITY)

    assert result.rounds == 2
    assert result.consensus is not None and result.consensus.ledger is not None
    assert [d.claim for d in result.consensus.ledger.disputes] == ["Is async built in?"]
    assert any("left out" in p and "kept" in p for p in result.consensus.problems)
    assert result.consensus.agreement is not None and result.consensus.agreement < 1.0


# --- through the CLI -----------------------------------------------------------------------


def store(name: str, profile: Profile) -> str:
    ProfileStore(resolve_paths()).save(profile.model_copy(update={"name": name}), replace=True)
    return name


def test_decisions_reach_json_plain_and_history(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(REFINER, Fault(reply=refiner(agreeing)))
    keyed_env.fail(VALIDATOR, verdict(VALIDATOR, 0.97))

    result = hive("consensus", QUESTION, "balanced", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["kind"] for d in data["decisions"]] == ["panel_kept", "curate_skipped"]
    assert data["decisions"][1]["confidence"] == 0.97
    assert data["rounds"] == 1
    assert data["answer"] == without_ledger("The refined answer.")
    assert [s["stage"] for s in data["stages"]] == ["generate", "generate", "refine", "validate"]

    keyed_env.fail(REFINER, Fault(reply=refiner(agreeing)))
    keyed_env.fail(VALIDATOR, verdict(VALIDATOR, 0.97))
    plain = hive("consensus", QUESTION, "balanced", "--plain")
    assert plain.exit_code == 0, plain.stderr
    assert "hive: decided: the first 2 drafts agreed 1.00" in plain.stderr
    assert "hive: decided: curate skipped: the validator found no issues" in plain.stderr
    assert plain.stdout.strip() == "The refined answer."
    assert last_run().status == "ok"


def test_fixed_runs_every_stage_with_the_full_panel(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(VALIDATOR, verdict(VALIDATOR, 0.99))

    result = hive("consensus", QUESTION, "balanced", "--json", "--fixed")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["decisions"] == []
    assert [s["stage"] for s in data["stages"]] == [
        "generate", "generate", "generate", "refine", "validate", "curate",
    ]  # fmt: skip


def test_rounds_flag_overrides_the_profile(keyed_env: LoopbackOpenRouter) -> None:
    keyed_env.fail(VALIDATOR, verdict(VALIDATOR, 0.4, "thin"), verdict(VALIDATOR, 0.5, "thin"),
                   verdict(VALIDATOR, 0.6, "thin"))  # fmt: skip

    result = hive("consensus", QUESTION, "balanced", "--json", "--rounds", "3")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rounds"] == 3
    assert [d["kind"] for d in data["decisions"]][-3:] == [
        "round_started", "round_started", "rounds_stopped",
    ]  # fmt: skip
    assert [(s["stage"], s["index"]) for s in data["stages"] if s["stage"] == "refine"][-1] == (
        "refine", 2,
    )  # fmt: skip
    bad = hive("consensus", QUESTION, "balanced", "--rounds", "9")
    assert bad.exit_code == 2


def test_an_escalated_run_that_takes_another_round_numbers_every_refine(
    server: LoopbackOpenRouter,
) -> None:
    """A second refine (the full panel) and a second round's refine are calls of their own."""
    server.fail(REFINER, *(Fault(reply=refiner(split)) for _ in range(3)))
    server.fail(VALIDATOR, verdict(VALIDATOR, 0.4, "unsure"), verdict(VALIDATOR, 0.95))

    result = run(server, BALANCED, rounds=2)

    # The dispute stays unresolved: curation is not skipped, the curator must state it.
    assert kinds(result) == ["escalated", "round_started", "rounds_stopped"]
    refines = [(c.index, c.ok) for c in result.calls if c.stage == "refine"]
    assert refines == [(0, False), (1, True), (2, True)]  # the first stopped at its ledger
    assert next(c for c in result.calls if c.stage == "refine").cut
    assert [c.index for c in result.calls if c.stage == "validate"] == [0, 1]
    assert len({(c.stage, c.index, c.attempt) for c in result.calls}) == len(result.calls)


def tight_profile(rules: AdaptiveSpec, generators: tuple[str, ...]) -> Profile:
    """Every call on one priced model with 10,000 output tokens: ~$0.01 at its worst."""
    spec = StageSpec(models=("openai/gpt-4o-mini",), temperature=0.5, max_tokens=10_000)
    return Profile.model_validate(
        {
            "name": "tight",
            "generate": spec.model_copy(update={"models": generators}),
            "refine": spec, "validate": spec, "curate": spec, "adaptive": rules,
        }
    )  # fmt: skip


def test_an_escalation_that_could_cross_the_budget_keeps_the_first_panel(
    server: LoopbackOpenRouter,
) -> None:
    """Two of three generators first (~$0.02 at worst); they disagree, but a third draft and
    a second refine (~$0.02 more) do not fit $0.035 beside what must follow: not asked."""
    profile = tight_profile(AdaptiveSpec(first_panel=2), ("openai/gpt-4o-mini", "x/b", "x/c"))
    server.fail("openai/gpt-4o-mini", said("openai/gpt-4o-mini", "draft one"),
                Fault(reply=refiner(split, "openai/gpt-4o-mini")))  # fmt: skip
    price = ModelPrice(Decimal("0.000001"), Decimal("0.000001"))

    result = run(server, profile, limit=SpendLimit(Decimal("0.035"), "a test limit"),
                 price_of=lambda model: price)  # fmt: skip

    assert kinds(result)[0] == "panel_kept"
    assert result.decisions[0].data["reason"] == "budget"
    assert asked(server, "x/c") == []
    assert result.answer


def test_with_no_limit_an_unpriced_model_does_not_stop_a_round(server: LoopbackOpenRouter) -> None:
    """No spending limit: a round is never refused for money, priced or not."""
    server.fail(Q_VALIDATOR, verdict(Q_VALIDATOR, 0.5, "thin"), verdict(Q_VALIDATOR, 0.9))

    result = run(server, QUALITY, price_of=lambda model: None)

    assert kinds(result)[0] == "round_started"


def test_a_refine_whose_ledger_shows_disagreement_stops_there_and_the_panel_grows(
    server: LoopbackOpenRouter,
) -> None:
    """The refiner writes its ledger first: the moment it closes showing a split, the refine
    is stopped (its answer would be replaced by the full panel's), recorded as cut with what
    it wrote, priced as billed, and the third generator is asked."""
    long_answer = "The refined answer, at length. " * 40
    split_first = refiner(split)

    def reply(body: dict[str, Any]) -> list[bytes]:
        events = split_first(body)
        return [*events[:-2], *stream(REFINER, long_answer)]  # the ledger, then a long answer

    server.fail(REFINER, Fault(reply=reply), Fault(reply=refiner(agreeing)))

    result = run(server, BALANCED)

    assert kinds(result)[0] == "escalated"
    stopped = next(c for c in result.calls if c.stage == "refine")
    assert stopped.cut and stopped.error == f"cut: {result.decisions[0].message}"
    assert stopped.content.rstrip().endswith("</ledger>")
    assert "at length" not in stopped.content  # stopped before the answer
    assert stopped.accepted and stopped.cost is not None and stopped.cost_estimated
    assert len(asked(server, GENERATORS[2])) == 1
    second = asked(server, REFINER)[1]
    assert len(drafts_shown(second)) == 3  # the full panel's synthesis is the one used
    assert result.consensus is not None and result.consensus.agreement == 1.0
    assert not result.degraded


def test_a_ledger_after_a_long_answer_is_not_stopped(server: LoopbackOpenRouter) -> None:
    """A refiner that writes its answer first (as hive once asked): nothing left to save by
    stopping at its ledger, so the call completes; the escalation still follows."""
    long_answer = "The refined answer, at length. " * 40

    def reply(body: dict[str, Any]) -> list[bytes]:
        written = json.dumps(split(drafts_shown(body)))
        return stream(REFINER, f"{long_answer}\n\n<ledger>{written}</ledger>")

    server.fail(REFINER, Fault(reply=reply), Fault(reply=refiner(agreeing)))

    result = run(server, BALANCED)

    assert kinds(result)[0] == "escalated"
    first = next(c for c in result.calls if c.stage == "refine")
    assert first.ok and first.cost == Decimal("0.00001")  # completed: the cost reported


def test_a_silent_first_panel_generator_gets_the_next_one_asked_alongside(
    server: LoopbackOpenRouter,
) -> None:
    """Balanced asks two generators first; the second never begins answering. Once it has
    been silent past the floor and twice the first's time to begin, the third is asked
    alongside it; the first two drafts in make the panel and the silent one is cut."""
    profile = with_rules(BALANCED, straggler_floor=0.05)
    server.fail(GENERATORS[1], Fault(hang=True))
    server.fail(REFINER, Fault(reply=refiner(agreeing)))

    result = run(server, profile)

    assert kinds(result)[:2] == ["replacement_asked", "straggler_cut"]
    replaced = result.decisions[0]
    assert replaced.data["silent"] == [{"index": 1, "model": GENERATORS[1]}]
    assert replaced.data["asked"] == [{"index": 2, "model": GENERATORS[2]}]
    assert len(asked(server, GENERATORS[2])) == 1
    silent = next(c for c in result.calls if c.stage == "generate" and c.index == 1)
    assert silent.cut and silent.content == "" and not silent.ok
    assert result.consensus is not None
    assert sorted(m for _, m in result.consensus.panel) == sorted([GENERATORS[0], GENERATORS[2]])
    assert "escalated" not in kinds(result)  # nobody left to escalate to
    assert not result.degraded


def test_a_generator_streaming_its_reasoning_is_not_silent(server: LoopbackOpenRouter) -> None:
    """The second generator thinks aloud for a while before it writes: it has begun
    answering, so no generator is asked in its place (a silent one would be, as above)."""
    profile = with_rules(BALANCED, straggler_floor=0.05)
    thinker = GENERATORS[1]

    def thought(text: str) -> bytes:
        body = {"id": "gen-2", "model": thinker,
                "choices": [{"index": 0, "delta": {"content": "", "reasoning": text},
                             "finish_reason": None}]}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n".encode()

    def script(body: dict[str, Any]) -> Scripted | None:
        if body["model"] != thinker:
            return None
        events = [thought(f"step {n}. ") for n in range(8)] + stream(thinker, "A draft.")
        return Scripted(events, latency=0.6)

    server.script = script
    server.fail(REFINER, Fault(reply=refiner(agreeing)))

    result = run(server, profile)

    assert "replacement_asked" not in kinds(result)
    assert not asked(server, GENERATORS[2])
    drafted = next(c for c in result.calls if c.stage == "generate" and c.index == 1)
    assert drafted.ok and drafted.content == "A draft."


def test_an_escalated_generator_is_judged_by_its_own_batch(server: LoopbackOpenRouter) -> None:
    """The first panel answered at once; the escalated third generator takes a while. It is
    what the escalation asked for: not cut for being slower than the first two were."""
    profile = with_rules(BALANCED, straggler_floor=0.01)
    server.fail(GENERATORS[2], Fault(delay=0.3))
    server.fail(REFINER, Fault(reply=refiner(split)), Fault(reply=refiner(agreeing)))

    result = run(server, profile)

    assert "straggler_cut" not in kinds(result)
    assert len(drafts_shown(asked(server, REFINER)[1])) == 3


def test_a_round_whose_refine_fails_says_so_and_the_last_answer_stands(
    server: LoopbackOpenRouter,
) -> None:
    alone = QUALITY.model_copy(
        update={"refine": QUALITY.refine.model_copy(update={"fallbacks": ()})}
    )
    server.fail(Q_VALIDATOR, verdict(Q_VALIDATOR, 0.5, "thin"))
    first = Fault(reply=refiner(agreeing, Q_REFINER))
    server.fail(Q_REFINER, first, Fault(status=404))

    result = run(server, alone)

    assert kinds(result) == ["round_started", "rounds_stopped"]
    assert result.decisions[1].data["reason"] == "failed"
    assert result.decisions[1].message == (
        "no further round: round 2's refine gave no answer; round 1's stands"
    )
    assert result.rounds == 1 and result.degraded
    assert result.confidence == 0.5  # the verdict on the answer that stands
