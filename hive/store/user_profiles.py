"""User profiles in ``profiles.toml`` beside ``config.toml``, merged over the built-ins.

The file holds one table per profile, in the same shape ``hive profiles export`` prints::

    [team]
    description = "..."
    [team.generate]
    models = ["openai/gpt-5.4-mini", "google/gemini-3-flash-preview"]
    temperature = 0.7
    max_tokens = 2048
    [team.refine]
    ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hive.consensus.profiles import BUILTIN_PROFILES, STAGES, AdaptiveSpec, Profile
from hive.errors import ConfigError, UsageError
from hive.store.files import locked, read_toml, write_toml
from hive.store.paths import Paths


@dataclass(frozen=True, slots=True)
class Entry:
    profile: Profile
    source: str  # "built-in" | "user" | "user (overrides built-in)"


def profile_to_toml(profile: Profile) -> dict[str, Any]:
    """The profile's table; an empty ``system`` is left out (older hives read the file too)."""
    # exclude_none: TOML has no null, and an unset control is simply absent.
    table = profile.model_dump(mode="json", by_alias=True, exclude={"name"}, exclude_none=True)
    if not table.get("system"):
        table.pop("system", None)
    return table


def parse_profiles(data: dict[str, Any], origin: Path | str | None) -> dict[str, Profile]:
    """Validate every ``[name]`` table; errors name the origin, the profile and the field."""
    profiles = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{origin or 'profiles'}: {name!r} must be a table of profile settings"
            )
        try:
            profiles[name] = Profile.model_validate({**table, "name": name})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or name}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            where = f"{origin}: " if origin else ""
            raise ConfigError(f"{where}profile {name!r}: {problems}") from exc
    return profiles


class ProfileStore:
    def __init__(self, paths: Paths) -> None:
        self._file = paths.profiles_file

    def user(self) -> dict[str, Profile]:
        return parse_profiles(read_toml(self._file), self._file)

    def entries(self) -> dict[str, Entry]:
        entries = {name: Entry(p, "built-in") for name, p in BUILTIN_PROFILES.items()}
        for name, profile in self.user().items():
            source = "user (overrides built-in)" if name in BUILTIN_PROFILES else "user"
            entries[name] = Entry(profile, source)
        return entries

    def entry(self, name: str) -> Entry:
        entries = self.entries()
        if name not in entries:
            raise UsageError(f"unknown profile {name!r}; choose one of: {', '.join(entries)}")
        return entries[name]

    def get(self, name: str) -> Profile:
        return self.entry(name).profile

    def save(self, *profiles: Profile, force: bool = False, replace: bool = False) -> None:
        """Store user profiles, all or none. Shadowing a built-in needs ``force``; overwriting
        a user profile needs ``replace`` (edits) or ``force`` (creates, imports)."""
        for profile in profiles:
            if profile.name in BUILTIN_PROFILES and not force:
                raise UsageError(
                    f"{profile.name!r} is a built-in profile; add --force to override it"
                )
        with locked(self._file):
            data = read_toml(self._file)
            parse_profiles(data, self._file)
            for profile in profiles:
                if profile.name in data and not (replace or force):
                    raise UsageError(
                        f"profile {profile.name!r} already exists; add --force to replace it"
                    )
            data.update({p.name: profile_to_toml(p) for p in profiles})
            write_toml(self._file, data)

    def delete(self, name: str) -> None:
        with locked(self._file):
            data = read_toml(self._file)
            parse_profiles(data, self._file)
            if name not in data:
                if name in BUILTIN_PROFILES:
                    raise UsageError(f"{name!r} is a built-in profile and cannot be deleted")
                raise UsageError(f"no user profile named {name!r}")
            del data[name]
            write_toml(self._file, data)


@dataclass(frozen=True, slots=True)
class Derivation:
    """A profile made from another, and what it took from it: ``kept`` are the stages whose
    models and fallbacks are the base's; ``dropped`` the fallbacks left behind because their
    stage's model changed (``cleared``: because they were asked away); ``description_dropped``
    whether the base's description was not carried over."""

    profile: Profile
    kept: tuple[str, ...]
    dropped: dict[str, tuple[str, ...]]
    cleared: dict[str, tuple[str, ...]]
    description_dropped: bool


