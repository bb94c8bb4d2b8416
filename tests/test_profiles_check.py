"""``hive profiles check`` and ``hive profiles update``: a profile's models against the model
list (listed, price, context, expiry, alias targets, parameters they ignore), and stale ids
replaced by what the list's ``~author/family-latest`` alias points to.

The pure rules (hive/consensus/model_check.py) are table-tested over small catalogs; the
commands run for real (Typer's runner, and a pseudo-terminal for the confirmation) against the
loopback server serving a catalog, the real 414-model capture (skipped without
``../shared``), or, offline, the built-in catalog. Dates are relative to today, as the
commands read the real clock.
"""

from __future__ import annotations

import json
import socket
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from hive.consensus.controls import ProviderSpec
from hive.consensus.model_check import (
    Successor,
    alias_stem,
    check_profile,
    covers,
    lacking,
    plan_update,
    replaced_stages,
    sent_parameters,
    status,
    successor,
)
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES, Profile
from hive.openrouter.catalog import Catalog, CatalogSource
from hive.store.paths import resolve_paths
from hive.store.user_profiles import ProfileStore, parse_profiles
from tests.conftest import fixture_path
from tests.helpers import answered_at_a_terminal, hive
from tests.loopback import LoopbackOpenRouter

TODAY = datetime.now(UTC).date()
DAY = timedelta(days=1)
ALL_PARAMS = ["max_tokens", "temperature", "seed", "reasoning"]


def model(
    model_id: str,
    *,
    params: list[str] | None = None,
    price: tuple[str, str] = ("0.000001", "0.000002"),
    context: int | None = 200_000,
    expires: date | None = None,
    alias: str | None = None,
) -> dict[str, Any]:
    """One ``GET /models`` entry in OpenRouter's shape (an alias carries ``alias_target``)."""
    entry: dict[str, Any] = {
        "id": model_id,
        "name": model_id,
        "context_length": context,
        "pricing": {"prompt": price[0], "completion": price[1]},
        "supported_parameters": ALL_PARAMS if params is None else params,
        "expiration_date": None if expires is None else expires.isoformat(),
    }
    if alias is not None:
        entry["alias_target"] = {"name": alias.title(), "slug": alias}
    return entry


# A family with an alias (acme/sage) and a longer one beside it (acme/sage-mini), a judge that
# takes no temperature and expires later, a router priced -1 that states no parameters.
ENTRIES = [
    model("acme/sage-2", price=("0.000003", "0.000015")),
    model("acme/sage-2:free", price=("0", "0")),
    model("~acme/sage-latest", alias="acme/sage-2"),
    model("acme/sage-1.5", expires=TODAY - DAY),
    model("acme/sage-mini-1"),
    model("~acme/sage-mini-latest", alias="acme/sage-mini-1"),
    model("other/judge-1", params=["max_tokens"], expires=TODAY + 30 * DAY),
    model("router/auto", params=[], price=("-1", "-1"), context=None),
]


def catalog(*entries: dict[str, Any], source: CatalogSource = "live") -> Catalog:
    return Catalog.from_response({"data": list(entries or ENTRIES)}, source=source)


def profile(name: str = "probe", **stages: dict[str, Any]) -> Profile:
    """A profile whose stages default to one listed model each; ``stages`` override them."""
    base = {"models": ["acme/sage-2"], "temperature": 0.5, "max_tokens": 4096}
    table = {stage: {**base, **stages.get(stage, {})} for stage in STAGES}
    return parse_profiles({name: table}, None)[name]


# A profile with every kind of stale id; ``hive profiles update`` replaces four of them.
PROBE = {
    "generate": {
        "models": ["acme/sage-0", "acme/sage-0", "acme/sage-mini-0"],
        "fallbacks": ["acme/sage-1.5"],
        "web": {"max_results": 3},
    },
    "refine": {
        "models": ["acme/sage-0:free"],
        "fallbacks": ["router/auto"],
        "reasoning": {"effort": "high"},
        "max_tokens": 2048,
        "provider": {"require_parameters": True},
    },
    "validate": {"models": ["other/judge-1"], "fallbacks": ["other/gone-9"]},
    "curate": {"models": ["acme/sage-0:batch"], "fallbacks": ["acme/sage-1.5"]},
}


