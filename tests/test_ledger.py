"""The refiner's claim ledger read back: the spec's example, the ways real models get the block
wrong (fences, trailing commas, "Draft A", unknown drafts, a cut-off stream, several blocks),
and the promise that the answer the user reads never carries the ledger."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive.consensus.ledger import (
    Claim,
    Dispute,
    Ledger,
    LedgerReading,
    Position,
    Unique,
    label,
    labels,
    parse_ledger,
)

ABC = ("A", "B", "C")
ANSWER = "Rust manages memory through ownership.\n\n```rust\nfn main() {}\n```\n\nThat is all."

SPEC_JSON = """{"claims": [{"claim": "Rust has no garbage collector", "supported_by": ["A", "C"],
  "contradicted_by": ["B"]}],
 "disputes": [{"claim": "Is async in the standard library?",
               "positions": [{"position": "yes, since 1.39", "drafts": ["A", "C"]},
                             {"position": "no, it needs a runtime crate", "drafts": ["B"]}],
 "resolution":
  "the answer says async/await syntax is built in but an executor comes from a crate",
               "resolved": true}],
 "unique": [{"point": "mentions the 2024 edition", "draft": "B", "kept": true}],
 "gaps": ["none of the drafts covers Windows support"]}"""

SPEC_LEDGER = Ledger(
    claims=(Claim("Rust has no garbage collector", ("A", "C"), ("B",)),),
    disputes=(
        Dispute(
            "Is async in the standard library?",
            (
                Position("yes, since 1.39", ("A", "C")),
                Position("no, it needs a runtime crate", ("B",)),
            ),
            "the answer says async/await syntax is built in but an executor comes from a crate",
            True,
        ),
    ),
    unique=(Unique("mentions the 2024 edition", "B", True),),
    gaps=("none of the drafts covers Windows support",),
)


def block(data: Any, *, open_tag: str = "<ledger>", close_tag: str = "</ledger>") -> str:
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{open_tag}\n{body}\n{close_tag}"


def claim(text: str, supported: list[Any], contradicted: list[Any] | None = None) -> Any:
    return {"claim": text, "supported_by": supported, "contradicted_by": contradicted or []}


def read(data: Any, answer: str = ANSWER, known: tuple[str, ...] = ABC) -> LedgerReading:
    return parse_ledger(f"{answer}\n\n{block(data)}", known)


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("i", "expected"),
    [
        (0, "A"),
        (1, "B"),
        (25, "Z"),
        (26, "AA"),
        (27, "AB"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
    ],
)
def test_label_counts_like_spreadsheet_columns(i: int, expected: str) -> None:
    assert label(i) == expected


def test_labels_are_distinct_and_in_order() -> None:
    assert labels(0) == ()
    assert labels(3) == ("A", "B", "C")
    many = labels(1000)
    assert len(set(many)) == 1000
    assert many[26] == "AA"


def test_a_negative_index_has_no_label() -> None:
    with pytest.raises(ValueError):
        label(-1)


# --- the spec's example and the ways the block is written ---------------------------------------


def test_the_spec_example() -> None:
    assert read(SPEC_JSON) == LedgerReading(ANSWER, SPEC_LEDGER, ())


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(block(SPEC_JSON), id="plain"),
        pytest.param(block(f"```json\n{SPEC_JSON}\n```"), id="json-fence-inside"),
        pytest.param(block(f"```\n{SPEC_JSON}\n```"), id="bare-fence-inside"),
        pytest.param(block(f"```json\n{SPEC_JSON}"), id="fence-never-closed"),
        pytest.param(f"```xml\n{block(SPEC_JSON)}\n```", id="fence-around-the-tags"),
        pytest.param(block(SPEC_JSON, open_tag="<LEDGER>", close_tag="</Ledger>"), id="any-case"),
        pytest.param(block(SPEC_JSON, open_tag="< ledger >", close_tag="</ ledger>"), id="spaces"),
        pytest.param(block(SPEC_JSON, open_tag='<ledger format="json">'), id="attributes"),
        pytest.param(block(f"Here is the ledger:\n{SPEC_JSON}\nDone."), id="prose-around"),
        pytest.param(f"<ledger>{SPEC_JSON}</ledger>", id="one-line"),
        pytest.param(block(re.sub(r"\]", ", ]", SPEC_JSON)[:-1] + ",}"), id="trailing-commas"),
    ],
)
def test_the_block_as_models_write_it(written: str) -> None:
    reading = parse_ledger(f"{ANSWER}\n\n{written}\n", ABC)
    assert reading == LedgerReading(ANSWER, SPEC_LEDGER, ())


def test_the_answer_keeps_every_other_code_block() -> None:
    answer = 'Config:\n\n```json\n{"claims": 3}\n```\n\nand some <b>html</b> too.'
    reading = read(SPEC_JSON, answer=answer)
    assert reading.answer == answer
    assert reading.ledger == SPEC_LEDGER


def test_a_block_in_the_middle_is_cut_out_and_the_text_around_it_kept() -> None:
    reading = parse_ledger(f"Before.\n{block(SPEC_JSON)}\nAfter.", ABC)
    assert reading.answer == "Before.\n\nAfter."
    assert reading.ledger == SPEC_LEDGER


def test_an_untagged_fenced_ledger_at_the_end_is_read() -> None:
    reading = parse_ledger(f"{ANSWER}\n\n```json\n{SPEC_JSON}\n```\n", ABC)
    assert reading == LedgerReading(ANSWER, SPEC_LEDGER, ())


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param('Use this:\n```json\n{"claims": ["x"], "timeout": 3}\n```', id="other-keys"),
        pytest.param('Use this:\n```json\n{"gaps": []}\n```', id="no-claims-or-disputes"),
        pytest.param('```json\n{"claims": []}\n```\nthen prose after it', id="not-at-the-end"),
        pytest.param('Use this:\n```json\n[{"claims": []}]\n```', id="an-array"),
    ],
)
def test_json_that_is_part_of_the_answer_is_not_taken_for_a_ledger(answer: str) -> None:
    reading = parse_ledger(answer, ABC)
    assert reading == LedgerReading(answer.strip(), None, ("no ledger in the synthesis",))


# --- no ledger, or none that can be read --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "problem"),
    [
        pytest.param(ANSWER, ANSWER, "no ledger in the synthesis", id="missing"),
        pytest.param(f"  \n{ANSWER}\n\n", ANSWER, "no ledger in the synthesis", id="padded"),
        pytest.param("", "", "no ledger in the synthesis", id="empty"),
        pytest.param(
            f'{ANSWER}\n\n<ledger>\n{{"claims": [{{"claim": "x", "supp',
            ANSWER,
            "the ledger was cut off",
            id="cut-off-in-the-json",
        ),
        pytest.param(f"{ANSWER}\n\n<ledger>", ANSWER, "the ledger was cut off", id="cut-after-tag"),
        pytest.param(f"{ANSWER}\n\n<ledg", ANSWER, "the ledger was cut off", id="cut-in-tag"),
        pytest.param(f"{ANSWER}\n\n<", ANSWER, "the ledger was cut off", id="cut-after-<"),
        pytest.param(
            f"{ANSWER}\n\n<ledger>{{not json at all</ledger>",
            ANSWER,
            "the ledger is not valid JSON",
            id="invalid-json",
        ),
        pytest.param(
            f"{ANSWER}\n<ledger></ledger>", ANSWER, "the ledger is not valid JSON", id="empty-block"
        ),
        pytest.param(
            f'{ANSWER}\n<ledger>[{{"claim": "x"}}]</ledger>',
            ANSWER,
            "the ledger is not a JSON object",
            id="an-array",
        ),
        pytest.param(
            f'{ANSWER}\n<ledger>"claims"</ledger>',
            ANSWER,
            "the ledger is not a JSON object",
            id="a-string",
        ),
        pytest.param(
            f"{ANSWER}\n<ledger>{'[' * 100_000}</ledger>",
            ANSWER,
            "the ledger is not valid JSON",
            id="nested-too-deep",
        ),
    ],
)
def test_no_readable_ledger_is_none_with_the_reason(text: str, answer: str, problem: str) -> None:
    assert parse_ledger(text, ABC) == LedgerReading(answer, None, (problem,))


def test_of_several_unreadable_blocks_the_last_says_why() -> None:
    text = f'{ANSWER}\n<ledger>{{oops</ledger>\n<ledger>["a"]</ledger>'
    reading = parse_ledger(text, ABC)
    assert reading == LedgerReading(ANSWER, None, ("the ledger is not a JSON object",))


def test_a_cut_off_ledger_leaves_everything_before_it() -> None:
    text = f"{ANSWER}\n\n<ledger>\n```json\n{SPEC_JSON[:200]}"
    reading = parse_ledger(text, ABC)
    assert reading.answer == ANSWER
    assert "claims" not in reading.answer


def test_several_blocks_the_last_that_parses_wins() -> None:
    first = {"claims": [claim("first", ["A"])]}
    last = {"claims": [claim("last", ["B", "C"])]}
    text = f"{ANSWER}\n{block(first)}\nOn reflection:\n{block(last)}\n<ledger>{{oops</ledger>"
    reading = parse_ledger(text, ABC)
    assert reading.ledger == Ledger(claims=(Claim("last", ("B", "C"), ()),))
    assert reading.answer == f"{ANSWER}\n\nOn reflection:"
    assert reading.problems == ()


def test_a_complete_ledger_then_a_cut_off_one_uses_the_complete_one_and_says_so() -> None:
    text = f'{ANSWER}\n{block({"claims": [claim("x", ["A", "B"])]})}\n<ledger>{{"cla'
    reading = parse_ledger(text, ABC)
    assert reading.ledger == Ledger(claims=(Claim("x", ("A", "B"), ()),))
    assert reading.answer == ANSWER
    assert reading.problems == ("a later ledger was cut off; the complete one before it is used",)


def test_an_opening_tag_inside_a_block_starts_its_content() -> None:
    text = f"{ANSWER}\n<ledger>\n<ledger>{json.dumps({'gaps': ['tests']})}</ledger>"
    assert parse_ledger(text, ABC) == LedgerReading(ANSWER, Ledger(gaps=("tests",)), ())


def test_stray_tags_never_reach_the_answer() -> None:
    reading = parse_ledger("Part one.</ledger> Part two.", ABC)
    assert reading.answer == "Part one. Part two."
    assert reading.ledger is None


def test_a_tag_formed_by_cutting_another_out_is_cut_too() -> None:
    reading = parse_ledger("x <led<ledger>{}</ledger>ger>y <led</ledger>ger>z", ABC)
    assert reading.answer == "x y z"


def test_a_less_than_sign_inside_the_answer_stays() -> None:
    text = "Use a < b, and x <y> tags."
    assert parse_ledger(text, ABC).answer == text


# --- labels inside the ledger --------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["A", "a", "Draft A", "draft a", "DRAFT-A", "draft_a", "Draft: A", "[A]", "(a)", " A. ", "'A'"],
)
def test_labels_are_normalised(written: str) -> None:
    reading = read({"claims": [claim("x", [written, "B"])]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A", "B"), ()),))
    assert reading.problems == ()


def test_multi_letter_labels_of_a_large_panel() -> None:
    reading = read({"claims": [claim("x", ["draft aa", "AB"])]}, known=labels(28))
    assert reading.ledger == Ledger(claims=(Claim("x", ("AA", "AB"), ()),))


@pytest.mark.parametrize(
    ("written", "expected"),
    [("A, C", ("A", "C")), ("A and c", ("A", "C")), ("Draft A/Draft C", ("A", "C")), ("B", ("B",))],
)
def test_labels_written_as_one_string(written: str, expected: tuple[str, ...]) -> None:
    reading = read({"claims": [claim("x", written)]})  # type: ignore[arg-type]
    assert reading.ledger == Ledger(claims=(Claim("x", expected, ()),))


def test_an_unknown_label_is_dropped_with_a_note() -> None:
    reading = read({"claims": [claim("x", ["A", "E"], ["B"]), claim("y", ["E", "C"])]})
    assert reading.ledger == Ledger(
        claims=(Claim("x", ("A",), ("B",)), Claim("y", ("C",), ())),
    )
    assert reading.problems == ("the ledger names draft E, which does not exist",)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (1, "the ledger names a draft as 1, which is not a label"),
        (None, "the ledger names a draft as null, which is not a label"),
        ("<labels>", 'the ledger names a draft as "<labels>", which is not a label'),
        ("gpt-4o", 'the ledger names a draft as "gpt-4o", which is not a label'),
        ("Draft", 'the ledger names a draft as "Draft", which is not a label'),
    ],
)
def test_a_label_that_is_not_a_label_is_dropped_with_a_note(written: Any, problem: str) -> None:
    reading = read({"claims": [claim("x", ["A", written])]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A",), ()),))
    assert reading.problems == (problem,)


def test_duplicate_labels_count_once() -> None:
    reading = read({"claims": [claim("x", ["A", "a", "Draft A", "B"], ["C", "c"])]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A", "B"), ("C",)),))
    assert reading.problems == ()


def test_a_draft_on_both_sides_of_a_claim_counts_for_neither() -> None:
    reading = read({"claims": [claim("x", ["A", "B"], ["B", "C"])]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A",), ("C",)),))
    assert reading.problems == (
        "draft B both supports and contradicts a claim; it counts for neither",
    )


def test_a_long_odd_label_is_shortened_in_the_note() -> None:
    reading = read({"claims": [claim("x", ["A", {"model": "x" * 200}])]})
    assert len(reading.problems) == 1
    assert len(reading.problems[0]) < 100


# --- fields: missing, empty, wrong types --------------------------------------------------------


def test_missing_keys_are_empty() -> None:
    assert read({}) == LedgerReading(ANSWER, Ledger(), ())
    assert read({"claims": None, "gaps": None}) == LedgerReading(ANSWER, Ledger(), ())
    reading = read({"claims": [{"claim": "x", "supported_by": ["A", "B"]}]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A", "B"), ()),))


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        pytest.param("Rust has no GC", "skipped a malformed claim", id="a-string"),
        pytest.param(["A"], "skipped a malformed claim", id="a-list"),
        pytest.param({"supported_by": ["A"]}, "skipped a malformed claim", id="no-text"),
        pytest.param(claim("", ["A"]), "skipped a malformed claim", id="empty-text"),
        pytest.param(claim("   ", ["A"]), "skipped a malformed claim", id="blank-text"),
        pytest.param(claim("<text>", ["A"]), "skipped a malformed claim", id="placeholder"),
        pytest.param(claim("...", ["A"]), "skipped a malformed claim", id="ellipsis"),
        pytest.param({"claim": 42, "supported_by": ["A"]}, "skipped a malformed claim", id="num"),
        pytest.param(
            {"claim": "x", "supported_by": {"A": 1}}, "skipped a malformed claim", id="dict-labels"
        ),
        pytest.param(
            {"claim": "x", "supported_by": ["A"], "contradicted_by": 3},
            "skipped a malformed claim",
            id="number-labels",
        ),
        pytest.param({"claim": "x"}, "skipped a claim that no draft holds", id="no-drafts"),
        pytest.param(claim("x", ["Z"]), "the ledger names draft Z, which does not exist", id="z"),
    ],
)
def test_a_wrong_claim_is_skipped_and_the_rest_kept(item: Any, problem: str) -> None:
    reading = read({"claims": [item, claim("kept", ["A", "B"], ["C"])]})
    assert reading.ledger == Ledger(claims=(Claim("kept", ("A", "B"), ("C",)),))
    assert problem in reading.problems


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"claims": 3}, "the ledger's claims is not a list"),
        ({"disputes": True}, "the ledger's disputes is not a list"),
        ({"unique": 1.5}, "the ledger's unique is not a list"),
        ({"gaps": 0}, "the ledger's gaps is not a list"),
    ],
)
def test_a_top_level_field_that_is_not_a_list_is_empty(field: Any, problem: str) -> None:
    assert read(field) == LedgerReading(ANSWER, Ledger(), (problem,))


def test_a_lone_object_stands_for_a_list_of_one() -> None:
    reading = read({"claims": claim("x", ["A", "B"]), "gaps": "Windows support"})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A", "B"), ()),), gaps=("Windows support",))


def test_text_is_stripped() -> None:
    reading = read({"claims": [claim("  x \n", ["A"])], "gaps": ["  y  "]})
    assert reading.ledger == Ledger(claims=(Claim("x", ("A",), ()),), gaps=("y",))


def dispute(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "claim": "Is async built in?",
        "positions": [
            {"position": "yes", "drafts": ["A", "C"]},
            {"position": "no", "drafts": ["B"]},
        ],
        "resolution": "syntax yes, executor no",
        "resolved": True,
    }
    base.update(changes)
    return base


YES_NO = (Position("yes", ("A", "C")), Position("no", ("B",)))


@pytest.mark.parametrize(
    ("changes", "expected", "problems"),
    [
        pytest.param(
            {}, Dispute("Is async built in?", YES_NO, "syntax yes, executor no", True), (), id="ok"
        ),
        pytest.param(
            {"resolved": False},
            Dispute("Is async built in?", YES_NO, "syntax yes, executor no", False),
            (),
            id="unresolved",
        ),
        pytest.param(
            {"resolved": "yes"},
            Dispute("Is async built in?", YES_NO, "syntax yes, executor no", None),
            (),
            id="resolved-not-a-bool",
        ),
        pytest.param(
            {"resolved": 1},
            Dispute("Is async built in?", YES_NO, "syntax yes, executor no", None),
            (),
            id="resolved-a-number",
        ),
        pytest.param(
            {"resolution": None, "resolved": None},
            Dispute("Is async built in?", YES_NO, "", None),
            (),
            id="no-resolution",
        ),
        pytest.param(
            {"resolution": ["a"]},
            Dispute("Is async built in?", YES_NO, "", True),
            ("a dispute's resolution is not text; it is left out",),
            id="resolution-a-list",
        ),
        pytest.param(
            {
                "positions": [
                    {"position": "yes", "drafts": ["Draft A", "c"]},
                    {"position": "no", "drafts": "B"},
                    {"position": "maybe", "drafts": ["F"]},
                    {"position": "", "drafts": ["B"]},
                    "a position as text",
                ]
            },
            Dispute("Is async built in?", YES_NO, "syntax yes, executor no", True),
            (
                "the ledger names draft F, which does not exist",
                "skipped a position that no draft holds",
                "skipped a malformed position in a dispute",
            ),
            id="positions-cleaned",
        ),
    ],
)
def test_disputes(changes: dict[str, Any], expected: Dispute, problems: tuple[str, ...]) -> None:
    reading = read({"disputes": [dispute(**changes)]})
    assert reading.ledger == Ledger(disputes=(expected,))
    assert reading.problems == problems


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"claim": ""}, "skipped a malformed dispute", id="no-claim"),
        pytest.param(
            {"positions": "yes vs no"}, "skipped a malformed dispute", id="positions-text"
        ),
        pytest.param(
            {"positions": []}, "skipped a dispute that no draft takes a side in", id="no-positions"
        ),
        pytest.param(
            {"positions": None}, "skipped a dispute that no draft takes a side in", id="null"
        ),
        pytest.param(
            {"positions": [{"position": "yes", "drafts": ["Q"]}]},
            "skipped a dispute that no draft takes a side in",
            id="only-unknown-drafts",
        ),
    ],
)
def test_a_dispute_without_sides_is_skipped(changes: dict[str, Any], problem: str) -> None:
    reading = read({"disputes": [dispute(**changes), dispute()]})
    assert reading.ledger is not None
    assert reading.ledger.disputes == (
        Dispute("Is async built in?", YES_NO, "syntax yes, executor no", True),
    )
    assert problem in reading.problems


@pytest.mark.parametrize(
    ("item", "expected", "problems"),
    [
        ({"point": "p", "draft": "B", "kept": True}, Unique("p", "B", True), ()),
        ({"point": "p", "draft": "draft b", "kept": False}, Unique("p", "B", False), ()),
        ({"point": "p", "draft": ["C"], "kept": "yes"}, Unique("p", "C", None), ()),
        ({"point": "p", "draft": "A"}, Unique("p", "A", None), ()),
        (
            {"point": "p", "draft": "E", "kept": True},
            None,
            ("the ledger names draft E, which does not exist",),
        ),
        (
            {"point": "p", "draft": ["A", "B"]},
            None,
            ("skipped a unique point that names no draft",),
        ),
        ({"point": "p"}, None, ("skipped a unique point that names no draft",)),
        ({"point": "", "draft": "A"}, None, ("skipped a malformed unique point",)),
        ("just text", None, ("skipped a malformed unique point",)),
    ],
)
def test_unique_points(item: Any, expected: Unique | None, problems: tuple[str, ...]) -> None:
    reading = read({"unique": [item]})
    assert reading.ledger == Ledger(unique=(expected,) if expected else ())
    assert reading.problems == problems


def test_gaps_keep_text_and_drop_none_and_placeholders() -> None:
    gaps = ["Windows support", "", "  ", "none", "N/A", "No gaps identified.", "<text>", 7, "…"]
    reading = read({"gaps": gaps})
    assert reading.ledger == Ledger(gaps=("Windows support",))
    assert reading.problems == ("skipped a gap that is not text",)


def test_a_copied_format_example_yields_nothing_to_measure() -> None:
    copied = {
        "claims": [{"claim": "<text>", "supported_by": ["<labels>"], "contradicted_by": []}],
        "disputes": [
            {"claim": "<text>", "positions": [{"position": "<text>", "drafts": ["<labels>"]}]}
        ],
        "unique": [{"point": "<text>", "draft": "<label>", "kept": True}],
        "gaps": ["<text>"],
    }
    reading = read(copied)
    assert reading.ledger == Ledger()


def test_problems_are_listed_once() -> None:
    reading = read({"claims": [claim(f"c{i}", ["A", "E"]) for i in range(5)]})
    assert reading.problems == ("the ledger names draft E, which does not exist",)


def test_values_are_immutable_tuples() -> None:
    ledger = read(SPEC_JSON).ledger
    assert ledger is not None
    assert isinstance(ledger.claims, tuple)
    assert isinstance(ledger.claims[0].supported_by, tuple)
    with pytest.raises(AttributeError):
        ledger.claims = ()  # type: ignore[misc]


# --- properties ----------------------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "<ledger>",
        "</ledger>",
        "<LEDGER>",
        "< ledger >",
        "<led",
        "ger>",
        "<",
        ">",
        "```",
        "```json\n",
        "{",
        "}",
        "[",
        "]",
        ",",
        '"claims": ',
        '"supported_by": ["A", "Draft B"]',
        '{"claim": "x", "supported_by": ["A"]}',
        SPEC_JSON,
        "\n",
        " ",
        "answer text",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=25).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, known=st.integers(min_value=0, max_value=5))
def test_parse_ledger_never_raises_and_never_leaks_the_block(text: str, known: int) -> None:
    reading = parse_ledger(text, labels(known))
    assert "<ledger>" not in reading.answer.lower()
    assert reading.answer == reading.answer.strip()
    assert (reading.ledger is None) == any(
        p.startswith(("no ledger", "the ledger is not", "the ledger was cut"))
        for p in reading.problems
    )
    if reading.ledger is not None:
        every = [
            *(x for c in reading.ledger.claims for x in (*c.supported_by, *c.contradicted_by)),
            *(x for d in reading.ledger.disputes for p in d.positions for x in p.drafts),
            *(u.draft for u in reading.ledger.unique),
        ]
        assert set(every) <= set(labels(known))


@settings(max_examples=200, deadline=None)
@given(answer=st.text(max_size=200).filter(lambda t: "<" not in t and "```" not in t))
def test_any_answer_survives_a_ledger_after_it(answer: str) -> None:
    reading = parse_ledger(f"{answer}\n\n{block(SPEC_JSON)}", ABC)
    assert reading == LedgerReading(answer.strip(), SPEC_LEDGER, ())
