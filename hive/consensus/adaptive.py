"""Adaptive consensus: given what a run knows so far, what it does next, and why.

Every rule is a pure function of the results so far and the profile's ``AdaptiveSpec``; the
pipeline asks, acts, and emits each ``Decision`` as an event, so the views, ``--json`` and
history all show what hive decided and the numbers it decided on. Nothing here waits, calls a
model or reads a clock: the table tests in tests/test_adaptive_policy.py are the spec.

- Stragglers: once ``quorum`` drafts are in, a generator still writing at ``straggler_factor``
  times the median time the finished ones took (never before ``straggler_floor`` seconds) is
  cut, and so is one whose pace shows it cannot finish by then. With fewer drafts than that,
  a slow first-panel generator is cut only when a generator not yet asked can take its place.
- Escalation: a profile with ``first_panel`` asks that many generators first and the rest only
  when their drafts agree less than ``escalate_below``, or agreement cannot be measured (one
  draft, no ledger): unknown is not agreement.
- Skipping curation: when the validator lists no issues at ``skip_confidence`` or more, and
  the panel left no dispute unresolved, the refined answer is final.
- Rounds: another refine -> validate round while the validator's confidence is below
  ``round_below``, or the panel agreed less than ``escalate_below`` and a dispute is still
  unresolved; never past ``rounds``, never when the round's worst case could cross the budget,
  never on a confidence nobody gave.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hive.consensus.profiles import MAX_GENERATORS, AdaptiveSpec

# Every rule off: the full panel at once, every stage, one round (``--fixed``).
FIXED = AdaptiveSpec(quorum=MAX_GENERATORS, first_panel=0, skip_curate=False, rounds=1)

Kind = Literal[
    "straggler_cut",  # generators still writing were stopped; the run went on without them
    "replacement_asked",  # a silent first-panel generator: the next one asked alongside
    "escalated",  # the rest of the panel was asked
    "panel_kept",  # the first drafts agreed: the rest of the panel was not asked
    "curate_skipped",  # the refined answer is final
    "round_started",  # another refine -> validate round
    "rounds_stopped",  # why no further round was taken
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One adaptive decision: ``message`` is the sentence a reader sees; ``data`` the numbers
    it was made on, for ``--json`` and history."""

    kind: Kind
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **self.data}


