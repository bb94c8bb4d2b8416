"""The live view in a real terminal: hive runs in a tmux pane and the tests read the screen.

Each test gets a private tmux server (its own socket) running one simulated ``hive consensus``
under ``env -i``: only the variables listed in ``_pane_env`` reach hive, so it sees the pane's
real size (no ``COLUMNS`` from the test process), a temporary ``HIVE_HOME`` and no API key.
The screen is read with ``tmux capture-pane`` over the whole scrollback, so a frame the live
view failed to erase stays visible to the assertions.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.helpers import python_m_hive, run_hive

pytestmark = pytest.mark.slow

QUESTION = "What is Rust?"
WAIT_S = 45.0  # the deadline of any one wait; a run takes about 10 s at the slowest pace
POLL_S = 0.1
SLOW = 0.15  # simulation_speed: four stages in about 10 s, time to act mid-run
FAST = 1.0  # about 2 s: for a test that only looks at the end

EXIT_LINE = re.compile(r"^exit=(\d+)\s*$")
RUN_ID_HINT = re.compile(r"hive history show \d+")
# Rich's spinners draw with braille; the finished states are done, failed, cut (U+2702) and
# cancelled or skipped (an en dash).
SPINNER = re.compile(r"^[\u2800-\u28ff]$")
STATE_SYMBOL = re.compile(r"^[✓✗\u2702\u2013\u2800-\u28ff]$")
BORDERS = ("│", "╭", "╰")


@pytest.fixture(scope="module", autouse=True)
def _needs_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")


# --- the terminal ---------------------------------------------------------------------------


@dataclass
class Pane:
    """One hive command in a tmux pane of a private tmux server."""

    socket: str
    target: str = "hive"
    snapshots: list[str] = field(default_factory=list)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, env=_tmux_env(), timeout=10, check=True,
        )  # fmt: skip
        return done.stdout

    def capture(self, *, join: bool = True) -> str:
        """The whole scrollback and the screen; ``join``: wrapped lines joined back into one."""
        flags = ["-p", "-S", "-", "-E", "-", "-t", self.target]
        text = self.tmux("capture-pane", *(["-J", *flags] if join else flags))
        self.snapshots.append(text)
        return text

    def lines(self, *, join: bool = True) -> list[str]:
        return [line.rstrip() for line in self.capture(join=join).splitlines()]

    def wait_for(self, what: str, found: Callable[[list[str]], bool]) -> list[str]:
        """Poll the screen until ``found`` holds for its lines; fail after WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while True:
            lines = self.lines()
            if found(lines):
                return lines
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {WAIT_S:.0f} s; the screen:\n" + "\n".join(lines))
            time.sleep(POLL_S)

    def wait_exit(self) -> tuple[int, list[str]]:
        """hive's exit code (the ``exit=N`` line the pane's shell prints) and the screen."""
        lines = self.wait_for("exit code", lambda ls: any(EXIT_LINE.match(x) for x in ls))
        [code] = [int(m.group(1)) for line in lines if (m := EXIT_LINE.match(line))]
        return code, lines

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))

    def send_keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.target, *keys)


def _tmux_env() -> dict[str, str]:
    """The tmux client's environment: no $TMUX (the tests may run inside tmux), UTF-8."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["LANG"] = "C.UTF-8"
    return env


def _pane_env(home: Path, speed: float) -> dict[str, str]:
    """Everything hive sees of the environment: no COLUMNS or LINES, no key, its own home."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(home.parent),
        "TERM": "screen",
        "LANG": "C.UTF-8",
        "HIVE_HOME": str(home),
        "HIVE_SIMULATION_SPEED": str(speed),
    }


