"""Self-preference: a judge rates its own answers, and its own family's, above others'.

The validate stage judges what the generators drafted and the refiner merged, so a validator
that is one of those models, or comes from the same author (``openai/…``, ``anthropic/…``),
grades its own work or its family's. ``judge_warnings`` names each such pairing; hive shows them
on ``hive profiles show``, ``create`` and ``edit``, and at the start of ``hive consensus``.

What counts as a judge: the validate stage's model and its fallbacks (a fallback judges whenever
it stands in). What counts as judged: the generators and the refiner as the profile names them
(their fallbacks write only when they fail, so they are left out: warning about them would be
noise). The curator is not checked: it edits the refined answer, it does not grade it.

Two ids are the same model when they differ only by a variant suffix (``:free``, ``:nitro``
route to the same weights) or OpenRouter's ``~`` alias prefix; the author is the part before
``/``. Ids are compared case-insensitively.
"""

from __future__ import annotations

from hive.consensus.profiles import Profile


def base_model(model: str) -> str:
    """``author/slug``: the id without its ``~`` alias prefix or ``:variant``, lowercased."""
    return model.removeprefix("~").partition(":")[0].lower()


def author(model: str) -> str:
    """The part before ``/``: the lab (or publisher) whose family the model belongs to."""
    return base_model(model).partition("/")[0]


def _roles(profile: Profile) -> list[tuple[str, str]]:
    """(role, model) for every model whose work the validator judges, each pair once."""
    pairs = [("generator", m) for m in profile.stage("generate").models]
    pairs += [("refiner", m) for m in profile.stage("refine").models]
    return list(dict.fromkeys(pairs))


def _named(pairs: list[tuple[str, str]]) -> str:
    """``generator a/x, generator a/y and refiner a/z``."""
    names = [f"{role} {model}" for role, model in pairs]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def judge_warnings(profile: Profile) -> list[str]:
    """One line per validator model (the primary, then each fallback) that is the same model as
    a generator or the refiner, and another per one from the same author; empty when the judge
    is independent. Lines carry no ``hive: warning:`` prefix: the caller adds its own."""
    validate = profile.stage("validate")
    judges = [("validator", m) for m in validate.models]
    judges += [("validate fallback", m) for m in validate.fallbacks]
    judged = _roles(profile)
    out: list[str] = []
    for role, judge in judges:
        same = [(r, m) for r, m in judged if base_model(m) == base_model(judge)]
        kin = [
            (r, m)
            for r, m in judged
            if author(m) == author(judge) and base_model(m) != base_model(judge)
        ]
        if same:
            out.append(
                f"{role} {judge} is the same model as {_named(same)}: judges tend to favour "
                "their own answers; choose a validator that neither drafts nor refines"
            )
        if kin:
            out.append(
                f"{role} {judge} is from the same author ({author(judge)}) as {_named(kin)}: "
                "judges tend to favour their own family's answers; choose a validator from "
                "another author"
            )
    return out
