"""``--detailed``: each call's work, readable. A draft as written; a refine's answer without
its ledger (the agreement section shows that); a review as its confidence and a list of its
issues, then its prose; the final answer once, at the end, not again in its stage.
Shared by the live and plain views, so both say the same."""

from __future__ import annotations

from dataclasses import dataclass

from hive.consensus.events import CallRecord, ConsensusResult
from hive.consensus.ledger import parse_ledger
from hive.consensus.stages import parse_verdict
from hive.ui import format as fmt

FINAL = "(the final answer, shown below)"


@dataclass(frozen=True, slots=True)
class Section:
    title: str  # stage · model · tokens · reasoning, searches (when reported) · cost · time
    body: str  # Markdown
    ok: bool = True


def sections(result: ConsensusResult) -> list[Section]:
    final = result.answer.strip()
    return [_section(record, final) for record in result.calls]


def _section(record: CallRecord, final: str) -> Section:
    model = record.model
    if record.model_used and record.model_used != record.model:
        model = f"{record.model} → {record.model_used}"
    tokens = f"{fmt.count(record.prompt_tokens)}+{fmt.count(record.completion_tokens)} tokens"
    # Reasoning tokens are part of the output tokens; searches add a fee to the cost.
    extra = [] if record.reasoning_tokens is None else [f"{record.reasoning_tokens:,} reasoning"]
    if record.web_searches:
        extra.append(f"{record.web_searches} web search{'es' if record.web_searches != 1 else ''}")
    title = " · ".join(
        [f"{record.stage} #{record.index + 1}" if record.stage == "generate" else record.stage,
         model, tokens, *extra, fmt.call_cost(record), fmt.seconds(record.latency_ms)]
    )  # fmt: skip
    return Section(title, _body(record, final), record.ok)


def _body(record: CallRecord, final: str) -> str:
    text = record.content.strip()
    error = f"**{record.error}**\n\n" if record.error else ""
    if not text:
        return error + "(no output)"
    if record.ok and text == final:
        return error + FINAL
    if record.stage == "refine":
        answer = parse_ledger(text, ()).answer.strip()
        if record.ok and answer == final:
            return error + FINAL
        return error + (answer or "(only a ledger)")
    if record.stage == "validate":
        return error + _review(text)
    return error + text


def _review(text: str) -> str:
    verdict = parse_verdict(text)
    if not verdict.found:
        return text + "\n\n*(no verdict found)*"
    lines = [f"**confidence {fmt.confidence(verdict.confidence)}**", ""]
    if verdict.issues:
        lines += ["issues:", *(f"- {issue}" for issue in verdict.issues)]
    else:
        lines.append("no issues")
    if verdict.review:
        lines += ["", verdict.review]
    return "\n".join(lines)
