"""``hive profiles create --from X`` and ``edit``: what a profile inherits when a stage's model
is replaced (issue 8, item 14).

A fallback is chosen for a model: a similar model at a similar price. Inheriting the base's
fallbacks for a stage whose model was replaced once let a probe profile fall back, on the
server, to a model six times the price of the one chosen. So a replaced stage drops them unless
``--fallback`` gives new ones, ``--no-fallbacks STAGE`` clears a stage's list, a new profile does
not take its base's description, and one line on stderr says what was inherited and dropped.
Every test runs the real CLI (Typer's CliRunner) on a fresh HIVE_HOME; the one that runs
``hive consensus`` checks what reached the loopback server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES
from tests.helpers import hive, ok
from tests.loopback import LoopbackOpenRouter

BALANCED = BUILTIN_PROFILES["balanced"]
CHEAP = "openai/gpt-4o-mini"  # in the loopback server's model list
OTHER = "openai/gpt-4.1-nano"


def stages(name: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(ok(hive("profiles", "show", name, "--json")).stdout)
    return shown


def notes(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("note: ")]


def test_a_replaced_model_drops_that_stages_fallbacks_and_says_so() -> None:
    assert BALANCED.refine.fallbacks and BALANCED.description  # what there is to inherit

    result = ok(hive("profiles", "create", "probe", "--from", "balanced", "--refine", CHEAP))

    shown = stages("probe")
    assert shown["stages"]["refine"] == {
        "models": [CHEAP],
        "fallbacks": [],
        "temperature": BALANCED.refine.temperature,
        "max_tokens": BALANCED.refine.max_tokens,
    }
    for stage in ("generate", "validate", "curate"):  # untouched stages keep everything
        assert shown["stages"][stage]["fallbacks"] == list(BALANCED.stage(stage).fallbacks)
    assert shown["description"] == ""
    assert result.stdout == "created profile 'probe'\n"
    [note] = notes(result)
    assert note == (
        "note: from 'balanced': inherited the models and fallbacks of generate, validate and "
        "curate, and every setting not given; dropped refine's fallbacks ("
        + ", ".join(BALANCED.refine.fallbacks)
        + "), chosen for the replaced model, and the description; "
        "give --fallback refine=MODEL or --description to set them"
    )


def test_a_replaced_generate_stage_drops_its_fallbacks_too() -> None:
    result = ok(hive("profiles", "create", "probe", "--generate", CHEAP, "--generate", OTHER))

    assert stages("probe")["stages"]["generate"]["fallbacks"] == []
    [note] = notes(result)
    assert f"dropped generate's fallbacks ({', '.join(BALANCED.generate.fallbacks)})" in note


def test_given_fallbacks_and_description_are_kept() -> None:
    result = ok(
        hive(
            "profiles", "create", "probe", "--from", "balanced",
            "--refine", CHEAP, "--fallback", f"refine={OTHER}", "--description", "A probe",
        )
    )  # fmt: skip

    shown = stages("probe")
    assert shown["stages"]["refine"]["fallbacks"] == [OTHER]
    assert shown["description"] == "A probe"
    [note] = notes(result)
    assert "dropped" not in note
    assert note.startswith("note: from 'balanced': inherited the models and fallbacks of ")


def test_naming_the_same_model_again_is_not_a_replacement() -> None:
    same = BALANCED.refine.models[0]

    ok(hive("profiles", "create", "probe", "--refine", same, "--description", "x"))

    assert stages("probe")["stages"]["refine"]["fallbacks"] == list(BALANCED.refine.fallbacks)


def test_no_fallbacks_clears_stages_on_create_and_edit() -> None:
    ok(
        hive(
            "profiles", "create", "probe", "--from", "speed",
            "--no-fallbacks", "curate", "--no-fallbacks", "validate",
        )
    )  # fmt: skip
    shown = stages("probe")
    assert shown["stages"]["curate"]["fallbacks"] == []
    assert shown["stages"]["validate"]["fallbacks"] == []
    assert shown["stages"]["refine"]["fallbacks"] == list(
        BUILTIN_PROFILES["speed"].refine.fallbacks
    )

    ok(hive("profiles", "edit", "probe", "--no-fallbacks", "refine"))

    assert stages("probe")["stages"]["refine"]["fallbacks"] == []
    assert stages("probe")["stages"]["generate"]["fallbacks"] == list(
        BUILTIN_PROFILES["speed"].generate.fallbacks
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--no-fallbacks", "refine", "--fallback", f"refine={OTHER}"], "not both"),
        (["--no-fallbacks", "polish"], "--no-fallbacks takes a stage"),
    ],
)
def test_no_fallbacks_misuse_is_a_usage_error(args: list[str], says: str) -> None:
    result = hive("profiles", "create", "probe", *args)

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hive: error: ") and says in lines[0]
    assert hive("profiles", "show", "probe").exit_code == 2  # nothing was stored


def test_edit_drops_a_replaced_stages_fallbacks_and_keeps_the_description() -> None:
    ok(hive("profiles", "create", "team", "--from", "balanced", "--description", "Ours"))

    result = ok(hive("profiles", "edit", "team", "--curate", CHEAP))

    shown = stages("team")
    assert shown["stages"]["curate"] == {
        "models": [CHEAP],
        "fallbacks": [],
        "temperature": BALANCED.curate.temperature,
        "max_tokens": BALANCED.curate.max_tokens,
    }
    assert shown["description"] == "Ours"
    assert result.stdout == "updated profile 'team'\n"
    assert notes(result) == [
        f"note: dropped curate's fallbacks ({', '.join(BALANCED.curate.fallbacks)}), chosen for "
        "the replaced model; give --fallback curate=MODEL to set new ones"
    ]
    # An edit that replaces no model says nothing.
    assert notes(ok(hive("profiles", "edit", "team", "--temperature", "curate=0.5"))) == []


def test_the_created_profile_sends_no_inherited_fallback(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "probe", "--from", "speed", "--refine", CHEAP))

    ok(hive("consensus", "What is Rust?", "probe", "--quiet"))

    [refine] = [r for r in keyed_env.chat_requests() if r.body["model"] == CHEAP]
    assert "models" not in refine.body  # no server-side fallback to a pricier model
    speed = BUILTIN_PROFILES["speed"]
    [validate] = [
        r for r in keyed_env.chat_requests() if r.body["model"] == speed.validate_.models[0]
    ]
    assert validate.body["models"] == list(speed.validate_.fallbacks)
