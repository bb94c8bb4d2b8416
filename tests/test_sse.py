"""SSEDecoder: line endings, fields, comments, end of stream, and split-invariance.

The real OpenRouter captures live in the shared fixtures folder; tests that need them skip
cleanly when it is absent.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive.openrouter.sse import Comment, Event, SSEDecoder
from tests.conftest import fixture_path

CAPTURES = [
    "stream_chat_basic.txt",
    "stream_chat_midstream_error.txt",
    "stream_chat_reasoning.txt",
    "stream_chat_tool_calls.txt",
    "stream_chat_web_search_2026.txt",
]
DOCUMENTED = [
    "stream_midstream_error_documented.txt",
    "stream_midstream_error_typed_documented.txt",
]
ENDINGS = ["\n", "\r\n", "\r"]


def decode(*chunks: bytes) -> list[Event | Comment]:
    decoder = SSEDecoder()
    out: list[Event | Comment] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def split_at(raw: bytes, cuts: set[int]) -> list[bytes]:
    """``raw`` cut at each (distinct, in-range) index: never an empty piece."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(raw)), len(raw)]
    return [raw[a:b] for a, b in pairwise(bounds) if b > a]


# --- line endings ---------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ENDINGS, ids=["LF", "CRLF", "CR"])
def test_each_line_ending_terminates_lines_and_events(eol: str) -> None:
    raw = f": keep-alive{eol}{eol}data: one{eol}{eol}data: two{eol}data: 2b{eol}{eol}".encode()
    assert decode(raw) == [Comment("keep-alive"), Event("one"), Event("two\n2b")]


def test_crlf_split_across_two_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # If the LF were taken as a second line end it would be a blank line and dispatch "a" alone.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [Event("a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.close() == []


def test_lone_cr_at_end_of_feed_followed_by_other_text_is_a_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\rdata: b\r\r") == [Event("a"), Event("b")]


def test_cr_then_lf_in_a_later_feed_after_an_unrelated_feed_is_not_swallowed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"x") == []  # the pending CR was a lone CR after all
    # this LF ends the line "x" (an unknown field) and must not be dropped
    assert decoder.feed(b"\n\n") == [Event("a")]


def test_empty_feed_between_cr_and_lf_changes_nothing() -> None:
    whole = b"data: a\r\ndata: b\r\n\r\n"
    assert decode(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == decode(whole) == [Event("a\nb")]


def test_empty_feed_is_a_no_op_elsewhere() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == [Event("x")]


# --- fields -----------------------------------------------------------------------------------


def test_multiline_data_is_joined_with_newlines() -> None:
    raw = b"data: first\ndata:\ndata: third\n\n"
    assert decode(raw) == [Event("first\n\nthird")]


def test_event_and_id_fields() -> None:
    raw = b"event: update\nid: 42\ndata: x\n\ndata: y\n\nid: 7\nevent: done\ndata: z\n\n"
    assert decode(raw) == [
        Event("x", "update", "42"),
        # the event type resets after dispatch; the last event id persists (spec)
        Event("y", "message", "42"),
        Event("z", "done", "7"),
    ]


def test_id_containing_nul_is_ignored() -> None:
    assert decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [
        Event("a", "message", "1"),
        Event("b", "message", "1"),
    ]


def test_event_type_without_data_is_discarded_by_the_blank_line() -> None:
    assert decode(b"event: ping\n\ndata: x\n\n") == [Event("x", "message")]


def test_unknown_fields_and_field_without_colon() -> None:
    # "retry" and "foo" are ignored; a bare "data" line is a data line with an empty value
    raw = b"retry: 1000\nfoo: bar\ndata\ndata\n\n"
    assert decode(raw) == [Event("\n")]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    raw = b"data:no-space\n\ndata: one-space\n\ndata:  two-spaces\n\ndata:   \n\n"
    assert [e.data for e in decode(raw) if isinstance(e, Event)] == [
        "no-space",
        "one-space",
        " two-spaces",
        "  ",
    ]


def test_value_keeps_further_colons() -> None:
    assert decode(b'data: {"a": "b:c"}\n\n') == [Event('{"a": "b:c"}')]


# --- comments and end of stream ------------------------------------------------------------


def test_openrouter_keep_alive_comment() -> None:
    assert decode(b": OPENROUTER PROCESSING\n\n") == [Comment("OPENROUTER PROCESSING")]


def test_comment_does_not_interrupt_an_event() -> None:
    assert decode(b"data: a\n: ping\ndata: b\n\n") == [Comment("ping"), Event("a\nb")]


def test_trailing_event_without_blank_line_is_dropped_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: unfinished\n") == [Event("complete")]
    assert decoder.close() == []


def test_trailing_unterminated_data_line_is_dropped_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: unfinished") == []
    assert decoder.close() == []


def test_trailing_unterminated_comment_is_kept_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\n: still alive") == [Event("x")]
    assert decoder.close() == [Comment("still alive")]


def test_utf8_character_cut_across_feeds_is_reassembled() -> None:
    raw = "data: héllo 世界 😀\n\n".encode()
    assert decode(*[raw[i : i + 1] for i in range(len(raw))]) == [Event("héllo 世界 😀")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b"data: \xff\xfe ok\n\n") == [Event("\ufffd\ufffd ok")]


# --- the real captures ------------------------------------------------------------------------


def _expected_from_text(text: str) -> tuple[int, list[str]]:
    """Comments and data payloads counted straight from the file text, not via the decoder."""
    lines = text.split("\n")
    comments = sum(1 for line in lines if line.startswith(": "))
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    # every capture has one data line per event, each followed by a blank line
    assert all(
        lines[i + 1] == "" for i, line in enumerate(lines) if line.startswith(("data: ", ": "))
    )
    return comments, data


@pytest.mark.parametrize("name", CAPTURES + DOCUMENTED)
def test_capture_decodes_to_every_comment_and_data_event(name: str) -> None:
    text = fixture_path(name).read_text(encoding="utf-8")
    n_comments, payloads = _expected_from_text(text)
    assert payloads, "a capture with no data lines would make this test vacuous"
    items = decode(text.encode())
    comments = [i for i in items if isinstance(i, Comment)]
    events = [i for i in items if isinstance(i, Event)]
    assert len(comments) == n_comments
    assert all(c.text == "OPENROUTER PROCESSING" for c in comments)
    assert [e.data for e in events] == payloads
    assert all(e.event == "message" and e.id is None for e in events)
    if name in CAPTURES:
        assert payloads[-1] == "[DONE]"


def test_capture_comment_counts_match_sources_md() -> None:
    """SOURCES.md says basic has 1 keep-alive and the mid-stream error capture has 17."""
    basic = decode(fixture_path("stream_chat_basic.txt").read_bytes())
    midstream = decode(fixture_path("stream_chat_midstream_error.txt").read_bytes())
    assert sum(isinstance(i, Comment) for i in basic) == 1
    assert sum(isinstance(i, Comment) for i in midstream) == 17


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_fed_one_byte_at_a_time(name: str) -> None:
    raw = fixture_path(name).read_bytes()
    assert decode(*[raw[i : i + 1] for i in range(len(raw))]) == decode(raw)


@pytest.mark.parametrize("name", CAPTURES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_capture_split_anywhere_with_any_line_ending(name: str, data: st.DataObject) -> None:
    text = fixture_path(name).read_text(encoding="utf-8")
    _, payloads = _expected_from_text(text)
    eol = data.draw(st.sampled_from(ENDINGS), label="eol")
    raw = text.replace("\n", eol).encode()
    cuts = data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=60), label="cuts")
    whole = decode(raw)
    assert decode(*split_at(raw, cuts)) == whole
    assert [e.data for e in whole if isinstance(e, Event)] == payloads


