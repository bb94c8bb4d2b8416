"""Are a profile's models still what the catalog offers, and what replaces those that are not.

Pure functions over a ``Profile`` and a ``Catalog`` (no I/O; ``today`` comes in), table-tested
in ``tests/test_profiles_check.py``; ``hive profiles check`` and ``hive profiles update``
(hive/cli/profile_check.py) render and apply them.

A model id is *stale* when the server's own list (live or cached) does not have it, or lists it
with an ``expiration_date`` that has come (on that day or after). An id missing from the small
built-in catalog is *unverified*, never stale: a new model and a retired one look alike there.

A stale id's *successor* comes from OpenRouter's alias ids: ``~anthropic/claude-sonnet-latest``
carries ``alias_target: {"slug": "anthropic/claude-sonnet-5", ...}``, and its stem
``anthropic/claude-sonnet`` covers every id of that family: the same words once its version
words (those with a digit) are set aside (``anthropic/claude-sonnet-4.5``, but not
``anthropic/claude-sonnet-4.5-thinking``). A ``:variant`` (``:free``,
``:batch``) carries over only when the catalog lists the successor with it; otherwise there is
no successor, since dropping it would change what calls cost or how they are served.

The parameters a stage's calls send that a model's ``supported_parameters`` should name:
``temperature`` and ``max_tokens`` always; ``seed`` on every generate call (fallbacks too) when
a generator is listed more than once (hive/consensus/drafting.py); ``reasoning`` when the stage
sets it. OpenRouter ignores a parameter the model does not take, unless the stage's provider
routing sets ``require_parameters``: then no provider takes the call. Web search (OpenRouter's
``openrouter:web_search`` server tool, hive/consensus/controls.py) needs nothing of the model:
OpenRouter runs it for any model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from hive.consensus.bias import base_model, judge_warnings
from hive.consensus.profiles import STAGES, Profile
from hive.openrouter.catalog import Catalog, CatalogModel

Status = Literal["listed", "expired", "missing", "unverified"]
STALE: frozenset[str] = frozenset({"expired", "missing"})
# Catalog sources that are the server's own list: an id they lack is not on the server.
OWN_LIST: frozenset[str] = frozenset({"live", "cache", "cache (stale)"})
ALIAS_PREFIX, ALIAS_SUFFIX = "~", "-latest"
WORD_BREAKS = "-._"


@dataclass(frozen=True, slots=True)
class Alias:
    """``~author/family-latest``: ``stem`` is ``author/family``, ``target`` the id it names."""

    id: str
    stem: str
    target: str


@dataclass(frozen=True, slots=True)
class Successor:
    """What replaces ``old``: ``new`` (found through ``alias``), or None and ``why`` not."""

    old: str
    new: str | None
    alias: str | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class ModelCheck:
    """One model of a stage as the catalog sees it. ``lacks``: the sent parameters it does not
    take (None: the catalog does not say what it takes, or does not list it); ``successor``
    and ``closest`` are only looked for when the id is stale."""

    model: str
    fallback: bool
    status: Status
    entry: CatalogModel | None
    lacks: tuple[str, ...] | None
    alias_target: str | None
    expires: date | None
    successor: Successor | None = None
    closest: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StageCheck:
    stage: str
    sends: tuple[str, ...]  # the parameters its calls send (see the module docstring)
    enforced: bool  # provider routing sets require_parameters
    web: bool
    models: tuple[ModelCheck, ...]


@dataclass(frozen=True, slots=True)
class ProfileCheck:
    profile: Profile
    stages: tuple[StageCheck, ...]
    warnings: tuple[str, ...]

    def ids(self, *statuses: str) -> list[str]:
        """Model ids (once each, in stage order) whose status is one of ``statuses``."""
        found = (m.model for s in self.stages for m in s.models if m.status in statuses)
        return list(dict.fromkeys(found))

    @property
    def stale(self) -> list[str]:
        return self.ids(*STALE)

    @property
    def ok(self) -> bool:
        return not self.stale

    @property
    def successors(self) -> dict[str, str]:
        """Each stale id that has a successor, and that successor."""
        rows = (m for s in self.stages for m in s.models)
        return {m.model: m.successor.new for m in rows if m.successor and m.successor.new}


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    replacements: tuple[Successor, ...]  # each with a ``new`` id
    skipped: tuple[Successor, ...]  # stale, with no successor to take (``why``)
    unverified: tuple[str, ...]

    @property
    def mapping(self) -> dict[str, str]:
        return {s.old: s.new for s in self.replacements if s.new is not None}


# --- what the catalog says about one id ---------------------------------------------------------


def alias_target(model: CatalogModel) -> str | None:
    """The id an alias entry points to now (its raw ``alias_target.slug``); None otherwise."""
    raw = (model.model_extra or {}).get("alias_target")
    slug = raw.get("slug") if isinstance(raw, Mapping) else None
    return slug.strip() if isinstance(slug, str) and slug.strip() else None


def alias_stem(model_id: str) -> str | None:
    """``anthropic/claude-sonnet`` for ``~anthropic/claude-sonnet-latest``; None for an id
    that is not an alias."""
    if not (model_id.startswith(ALIAS_PREFIX) and model_id.endswith(ALIAS_SUFFIX)):
        return None
    stem = model_id[len(ALIAS_PREFIX) : -len(ALIAS_SUFFIX)]
    author, _, family = stem.partition("/")
    return stem if author and family else None


def aliases(catalog: Catalog) -> list[Alias]:
    """The catalog's alias ids with a target, longest stem first."""
    found = [
        Alias(model.id, stem, target)
        for model in catalog
        if (stem := alias_stem(model.id)) and (target := alias_target(model))
    ]
    return sorted(found, key=lambda a: (-len(a.stem), a.id))


