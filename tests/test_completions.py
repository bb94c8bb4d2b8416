"""The committed shell completion scripts match what the Typer app generates, and work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hive.consensus.profiles import BUILTIN_PROFILES
from tests.helpers import complete_bash, run

ROOT = Path(__file__).resolve().parents[1]
COMPLETIONS = ROOT / "completions"
# How each script registers its completion function for the program `hive`.
REGISTERS = {
    "bash": "complete -o default -F _hive_completion hive",
    "zsh": "compdef _hive_completion hive",
    "fish": "complete --command hive ",
}


@pytest.mark.slow
def test_completion_scripts_are_up_to_date() -> None:
    proc = run([sys.executable, str(COMPLETIONS / "generate.py"), "--check"], cwd=ROOT)
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
    """What hive answers when the bash script calls it back for ``words`` (the app run by this
    interpreter from the checkout: no installed console script needed)."""
    app = [sys.executable, "-c", "from hive.cli.app import app; app(prog_name='hive')"]
    return complete_bash(words, cword, app, cwd=ROOT)


@pytest.mark.slow
def test_profile_names_complete_dynamically() -> None:
    assert _complete_bash("hive consensus q ", 3) == list(BUILTIN_PROFILES)
    assert _complete_bash("hive consensus q qu", 3) == ["quality"]


@pytest.mark.slow
def test_commands_complete() -> None:
    assert {"consensus", "profiles"} <= set(_complete_bash("hive ", 1))