# --- the pure rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "stem"),
    [
        ("~anthropic/claude-sonnet-latest", "anthropic/claude-sonnet"),
        ("~x-ai/grok-latest", "x-ai/grok"),
        ("anthropic/claude-sonnet-latest", None),  # no ~: not an alias
        ("~anthropic/claude-sonnet", None),  # no -latest
        ("~anthropic/-latest", None),
        ("~-latest", None),
    ],
)
def test_alias_stem(model_id: str, stem: str | None) -> None:
    assert alias_stem(model_id) == stem


@pytest.mark.parametrize(
    ("stem", "slug", "expected"),
    [
        ("anthropic/claude-sonnet", "anthropic/claude-sonnet-4.5", True),
        ("anthropic/claude-sonnet", "anthropic/claude-sonnet", True),
        ("google/gemini-pro", "google/gemini-pro.1", True),
        ("openai/gpt", "openai/gpt5", False),  # "gpt5" is a version word: only "openai" left
        ("openai/gpt-mini", "openai/gpt-5.4-mini", True),  # the same family, versions aside
        ("openai/gpt", "openai/gpt-5.4-mini", False),  # a mini is not the full model's successor
        ("google/gemini-flash", "google/gemini-2.5-flash", True),
        ("google/gemini-pro", "google/gemini-3.1-pro-preview", False),  # a preview is its own
        ("deepseek/deepseek-v4-flash", "deepseek/deepseek-v4-flash-0731", True),
        ("anthropic/claude-sonnet", "anthropic/claude-sonnet-4.5-thinking", False),
        ("acme/sage", "ACME/Sage-1", True),
    ],
)
def test_covers(stem: str, slug: str, expected: bool) -> None:
    assert covers(stem, slug) is expected


@pytest.mark.parametrize(
    ("model_id", "source", "expected"),
    [
        ("acme/sage-2", "live", "listed"),
        ("acme/sage-0", "live", "missing"),
        ("acme/sage-0", "cache", "missing"),
        ("acme/sage-0", "cache (stale)", "missing"),
        ("acme/sage-0", "built-in", "unverified"),  # a new model and a typo look alike
        ("acme/sage-0", "none", "unverified"),
        ("acme/sage-1.5", "live", "expired"),  # expired yesterday
        ("other/judge-1", "live", "listed"),  # expires in a month
    ],
)
def test_status(model_id: str, source: CatalogSource, expected: str) -> None:
    assert status(catalog(source=source), model_id, TODAY) == expected


def test_an_expiration_date_counts_from_its_own_day_and_odd_ones_are_ignored() -> None:
    odd = catalog(
        model("a/today", expires=TODAY),
        {**model("a/stamp"), "expiration_date": f"{TODAY - DAY}T00:00:00Z"},
        {**model("a/odd"), "expiration_date": "soon"},
    )
    assert [status(odd, m, TODAY) for m in ("a/today", "a/stamp", "a/odd")] == [
        "expired",
        "expired",
        "listed",
    ]


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        ("acme/sage-0", Successor("acme/sage-0", "acme/sage-2", "~acme/sage-latest")),
        ("acme/sage-1.5", Successor("acme/sage-1.5", "acme/sage-2", "~acme/sage-latest")),
        # The longest stem wins: acme/sage-mini, not acme/sage.
        (
            "acme/sage-mini-0",
            Successor("acme/sage-mini-0", "acme/sage-mini-1", "~acme/sage-mini-latest"),
        ),
        # A variant carries over when the successor is listed with it...
        (
            "acme/sage-0:free",
            Successor("acme/sage-0:free", "acme/sage-2:free", "~acme/sage-latest"),
        ),
        # ...and otherwise there is none.
        (
            "acme/sage-0:batch",
            Successor(
                "acme/sage-0:batch",
                None,
                "~acme/sage-latest",
                "~acme/sage-latest points to acme/sage-2, which is not listed with :batch",
            ),
        ),
        (
            "other/gone-9",
            Successor("other/gone-9", None, None, "no ~author/…-latest alias covers it"),
        ),
        (
            "acme/sagebrush-1",
            Successor("acme/sagebrush-1", None, None, "no ~author/…-latest alias covers it"),
        ),
    ],
)
def test_successor(old: str, expected: Successor) -> None:
    assert successor(catalog(), old, TODAY) == expected


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        # The alias still names the expired model itself.
        (
            [model("acme/sage-1", expires=TODAY), model("~acme/sage-latest", alias="acme/sage-1")],
            "~acme/sage-latest points to acme/sage-1, this very model",
        ),
        (
            [
                model("acme/sage-1", expires=TODAY - DAY),
                model("acme/sage-2", expires=TODAY),
                model("~acme/sage-latest", alias="acme/sage-2"),
            ],
            "~acme/sage-latest points to acme/sage-2, which has expired too",
        ),
        (
            [model("acme/sage-1", expires=TODAY), model("~acme/sage-latest", alias="acme/sage-9")],
            "~acme/sage-latest points to acme/sage-9, which is not listed",
        ),
    ],
)
def test_no_successor(entries: list[dict[str, Any]], why: str) -> None:
    found = successor(catalog(*entries), "acme/sage-1", TODAY)
    assert (found.new, found.why) == (None, why)


