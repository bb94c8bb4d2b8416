"""``hive history rerun N``: ask a recorded run's question again, as it was asked.

The same question, files and instructions, on the panel that ran (overrides included, as
recorded), in the same place of its conversation (its earlier turns are sent again). A new
run is recorded; the old one is left as it was. A run made with ``--no-log`` kept no question
to ask again, so it is refused. How it was run (``--fixed``, ``--rounds``) is not recorded:
those are given again, as options of this command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.application import state
from hive.cli.history import app

if TYPE_CHECKING:
    from hive.cli.launch import Asked
    from hive.store.paths import Paths


@app.command("rerun")
def rerun(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(metavar="N", help="The run to ask again.", min=1)],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Plain text (no live view).")] = False,
    detailed: Annotated[
        bool, typer.Option("--detailed", "-d", help="Also show every stage's output.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulator.")] = False,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print what it would cost; spend nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even if the estimate breaks a limit.")
    ] = False,
    fixed: Annotated[
        bool, typer.Option("--fixed", help="No adaptive rules (not recorded: give it again).")
    ] = False,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds", min=1, max=5, metavar="N", help="At most N rounds.", show_default=False
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 5 when the answer is degraded.")
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Keep no question, file, instruction or answer text.")
    ] = False,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="OpenRouter key for this run.")
    ] = None,
) -> None:
    """Run a recorded question again, with its files, instructions and panel."""
    from hive.cli.launch import Shown, run_command

    shown = Shown(
        json_output=json_output, plain=plain, detailed=detailed, quiet=quiet,
        simulate=simulate, estimate=estimate, force=force, api_key=api_key, fixed=fixed,
        rounds=rounds, strict=strict,
    )  # fmt: skip
    run_command(state(ctx), shown, lambda paths, _: _recorded(paths, run_id, logged=not no_log))


def _recorded(paths: Paths, run_id: int, *, logged: bool) -> Asked:
    from hive.cli.launch import Asked
    from hive.cli.run_inputs import FollowUp, context_notice, panel_of
    from hive.consensus.context import Attachment, Context, Turn
    from hive.errors import UsageError
    from hive.store.history import History
    from hive.store.user_profiles import ProfileStore

    history = History.open(paths)
    try:
        record = history.run(run_id)
        if record is None:
            raise UsageError(f"no run #{run_id} in history (see hive history list)")
        chain = history.conversation(run_id)
    finally:
        history.close()
    this, earlier = chain[-1], chain[:-1]
    if not this.logged:
        raise UsageError(f"run #{run_id} was made with --no-log: its question was not kept")
    follow = FollowUp(
        run_id, (), (), "", record.profile, record.panel
    )  # only to read the panel it ran on
    profile = panel_of(follow) or ProfileStore(paths).get(record.profile)
    files = tuple(Attachment(name, text) for name, text in this.files)
    context = Context(
        system=this.system or "",
        files=(*(Attachment(n, t) for r in earlier for n, t in r.files), *files),
        turns=tuple(Turn(r.question, r.answer) for r in earlier if r.answer),
    )
    notices = [f"asking run #{run_id}'s question again on the panel it ran on ({profile.name})"]
    if context:
        notices.append(context_notice(context, files, None))
    return Asked(
        question=this.question, profile=profile, context=context, new_files=files,
        parent_id=record.parent_id, logged=logged, notices=notices,
        simulated_turns=tuple(r.id for r in earlier if r.answer and r.simulated),
    )  # fmt: skip
