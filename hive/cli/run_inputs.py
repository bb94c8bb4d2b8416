"""What a run is given besides its question, gathered before anything is spent: the
conversation it follows up, the one-off changes to its panel, and the check that every prompt
fits its model's context window.

A follow-up (``--continue``, ``--continue-run N``) is a chain of runs in history: every earlier
turn's question and final answer, the files attached along the way, and the last instructions
given are sent again, so each stage answers in context. It runs on the panel the run it
follows ran on, unless a profile is named. A run made with ``--no-log`` kept nothing to follow
up, and one that ended without an answer has nothing to build on: both are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hive.consensus.context import Attachment, Context, Turn
from hive.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from hive.consensus.estimate import RunEstimate
    from hive.consensus.profiles import Profile
    from hive.openrouter.catalog import Catalog
    from hive.store.history import History


@dataclass(frozen=True, slots=True)
class FollowUp:
    parent_id: int  # the run this one follows up
    turns: tuple[Turn, ...]
    files: tuple[Attachment, ...]  # attached by the earlier turns, in order
    system: str  # the last instructions given in the conversation
    profile_name: str
    panel: dict[str, Any] | None  # the profile that ran, as recorded
    simulated: tuple[int, ...] = ()  # the turns whose answer is the simulator's


def follow_up(history: History, run_id: int | None) -> FollowUp:
    """The conversation ending at run ``run_id`` (None: the newest run)."""
    if run_id is None:
        run_id = history.last_run_id()
        if run_id is None:
            raise UsageError("--continue: there is no earlier run in history to follow up")
    chain = history.conversation(run_id)
    for run in chain:
        if not run.logged:
            raise UsageError(
                f"run #{run.id} was made with --no-log: nothing of it was kept to follow up"
            )
    last = chain[-1]
    if not last.answer:
        raise UsageError(
            f"run #{last.id} ended {last.status} without an answer: nothing to follow up; "
            f"see hive history show {last.id}"
        )
    turns = tuple(Turn(r.question, r.answer) for r in chain if r.answer)
    files = tuple(Attachment(name, text) for r in chain for name, text in r.files)
    # The instructions the last turn was sent ("" when it was sent none, or they were
    # cleared with --system ""); a run from before hive recorded them (None) says nothing.
    system = next((r.system for r in reversed(chain) if r.system is not None), "")
    simulated = tuple(r.id for r in chain if r.answer and r.simulated)
    record = history.run(run_id)
    if record is None:  # deleted meanwhile
        return FollowUp(run_id, turns, files, system, "", None, simulated)
    return FollowUp(run_id, turns, files, system, record.profile, record.panel, simulated)


def simulated_turns_note(run_ids: Sequence[int]) -> str:
    """What a real run is told when its conversation has simulated turns: their answers were
    written by the simulator, and the models will read them as earlier answers."""
    runs = ", ".join(f"#{n}" for n in run_ids)
    were = "was" if len(run_ids) == 1 else "were"
    return (
        f"note: run {runs} {were} simulated: the simulator's answer is sent to the models as "
        "an earlier turn of this conversation"
    )


def panel_of(follow: FollowUp) -> Profile | None:
    """The profile the followed-up run ran on, as recorded (None for a run from before hive
    recorded it)."""
    from hive.consensus.profiles import Profile

    if not follow.panel:
        return None
    return Profile.model_validate({**follow.panel, "name": follow.profile_name})


def with_overrides(
    profile: Profile,
    *,
    generate: Sequence[str] | None,
    refine: str | None,
    validate: str | None,
    curate: str | None,
    temperature: Sequence[str] | None,
    max_tokens: Sequence[str] | None,
) -> Profile:
    """``profile`` with this run's one-off changes, validated as a profile edit would be (a
    replaced model leaves its fallbacks behind, as there). Unchanged without any."""
    from hive.cli.options import panel_changes
    from hive.store.user_profiles import derive

    changes = panel_changes(
        generate=generate, refine=refine, validate=validate, curate=curate,
        temperature=temperature, max_tokens=max_tokens,
    )  # fmt: skip
    if not any(changes.values()):
        return profile
    try:
        return derive(profile, profile.name, **changes)
    except ConfigError as exc:  # said of the profile; it is this run's options that are wrong
        problem = str(exc).partition(": ")[2] or str(exc)
        raise UsageError(f"this run's panel options: {problem}") from None


def context_notice(context: Context, new: Sequence[Attachment], follow: FollowUp | None) -> str:
    """One line saying what goes in front of the question, and about how many tokens."""
    from hive.openrouter.tokens import approx_tokens

    parts = []
    if new:
        parts.append(f"attached {len(new)} file{'s' if len(new) != 1 else ''}")
    n = len(context.turns)
    if follow is not None:
        parts.append(f"following up run #{follow.parent_id} ({n} earlier turn{'s' * (n != 1)})")
    elif n:
        parts.append(f"after {n} earlier turn{'s' * (n != 1)} of its conversation")
    if context.system.strip():
        parts.append("with your instructions")
    size = approx_tokens(context.shared()) + sum(
        approx_tokens(t.question) + approx_tokens(t.answer) for t in context.turns
    )
    return f"{', '.join(parts)}: about {size:,} tokens in front of every prompt"


def context_limits(
    expected: RunEstimate, catalog: Catalog, fallbacks: dict[str, tuple[str, ...]] | None = None
) -> list[str]:
    """Refuse a run whose prompt for some call is longer than that call's model can read (its
    context length in the model list); warn when the prompt leaves less room than the call's
    max output tokens, or than a fallback (``fallbacks``: per stage) can read. Prompt sizes
    are hive's estimate (about four characters a token)."""
    fallbacks = fallbacks or {}
    warnings = []
    for call in expected.calls:
        window = _window(catalog, call.model)
        if not window:
            continue
        if call.prompt_tokens > window:
            raise UsageError(
                f"{call.stage}'s prompt would be about {call.prompt_tokens:,} tokens, more than "
                f"the {window:,}-token context of {call.model}: attach less, or give a model "
                f"with a longer context (--{call.stage} MODEL)"
            )
        if call.prompt_tokens + call.max_completion_tokens > window:
            warnings.append(
                f"{call.stage}'s prompt (about {call.prompt_tokens:,} tokens) leaves less than "
                f"its {call.max_completion_tokens:,} max output tokens in the {window:,}-token "
                f"context of {call.model}: its answer may be cut short"
            )
        for fallback in fallbacks.get(call.stage, ()):
            small = _window(catalog, fallback)
            if small and call.prompt_tokens > small:
                warnings.append(
                    f"{call.stage}'s prompt (about {call.prompt_tokens:,} tokens) is longer than "
                    f"the {small:,}-token context of its fallback {fallback}: that fallback "
                    "would fail"
                )
    return list(dict.fromkeys(warnings))


def _window(catalog: Catalog, model_id: str) -> int | None:
    """A model's context length from the model list; a variant (``:nitro``, ``:floor``) has
    its base model's when the list does not name it."""
    model = catalog.get(model_id) or catalog.get(model_id.partition(":")[0])
    return None if model is None else model.context_length
