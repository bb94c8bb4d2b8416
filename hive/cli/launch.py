"""A run, from what was asked to the view it is shown in: shared by ``hive consensus`` and
``hive history rerun`` so both pick the key, the view and the pace the same way."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hive.consensus.context import NO_CONTEXT, Attachment, Context
from hive.errors import StageError, Unreachable

if TYPE_CHECKING:
    from hive.cli.application import App
    from hive.cli.run import RunRequest
    from hive.consensus.profiles import Profile
    from hive.store.paths import Paths
    from hive.store.settings import Settings
    from hive.ui.renderer import Renderer

# A lifelike pace for simulated streams in a terminal; the four-stage run stays near 1.5 s.
SIMULATED_PACE_S = 0.35


@dataclass(frozen=True, slots=True)
class Asked:
    """What the run is asked: the question, the panel, and what goes in front of it."""

    question: str
    profile: Profile
    context: Context = NO_CONTEXT
    new_files: tuple[Attachment, ...] = ()
    parent_id: int | None = None
    logged: bool = True
    notices: list[str] = field(default_factory=list)
    simulated_turns: tuple[int, ...] = ()  # earlier turns whose answer is the simulator's


@dataclass(frozen=True, slots=True)
class Shown:
    """How the run is shown and paid for (the command's flags)."""

    json_output: bool = False
    plain: bool = False
    detailed: bool = False
    quiet: bool = False
    simulate: bool = False
    estimate: bool = False
    strict: bool = False
    force: bool = False
    rounds: int | None = None
    fixed: bool = False
    api_key: str | None = None
    web: bool = False  # --web: the generators search the web


def run_command(app: App, shown: Shown, ask: Callable[[Paths, Settings], Asked]) -> None:
    """A run command to its end, inside the root's error net: the failure object ``--json``
    (or ``output = "json"``) promises, what ``ask`` gathers from the paths and settings
    (checked before anything is spent), and the run."""
    from hive.cli.consensus import failure_json

    with failure_json(shown.json_output) as as_json:
        settings = app.settings
        as_json.on = shown.json_output or (settings.output == "json" and not shown.plain)
        launch(ask(app.paths, settings), shown, app.paths, settings)


def launch(asked: Asked, shown: Shown, paths: Paths, settings: Settings) -> None:
    from hive.cli import run
    from hive.store.keys import resolve_key

    resolved = None if shown.simulate else resolve_key(paths, shown.api_key)
    output = "json" if shown.json_output else "plain" if shown.plain else settings.output
    # The live view draws on stderr (stdout carries only the answer): it runs whenever
    # stderr is a terminal, with stdout a terminal or piped, unless asked to be quiet.
    live = output == "live" or (
        output == "auto" and not shown.quiet and sys.stderr.isatty() and not _dumb_terminal()
    )
    speed = settings.simulation_speed
    notices = list(asked.notices)
    profile = sent_profile(asked.profile, settings, web=shown.web)
    if resolved is not None and asked.simulated_turns and not shown.estimate:
        from hive.cli.run_inputs import simulated_turns_note

        notices.append(simulated_turns_note(asked.simulated_turns))
    if resolved is None and not shown.estimate:
        why = "--simulate" if shown.simulate else "no API key set"
        notices.append(f"simulation mode ({why}): no model is asked; a built-in simulator replies.")
        if unsimulated := _unsimulated(profile):
            notices.append(f"note: {unsimulated} not simulated: the replies show none of it.")
    request = run.RunRequest(
        question=asked.question,
        profile=profile,
        settings=settings,
        paths=paths,
        key=resolved.value if resolved else None,
        pace=SIMULATED_PACE_S / speed if live and speed else 0.0,
        force=shown.force,
        estimate_only=shown.estimate,
        strict=shown.strict,
        as_json=output == "json",
        notices=notices,
        quiet=shown.quiet,
        rounds=shown.rounds,
        adaptive=not shown.fixed,
        context=asked.context,
        new_files=asked.new_files,
        parent_id=asked.parent_id,
        logged=asked.logged,
    )
    try:
        run.run(request, _renderer(output, live, shown, settings.color, request))
    except StageError as exc:
        if isinstance(exc.cause, Unreachable):  # no server: this command can do without
            exc.args = (f"{exc}, or run with --simulate",)
        raise


def sent_profile(profile: Profile, settings: Settings, *, web: bool = False) -> Profile:
    """The profile as the run sends it: routing resolved per stage under the global data
    policy (``data_collection``, ``zdr`` settings), and ``--web`` turned on for generators."""
    from hive.consensus.controls import WebSpec

    return profile.effective(
        data_collection=settings.data_collection,
        zdr=settings.zdr,
        web=WebSpec() if web else None,
    )


def _unsimulated(profile: Profile) -> str:
    """The controls a simulated run cannot show (no searches, sources, fees or reasoning), in
    words; "" when the profile sets none of them."""
    from hive.consensus.profiles import STAGES

    specs = [profile.stage(name) for name in STAGES]
    found = []
    if any(spec.web is not None for spec in specs):
        found.append("web search")
    if any(spec.reasoning is not None and not spec.reasoning.off for spec in specs):
        found.append("reasoning")
    return " and ".join(found) + (" are" if len(found) > 1 else " is") if found else ""


def _dumb_terminal() -> bool:
    """A terminal that cannot move its cursor (``TERM=dumb``, Emacs' shell) gets the plain view."""
    return os.environ.get("TERM", "") in ("dumb", "unknown")


def _renderer(output: str, live: bool, shown: Shown, color: str, request: RunRequest) -> Renderer:
    if output == "json":
        from hive.ui.json import JsonRenderer

        files = [(f.name, len(f.text.encode())) for f in request.context.files]
        return JsonRenderer(parent_id=request.parent_id, files=files)
    if live:
        from hive.ui.console import make_console
        from hive.ui.live import LiveRenderer

        return LiveRenderer(
            make_console(color, stderr=True), out=make_console(color), detailed=shown.detailed
        )
    from hive.ui.plain import PlainRenderer

    return PlainRenderer(detailed=shown.detailed, quiet=shown.quiet)
