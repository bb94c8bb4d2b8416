"""A profile's adaptive rules: shown by ``hive profiles show``, set with ``--adaptive RULE=VALUE``
on create and edit, validated with the rest of the profile, stored, and used by a run."""

from __future__ import annotations

import json

from hive.consensus.profiles import BUILTIN_PROFILES
from tests.helpers import hive


def test_show_explains_each_rule_with_its_setting() -> None:
    text = hive("profiles", "show", "balanced")

    assert text.exit_code == 0, text.stderr
    out = text.stdout
    assert "adaptive (change with hive profiles edit NAME --adaptive RULE=VALUE):" in out
    assert "cut a generator still writing at 2x their median time (straggler_factor)" in out
    assert "escalation: ask 2 generator(s) first (first_panel)" in out
    assert "skip curate: when the validator lists no issues at confidence 0.9" in out
    quality = hive("profiles", "show", "quality").stdout
    assert "skip curate: off, always curate (skip_curate=false)" in quality
    assert "rounds: up to 2 (rounds)" in quality
    speed = hive("profiles", "show", "speed").stdout
    assert "stragglers: one generator, nothing to cut" in speed

    data = json.loads(hive("profiles", "show", "balanced", "--json").stdout)
    assert data["adaptive"] == BUILTIN_PROFILES["balanced"].adaptive.model_dump(mode="json")


def test_adaptive_rules_are_set_stored_and_inherited() -> None:
    created = hive(
        "profiles", "create", "careful", "--from", "balanced",
        "--adaptive", "skip_curate=false", "--adaptive", "rounds=3", "--adaptive", "quorum=3",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    rules = json.loads(hive("profiles", "show", "careful", "--json").stdout)["adaptive"]
    assert rules["skip_curate"] is False and rules["rounds"] == 3 and rules["quorum"] == 3
    assert rules["first_panel"] == 2  # not given: inherited from balanced

    edited = hive("profiles", "edit", "careful", "--adaptive", "first_panel=0")
    assert edited.exit_code == 0, edited.stderr
    rules = json.loads(hive("profiles", "show", "careful", "--json").stdout)["adaptive"]
    assert rules["first_panel"] == 0 and rules["rounds"] == 3

    run = hive("consensus", "What is Rust?", "careful", "--simulate", "--json")
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert [s["stage"] for s in data["stages"]].count("generate") == 3  # no first panel
    assert "curate" in [s["stage"] for s in data["stages"]]  # never skipped


def test_bad_rules_are_one_line_usage_errors() -> None:
    hive("profiles", "create", "mine", "--from", "balanced")
    for pair, words in [
        ("quorum=x", "adaptive.quorum: Input should be a valid integer"),
        ("rounds=9", "adaptive.rounds: Input should be less than or equal to 5"),
        ("escalate_below=1.5", "adaptive.escalate_below"),
        ("bogus=1", "--adaptive: no rule 'bogus'; one of quorum, straggler_factor"),
        ("rounds", "--adaptive takes RULE=VALUE"),
    ]:
        result = hive("profiles", "edit", "mine", "--adaptive", pair)
        assert result.exit_code == 2, pair
        [line] = result.stderr.splitlines()
        assert line.startswith("hive: error:") and words in line, (pair, line)
    rules = json.loads(hive("profiles", "show", "mine", "--json").stdout)["adaptive"]
    assert rules == BUILTIN_PROFILES["balanced"].adaptive.model_dump(mode="json")  # unchanged


def test_show_says_when_the_straggler_rule_cannot_apply() -> None:
    """cost has two generators and a quorum of two: no draft is ever left out."""
    out = hive("profiles", "show", "cost").stdout
    assert "stragglers: off, the quorum (2) is every generator (quorum)" in out