def _s(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds >= 1 else f"{seconds:.2f}s"


@dataclass(frozen=True, slots=True)
class Finished:
    """A draft that is in: seconds it took from its request, seconds to its first token,
    and its length in characters."""

    took: float
    ttft: float
    chars: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A generator still writing. Times are seconds from its batch's start: when it was
    asked, when its first token came (None while it has not begun answering). ``replaced``:
    another generator was already asked alongside it."""

    index: int
    asked: float
    first_token: float | None
    chars: int
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class Stragglers:
    """Who to cut now (index -> why), who needs a generator asked alongside, and when to
    look again (batch seconds; None: only when a draft comes in)."""

    cut: dict[int, str]
    check_at: float | None
    deadline: float | None  # seconds after its request a generator may take
    replace: tuple[int, ...] = ()


def stragglers(
    spec: AdaptiveSpec,
    finished: Sequence[Finished],
    pending: Sequence[Progress],
    now: float,
    *,
    generators: int,
    unasked: int,
) -> Stragglers:
    """Which generators still writing, ``now`` seconds into their batch, are far behind this
    batch's drafts (``finished``). ``generators``: the profile's panel size; ``unasked``:
    generators not yet called that could take a cut one's place (0 when none may be asked,
    the budget included).

    Off with one generator. Below ``quorum`` drafts nobody is cut; when another generator can
    be asked, a silent one gets one asked alongside once it
    has been silent ``straggler_factor`` times the others' time to begin answering (never
    before ``straggler_floor``). With a draft in, the deadline is ``straggler_factor`` times
    the median time the drafts took (never under the floor), counted from each generator's
    own request: one still writing at the deadline is cut, and so is one that cannot make
    it — its pace so far puts its finish past the deadline, or, silent, it has already been
    silent longer than the panel's usual wait by more than the time left once it writes at
    the panel's usual speed."""
    if generators < 2:
        return Stragglers({}, None, None)
    below = len(finished) < min(spec.quorum, generators)
    if below and unasked == 0:
        return Stragglers({}, None, None)
    if below:  # before the quorum, a generator is never cut: a silent one may get company
        return _silent(spec, finished, pending, now)
    silent = Stragglers({}, None, None)
    median = statistics.median(f.took for f in finished)
    deadline = max(spec.straggler_floor, spec.straggler_factor * median)
    ttft = statistics.median(f.ttft for f in finished)
    length = statistics.median(f.chars for f in finished)
    writing = statistics.median(f.took - f.ttft for f in finished)
    cut: dict[int, str] = {}
    for p in pending:
        elapsed = now - p.asked
        if elapsed >= deadline:
            cut[p.index] = f"still writing after {_s(elapsed)}"
            continue
        if elapsed < spec.straggler_floor:
            continue
        streamed = now - p.first_token if p.first_token is not None else 0.0
        if p.first_token is None or p.chars == 0 or streamed <= 0:
            # Silent so far: the wait beyond the panel's usual one is taken to repeat.
            finish = elapsed + writing + max(0.0, elapsed - ttft)
            why = f"not yet answering after {_s(elapsed)} (the drafts began by {_s(ttft)})"
        else:
            finish = elapsed + max(0.0, length - p.chars) / (p.chars / streamed)
            why = f"at its pace so far, done near {_s(finish)}"
        if finish > deadline:
            cut[p.index] = f"{why}, past the {_s(deadline)} deadline"
    if not pending:
        return Stragglers(cut, None, deadline)
    # Look again as the writers progress: often enough to cut early, scaled to the drafts.
    first = min(p.asked for p in pending)
    check = min(first + deadline, max(now + median / 20, first + spec.straggler_floor))
    if silent.check_at is not None:
        check = min(check, silent.check_at)
    return Stragglers(cut, check, deadline)


def _silent(
    spec: AdaptiveSpec, finished: Sequence[Finished], pending: Sequence[Progress], now: float
) -> Stragglers:
    """Below the quorum, with a generator left to ask: one still silent at
    ``straggler_factor`` times the time the others took to begin answering (never before
    ``straggler_floor``), counted from its own request, gets a generator asked alongside it
    (once) — before any draft is in, so the panel need not wait for a draft to measure by."""
    quiet = [p for p in pending if p.first_token is None and not p.replaced]
    began = [f.ttft for f in finished]
    began += [p.first_token - p.asked for p in pending if p.first_token is not None]
    if not quiet:
        return Stragglers({}, None, None)
    if not began:  # nobody has begun: look again as first tokens may come
        later = now + max(spec.straggler_floor / 20, 1e-3)
        return Stragglers({}, max(min(p.asked for p in quiet) + spec.straggler_floor, later), None)
    limit = max(spec.straggler_floor, spec.straggler_factor * statistics.median(began))
    due = tuple(p.index for p in quiet if now - p.asked >= limit)
    if due:
        return Stragglers({}, None, None, due)
    soonest = min(p.asked for p in quiet) + limit
    return Stragglers({}, min(soonest, now + max(limit / 20, 1e-3)), None)


def replacement(
    spec: AdaptiveSpec,
    began: Sequence[float],
    silent: Sequence[tuple[int, str]],
    asked: Sequence[tuple[int, str]],
    at: float,
) -> Decision:
    """The decision to ask ``asked`` (index, model) alongside the ``silent`` ones."""
    median = statistics.median(began)
    who = ", ".join(f"generator {i + 1} ({m})" for i, m in silent)
    new = ", ".join(f"generator {i + 1} ({m})" for i, m in asked)
    return Decision(
        "replacement_asked",
        f"{who} not yet answering after {_s(at)} (over {spec.straggler_factor:g}x the "
        f"{_s(median)} the others took to begin): asking {new} alongside",
        {
            "silent": [{"index": i, "model": m} for i, m in silent],
            "asked": [{"index": i, "model": m} for i, m in asked],
            "after_s": round(at, 3),
            "median_first_token_s": round(median, 3),
        },
    )


