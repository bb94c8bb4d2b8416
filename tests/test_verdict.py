"""The validator's verdict parser, the stage message builders, and key redaction."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive.consensus.prompts import REFINE, system_prompt
from hive.consensus.stages import (
    Verdict,
    curate_messages,
    parse_verdict,
    refine_messages,
    validate_messages,
)
from hive.redact import mask_key, redact

TODAY = date(2026, 8, 22)
REVIEW = "- The answer says Paris is in Spain; it is in France.\n- The code misses an import."


# --- parse_verdict ----------------------------------------------------------------------------


def test_tagged_verdict_at_the_end() -> None:
    text = f'{REVIEW}\n\n<verdict>{{"confidence": 0.82, "issues": ["a", "b"]}}</verdict>'
    assert parse_verdict(text) == Verdict(0.82, ["a", "b"], REVIEW, True)


def test_tagged_verdict_in_json_fences() -> None:
    text = f'{REVIEW}\n<verdict>\n```json\n{{"confidence": 0.6, "issues": ["x"]}}\n```\n</verdict>'
    assert parse_verdict(text) == Verdict(0.6, ["x"], REVIEW, True)


def test_untagged_verdict_in_json_fences() -> None:
    text = f'{REVIEW}\n\n```json\n{{"confidence": 0.35, "issues": ["y"]}}\n```\n'
    verdict = parse_verdict(text)
    assert verdict == Verdict(0.35, ["y"], REVIEW, True)
    assert "```" not in verdict.review


def test_trailing_commas_are_tolerated() -> None:
    text = f'{REVIEW}\n<verdict>{{"confidence": 0.4, "issues": ["a", "b",],}}</verdict>'
    assert parse_verdict(text) == Verdict(0.4, ["a", "b"], REVIEW, True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('"82%"', 0.82), ('"7%"', 0.07), ('"0.7"', 0.7), ('" 0.25 "', 0.25), ("1", 1.0), ("0", 0.0)],
)
def test_confidence_forms(raw: str, expected: float) -> None:
    verdict = parse_verdict(f'ok\n<verdict>{{"confidence": {raw}, "issues": []}}</verdict>')
    assert verdict.found
    assert verdict.confidence == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "82", '"150%"', '"-5%"', '"high"', "null", "NaN"])
def test_out_of_range_or_unreadable_confidence_is_none_but_found(raw: str) -> None:
    verdict = parse_verdict(f'ok\n<verdict>{{"confidence": {raw}, "issues": ["i"]}}</verdict>')
    assert verdict.found
    assert verdict.confidence is None
    assert verdict.issues == ["i"]
    assert verdict.review == "ok"


@pytest.mark.parametrize("raw", ["true", "false"])
def test_bool_confidence_is_none(raw: str) -> None:
    verdict = parse_verdict(f'ok\n<verdict>{{"confidence": {raw}, "issues": []}}</verdict>')
    assert verdict.found
    assert verdict.confidence is None


def test_missing_verdict() -> None:
    text = "The answer looks right to me, no problems found."
    assert parse_verdict(text) == Verdict(None, [], text, False)
    assert parse_verdict(f"\n  {text}  \n").review == text


def test_malformed_json_in_the_tag_is_not_found() -> None:
    text = f'{REVIEW}\n<verdict>{{"confidence": 0.8, "issues": [</verdict>'
    verdict = parse_verdict(text)
    assert not verdict.found
    assert verdict.confidence is None
    assert verdict.issues == []
    assert verdict.review == text


def test_json_without_verdict_keys_is_not_a_verdict() -> None:
    text = 'Example config:\n```json\n{"timeout": 30}\n```'
    verdict = parse_verdict(text)
    assert not verdict.found
    assert verdict.review == text


def test_issues_given_as_objects() -> None:
    text = (
        "review\n<verdict>"
        '{"confidence": 0.5, "issues": [{"description": "wrong capital", "severity": "high"},'
        ' {"issue": "missing import"}, "plain", "  ", {"severity": "low"}]}'
        "</verdict>"
    )
    verdict = parse_verdict(text)
    assert verdict.issues[:3] == ["wrong capital", "missing import", "plain"]
    assert len(verdict.issues) == 4  # the blank one is dropped, the odd object kept as JSON
    assert "low" in verdict.issues[3]


def test_issues_not_a_list() -> None:
    verdict = parse_verdict('r\n<verdict>{"confidence": 0.9, "issues": "none"}</verdict>')
    assert verdict.found
    assert verdict.issues == []


def test_several_verdict_blocks_the_last_wins() -> None:
    text = (
        'First pass: <verdict>{"confidence": 0.2, "issues": ["old"]}</verdict>\n'
        "On reflection the answer is better than I thought.\n"
        '<verdict>{"confidence": 0.9, "issues": ["new"]}</verdict>'
    )
    verdict = parse_verdict(text)
    assert verdict.found
    assert verdict.confidence == 0.9
    assert verdict.issues == ["new"]
    assert "On reflection" in verdict.review


def test_malformed_last_block_falls_back_to_the_previous_one() -> None:
    text = (
        '<verdict>{"confidence": 0.3, "issues": ["kept"]}</verdict>\n'
        'more\n<verdict>{"confidence": 0.9, "issues": [</verdict>'
    )
    verdict = parse_verdict(text)
    assert verdict.confidence == 0.3
    assert verdict.issues == ["kept"]


def test_several_verdict_blocks_none_left_in_the_review() -> None:
    text = (
        'First pass: <verdict>{"confidence": 0.2, "issues": ["old"]}</verdict>\n'
        "On reflection the answer is better than I thought.\n"
        '<verdict>{"confidence": 0.9, "issues": ["new"]}</verdict>'
    )
    verdict = parse_verdict(text)
    assert "<verdict>" not in verdict.review
    assert '"confidence"' not in verdict.review


def test_upper_case_tag() -> None:
    text = f'{REVIEW}\n<VERDICT>{{"confidence": 0.75, "issues": []}}</VERDICT>'
    assert parse_verdict(text) == Verdict(0.75, [], REVIEW, True)


def _prompt_example() -> str:
    prompt = system_prompt("validate", TODAY)
    return next(x for x in prompt.splitlines() if x.startswith("<verdict>"))


def test_the_validate_prompts_own_example_is_not_a_verdict() -> None:
    """Echoed back as it stands, the prompt's format gives no confidence (issue 8, item 7)."""
    verdict = parse_verdict(f"Looks fine.\n{_prompt_example()}")
    assert (verdict.confidence, verdict.issues, verdict.found) == (None, [], False)


