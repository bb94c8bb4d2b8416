"""What many test files share besides conftest's fixtures: the CLI run in-process, and real
processes (``python -m hive``, a child interpreter, hive on a pseudo-terminal) started, polled,
signalled and never left behind.

Every process inherits the test's environment, which conftest's ``isolated_env`` has already
made safe (its own HIVE_HOME, no keys from the developer's shell).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from hive.cli.app import app
from tests.conftest import FAKE_KEY

SUBPROCESS_TIMEOUT = 60  # seconds a real process may take to finish: a bound, never a measure
WAIT_S = 30.0  # seconds to wait for a process or the server to get somewhere: a bound too

T = TypeVar("T")

runner = CliRunner()


# --- the CLI in-process ------------------------------------------------------------------------


def hive(*args: str, input: str | None = None) -> Result:
    """Run the CLI in-process; stdin is ``input`` (empty, not a terminal, when None)."""
    return runner.invoke(app, list(args), input=input)


def ok(result: Result) -> Result:
    """``result``, once it is checked to have exited 0 (what it printed shown if not)."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def hive_without_key(*args: str, input: str | None = None) -> Result:
    """``hive``, failing the test if the fake key shows anywhere in what it printed."""
    result = hive(*args, input=input)
    assert FAKE_KEY not in result.stdout + result.stderr
    return result


# --- real processes ----------------------------------------------------------------------------


def python_m_hive(*args: str) -> list[str]:
    """The command line of ``python -m hive ARGS``, with this interpreter."""
    return [sys.executable, "-m", "hive", *args]


def run(argv: Sequence[str | bytes], **options: Any) -> subprocess.CompletedProcess[Any]:
    """``argv`` run to its end in a real process with the test's environment: stdin empty (or
    ``input=``), stdout and stderr captured as text (bytes with ``text=False``), at most
    SUBPROCESS_TIMEOUT seconds. ``options`` (``subprocess.run``'s own) replace any of these."""
    defaults: dict[str, Any] = {
        "capture_output": True, "text": True, "env": dict(os.environ),
        "timeout": SUBPROCESS_TIMEOUT,
    }  # fmt: skip
    if "input" not in options:
        defaults["stdin"] = subprocess.DEVNULL
    return subprocess.run(list(argv), **{**defaults, **options})


def run_hive(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, **options: Any
) -> subprocess.CompletedProcess[Any]:
    """``python -m hive ARGS`` run to its end (``run``), with ``env`` added to the test's
    environment; stdin is ``input`` (empty, not a terminal, when None)."""
    if input is not None:
        options["input"] = input
    return run(python_m_hive(*args), env={**os.environ, **(env or {})}, **options)


def start(argv: Sequence[str], **options: Any) -> subprocess.Popen[str]:
    """``argv`` started in a real process with the test's environment: stdin empty, stdout and
    stderr piped as text. ``options`` (``subprocess.Popen``'s own) replace any of these. Use it
    under ``reaped`` so a failing test leaves nothing running."""
    defaults: dict[str, Any] = {
        "stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
        "text": True, "env": dict(os.environ),
    }  # fmt: skip
    return subprocess.Popen(list(argv), **{**defaults, **options})


def start_hive(*args: str, **options: Any) -> subprocess.Popen[str]:
    """``python -m hive ARGS`` started (``start``)."""
    return start(python_m_hive(*args), **options)


@contextmanager
def reaped(*procs: subprocess.Popen[Any]) -> Iterator[None]:
    """Whatever of ``procs`` is still running when the block ends (a failed assertion, a
    timeout) is killed and waited for."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def outcomes(procs: Sequence[subprocess.Popen[str]]) -> list[tuple[str, str, int]]:
    """Each process waited for in turn (SUBPROCESS_TIMEOUT each): its stdout, stderr and exit
    code, in order. If any wait fails, every one still running is killed."""
    with reaped(*procs):
        return [(*proc.communicate(timeout=SUBPROCESS_TIMEOUT), proc.returncode) for proc in procs]


def wait_until(
    condition: Callable[[], T],
    proc: subprocess.Popen[Any] | None = None,
    *,
    within: float = WAIT_S,
    every: float = 0.05,
) -> T | None:
    """Poll ``condition`` every ``every`` seconds until it is true, and return it; what it last
    gave once ``within`` seconds have passed, or None as soon as ``proc`` has ended."""
    deadline = time.monotonic() + within
    while True:
        if proc is not None and proc.poll() is not None:
            return None
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def interrupt(proc: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[str, str]:
    """Send ``proc`` a signal (Ctrl-C by default), then wait for its end: its stdout, stderr."""
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    return out, err


def console_script() -> Path:
    """The ``hive`` console script installed beside this interpreter (the test is skipped where
    there is none)."""
    script = Path(sys.executable).parent / ("hive.exe" if sys.platform == "win32" else "hive")
    if not script.exists():
        pytest.skip("the hive console script is not installed beside this interpreter")
    return script


def complete_bash(words: str, cword: int, argv: Sequence[str] = (), **options: Any) -> list[str]:
    """What hive offers when bash's completion calls it back for the command line ``words``,
    completing word number ``cword``: through the console script, or ``argv`` (``options`` as
    for ``run``)."""
    env = {**os.environ, "_HIVE_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    proc = run(argv or [str(console_script())], env=env, **options)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout.split()


# --- hive on a pseudo-terminal -----------------------------------------------------------------


@dataclass
class Pty:
    """A child process on the other end of a pseudo-terminal: ``output`` is all it wrote."""

    pid: int
    fd: int
    deadline: float
    output: bytearray = field(default_factory=bytearray)
    status: int | None = None  # as ``os.waitpid`` gave it, once waited for

    def read_until(self, until: bytes | None) -> bool:
        """Read into ``output`` until ``until`` shows up (None: until the child closes the
        terminal); False if the deadline passes first."""
        while time.monotonic() < self.deadline:
            if until is not None and until in self.output:
                return True
            if not select.select([self.fd], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                return until is None
            if not chunk:
                return until is None
            self.output.extend(chunk)
        return False

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def exit_code(self) -> int:
        _, self.status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(self.status)

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


@contextmanager
def hive_on_a_pty(*args: str) -> Iterator[Pty]:
    """``python -m hive ARGS`` forked onto a new pseudo-terminal as its stdin, stdout and
    stderr (skips the test where there is none). Killed at the end of the block unless it was
    waited for; all the reading must be done within SUBPROCESS_TIMEOUT."""
    pty = pytest.importorskip("pty")
    try:
        pid, fd = pty.fork()
    except OSError as exc:
        pytest.skip(f"no pseudo-terminal: {exc}")
    if pid == 0:  # the child: hive on the pty's slave side
        try:
            os.execv(sys.executable, python_m_hive(*args))
        finally:
            os._exit(127)
    child = Pty(pid, fd, time.monotonic() + SUBPROCESS_TIMEOUT)
    try:
        yield child
    finally:
        if child.status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def answered_at_a_terminal(*args: str, prompt: bytes, reply: str) -> tuple[int, str]:
    """``python -m hive ARGS`` on a pseudo-terminal: once it shows ``prompt``, ``reply`` is
    typed; its exit code and all it wrote there, once it has ended."""
    with hive_on_a_pty(*args) as terminal:
        assert terminal.read_until(prompt), bytes(terminal.output)
        terminal.type(reply)
        assert terminal.read_until(None), bytes(terminal.output)
        return terminal.exit_code(), terminal.text()
