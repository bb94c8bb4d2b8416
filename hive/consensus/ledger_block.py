"""Finding the refiner's ledger block in its text, and cutting it out of the answer.

The ledger is meant to be one ``<ledger>{...}</ledger>`` block at the end; models also fence it,
repeat it, get cut off inside it (or inside its opening tag), or write it untagged as a fenced
JSON object. This module finds every block, says whether the text was cut off in one, and
returns the answer with all of it removed; ``ledger.py`` reads the values inside.

Pure: no network, no UI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_OPEN = re.compile(r"<\s*ledger\b[^<>]*>", re.I)
_CLOSE = re.compile(r"<\s*/\s*ledger\s*>", re.I)
# A stream cut off inside the opening tag itself ("…answer.\n\n<led"): the start of a ledger.
_PARTIAL_OPEN = re.compile(
    r"(?:(?<=\s)|\A)<\s*(?:l(?:e(?:d(?:g(?:e(?:r\b[^<>]*)?)?)?)?)?)?\s*\Z", re.I
)
# A fence a model put around the whole tagged block (```xml <ledger>…</ledger> ```).
_FENCE_BEFORE = re.compile(r"```[\w-]*[ \t]*\n?[ \t]*\Z")
_FENCE_AFTER = re.compile(r"\A[ \t]*\n?[ \t]*```[ \t]*(?=\n|\Z)")
# An untagged ledger: a fenced JSON object that ends the text (as the verdict is also found).
_FENCE_OPEN = re.compile(r"```(?:json)?[ \t]*\n", re.I)
_FENCED_TO_END = re.compile(r"(\{.*\})\s*```\s*\Z", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_LEDGER_KEYS = frozenset({"claims", "disputes", "unique", "gaps"})


@dataclass(frozen=True, slots=True)
class Blocks:
    answer: str  # the text without any ledger block, fragment or tag
    bodies: tuple[str, ...]  # each complete block's content, in order
    cut_off: bool  # an opening tag with no closing tag (or a cut-off opening tag) ends the text


def cut_blocks(text: str) -> Blocks:
    """Every ``<ledger>…</ledger>`` block cut out of ``text``: a block runs from an opening tag
    to the next closing tag (its content starts after the last opening tag before that), and an
    opening tag with no closing tag cuts off the rest of the text."""
    pieces: list[str] = []
    bodies: list[str] = []
    cut_off = False
    pos = 0
    while opening := _OPEN.search(text, pos):
        closing = _CLOSE.search(text, opening.end())
        if closing is None:
            pieces.append(text[pos : opening.start()])
            pos = len(text)
            cut_off = True
            break
        inner = list(_OPEN.finditer(text, opening.end(), closing.start()))
        bodies.append(text[inner[-1].end() if inner else opening.end() : closing.start()])
        start, end = opening.start(), closing.end()
        before = _FENCE_BEFORE.search(text, pos, start)
        after = _FENCE_AFTER.match(text[end:])
        if before and after:  # the fence was only there to hold the block: it goes too
            start, end = before.start(), end + after.end()
        pieces.append(text[pos:start])
        pos = end
    pieces.append(text[pos:])
    answer = "".join(pieces)
    if partial := _PARTIAL_OPEN.search(answer):
        answer = answer[: partial.start()]
        cut_off = True
    # Stray tags go too; cutting one out may join two halves into a new tag, so repeat.
    while True:
        cleaned = _CLOSE.sub("", _OPEN.sub("", answer))
        if cleaned == answer:
            break
        answer = cleaned
    return Blocks(answer.strip(), tuple(bodies), cut_off)


def untagged_block(text: str) -> Blocks | None:
    """A ledger the model wrote without its tags: only a fenced JSON object that ends the text
    and has nothing but ledger keys (with claims or disputes) counts, so that JSON which is part
    of an answer stays in it."""
    for fence in reversed(list(_FENCE_OPEN.finditer(text))):
        if match := _FENCED_TO_END.match(text, fence.end()):
            data, _ = load_block(match.group(1))
            if not isinstance(data, dict) or not data.keys() <= _LEDGER_KEYS:
                return None
            if not {"claims", "disputes"} & data.keys():
                return None
            return Blocks(text[: fence.start()].strip(), (match.group(1),), False)
    return None


def load_block(body: str) -> tuple[object, str]:
    """The block's JSON (any type) and, when there is none, why."""
    raw = body.strip()
    if raw.startswith("```"):  # ```json … ``` (or a fence the stream never closed)
        raw = raw.split("\n", 1)[1] if "\n" in raw else raw.lstrip("`").removeprefix("json")
        raw = raw.strip().removesuffix("```").strip()
    candidates = [raw]
    if (first := raw.find("{")) > 0 and (last := raw.rfind("}")) > first:
        candidates.append(raw[first : last + 1])  # prose around the object
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                data = json.loads(variant)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict):
                return data, ""
            return data, "the ledger is not a JSON object"
    return None, "the ledger is not valid JSON"
