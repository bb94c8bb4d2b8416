"""The "Agreement" section every view shows after the answer: how much the models agreed,
where they disagreed and who held which position (the minority too, even when the answer
rejected it), what only one model said, what none covered, and the validator's issues.

It reads the ``consensus`` object as ``--json`` and history hold it (model ids, not labels), so
the live view, plain output and ``hive history show`` say exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hive.ui.format import confidence as confidence_text


def _models(models: Sequence[str]) -> str:
    return ", ".join(models) if models else "no draft"


def _a_dispute(claim: Mapping[str, Any], disputes: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a contradicted claim is listed as a dispute too (same text): said once."""
    return any(dispute["claim"] == claim["claim"] for dispute in disputes)


def agreement_lines(
    consensus: Mapping[str, Any] | None, confidence: float | None, issues: Sequence[str]
) -> list[str]:
    """Plain lines (no markup); empty when the run never reached its synthesis."""
    if consensus is None:
        return []
    panel = consensus.get("panel") or []
    agreement = consensus.get("agreement")
    if agreement is None:
        why = "; ".join(consensus.get("problems") or []) or "not measured"
        head = f"Agreement: unknown ({why})"
    else:
        head = f"Agreement: {agreement:.2f} across {len(panel)} drafts"
    lines = [f"{head} · validator's confidence {confidence_text(confidence)}"]
    disputes = consensus.get("disputes") or []
    if disputes:
        lines.append("Disputed:")
    for dispute in disputes:
        lines.append(f"  • {dispute['claim']}")
        positions = sorted(dispute.get("positions") or [], key=lambda p: -len(p["models"]))
        most = max((len(p["models"]) for p in positions), default=0)
        for position in positions:
            minority = " (minority)" if len(position["models"]) < most else ""
            lines.append(f"      {position['position']!r}: {_models(position['models'])}{minority}")
        outcome = dispute.get("resolution") or "no resolution given"
        state = {True: "refiner resolved", False: "unresolved"}.get(
            dispute.get("resolved"), "refiner's resolution (not said whether settled)"
        )
        lines.append(f"      {state}: {outcome}")
    contested = [
        c for c in consensus.get("claims") or []
        if c.get("contradicted_by") and not _a_dispute(c, disputes)
    ]  # fmt: skip
    for claim in contested:
        lines.append(
            f"  • {claim['claim']}: held by {_models(claim['supported_by'])}; "
            f"contradicted by {_models(claim['contradicted_by'])}"
        )
    for point in consensus.get("unique") or []:
        kept = {True: "kept", False: "dropped"}.get(point.get("kept"), "kept?")
        lines.append(f"Only {point['model']}: {point['point']} ({kept})")
    for gap in consensus.get("gaps") or []:
        lines.append(f"No draft covered: {gap}")
    if issues:
        lines.append("Validator's issues:")
        lines += [f"  - {issue}" for issue in issues]
    return lines
