"""The committed shell completion scripts match what the Typer app generates, and work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES

ROOT = Path(__file__).resolve().parents[1]
COMPLETIONS = ROOT / "completions"
# How each script registers its completion function for the program `hive`.
REGISTERS = {
    "bash": "complete -o default -F _hive_completion hive",
    "zsh": "compdef _hive_completion hive",
    "fish": "complete --command hive ",
}


def test_completion_scripts_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(COMPLETIONS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("shell", sorted(REGISTERS))
def test_completion_script_calls_back_into_hive(shell: str) -> None:
    script = (COMPLETIONS / f"hive.{shell}").read_text(encoding="utf-8")
    assert "_HIVE_COMPLETE" in script
    assert REGISTERS[shell] in script


def test_zsh_script_starts_with_compdef() -> None:
    first_line = (COMPLETIONS / "hive.zsh").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "#compdef hive"  # compinit reads only the first line


def _complete_bash(words: str, cword: int) -> list[str]:
    """What hive answers when the bash script calls it back for ``words``."""
    env = dict(os.environ)
    env.update({"_HIVE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    proc = subprocess.run(
        [sys.executable, "-c", "from hive.cli.app import app; app(prog_name='hive')"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_profile_names_complete_dynamically() -> None:
    assert _complete_bash("hive consensus q ", 3) == list(BUILTIN_PROFILES)
    assert _complete_bash("hive consensus q qu", 3) == ["quality"]


def test_commands_complete() -> None:
    assert {"consensus", "profiles"} <= set(_complete_bash("hive ", 1))
