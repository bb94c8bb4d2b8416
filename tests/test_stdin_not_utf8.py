"""A question that is not UTF-8 text is bad input: exit 2 and one line saying which byte, never
``internal error: UnicodeEncodeError`` (seen when undecodable bytes were piped to
``hive consensus -`` and carried through as lone surrogates until the request was built).

Real processes, so the interpreter's own stdin decoding (locale, ``surrogateescape`` under a C
locale, ``strict`` otherwise) is what is tested. Simulation mode: no key, no network."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import run

pytestmark = pytest.mark.slow  # every test here runs python -m hive

BAD = b"\xff\xfe bad"


def hive(*args: str | bytes, stdin: bytes | None, **env: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m hive ARGS`` in a real process, bytes in and out: ``stdin`` its input (empty
    when None), ``env`` added to the test's environment."""
    options: dict[str, Any] = {} if stdin is None else {"input": stdin}
    argv = [sys.executable, "-m", "hive", *args]
    return run(argv, text=False, env={**os.environ, **env}, **options)


def assert_bad_input(proc: subprocess.CompletedProcess[bytes], where: str, detail: str) -> None:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert stderr.splitlines() == [
        f"hive: error: {where} is not UTF-8 text ({detail}): convert it first (e.g. iconv -t UTF-8)"
    ]
    assert proc.stdout == b""


# How Python decodes stdin: surrogateescape under a C locale, strict under UTF-8 mode / a
# UTF-8 PYTHONIOENCODING. Both must end the same way.
ENCODINGS = {
    "C locale": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
    "UTF-8 strict": {"PYTHONIOENCODING": "utf-8:strict"},
    "UTF-8 mode": {"PYTHONUTF8": "1"},
}


@pytest.mark.parametrize("env", list(ENCODINGS.values()), ids=list(ENCODINGS))
@pytest.mark.parametrize("args", [["consensus", "-"], ["consensus"]], ids=["dash", "piped"])
def test_undecodable_stdin_is_a_usage_error(args: list[str], env: dict[str, str]) -> None:
    proc = hive(*args, "--plain", stdin=BAD, **env)

    assert_bad_input(proc, "the question on stdin", "byte 0xff at position 0")


def test_an_undecodable_argument_is_a_usage_error() -> None:
    proc = hive("consensus", b"caf\xe9?", "--plain", stdin=None, LC_ALL="C.UTF-8")

    assert_bad_input(proc, "the question", "byte 0xe9 at position 3")


def test_utf8_stdin_still_works() -> None:
    proc = hive("consensus", "-", "speed", "--plain", "--quiet", stdin="Was ist ein Café?".encode())

    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert proc.stdout.strip()
