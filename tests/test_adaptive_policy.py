"""The adaptive policy (hive/consensus/adaptive.py), table by table: pure functions, no network.

Each table row is a situation a run can be in and what hive must decide, with the reason a
reader will see. The pipeline tests (tests/test_adaptive_pipeline.py) check that the decisions
are acted on over real sockets; these check the decisions themselves, at their edges."""

from __future__ import annotations

import pytest

from hive.consensus import adaptive
from hive.consensus.adaptive import FIXED, Finished, Progress, RoundState
from hive.consensus.profiles import BUILTIN_PROFILES, AdaptiveSpec

SPEC = AdaptiveSpec(quorum=2, straggler_factor=2.0, straggler_floor=5.0)


def done(*took: float, ttft: float = 1.0, chars: int = 1000) -> list[Finished]:
    return [Finished(t, min(ttft, t), chars) for t in took]


IDLE = Progress(2, 0.0, None, 0)  # generator 3, not answering yet


@pytest.mark.parametrize(
    ("finished", "generators", "unasked", "deadline"),
    [
        ([], 3, 0, None),  # nothing in yet: nothing to measure a straggler by
        (done(1.0), 3, 0, None),  # below quorum, nobody to replace the slow ones: wait
        (done(1.0), 3, 1, None),  # below quorum: a writer is never cut, even with a spare
        (done(1.0, 2.0), 3, 0, 5.0),  # quorum: the floor when the drafts were quick
        (done(4.0, 6.0), 3, 0, 10.0),  # quorum: twice the median of the finished drafts
        (done(3.0, 4.0, 30.0), 4, 0, 8.0),  # a median, not a mean: one slow finisher
        (done(1.0), 1, 0, None),  # one generator: never cut
    ],
)
def test_the_straggler_deadline(
    finished: list[Finished], generators: int, unasked: int, deadline: float | None
) -> None:
    slow = Progress(2, 0.0, 0.1, 1)  # answering, slowly (a silent one would be replaced instead)
    verdict = adaptive.stragglers(
        SPEC, finished, [slow], 0.5, generators=generators, unasked=unasked
    )
    assert verdict.deadline == deadline
    assert verdict.cut == {}  # half a second in: before the floor, nobody is cut
    at_deadline = adaptive.stragglers(
        SPEC, finished, [slow], deadline or 99.0, generators=generators, unasked=unasked
    )
    assert (2 in at_deadline.cut) is (deadline is not None)


@pytest.mark.parametrize(
    ("pending", "now", "cut"),
    [
        # Drafts of 1,000 characters took a median 6 s: the deadline is 12 s, the floor 5 s.
        (Progress(2, 0.0, None, 0), 4.0, False),  # before the floor: never
        (Progress(2, 0.0, None, 0), 5.0, True),  # silent 5 s: 5 more to start, 5 to write: > 12
        (Progress(2, 0.0, 4.9, 0), 5.0, True),  # a first empty delta is not an answer yet
        (Progress(2, 0.0, 2.0, 600), 6.0, False),  # 150 chars/s, 400 to go: done near 8.7 s
        (Progress(2, 0.0, 2.0, 40), 6.0, True),  # 10 chars/s, 960 to go: done near 102 s
        (Progress(2, 0.0, 2.0, 40), 12.0, True),  # at the deadline whatever its pace
        (Progress(2, 0.0, 2.0, 1500), 11.9, False),  # past the others' length: about to end
    ],
)
def test_a_writer_that_cannot_finish_by_the_deadline_is_cut_early(
    pending: Progress, now: float, cut: bool
) -> None:
    verdict = adaptive.stragglers(
        SPEC, done(5.0, 7.0, ttft=1.0), [pending], now, generators=3, unasked=0
    )
    lenient = adaptive.stragglers(  # the same writer, judged against a 20 s floor
        SPEC.model_copy(update={"straggler_floor": 20.0}), done(5.0, 7.0, ttft=1.0), [pending],
        now, generators=3, unasked=0,
    )  # fmt: skip
    assert lenient.cut == {}

    assert verdict.deadline == 12.0
    assert (2 in verdict.cut) is cut
    if cut:
        assert "12.0s deadline" in verdict.cut[2] or "still writing" in verdict.cut[2]
    else:
        assert verdict.check_at is not None and now < verdict.check_at <= 12.0


def test_the_fixed_rules_never_cut_a_straggler() -> None:
    for finished in (done(1.0), done(1.0, 2.0), done(1.0, 2.0, 3.0)):
        verdict = adaptive.stragglers(FIXED, finished, [IDLE], 1e6, generators=4, unasked=0)
        assert verdict.cut == {} and verdict.check_at is None