def covers(stem: str, slug: str) -> bool:
    """Whether alias stem ``stem`` names ``slug``'s family: the same words once the version
    words (any with a digit) are set aside, in order. ``openai/gpt-mini`` covers
    ``openai/gpt-5.4-mini`` and ``openai/gpt`` does not (a mini is not its successor's full
    model); ``anthropic/claude-sonnet`` covers ``anthropic/claude-sonnet-4.5``."""
    return _family(stem) == _family(slug)


def _family(slug: str) -> list[str]:
    """``author/slug``'s words without its version words: ``["openai", "gpt", "mini"]``."""
    words = re.split(f"[/{re.escape(WORD_BREAKS)}]", slug.lower())
    return [w for w in words if w and not any(c.isdigit() for c in w)]


def expiry(model: CatalogModel) -> date | None:
    """The date of the model's ``expiration_date`` (``2026-12-31``, or a timestamp that begins
    with one); None when it has none or it does not parse."""
    try:
        return date.fromisoformat((model.expiration_date or "").strip()[:10])
    except ValueError:
        return None


def status(catalog: Catalog, model_id: str, today: date) -> Status:
    model = catalog.get(model_id)
    if model is None:
        return "missing" if catalog.source in OWN_LIST else "unverified"
    ends = expiry(model)
    return "expired" if ends is not None and ends <= today else "listed"


def successor(catalog: Catalog, model_id: str, today: date) -> Successor:
    """What replaces ``model_id``: the target of the alias whose stem covers its
    ``author/slug`` (longest stem first), with its ``:variant`` when the catalog lists that."""
    base, sep, variant = model_id.partition(":")
    slug = base.removeprefix(ALIAS_PREFIX)
    match = next((a for a in aliases(catalog) if covers(a.stem, slug)), None)
    if match is None:
        return Successor(model_id, None, why="no ~author/…-latest alias covers it")
    new = f"{match.target}{sep}{variant}"
    points = f"{match.id} points to {match.target}"
    if new not in catalog:
        listed = variant and match.target in catalog
        why = f"{points}, which is not listed" + (f" with :{variant}" if listed else "")
    elif new == model_id:
        why = f"{points}, this very model"
    elif status(catalog, new, today) == "expired":
        why = f"{points}, which has expired too"
    else:
        return Successor(model_id, new, match.id)
    return Successor(model_id, None, match.id, why)