class Start(Protocol):
    def __call__(
        self, *hive_args: str, width: int, height: int, speed: float, stdout: Path | None = None
    ) -> Pane: ...


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Start]:
    """``start(*hive_args, width=, height=, speed=, stdout=None)``: hive in a new tmux pane.

    The pane runs ``hive *hive_args; echo "exit=$?"`` (stdout to the file ``stdout`` when one
    is given), then stays open so the screen can still be read. Every server started is killed
    at teardown."""
    panes: list[Pane] = []

    def start(
        *hive_args: str, width: int, height: int, speed: float, stdout: Path | None = None
    ) -> Pane:
        pane = Pane(f"hive-test-{os.getpid()}-{uuid.uuid4().hex[:10]}")
        command = shlex.join(python_m_hive(*hive_args))
        if stdout is not None:
            command += f" > {shlex.quote(str(stdout))}"
        # A trap that runs a command (unlike one that ignores) is reset in hive, which gets
        # Ctrl-C as usual; the shell survives it to print the exit code.
        script = f'trap : INT; {command}; echo "exit=$?"; exec sleep 600'
        env = [f"{k}={v}" for k, v in _pane_env(tmp_path / "hive-home", speed).items()]
        pane_command = shlex.join(
            ["env", "-i", *env, "bash", "--norc", "--noprofile", "-c", script]
        )
        panes.append(pane)
        pane.tmux(
            "new-session", "-d", "-s", pane.target, "-x", str(width), "-y", str(height),
            "-c", str(tmp_path), pane_command,
        )  # fmt: skip
        return pane

    yield start
    for pane in panes:
        subprocess.run(
            ["tmux", "-L", pane.socket, "kill-server"],
            capture_output=True, env=_tmux_env(), timeout=10, check=False,
        )  # fmt: skip
        # tmux leaves the socket file behind; it lives where ``-L`` puts it.
        folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / pane.socket).unlink(missing_ok=True)


# --- reading the screen ---------------------------------------------------------------------


def is_header(line: str) -> bool:
    """The call table's column-header line: the words ``stage`` and ``model``, and few others."""
    words = line.split()
    return "stage" in words and "model" in words and len(words) <= 8


def headers(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if is_header(line)]


def has_header(lines: list[str]) -> bool:
    return bool(headers(lines))


def summary(lines: list[str]) -> str | None:
    """The run's summary (``N calls · … · confidence …``), joined with its next line: at a
    narrow width hive wraps it, and it cannot fit 40 columns whole."""
    starts = [i for i, line in enumerate(lines) if re.match(r"\s*\d+ calls?\b", line)]
    if not starts:
        return None
    text = " ".join(lines[starts[-1] : starts[-1] + 2])
    return text if "confidence" in text else None


def words(text: str) -> list[str]:
    """Letters and digits only: the same for Markdown source and its rendering, wrapped or not."""
    return re.findall(r"[A-Za-z0-9]+", text)


def locate(lines: list[str], text: str) -> tuple[int, int] | None:
    """The first and last line holding ``text``'s words, in order and nothing between them."""
    wanted = words(text)
    seen = [(i, word) for i, line in enumerate(lines) for word in words(line)]
    for start in range(len(seen) - len(wanted) + 1):
        if all(seen[start + k][1] == word for k, word in enumerate(wanted)):
            return seen[start][0], seen[start + len(wanted) - 1][0]
    return None


def call_rows(lines: list[str]) -> list[str]:
    """The rows under the last column-header line: each names a stage (perhaps shortened)."""
    stage = re.compile(r"^(gen|ref|val|cur)")
    rows: list[str] = []
    for line in lines[headers(lines)[-1] + 1 :]:
        if not any(stage.match(word) for word in line.split()):
            break
        rows.append(line)
    return rows


def history(home: Path, *args: str) -> Any:
    done = run_hive(
        "history", *args, "--json", env={"HIVE_HOME": str(home)}, timeout=30, check=True
    )
    return json.loads(done.stdout)


def the_run(home: Path) -> dict[str, Any]:
    """The one run recorded in ``home``, in full."""
    [listed] = history(home, "list")
    run: dict[str, Any] = history(home, "show", str(listed["id"]))
    return run


def is_streaming(stage: str) -> Callable[[list[str]], bool]:
    """A row of ``stage`` showing a spinner frame: one of its calls is streaming."""

    def found(lines: list[str]) -> bool:
        rows = (line.split() for line in lines)
        return any(len(row) >= 2 and row[1] == stage and SPINNER.match(row[0]) for row in rows)

    return found


def shown(lines: list[str]) -> str:
    return "\n".join(lines)


# --- 1. one table, whatever the resizes ----------------------------------------------------


