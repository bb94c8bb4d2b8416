"""``hive profiles``: list, show, create, edit, delete, set the default, export and import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.application import App, state

if TYPE_CHECKING:
    from hive.consensus.profiles import Profile

app = typer.Typer(
    help="List, show, check, update, create, edit, delete, export and import profiles.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="Profile name.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing or built-in profile.")]


def _default(app: App) -> str:
    return app.settings.default_profile


def warn_unlisted(app: App, *profiles: Profile, named: bool = False) -> None:
    """A warning on stderr per model id of ``profiles`` the configured server's model list does
    not have, or that cannot be verified (``named``: each says which profile). No network: the
    server's cached list however old, else what is known offline (the built-in catalog for
    OpenRouter, nothing for another server)."""
    from hive.cli.models import catalog_cache
    from hive.openrouter.catalog_cache import offline_catalog

    catalog = offline_catalog(catalog_cache(app.paths), app.settings.base_url)
    for profile in profiles:
        which = f"profile {profile.name!r}: " if named else ""
        for warning in catalog.unlisted(profile.all_models()):
            typer.echo(f"hive: warning: {which}{warning}", err=True)


def warn_biased_judges(profile: Profile) -> None:
    """A warning on stderr per validator model that judges its own answers or its family's
    (see hive/consensus/bias.py): the profile still works, but its checks are less independent."""
    from hive.consensus.bias import judge_warnings

    for warning in judge_warnings(profile):
        typer.echo(f"hive: warning: {warning}", err=True)


def _stages_json(profile: Profile) -> dict[str, object]:
    """The JSON shape of a profile: its description and a ``stages`` table in stage order."""
    from hive.consensus.profiles import STAGES

    # Unset controls (reasoning, provider, web) are left out, as in profiles.toml.
    stages = {s: profile.stage(s).model_dump(mode="json", exclude_none=True) for s in STAGES}
    shape: dict[str, object] = {
        "description": profile.description,
        "system": profile.system,
        "stages": stages,
        "adaptive": profile.adaptive.model_dump(mode="json"),
    }
    if profile.provider is not None:
        shape["provider"] = profile.provider.body()
    return shape


@app.command("list")
def list_profiles(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Built-in and user profiles with their models per stage; * marks the default."""
    import json

    from hive.consensus.profiles import STAGES
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths
    default, entries = _default(state(ctx)), ProfileStore(paths).entries()
    warn_unlisted(state(ctx), *(e.profile for e in entries.values()), named=True)
    if json_output:
        rows = [
            {"name": n, "default": n == default, "source": e.source, **_stages_json(e.profile)}
            for n, e in entries.items()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from hive.ui.console import make_console

    # One row per stage, model ids never cut: they are what a user copies.
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("profile", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("models", no_wrap=True, overflow="ignore")
    table.add_column("temp", justify="right", no_wrap=True, min_width=4)
    table.add_column("max out", justify="right", no_wrap=True, min_width=7)
    for name, entry in entries.items():
        label = f"{name} *" if name == default else name
        for i, stage in enumerate(STAGES):
            spec = entry.profile.stage(stage)
            first = [label if i == 0 else "", stage]
            rest = [f"{spec.temperature:g}", str(spec.max_tokens)]
            table.add_row(*first, "\n".join(spec.models), *rest)
        table.add_section()
    console = make_console()
    console.print(table)
    user = [n for n, e in entries.items() if e.source != "built-in"]
    console.print("* default profile" + (f"; user profiles: {', '.join(user)}" if user else ""))


@app.command("show")
def show(ctx: typer.Context, name: Name, json_output: JsonFlag = False) -> None:
    """One profile in full: models, fallbacks, temperature and max output tokens per stage."""
    import json

    from hive.consensus.controls import ProviderSpec, routing_words
    from hive.consensus.controls import describe as controls_lines
    from hive.consensus.profiles import STAGES
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths
    entry = ProfileStore(paths).entry(name)
    profile, is_default = entry.profile, name == _default(state(ctx))
    # On stderr, so --json output stays one document.
    warn_unlisted(state(ctx), profile)
    warn_biased_judges(profile)
    for warning in profile.reasoning_warnings():
        typer.echo(f"hive: warning: {warning}", err=True)
    if json_output:
        row = {"name": name, "default": is_default, "source": entry.source}
        typer.echo(json.dumps({**row, **_stages_json(profile)}, indent=2))
        return
    typer.echo(f"{name}{' (default)' if is_default else ''} · {entry.source}")
    if profile.description:
        typer.echo(profile.description)
    if profile.system:
        typer.echo(f"instructions to every stage: {profile.system}")
    # What the calls send: the data_collection and zdr settings tighten every stage's
    # routing, so the providers line is the one a run sends.
    settings = state(ctx).settings
    sent = profile.effective(data_collection=settings.data_collection, zdr=settings.zdr)
    if settings.data_collection == "deny" or settings.zdr:
        policy = ProviderSpec().with_policy(settings.data_collection, settings.zdr)
        typer.echo(f"your settings, for every call: {'; '.join(routing_words(policy))}")
    for stage in STAGES:
        spec = profile.stage(stage)
        typer.echo(f"\n{stage}: temperature {spec.temperature:g}, max {spec.max_tokens} tokens")
        for model in spec.models:
            typer.echo(f"  {model}")
        if spec.fallbacks:
            typer.echo(f"  fallbacks: {', '.join(spec.fallbacks)}")
        for line in controls_lines(spec.reasoning, sent.stage(stage).provider, spec.web):
            typer.echo(f"  {line}")
    from hive.consensus.adaptive import describe

    typer.echo("\nadaptive (change with hive profiles edit NAME --adaptive RULE=VALUE):")
    for line in describe(profile.adaptive, len(profile.generate.models)):
        typer.echo(f"  {line}")


@app.command("delete")
def delete(ctx: typer.Context, name: Name) -> None:
    """Delete a user profile (built-ins cannot be deleted; deleting an override restores one)."""
    from hive.consensus.profiles import BUILTIN_PROFILES
    from hive.store.settings import unset_setting
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths
    ProfileStore(paths).delete(name)
    typer.echo(f"deleted profile {name!r}")
    if name not in BUILTIN_PROFILES and _default(state(ctx)) == name:
        unset_setting(paths, "default_profile")
        state(ctx).settings_changed()
        typer.echo(f"it was the default profile; the default is now {_default(state(ctx))!r}")


@app.command("default")
def default(ctx: typer.Context, name: Name) -> None:
    """Make NAME the profile `hive consensus` uses when given none."""
    from hive.store.settings import set_setting
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths
    ProfileStore(paths).get(name)  # must exist
    set_setting(paths, "default_profile", name)
    typer.echo(f"default profile: {name}")
