"""Settings: defaults, overridden by ``config.toml``, overridden by environment variables.

Every value is validated by one pydantic model (``extra="forbid"``), so a typo in the file is
an error naming the file, the line and the setting, never a silent default.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hive.env import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_FREE_REQUESTS_PER_MINUTE,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_REFERER,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_TITLE,
)
from hive.errors import ConfigError, UsageError
from hive.store.files import atomic_write, locked, read_toml, storage_error, write_toml
from hive.store.paths import Paths


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_profile: str = Field(
        "balanced", description="profile used when `hive consensus` is given none"
    )
    base_url: str = Field(DEFAULT_BASE_URL, description="OpenRouter API base URL")
    request_timeout: float = Field(
        DEFAULT_REQUEST_TIMEOUT,
        gt=0,
        le=3600,
        description="seconds a stream may send nothing, not even a keep-alive, before it fails",
    )
    referer: str = Field(
        DEFAULT_REFERER, description="HTTP-Referer attribution header sent to OpenRouter"
    )
    title: str = Field(DEFAULT_TITLE, description="X-Title attribution header sent to OpenRouter")
    output: Literal["auto", "live", "plain", "json"] = Field(
        "auto", description="default output: auto picks live in a terminal, plain when piped"
    )
    color: Literal["auto", "always", "never"] = Field(
        "auto", description="colour in the terminal views (NO_COLOR also turns it off)"
    )
    simulation_speed: float = Field(
        1.0,
        ge=0,
        le=100,
        description="simulated streaming speed: 1 lifelike, 2 twice as fast, 0 instant",
    )

    max_cost_per_run: Decimal | None = Field(
        None, ge=0, description="USD a single run may spend (unset: no limit)"
    )
    daily_budget: Decimal | None = Field(
        None, ge=0, description="USD all runs may spend per day, local time (unset: no limit)"
    )
    monthly_budget: Decimal | None = Field(
        None, ge=0, description="USD all runs may spend per calendar month (unset: no limit)"
    )

    retry_attempts: int = Field(
        DEFAULT_RETRY_ATTEMPTS,
        ge=1,
        le=10,
        description="tries per model for a transient failure, the first included",
    )
    retry_base_delay: float = Field(
        DEFAULT_RETRY_BASE_DELAY,
        ge=0,
        le=60,
        description="seconds of backoff before the second try; doubles, jittered",
    )
    retry_max_wait: float = Field(
        DEFAULT_RETRY_MAX_WAIT,
        ge=0,
        le=3600,
        description="seconds one call may spend waiting between tries in all",
    )

    connect_timeout: float = Field(
        DEFAULT_CONNECT_TIMEOUT, gt=0, le=600, description="seconds to open a connection"
    )
    first_token_timeout: float = Field(
        DEFAULT_FIRST_TOKEN_TIMEOUT,
        gt=0,
        le=3600,
        description="seconds a call may wait for its first answer text, keep-alives or not",
    )
    max_concurrent_requests: int = Field(
        DEFAULT_MAX_CONCURRENT_REQUESTS,
        ge=0,
        le=256,
        description="model calls in flight at once (0: no limit)",
    )
    requests_per_minute: int = Field(
        DEFAULT_REQUESTS_PER_MINUTE,
        ge=0,
        description="model calls started in any 60 seconds (0: no limit)",
    )
    free_requests_per_minute: int = Field(
        DEFAULT_FREE_REQUESTS_PER_MINUTE,
        ge=0,
        description="calls to `:free` models started in any 60 seconds (0: no limit)",
    )
    max_file_kb: int = Field(
        512, ge=1, description="largest file -f attaches, in KiB (bigger ones are refused)"
    )
    data_collection: Literal["allow", "deny"] | None = Field(
        None,
        description="deny: every call goes only to providers that do not store or train on "
        "data (a profile cannot loosen it)",
    )
    zdr: bool = Field(
        False, description="true: every call goes only to zero-data-retention endpoints"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


# Environment variables override the file, one per setting that has one.
ENVIRONMENT: dict[str, str] = {
    "default_profile": "HIVE_PROFILE",
    "base_url": "OPENROUTER_BASE_URL",
    "request_timeout": "HIVE_TIMEOUT",
    "output": "HIVE_OUTPUT",
    "color": "HIVE_COLOR",
    "simulation_speed": "HIVE_SIMULATION_SPEED",
    "retry_attempts": "HIVE_RETRY_ATTEMPTS",
    "retry_base_delay": "HIVE_RETRY_BASE_DELAY",
    "retry_max_wait": "HIVE_RETRY_MAX_WAIT",
    "connect_timeout": "HIVE_CONNECT_TIMEOUT",
    "first_token_timeout": "HIVE_FIRST_TOKEN_TIMEOUT",
    "max_concurrent_requests": "HIVE_MAX_CONCURRENT_REQUESTS",
    "requests_per_minute": "HIVE_REQUESTS_PER_MINUTE",
    "free_requests_per_minute": "HIVE_FREE_REQUESTS_PER_MINUTE",
    "max_file_kb": "HIVE_MAX_FILE_KB",
    "data_collection": "HIVE_DATA_COLLECTION",
    "zdr": "HIVE_ZDR",
    "max_cost_per_run": "HIVE_MAX_COST_PER_RUN",
    "daily_budget": "HIVE_DAILY_BUDGET",
    "monthly_budget": "HIVE_MONTHLY_BUDGET",
}


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]  # setting -> "default" | "file" | "env NAME"


def load_settings(paths: Paths) -> LoadedSettings:
    data = read_toml(paths.config_file)
    _validate(data, paths.config_file)
    sources = {name: "file" if name in data else "default" for name in Settings.model_fields}
    merged = dict(data)
    for name, variable in ENVIRONMENT.items():
        value = os.environ.get(variable, "").strip()
        if value:
            merged[name] = value
            sources[name] = f"env {variable}"
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"environment: {_describe(exc, None, env=True)}") from exc
    return LoadedSettings(settings, sources)


def setting_names() -> list[str]:
    return list(Settings.model_fields)


def check_name(name: str) -> None:
    if name not in Settings.model_fields:
        raise UsageError(f"unknown setting {name!r}; settings are: {', '.join(setting_names())}")


def set_setting(paths: Paths, name: str, raw: str) -> Any:
    """Validate and store one setting; returns the typed value stored."""
    check_name(name)
    with locked(paths.config_file):
        data = read_toml(paths.config_file)
        _validate(data, paths.config_file)
        # The text as typed: pydantic turns "60" into 60.0 for a number and keeps "2024" a
        # string for a text setting.
        candidate = {**data, name: raw}
        try:
            value = getattr(Settings.model_validate(candidate), name)
        except ValidationError as exc:
            raise UsageError(_describe(exc, None)) from exc
        data[name] = value
        _save(paths.config_file, data, name)
    return value


def unset_setting(paths: Paths, name: str) -> bool:
    """Remove a setting from the file (back to its default); False if it was not set."""
    check_name(name)
    with locked(paths.config_file):
        data = read_toml(paths.config_file)
        _validate(data, paths.config_file)
        if name not in data:
            return False
        del data[name]
        _save(paths.config_file, data, name)
    return True


def _save(path: Path, data: dict[str, Any], name: str) -> None:
    """Write ``data``, in which ``name`` was just set or removed, changing only that line, so
    the file's comments and layout stay as the user left them. An edit the line cannot hold
    (a value written over several lines) rewrites the file plainly instead."""
    import tomli_w

    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise storage_error(f"cannot read {path}", path, exc) from exc
    line = tomli_w.dumps({name: data[name]}) if name in data else ""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")
    lines = text.splitlines(keepends=True)
    at = next((i for i, old in enumerate(lines) if pattern.match(old)), None)
    if at is None:
        edited = text + ("\n" if text and not text.endswith("\n") else "") + line
    else:
        lines[at] = line
        edited = "".join(lines)
    try:
        parsed = tomllib.loads(edited)
        kept = parsed.keys() == data.keys() and Settings.model_validate(
            parsed
        ) == Settings.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError):
        kept = False
    if kept:
        atomic_write(path, edited.encode("utf-8"))
    else:
        write_toml(path, data)


def validate_file(path: Path) -> None:
    """Raise ConfigError if ``path`` is not a valid settings file (used after `config edit`)."""
    _validate(read_toml(path), path)


def _validate(data: dict[str, Any], path: Path) -> None:
    try:
        Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, path)}") from exc


def _describe(exc: ValidationError, path: Path | None, *, env: bool = False) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "file"
        line = _line_of(path, name) if path else None
        where = f"line {line}: " if line else ""
        if env and name in ENVIRONMENT:
            name = f"{ENVIRONMENT[name]} ({name})"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}unknown setting {name!r}")
        else:
            problems.append(f"{where}{name}: {error['msg']}")
    return "; ".join(problems)


def _line_of(path: Path, key: str) -> int | None:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError:
        return None
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    return next((n for n, line in enumerate(lines, start=1) if pattern.match(line)), None)
