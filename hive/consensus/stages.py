"""What each stage sends, and how the validator's verdict is read back (the refiner's claim
ledger is read by ``ledger.py``).

The refiner sees the drafts under letters (``A``, ``B``…), in the order the pipeline shuffled
them into: no model names, no first-listed favourite. The validator and the curator see the
points the drafts disputed, with how many drafts held each position (never which models), so
the review checks those first and the final answer does not settle a real dispute silently.

The verdict is parsed defensively: models wrap JSON in code fences, add trailing commas, or
forget it entirely. A confidence is reported only if the model really gave one in [0, 1] (or a
percentage it wrote as such); otherwise it is ``None`` — hive never invents a number.

Models also copy the format they were shown. Placeholder issues (``"..."``, ``"issue 1"``,
``"<problem>"``, ``"none"``) are not issues and are dropped; a block that holds nothing but
placeholders, with no confidence or the ``0.0`` an example would show, is a copied example, not
a verdict (``found`` is False, so the run says it has no verdict).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from hive.consensus.context import NO_CONTEXT, Context
from hive.consensus.prompts import REVISE, VERDICT_TAG, system_prompt

if TYPE_CHECKING:
    from hive.consensus.ledger import Dispute, Ledger

Messages = list[dict[str, str]]


def _messages(stage: str, today: date, user: str, context: Context) -> Messages:
    """One system message (the run's shared context, then the stage's job: ``context.py``),
    the earlier turns, then the stage's material as the last user message."""
    return context.messages(system_prompt(stage, today), user)


def generate_messages(question: str, today: date, context: Context = NO_CONTEXT) -> Messages:
    return _messages("generate", today, question, context)


def refine_messages(
    question: str,
    drafts: Sequence[tuple[str, str]],
    today: date,
    context: Context = NO_CONTEXT,
) -> Messages:
    """``drafts``: ``(label, text)`` pairs in the order the refiner is to see them."""
    body = "\n\n".join(f'<draft id="{label}">\n{text}\n</draft>' for label, text in drafts)
    user = f"<question>\n{question}\n</question>\n\n{body}"
    return _messages("refine", today, user, context)


def revise_messages(
    question: str,
    drafts: Sequence[tuple[str, str]],
    previous: str,
    verdict: Verdict,
    today: date,
    disputes: Sequence[Dispute] = (),
    context: Context = NO_CONTEXT,
) -> Messages:
    """Another round's refine: the same drafts under the same labels, the previous answer,
    the reviewer's findings and the disputes, so the revision addresses each."""
    messages = refine_messages(question, drafts, today, context)
    messages[0]["content"] += REVISE
    user = (
        f"{messages[-1]['content']}\n\n<previous_answer>\n{previous}\n</previous_answer>\n\n"
        f"<review>\n{_findings(verdict)}\n</review>"
    )
    if block := disputes_block(disputes):
        user += "\n\n" + block
    messages[-1]["content"] = user
    return messages


def _findings(verdict: Verdict) -> str:
    findings = verdict.review.strip() or "The reviewer gave no findings."
    if verdict.issues:
        findings += "\n\nIssues listed by the reviewer:\n" + "\n".join(
            f"- {issue}" for issue in verdict.issues
        )
    return findings


def disputes_block(disputes: Sequence[Dispute]) -> str:
    """The disputed points for the validator and the curator: each position with how many
    drafts held it (anonymous), and how the refined answer resolved it; "" when none."""
    if not disputes:
        return ""
    lines = []
    for dispute in disputes:
        held = "; ".join(
            f'"{p.position}" (held by {len(p.drafts)} draft{"s" if len(p.drafts) != 1 else ""})'
            for p in dispute.positions
        )
        outcome = dispute.resolution or "no resolution given"
        if dispute.resolved is False:
            outcome += " [UNRESOLVED]"
        lines.append(f"- {dispute.claim}: {held}. Refined answer: {outcome}")
    return "<disputed>\n" + "\n".join(lines) + "\n</disputed>"


def contested(ledger: Ledger | None) -> tuple[Dispute, ...]:
    """Every point the drafts contradicted each other on: the ledger's disputes, and each
    claim some drafts contradicted that it did not also list as a dispute (as a two-sided
    dispute with no resolution given)."""
    if ledger is None:
        return ()
    from hive.consensus.ledger import Dispute, Position

    listed = {d.claim for d in ledger.disputes}
    extra = tuple(
        Dispute(
            c.claim,
            (Position("it holds", c.supported_by), Position("it does not", c.contradicted_by)),
            "",
            None,
        )
        for c in ledger.claims
        if c.contradicted_by and c.supported_by and c.claim not in listed
    )
    return (*ledger.disputes, *extra)


