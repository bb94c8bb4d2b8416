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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hive.consensus.profiles import BUILTIN_PROFILES, Profile
from hive.errors import ConfigError, UsageError
from hive.store.files import locked, read_toml, write_toml
from hive.store.paths import Paths


@dataclass(frozen=True, slots=True)
class Entry:
    profile: Profile
    source: str  # "built-in" | "user" | "user (overrides built-in)"


def profile_to_toml(profile: Profile) -> dict[str, Any]:
    return profile.model_dump(mode="json", by_alias=True, exclude={"name"})


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


def derive(
    base: Profile,
    name: str,
    *,
    description: str | None = None,
    models: dict[str, list[str]] | None = None,
    fallbacks: dict[str, list[str]] | None = None,
    temperatures: dict[str, float] | None = None,
    max_tokens: dict[str, int] | None = None,
) -> Profile:
    """``base`` with the given changes, validated as a whole (ids, ranges, one model per later
    stage). Each mapping is keyed by stage name."""
    table = profile_to_toml(base)
    if description is not None:
        table["description"] = description
    for key, changes in (
        ("models", models),
        ("fallbacks", fallbacks),
        ("temperature", temperatures),
        ("max_tokens", max_tokens),
    ):
        for stage, value in (changes or {}).items():
            table[stage][key] = value
    return parse_profiles({name: table}, None)[name]
