"""``hive profiles create`` and ``edit``: a profile from another one, changed by options.

A stage whose model is replaced leaves its fallbacks behind (they were chosen for the old
model), and a new profile does not take its base's description; one line on stderr says what
was inherited and what was dropped, another flags model ids the server's list lacks, and one
more each validator that would judge its own or its family's answers (hive/consensus/bias.py).
A model may be given several times with --generate: each of its calls gets its own seed."""

from __future__ import annotations

from typing import Annotated

import typer

from hive.cli.application import state
from hive.cli.profiles import Force, Name, app

Model = Annotated[str | None, typer.Option(metavar="MODEL", show_default=False)]
Generators = Annotated[
    list[str] | None,
    typer.Option(
        metavar="MODEL",
        help="Generator model (repeat for several; the same model again drafts again).",
        show_default=False,
    ),
]
Temperatures = Annotated[
    list[str] | None,
    typer.Option(metavar="STAGE=T", help="Temperature, e.g. refine=0.3.", show_default=False),
]
MaxTokens = Annotated[
    list[str] | None,
    typer.Option(
        metavar="STAGE=N", help="Max output tokens, e.g. curate=4096.", show_default=False
    ),
]
Fallbacks = Annotated[
    list[str] | None,
    typer.Option(
        metavar="STAGE=MODEL", help="Fallback model (max 3 per stage).", show_default=False
    ),
]
NoFallbacks = Annotated[
    list[str] | None,
    typer.Option(
        "--no-fallbacks",
        metavar="STAGE",
        help="Clear a stage's fallbacks (repeat for several).",
        show_default=False,
    ),
]
Adaptive = Annotated[
    list[str] | None,
    typer.Option(
        metavar="RULE=VALUE",
        help="Adaptive rule, e.g. quorum=3, first_panel=2, skip_curate=false, rounds=2 "
        "(see hive profiles show).",
        show_default=False,
    ),
]
Description = Annotated[
    str | None, typer.Option(help="What the profile is for.", show_default=False)
]
System = Annotated[
    str | None,
    typer.Option(
        "--system",
        metavar="TEXT",
        help="Instructions sent to every stage, e.g. 'answer in German' ('' clears them).",
        show_default=False,
    ),
]


def _save(
    ctx: typer.Context,
    name: str,
    base_name: str,
    *,
    creating: bool,
    force: bool,
    description: str | None,
    generate: list[str] | None,
    refine: str | None,
    validate: str | None,
    curate: str | None,
    temperature: list[str] | None,
    max_tokens: list[str] | None,
    fallback: list[str] | None,
    no_fallbacks: list[str] | None,
    adaptive: list[str] | None = None,
    system: str | None = None,
) -> None:
    from hive.cli.options import panel_changes, stage_pairs
    from hive.cli.profiles import warn_biased_judges, warn_unlisted
    from hive.store.user_profiles import ProfileStore, derivation_note, derive_profile

    paths = state(ctx).paths
    store = ProfileStore(paths)
    changes = panel_changes(
        generate=generate, refine=refine, validate=validate, curate=curate,
        temperature=temperature, max_tokens=max_tokens,
    )  # fmt: skip
    derived = derive_profile(
        store.get(base_name),
        name,
        description=description,
        keep_description=not creating,
        fallbacks=stage_pairs(fallback, str, "--fallback"),
        clear_fallbacks=[stage.strip() for stage in no_fallbacks or []],
        adaptive=_rules(adaptive),
        **changes,
        system=system,
    )
    store.save(derived.profile, force=force, replace=not creating)
    typer.echo(f"{'created' if creating else 'updated'} profile {name!r}")
    if note := derivation_note(derived, base_name, creating=creating):
        typer.echo(f"note: {note}", err=True)
    warn_unlisted(state(ctx), derived.profile)
    warn_biased_judges(derived.profile)


def _rules(pairs: list[str] | None) -> dict[str, str]:
    """``RULE=VALUE`` pairs (the last wins); the values are validated with the profile."""
    from hive.errors import UsageError

    rules = {}
    for pair in pairs or []:
        rule, sep, value = pair.partition("=")
        if not sep or not rule.strip() or not value.strip():
            raise UsageError(f"--adaptive takes RULE=VALUE, e.g. quorum=3 (got {pair!r})")
        rules[rule.strip()] = value.strip()
    return rules


@app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    base: Annotated[str, typer.Option("--from", help="Profile to start from.")] = "balanced",
    description: Description = None,
    generate: Generators = None,
    refine: Model = None,
    validate: Model = None,
    curate: Model = None,
    temperature: Temperatures = None,
    max_tokens: MaxTokens = None,
    fallback: Fallbacks = None,
    no_fallbacks: NoFallbacks = None,
    adaptive: Adaptive = None,
    system: System = None,
    force: Force = False,
) -> None:
    """Create a user profile from another one, changing what the options say.

    A stage given a new model does not keep the other profile's fallbacks for it (give
    --fallback STAGE=MODEL for new ones), and the description is not copied (give
    --description)."""
    _save(
        ctx,
        name,
        base,
        creating=True,
        force=force,
        description=description,
        generate=generate,
        refine=refine,
        validate=validate,
        curate=curate,
        temperature=temperature,
        max_tokens=max_tokens,
        fallback=fallback,
        no_fallbacks=no_fallbacks,
        adaptive=adaptive,
        system=system,
    )


@app.command("edit")
def edit(
    ctx: typer.Context,
    name: Name,
    description: Description = None,
    generate: Generators = None,
    refine: Model = None,
    validate: Model = None,
    curate: Model = None,
    temperature: Temperatures = None,
    max_tokens: MaxTokens = None,
    fallback: Fallbacks = None,
    no_fallbacks: NoFallbacks = None,
    adaptive: Adaptive = None,
    system: System = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow editing (overriding) a built-in.")
    ] = False,
) -> None:
    """Change a user profile (a built-in only with --force, which stores an override).

    A stage given a new model drops its old fallbacks unless --fallback STAGE=MODEL is given."""
    _save(
        ctx,
        name,
        name,
        creating=False,
        force=force,
        description=description,
        generate=generate,
        refine=refine,
        validate=validate,
        curate=curate,
        temperature=temperature,
        max_tokens=max_tokens,
        fallback=fallback,
        no_fallbacks=no_fallbacks,
        adaptive=adaptive,
        system=system,
    )