def test_an_alias_without_a_usable_target_is_no_alias() -> None:
    entries = [
        {**model("~acme/sage-latest"), "alias_target": "acme/sage-2"},  # not an object
        {**model("~acme/sage-mini-latest"), "alias_target": {"slug": " "}},
    ]
    broken = catalog(*entries, model("acme/sage-2"))
    assert len(broken) == 3 and broken.skipped == 0  # kept in the catalog all the same
    assert successor(broken, "acme/sage-mini-0", TODAY).new is None


@pytest.mark.parametrize(
    ("stage", "spec", "sent"),
    [
        ("generate", {}, ("temperature", "max_tokens")),
        ("generate", {"models": ["a/b", "a/b"]}, ("temperature", "max_tokens", "seed")),
        # A variant is the same model asked again (hive/consensus/drafting.py).
        ("generate", {"models": ["a/b", "a/b:free", "c/d"]}, ("temperature", "max_tokens", "seed")),
        ("generate", {"models": ["a/b", "c/d"]}, ("temperature", "max_tokens")),
        ("refine", {"reasoning": {"effort": "low"}}, ("temperature", "max_tokens", "reasoning")),
        ("curate", {"reasoning": {"enabled": False}}, ("temperature", "max_tokens", "reasoning")),
    ],
)
def test_sent_parameters(stage: str, spec: dict[str, Any], sent: tuple[str, ...]) -> None:
    assert sent_parameters(profile(**{stage: spec}), stage) == sent


@pytest.mark.parametrize(
    ("params", "lacks"),
    [
        (ALL_PARAMS, ()),
        (["max_tokens"], ("temperature", "seed")),
        ([], None),  # the catalog does not say
    ],
)
def test_lacking(params: list[str], lacks: tuple[str, ...] | None) -> None:
    entry = catalog(model("a/b", params=params)).models["a/b"]
    assert lacking(entry, ("temperature", "max_tokens", "seed")) == lacks


def test_check_profile_reads_every_stage_and_fallback() -> None:
    found = check_profile(profile(**PROBE), catalog(), TODAY)

    generate, refine, validate, curate = found.stages
    assert [m.model for m in generate.models] == [
        "acme/sage-0",
        "acme/sage-mini-0",
        "acme/sage-1.5",
    ]
    assert generate.sends == ("temperature", "max_tokens", "seed") and generate.web
    assert [m.fallback for m in generate.models] == [False, False, True]
    assert refine.enforced and not validate.enforced
    auto = refine.models[1]
    assert auto.lacks is None and auto.entry is not None and not auto.entry.price.known
    assert validate.models[0].lacks == ("temperature",)
    assert validate.models[0].expires == TODAY + 30 * DAY
    gone = validate.models[1]
    assert gone.status == "missing" and gone.closest[0] == "other/judge-1"
    assert curate.models[0].closest[0] == "acme/sage-2"  # no successor: the closest ids
    assert found.stale == [
        "acme/sage-0",
        "acme/sage-mini-0",
        "acme/sage-1.5",
        "acme/sage-0:free",
        "other/gone-9",
        "acme/sage-0:batch",
    ]
    assert found.successors == {
        "acme/sage-0": "acme/sage-2",
        "acme/sage-mini-0": "acme/sage-mini-1",
        "acme/sage-1.5": "acme/sage-2",
        "acme/sage-0:free": "acme/sage-2:free",
    }
    assert not found.ok
    assert found.warnings == tuple(profile(**PROBE).reasoning_warnings()) and found.warnings
    assert check_profile(profile(), catalog(), TODAY).ok
    unlisted = profile(refine={"models": ["acme/sage-0"]})
    assert check_profile(unlisted, catalog(source="built-in"), TODAY).ok


