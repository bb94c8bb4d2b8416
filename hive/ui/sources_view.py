"""The web pages a run's models cited, listed under the answer (live and plain views).

They come from OpenRouter's ``url_citation`` annotations on the calls that searched the web
(``--web`` or a stage's ``web`` table); nothing is listed when no call searched or none cited.
Titles and urls are model-side text: the views pass them through ``terminal_safe``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hive.text import shorten

TITLE_WIDTH = 70


def source_lines(sources: Sequence[tuple[str, str | None]]) -> list[str]:
    """A heading and one numbered line per page: ``  1. Title — url`` (the url alone when the
    server gave no title); no lines at all without sources."""
    if not sources:
        return []
    lines = [f"sources ({len(sources)} web page{'s' if len(sources) != 1 else ''} cited):"]
    for n, (url, title) in enumerate(sources, start=1):
        named = f"{shorten(title, TITLE_WIDTH)} — " if title else ""
        lines.append(f"  {n}. {named}{url}")
    return lines