def test_the_validate_prompts_example_filled_in_parses() -> None:
    """The format the validator is told to use is one the parser reads, once filled in."""
    line = (
        _prompt_example()
        .replace("<number from 0 to 1>", "0.8")
        .replace("<one string per problem>", '"The date is wrong.", "No source."')
    )
    verdict = parse_verdict(f"Looks fine.\n{line}")
    assert verdict == Verdict(0.8, ["The date is wrong.", "No source."], "Looks fine.", True)


# An echo of a format is not a verdict: no confidence, no issues, and ``found`` False, so the
# run says it has none. (text inside <verdict>, expected confidence, issues, found)
COPIED_OR_PLACEHOLDER = [
    # the old prompt's example, exactly as models echoed it
    ('{"confidence": 0.0, "issues": ["..."]}', None, [], False),
    ('{"confidence": 0, "issues": ["…"]}', None, [], False),
    ('{"confidence": 0.0, "issues": ["...", "..."]}', None, [], False),
    ('{"confidence": "<number from 0 to 1>", "issues": ["<one string per problem>"]}',
     None, [], False),
    ('{"confidence": null, "issues": ["issue 1", "issue 2"]}', None, [], False),
    ('{"confidence": 0.0, "issues": ["Issue #1", ""]}', None, [], False),
    ('{"confidence": 0.0, "issues": ["string"]}', None, [], False),
    ('{"confidence": 0.0, "issues": ["an issue"]}', None, [], False),
    # the prompt's template copied verbatim is not even JSON
    ('{"confidence": <number from 0 to 1>, "issues": [<one string per problem>]}',
     None, [], False),
    # a real confidence with placeholder issues: the confidence stands, the placeholders go
    ('{"confidence": 0.9, "issues": ["..."]}', 0.9, [], True),
    ('{"confidence": 0.6, "issues": ["...", "The loop never ends.", "problem 2", "-"]}',
     0.6, ["The loop never ends."], True),
    # "no issues" said as an issue is an empty list
    ('{"confidence": 0.95, "issues": ["None", "N/A", "no issues found."]}', 0.95, [], True),
    # a harsh but real verdict: zero confidence, and either real issues or none listed
    ('{"confidence": 0.0, "issues": []}', 0.0, [], True),
    ('{"confidence": 0.0, "issues": ["...", "Paris is not in Spain."]}',
     0.0, ["Paris is not in Spain."], True),
    # words that merely start like a placeholder are real issues
    ('{"confidence": 0.4, "issues": ["Error handling is missing.", "Issue 3 of the RFC is '
     'misquoted."]}', 0.4, ["Error handling is missing.", "Issue 3 of the RFC is misquoted."],
     True),
]  # fmt: skip