def test_the_profiles_own_routing_may_require_parameters() -> None:
    strict = profile().model_copy(update={"provider": ProviderSpec(require_parameters=True)})
    assert all(stage.enforced for stage in check_profile(strict, catalog(), TODAY).stages)


def test_plan_update_and_the_replaced_stages() -> None:
    probe = profile(**PROBE)
    plan = plan_update(probe, catalog(), TODAY)

    assert plan.mapping == {
        "acme/sage-0": "acme/sage-2",
        "acme/sage-mini-0": "acme/sage-mini-1",
        "acme/sage-0:free": "acme/sage-2:free",
        "acme/sage-1.5": "acme/sage-2",
    }
    assert [s.old for s in plan.skipped] == ["acme/sage-0:batch", "other/gone-9"]
    assert plan.unverified == ()
    models, fallbacks = replaced_stages(probe, plan.mapping)
    assert models == {
        "generate": ["acme/sage-2", "acme/sage-2", "acme/sage-mini-1"],
        "refine": ["acme/sage-2:free"],
        "curate": ["acme/sage-0:batch"],
    }
    assert fallbacks == {
        "generate": ["acme/sage-2"],
        "refine": ["router/auto"],
        "curate": ["acme/sage-2"],
    }
    assert replaced_stages(probe, {"x/y": "x/z"}) == ({}, {})


def test_fallbacks_that_become_one_id_are_kept_once() -> None:
    probe = profile(validate={"fallbacks": ["acme/sage-0", "acme/sage-1.5", "other/judge-1"]})
    _, fallbacks = replaced_stages(probe, plan_update(probe, catalog(), TODAY).mapping)
    assert fallbacks == {"validate": ["acme/sage-2", "other/judge-1"]}


def test_with_only_the_builtin_catalog_an_unlisted_id_is_never_replaced() -> None:
    plan = plan_update(profile(**PROBE), catalog(source="built-in"), TODAY)
    # Only the listed, expired id is stale; the others cannot be verified.
    assert plan.mapping == {"acme/sage-1.5": "acme/sage-2"} and plan.skipped == ()
    assert "acme/sage-0" in plan.unverified and "acme/sage-2" not in plan.unverified


# --- the commands against the loopback server ---------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter) -> LoopbackOpenRouter:
    """hive pointed at the loopback server, serving ENTRIES, with PROBE stored."""
    openrouter.models_body = json.dumps({"data": ENTRIES}).encode()
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    ProfileStore(resolve_paths()).save(profile(**PROBE))
    return openrouter


def stored(name: str) -> Profile | None:
    return ProfileStore(resolve_paths()).user().get(name)


def test_check_reports_each_model_and_exits_2_for_stale_ones(served: LoopbackOpenRouter) -> None:
    result = hive("profiles", "check", "probe")

    assert result.exit_code == 2, result.stderr
    assert result.stderr == "hive: error: 6 model ids gone or expired in profile probe\n"
    out = result.stdout
    host = served.base_url.split("/")[2]
    assert out.startswith(f"catalog: live · the model list of {host} · 8 models, as of ")
    assert "\nprobe · user\n" in out
    assert (
        "  generate · temperature 0.5 · max 4096 tokens · sends temperature, max_tokens, seed\n"
        in out
    )
    lines = [line.strip() for line in out.splitlines()]
    for expected in (
        "acme/sage-0: NOT LISTED; successor acme/sage-2 (via ~acme/sage-latest)",
        f"fallback acme/sage-1.5: $1 in / $2 out per M tokens; 200,000 context; EXPIRED "
        f"{TODAY - DAY}; successor acme/sage-2 (via ~acme/sage-latest)",
        "web search: OpenRouter's server tool, which works with any model",
        "fallback router/auto: price unknown until called; context unknown; supported "
        "parameters not stated",
        f"other/judge-1: $1 in / $2 out per M tokens; 200,000 context; expires "
        f"{TODAY + 30 * DAY}; lacks temperature: ignored",
        "fallback other/gone-9: NOT LISTED; no successor: no ~author/…-latest alias covers "
        "it; closest: other/judge-1, router/auto",
        "acme/sage-0:batch: NOT LISTED; no successor: ~acme/sage-latest points to "
        "acme/sage-2, which is not listed with :batch; closest: acme/sage-2, "
        "~acme/sage-latest, acme/sage-2:free",
    ):
        assert expected in lines, out
    assert "warning: refine: reasoning may take 1638 of its 2048 max_tokens" in out
    assert out.rstrip().endswith(
        "6 stale: acme/sage-0, acme/sage-mini-0, acme/sage-1.5, acme/sage-0:free, other/gone-9, "
        "acme/sage-0:batch; hive profiles update probe replaces 4 with a successor"
    )