def straggler_cut(
    spec: AdaptiveSpec, finished: Sequence[Finished], cut: Sequence[tuple[int, str, str]], at: float
) -> Decision:
    """The decision to stop ``cut`` (generator index, model, why) ``at`` seconds in."""
    median = statistics.median(f.took for f in finished)
    who = "; ".join(f"generator {i + 1} ({model}), {why}" for i, model, why in cut)
    deadline = max(spec.straggler_floor, spec.straggler_factor * median)
    basis = (
        f"the floor of {_s(spec.straggler_floor)}"
        if spec.straggler_floor >= spec.straggler_factor * median
        else f"{spec.straggler_factor:g}x the {_s(median)} the {len(finished)} finished "
        f"draft{'s' if len(finished) != 1 else ''} took"
    )
    return Decision(
        "straggler_cut",
        f"left out {who} (deadline {_s(deadline)}: {basis})",
        {
            "generators": [{"index": i, "model": m, "why": why} for i, m, why in cut],
            "after_s": round(at, 3),
            "median_s": round(median, 3),
            "deadline_s": round(deadline, 3),
            "drafts": len(finished),
        },
    )


def escalation(
    spec: AdaptiveSpec,
    agreement: float | None,
    drafts: int,
    unasked: Sequence[str],
    *,
    affordable: bool = True,
) -> Decision | None:
    """Whether to ask the generators not yet asked (``unasked``, their models) after the
    first panel's ``drafts``; None when there are none left to ask. ``affordable``: their
    worst case, and the refine over all the drafts, fit the budget (else the first panel's
    answer stands, and the decision says why)."""
    if not unasked:
        return None
    rest = f"{len(unasked)} more generator{'s' if len(unasked) != 1 else ''}"
    data: dict[str, Any] = {
        "agreement": agreement, "threshold": spec.escalate_below, "drafts": drafts,
        "models": list(unasked),
    }  # fmt: skip
    if drafts < 2:
        why = f"the first panel gave {drafts} draft{'s' if drafts != 1 else ''}, too few to compare"
    elif agreement is None:
        why = "the first drafts' agreement could not be measured"
    elif agreement < spec.escalate_below:
        why = f"the first {drafts} drafts agreed {agreement:.2f}, below {spec.escalate_below:.2f}"
    else:
        return Decision(
            "panel_kept",
            f"the first {drafts} drafts agreed {agreement:.2f} (at least "
            f"{spec.escalate_below:.2f}): {rest} not asked",
            data,
        )
    if not affordable:
        return Decision(
            "panel_kept",
            f"{why}, but asking {rest} could cross the budget: the first drafts' answer stands",
            {**data, "reason": "budget"},
        )
    return Decision("escalated", f"{why}: asking {rest}", data)


def curate_skip(
    spec: AdaptiveSpec,
    confidence: float | None,
    issues: Sequence[str],
    unresolved: int,
) -> Decision | None:
    """A decision to skip curation, or None to curate. ``unresolved``: disputes the refined
    answer left unresolved (the curator is the one told to state those plainly)."""
    if not spec.skip_curate or confidence is None or issues or unresolved:
        return None
    if confidence < spec.skip_confidence:
        return None
    return Decision(
        "curate_skipped",
        f"curate skipped: the validator found no issues at confidence {confidence:.2f} "
        f"(at least {spec.skip_confidence:.2f}); the refined answer is final",
        {"confidence": confidence, "threshold": spec.skip_confidence},
    )


@dataclass(frozen=True, slots=True)
class RoundState:
    """What the last round left: its number, the validator's confidence, the panel's
    agreement and how many disputes are still unresolved."""

    done: int
    confidence: float | None
    agreement: float | None
    unresolved: int