@pytest.mark.parametrize(("block", "confidence", "issues", "found"), COPIED_OR_PLACEHOLDER)
def test_copied_examples_and_placeholder_issues(
    block: str, confidence: float | None, issues: list[str], found: bool
) -> None:
    verdict = parse_verdict(f"{REVIEW}\n\n<verdict>{block}</verdict>")
    assert (verdict.confidence, verdict.issues, verdict.found) == (confidence, issues, found)
    if found or block.startswith('{"confidence": 0'):
        assert verdict.review == REVIEW  # the echoed block never reaches the curator


def test_a_copied_example_in_fences_is_not_a_verdict() -> None:
    verdict = parse_verdict(f'{REVIEW}\n```json\n{{"confidence": 0.0, "issues": ["..."]}}\n```')
    assert (verdict.confidence, verdict.found, verdict.review) == (None, False, REVIEW)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_parse_verdict_never_raises_and_confidence_is_in_range(text: str) -> None:
    verdict = parse_verdict(text)
    assert verdict.confidence is None or 0.0 <= verdict.confidence <= 1.0
    assert verdict.found or verdict.review == text.strip()


@settings(max_examples=100, deadline=None)
@given(
    review=st.text(max_size=80).filter(lambda s: "<" not in s and "`" not in s),
    confidence=st.floats(0, 1),
    # prefixed, so that no generated issue is a placeholder (those have their own table)
    issues=st.lists(st.text(max_size=20).map(lambda s: f"Wrong: {s}"), max_size=4),
)
def test_round_trip(review: str, confidence: float, issues: list[str]) -> None:
    text = (
        f"{review}\n<verdict>{json.dumps({'confidence': confidence, 'issues': issues})}</verdict>"
    )
    verdict = parse_verdict(text)
    assert verdict == Verdict(confidence, [i.strip() for i in issues], review.strip(), True)


# --- message builders -------------------------------------------------------------------------


def test_refine_messages_one_draft() -> None:
    messages = refine_messages("What is 2+2?", [("A", "It is 4.")], TODAY)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert system == system_prompt("refine", TODAY)
    assert system.startswith(REFINE.split("\n", 1)[0])
    assert "2026-08-22" in system
    assert "<question>\nWhat is 2+2?\n</question>" in user
    assert '<draft id="A">\nIt is 4.\n</draft>' in user


def test_refine_messages_three_drafts_in_the_order_given() -> None:
    drafts = [("C", "Draft C says 2+2=4 😀."), ("A", "Draft A says 4."), ("B", "B says four.")]
    messages = refine_messages("What is 2+2?", drafts, TODAY)
    system, user = messages[0]["content"], messages[1]["content"]
    assert system == system_prompt("refine", TODAY)
    assert "2026-08-22" in system
    positions = [user.index(f'<draft id="{x}">\n{d}\n</draft>') for x, d in drafts]
    assert positions == sorted(positions)
    assert user.count("<draft") == 3
    assert user.index("<question>") < positions[0]


def test_the_refiner_is_asked_for_a_ledger_without_a_copyable_example() -> None:
    from hive.consensus.ledger import parse_ledger
    from hive.consensus.prompts import LEDGER_TAG

    system = system_prompt("refine", TODAY)
    assert f"<{LEDGER_TAG}>" in system and f"</{LEDGER_TAG}>" in system
    # A refiner that copies the format verbatim has written no ledger.
    assert parse_ledger(system, ["A", "B", "C"]).ledger is None


def test_disputes_reach_the_validator_and_the_curator() -> None:
    from hive.consensus.ledger import Dispute, Position

    dispute = Dispute(
        "Is 2+2 four?",
        (Position("yes", ("A", "B")), Position("no", ("C",))),
        "it is four",
        False,
    )
    for messages in (
        validate_messages("q", "a", TODAY, [dispute]),
        curate_messages("q", "a", parse_verdict(REVIEW), TODAY, [dispute]),
    ):
        user = messages[1]["content"]
        assert '- Is 2+2 four?: "yes" (held by 2 drafts); "no" (held by 1 draft).' in user
        assert "Refined answer: it is four [UNRESOLVED]" in user
    assert "<disputed>" not in validate_messages("q", "a", TODAY)[1]["content"]


