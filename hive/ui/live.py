"""The live terminal view: one row per model call, the active text streaming beneath.

Rich's ``Live`` redraws from ``_view`` on its own clock (10 Hz), so a fast stream never sets the
redraw rate: a token only appends to a list.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallRecord,
    CallStarted,
    ConsensusResult,
    Decided,
    PipelineEvent,
    RunStarted,
    RunWarning,
    TokenDelta,
)
from hive.openrouter.tokens import approx_tokens
from hive.ui import format as fmt
from hive.ui.agreement_view import agreement_lines

_TAIL_LINES = 8


@dataclass
class _Row:
    stage: str
    model: str
    state: str = "waiting"
    started: float | None = None
    ended: float | None = None
    deltas: int = 0
    parts: list[str] = field(default_factory=list)
    record: CallRecord | None = None


class LiveRenderer:
    def __init__(self, console: Console, *, detailed: bool = False) -> None:
        self._console = console
        self._detailed = detailed
        self._rows: dict[tuple[str, int], _Row] = {}
        self._active: tuple[str, int] | None = None
        self._live = Live(
            get_renderable=self._view, console=console, refresh_per_second=10, transient=False
        )

    def __enter__(self) -> LiveRenderer:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for row in self._rows.values():
            if row.state == "streaming":
                row.state = "cancelled" if kind is not None else row.state
        self._active = None
        self._live.stop()

    def handle(self, event: PipelineEvent) -> None:
        if isinstance(event, RunStarted):
            for call in event.plan:
                self._rows[(call.stage, call.index)] = _Row(call.stage, call.model)
        elif isinstance(event, CallStarted):
            # A call the plan did not list (a second refine, another round) gets its own row.
            row = self._rows.setdefault((event.stage, event.index), _Row(event.stage, event.model))
            # A retry or a fallback starts the row afresh, under the model now asked.
            row.state, row.started, row.model = "streaming", time.monotonic(), event.model
            row.deltas, row.parts, row.record = 0, [], None
            self._active = (event.stage, event.index)
        elif isinstance(event, TokenDelta):
            row = self._rows[(event.stage, event.index)]
            row.deltas += 1
            row.parts.append(event.text)
            self._active = (event.stage, event.index)
        elif isinstance(event, CallFinished | CallFailed):
            record = event.record
            row = self._rows[(record.stage, record.index)]
            row.state = "done" if record.ok else "cut" if record.cut else "failed"
            row.ended, row.record = time.monotonic(), record
        elif isinstance(event, RunWarning):
            self._live.console.print(Text(f"warning: {event.message}", style="yellow"))
        elif isinstance(event, Decided):
            self._live.console.print(Text(f"decided: {event.decision.message}", style="cyan"))
            if event.decision.kind in ("panel_kept", "curate_skipped"):
                self._mark_skipped(event.decision.kind)

    def _mark_skipped(self, kind: str) -> None:
        """Planned calls a decision made unnecessary: shown as skipped, not left waiting."""
        for (stage, _), row in self._rows.items():
            if row.state == "waiting" and stage == (
                "curate" if kind == "curate_skipped" else "generate"
            ):
                row.state = "skipped"

    def finish(
        self, result: ConsensusResult, *, run_id: int | None = None, notes: Sequence[str] = ()
    ) -> None:
        self._live.stop()
        if not self._console.is_terminal:
            self._console.line()  # Rich ends the last frame with a newline only on terminals
        if self._detailed:
            for record in result.calls:
                self._console.print(_detail_panel(record))
        self._console.print(Panel(Markdown(result.answer), title="answer", border_style="green"))
        consensus = None if result.consensus is None else result.consensus.as_dict()
        for line in agreement_lines(consensus, result.confidence, result.issues):
            heading = not line.startswith(" ")
            self._console.print(Text(line, style="bold" if heading else ""), soft_wrap=False)
        style = "dim" if not result.simulated else "yellow"
        self._console.print(Text(fmt.summary(result, run_id, notes), style=style))

    def _view(self) -> RenderableType:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("", "stage", "model", "time", "tokens", "cost"):
            table.add_column(
                column,
                justify="right" if column in ("time", "tokens", "cost") else "left",
                no_wrap=True,
            )
        now = time.monotonic()
        for row in self._rows.values():
            table.add_row(*self._cells(row, now))
        parts: list[RenderableType] = [table]
        if self._active is not None and self._rows[self._active].state == "streaming":
            row = self._rows[self._active]
            tail = _tail("".join(row.parts), self._console.width - 4)
            parts.append(
                Panel(
                    Text(tail),
                    title=f"{row.stage} · {row.model}",
                    border_style="cyan",
                    height=_TAIL_LINES + 2,
                )
            )
        return Group(*parts)

    @staticmethod
    def _cells(row: _Row, now: float) -> list[RenderableType]:
        icon: RenderableType = {
            "waiting": Text("·", style="dim"),
            "done": Text("✓", style="green"),
            "failed": Text("✗", style="red"),
            "cancelled": Text("–", style="yellow"),
            "skipped": Text("–", style="dim"),
            "cut": Text("✂", style="yellow"),
        }.get(row.state) or Spinner("dots", style="cyan")
        elapsed = None if row.started is None else ((row.ended or now) - row.started) * 1000
        record = row.record
        if record is not None:  # what the server reported, or ? when it reported nothing
            tokens = fmt.count(record.completion_tokens)
        else:  # streaming: hive's own rough count of the text so far (~4 characters a token)
            tokens = f"~{approx_tokens(''.join(row.parts)):,}" if row.parts else ""
        cost = fmt.call_cost(record) if record is not None else ""
        style = "dim" if row.state in ("waiting", "skipped") else ""
        return [
            icon,
            Text(row.stage, style=style),
            Text(row.model, style=style),
            fmt.seconds(elapsed) if elapsed is not None else "",
            tokens,
            cost,
        ]


def _tail(text: str, width: int) -> str:
    """The last lines as they will wrap in the panel, so the newest text is always visible."""
    lines: list[str] = []
    for line in text.splitlines()[-_TAIL_LINES:]:
        lines.extend(textwrap.wrap(line, max(10, width)) or [""])
    return "\n".join(lines[-_TAIL_LINES:])


def _detail_panel(record: CallRecord) -> Panel:
    title = (
        f"{record.stage} · {record.model_used or record.model} · "
        f"{fmt.count(record.prompt_tokens)}+{fmt.count(record.completion_tokens)} tokens · "
        f"{fmt.call_cost(record)} · {fmt.seconds(record.latency_ms)}"
    )
    body: RenderableType = Markdown(record.content) if record.content else Text("(no output)")
    if record.error:
        body = Group(Text(record.error, style="red"), body)
    return Panel(body, title=title, border_style="blue" if record.ok else "red")
