"""The refiner's claim ledger: what the panel of drafts agreed on, read back into typed values.

The refiner writes its merged answer in Markdown and then, at the very end, one
``<ledger>{...}</ledger>`` block of JSON naming the drafts by the letters it saw them under
(``A``, ``B``…). Structured outputs would make the whole reply JSON and stop the answer from
streaming as Markdown, so the ledger is a delimited block instead, and it is read as defensively
as the validator's verdict: models wrap JSON in code fences, add trailing commas, write
"Draft A" for ``A``, name drafts that do not exist, or get cut off half-way through the block.

Two rules follow from "nothing is reported that no model said":

- A ledger that is missing, cut off or not a JSON object is ``None``, with the reason in
  ``problems``; it is never guessed at. Within a readable ledger, an item of the wrong shape, a
  label that names no draft, or a claim that no draft holds is dropped, again with a note.
- The ledger never reaches the user's answer: every block, a cut-off fragment and any stray tag
  are cut from ``answer``, while the rest of the text (other code blocks included) is kept.

Pure: no network, no UI. Finding the block in the text is ``ledger_block.py``; what hive
computes from a ledger lives in ``agreement.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hive.consensus.ledger_block import cut_blocks, load_block, untagged_block


@dataclass(frozen=True, slots=True)
class Claim:
    """A key claim, with the drafts that support it and those that contradict it (a draft that
    does not address the claim is in neither)."""

    claim: str
    supported_by: tuple[str, ...]
    contradicted_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """One side of a dispute and the drafts that hold it."""

    position: str
    drafts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dispute:
    """A point the drafts contradicted each other on, and how the synthesis settled it;
    ``resolved`` is False when the answer could not settle it (and says so), None when the
    refiner did not say."""

    claim: str
    positions: tuple[Position, ...]
    resolution: str
    resolved: bool | None


@dataclass(frozen=True, slots=True)
class Unique:
    """A point only one draft made, and whether the answer ``kept`` it (None: not said)."""

    point: str
    draft: str
    kept: bool | None


@dataclass(frozen=True, slots=True)
class Ledger:
    """The refiner's account of the drafts, in draft labels (the panel maps them to models)."""

    claims: tuple[Claim, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    unique: tuple[Unique, ...] = ()
    gaps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LedgerReading:
    """A synthesis split in two: the answer the user reads, and the ledger (None when it could
    not be read; ``problems`` says why, and what was dropped from a ledger that could)."""

    answer: str
    ledger: Ledger | None
    problems: tuple[str, ...] = ()


def label(i: int) -> str:
    """The label of the ``i``-th draft shown (from 0): ``A``…``Z``, then ``AA``, ``AB``…, like
    spreadsheet columns, so a panel of any size gets short, distinct, anonymous names."""
    if i < 0:
        raise ValueError(f"a draft index is never negative: {i}")
    letters = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def labels(n: int) -> tuple[str, ...]:
    """The labels of ``n`` drafts, in the order shown."""
    return tuple(label(i) for i in range(n))


# --- the block ---------------------------------------------------------------------------------

NO_LEDGER = "no ledger in the synthesis"


def parse_ledger(text: str, labels: Sequence[str]) -> LedgerReading:
    """Split the refiner's ``text`` into the answer and its ledger, keeping only the draft
    ``labels`` the refiner was shown. Never raises: whatever is wrong is in ``problems``."""
    blocks = cut_blocks(text)
    if not blocks.bodies and not blocks.cut_off and (untagged := untagged_block(text)):
        blocks = untagged
    failures = []
    for body in reversed(blocks.bodies):
        data, failure = load_block(body)
        failures.append(failure)
        if isinstance(data, dict):
            reader = _Reader(labels)
            ledger = reader.ledger(data)
            if blocks.cut_off:
                reader.note("a later ledger was cut off; the complete one before it is used")
            return LedgerReading(blocks.answer, ledger, reader.problems())
    if blocks.cut_off:
        return LedgerReading(blocks.answer, None, ("the ledger was cut off",))
    # Of several unreadable blocks, the last one (the refiner's final word) says why.
    return LedgerReading(blocks.answer, None, (failures[0] if failures else NO_LEDGER,))


# --- the values inside -------------------------------------------------------------------------

# A label as models write it: "A", "a", "Draft A", "draft-b", "[C]", "(D)", "'E'", "A.".
_LABEL = re.compile(r"""[\s"'\[(<*]*(?:draft[\s_#:.-]*)?([a-z]{1,3})[\s"'\])>*.:,;]*""", re.I)
# Several labels written as one string: "A, C", "A and C", "A/C".
_LABEL_SEPARATOR = re.compile(r"\s*(?:[,;/&+]|\band\b)\s*", re.I)
# What a model writes when it copies the format instead of filling it in ("<text>", "...").
_PLACEHOLDER = re.compile(r"[\W_]*|<[^<>]*>", re.I)
# What a model writes in a list that should simply be empty.
_NOTHING = re.compile(
    r"(?:none|n/?a|nil|null|nothing|no\s+gaps?)(?:\s+(?:found|identified))?\W*", re.I
)


class _Reader:
    """Reads one ledger object, collecting notes on what it had to drop."""

    def __init__(self, labels: Sequence[str]) -> None:
        self._labels = frozenset(labels)
        self._problems: list[str] = []

    def note(self, problem: str) -> None:
        if problem not in self._problems:
            self._problems.append(problem)

    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)

    def ledger(self, data: dict[str, object]) -> Ledger:
        claims = (self._claim(item) for item in self._items(data, "claims"))
        disputes = (self._dispute(item) for item in self._items(data, "disputes"))
        unique = (self._unique(item) for item in self._items(data, "unique"))
        gaps = (self._gap(item) for item in self._items(data, "gaps"))
        return Ledger(
            claims=tuple(c for c in claims if c is not None),
            disputes=tuple(d for d in disputes if d is not None),
            unique=tuple(u for u in unique if u is not None),
            gaps=tuple(g for g in gaps if g is not None),
        )

    def _items(self, data: dict[str, object], key: str) -> list[object]:
        """A top-level list; a lone object or string stands for a list of one."""
        value = data.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, dict | str):
            return [value]
        self.note(f"the ledger's {key} is not a list")
        return []

    def _claim(self, item: object) -> Claim | None:
        if not isinstance(item, dict) or not (text := _text(item.get("claim"))):
            self.note("skipped a malformed claim")
            return None
        supported = self._labels_of(item.get("supported_by"))
        contradicted = self._labels_of(item.get("contradicted_by"))
        if supported is None or contradicted is None:
            self.note("skipped a malformed claim")
            return None
        if both := set(supported) & set(contradicted):
            for x in sorted(both):
                self.note(f"draft {x} both supports and contradicts a claim; it counts for neither")
            supported = tuple(x for x in supported if x not in both)
            contradicted = tuple(x for x in contradicted if x not in both)
        if not supported and not contradicted:
            self.note("skipped a claim that no draft holds")
            return None
        return Claim(text, supported, contradicted)

    def _dispute(self, item: object) -> Dispute | None:
        if not isinstance(item, dict) or not (text := _text(item.get("claim"))):
            self.note("skipped a malformed dispute")
            return None
        raw = item.get("positions")
        raw_positions = [] if raw is None else raw if isinstance(raw, list) else None
        if raw_positions is None:
            self.note("skipped a malformed dispute")
            return None
        positions = tuple(p for p in map(self._position, raw_positions) if p is not None)
        held = [x for p in positions for x in p.drafts]
        if both := {x for x in held if held.count(x) > 1}:
            # A draft on two sides of one dispute holds neither (as for a claim).
            for x in sorted(both):
                self.note(f"draft {x} takes more than one side of a dispute; it counts for none")
            positions = tuple(
                Position(p.position, kept)
                for p in positions
                if (kept := tuple(x for x in p.drafts if x not in both))
            )
        if not positions:
            self.note("skipped a dispute that no draft takes a side in")
            return None
        resolution = item.get("resolution")
        if resolution is not None and not isinstance(resolution, str):
            self.note("a dispute's resolution is not text; it is left out")
        return Dispute(text, positions, _text(resolution), _bool(item.get("resolved")))

    def _position(self, item: object) -> Position | None:
        if not isinstance(item, dict) or not (text := _text(item.get("position"))):
            self.note("skipped a malformed position in a dispute")
            return None
        drafts = self._labels_of(item.get("drafts"))
        if drafts is None:
            self.note("skipped a malformed position in a dispute")
            return None
        if not drafts:
            self.note("skipped a position that no draft holds")
            return None
        return Position(text, drafts)

    def _unique(self, item: object) -> Unique | None:
        if not isinstance(item, dict) or not (text := _text(item.get("point"))):
            self.note("skipped a malformed unique point")
            return None
        raw = item.get("draft")
        if isinstance(raw, list) and len(raw) == 1:  # ["B"] for "B"
            raw = raw[0]
        draft = self._label(raw) if isinstance(raw, str) else None
        if draft is None:
            if not isinstance(raw, str):
                self.note("skipped a unique point that names no draft")
            return None
        return Unique(text, draft, _bool(item.get("kept")))

    def _gap(self, item: object) -> str | None:
        if not isinstance(item, str):
            self.note("skipped a gap that is not text")
            return None
        text = _text(item)
        return text if text and not _NOTHING.fullmatch(text) else None

    def _labels_of(self, value: object) -> tuple[str, ...] | None:
        """The known labels in a list (None: not a list of labels). A missing list is empty; a
        string is read as labels separated by commas or "and"; each label counts once."""
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return None
        found: list[str] = []
        for item in value:
            if not isinstance(item, str):
                self.note(f"the ledger names a draft as {_quote(item)}, which is not a label")
                continue
            for raw in _LABEL_SEPARATOR.split(item):
                if raw.strip() and (known := self._label(raw)) is not None and known not in found:
                    found.append(known)
        return tuple(found)

    def _label(self, raw: str) -> str | None:
        """The label ``raw`` means, if it is one of the drafts shown; else None, with a note."""
        match = _LABEL.fullmatch(raw)
        if match is None:
            self.note(f"the ledger names a draft as {_quote(raw)}, which is not a label")
            return None
        name = match.group(1).upper()
        if name not in self._labels:
            self.note(f"the ledger names draft {name}, which does not exist")
            return None
        return name


def _text(value: object) -> str:
    """A text field, stripped; "" when it is not text or only a copied placeholder."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    return "" if _PLACEHOLDER.fullmatch(text) else text


def _quote(value: object) -> str:
    """A value from the ledger, short enough for a one-line warning."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # pragma: no cover - values come from json.loads
        shown = "?"
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