def test_header_once_after_resizes_mid_run(terminal: Start, tmp_path: Path) -> None:
    pane = terminal("consensus", QUESTION, "balanced", "--simulate", width=100, height=30,
                    speed=SLOW)  # fmt: skip
    pane.wait_for("streaming generate row", is_streaming("generate"))
    for width, height in ((60, 20), (100, 30), (40, 15)):
        pane.resize(width, height)
        time.sleep(0.8)  # a few of the live view's redraws at this size
    code, lines = pane.wait_exit()

    assert code == 0, shown(lines)
    assert len(headers(lines)) == 1, shown(lines)
    answer = the_run(tmp_path / "hive-home")["answer"]
    assert locate(lines[headers(lines)[0] :], answer) is not None, shown(lines)
    assert summary(lines) is not None, shown(lines)


# --- 2. Ctrl-C mid-run ----------------------------------------------------------------------


def test_ctrl_c_mid_run_leaves_one_table_and_one_hint(terminal: Start, tmp_path: Path) -> None:
    pane = terminal("consensus", QUESTION, "balanced", "--simulate", width=100, height=30,
                    speed=SLOW)  # fmt: skip
    pane.wait_for("streaming generate row", is_streaming("generate"))
    time.sleep(1.0)  # into the stream: the generate stage takes about 2.5 s at this pace
    pane.send_keys("C-c")
    code, lines = pane.wait_exit()

    assert code == 130, shown(lines)
    assert len(headers(lines)) == 1, shown(lines)
    hints = [line for line in lines if "spent" in line and RUN_ID_HINT.search(line)]
    assert len(hints) == 1, shown(lines)
    assert "Traceback" not in shown(lines)
    match = RUN_ID_HINT.search(hints[0])
    assert match is not None
    run = history(tmp_path / "hive-home", "show", match.group().split()[-1])
    assert run["status"] == "interrupted"


# --- 3. stdout piped, stderr a terminal -----------------------------------------------------


def test_stdout_to_a_file_gets_the_answer_and_the_terminal_the_view(
    terminal: Start, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    pane = terminal("consensus", QUESTION, "--simulate", width=100, height=30, speed=FAST,
                    stdout=out)  # fmt: skip
    code, lines = pane.wait_exit()

    assert code == 0, shown(lines)
    assert has_header(lines), shown(lines)
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text, repr(text)
    assert not has_header(text.splitlines()), text
    assert summary(text.splitlines()) is None, text
    assert text.strip() == the_run(tmp_path / "hive-home")["answer"].strip()


# --- 4. a narrow terminal -------------------------------------------------------------------


def test_narrow_terminal_no_line_overflows_and_rows_keep_their_state(
    terminal: Start, tmp_path: Path
) -> None:
    pane = terminal("consensus", QUESTION, "balanced", "--simulate", width=40, height=15,
                    speed=0.4)  # fmt: skip
    code, lines = pane.wait_exit()

    assert code == 0, shown(lines)
    # Joined (-J), a line hive wrote wider than the pane comes back whole: the terminal
    # wrapped it. Unjoined, every line is at most the pane's width by construction. A plain
    # ``hive: …`` message (the notice before the view starts) is a line of text like any
    # command's, which the terminal wraps: the view and its record are what must fit.
    for snapshot in [*pane.snapshots, pane.capture(join=False)]:
        drawn = [line for line in snapshot.splitlines() if not line.startswith("hive: ")]
        wide = [line for line in drawn if len(line.rstrip()) > 40]
        assert not wide, "\n".join(wide)
    assert has_header(lines), shown(lines)
    rows = call_rows(lines)
    calls = the_run(tmp_path / "hive-home")["calls"]
    assert len(rows) >= len(calls), shown(lines)
    for row in rows:
        assert STATE_SYMBOL.match(row.split()[0]), row


# --- 5. the answer without a panel ----------------------------------------------------------


def test_answer_lines_have_no_border(terminal: Start, tmp_path: Path) -> None:
    pane = terminal("consensus", QUESTION, "balanced", "--simulate", width=100, height=30,
                    speed=FAST)  # fmt: skip
    code, lines = pane.wait_exit()

    assert code == 0, shown(lines)
    answer = the_run(tmp_path / "hive-home")["answer"]
    found = locate(lines, answer)
    assert found is not None, shown(lines)
    first, last = found
    # The answer's lines, and the line above and below where a panel's edges would be.
    around = lines[max(first - 1, 0) : last + 2]
    bordered = [line for line in around if any(char in line for char in BORDERS)]
    assert not bordered, "\n".join(around)
