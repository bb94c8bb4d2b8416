"""What ships: profiles that name real models, a price catalog that matches OpenRouter's, a
startup that imports nothing heavy, and package metadata that says what it should."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
from hive.openrouter.catalog import builtin_prices
from tests.conftest import fixture_path
from tests.helpers import run

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_CATALOG = ROOT / "hive" / "openrouter" / "builtin_catalog.json"
RUNTIME_DEPENDENCIES = ["typer", "rich", "httpx", "pydantic", "platformdirs", "tomli-w"]
HEAVY_MODULES = {"httpx", "pydantic", "rich.live", "hive.openrouter.client"}


def snapshot_models() -> dict[str, dict[str, Any]]:
    data = json.loads(fixture_path("models.json").read_text("utf-8"))
    return {model["id"]: model for model in data["data"]}


def builtin_catalog() -> dict[str, dict[str, Any]]:
    data = json.loads(BUILTIN_CATALOG.read_text("utf-8"))
    return {model["id"]: model for model in data["data"]}


def profile_models() -> set[str]:
    return {model for profile in BUILTIN_PROFILES.values() for model in profile.all_models()}


# --- (a) profiles name real models ----------------------------------------------------------


def test_every_profile_model_is_in_the_snapshot() -> None:
    snapshot = snapshot_models()
    missing = {
        (profile.name, stage, model)
        for profile in BUILTIN_PROFILES.values()
        for stage in STAGES
        for model in profile.stage(stage).models
        if model not in snapshot
    }
    assert missing == set()


def test_profiles_are_well_formed() -> None:
    assert list(BUILTIN_PROFILES) == ["balanced", "speed", "quality", "cost", "free"]
    for profile in BUILTIN_PROFILES.values():
        assert len(profile.generate.models) >= 1
        for stage in STAGES[1:]:
            assert len(profile.stage(stage).models) == 1, (profile.name, stage)


def test_free_profile_uses_only_free_models() -> None:
    snapshot = snapshot_models()
    models = BUILTIN_PROFILES["free"].all_models()
    assert models
    for model in models:
        assert model.endswith(":free"), model
        pricing = snapshot[model]["pricing"]
        assert Decimal(pricing["prompt"]) == 0 and Decimal(pricing["completion"]) == 0


# --- (b) the shipped price catalog --------------------------------------------------------------


def test_builtin_catalog_has_exactly_the_profile_models() -> None:
    catalog = builtin_catalog()
    assert set(catalog) == profile_models()
    assert set(builtin_prices()) == profile_models()


def test_builtin_prices_equal_the_snapshot() -> None:
    snapshot = snapshot_models()
    for model_id, entry in builtin_catalog().items():
        expected = snapshot[model_id]["pricing"]
        actual = entry["pricing"]
        for field in ("prompt", "completion"):
            assert actual[field] == expected[field], (model_id, field)
        # Optional prices a stage's controls add (web search, reasoning) are as listed too.
        for field in ("request", "web_search", "internal_reasoning"):
            assert actual.get(field) == expected.get(field), (model_id, field)
        # What each model accepts, for `hive profiles check` without a network.
        assert entry["supported_parameters"] == snapshot[model_id].get("supported_parameters", [])

        price = builtin_prices()[model_id]
        assert price.prompt == Decimal(expected["prompt"])
        assert price.completion == Decimal(expected["completion"])
        assert price.request == Decimal(expected.get("request", "0"))
        web, reasoning = expected.get("web_search"), expected.get("internal_reasoning")
        assert price.web_search == (None if web is None else Decimal(web))
        assert price.reasoning == (None if reasoning is None else Decimal(reasoning))


# --- (c) startup imports --------------------------------------------------------------------


def imported_modules(*args: str) -> set[str]:
    """Module names ``python -X importtime -m hive ARGS`` imported (names only, no timings)."""
    proc = run([sys.executable, "-X", "importtime", "-m", "hive", *args])
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+\s+\|\s+\d+\s+\|\s+(\S.*)$", line)
        if match:
            names.add(match.group(1).strip())
    # The parse found real lines: hive itself was imported (and, but for --version, its CLI).
    expected = {"hive", "hive.cli.entry"}
    if list(args) not in (["--version"], ["-V"]):
        expected |= {"hive.cli.app", "typer"}
    assert expected <= names, sorted(names)[:20]
    return names


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_startup_imports_nothing_heavy(args: list[str]) -> None:
    names = imported_modules(*args)
    heavy = {name for name in names if name.split(".")[0] in {"httpx", "pydantic"}}
    assert heavy == set()
    assert not HEAVY_MODULES & names


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_loads_neither_typer_nor_click(flag: str) -> None:
    """``hive --version`` is answered by hive/cli/entry.py before the Typer app is imported."""
    names = imported_modules(flag)
    loaded = {name.split(".")[0] for name in names}
    assert loaded & {"typer", "click", "rich", "httpx", "pydantic", "platformdirs"} == set()
    assert "hive.cli.app" not in names


@pytest.mark.slow
def test_version_says_the_same_on_the_fast_path_and_through_typer() -> None:
    def python(*argv: str) -> str:
        proc = run([sys.executable, *argv], check=True)
        assert proc.stderr == ""
        return proc.stdout

    from hive import __version__

    expected = f"hive {__version__}\n"
    assert python("-m", "hive", "--version") == expected
    assert python("-m", "hive", "-V") == expected
    # The console script's own function, as `hive --version` calls it.
    script = "import sys; sys.argv = ['hive', '--version']; from hive.cli.entry import main; main()"
    assert python("-c", script) == expected
    # Through Typer (a root option first, so the fast path does not apply): the same line.
    assert python("-m", "hive", "--debug", "--version") == expected


@pytest.mark.slow
def test_consensus_help_imports_no_http_stack() -> None:
    # Not pydantic: Typer (0.29) imports it itself to coerce the root options of any subcommand.
    names = imported_modules("consensus", "--help")
    assert {name for name in names if name.split(".")[0] in {"httpx", "httpcore"}} == set()
    assert not {"rich.live", "hive.openrouter.client", "hive.consensus.pipeline"} & names


@pytest.mark.slow
def test_a_run_does_import_the_client() -> None:
    """The check above can fail: a real (simulated) run imports what --help must not."""
    names = imported_modules("consensus", "What is Rust?", "speed", "--quiet")
    assert {"httpx", "hive.openrouter.client"} <= names


# --- (d) package metadata ---------------------------------------------------------------------


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def test_pyproject_metadata() -> None:
    data = pyproject()
    project = data["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"] == {"hive": "hive.cli.entry:main"}
    names = [requirement_name(r) for r in project["dependencies"]]
    assert sorted(names) == sorted(RUNTIME_DEPENDENCIES)
    assert len(names) == len(set(names))
    assert data["build-system"]["build-backend"] == "hatchling.build"
    assert any(requirement_name(r) == "hatchling" for r in data["build-system"]["requires"])
