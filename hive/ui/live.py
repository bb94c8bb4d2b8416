"""The live terminal view: every call a row, every concurrent stream a lane, notes kept.

While the run goes on, a ``Board`` (``run_board.py``) is fed from the pipeline's events and a
``Screen`` (``live_screen.py``) draws it (``live_layout.py``) on the terminal's alternate screen
ten times a second, whatever the token rate: a token only appends to a list. When the run ends
— answered, failed or stopped — the screen is left and what lasts is printed once in the normal
screen: the calls as they ended, the notes and decisions, then (on ``out``) the answer, and the
agreement and summary. The view runs on ``console`` (stderr, as cargo's and gh's do), so stdout
carries only the answer.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from hive.consensus.events import (
    ConsensusResult,
    PipelineEvent,
    RunWarning,
    ThinkingDelta,
    TokenDelta,
)
from hive.text import terminal_safe
from hive.ui import format as fmt
from hive.ui import live_layout as layout
from hive.ui.agreement_view import agreement_lines
from hive.ui.answer_view import print_answer, print_markdown
from hive.ui.live_screen import CapturedStderr, Screen
from hive.ui.run_board import Board
from hive.ui.sources_view import source_lines
from hive.ui.stage_detail import sections


class LiveRenderer:
    def __init__(
        self,
        console: Console,
        *,
        detailed: bool = False,
        out: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``console``: where the view is drawn and the report printed (stderr); ``out``:
        where the answer goes (stdout; ``console`` when not given)."""
        self._console = console
        self._out = out or console
        self._detailed = detailed
        self._clock = clock
        self._lock = threading.Lock()
        self.board = Board()
        self.screen = Screen(console, self._draw)
        self._stderr: CapturedStderr | None = None
        self._closed = False

    def __enter__(self) -> LiveRenderer:
        self.screen.start()
        if self.screen.active and (sys.stderr is self._console.file or self._console.stderr):
            self._stderr = CapturedStderr(sys.stderr)
            sys.stderr = self._stderr
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._closed:
            return
        with self._lock:
            self.board.interrupted(self._clock())
        self._close()
        with contextlib.suppress(OSError):  # a closed terminal (SIGHUP): the run's end matters
            self._print_record()

    def handle(self, event: PipelineEvent) -> None:
        with self._lock:
            self._take_stderr()
            self.board.handle(event, self._clock())
        if not isinstance(event, TokenDelta | ThinkingDelta):
            self.screen.redraw()  # a state changed: show it now, not at the next tick

    def _take_stderr(self) -> None:
        """Lines written to stderr meanwhile become notes (the lock is held)."""
        if self._stderr is not None:
            self._notes(self._stderr.drain())

    def _notes(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.board.handle(RunWarning(line), self._clock())

    def _draw(self, width: int, height: int) -> list[Text]:
        with self._lock:
            self._take_stderr()
            return layout.frame(self.board, width, height, self._clock())

    def _close(self) -> None:
        """Leave the screen (and give stderr back) once; the record is printed after."""
        if self._closed:
            return
        self._closed = True
        try:
            self.screen.stop()
        finally:
            if self._stderr is not None:
                left = self._stderr.release()
                self._stderr = None
                with self._lock:
                    self._notes(left)
        if self.screen.failure is not None:
            self.board.notes.append(self.screen.failure)

    def finish(
        self, result: ConsensusResult, *, run_id: int | None = None, notes: Sequence[str] = ()
    ) -> None:
        with self._lock:
            self.board.ended = self._clock()
        self._close()
        self._print_record()
        if self._detailed:
            self._print_sections(result)
        console = self._console
        console.line()
        print_answer(self._out, result.answer)
        console.line()
        consensus = None if result.consensus is None else result.consensus.as_dict()
        lines = [*source_lines(result.sources),
                 *agreement_lines(consensus, result.confidence, result.issues)]  # fmt: skip
        for line in lines:
            heading = not line.startswith(" ")
            console.print(Text(terminal_safe(line), style="bold" if heading else ""),
                          soft_wrap=False)  # fmt: skip
        style = "dim" if not result.simulated else "yellow"
        console.print(Text(fmt.summary(result, run_id, notes, notes_below=True), style=style))
        if result.degraded:
            self._print_notes()

    def _print_record(self) -> None:
        """The calls as they ended and the run's notes and decisions: what stays on screen."""
        console = self._console
        cols = layout.columns(console.width, layout.longest(self.board))
        now = self._clock()
        for line in layout.table_lines(self.board, cols, now):
            console.print(line, no_wrap=True, crop=True, overflow="ellipsis")
        self._print_notes()
        for decision in self.board.decisions:
            console.print(Text(f"decided: {decision}", style="cyan"))

    def _print_notes(self) -> None:
        for note in self.board.notes:
            self._console.print(Text(f"! {terminal_safe(note)}", style="yellow"))

    def _print_sections(self, result: ConsensusResult) -> None:
        """Each call's work before the answer: rendered on a terminal (code as it is), and
        as the plain view writes it into a pipe (Markdown headings, the text unchanged)."""
        out = self._out
        if not out.is_terminal:
            for section in sections(result):
                out.file.write(f"## {section.title}\n\n{section.body}\n\n")
            out.file.write("## answer\n\n")
            return
        for section in sections(result):
            out.print(Rule(Text(section.title), style="blue" if section.ok else "red"))
            print_markdown(out, section.body)
        out.print(Rule(Text("answer"), style="green"))
