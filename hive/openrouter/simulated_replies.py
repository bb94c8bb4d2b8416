"""What the simulator's models write: a deterministic draft, synthesis (with its ledger), review
or polish for each request, read from the stage's prompt. The text says plainly that no model
was asked; the same request always gets the same reply. ``simulator.py`` streams it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from hive.text import shorten

_QUESTION = re.compile(r"<question>\s*(.*?)\s*</question>", re.S)
_ANGLES = (
    "the core definition and why it matters",
    "a concrete example a reader can try",
    "the trade-offs and when another choice is better",
    "common mistakes and how to avoid them",
    "what has changed recently and what to double-check",
    "how it compares with the closest alternatives",
)

# --- the consensus stages' replies ---------------------------------------------------------------
# The stage is read from the system prompt, as a model would: generate asks for "one of several
# independent experts", refine asks for a <ledger> block, validate for a <verdict> block. The
# openrouter layer does not import hive.consensus, so the markers are spelt out here (the tests
# build requests with hive's own prompts, so a reworded prompt shows up there).
_GENERATE_MARK = "one of several independent experts"
_JOB = "Your job in this step:"  # where a stage's job begins after a shared context
_LEDGER = re.compile(r"<ledger>")
_VERDICT = re.compile(r"<(verdict)>")
# Changing the salt reshuffles every simulated position. With this one the README's example
# question, "What is Rust?", splits 2-1 in each built-in three-generator profile (balanced,
# quality, free; tests/test_simulator_consensus.py checks it); any salt splits about three
# questions in four.
_SALT = "hive-simulator-v1"
# Contested points: a topic and its two positions (no ": " in a topic: the line is parsed back).
_CONTESTS = (
    (
        "how much detail a first answer needs",
        "a short overview is enough to start",
        "a worked example is needed from the start",
    ),
    (
        "whether the essentials are stable",
        "the essentials have been stable for years",
        "important details changed recently",
    ),
    (
        "the best place to start",
        "the official documentation",
        "a hands-on tutorial",
    ),
    (
        "what matters most when choosing",
        "getting started quickly",
        "long-term maintainability",
    ),
)
_EXTRAS = (
    "a pitfall beginners often hit",
    "a performance consideration",
    "a security consideration",
    "how to test or verify the result",
    "a rule of thumb for choosing",
    "which tools help",
)
_GAPS = (
    "simulated: no draft cites a source a reader could check",
    "simulated: no draft says which versions or dates the answer applies to",
    "simulated: no draft covers edge cases at scale",
)
_CLAIM_LINE = re.compile(r"^- Simulated claim: (.+?)\.?$", re.M)
_POSITION_LINE = re.compile(r"^- Simulated position on (.+?): (.+?)\.?$", re.M)
_EXTRA_LINE = re.compile(r"^- Simulated extra point: (.+?)\.?$", re.M)
_DRAFT = re.compile(r'<draft id="([^"<>]+)">\s*(.*?)\s*</draft>', re.S)


def _question(messages: list[dict[str, Any]]) -> str:
    user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = str(user.get("content", ""))
    found = _QUESTION.search(content)
    return (found.group(1) if found else content).strip()


def _hash(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join((_SALT, *parts)).encode()).digest()


def _header(model: str, question: str) -> list[str]:
    short_q = shorten(question, 160)
    return [
        f"**Simulated reply** from `{model}`: no model was asked. hive is in simulation mode "
        "(no API key set, or --simulate), so a built-in simulator of OpenRouter's streaming "
        "API answered.",
        "",
        f"> {short_q}" if short_q else "> (empty question)",
        "",
    ]


_FOOTER = (
    "Everything else you see (streaming, stages, token counts and costs priced from the "
    "model's real per-token rates) works exactly as in a real run."
)


def reply_text(body: dict[str, Any]) -> str:
    """The deterministic simulated reply to a chat request body.

    Every reply says plainly that it is simulated and no model was asked. So that simulation
    mode shows hive's consensus at work, the generate and refine stages get replies shaped like
    theirs (``_draft``, ``_synthesis``); the validator's reply ends with a verdict block, and
    every other request gets a generic reply."""
    model = str(body.get("model", "unknown/model"))
    messages = body.get("messages") or []
    question = _question(messages)
    # The stage's job ends the system message (a shared context may come first, and the
    # user's files in it must not pass for a stage's instructions).
    systems = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    system = systems[0].rpartition(_JOB)[2] if systems else ""
    if _GENERATE_MARK in system:
        return _draft(model, question, body.get("seed"))
    if _LEDGER.search(system):
        user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        return _synthesis(model, question, str(user.get("content", "")))
    digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).digest()
    angles = [_ANGLES[(digest[i] + i) % len(_ANGLES)] for i in range(3)]
    angles = list(dict.fromkeys(angles))
    lines = [
        *_header(model, question),
        "With a key set (`export OPENROUTER_API_KEY=...`), this reply would cover:",
        "",
        *[f"- {angle}" for angle in angles],
        "",
        _FOOTER,
    ]
    tag = _VERDICT.search(system)
    if tag:
        # Simulated, and labelled so in every output; rounded, so no float artefact shows.
        confidence = round(0.5 + digest[7] % 45 / 100, 2)
        verdict = {"confidence": confidence, "issues": ["simulated review: nothing was checked"]}
        lines += ["", f"<{tag.group(1)}>{json.dumps(verdict)}</{tag.group(1)}>"]
    return "\n".join(lines)


def _draft(model: str, question: str, seed: object = None) -> str:
    """A generate-stage draft: made-up points, one per line, that the refine reply reads back.

    - Shared claims come from the question alone, so every model states them.
    - The contested point (topic from the question) takes one of two positions by one bit of
      ``sha256(salt, question, model)``: each model's side is fixed, independent of the panel,
      which a draft cannot know. Each side is then a fair coin per model, so three models
      split 2-1 on three questions in four (no rule blind to the panel does better) and agree
      on the rest; two split 1-1 on half, which the refine reply leaves unresolved.
    - An extra point, from the same hash, in about two drafts of three: usually a point only
      that draft makes, sometimes one another draft happens to share.
    A request's ``seed`` (one model sampled several times) counts as part of the model.
    """
    who = model if seed is None else f"{model}#seed={seed}"
    asked = _hash(question)
    mine = _hash(question, who)
    first = asked[0] % len(_ANGLES)
    shared = [_ANGLES[(first + i) % len(_ANGLES)] for i in range(2 + asked[1] % 2)]
    topic, *positions = _CONTESTS[asked[2] % len(_CONTESTS)]
    points = [f"- Simulated claim: a good answer covers {angle}." for angle in shared]
    points.append(f"- Simulated position on {topic}: {positions[mine[0] & 1]}.")
    if mine[1] % 3:
        extra = _EXTRAS[mine[2] % len(_EXTRAS)]
        points.append(f"- Simulated extra point: a good answer mentions {extra}.")
    return "\n".join(
        [
            *_header(model, question),
            "This simulated draft stands in for one independent expert's answer. Its points are "
            "made up so that hive's consensus steps have something to compare; they are not "
            "facts about the question.",
            "",
            *points,
            "",
            "With a key set (`export OPENROUTER_API_KEY=...`), a real model would answer here. "
            + _FOOTER,
        ]
    )


def _synthesis(model: str, question: str, user: str) -> str:
    """A refine-stage reply: a ``<ledger>`` block about the drafts, then a merged answer (the
    order the refine prompt asks for).

    The drafts (``<draft id="A">`` blocks) are read back line by line, so the ledger matches
    them exactly: each shared claim with the drafts that state it; the contested point as a
    claim (the majority's position, contradicted by the rest) and a dispute resolved by taking
    the majority, or left unresolved, and said so, on an even split; extra points made by one
    draft as ``unique`` (kept or dropped by a hash), by several as claims; and one gap. With
    one draft every point is a claim it supports. Drafts not written by the simulator add
    nothing: the ledger then reports only what it could read.
    """
    drafts = _DRAFT.findall(user)
    labels = list(dict.fromkeys(label for label, _ in drafts))
    claims: dict[str, list[str]] = {}
    extras: dict[str, list[str]] = {}
    topics: dict[str, dict[str, list[str]]] = {}
    for label, text in drafts:
        for claim in _CLAIM_LINE.findall(text):
            claims.setdefault(f"simulated: {claim}", []).append(label)
        for topic, position in _POSITION_LINE.findall(text):
            topics.setdefault(topic, {}).setdefault(position, []).append(label)
        for extra in _EXTRA_LINE.findall(text):
            extras.setdefault(extra, []).append(label)

    ledger: dict[str, list[Any]] = {"claims": [], "disputes": [], "unique": [], "gaps": []}
    answer: list[str] = [f"- {claim}" for claim in claims]
    ledger["claims"] = [
        {"claim": c, "supported_by": _once(held), "contradicted_by": []}
        for c, held in claims.items()
    ]
    for topic, stances in topics.items():
        ranked = sorted(stances.items(), key=lambda item: -len(set(item[1])))
        (top, top_drafts), others = ranked[0], ranked[1:]
        claim = f"simulated: on {topic}, {top}"
        if not others:
            ledger["claims"].append(
                {"claim": claim, "supported_by": _once(top_drafts), "contradicted_by": []}
            )
            answer.append(f"- {claim}")
            continue
        tied = len(set(others[0][1])) == len(set(top_drafts))
        against = _once([label for _, drafts_ in others for label in drafts_])
        if tied:
            resolution = (
                "simulated: the drafts split evenly and the simulator weighs no evidence, so "
                "the answer gives both positions and says the point is unresolved"
            )
            views = "; ".join(position for position, _ in ranked)
            answer.append(f"- simulated: on {topic}, this is disputed and unresolved: {views}")
        else:
            ledger["claims"].append(
                {"claim": claim, "supported_by": _once(top_drafts), "contradicted_by": against}
            )
            resolution = (
                f"simulated: the answer takes the majority position ({len(set(top_drafts))} of "
                f"{len(labels)} drafts); the simulator weighs no evidence"
            )
            answer.append(f"- {claim} (another view: {'; '.join(p for p, _ in others)})")
        ledger["disputes"].append(
            {
                "claim": f"simulated: {topic}",
                "positions": [{"position": p, "drafts": _once(d)} for p, d in ranked],
                "resolution": resolution,
                "resolved": not tied,
            }
        )
    for extra, held in extras.items():
        point = f"simulated: {extra}"
        if len(set(held)) > 1 or len(labels) < 2:
            ledger["claims"].append(
                {"claim": point, "supported_by": _once(held), "contradicted_by": []}
            )
            answer.append(f"- {point}")
            continue
        kept = not _hash(question, extra)[0] & 1
        ledger["unique"].append({"point": point, "draft": held[0], "kept": kept})
        if kept:
            answer.append(f"- {point}")
    ledger["gaps"] = [_GAPS[_hash(question)[3] % len(_GAPS)]]
    count = f"{len(labels)} simulated draft{'s' if len(labels) != 1 else ''}"
    if "<previous_answer>" in user:  # a revision round: its answer differs, and says why
        answer.append("- simulated revision: this round addressed the reviewer's findings")
    return "\n".join(
        [
            f"<ledger>{json.dumps(ledger)}</ledger>",
            "",
            *_header(model, question),
            f"This simulated synthesis merges {count}; like them, its points are made up so "
            "that hive's consensus steps have something to compare, not facts about the "
            "question.",
            "",
            *(answer or ["- (no simulated points could be read from the drafts)"]),
            "",
            _FOOTER,
        ]
    )


def _once(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))
