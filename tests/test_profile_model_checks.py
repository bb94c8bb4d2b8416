"""Unknown model ids are flagged wherever a profile is used or shown, and the default profile
must exist (issue 8, item 15).

With the server's model list (live or cached) an id it lacks is named with the closest ids it
has; offline with only the built-in catalog, hive says it cannot verify the id rather than
staying silent. ``hive config set default_profile`` (and ``config edit``) refuse a profile that
does not exist. Every test runs the real CLI on a fresh HIVE_HOME; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hive.cli.models import catalog_cache
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.openrouter.catalog_cache import write_cache
from hive.store.paths import resolve_paths
from tests.helpers import hive, ok
from tests.loopback import DEFAULT_MODELS, LoopbackOpenRouter

TYPO = "openai/gpt-4o-minii"  # in no catalog
NEW = "vendor/brand-new-model"  # in no catalog either
PROFILES = ", ".join(BUILTIN_PROFILES)


def warnings(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("hive: warning: ")]


def one_error(result: Any, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hive: error: "), lines
    return str(lines[0])


def config_text() -> str:
    path = resolve_paths().config_file
    return path.read_text("utf-8") if path.exists() else ""


# --- offline, with only the built-in catalog ----------------------------------------------------


def test_show_says_an_id_cannot_be_verified_with_only_the_builtin_catalog() -> None:
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", NEW))

    result = ok(hive("profiles", "show", "probe"))

    assert warnings(result) == [
        f"hive: warning: cannot verify: {NEW} is not in the built-in catalog "
        "(hive has no copy of OpenRouter's model list)"
    ]
    assert warnings(ok(hive("profiles", "show", "probe", "--json"))) == warnings(result)
    assert warnings(ok(hive("profiles", "show", "speed"))) == []  # built-ins are all listed


def test_create_and_edit_flag_unverified_ids() -> None:
    created = ok(hive("profiles", "create", "probe", "--from", "speed", "--curate", NEW))
    edited = ok(hive("profiles", "edit", "probe", "--validate", TYPO))

    assert [w.split(": ")[3].split()[0] for w in warnings(created)] == [NEW]
    unlisted, biased = warnings(edited)[:2], warnings(edited)[2:]
    assert [w.split(": ")[3].split()[0] for w in unlisted] == [TYPO, NEW]
    # An openai/ validator over speed's openai/ refiner: the family warning comes after.
    assert [w.split()[3] for w in biased] == [TYPO] and "same author (openai)" in biased[0]


def test_a_simulated_run_flags_an_unverified_id() -> None:
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", NEW))

    result = ok(hive("consensus", "What is Rust?", "probe", "--simulate", "--plain"))

    assert f"hive: cannot verify: {NEW} is not in the built-in catalog" in result.stderr


# --- with a model list --------------------------------------------------------------------------


def test_show_names_the_closest_ids_from_openrouters_cached_list() -> None:
    write_cache(
        catalog_cache(resolve_paths()), DEFAULT_MODELS, datetime.now(UTC) - timedelta(days=3)
    )
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", TYPO))

    result = ok(hive("profiles", "show", "probe"))

    [warning] = warnings(result)
    assert warning.startswith(
        f"hive: warning: {TYPO} is not in OpenRouter's model list; closest: openai/gpt-4o-mini, "
    )


def test_a_run_names_the_servers_list_and_the_closest_ids(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", TYPO))
    host = keyed_env.base_url.split("/")[2]

    result = ok(hive("consensus", "What is Rust?", "probe", "--plain"))

    expected = f"hive: {TYPO} is not in the model list of {host}; closest: openai/gpt-4o-mini, "
    assert any(line.startswith(expected) for line in result.stderr.splitlines())
    assert "OpenRouter's model list" not in result.stderr


# --- the default profile -------------------------------------------------------------------------


def test_config_set_default_profile_refuses_an_unknown_profile() -> None:
    before = config_text()

    line = one_error(hive("config", "set", "default_profile", "ghost"), 2)

    assert line == f"hive: error: unknown profile 'ghost'; choose one of: {PROFILES}"
    assert config_text() == before
    ok(hive("profiles", "create", "team", "--from", "speed"))
    assert (
        ok(hive("config", "set", "default_profile", "team")).stdout == 'default_profile = "team"\n'
    )
    assert ok(hive("config", "get", "default_profile")).stdout == "team\n"


def test_config_edit_refuses_an_unknown_default_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\n"
        "with open(sys.argv[1], 'a', encoding='utf-8') as f:\n"
        "    f.write('default_profile = \"ghost\"\\n')\n",
        "utf-8",
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    monkeypatch.delenv("EDITOR", raising=False)

    line = one_error(hive("config", "edit"), 2)

    assert "unknown profile 'ghost'" in line and "your edit is kept in" in line
    assert "ghost" not in config_text()


def test_a_bad_hive_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_PROFILE", "ghost")

    line = one_error(hive("consensus", "What is Rust?", "--simulate"), 2)

    assert "unknown profile 'ghost'" in line and "balanced" in line


def test_list_flags_unverified_ids_naming_the_profile() -> None:
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", NEW))

    for args in (["profiles", "list"], ["profiles", "list", "--json"]):
        assert warnings(ok(hive(*args))) == [
            f"hive: warning: profile 'probe': cannot verify: {NEW} is not in the built-in "
            "catalog (hive has no copy of OpenRouter's model list)"
        ]