def next_round(spec: AdaptiveSpec, rounds: int, state: RoundState, *, affordable: bool) -> Decision:
    """``round_started`` for another refine -> validate round, or ``rounds_stopped`` saying
    why not. ``rounds``: the cap for this run (the profile's, or ``--rounds``);
    ``affordable``: the round's worst case, with what must follow it, fits the budget."""
    data: dict[str, Any] = {
        "round": state.done + 1 if state.done < rounds else state.done,
        "rounds": rounds,
        "confidence": state.confidence,
        "agreement": state.agreement,
        "unresolved": state.unresolved,
        "threshold": spec.round_below,
    }

    def stop(why: str, reason: str) -> Decision:
        return Decision("rounds_stopped", f"no further round: {why}", {**data, "reason": reason})

    if state.confidence is None:
        return stop("the validator gave no confidence to judge the answer by", "no_verdict")
    low = state.confidence < spec.round_below
    split = (
        state.unresolved > 0
        and state.agreement is not None
        and state.agreement < spec.escalate_below
    )
    if not low and not split:
        return stop(
            f"confidence {state.confidence:.2f} reached {spec.round_below:.2f}"
            + (" and no dispute is unresolved" if state.unresolved == 0 else ""),
            "threshold",
        )
    if state.done >= rounds:
        return stop(f"{rounds} round{'s' if rounds != 1 else ''} is the cap", "cap")
    if not affordable:
        return stop("another round's worst case could cross the budget", "budget")
    why = (
        f"confidence {state.confidence:.2f} is below {spec.round_below:.2f}"
        if low
        else f"the panel agreed {state.agreement:.2f} and {state.unresolved} dispute"
        f"{'s are' if state.unresolved != 1 else ' is'} unresolved"
    )
    return Decision("round_started", f"round {state.done + 1} of {rounds}: {why}", data)


def round_failed(rounds: int, done: int) -> Decision:
    """Round ``done + 1``'s refine gave no answer: the last round's answer stands."""
    return Decision(
        "rounds_stopped",
        f"no further round: round {done + 1}'s refine gave no answer; round {done}'s stands",
        {"round": done, "rounds": rounds, "reason": "failed"},
    )


def describe(spec: AdaptiveSpec, generators: int) -> list[str]:
    """The rules in words, each with its setting's name, for ``hive profiles show``."""
    lines = []
    if generators < 2:
        lines.append("stragglers: one generator, nothing to cut")
    elif spec.quorum >= generators and not 0 < spec.first_panel < generators:
        lines.append(f"stragglers: off, the quorum ({spec.quorum}) is every generator (quorum)")
    else:
        lines.append(
            f"stragglers: once {min(spec.quorum, generators)} draft(s) are in (quorum="
            f"{spec.quorum}), cut a generator still writing at {spec.straggler_factor:g}x their "
            f"median time (straggler_factor), or sooner once its pace shows it cannot finish "
            f"by then; never before {spec.straggler_floor:g}s (straggler_floor)"
        )
    if 0 < spec.first_panel < generators:
        lines.append(
            f"escalation: ask {spec.first_panel} generator(s) first (first_panel), the other "
            f"{generators - spec.first_panel} only if they agree less than "
            f"{spec.escalate_below:g} (escalate_below)"
        )
    else:
        lines.append("escalation: off, every generator at once (first_panel=0)")
    if spec.skip_curate:
        lines.append(
            "skip curate: when the validator lists no issues at confidence "
            f"{spec.skip_confidence:g} or more (skip_curate, skip_confidence)"
        )
    else:
        lines.append("skip curate: off, always curate (skip_curate=false)")
    if spec.rounds > 1:
        lines.append(
            f"rounds: up to {spec.rounds} (rounds), another while confidence is below "
            f"{spec.round_below:g} (round_below)"
        )
    else:
        lines.append(f"rounds: 1 (rounds; --rounds N for more, below {spec.round_below:g})")
    return lines
