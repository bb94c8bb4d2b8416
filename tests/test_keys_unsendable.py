"""A key that cannot go into an HTTP header — a line break, a control or non-ASCII character, a
space inside it — is refused before any request, in one masked line, exit 2, whichever way it
reached hive (``--api-key``, either environment variable, the keys file, ``hive keys set``).

Sent, such a key used to be rejected by httpx as a "network error", retried six times, and
its tail (whatever followed the line break) echoed on stderr and into history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from hive.redact import mask_key, redact
from tests.conftest import FAKE_KEY
from tests.helpers import hive, run_hive
from tests.loopback import LoopbackOpenRouter

HEAD = FAKE_KEY[:30]  # what comes before the stray character
TAIL = "TAILSECRET9876"  # what follows it: must never be shown
STRAYS = {
    "newline": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "space": " ",
    "bell": "\x07",
    "escape (bracketed paste)": "\x1b[200~",
    "non-ASCII": "é",
    "no-break space": "\u00a0",
    "zero-width space": "\u200b",
}
SOURCES = ["--api-key", "OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY", "keys.toml"]
COMMANDS = {
    "keys test": ["keys", "test"],
    "consensus": ["consensus", "What is Rust?", "speed", "--plain"],
    "models refresh": ["models", "refresh"],
}


def bad_key(stray: str) -> str:
    return f"{HEAD}{stray}{TAIL}"


def keys_file() -> Path:
    return Path(os.environ["HIVE_HOME"]) / "config" / "keys.toml"


def give_key(key: str, source: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Put ``key`` where ``source`` says; the extra arguments a command then needs."""
    if source == "--api-key":
        return ["--api-key", key]
    if source == "keys.toml":
        keys_file().parent.mkdir(parents=True, exist_ok=True)
        keys_file().write_text(tomli_w.dumps({"openrouter": {"api_key": key}}), "utf-8")
    else:
        monkeypatch.setenv(source, key)
    return []


def assert_refused(result: Any, source: str, *, nothing_sent: str = "nothing was sent") -> str:
    output = result.stdout + result.stderr
    assert result.exit_code == 2, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("hive: error: the key sk-or-v1-… from ")
    assert source in line and nothing_sent in line
    assert TAIL not in output and HEAD[9:] not in output
    assert "Traceback" not in output and "internal error" not in output
    return line


@pytest.mark.parametrize("stray", list(STRAYS.values()), ids=list(STRAYS))
@pytest.mark.parametrize("source", SOURCES)
def test_an_unsendable_key_is_refused_before_any_request(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch, source: str, stray: str
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY")  # keyed_env's good key: only the bad one is seen
    extra = give_key(bad_key(stray), source, monkeypatch)

    for name, argv in COMMANDS.items():
        if extra and name == "models refresh":
            continue  # `models refresh` has no --api-key option
        result = hive(*argv, *extra)
        line = assert_refused(result, source)
        assert "contains" in line, name
    assert keyed_env.requests == []
    assert not (Path(os.environ["HIVE_HOME"]) / "data" / "history.db").exists()


def test_the_refusal_says_what_is_wrong_and_where(
    keyed_env: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", bad_key("\n"))
    line = assert_refused(hive("keys", "test"), "OPENROUTER_API_KEY")
    assert f"contains a line break (character {len(HEAD) + 1} of {len(bad_key('')) + 1})" in line

    monkeypatch.delenv("OPENROUTER_API_KEY")
    give_key(bad_key("é"), "keys.toml", monkeypatch)
    line = assert_refused(hive("keys", "test"), str(keys_file()))
    assert "a non-ASCII character" in line and "hive keys set" in line
    assert keyed_env.requests == []


@pytest.mark.slow
def test_a_real_process_with_a_newline_in_the_environment_key(
    openrouter: LoopbackOpenRouter,
) -> None:
    env = {"OPENROUTER_API_KEY": bad_key("\n"), "OPENROUTER_BASE_URL": openrouter.base_url}
    proc = run_hive("consensus", "What is Rust?", "speed", env=env)

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "contains a line break" in proc.stderr
    assert TAIL not in proc.stderr + proc.stdout
    assert openrouter.requests == []


@pytest.mark.parametrize("stray", list(STRAYS.values()), ids=list(STRAYS))
def test_keys_set_refuses_a_key_with_a_stray_character(stray: str) -> None:
    result = hive("keys", "set", input=bad_key(stray) + "\n")

    assert_refused(result, "the input", nothing_sent="nothing stored")
    assert not keys_file().exists()


@pytest.mark.slow
def test_keys_set_from_a_pipe_refuses_a_key_broken_over_two_lines() -> None:
    """It used to read one line, so the head alone — a different, wrong key — was stored."""
    proc = run_hive("keys", "set", input=f"{FAKE_KEY[:40]}\n{FAKE_KEY[40:]}\n")

    assert proc.returncode == 2, proc.stderr
    assert "contains a line break" in proc.stderr and "nothing stored" in proc.stderr
    assert FAKE_KEY[40:] not in proc.stderr
    assert not keys_file().exists()


def test_keys_show_marks_an_unsendable_key_and_shows_none_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", bad_key("\n"))

    result = hive("keys", "show")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "openrouter  sk-or-v1-…  environment (OPENROUTER_API_KEY)  (in use)"
        f"  (unusable: contains a line break (character {len(HEAD) + 1} of {len(HEAD) + 15}))"
    ]
    assert TAIL not in result.stdout


# --- the mask and the redaction themselves ------------------------------------------------------


@pytest.mark.parametrize("stray", list(STRAYS.values()), ids=list(STRAYS))
def test_the_mask_of_a_broken_key_shows_no_tail(stray: str) -> None:
    key = bad_key(stray)
    assert mask_key(key) == "sk-or-v1-…"
    assert mask_key(f"abc{stray}{TAIL}") == "…"
    assert mask_key(FAKE_KEY) == f"sk-or-v1-…{FAKE_KEY[-4:]}"  # a good key: as before


@pytest.mark.parametrize("stray", list(STRAYS.values()), ids=list(STRAYS))
def test_redact_finds_a_broken_key_however_a_message_writes_it(stray: str) -> None:
    key = bad_key(stray)
    texts = [
        f"sent {key} and failed",
        f"Illegal header value {('Bearer ' + key).encode()!r}",  # how httpx reports it
        f"header {'Bearer ' + key!r}",
        f'{{"authorization": "Bearer {key.encode("unicode_escape").decode()}"}}',
        f"two lines: {key.splitlines()[-1]}",  # what follows a line break, on its own
    ]
    for text in texts:
        cleaned = redact(text, key)
        assert TAIL not in cleaned, (text, cleaned)
        assert HEAD[9:] not in cleaned, (text, cleaned)
