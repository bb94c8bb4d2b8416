"""``hive history show ID --verify``: each call's recorded cost against what OpenRouter billed.

``hive.cli.bill_check`` reads the bills and compares them; this module prints the report (a
table, or one JSON object with money as exact decimal strings) and ends with the check's one
line and exit code. A simulated run billed nothing and is refused whole. As ``hive profiles
check`` does, a check that fails prints its report, then one line on stderr, through the CLI's
one error edge. Exit codes: 0 every billed call matches the bill; 6 at least one call differs
from it; 1 none differs but some call could not be checked; the usual codes for errors (2 a
simulated or unknown run, 3 no key or a rejected one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hive.cli.bill_check import (
    NOT_BILLED,
    Check,
    Sleep,
    Unchecked,
    compare,
    failure,
    read_bills,
    summary,
    usd,
    with_status,
)
from hive.money import trimmed_money_text
from hive.ui.run_replay import call_label

if TYPE_CHECKING:
    from hive.cli.application import App
    from hive.openrouter.generation import Generation
    from hive.store.rows import Run, StoredCall
    from hive.store.settings import Settings


def _stage(call: StoredCall) -> str:
    """As `hive history show` names a call (a generator's place, a later stage's repeat),
    with its attempt when it was not the first."""
    return call_label(call) + (f" (attempt {call.attempt})" if call.attempt > 1 else "")


def _result(check: Check) -> str:
    if check.status == "matches":
        return "matches"
    if check.status == "not_billed":
        return "not billed: refused before any answer"
    if check.status == "unchecked":
        assert check.unchecked is not None
        return f"cannot be checked: {check.unchecked.reason}"
    if check.unrecorded:
        return "differs: hive recorded no cost"
    difference = check.difference or Decimal(0)
    return f"differs: billed {usd(abs(difference))} {'more' if difference > 0 else 'less'}"


def text_lines(run_id: int, profile: str, checks: Sequence[Check], asked: str | None) -> list[str]:
    """The report on run ``run_id`` (of ``profile``): a heading, one row per call (call,
    model, recorded, billed, result), then the summary. ``asked``: the server whose bills were
    read (None: none was asked)."""
    head = f"run #{run_id} · profile {profile}"
    if asked:
        head += f" · recorded costs against the bill from {asked}"
    rows = [("call", "model", "recorded", "billed", "result")]
    for check in checks:
        call = check.call
        if check.recorded is not None:
            recorded = usd(check.recorded) + (" (estimated)" if call.cost_estimated else "")
        else:  # unknown, as `hive history show` writes it; or nothing, for a refused call
            recorded = "$?" if call.billable else "-"
        rows.append((_stage(call), call.model, recorded, usd(check.billed), _result(check)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    cells = [[c.ljust(w) for c, w in zip(row[:4], widths, strict=True)] for row in rows]
    table = ["  ".join([*padded, row[4]]) for padded, row in zip(cells, rows, strict=True)]
    return [head, *(table if checks else []), summary(checks)]


def json_report(run_id: int, checks: Sequence[Check]) -> dict[str, Any]:
    """The report on run ``run_id`` as one object: per-call rows and the totals, money as
    exact decimal strings (null when unknown)."""

    def money(value: Decimal | None) -> str | None:
        return None if value is None else trimmed_money_text(value)

    def bill(generation: Generation | None) -> dict[str, Any] | None:
        if generation is None:
            return None
        from dataclasses import asdict

        fields = asdict(generation)
        return {k: money(v) if isinstance(v, Decimal) else v for k, v in fields.items()}

    compared = [c for c in checks if c.status in ("matches", "differs")]
    recorded = sum((c.recorded or Decimal(0) for c in compared), Decimal(0))
    billed = sum((c.billed or Decimal(0) for c in compared), Decimal(0))
    return {
        "run_id": run_id,
        "calls": [
            {
                "call_id": c.call.id,
                "stage": c.call.stage,
                "idx": c.call.idx,
                "attempt": c.call.attempt,
                "model": c.call.model,
                "model_used": c.call.model_used,
                "generation_id": c.call.generation_id,
                "status": c.status,
                "recorded": money(c.recorded),
                "cost_estimated": c.call.cost_estimated,
                "billed": money(c.billed),
                "difference": money(c.difference),
                "reason_kind": c.unchecked.kind if c.unchecked else None,
                "reason": _reason(c),
                "bill": bill(c.generation),
            }
            for c in checks
        ],
        "totals": {
            "calls": len(checks),
            "matching": len(with_status(checks, "matches")),
            "differing": len(with_status(checks, "differs")),
            "unchecked": len(with_status(checks, "unchecked")),
            "not_billed": len(with_status(checks, "not_billed")),
            "recorded": trimmed_money_text(recorded),
            "billed": trimmed_money_text(billed),
            "difference": trimmed_money_text(billed - recorded),
        },
        "summary": summary(checks),
    }


def _reason(check: Check) -> str | None:
    if check.unchecked:
        return check.unchecked.reason
    return NOT_BILLED if check.status == "not_billed" else None


# --- the command ---------------------------------------------------------------------------


def verify_run(run: Run, app: App, *, json_output: bool, sleep: Sleep = asyncio.sleep) -> None:
    """Check ``run`` (as ``History.run`` read it) against OpenRouter's bills and print the report;
    then, unless every billed call matched, raise the error that says so in one line (exit 6 or
    1, see above). Needs a key only when some call has a generation id to look up."""
    import json
    from urllib.parse import urlsplit

    import typer

    from hive.errors import AuthError, UsageError
    from hive.redact import redact
    from hive.store.keys import resolve_key

    if run.simulated:
        raise UsageError(
            f"run #{run.id} was simulated: nothing was billed, so there is no bill to check"
        )
    ids = [c.generation_id for c in run.calls if c.generation_id]
    bills: dict[str, Generation | Unchecked] = {}
    key, asked = "", None
    if ids:
        settings = app.settings
        resolved = resolve_key(app.paths)
        if resolved is None:
            raise AuthError("no OpenRouter key set: run `hive keys set` or set OPENROUTER_API_KEY")
        key, url = resolved.value, urlsplit(settings.base_url)
        asked = url.netloc
        host = (url.hostname or "").lower()
        not_found = (
            "not found at OpenRouter (a generation takes a moment to appear; "
            "or the run used another key)"
            if host == "openrouter.ai" or host.endswith(".openrouter.ai")
            else f"not found at {asked}"
        )
        bills = asyncio.run(_read(settings, key, ids, not_found, sleep))
    checks = [
        compare(call, bills[call.generation_id] if call.generation_id else None)
        for call in run.calls
    ]
    if json_output:
        text = json.dumps(json_report(run.id, checks), indent=2, ensure_ascii=False)
    else:
        text = "\n".join(text_lines(run.id, run.profile, checks, asked))
    typer.echo(redact(text, key) if key else text)
    if (failed := failure(run.id, checks)) is not None:
        raise failed


async def _read(
    settings: Settings, key: str, ids: list[str], not_found: str, sleep: Sleep
) -> dict[str, Generation | Unchecked]:
    from hive.cli.http import http_client
    from hive.openrouter.client import OpenRouterClient
    from hive.openrouter.generation import fetch_generation

    async with http_client(settings, key) as http:
        client = OpenRouterClient(http)

        async def fetch(gen_id: str) -> Generation | None:
            return await fetch_generation(client, gen_id)

        return await read_bills(
            ids, fetch, not_found=not_found, retry_delay=settings.retry_base_delay, sleep=sleep
        )
