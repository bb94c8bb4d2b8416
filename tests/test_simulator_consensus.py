"""The simulator shows consensus: drafts that differ (shared claims, a contested point, extra
points) and a refine reply whose claim ledger matches the drafts it was shown.

Requests are built with hive's own stage prompts (``hive.consensus.stages``), so a reworded
prompt that the simulator no longer recognises fails here. The end-to-end test runs the real
client over real sockets against the loopback server, which serves the simulator's stream.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

from hive.consensus.agreement import agreement
from hive.consensus.ledger import Ledger, labels, parse_ledger
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.consensus.stages import (
    generate_messages,
    parse_verdict,
    refine_messages,
    validate_messages,
)
from hive.openrouter.chat import ChatRequest, Completion
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.simulated_replies import reply_text
from tests.conftest import FAKE_KEY
from tests.loopback import LoopbackOpenRouter

TODAY = date(2026, 5, 1)
REFINER = "anthropic/claude-sonnet-4.6"
THREE_GENERATORS = ("balanced", "quality", "free")
POSITION = re.compile(r"^- Simulated position on (.+?): (.+?)\.$", re.M)


def _generators(profile: str) -> tuple[str, ...]:
    return BUILTIN_PROFILES[profile].generate.models


def _draft(model: str, question: str) -> str:
    return reply_text({"model": model, "messages": generate_messages(question, TODAY)})


def _position(draft: str) -> str:
    [(_, position)] = POSITION.findall(draft)
    return str(position)


def _points(draft: str) -> list[str]:
    return [line for line in draft.splitlines() if line.startswith("- Simulated ")]


def _refine(question: str, drafts: list[str], model: str = REFINER) -> str:
    shown = list(zip(labels(len(drafts)), drafts, strict=True))
    return reply_text({"model": model, "messages": refine_messages(question, shown, TODAY)})


def _ledger(text: str, n: int) -> Ledger:
    reading = parse_ledger(text, labels(n))
    assert reading.ledger is not None, reading.problems
    assert reading.problems == ()
    assert "<ledger" not in reading.answer.lower()
    assert reading.answer.startswith("**Simulated reply**")
    return reading.ledger


def _split(question: str, profile: str) -> list[int]:
    """How many of the profile's drafts hold each position on the contested point."""
    held: dict[str, int] = {}
    for model in _generators(profile):
        position = _position(_draft(model, question))
        held[position] = held.get(position, 0) + 1
    return sorted(held.values(), reverse=True)


# --- generate ---------------------------------------------------------------------------------


def test_drafts_say_they_are_simulated_and_share_the_question_claims() -> None:
    drafts = [_draft(model, "What is Rust?") for model in _generators("balanced")]

    for model, draft in zip(_generators("balanced"), drafts, strict=True):
        assert draft.startswith(f"**Simulated reply** from `{model}`: no model was asked.")
        assert "made up" in draft
        assert "> What is Rust?" in draft
    shared = [{p for p in _points(d) if p.startswith("- Simulated claim: ")} for d in drafts]
    assert shared[0] == shared[1] == shared[2]
    assert len(shared[0]) >= 2
    assert len({tuple(_points(d)) for d in drafts}) == 3, "the drafts really differ"


def test_what_is_rust_splits_two_to_one_in_every_three_generator_profile() -> None:
    for profile in THREE_GENERATORS:
        assert len(_generators(profile)) == 3
        assert _split("What is Rust?", profile) == [2, 1], profile


def test_most_questions_split_two_to_one_and_the_rest_agree() -> None:
    questions = [
        "What is Rust?",
        "How do I reverse a list in Python?",
        "Is TCP reliable?",
        "Explain the CAP theorem.",
        "What is a monad?",
        "Should I use Postgres or MySQL?",
        "How does HTTPS work?",
        "What causes inflation?",
    ] + [f"Simulated question number {i}?" for i in range(40)]
    splits = [_split(q, "balanced") for q in questions]

    assert all(s in ([2, 1], [3]) for s in splits), "a 2-1 split or all three agree"
    assert sum(s == [2, 1] for s in splits) >= len(questions) * 0.6
    # A few named questions beyond the README's example split too.
    assert sum(s == [2, 1] for s in splits[1:8]) >= 3


def test_same_model_and_question_give_the_same_draft() -> None:
    model = _generators("balanced")[0]
    first = _draft(model, "What is Rust?")

    assert _draft(model, "What is Rust?") == first
    # The date in the system prompt does not change a draft: only (model, question) do.
    body = {"model": model, "messages": generate_messages("What is Rust?", date(2030, 1, 1))}
    assert reply_text(body) == first
    assert _draft(model, "What is Go?") != first


# --- refine -----------------------------------------------------------------------------------


