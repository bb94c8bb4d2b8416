"""Shortening text for one-line messages without cutting a word in half.

Error messages and warnings quote what a server sent (a body, a stream line, a provider's own
message); the quote is bounded so a line stays a line, and cut where a reader expects a cut:
at a word boundary, marked with an ellipsis.
"""

from __future__ import annotations

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters: whitespace runs become one space, and
    a longer text is cut at the last word boundary that fits, followed by ``…``. A text with no
    boundary in the second half of ``width`` (a long token, a base64 blob) is cut between
    characters instead, so the quote still says something."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    if width <= len(ELLIPSIS):
        return ELLIPSIS[:width]
    room = width - len(ELLIPSIS)
    cut = text.rfind(" ", 0, room + 1)
    if cut < room // 2:
        cut = room  # no word boundary worth keeping: cut the long token itself
    return text[:cut].rstrip(" ,;:") + ELLIPSIS