def test_date_changes_with_today() -> None:
    other = date(2027, 1, 3)
    assert "2027-01-03" in refine_messages("q", [("A", "d")], other)[0]["content"]
    assert "2026-08-22" not in refine_messages("q", [("A", "d")], other)[0]["content"]


def test_validate_messages_carry_question_and_answer() -> None:
    messages = validate_messages("Capital of France?", "Paris.", TODAY)
    assert messages[0]["content"] == system_prompt("validate", TODAY)
    assert "<answer>\nParis.\n</answer>" in messages[1]["content"]


def test_curate_messages_from_a_parsed_verdict() -> None:
    raw = (
        f"{REVIEW}\n\n"
        '<verdict>{"confidence": 0.55, "issues": ["Paris is in France", "add the import"]}'
        "</verdict>"
    )
    verdict = parse_verdict(raw)
    messages = curate_messages("Where is Paris?", "Paris is in Spain.", verdict, TODAY)
    system, user = messages[0]["content"], messages[1]["content"]
    assert system == system_prompt("curate", TODAY)
    assert "2026-08-22" in system
    assert REVIEW in user
    assert "- Paris is in France\n- add the import" in user
    assert "<answer>\nParis is in Spain.\n</answer>" in user
    assert "<verdict>" not in user
    assert "confidence" not in user
    assert "0.55" not in user


def test_curate_messages_with_an_empty_review() -> None:
    messages = curate_messages("q", "a", Verdict(None), TODAY)
    assert "The reviewer gave no findings." in messages[1]["content"]
    assert "Issues listed" not in messages[1]["content"]


# --- redaction --------------------------------------------------------------------------------

HEX64 = "0123456789abcdef" * 3 + "fedcba9876543210"
KEY = "sk-or-v1-" + HEX64


def test_mask_key_shows_only_the_last_four() -> None:
    masked = mask_key(KEY)
    assert masked == "sk-or-v1-…3210"
    assert HEX64[:-4] not in masked
    assert HEX64[-5:] not in masked


def test_mask_key_short_values_reveal_almost_nothing() -> None:
    assert mask_key("") == "…"
    assert mask_key("abcd") == "…"
    assert mask_key("abcdef") == "…ef"


def test_redact_given_secret_and_key_shaped_text() -> None:
    other = "sk-or-v1-" + "9" * 64
    secret = "hunter2-correct-horse-battery"
    text = f"Authorization: Bearer {KEY}\nproxy={secret}\nleaked {other} too"
    out = redact(text, secret, None)
    assert KEY not in out and HEX64[:16] not in out
    assert secret not in out
    assert other not in out and "9" * 5 not in out
    assert "sk-or-v1-…3210" in out
    assert "sk-or-v1-…9999" in out
    assert out.startswith("Authorization: Bearer ")


def test_redact_finds_keys_nobody_named() -> None:
    out = redact(f'{{"error": "bad key {KEY}"}}')
    assert out == '{"error": "bad key sk-or-v1-…3210"}'


def test_redact_is_stable_on_masked_text() -> None:
    once = redact(f"key={KEY} again {KEY}", KEY)
    assert redact(once, KEY) == once
    assert redact(once) == once


@settings(max_examples=100, deadline=None)
@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    body=st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_redact_property(before: str, after: str, body: str) -> None:
    key = "sk-or-v1-" + body
    text = f"{before}{key}{after}"
    for out in (redact(text), redact(text, key)):
        assert key not in out
        assert body[:-4] not in out
        assert redact(out) == out
        assert redact(out, key) == out


def test_a_contradicted_claim_reaches_the_validator_even_when_not_listed_as_a_dispute() -> None:
    from hive.consensus.ledger import parse_ledger
    from hive.consensus.stages import contested

    ledger = parse_ledger(
        'The answer.\n<ledger>{"claims": [{"claim": "Rust 2024 edition exists",'
        ' "supported_by": ["A", "B"], "contradicted_by": ["C"]},'
        ' {"claim": "no GC", "supported_by": ["A", "B", "C"], "contradicted_by": []}]}</ledger>',
        ["A", "B", "C"],
    ).ledger

    user = validate_messages("q", "a", TODAY, contested(ledger))[1]["content"]

    assert '- Rust 2024 edition exists: "it holds" (held by 2 drafts); "it does not"' in user
    assert "no GC" not in user  # nobody contradicted it