def test_check_names_an_alias_target_and_a_parameter_no_provider_takes(
    served: LoopbackOpenRouter,
) -> None:
    ProfileStore(resolve_paths()).save(
        profile(
            "aliased",
            generate={"models": ["~acme/sage-latest"]},
            validate={"models": ["other/judge-1"], "provider": {"require_parameters": True}},
        )
    )

    result = hive("profiles", "check", "aliased")

    assert result.exit_code == 0, result.stderr
    assert "    ~acme/sage-latest → acme/sage-2: $1 in / $2 out per M tokens;" in result.stdout
    assert "lacks temperature: no provider takes the call (require_parameters)" in result.stdout
    assert result.stdout.rstrip().endswith("ok: every model is listed")


def test_check_json(served: LoopbackOpenRouter) -> None:
    result = hive("profiles", "check", "probe", "--json")

    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["catalog"]["source"] == "live" and body["catalog"]["models"] == 8
    [probe] = body["profiles"]
    assert probe["name"] == "probe" and probe["source"] == "user" and probe["ok"] is False
    assert len(probe["stale"]) == 6 and probe["unverified"] == []
    refine = probe["stages"]["refine"]
    assert refine["sends"] == ["temperature", "max_tokens", "reasoning"]
    assert refine["require_parameters"] is True and refine["web"] is False
    free, auto = refine["models"]
    assert free["successor"] == {
        "id": "acme/sage-2:free",
        "alias": "~acme/sage-latest",
        "why": None,
    }
    assert auto["price_per_million"] == {
        "prompt": None,
        "completion": None,
        "free": False,
        "known": False,
    }
    judge = probe["stages"]["validate"]["models"][0]
    assert judge["expires"] == (TODAY + 30 * DAY).isoformat() and judge["lacks"] == ["temperature"]
    assert judge["price_per_million"]["prompt"] == "1" and judge["context_length"] == 200_000


def test_check_without_a_name_checks_every_profile(served: LoopbackOpenRouter) -> None:
    result = hive("profiles", "check", "--json")

    names = [p["name"] for p in json.loads(result.stdout)["profiles"]]
    assert names == [*BUILTIN_PROFILES, "probe"]
    # The built-ins' models are not in this small catalog.
    assert result.stderr.startswith("hive: error: ") and "profiles " in result.stderr


def test_check_an_unknown_profile() -> None:
    result = hive("profiles", "check", "ghost")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("hive: error: unknown profile 'ghost'")


