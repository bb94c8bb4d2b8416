"""The live view in a bare pseudo-terminal (no tmux needed): resize and Ctrl-C.

hive runs a slow simulated run with its stdin, stdout and stderr on a pty of a given size. The
test resizes the pty (``TIOCSWINSZ``, which makes the kernel send ``SIGWINCH``) and types Ctrl-C
(``\\x03``: the pty's line discipline turns it into SIGINT, as a terminal does), then reads
every byte hive wrote: the frames must fit the size the terminal had when each was drawn, the
alternate screen must be entered once and left once (the terminal is given back), and the
last line must say where the run stopped, what it spent and how to see it.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hive.ui.live_screen import ENTER, LEAVE, SHOW_CURSOR, SYNC_BEGIN, SYNC_END
from tests.helpers import python_m_hive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals"),
]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEADLINE_S = 30.0


def set_size(fd: int, columns: int, rows: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Terminal:
    """A pty with hive on its other end; ``output`` is everything hive wrote to it."""

    def __init__(self, tmp_path: Path, columns: int, rows: int) -> None:
        import pty

        self.master, slave = pty.openpty()
        set_size(slave, columns, rows)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "HIVE_HOME": str(tmp_path / "hive-home"),
            "HIVE_SIMULATION_SPEED": "0.15",
        }
        self.process: subprocess.Popen[bytes] = subprocess.Popen(
            python_m_hive("consensus", "What is Rust?", "--simulate"),
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=_controlling_tty(slave),
        )  # fmt: skip
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, deadline: float) -> None:
        while needle not in self.output and time.monotonic() < deadline:
            self.read(0.1)
        assert needle in self.output, self.text()[-2000:]

    def read(self, wait: float) -> None:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            with contextlib.suppress(OSError):  # the other end closed
                self.output += os.read(self.master, 65536)

    def finish(self, deadline: float) -> int:
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        self.read(0.2)
        code: int = self.process.wait(timeout=5)
        os.close(self.master)
        return code

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


def _controlling_tty(fd: int) -> Callable[[], None]:
    """Make the pty hive's controlling terminal, so Ctrl-C typed there reaches it."""

    def become() -> None:
        import fcntl
        import termios

        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

    return become


def frames(text: str) -> list[list[str]]:
    """Each frame drawn, as its lines without escapes."""
    out = []
    for chunk in text.split(SYNC_BEGIN)[1:]:
        body = chunk.split(SYNC_END)[0]
        out.append([ANSI.sub("", line).rstrip("\r") for line in body.split("\n")])
    return out


def test_a_resize_and_ctrl_c_in_a_real_pty(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    term = Terminal(tmp_path, 100, 30)
    term.read_until(b" gen ", deadline)  # a generator's lane is streaming
    before = len(frames(term.text()))
    set_size(term.master, 40, 12)  # the kernel sends hive SIGWINCH
    term.read_until(b"stage model", deadline)  # the 40-column layout: the stage abbreviated
    narrow_from = len(frames(term.text()))
    time.sleep(0.3)
    term.read(0.2)
    os.write(term.master, b"\x03")  # Ctrl-C, typed
    code = term.finish(deadline)
    text = term.text()

    assert code == 130, text[-2000:]
    assert text.count(ENTER) == 1 and text.count(LEAVE) == 1, "the alternate screen, once"
    assert text.rfind(SHOW_CURSOR) > text.rfind(LEAVE) - len(SHOW_CURSOR) - 1
    drawn = frames(text)
    assert before >= 1 and len(drawn) > narrow_from
    assert all(len(line) <= 100 for frame in drawn[:before] for line in frame)
    for frame in drawn[narrow_from:]:  # drawn after the resize: 40 columns, 11 lines at most
        assert len([line for line in frame if line]) <= 11, frame
        assert all(len(line) <= 40 for line in frame), frame
    after = ANSI.sub("", text.split(LEAVE)[-1])
    lines = [line.strip() for line in after.replace("\r", "").split("\n") if line.strip()]
    assert re.fullmatch(
        r"hive: interrupted \(SIGINT\) during \w+: spent \$[\d.]+ \(simulated\) on \d+ calls?; "
        r"run #1 is kept: hive history show 1",
        lines[-1],
    ), lines
    assert "Traceback" not in text
    assert sum(line.split()[:2] == ["stage", "model"] for line in lines) == 1  # the record


def test_sigterm_also_gives_the_terminal_back(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    term = Terminal(tmp_path, 80, 24)
    term.read_until(SYNC_BEGIN.encode(), deadline)
    term.process.send_signal(signal.SIGTERM)
    code = term.finish(deadline)
    text = term.text()
    assert code == 143, text[-2000:]
    assert text.count(ENTER) == text.count(LEAVE) == 1
    assert "interrupted (SIGTERM)" in ANSI.sub("", text.split(LEAVE)[-1])


def test_ctrl_z_gives_the_shell_its_screen_and_the_view_comes_back(tmp_path: Path) -> None:
    """Ctrl-Z leaves the alternate screen and shows the cursor before hive stops; resumed, it
    draws again. (Here hive's process group has no shell, so the kernel does not stop it: the
    leave and the return follow each other at once, and the run goes on to its end.)"""
    deadline = time.monotonic() + DEADLINE_S
    term = Terminal(tmp_path, 80, 24)
    term.read_until(SYNC_BEGIN.encode(), deadline)
    os.write(term.master, b"\x1a")  # Ctrl-Z, typed
    code = term.finish(deadline)
    text = term.text()
    assert code == 0, text[-2000:]
    assert text.count(ENTER) == text.count(LEAVE) == 2  # left on Ctrl-Z, back, left at the end
    first_leave = text.index(LEAVE)
    assert text.index(SHOW_CURSOR, first_leave) == first_leave + len(LEAVE)
    assert SYNC_BEGIN in text[text.index(ENTER, first_leave) :]  # drawn again after resuming