# --- a stage and a profile ----------------------------------------------------------------------


def sent_parameters(profile: Profile, stage: str) -> tuple[str, ...]:
    """The ``supported_parameters`` names a stage's calls send."""
    spec = profile.stage(stage)
    sent = ["temperature", "max_tokens"]
    # As hive/consensus/drafting.py decides: a model listed twice (variants count as one)
    # puts a seed on every generate call.
    if stage == "generate" and len({base_model(m) for m in spec.models}) < len(spec.models):
        sent.append("seed")
    if spec.reasoning is not None:
        sent.append("reasoning")
    return tuple(sent)


def lacking(model: CatalogModel, sent: tuple[str, ...]) -> tuple[str, ...] | None:
    """The parameters of ``sent`` the model does not take; None when the catalog does not say
    what it takes (an empty ``supported_parameters``)."""
    if not model.supported_parameters:
        return None
    return tuple(p for p in sent if p not in model.supported_parameters)


def check_model(
    catalog: Catalog, model_id: str, sent: tuple[str, ...], today: date, *, fallback: bool = False
) -> ModelCheck:
    found = status(catalog, model_id, today)
    entry = catalog.get(model_id)
    row = ModelCheck(
        model=model_id,
        fallback=fallback,
        status=found,
        entry=entry,
        lacks=None if entry is None else lacking(entry, sent),
        alias_target=None if entry is None else alias_target(entry),
        expires=None if entry is None else expiry(entry),
    )
    if found not in STALE:
        return row
    heir = successor(catalog, model_id, today)
    close = () if heir.new or found != "missing" else tuple(catalog.closest(model_id))
    return replace(row, successor=heir, closest=close)


def check_profile(profile: Profile, catalog: Catalog, today: date) -> ProfileCheck:
    """Every stage's models and fallbacks against ``catalog``, and the profile's warnings:
    reasoning budgets that leave little room for an answer, validators that judge their own
    family (hive/consensus/bias.py)."""
    stages = []
    for stage in STAGES:
        spec, sent = profile.stage(stage), sent_parameters(profile, stage)
        routing = profile.routing(stage)
        ids = [(m, False) for m in dict.fromkeys(spec.models)]
        ids += [(m, True) for m in dict.fromkeys(spec.fallbacks)]
        rows = tuple(check_model(catalog, m, sent, today, fallback=f) for m, f in ids)
        enforced = bool(routing and routing.require_parameters)
        stages.append(StageCheck(stage, sent, enforced, spec.web is not None, rows))
    warnings = (*profile.reasoning_warnings(), *judge_warnings(profile))
    return ProfileCheck(profile, tuple(stages), warnings)


# --- updating -----------------------------------------------------------------------------------


def plan_update(profile: Profile, catalog: Catalog, today: date) -> UpdatePlan:
    """A successor for each stale id of the profile (fallbacks included), in stage order."""
    found = [successor(catalog, m, today) for m in profile.all_models()
             if status(catalog, m, today) in STALE]  # fmt: skip
    unverified = [m for m in profile.all_models() if status(catalog, m, today) == "unverified"]
    return UpdatePlan(
        tuple(s for s in found if s.new is not None),
        tuple(s for s in found if s.new is None),
        tuple(unverified),
    )


def replaced_stages(
    profile: Profile, mapping: Mapping[str, str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The models and the fallbacks of each stage ``mapping`` changes, with its ids replaced
    (for ``derive_profile``). Fallbacks that become the same id are kept once."""
    models: dict[str, list[str]] = {}
    fallbacks: dict[str, list[str]] = {}
    for stage in STAGES:
        spec = profile.stage(stage)
        if not any(m in mapping for m in (*spec.models, *spec.fallbacks)):
            continue
        models[stage] = [mapping.get(m, m) for m in spec.models]
        fallbacks[stage] = list(dict.fromkeys(mapping.get(m, m) for m in spec.fallbacks))
    return models, fallbacks
