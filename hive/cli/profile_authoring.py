"""``hive profiles create`` and ``edit``: a profile from another one, changed by options."""

from __future__ import annotations

from typing import Annotated

import typer

from hive.cli.edge import error_edge
from hive.cli.profiles import Force, Name, app

Model = Annotated[str | None, typer.Option(metavar="MODEL", show_default=False)]
Generators = Annotated[
    list[str] | None,
    typer.Option(metavar="MODEL", help="Generator model (repeat for several).", show_default=False),
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
Description = Annotated[
    str | None, typer.Option(help="What the profile is for.", show_default=False)
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
) -> None:
    with error_edge(ctx.obj.debug):
        from hive.cli.options import stage_pairs
        from hive.store.paths import resolve_paths
        from hive.store.user_profiles import ProfileStore, derive

        store = ProfileStore(resolve_paths())
        single = {"refine": refine, "validate": validate, "curate": curate}
        models = {stage: [model] for stage, model in single.items() if model}
        if generate:
            models["generate"] = generate
        profile = derive(
            store.get(base_name),
            name,
            description=description,
            models=models,
            fallbacks=stage_pairs(fallback, str, "--fallback"),
            temperatures={
                s: v[-1] for s, v in stage_pairs(temperature, float, "--temperature").items()
            },
            max_tokens={s: v[-1] for s, v in stage_pairs(max_tokens, int, "--max-tokens").items()},
        )
        store.save(profile, force=force, replace=not creating)
        typer.echo(f"{'created' if creating else 'updated'} profile {name!r}")


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
    force: Force = False,
) -> None:
    """Create a user profile from another one, changing what the options say."""
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
    force: Annotated[
        bool, typer.Option("--force", help="Allow editing (overriding) a built-in.")
    ] = False,
) -> None:
    """Change a user profile (a built-in only with --force, which stores an override)."""
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
    )