def validate_messages(
    question: str,
    answer: str,
    today: date,
    disputes: Sequence[Dispute] = (),
    context: Context = NO_CONTEXT,
) -> Messages:
    user = f"<question>\n{question}\n</question>\n\n<answer>\n{answer}\n</answer>"
    if block := disputes_block(disputes):
        user += "\n\n" + block
    return _messages("validate", today, user, context)


def curate_messages(
    question: str,
    answer: str,
    verdict: Verdict,
    today: date,
    disputes: Sequence[Dispute] = (),
    context: Context = NO_CONTEXT,
) -> Messages:
    user = (
        f"<question>\n{question}\n</question>\n\n<answer>\n{answer}\n</answer>\n\n"
        f"<review>\n{_findings(verdict)}\n</review>"
    )
    if block := disputes_block(disputes):
        user += "\n\n" + block
    return _messages("curate", today, user, context)


@dataclass(frozen=True, slots=True)
class Verdict:
    confidence: float | None
    issues: list[str] = field(default_factory=list)
    review: str = ""  # the reviewer's prose, verdict block removed
    found: bool = False  # whether a parsable verdict was present at all


_TAGGED = re.compile(rf"<{VERDICT_TAG}>\s*(.*?)\s*</{VERDICT_TAG}>", re.S | re.I)
_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_verdict(text: str) -> Verdict:
    for pattern in (_TAGGED, _FENCED):
        verdicts = [m for m in pattern.finditer(text) if _verdict_data(m) is not None]
        if verdicts:
            data = _verdict_data(verdicts[-1]) or {}
            # Every verdict block leaves the review; other code blocks stay.
            review = text
            for match in reversed(verdicts):
                review = review[: match.start()] + review[match.end() :]
            confidence = _confidence(data.get("confidence"))
            issues = _issues(data.get("issues"))
            if _copied_example(confidence, data.get("issues"), issues):
                return Verdict(None, [], review.strip(), False)
            return Verdict(confidence, issues, review.strip(), True)
    return Verdict(None, [], text.strip(), False)


def _copied_example(confidence: float | None, raw_issues: object, issues: list[str]) -> bool:
    """The prompt's format echoed back: only template placeholders for issues, and no real
    confidence (none, or the zero an example shows). ``{"confidence": 0.0, "issues": []}`` is
    a (harsh) real verdict; ``{"confidence": 0.0, "issues": ["..."]}`` is the example."""
    if confidence not in (None, 0.0) or issues or not isinstance(raw_issues, list):
        return False
    return any(_TEMPLATE.fullmatch(_issue_text(item)) for item in raw_issues)


def _verdict_data(match: re.Match[str]) -> dict[str, object] | None:
    data = _loads(match.group(1))
    return data if data is not None and {"confidence", "issues"} & data.keys() else None


def _loads(raw: str) -> dict[str, object] | None:
    raw = raw.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    for candidate in (raw, _TRAILING_COMMA.sub(r"\1", raw)):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    return None


def _confidence(value: object) -> float | None:
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                return _in_unit(float(text[:-1]) / 100)
            except ValueError:
                return None
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return _in_unit(float(value))


def _in_unit(value: float) -> float | None:
    return value if 0.0 <= value <= 1.0 else None


# What a model writes when it copies a format instead of filling it in.
_TEMPLATE = re.compile(
    r"""
    [\W_]*                          # "...", "…", "-", "" and other bare marks
    | <[^<>]*>                       # "<one string per problem>"
    | (?:issue|problem|finding|error|string|text|description|todo)s?\s*\#?\s*\d*\W*
    | (?:first|second|third|another|an?)\s+(?:issue|problem|finding)\W*
    """,
    re.I | re.X,
)
# What a model writes for "no issues" in a list that should simply be empty.
_NO_ISSUE = re.compile(
    r"(?:none|n/?a|nil|null|no(?:ne)?\s+(?:issues?|problems?)(?:\s+found)?)\W*", re.I
)


def _issue_text(item: object) -> str:
    if isinstance(item, dict):
        item = item.get("description") or item.get("issue") or json.dumps(item)
    return str(item).strip()


def _issues(value: object) -> list[str]:
    """The issues a reviewer really listed: placeholders and "none" are not issues."""
    if not isinstance(value, list):
        return []
    texts = (_issue_text(item) for item in value)
    return [t for t in texts if t and not _TEMPLATE.fullmatch(t) and not _NO_ISSUE.fullmatch(t)]