def test_a_cut_names_who_why_and_the_numbers_it_was_made_on() -> None:
    why = "still writing after 10.0s"
    decision = adaptive.straggler_cut(SPEC, done(4.0, 6.0), [(2, "x/slow", why)], 10.0)

    assert decision.kind == "straggler_cut"
    assert decision.message == (
        "left out generator 3 (x/slow), still writing after 10.0s (deadline 10.0s: 2x the "
        "5.0s the 2 finished drafts took)"
    )
    assert decision.as_dict() == {
        "kind": "straggler_cut",
        "message": decision.message,
        "generators": [{"index": 2, "model": "x/slow", "why": why}],
        "after_s": 10.0,
        "median_s": 5.0,
        "deadline_s": 10.0,
        "drafts": 2,
    }
    floor = adaptive.straggler_cut(SPEC, done(1.0, 1.0), [(1, "x/slow", why)], 5.0)
    assert floor.message.endswith("(deadline 5.0s: the floor of 5.0s)")


@pytest.mark.parametrize(
    ("agreement", "drafts", "unasked", "kind", "why"),
    [
        (0.9, 2, ["x/c"], "panel_kept", "the first 2 drafts agreed 0.90 (at least 0.75): 1 more"),
        (0.75, 2, ["x/c"], "panel_kept", "agreed 0.75 (at least 0.75)"),
        (0.74, 2, ["x/c"], "escalated", "agreed 0.74, below 0.75: asking 1 more generator"),
        (None, 2, ["x/c", "x/d"], "escalated", "could not be measured: asking 2 more generators"),
        (None, 1, ["x/c"], "escalated", "the first panel gave 1 draft, too few to compare"),
        (None, 0, ["x/c"], "escalated", "the first panel gave 0 drafts"),
        (0.2, 2, [], None, None),  # nobody left to ask
    ],
)
def test_escalation(
    agreement: float | None,
    drafts: int,
    unasked: list[str],
    kind: str | None,
    why: str | None,
) -> None:
    decision = adaptive.escalation(SPEC, agreement, drafts, unasked)

    if kind is None:
        assert decision is None
        return
    assert decision is not None
    assert decision.kind == kind
    assert why is not None and why in decision.message
    assert decision.data["models"] == unasked
    assert decision.data["agreement"] == agreement


ON = AdaptiveSpec(skip_curate=True, skip_confidence=0.9)


@pytest.mark.parametrize(
    ("spec", "confidence", "issues", "unresolved", "skipped"),
    [
        (ON, 0.95, [], 0, True),
        (ON, 0.9, [], 0, True),  # the threshold itself is enough
        (ON, 0.89, [], 0, False),
        (ON, 0.99, ["a wrong date"], 0, False),  # an issue: the curator must fix it
        (ON, 0.99, [], 1, False),  # an unresolved dispute: the curator must state it
        (ON, None, [], 0, False),  # no confidence given: nothing to skip on
        (AdaptiveSpec(skip_curate=False), 1.0, [], 0, False),  # the profile always curates
        (FIXED, 1.0, [], 0, False),
    ],
)
def test_curate_skip(
    spec: AdaptiveSpec, confidence: float | None, issues: list[str], unresolved: int, skipped: bool
) -> None:
    decision = adaptive.curate_skip(spec, confidence, issues, unresolved)

    assert (decision is not None) is skipped
    if decision is not None:
        assert decision.kind == "curate_skipped"
        assert f"confidence {confidence:.2f}" in decision.message


ROUNDS = AdaptiveSpec(rounds=3, round_below=0.8, escalate_below=0.75)


@pytest.mark.parametrize(
    ("state", "affordable", "kind", "reason", "words"),
    [
        (RoundState(1, 0.5, 0.9, 0), True, "round_started", None, "round 2 of 3: confidence 0.50"),
        (RoundState(2, 0.6, 0.9, 0), True, "round_started", None, "round 3 of 3"),
        (RoundState(3, 0.6, 0.9, 0), True, "rounds_stopped", "cap", "3 rounds is the cap"),
        (RoundState(1, 0.85, 0.9, 0), True, "rounds_stopped", "threshold", "reached 0.80"),
        (RoundState(1, 0.8, 0.9, 0), True, "rounds_stopped", "threshold", "no dispute"),
        (RoundState(1, 0.5, 0.9, 0), False, "rounds_stopped", "budget", "could cross the budget"),
        (RoundState(1, None, 0.9, 0), True, "rounds_stopped", "no_verdict", "gave no confidence"),
        # A confident answer over a split panel that left a dispute unresolved: one more try.
        (RoundState(1, 0.9, 0.5, 1), True, "round_started", None, "1 dispute is unresolved"),
        # ... but a split the answer resolved needs no round.
        (RoundState(1, 0.9, 0.5, 0), True, "rounds_stopped", "threshold", "reached"),
        # ... nor an unresolved point in a panel that otherwise agreed.
        (RoundState(1, 0.9, 0.9, 1), True, "rounds_stopped", "threshold", "reached"),
    ],
)
def test_next_round(
    state: RoundState, affordable: bool, kind: str, reason: str | None, words: str
) -> None:
    decision = adaptive.next_round(ROUNDS, 3, state, affordable=affordable)

    assert decision.kind == kind
    assert decision.data.get("reason") == reason
    assert words in decision.message


