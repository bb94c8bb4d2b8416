"""``hive profiles check`` and ``update``: whether a profile's models are still in the model list,
what they cost and lack, and the successors of those that are gone (hive/consensus/model_check.py
decides; this module loads, prints and saves).

Both read the model list as ``hive models`` does: a fresh cache, else a fetch, else a stale
cache, else the built-in catalog (a note on stderr says which when it is not fresh). ``check``
exits 2 when a model is stale (gone from the list, or past its expiration date), as for any
other profile hive cannot use; ``update`` saves the replacements as a user profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.application import state
from hive.cli.profiles import JsonFlag, Name, app

if TYPE_CHECKING:
    from hive.consensus.model_check import ModelCheck, ProfileCheck, Successor
    from hive.openrouter.catalog import Catalog

Names = Annotated[
    str | None, typer.Argument(help="Profile name (default: every profile).", show_default=False)
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Save without asking.")]


def _catalog_line(catalog: Catalog) -> str:
    when = f", as of {catalog.fetched_at:%Y-%m-%d %H:%M} UTC" if catalog.fetched_at else ""
    return f"catalog: {catalog.source} · {catalog.list_name} · {len(catalog)} models{when}"


def _heir(found: Successor | None, closest: tuple[str, ...]) -> str:
    if found is not None and found.new:
        return f"successor {found.new} (via {found.alias})"
    why = f"no successor: {found.why}" if found is not None else "no successor"
    return why + (f"; closest: {', '.join(closest)}" if closest else "")


def _model_line(row: ModelCheck, enforced: bool, unverified: str) -> str:
    from hive.ui.model_catalog import per_million

    name = ("fallback " if row.fallback else "") + row.model
    if row.alias_target:
        name += f" → {row.alias_target}"
    if row.status == "unverified":
        return f"{name}: cannot verify ({unverified})"
    if row.status == "missing" or row.entry is None:
        return f"{name}: NOT LISTED; {_heir(row.successor, row.closest)}"
    entry, facts = row.entry, []
    if not entry.price.known:
        facts.append("price unknown until called")
    elif entry.is_free:
        facts.append("free")
    else:
        prompt, completion = per_million(entry.price.prompt), per_million(entry.price.completion)
        facts.append(f"${prompt} in / ${completion} out per M tokens")
    context = entry.context_length
    facts.append("context unknown" if context is None else f"{context:,} context")
    if row.status == "expired":
        facts.append(f"EXPIRED {row.expires}; {_heir(row.successor, row.closest)}")
    elif row.expires is not None:
        facts.append(f"expires {row.expires}")
    if row.lacks is None:
        facts.append("supported parameters not stated")
    elif row.lacks:
        effect = "no provider takes the call (require_parameters)" if enforced else "ignored"
        facts.append(f"lacks {', '.join(row.lacks)}: {effect}")
    return f"{name}: {'; '.join(facts)}"


def _unverified(catalog: Catalog) -> str:
    """Why an id cannot be verified with this catalog (only the built-in one, or none)."""
    if catalog.source == "built-in":
        return "not in the built-in catalog"
    return f"hive has no copy of {catalog.list_name}"


def _print(check: ProfileCheck, source: str, unverified: str) -> None:
    profile = check.profile
    typer.echo(f"\n{profile.name} · {source}")
    for stage in check.stages:
        spec = profile.stage(stage.stage)
        typer.echo(f"  {stage.stage} · temperature {spec.temperature:g} · max {spec.max_tokens} "
                   f"tokens · sends {', '.join(stage.sends)}")  # fmt: skip
        for row in stage.models:
            typer.echo(f"    {_model_line(row, stage.enforced, unverified)}")
        if stage.web:
            typer.echo("    web search: OpenRouter's server tool, which works with any model")
    for warning in check.warnings:
        typer.echo(f"  warning: {warning}")
    if check.stale:
        heirs = len(check.successors)
        fix = (
            f"hive profiles update {profile.name} replaces {heirs} with a successor"
            if heirs
            else "none has a successor: change them with hive profiles edit"
            if len(check.stale) > 1
            else "it has no successor: change it with hive profiles edit"
        )
        typer.echo(f"  {len(check.stale)} stale: {', '.join(check.stale)}; {fix}")
    else:
        unknown = check.ids("unverified")
        if not unknown:
            typer.echo("  ok: every model is listed")
        else:
            verb = "is" if len(unknown) == 1 else "are"
            typer.echo(f"  ok: none is gone or expired, but {len(unknown)} {verb} not verified")


def _json(check: ProfileCheck, source: str) -> dict[str, object]:
    from hive.ui.model_catalog import per_million

    def row(m: ModelCheck) -> dict[str, object]:
        e, heir = m.entry, m.successor
        price = None if e is None else {
            "prompt": per_million(e.price.prompt), "completion": per_million(e.price.completion),
            "free": e.is_free, "known": e.price.known,
        }  # fmt: skip
        return {
            "id": m.model, "fallback": m.fallback, "status": m.status,
            "alias_target": m.alias_target, "price_per_million": price,
            "context_length": None if e is None else e.context_length,
            "expires": None if m.expires is None else m.expires.isoformat(),
            "lacks": None if m.lacks is None else list(m.lacks),
            "successor": None if heir is None else {"id": heir.new, "alias": heir.alias,
                                                    "why": heir.why or None},
            "closest": list(m.closest),
        }  # fmt: skip

    stages = {s.stage: {"sends": list(s.sends), "require_parameters": s.enforced, "web": s.web,
                        "models": [row(m) for m in s.models]} for s in check.stages}  # fmt: skip
    return {"name": check.profile.name, "source": source, "ok": check.ok, "stale": check.stale,
            "unverified": check.ids("unverified"), "warnings": list(check.warnings),
            "stages": stages}  # fmt: skip


@app.command("check")
def check(ctx: typer.Context, name: Names = None, json_output: JsonFlag = False) -> None:
    """Check a profile's models (all profiles without NAME) against the model list: listed or
    not, price, context, expiry, alias targets, parameters they ignore; exit 2 when one is gone.
    """
    import json
    from datetime import UTC, datetime

    from hive.cli.models import catalog_for
    from hive.consensus.model_check import check_profile
    from hive.errors import UsageError
    from hive.store.user_profiles import ProfileStore

    paths = state(ctx).paths
    store = ProfileStore(paths)
    entries = {name: store.entry(name)} if name is not None else store.entries()
    catalog, today = catalog_for(state(ctx)), datetime.now(UTC).date()
    checks = [(check_profile(e.profile, catalog, today), e.source) for e in entries.values()]
    if json_output:
        when = catalog.fetched_at.isoformat() if catalog.fetched_at else None
        about = {"source": catalog.source, "list": catalog.list_name,
                 "models": len(catalog), "fetched_at": when}  # fmt: skip
        shown = [_json(c, source) for c, source in checks]
        typer.echo(json.dumps({"catalog": about, "profiles": shown}, indent=2))
    else:
        typer.echo(_catalog_line(catalog))
        for found, source in checks:
            _print(found, source, _unverified(catalog))
    if failed := [c.profile.name for c, _ in checks if not c.ok]:
        count = sum(len(c.stale) for c, _ in checks)
        raise UsageError(
            f"{count} model id{'s' if count != 1 else ''} gone or expired "
            f"in profile{'s' if len(failed) > 1 else ''} {', '.join(failed)}"
        )


def _confirmed(question: str) -> bool:
    """Asked at a terminal; with no terminal to ask, a UsageError (--yes skips the question)."""
    import sys

    from hive.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(
            "not changed: no terminal to confirm at; add --yes to save the replacements"
        )
    return typer.confirm(question, default=False)


@app.command("update")
def update(ctx: typer.Context, name: Name, yes: Yes = False) -> None:
    """Replace a profile's gone or expired models by their successor: what the model list's
    ~author/family-latest alias for them points to now.

    Shows the replacements and asks first (--yes does not). A built-in profile is saved as a
    user profile of the same name, which overrides it (hive profiles delete NAME restores it)."""
    from datetime import UTC, datetime

    from hive.cli.models import catalog_for
    from hive.cli.profiles import warn_biased_judges
    from hive.consensus.model_check import plan_update, replaced_stages
    from hive.store.user_profiles import ProfileStore, derive_profile

    paths = state(ctx).paths
    store = ProfileStore(paths)
    entry = store.entry(name)
    catalog = catalog_for(state(ctx))
    plan = plan_update(entry.profile, catalog, datetime.now(UTC).date())
    typer.echo(_catalog_line(catalog))
    for model in plan.unverified:
        typer.echo(f"cannot verify {model}: {_unverified(catalog)}")
    for skipped in plan.skipped:
        typer.echo(f"kept {skipped.old} (stale): {skipped.why}; change it with hive profiles edit")
    if not plan.replacements:
        typer.echo(f"nothing to update in profile {name!r}")
        return
    typer.echo(f"replacements in profile {name!r}:")
    for found in plan.replacements:
        typer.echo(f"  {found.old} → {found.new} (via {found.alias})")
    built_in = entry.source == "built-in"
    if built_in:
        typer.echo(f"this saves a user profile {name!r} that overrides the built-in one "
                   f"(hive profiles delete {name} restores it)")  # fmt: skip
    if not yes and not _confirmed(f"Save profile {name!r}?"):
        typer.echo("not changed")
        return
    models, fallbacks = replaced_stages(entry.profile, plan.mapping)
    updated = derive_profile(entry.profile, name, models=models, fallbacks=fallbacks).profile
    store.save(updated, force=True, replace=True)
    what = "user profile overriding the built-in" if built_in else "profile"
    count = len(plan.replacements)
    typer.echo(f"updated {what} {name!r}: {count} model{'s' if count != 1 else ''} replaced")
    warn_biased_judges(updated)
