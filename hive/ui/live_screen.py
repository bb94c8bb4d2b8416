"""Draws frames on the terminal's alternate screen, in place, from its own thread.

Why the alternate screen: a frame drawn in the normal screen is at the terminal's mercy when
the window is resized — the terminal rewraps (or pushes into scrollback) the lines already
drawn, and no cursor movement can reach them again, so stale frames stay in the scrollback.
On the alternate screen each frame is drawn whole from the top-left corner, at whatever size
the terminal has now, and nothing reaches the scrollback; when the run ends the screen is left
and the run's lasting record is printed once, in the normal screen.

Each frame is one write: synchronized-output markers around it (mode 2026: a terminal that
knows it shows the frame at once; one that does not ignores them), the cursor home, each line
erased before it is drawn, and the rest of the screen erased after it. The frame rate is the
thread's clock (10 per second), never the token rate. Each frame asks the terminal its size, so
a resize is drawn at the next tick (within a tenth of a second). No handler wakes the thread on
SIGWINCH: a signal handler runs on the main thread between two of its bytecodes, perhaps while
that thread holds the very lock the handler would take (an ``Event``'s, inside ``redraw``), and
would then wait for itself forever. The Ctrl-Z handler takes no lock but the frame lock, and
that one only for so long (its write to a terminal that stopped reading waits, as every write
to it does, until the terminal reads again).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import IO, TextIO

from rich.console import Console
from rich.text import Text

ENTER, LEAVE = "\x1b[?1049h", "\x1b[?1049l"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
SYNC_BEGIN, SYNC_END = "\x1b[?2026h", "\x1b[?2026l"
HOME, ERASE_LINE, ERASE_BELOW = "\x1b[H", "\x1b[2K", "\x1b[J"

MAX_PER_SECOND = 30  # frames, however often a state change asks for one
JOIN_S = 0.5  # how long stopping waits for a frame being written
Draw = Callable[[int, int], list[Text]]  # (width, height) -> the frame's lines
# What ``signal.signal`` returns and takes back: a function, SIG_DFL/SIG_IGN, or None.
Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class Screen:
    """The alternate screen while a run goes on. ``draw`` is called from the screen's thread
    with the terminal's size; it must hold whatever lock guards the state it reads."""

    def __init__(
        self, console: Console, draw: Draw, *, per_second: float = 10.0, sync: bool = True
    ) -> None:
        self._console = console
        self._draw = draw
        self._interval = 1.0 / per_second
        self._sync = sync and os.environ.get("TERM") != "linux"  # the Linux console echoes it
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._out: IO[str] | None = None
        self.frames = 0  # frames written, for the benchmark
        self.written = 0  # characters written, escapes included
        self.failure: str | None = None  # why drawing stopped early, if it did
        self._entered = False  # on the alternate screen now
        self._leave_lock = threading.Lock()
        self._frame_lock = threading.Lock()  # a frame is written whole, or not while suspended
        self._suspended = False
        self._previous_tstp: Handler = None  # SIGTSTP's handler before the view's

    def start(self) -> None:
        """Take over the terminal. Not a terminal (a file, a pipe), a dumb one or a legacy
        Windows console: nothing is drawn, and the view prints only its lasting record when
        the run ends."""
        console = self._console
        if not console.is_terminal or console.is_dumb_terminal or console.legacy_windows:
            return
        self._out = self._console.file
        self._entered = True
        atexit.register(self._leave)  # whatever happens, the terminal is given back
        self._write(ENTER + HIDE_CURSOR)
        self._watch_suspend()
        self._thread = threading.Thread(target=self._loop, name="hive-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop drawing and give the terminal its normal screen and cursor back. Idempotent,
        and safe from an exception handler: the terminal is restored whatever happens."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            # A terminal that stopped reading (Ctrl-S, a stalled ssh) can hold the drawing
            # thread in a write: it is a daemon, and the run does not wait for it long.
            self._thread.join(timeout=JOIN_S)
        finally:
            self._thread = None
            self._unwatch_suspend()
            self._leave()

    def _leave(self) -> None:
        """Back to the normal screen with the cursor shown, once."""
        with self._leave_lock:
            if not self._entered:
                return
            self._entered = False
        self._write(LEAVE + SHOW_CURSOR)
        atexit.unregister(self._leave)

    @property
    def active(self) -> bool:
        """Drawing on the alternate screen now."""
        return self._entered

    def redraw(self) -> None:
        """Draw now rather than at the next tick."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._frame()
            except Exception as exc:  # a bug in drawing must not stop the run, only the view
                self.failure = f"the live view stopped drawing ({type(exc).__name__}: {exc})"
                self._leave()  # not a frozen frame until the run ends: the normal screen
                return
            drawn = time.monotonic()
            self._wake.wait(self._interval)
            self._wake.clear()
            # A burst of state changes (each wakes the thread) is still drawn at most
            # ``MAX_PER_SECOND`` times a second.
            early = 1.0 / MAX_PER_SECOND - (time.monotonic() - drawn)
            if early > 0:
                self._stopping.wait(early)

    def _frame(self) -> None:
        """Draw one frame. The state is read (``draw`` takes the view's lock) *before* the frame
        lock is taken: the Ctrl-Z handler runs on the main thread, which may hold the view's
        lock, and takes the frame lock — holding both here, in the other order, would deadlock
        the two threads."""
        if self._suspended:
            return
        text = self._render()
        with self._frame_lock:
            if not self._suspended:
                self._write(text)
                self.frames += 1

    def _render(self) -> str:
        width, height = self._size()
        lines = self._draw(width, height)
        with self._console.capture() as capture:
            self._console.print(
                Text("\n").join(lines), width=width, no_wrap=True, crop=True, overflow="ellipsis",
                end="", soft_wrap=False,
            )  # fmt: skip
        rows = capture.get().split("\n")
        body = "\n".join(ERASE_LINE + row for row in rows)
        begin, end = (SYNC_BEGIN, SYNC_END) if self._sync else ("", "")
        return f"{begin}{HOME}{body}\n{ERASE_BELOW}{end}"

    def _size(self) -> tuple[int, int]:
        """The terminal's size now. Asked of the terminal itself: Rich prefers ``COLUMNS`` and
        ``LINES`` when they are exported, and those do not change when the window does."""
        out = self._out
        try:
            if out is not None:
                size = os.get_terminal_size(out.fileno())
                return size.columns, size.lines
        except (OSError, ValueError, AttributeError):
            pass
        return self._console.size

    def _write(self, text: str) -> None:
        out = self._out
        if out is None:
            return
        with contextlib.suppress(OSError, ValueError):  # a closed terminal: nothing to draw on
            out.write(text)
            out.flush()
            self.written += len(text)

    def _watch_suspend(self) -> None:
        """Ctrl-Z (SIGTSTP, where it exists, from the main thread, unless someone else handles
        it) suspends the view with the process."""
        tstp = getattr(signal, "SIGTSTP", None)
        if tstp is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(tstp) is signal.SIG_DFL:
            self._previous_tstp = signal.signal(tstp, self._suspend)

    def _suspend(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-Z: the shell gets its normal screen and cursor while hive is stopped, and the
        view comes back when it is resumed (``fg``)."""

        def stop_here() -> None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # stopped here until SIGCONT
            signal.signal(signum, self._suspend)

        self.pause(stop_here)

    def pause(self, stopped: Callable[[], None]) -> None:
        """Leave the alternate screen, call ``stopped`` (which returns once the process goes
        on), and come back. This runs in a signal handler, between two bytecodes of whatever
        the main thread was doing — perhaps holding the view's lock — so it waits for nothing
        but a frame being written, and for that only so long. A view that already gave the
        screen back (a drawing failure) is not brought back: the shell keeps its screen."""
        if not self._entered:
            stopped()
            return
        self._suspended = True  # no frame begins from now on
        self._between_frames(LEAVE + SHOW_CURSOR)
        stopped()
        if self._entered:  # not given back meanwhile
            self._between_frames(ENTER + HIDE_CURSOR)
        self._suspended = False  # drawn again at the next tick (no lock taken to wake it)

    def _between_frames(self, text: str) -> None:
        """Write ``text`` once the frame being written (if any) is out, not inside it. A
        terminal that stopped reading (Ctrl-S) holds that frame's write: after ``JOIN_S`` this
        write is tried anyway, and waits with it on the stream's own lock until the terminal
        reads again — as any write to a stopped terminal must."""
        held = self._frame_lock.acquire(timeout=JOIN_S)
        try:
            self._write(text)
        finally:
            if held:
                self._frame_lock.release()

    def _unwatch_suspend(self) -> None:
        signum, previous = getattr(signal, "SIGTSTP", None), self._previous_tstp
        if signum is None or previous is None:
            return
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, previous)
        self._previous_tstp = None


class CapturedStderr:
    """Stands in for ``sys.stderr`` while the screen is up: a line written there (a storage
    warning, a library's message) would land inside the frame and be drawn over, so each
    complete line is queued, and the view shows it with the run's notes.

    It never takes the view's lock: a write can come from any thread at any moment — the
    garbage collector's "never awaited" warning while that thread holds the lock — so lines
    only go into a queue, which the view empties under its own lock."""

    MAX_HELD = 4096  # characters of an unfinished line kept

    def __init__(self, real: TextIO) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=1000)
        self._real = real
        self._held = ""

    def write(self, text: str) -> int:
        held = self._held + text
        if "\n" in text:
            *lines, held = held.split("\n")
            self.lines.extend(line.strip() for line in lines if line.strip())
        self._held = held[-self.MAX_HELD :]
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._real.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._real, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:
        return getattr(self._real, "errors", "strict")

    def drain(self) -> list[str]:
        """The lines queued since the last call."""
        out = []
        while self.lines:
            out.append(self.lines.popleft())
        return out

    def release(self) -> list[str]:
        """Put ``sys.stderr`` back; the lines still queued (and an unfinished one) returned."""
        if sys.stderr is self:
            sys.stderr = self._real
        if self._held.strip():
            self.lines.append(self._held.strip())
        self._held = ""
        return self.drain()
