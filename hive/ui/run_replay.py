"""``hive history show N``: a recorded run replayed as text, stage by stage, with what it was
given (conversation, instructions, files), every call's figures, the answer, its sources and
the agreement. A view: fed the store's typed rows, it reads nothing itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hive.store.rows import Run, StoredCall

INSTRUCTIONS_WIDTH = 80  # characters of the user's instructions shown by `show`
NOT_LOGGED = "not logged (--no-log): question, files and answers were not stored"
UNSTORED = "(not stored: --no-log)"


def local_time(stamp: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC timestamp in local time."""
    if not stamp:
        return "-"
    from datetime import datetime

    return datetime.fromisoformat(stamp).astimezone().strftime(fmt)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def replay(run: Run) -> list[str]:
    """``hive history show N``: the run as it was recorded, stage by stage."""
    from hive.money import dollars, total_text
    from hive.ui.agreement_view import agreement_lines
    from hive.ui.format import confidence, estimated_note, seconds, tokens
    from hive.ui.sources_view import source_lines

    def number(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    simulated = " (simulated)" if run.simulated else ""
    calls = run.calls
    lines = [
        f"run #{run.id} · {run.status} · profile {run.profile}{simulated}",
        f"started {local_time(run.started_at)}, finished {local_time(run.finished_at)}",
        " · ".join(
            [
                f"{len(calls)} call{'s' if len(calls) != 1 else ''}",
                seconds(run.duration_ms),
                tokens(run.total_tokens, run.unreported_token_calls),
                total_text(run.total)
                + simulated
                + estimated_note([c.cost_estimated for c in calls if c.cost is not None]),
                f"confidence {confidence(run.confidence)}",
                *([f"{run.rounds} rounds"] if (run.rounds or 1) > 1 else []),
            ]
        ),
    ]
    lines += _context_lines(run)
    lines += [f"warning: {warning}" for warning in run.warnings]
    lines += [f"decided: {decision.message}" for decision in run.decisions]
    if run.error:
        lines.append(f"error: {run.error}")
    logged = run.logged
    lines += ["", "── question", run.question if logged else UNSTORED]
    for call in calls:
        used = call.model_used
        model = call.model + (f" → {used}" if used and used != call.model else "")
        if call.cost is None and not call.billable:
            cost = "not billed (no answer)"
        else:
            cost = dollars(call.cost) + (" (estimated)" if call.cost_estimated else "")
        lines += [
            "",
            f"── {call_label(call)} · {model} · provider {call.provider or '?'}"
            f" · attempt {call.attempt}",
            " · ".join(
                [
                    f"tokens {number(call.prompt_tokens)} in, {number(call.completion_tokens)} out",
                    *_reasoning_part(call),
                    *_cache_parts(call),
                    cost,
                    f"ttft {_ms(call.ttft_ms)}",
                    f"latency {_ms(call.latency_ms)}",
                    f"finish {call.finish_reason or '-'}",
                ]
            ),
        ]
        if call.error:
            lines.append(f"error: {call.error}")
        if call.generation_id:
            lines.append(f"generation {call.generation_id}")
        lines.append(call.content or ("(no output)" if logged else UNSTORED))
    answer = run.answer if run.answer is not None else "(no answer)"
    lines += ["", "── answer", answer if logged else UNSTORED]
    cited = {s.url: s.title for c in calls for s in c.sources if s.url}
    if cited:
        lines += ["", *source_lines(list(cited.items()))]
    agreement = agreement_lines(run.consensus, run.confidence, run.issues)
    if agreement:
        lines += ["", "── agreement", *agreement]
    return lines


def call_label(call: StoredCall) -> str:
    """A call as ``show`` names it: a generator's place; a later stage's second call
    (escalation, another round) too."""
    again = call.stage == "generate" or call.idx > 0
    return call.stage + (f" #{call.idx + 1}" if again else "")


def _context_lines(run: Run) -> list[str]:
    """What the run was given besides its question: the conversation it is part of, the
    user's instructions and the files attached; or that none of it was kept (``--no-log``)."""
    from hive.text import shorten

    lines = []
    if not run.logged:
        lines.append(NOT_LOGGED)
    if len(run.conversation) > 1:
        lines.append("conversation: " + " → ".join(f"#{run_id}" for run_id in run.conversation))
    if run.system:
        one_line = " ".join(run.system.split())
        lines.append(f"instructions: {shorten(one_line, INSTRUCTIONS_WIDTH)}")
    if run.files:
        lines.append("files: " + ", ".join(f"{f.name} ({_size(f.size)})" for f in run.files))
    return lines


def _size(size: int) -> str:
    """A file's size as people read it: ``512 B``, ``1.2 KiB``, ``30 KiB``, ``2.5 MiB``."""
    if size < 1024:
        return f"{size} B"
    kib = size / 1024
    if kib < 10:
        return f"{kib:.1f} KiB"
    if kib < 1024:
        return f"{kib:,.0f} KiB"
    return f"{kib / 1024:,.1f} MiB"


def _reasoning_part(call: StoredCall) -> list[str]:
    """The completion tokens a call spent reasoning and the web searches it ran, when the
    server reported them."""
    tokens, searches = call.reasoning_tokens, call.web_searches
    parts = [] if tokens is None else [f"reasoning {tokens:,}"]
    if searches:
        parts.append(f"{searches} web search{'es' if searches != 1 else ''}")
    return parts


def _cache_parts(call: StoredCall) -> list[str]:
    """A call's prompt caching, only as far as the server reported it."""
    from hive.money import dollars

    parts = []
    if call.cached_tokens is not None:
        parts.append(f"cached {call.cached_tokens:,}")
    if call.cache_write_tokens:
        parts.append(f"cache write {call.cache_write_tokens:,}")
    if call.cache_discount is not None:
        parts.append(f"cache discount {dollars(call.cache_discount)}")
    return parts
