"""Shortening text for one-line messages without cutting a word in half.

Error messages and warnings quote what a server sent (a body, a stream line, a provider's own
message); the quote is bounded so a line stays a line, and cut where a reader expects a cut:
at a word boundary, marked with an ellipsis.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
# C0 controls but tab and newline, DEL, and C1 controls: ESC among them. Model text written to
# a terminal with these could move the cursor, leave the screen, or set the clipboard (OSC 52).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with every control character but tab and newline removed (``\r\n`` reads
    as ``\n``): what a model wrote is shown, never obeyed, by the terminal."""
    return _CONTROLS.sub("", text)


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