def test_refine_ledger_matches_three_simulated_drafts() -> None:
    question = "What is Rust?"
    drafts = [_draft(model, question) for model in _generators("balanced")]
    text = _refine(question, drafts)
    ledger = _ledger(text, 3)

    assert text == _refine(question, drafts), "deterministic"
    by_label = dict(zip("ABC", drafts, strict=True))
    claims = {c.claim: c for c in ledger.claims}
    # Every shared claim, supported by all three drafts.
    for line in _points(drafts[0]):
        if line.startswith("- Simulated claim: "):
            claim = claims["simulated: " + line.removeprefix("- Simulated claim: ")[:-1]]
            assert claim.supported_by == ("A", "B", "C")
            assert claim.contradicted_by == ()
    # The contested point: one dispute whose positions name exactly the drafts holding them.
    [dispute] = ledger.disputes
    assert dispute.resolved is True
    assert "majority" in dispute.resolution
    [majority, minority] = dispute.positions
    assert (len(majority.drafts), len(minority.drafts)) == (2, 1)
    for position in (majority, minority):
        for label in position.drafts:
            assert _position(by_label[label]) == position.position
    contested = next(c for c in ledger.claims if c.contradicted_by)
    assert contested.supported_by == majority.drafts
    assert contested.contradicted_by == minority.drafts
    # Extra points: one draft's own is unique, several drafts' is a claim they support.
    for unique in ledger.unique:
        point = unique.point.removeprefix("simulated: ")
        holders = [label for label, draft in by_label.items() if point in draft]
        assert holders == [unique.draft]
        assert isinstance(unique.kept, bool)
        assert (point in parse_ledger(text, labels(3)).answer) is unique.kept
    assert ledger.gaps and all(g.startswith("simulated: ") for g in ledger.gaps)
    # 2-1 on the contested point is both a claim and a dispute: agreement below 1.
    assert agreement(ledger, 3) is not None
    assert 0.5 < (agreement(ledger, 3) or 0) < 1


def test_refine_ledger_follows_the_labels_whatever_the_order() -> None:
    question = "What is Rust?"
    drafts = [_draft(model, question) for model in _generators("quality")]
    dissenter = next(
        i for i, d in enumerate(drafts) if sum(_position(o) == _position(d) for o in drafts) == 1
    )
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        ledger = _ledger(_refine(question, [drafts[i] for i in order]), 3)
        [dispute] = ledger.disputes
        assert dispute.positions[1].drafts == (labels(3)[order.index(dissenter)],)


def test_refine_with_one_draft_still_gives_a_ledger() -> None:
    draft = _draft("openai/gpt-4.1-mini", "What is Rust?")
    ledger = _ledger(_refine("What is Rust?", [draft]), 1)

    assert ledger.claims
    assert all(c.supported_by == ("A",) and c.contradicted_by == () for c in ledger.claims)
    assert len(ledger.claims) == len(_points(draft))
    assert ledger.disputes == () and ledger.unique == ()
    assert agreement(ledger, 1) is None


def test_an_even_split_is_left_unresolved() -> None:
    question = next(
        q
        for q in (f"Even split {i}?" for i in range(100))
        if len({_position(_draft(m, q)) for m in ("x/one", "y/two")}) == 2
    )
    ledger = _ledger(_refine(question, [_draft("x/one", question), _draft("y/two", question)]), 2)

    [dispute] = ledger.disputes
    assert dispute.resolved is False
    assert [p.drafts for p in dispute.positions] == [("A",), ("B",)]
    assert not any(c.contradicted_by for c in ledger.claims), "no side picked silently"


def test_validator_reply_keeps_its_verdict() -> None:
    body = {"model": "deepseek/deepseek-v4-pro", "messages": validate_messages("Q?", "A.", TODAY)}
    text = reply_text(body)

    assert text.startswith("**Simulated reply**")
    assert parse_verdict(text).found
    assert "<ledger>" not in text


# --- through the real client ------------------------------------------------------------------


def _ask(server: LoopbackOpenRouter, model: str, messages: Any) -> Completion:
    async def go() -> Completion:
        async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
            request = ChatRequest(model, messages, temperature=0.5, max_tokens=4096)
            async for item in OpenRouterClient(http).stream_chat(request):
                if isinstance(item, Completion):
                    return item
        raise AssertionError("no completion")

    return asyncio.run(go())


def test_drafts_and_ledger_over_the_wire(openrouter: LoopbackOpenRouter) -> None:
    question = "What is Rust?"
    drafts = [
        _ask(openrouter, model, generate_messages(question, TODAY)).text
        for model in _generators("balanced")
    ]
    shown = list(zip(labels(3), drafts, strict=True))
    synthesis = _ask(openrouter, REFINER, refine_messages(question, shown, TODAY))

    assert drafts == [_draft(model, question) for model in _generators("balanced")]
    ledger = _ledger(synthesis.text, 3)
    assert [len(p.drafts) for p in ledger.disputes[0].positions] == [2, 1]
    assert synthesis.completion_tokens and synthesis.cost is not None