def test_update_with_yes_saves_the_successors(served: LoopbackOpenRouter) -> None:
    result = hive("profiles", "update", "probe", "--yes")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "kept acme/sage-0:batch (stale): ~acme/sage-latest points to acme/sage-2, which is not "
        "listed with :batch; change it with hive profiles edit",
        "kept other/gone-9 (stale): no ~author/…-latest alias covers it; change it with hive "
        "profiles edit",
        "replacements in profile 'probe':",
        "  acme/sage-0 → acme/sage-2 (via ~acme/sage-latest)",
        "  acme/sage-mini-0 → acme/sage-mini-1 (via ~acme/sage-mini-latest)",
        "  acme/sage-0:free → acme/sage-2:free (via ~acme/sage-latest)",
        "  acme/sage-1.5 → acme/sage-2 (via ~acme/sage-latest)",
        "updated profile 'probe': 4 models replaced",
    ]
    saved = stored("probe")
    assert saved is not None
    assert saved.generate.models == ("acme/sage-2", "acme/sage-2", "acme/sage-mini-1")
    assert saved.generate.fallbacks == ("acme/sage-2",)
    assert saved.refine.models == ("acme/sage-2:free",)
    assert saved.refine.fallbacks == ("router/auto",)
    assert saved.curate.models == ("acme/sage-0:batch",)
    assert saved.curate.fallbacks == ("acme/sage-2",)
    # Everything else is as it was: reasoning, routing, web, temperatures.
    before = profile(**PROBE)
    assert saved.refine.reasoning == before.refine.reasoning
    assert (
        saved.refine.provider == before.refine.provider
        and saved.generate.web == before.generate.web
    )
    assert [saved.stage(s).temperature for s in STAGES] == [
        before.stage(s).temperature for s in STAGES
    ]

    again = hive("profiles", "update", "probe", "--yes")
    assert again.exit_code == 0 and "nothing to update in profile 'probe'" in again.stdout
    assert stored("probe") == saved


def test_update_without_a_terminal_or_yes_changes_nothing(served: LoopbackOpenRouter) -> None:
    before = resolve_paths().profiles_file.read_bytes()

    result = hive("profiles", "update", "probe")

    assert result.exit_code == 2
    assert "  acme/sage-0 → acme/sage-2 (via ~acme/sage-latest)" in result.stdout
    assert result.stderr == (
        "hive: error: not changed: no terminal to confirm at; add --yes to save the replacements\n"
    )
    assert resolve_paths().profiles_file.read_bytes() == before


def test_update_with_nothing_stale(served: LoopbackOpenRouter) -> None:
    ProfileStore(resolve_paths()).save(profile("fresh"))

    result = hive("profiles", "update", "fresh")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["nothing to update in profile 'fresh'"]


def test_update_of_a_builtin_saves_an_override(served: LoopbackOpenRouter) -> None:
    speed = BUILTIN_PROFILES["speed"]
    refiner = speed.refine.models[0]
    # A catalog of the built-in catalog's models, where speed's refiner has expired and an
    # alias of its family names a successor.
    entries = [model(m) for m in speed.all_models() if m != refiner]
    entries += [
        model(refiner, expires=TODAY),
        model("openai/gpt-4.2-mini"),
        model("~openai/gpt-mini-latest", alias="openai/gpt-4.2-mini"),
    ]
    served.models_body = json.dumps({"data": entries}).encode()

    result = hive("profiles", "update", "speed", "--yes")

    assert result.exit_code == 0, result.stderr
    assert f"  {refiner} → openai/gpt-4.2-mini (via ~openai/gpt-mini-latest)" in result.stdout
    assert (
        "this saves a user profile 'speed' that overrides the built-in one (hive profiles "
        "delete speed restores it)" in result.stdout
    )
    assert result.stdout.rstrip().endswith(
        "updated user profile overriding the built-in 'speed': 1 model replaced"
    )
    saved = stored("speed")
    assert saved is not None and saved.refine.models == ("openai/gpt-4.2-mini",)
    assert saved.curate.fallbacks == ("openai/gpt-4.2-mini",)  # speed's curate falls back to it
    assert saved.description == speed.description
    shown = json.loads(hive("profiles", "show", "speed", "--json").stdout)
    assert shown["source"] == "user (overrides built-in)"
    assert hive("profiles", "check", "speed").exit_code == 0


# --- the confirmation at a terminal -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize(("answer", "saved"), [("y", True), ("n", False)])
def test_update_asks_at_a_terminal(served: LoopbackOpenRouter, answer: str, saved: bool) -> None:
    code, output = answered_at_a_terminal(
        "profiles", "update", "probe", prompt=b"Save profile 'probe'? [y/N]: ", reply=f"{answer}\n"
    )

    assert code == 0, output
    probe = stored("probe")
    assert probe is not None
    if saved:
        assert "updated profile 'probe': 4 models replaced" in output
        assert probe.refine.models == ("acme/sage-2:free",)
    else:
        assert output.rstrip().endswith("not changed")
        assert probe == profile(**PROBE)


