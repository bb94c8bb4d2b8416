"""``shorten``: one-line quotes in messages, never cut in the middle of a word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive.text import ELLIPSIS, shorten


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short enough", 20, "short enough"),
        ("exactly ten", 11, "exactly ten"),
        ("the connection to openrouter.ai was reset", 30, "the connection to…"),
        ("a list: of things, and more", 17, "a list: of…"),  # no dangling comma or colon
        ("  spaced \n  out\ttext  ", 40, "spaced out text"),
        ("x" * 50, 10, "x" * 9 + ELLIPSIS),  # one long token: cut between characters
        ("word " + "y" * 50, 20, "word " + "y" * 14 + ELLIPSIS),  # boundary too early to use
        ("anything", 1, ELLIPSIS),
        ("anything", 0, ""),
        ("", 5, ""),
    ],
)
def test_shorten(text: str, width: int, expected: str) -> None:
    assert shorten(text, width) == expected


@given(st.text(max_size=300), st.integers(2, 200))
def test_shorten_fits_and_keeps_whole_words(text: str, width: int) -> None:
    out = shorten(text, width)
    flat = " ".join(text.split())
    assert len(out) <= width
    assert "\n" not in out
    if out == flat:
        return
    assert out.endswith(ELLIPSIS)
    kept = out.removesuffix(ELLIPSIS)
    assert flat.startswith(kept)
    # cut at a word boundary, unless the text had none in the second half of the room
    room = width - len(ELLIPSIS)
    at_boundary = flat[len(kept)] in " ,;:"
    hard_cut = len(kept) == room and " " not in flat[room // 2 : room + 1]
    assert at_boundary or hard_cut