# --- generated streams ------------------------------------------------------------------------

_LINE_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
_EXOTIC = '日本語の漢字한국어😀🎉👍🏽🇺🇳é\u00a0\u200b\u2028:{}" \t'
_LINE_TEXT = st.one_of(
    st.text(_LINE_CHARS, max_size=20),
    st.text(st.sampled_from(_EXOTIC), max_size=20),
)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[str, list[Event | Comment]]:
    """A valid event stream and the items it must decode to."""
    eol = draw(st.sampled_from(ENDINGS))
    parts: list[str] = []
    expected: list[Event | Comment] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            text = draw(_LINE_TEXT).strip()
            parts.append(f": {text}{eol}")
            expected.append(Comment(text))
            continue
        event = draw(st.none() | _LINE_TEXT)
        new_id = draw(st.none() | _LINE_TEXT)
        lines = draw(st.lists(_LINE_TEXT, min_size=1, max_size=4))
        if event is not None:
            parts.append(f"event: {event}{eol}")
        if new_id is not None:
            parts.append(f"id: {new_id}{eol}")
            if "\0" not in new_id:
                last_id = new_id
        parts.extend(f"data: {line}{eol}" for line in lines)
        parts.append(eol)
        expected.append(Event("\n".join(lines), event or "message", last_id))
    return "".join(parts), expected


@settings(max_examples=200, deadline=None)
@given(stream=_streams(), data=st.data())
def test_generated_stream_split_anywhere_decodes_to_the_originals(
    stream: tuple[str, list[Event | Comment]], data: st.DataObject
) -> None:
    text, expected = stream
    raw = text.encode("utf-8")
    cuts = data.draw(st.sets(st.integers(0, len(raw)), max_size=40), label="cuts")
    assert decode(raw) == expected
    assert decode(*split_at(raw, cuts)) == expected


@settings(max_examples=50, deadline=None)
@given(stream=_streams())
def test_generated_stream_fed_byte_by_byte(stream: tuple[str, list[Event | Comment]]) -> None:
    text, expected = stream
    raw = text.encode("utf-8")
    assert decode(*[raw[i : i + 1] for i in range(len(raw))]) == expected


_GARBAGE = st.one_of(
    st.binary(max_size=2000),
    # biased towards the bytes the decoder cares about
    st.lists(
        st.sampled_from([b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"id", b"event", b"\x00"])
        | st.binary(max_size=8),
        max_size=200,
    ).map(b"".join),
)


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=None)
@given(raw=_GARBAGE, data=st.data())
def test_garbage_never_raises_and_splitting_never_matters(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.sets(st.integers(0, len(raw)), max_size=30), label="cuts")
    whole = decode(raw)  # must not raise
    assert all(isinstance(item, Event | Comment) for item in whole)
    assert decode(*split_at(raw, cuts)) == whole


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=30))
def test_garbage_chunks_including_empty_ones_never_raise(chunks: list[bytes]) -> None:
    decoder = SSEDecoder()
    for chunk in chunks:
        assert isinstance(decoder.feed(chunk), list)
    closed = decoder.close()
    assert isinstance(closed, list)
    assert all(isinstance(item, Comment) for item in closed)  # close never dispatches events