# --- the real catalog and the built-in one ------------------------------------------------------


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter) -> dict[str, Any]:
    """The loopback server serving the real 414-model capture (../shared beside the repo)."""
    body: dict[str, Any] = json.loads(fixture_path("models.json").read_text("utf-8"))
    openrouter.models_body = json.dumps(body).encode()
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    return body


def test_every_builtin_profile_checks_clean_against_the_real_catalog(
    captured: dict[str, Any],
) -> None:
    result = hive("profiles", "check", "--json")

    assert result.exit_code == 0, result.stderr
    profiles = json.loads(result.stdout)["profiles"]
    assert [p["name"] for p in profiles] == list(BUILTIN_PROFILES)
    assert all(p["ok"] and p["stale"] == [] == p["unverified"] for p in profiles)


def test_real_aliases_point_and_stale_ids_find_their_successor(captured: dict[str, Any]) -> None:
    ProfileStore(resolve_paths()).save(
        profile(
            "team",
            generate={
                "models": ["~anthropic/claude-sonnet-latest", "anthropic/claude-sonnet-3.9:batch"],
                "fallbacks": ["nvidia/nemotron-nano-12b-v2-vl:free"],
            },
            refine={"models": ["anthropic/claude-sonnet-3.9"]},
            validate={"models": ["openai/gpt-5.4-mini"]},
            curate={"models": ["anthropic/claude-haiku-3.9:free"]},
        )
    )
    expired = next(m for m in captured["data"] if m["id"] == "nvidia/nemotron-nano-12b-v2-vl:free")
    past = date.fromisoformat(expired["expiration_date"]) <= TODAY

    result = hive("profiles", "check", "team")

    assert result.exit_code == 2
    out = result.stdout
    assert "~anthropic/claude-sonnet-latest → anthropic/claude-sonnet-5: $2 in / $10 out" in out
    assert (
        "anthropic/claude-sonnet-3.9:batch: NOT LISTED; successor anthropic/claude-sonnet-5:batch "
        "(via ~anthropic/claude-sonnet-latest)" in out
    )
    assert "which is not listed with :free; closest: anthropic/claude-haiku-4.5" in out
    assert ("EXPIRED 2026-08-24" if past else "expires 2026-08-24") in out

    update = hive("profiles", "update", "team", "--yes")
    assert update.exit_code == 0, update.stderr
    saved = stored("team")
    assert saved is not None
    assert saved.generate.models == (
        "~anthropic/claude-sonnet-latest",
        "anthropic/claude-sonnet-5:batch",
    )
    assert saved.refine.models == ("anthropic/claude-sonnet-5",)
    assert saved.curate.models == ("anthropic/claude-haiku-3.9:free",)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def openrouter_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenRouter's own base URL, every request sent to a proxy that is down: offline without
    touching the network or DNS (as in tests/test_catalog.py)."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_every_builtin_profile_checks_clean_against_the_bundled_snapshot(
    openrouter_offline: None,
) -> None:
    for name in BUILTIN_PROFILES:
        result = hive("profiles", "check", name)
        assert result.exit_code == 0, (name, result.stdout, result.stderr)
        assert result.stdout.startswith("catalog: built-in · OpenRouter's model list · ")
        assert result.stdout.rstrip().endswith("ok: every model is listed")
        assert result.stderr.startswith("note: offline and no cache: using the small built-in")


def test_offline_an_unknown_id_cannot_be_verified_and_does_not_fail(
    openrouter_offline: None,
) -> None:
    created = hive("profiles", "create", "probe", "--from", "speed", "--refine", "vendor/new-model")
    assert created.exit_code == 0, created.stderr

    result = hive("profiles", "check", "probe")

    assert result.exit_code == 0, result.stderr
    assert "vendor/new-model: cannot verify (not in the built-in catalog)" in result.stdout
    assert result.stdout.rstrip().endswith("ok: none is gone or expired, but 1 is not verified")
    update = hive("profiles", "update", "probe", "--yes")
    assert update.exit_code == 0
    assert update.stdout.splitlines()[1:] == [
        "cannot verify vendor/new-model: not in the built-in catalog",
        "nothing to update in profile 'probe'",
    ]
