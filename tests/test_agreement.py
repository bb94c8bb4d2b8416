"""The panel's agreement, measured from the ledger: the spec's examples, disputes, claims most
drafts contradict, and every case where it cannot be measured and must be None, not a guess."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive.consensus.agreement import AGREEMENT_DEFINITION, agreement
from hive.consensus.ledger import Claim, Dispute, Ledger, Position, Unique, labels, parse_ledger


def claim(supported: str, contradicted: str = "") -> Claim:
    return Claim("a claim", tuple(supported), tuple(contradicted))


def dispute(*held: str) -> Dispute:
    return Dispute(
        "a point", tuple(Position(f"p{i}", tuple(h)) for i, h in enumerate(held)), "", None
    )


@pytest.mark.parametrize(
    ("ledger", "panel", "expected"),
    [
        # The spec's three examples.
        pytest.param(Ledger(claims=(claim("ABC"),) * 3), 3, 1.0, id="all-agree"),
        pytest.param(
            Ledger(claims=(claim("ABC"), claim("ABC"), claim("AB", "C"))), 3, 0.89, id="one-2-1"
        ),
        pytest.param(Ledger(claims=(claim("A"), claim("B"), claim("C"))), 3, 0.33, id="all-apart"),
        # A silent draft counts as not agreeing.
        pytest.param(Ledger(claims=(claim("AB"),)), 3, 0.67, id="one-silent"),
        # The larger side is the contradictors': most drafts agree the claim is wrong.
        pytest.param(Ledger(claims=(claim("A", "BC"),)), 3, 0.67, id="more-contradict"),
        pytest.param(Ledger(claims=(claim("", "ABCD"),)), 4, 1.0, id="all-contradict"),
        pytest.param(Ledger(claims=(claim("AB", "CD"),)), 4, 0.5, id="even-split"),
        # Disputes: the most-held position over the panel.
        pytest.param(Ledger(disputes=(dispute("AC", "B"),)), 3, 0.67, id="dispute-2-1"),
        pytest.param(Ledger(disputes=(dispute("A", "B", "C"),)), 3, 0.33, id="dispute-3-way"),
        pytest.param(
            Ledger(claims=(claim("ABC"),), disputes=(dispute("AC", "B"),)),
            3,
            0.83,  # (1 + 2/3) / 2
            id="claims-and-disputes",
        ),
        # Unique points and gaps are reported, not measured.
        pytest.param(
            Ledger(claims=(claim("AB"),), unique=(Unique("u", "A", True),), gaps=("g",)),
            2,
            1.0,
            id="unique-and-gaps-ignored",
        ),
        # Rounded half up, exactly: 1/8 = 0.125 -> 0.13 (float round() would give 0.12).
        pytest.param(Ledger(claims=(claim("A"),)), 8, 0.13, id="half-up"),
        pytest.param(Ledger(claims=(claim("A"), claim("ABCDEFGH"))), 8, 0.56, id="9/16"),
        pytest.param(Ledger(claims=(claim("AB"), claim("A"), claim("A"))), 6, 0.22, id="4/18"),
        pytest.param(Ledger(claims=(claim("A"),)), 3, 0.33, id="1/3"),
        pytest.param(Ledger(claims=(claim("AB"),)), 3, 0.67, id="2/3"),
        # A share never goes past the whole panel.
        pytest.param(Ledger(claims=(claim("ABCD"),)), 2, 1.0, id="more-labels-than-panel"),
    ],
)
def test_agreement(ledger: Ledger, panel: int, expected: float) -> None:
    assert agreement(ledger, panel) == expected


@pytest.mark.parametrize(
    ("ledger", "panel"),
    [
        pytest.param(None, 3, id="no-ledger"),
        pytest.param(Ledger(), 3, id="empty-ledger"),
        pytest.param(Ledger(unique=(Unique("u", "A", True),), gaps=("g",)), 3, id="nothing-held"),
        pytest.param(Ledger(claims=(claim("A"),)), 1, id="one-draft"),
        pytest.param(Ledger(claims=(claim("A"),)), 0, id="no-drafts"),
        pytest.param(None, 1, id="neither"),
    ],
)
def test_agreement_that_cannot_be_measured_is_none(ledger: Ledger | None, panel: int) -> None:
    assert agreement(ledger, panel) is None


def test_a_dispute_with_no_positions_counts_as_no_agreement() -> None:
    assert agreement(Ledger(claims=(claim("AB"),), disputes=(dispute(),)), 2) == 0.5


def test_from_the_refiners_text_to_the_number() -> None:
    text = (
        "The answer.\n<ledger>"
        '{"claims": [{"claim": "x", "supported_by": ["Draft A", "b", "C"]},'
        ' {"claim": "y", "supported_by": ["A", "C"], "contradicted_by": ["B"]},'
        ' {"claim": "z", "supported_by": ["A", "B", "C", "E"]},],}'
        "</ledger>"
    )
    reading = parse_ledger(text, labels(3))
    assert agreement(reading.ledger, 3) == 0.89  # the unknown draft E counts for nothing
    assert reading.problems == ("the ledger names draft E, which does not exist",)


def test_the_definition_is_short_and_plain() -> None:
    assert AGREEMENT_DEFINITION.count(". ") <= 1
    assert "confidence" in AGREEMENT_DEFINITION
    assert "\n" not in AGREEMENT_DEFINITION


SIDES = st.text(alphabet="ABCDEF", max_size=6).map(lambda s: "".join(dict.fromkeys(s)))


@given(
    claims=st.lists(st.tuples(SIDES, SIDES), max_size=8),
    disputes=st.lists(st.lists(SIDES, max_size=4), max_size=4),
    panel=st.integers(min_value=-1, max_value=8),
)
def test_agreement_is_none_or_in_the_unit_interval_with_two_decimals(
    claims: list[tuple[str, str]], disputes: list[list[str]], panel: int
) -> None:
    ledger = Ledger(
        claims=tuple(claim(s, c) for s, c in claims),
        disputes=tuple(dispute(*held) for held in disputes),
    )
    value = agreement(ledger, panel)
    if panel < 2 or not (claims or disputes):
        assert value is None
    else:
        assert value is not None
        assert 0.0 <= value <= 1.0
        assert value == round(value, 2)