def test_the_built_in_profiles_rules() -> None:
    """What the README promises: quality always curates; speed and cost skip a curation that
    adds nothing; the three-generator profiles a user pays for ask two drafts first."""
    rules = {name: profile.adaptive for name, profile in BUILTIN_PROFILES.items()}

    assert not rules["quality"].skip_curate and rules["quality"].rounds == 2
    assert rules["speed"].skip_curate and rules["cost"].skip_curate
    assert rules["balanced"].first_panel == 2 and rules["balanced"].skip_curate
    assert rules["free"].first_panel == 2
    for profile in BUILTIN_PROFILES.values():
        assert profile.adaptive.first_panel < len(profile.generate.models) or (
            profile.adaptive.first_panel == 0
        )


def test_an_escalation_the_budget_cannot_take_keeps_the_first_panel() -> None:
    decision = adaptive.escalation(SPEC, 0.5, 2, ["x/c"], affordable=False)

    assert decision is not None and decision.kind == "panel_kept"
    assert decision.data["reason"] == "budget"
    assert decision.message == (
        "the first 2 drafts agreed 0.50, below 0.75, but asking 1 more generator could cross "
        "the budget: the first drafts' answer stands"
    )
    agreed = adaptive.escalation(SPEC, 0.9, 2, ["x/c"], affordable=False)
    assert agreed is not None and "reason" not in agreed.data  # kept on agreement, not money


@pytest.mark.parametrize(
    ("pending", "finished", "now", "replace"),
    [
        # Generator 1 began answering after 2 s; generator 2 is silent. Floor 5 s, factor 2.
        ([Progress(0, 0.0, 2.0, 50), Progress(1, 0.0, None, 0)], [], 4.9, ()),  # before the floor
        ([Progress(0, 0.0, 2.0, 50), Progress(1, 0.0, None, 0)], [], 5.0, (1,)),  # silent past both
        (
            [Progress(0, 0.0, 4.0, 50), Progress(1, 0.0, None, 0)],
            [],
            7.9,
            (),
        ),  # 2x 4 s not yet reached
        ([Progress(0, 0.0, 4.0, 50), Progress(1, 0.0, None, 0)], [], 8.0, (1,)),
        (
            [Progress(0, 0.0, 2.0, 50), Progress(1, 0.0, 5.5, 10)],
            [],
            9.0,
            (),
        ),  # both answering: no one
        ([Progress(1, 0.0, None, 0)], done(3.0, ttft=2.0), 6.0, (1,)),  # one draft in, one silent
        ([Progress(0, 0.0, None, 0), Progress(1, 0.0, None, 0)], [], 30.0, ()),  # nobody has begun
    ],
)
def test_a_silent_first_panel_generator_gets_one_asked_alongside(
    pending: list[Progress], finished: list[Finished], now: float, replace: tuple[int, ...]
) -> None:
    verdict = adaptive.stragglers(SPEC, finished, pending, now, generators=3, unasked=1)

    assert verdict.replace == replace
    assert verdict.cut == {}
    no_reserve = adaptive.stragglers(SPEC, finished, pending, now, generators=3, unasked=0)
    assert no_reserve.replace == ()  # nobody left to ask: wait (or the quorum rule)


def test_a_replacement_says_who_and_why() -> None:
    decision = adaptive.replacement(SPEC, [2.0], [(1, "x/slow")], [(2, "x/next")], 5.0)

    assert decision.kind == "replacement_asked"
    assert decision.message == (
        "generator 2 (x/slow) not yet answering after 5.0s (over 2x the 2.0s the others took "
        "to begin): asking generator 3 (x/next) alongside"
    )
    assert decision.data["asked"] == [{"index": 2, "model": "x/next"}]


def test_a_generator_asked_alongside_is_judged_from_its_own_request() -> None:
    """Generator 3 was asked alongside silent generator 2 at 10 s: a moment later it is not
    'silent for 10 s', and generator 2, replaced once, is not replaced again."""
    pending = [
        Progress(0, 0.0, 2.0, 50),
        Progress(1, 0.0, None, 0, replaced=True),
        Progress(2, 10.0, None, 0),
    ]

    verdict = adaptive.stragglers(SPEC, [], pending, 10.001, generators=4, unasked=1)

    assert verdict.replace == () and verdict.cut == {}
    assert verdict.check_at is not None and verdict.check_at > 10.001


def test_a_silent_generator_that_can_still_make_the_deadline_is_not_cut() -> None:
    """Drafts took 8 s and 9 s, first tokens at 6 s and 6.5 s: the deadline is 17 s. A
    generator silent at 10 s has waited 3.75 s more than usual; at the usual 2.25 s of
    writing after that, it ends near 16 s: within the deadline, so it is waited for."""
    finished = [Finished(8.0, 6.0, 1000), Finished(9.0, 6.5, 1000)]

    kept = adaptive.stragglers(SPEC, finished, [Progress(2, 0.0, None, 0)], 10.0,
                               generators=3, unasked=0)  # fmt: skip
    cut = adaptive.stragglers(SPEC, finished, [Progress(2, 0.0, None, 0)], 11.0,
                              generators=3, unasked=0)  # fmt: skip

    assert kept.deadline == 17.0 and kept.cut == {}
    assert 2 in cut.cut  # at 11 s: 11 + 2.25 + 4.75 = 18 > 17
    assert "not yet answering after 11.0s (the drafts began by 6.2s)" in cut.cut[2]