def derive_profile(
    base: Profile,
    name: str,
    *,
    description: str | None = None,
    keep_description: bool = True,
    models: dict[str, list[str]] | None = None,
    fallbacks: dict[str, list[str]] | None = None,
    clear_fallbacks: Iterable[str] = (),
    temperatures: dict[str, float] | None = None,
    max_tokens: dict[str, int] | None = None,
    adaptive: dict[str, str] | None = None,
    system: str | None = None,
) -> Derivation:
    """``base`` with the given changes, validated as a whole (ids, ranges, one model per later
    stage). Each mapping is keyed by stage name.

    Fallbacks are chosen for a model (a similar model at a similar price), so a stage whose
    models change does not keep the base's: they are dropped unless ``fallbacks`` gives new
    ones (a model named again, unchanged, keeps them). ``clear_fallbacks`` empties a stage's
    list; naming a stage there and in ``fallbacks`` is a UsageError. ``keep_description=False``
    (a new profile) leaves the base's description behind unless ``description`` is given.
    ``adaptive`` sets adaptive rules by name (``{"quorum": "3"}``), validated with the rest."""
    models, fallbacks = models or {}, fallbacks or {}
    clear = list(dict.fromkeys(clear_fallbacks))
    for stage in clear:
        if stage not in STAGES:
            raise UsageError(f"--no-fallbacks takes a stage: one of {', '.join(STAGES)}")
        if stage in fallbacks:
            raise UsageError(f"{stage}: give --fallback or --no-fallbacks, not both")
    table = profile_to_toml(base)
    description_dropped = False
    if system is not None:
        table["system"] = system
    if description is not None:
        table["description"] = description
    elif not keep_description and base.description:
        table["description"] = ""
        description_dropped = True
    dropped: dict[str, tuple[str, ...]] = {}
    cleared: dict[str, tuple[str, ...]] = {}
    for stage in STAGES:
        old = base.stage(stage)
        replaced = stage in models and tuple(models[stage]) != old.models
        if stage in clear:
            table[stage]["fallbacks"] = []
            if old.fallbacks:
                cleared[stage] = old.fallbacks
        elif replaced and stage not in fallbacks:
            table[stage]["fallbacks"] = []
            if old.fallbacks:
                dropped[stage] = old.fallbacks
    for key, changes in (
        ("models", models),
        ("fallbacks", fallbacks),
        ("temperature", temperatures),
        ("max_tokens", max_tokens),
    ):
        for stage, value in (changes or {}).items():
            table[stage][key] = value
    for rule, setting in (adaptive or {}).items():
        if rule not in AdaptiveSpec.model_fields:
            raise UsageError(
                f"--adaptive: no rule {rule!r}; one of {', '.join(AdaptiveSpec.model_fields)}"
            )
        table["adaptive"][rule] = setting
    profile = parse_profiles({name: table}, None)[name]
    kept = tuple(
        s
        for s in STAGES
        if (profile.stage(s).models, profile.stage(s).fallbacks)
        == (base.stage(s).models, base.stage(s).fallbacks)
    )
    return Derivation(profile, kept, dropped, cleared, description_dropped)


def derive(base: Profile, name: str, **changes: Any) -> Profile:
    """``derive_profile(...).profile``: the profile alone."""
    return derive_profile(base, name, **changes).profile


def derivation_note(derivation: Derivation, base_name: str, *, creating: bool) -> str | None:
    """One line saying what a new profile took from ``base_name`` and what it left behind; for
    an edit, only what was dropped (None when nothing was)."""

    def join(items: list[str], word: str = "and") -> str:
        return ", ".join(items[:-1]) + f" {word} " + items[-1] if len(items) > 1 else items[0]

    parts = [f"{stage}'s fallbacks ({', '.join(ids)})" for stage, ids in derivation.dropped.items()]
    hints = [f"--fallback {stage}=MODEL" for stage in derivation.dropped]
    dropped = ""
    if parts:
        dropped = f"{join(parts)}, chosen for the replaced model{'s' if len(parts) > 1 else ''}"
    if derivation.description_dropped:
        dropped += ", and the description" if dropped else "the description"
        hints.append("--description")
    if dropped:
        them = "them" if len(hints) > 1 or len(parts) > 1 else "it" if not parts else "new ones"
        dropped = f"dropped {dropped}; give {join(hints, 'or')} to set {them}"
    if not creating:
        return dropped or None
    kept = list(derivation.kept)
    took = (
        "inherited every stage's models and fallbacks, and"
        if len(kept) == len(STAGES)
        else f"inherited the models and fallbacks of {join(kept)}, and"
        if kept
        else "inherited"
    )
    took += " every setting not given"
    return f"from {base_name!r}: {took}" + (f"; {dropped}" if dropped else "")
