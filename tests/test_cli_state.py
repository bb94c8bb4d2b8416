"""End-to-end tests of hive's local state: ``hive keys``, ``hive config`` and ``hive profiles``,
and how what they store reaches ``hive consensus`` and shell completion.

Every test runs the real commands (Typer's ``CliRunner`` in-process, or a real process where a
terminal, an editor or the console script matters) against a fresh ``HIVE_HOME`` (see
conftest.py) and, where the network is involved, the loopback OpenRouter on 127.0.0.1. The keys
used here are all obviously fake.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hive.cli.consensus import complete_profile
from hive.consensus.profiles import BUILTIN_PROFILES, STAGES
from hive.store.settings import ENVIRONMENT
from tests.conftest import FAKE_KEY, FIXTURES, fixture_path
from tests.helpers import answered_at_a_terminal, complete_bash, hive, ok, run_hive
from tests.loopback import Fault, LoopbackOpenRouter, RecordedRequest

# More obviously fake keys, so tests can tell which one reached the server.
ENV_KEY = "sk-or-v1-fake1111envkey1111fake1111fake1111fake1111eeee"
FLAG_KEY = "sk-or-v1-fake2222flagkey2222fake2222fake2222fake2222ffff"
OTHER_KEY = "sk-or-v1-fake3333filekey3333fake3333fake3333fake3333wxyz"
REJECTED_KEY = "sk-or-v1-fake4444rejected4444fake4444fake4444fake44440000"
# A key of another shape (some OpenRouter-compatible proxies use such tokens).
UNSHAPED_TOKEN = "fake-proxy-token-not-a-real-one-7788"
ALL_KEYS = (FAKE_KEY, ENV_KEY, FLAG_KEY, OTHER_KEY, REJECTED_KEY, UNSHAPED_TOKEN)
# A model in the 2026-08-19 catalog snapshot that no built-in profile uses.
SNAPSHOT_MODEL = "meta-llama/llama-3.3-70b-instruct"
SETTINGS = [
    "default_profile",
    "base_url",
    "request_timeout",
    "referer",
    "title",
    "output",
    "color",
    "simulation_speed",
    "max_cost_per_run",
    "daily_budget",
    "monthly_budget",
    "retry_attempts",
    "retry_base_delay",
    "retry_max_wait",
    "connect_timeout",
    "first_token_timeout",
    "max_concurrent_requests",
    "requests_per_minute",
    "free_requests_per_minute",
    "max_file_kb",
    "data_collection",
    "zdr",
]
DEFAULTS: dict[str, Any] = {
    "default_profile": "balanced",
    "base_url": "https://openrouter.ai/api/v1",
    "request_timeout": 120.0,
    "referer": "https://github.com/hive-consensus/hive",
    "title": "hive",
    "output": "auto",
    "color": "auto",
    "simulation_speed": 1.0,
    "max_cost_per_run": None,
    "daily_budget": None,
    "monthly_budget": None,
    "retry_attempts": 3,
    "retry_base_delay": 1.0,
    "retry_max_wait": 60.0,
    "connect_timeout": 10.0,
    "first_token_timeout": 180.0,
    "max_concurrent_requests": 8,
    "requests_per_minute": 0,
    "free_requests_per_minute": 20,
    "max_file_kb": 512,
    "data_collection": None,
    "zdr": False,
}


# --- helpers -----------------------------------------------------------------------------------


def home() -> Path:
    return Path(os.environ["HIVE_HOME"])


def config_dir() -> Path:
    return home() / "config"


def keys_file() -> Path:
    return config_dir() / "keys.toml"


def config_file() -> Path:
    return config_dir() / "config.toml"


def profiles_file() -> Path:
    return config_dir() / "profiles.toml"


def masked(key: str) -> str:
    return f"sk-or-v1-…{key[-4:]}"


def one_error(result: Any, code: int) -> str:
    """The command failed with ``code`` and said so in exactly one line on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hive: error: "), lines
    assert "Traceback" not in result.stderr
    return str(lines[0])


def one_error_after_source(result: Any, code: int) -> str:
    """``keys test`` names the key's source on stderr first, then fails in one line."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("testing the key from "), lines
    assert lines[1].startswith("hive: error: ")
    assert "Traceback" not in result.stderr
    return str(lines[1])


def no_raw_key(*texts: str) -> None:
    for text in texts:
        for key in ALL_KEYS:
            assert key not in text


def header(request: RecordedRequest, name: str) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), None)


def bearer(request: RecordedRequest) -> str | None:
    value = header(request, "Authorization")
    return value.removeprefix("Bearer ") if value else None


def show_json(name: str) -> dict[str, Any]:
    data = json.loads(ok(hive("profiles", "show", name, "--json")).stdout)
    assert isinstance(data, dict)
    return data


def stored_key_in_file() -> Any:
    return tomllib.loads(keys_file().read_text("utf-8"))


def error_body(*secrets: str, status: int = 400) -> bytes:
    message = "request echoed its credentials: " + " and ".join(secrets)
    return json.dumps({"error": {"code": status, "message": message}}).encode()


@pytest.fixture
def server() -> Iterator[LoopbackOpenRouter]:
    """A loopback OpenRouter that accepts any key (so tests can see which one arrives)."""
    with LoopbackOpenRouter() as srv:
        yield srv


@pytest.fixture
def at_server(
    monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter
) -> LoopbackOpenRouter:
    """hive pointed at the loopback server (which requires FAKE_KEY), with no key in the env."""
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)
    return openrouter


# --- hive keys set -------------------------------------------------------------------------------


def test_keys_set_reads_stdin_stores_privately_and_prints_masked() -> None:
    result = ok(hive("keys", "set", input=FAKE_KEY + "\n"))

    assert result.stdout == f"stored {masked(FAKE_KEY)} in {keys_file()}\n"
    assert masked(FAKE_KEY) == "sk-or-v1-…abcd"
    assert result.stderr == ""
    assert stored_key_in_file() == {"openrouter": {"api_key": FAKE_KEY}}
    if sys.platform != "win32":
        assert stat.S_IMODE(keys_file().stat().st_mode) == 0o600
        assert stat.S_IMODE(config_dir().stat().st_mode) == 0o700
    no_raw_key(result.stdout, result.stderr)


def test_keys_set_replaces_the_stored_key_and_keeps_the_mode() -> None:
    ok(hive("keys", "set", input=FAKE_KEY))
    result = ok(hive("keys", "set", "openrouter", input=f"  {OTHER_KEY}  \r\n"))

    assert masked(OTHER_KEY) in result.stdout
    assert stored_key_in_file() == {"openrouter": {"api_key": OTHER_KEY}}
    if sys.platform != "win32":
        assert stat.S_IMODE(keys_file().stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "\n",
        "hello",
        "sk-or-v1-short",
        "sk-ant-api03-fake0000fake0000fake0000",
        f"{FAKE_KEY} extra words",
        f"export OPENROUTER_API_KEY={FAKE_KEY}",
    ],
)
def test_keys_set_refuses_a_badly_shaped_key(typed: str) -> None:
    line = one_error(hive("keys", "set", input=typed), 2)

    assert "nothing stored" in line
    assert not keys_file().exists()
    no_raw_key(line)


def test_a_bad_key_does_not_replace_the_stored_one() -> None:
    ok(hive("keys", "set", input=FAKE_KEY))
    before = keys_file().read_bytes()

    one_error(hive("keys", "set", input="not-a-key"), 2)

    assert keys_file().read_bytes() == before


def test_keys_set_unknown_provider_is_usage_error() -> None:
    line = one_error(hive("keys", "set", "anthropic", input=FAKE_KEY), 2)

    assert "unknown provider 'anthropic'" in line
    assert not keys_file().exists()


def test_keys_set_notes_that_the_environment_takes_precedence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)

    result = ok(hive("keys", "set", input=FAKE_KEY))

    assert "OPENROUTER_API_KEY is set in the environment and takes precedence" in result.stderr
    assert stored_key_in_file()["openrouter"]["api_key"] == FAKE_KEY
    no_raw_key(result.stdout, result.stderr)


def test_keys_set_verify_prints_what_the_server_says(at_server: LoopbackOpenRouter) -> None:
    result = ok(hive("keys", "set", "--verify", input=FAKE_KEY + "\n"))

    # Verified first, stored only then.
    assert result.stdout.splitlines() == [
        "the key works",
        "  label:      sk-or-v1-tes...bcd",
        "  usage:      $1.25",
        "  limit:      none",
        "  free tier:  no",
        f"stored {masked(FAKE_KEY)} in {keys_file()}",
    ]
    [request] = at_server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/key")
    assert bearer(request) == FAKE_KEY
    no_raw_key(result.stdout, result.stderr)


def _documented_body() -> tuple[bytes, list[str]]:
    raw = fixture_path("key_documented.json").read_bytes()
    data = json.loads(raw)["data"]
    # The values the documented example holds, as hive must print them.
    assert (data["usage"], data["limit"], data["limit_remaining"]) == (25.5, 100, 74.5)
    return raw, [
        "the key works",
        "  label:      sk-or-v1-au7...890",
        "  usage:      $25.5",
        "  limit:      $100",
        "  remaining:  $74.5",
        "  free tier:  no",
        "  expires:    2027-12-31T23:59:59Z",
    ]


def _captured_body() -> tuple[bytes, list[str]]:
    data = json.loads(fixture_path("key_data_capture_2025-03.json").read_bytes())
    assert (data["usage"], data["limit"], data["is_free_tier"]) == (0.65017511, None, False)
    return json.dumps({"data": data}).encode(), [
        "the key works",
        "  label:      sk-or-v1-0fa...240",
        "  usage:      $0.65017511",
        "  limit:      none",
        "  free tier:  no",
    ]


@pytest.mark.parametrize("body", [_documented_body, _captured_body], ids=["documented", "2025"])
def test_verify_and_test_print_real_key_bodies(at_server: LoopbackOpenRouter, body: Any) -> None:
    at_server.key_body, expected = body()

    verify = ok(hive("keys", "set", "--verify", input=FAKE_KEY))
    test = ok(hive("keys", "test"))

    assert verify.stdout.splitlines()[:-1] == expected
    assert test.stdout.splitlines() == expected
    assert test.stderr == f"testing the key from file ({keys_file()})\n"


def test_free_tier_key_with_a_limit(at_server: LoopbackOpenRouter) -> None:
    at_server.key_body = json.dumps(
        {
            "data": {
                "label": "ci",
                "usage": 0,
                "limit": 5,
                "limit_remaining": 5,
                "is_free_tier": True,
            }
        }
    ).encode()

    result = ok(hive("keys", "set", "--verify", input=FAKE_KEY))

    lines = result.stdout.splitlines()
    assert "  label:      ci" in lines
    assert "  usage:      $0" in lines
    assert "  limit:      $5" in lines
    assert "  remaining:  $5" in lines
    assert "  free tier:  yes" in lines


def test_keys_set_verify_with_a_rejected_key_exits_3(at_server: LoopbackOpenRouter) -> None:
    result = hive("keys", "set", "--verify", input=REJECTED_KEY)

    line = one_error(result, 3)
    assert "rejected" in line
    assert "the key works" not in result.stdout
    # --verify checks the key first (documented): a rejected key is not stored.
    assert result.stdout == ""
    assert not keys_file().exists()
    assert bearer(at_server.requests[-1]) == REJECTED_KEY
    no_raw_key(result.stdout, result.stderr)


@pytest.mark.slow
def test_keys_set_from_a_real_pipe() -> None:
    proc = run_hive("keys", "set", input=FAKE_KEY + "\n")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"stored {masked(FAKE_KEY)} in {keys_file()}\n"
    assert stored_key_in_file() == {"openrouter": {"api_key": FAKE_KEY}}
    no_raw_key(proc.stdout, proc.stderr)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_keys_set_prompts_with_hidden_input_at_a_terminal() -> None:
    code, output = answered_at_a_terminal(
        "keys", "set", prompt=b"(input hidden): ", reply=FAKE_KEY + "\n"
    )

    assert code == 0, output
    assert output.startswith("OpenRouter API key (input hidden): ")
    assert FAKE_KEY not in output  # not echoed as typed, not printed after
    assert f"stored {masked(FAKE_KEY)} in {keys_file()}" in output
    assert stored_key_in_file() == {"openrouter": {"api_key": FAKE_KEY}}


# --- hive keys show / remove ---------------------------------------------------------------------


def test_keys_show_without_a_key_says_simulation_mode() -> None:
    result = ok(hive("keys", "show"))
    assert "simulation mode" in result.stdout
    assert "hive keys set" in result.stdout
    assert json.loads(ok(hive("keys", "show", "--json")).stdout) == []


def test_keys_show_a_stored_key() -> None:
    ok(hive("keys", "set", input=FAKE_KEY))

    result = ok(hive("keys", "show"))
    as_json = json.loads(ok(hive("keys", "show", "--json")).stdout)

    assert result.stdout == (f"openrouter  {masked(FAKE_KEY)}  file ({keys_file()})  (in use)\n")
    assert as_json == [
        {
            "provider": "openrouter",
            "key": masked(FAKE_KEY),
            "source": f"file ({keys_file()})",
            "in_use": True,
        }
    ]
    no_raw_key(result.stdout, result.stderr, json.dumps(as_json))


@pytest.mark.parametrize("variable", ["OPENROUTER_API_KEY", "OPEN_ROUTER_API_KEY"])
def test_keys_show_environment_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    ok(hive("keys", "set", input=FAKE_KEY))
    monkeypatch.setenv(variable, ENV_KEY)

    result = ok(hive("keys", "show"))
    rows = json.loads(ok(hive("keys", "show", "--json")).stdout)

    assert result.stdout.splitlines() == [
        f"openrouter  {masked(ENV_KEY)}  environment ({variable})  (in use)",
        f"openrouter  {masked(FAKE_KEY)}  file ({keys_file()})  (overridden)",
    ]
    assert [(r["key"], r["source"], r["in_use"]) for r in rows] == [
        (masked(ENV_KEY), f"environment ({variable})", True),
        (masked(FAKE_KEY), f"file ({keys_file()})", False),
    ]
    no_raw_key(result.stdout, json.dumps(rows))


def test_keys_show_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_ROUTER_API_KEY", ENV_KEY)

    rows = json.loads(ok(hive("keys", "show", "--json")).stdout)

    assert rows == [
        {
            "provider": "openrouter",
            "key": masked(ENV_KEY),
            "source": "environment (OPEN_ROUTER_API_KEY)",
            "in_use": True,
        }
    ]


def test_openrouter_api_key_beats_its_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    monkeypatch.setenv("OPEN_ROUTER_API_KEY", OTHER_KEY)

    rows = json.loads(ok(hive("keys", "show", "--json")).stdout)

    in_use = [r for r in rows if r["in_use"]]
    assert in_use == [
        {
            "provider": "openrouter",
            "key": masked(ENV_KEY),
            "source": "environment (OPENROUTER_API_KEY)",
            "in_use": True,
        }
    ]


def test_keys_remove() -> None:
    ok(hive("keys", "set", input=FAKE_KEY))

    removed = ok(hive("keys", "remove"))
    again = ok(hive("keys", "remove", "openrouter"))

    assert removed.stdout == "removed the stored openrouter key\n"
    assert again.stdout == "no stored openrouter key\n"
    assert "openrouter" not in stored_key_in_file()
    if sys.platform != "win32":
        assert stat.S_IMODE(keys_file().stat().st_mode) == 0o600
    assert "simulation mode" in ok(hive("keys", "show")).stdout
    assert "unknown provider" in one_error(hive("keys", "remove", "nope"), 2)


def test_keys_remove_leaves_the_environment_key_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)

    assert ok(hive("keys", "remove")).stdout == "no stored openrouter key\n"
    rows = json.loads(ok(hive("keys", "show", "--json")).stdout)
    assert [r["source"] for r in rows] == ["environment (OPENROUTER_API_KEY)"]


BROKEN_KEYS_FILES = {
    "string-not-table": f'openrouter = "{FAKE_KEY}"\n',
    "wrong-field": f'[openrouter]\nkey = "{FAKE_KEY}"\n',
    "unquoted": f"[openrouter]\napi_key = {FAKE_KEY}\n",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_KEYS_FILES))
def test_a_broken_keys_file_is_reported_kept_and_never_printed(kind: str) -> None:
    config_dir().mkdir(parents=True)
    keys_file().write_text(BROKEN_KEYS_FILES[kind], "utf-8")
    original = keys_file().read_bytes()

    for command, stdin in (
        (["keys", "show"], None),
        (["keys", "show", "--json"], None),
        (["--debug", "keys", "show"], None),
        (["keys", "set"], OTHER_KEY),
        (["keys", "remove"], None),
        (["keys", "test"], None),
        (["consensus", "What is Rust?", "speed"], None),
    ):
        result = hive(*command, input=stdin)
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert str(keys_file()) in result.stderr.splitlines()[-1], command
        no_raw_key(result.stdout, result.stderr)
        assert keys_file().read_bytes() == original, command


# --- hive keys test ------------------------------------------------------------------------------


def test_keys_test_uses_flag_then_environment_then_file(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
    ok(hive("keys", "set", input=OTHER_KEY))

    from_file = ok(hive("keys", "test"))
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    from_env = ok(hive("keys", "test"))
    from_flag = ok(hive("keys", "test", "--api-key", FLAG_KEY))
    monkeypatch.delenv("OPENROUTER_API_KEY")
    monkeypatch.setenv("OPEN_ROUTER_API_KEY", ENV_KEY)
    from_alias = ok(hive("keys", "test"))

    assert [bearer(r) for r in server.requests] == [OTHER_KEY, ENV_KEY, FLAG_KEY, ENV_KEY]
    assert all(r.path == "/api/v1/key" for r in server.requests)
    assert from_file.stderr == f"testing the key from file ({keys_file()})\n"
    assert from_env.stderr == "testing the key from environment (OPENROUTER_API_KEY)\n"
    assert from_flag.stderr == "testing the key from --api-key flag\n"
    assert from_alias.stderr == "testing the key from environment (OPEN_ROUTER_API_KEY)\n"
    for result in (from_file, from_env, from_flag, from_alias):
        assert result.stdout.startswith("the key works\n")
        no_raw_key(result.stdout, result.stderr)


def test_keys_test_without_any_key_exits_3(server: LoopbackOpenRouter) -> None:
    line = one_error(hive("keys", "test"), 3)

    assert "no OpenRouter key set" in line
    assert server.requests == []


def test_keys_test_with_a_rejected_key_exits_3(at_server: LoopbackOpenRouter) -> None:
    result = hive("keys", "test", "--api-key", REJECTED_KEY)

    assert "rejected" in one_error_after_source(result, 3)
    assert result.stdout == ""
    no_raw_key(result.stdout, result.stderr)


@pytest.mark.parametrize(("status", "code"), [(400, 1), (401, 3), (402, 3), (500, 1)])
def test_a_key_in_a_key_endpoint_failure_is_masked(
    monkeypatch: pytest.MonkeyPatch, at_server: LoopbackOpenRouter, status: int, code: int
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    at_server.fail("GET /key", Fault(status=status, body=error_body(FAKE_KEY, status=status)))

    result = hive("keys", "test")

    line = one_error_after_source(result, code)
    assert masked(FAKE_KEY) in line
    assert f"(HTTP {status})" in line
    no_raw_key(result.stdout, result.stderr)


def test_a_non_openrouter_shaped_key_in_an_error_is_masked_too(
    server: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
    server.fail("GET /key", Fault(status=400, body=error_body(UNSHAPED_TOKEN)))

    result = hive("keys", "test", "--api-key", UNSHAPED_TOKEN)

    line = one_error_after_source(result, 1)
    assert UNSHAPED_TOKEN not in result.stdout + result.stderr
    assert "…7788" in line


def test_an_unexpected_key_reply_echoing_an_environment_key_is_masked(
    server: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", UNSHAPED_TOKEN)
    server.key_body = f"<html>signed in as {UNSHAPED_TOKEN}</html>".encode()

    result = hive("keys", "test")

    line = one_error_after_source(result, 1)
    assert "unexpected reply" in line and "…7788" in line
    assert UNSHAPED_TOKEN not in result.stdout + result.stderr


def test_an_unexpected_key_reply_echoing_a_flag_key_is_masked(
    server: LoopbackOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
    server.key_body = f"<html>signed in as {UNSHAPED_TOKEN}</html>".encode()

    result = hive("keys", "test", "--api-key", UNSHAPED_TOKEN)

    line = one_error_after_source(result, 1)
    assert "unexpected reply" in line
    assert UNSHAPED_TOKEN not in result.stdout + result.stderr


# --- the key never shows up anywhere -----------------------------------------------------------


@pytest.mark.slow
def test_no_command_ever_prints_a_raw_key(
    monkeypatch: pytest.MonkeyPatch, keyed_env: LoopbackOpenRouter, tmp_path: Path
) -> None:
    """Every keys/config/profiles command and consensus, with a key in the environment (FAKE_KEY)
    and another in the file (OTHER_KEY): neither ever appears unmasked."""
    outputs: list[str] = []

    def run(*args: str, input: str | None = None, code: int | None = 0) -> Any:
        result = hive(*args, input=input)
        outputs.extend([result.stdout, result.stderr])
        if code is not None:
            assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result

    run("keys", "set", input=OTHER_KEY)
    run("keys", "set", "--verify", input=OTHER_KEY, code=3)  # the server wants FAKE_KEY
    run("keys", "set", input=OTHER_KEY)
    run("keys", "set", OTHER_KEY, input=OTHER_KEY, code=2)  # the key typed as the provider
    shown = run("keys", "show")
    assert masked(FAKE_KEY) in shown.stdout and masked(OTHER_KEY) in shown.stdout
    run("keys", "show", "--json")
    run("keys", "test")
    run("keys", "test", "--api-key", FAKE_KEY)
    run("keys", "test", "--api-key", OTHER_KEY, code=3)
    for args in (
        ["config", "path"],
        ["config", "path", "--json"],
        ["config", "show"],
        ["config", "show", "--json"],
        ["config", "show", "-v"],
        ["config", "get", "base_url"],
        ["config", "set", "title", "masking"],
        ["config", "get", "title"],
        ["config", "unset", "title"],
        ["profiles", "list"],
        ["profiles", "list", "--json"],
        ["profiles", "show", "balanced"],
        ["profiles", "show", "balanced", "--json"],
        ["profiles", "create", "team", "--from", "speed"],
        ["profiles", "edit", "team", "--curate", SNAPSHOT_MODEL],
        ["profiles", "default", "team"],
        ["profiles", "show", "team"],
        ["profiles", "export", "team"],
        ["profiles", "export", "team", "-o", str(tmp_path / "team.toml")],
    ):
        run(*args)
    run("profiles", "import", str(tmp_path / "team.toml"), code=2)  # exists, no --force
    run("profiles", "import", str(tmp_path / "team.toml"), "--force")
    run("profiles", "import", "-", "--force", input=(tmp_path / "team.toml").read_text())
    run("consensus", "What is Rust?", "speed")
    run("consensus", "What is Rust?", "speed", "--json")
    run("consensus", "What is Rust?", "speed", "--detailed")
    run("consensus", "What is Rust?", "--api-key", FAKE_KEY, "--quiet")
    run("consensus", "What is Rust?", "team", "--simulate")
    run("--debug", "consensus", "What is Rust?", "nope", code=2)
    body = error_body(FAKE_KEY, OTHER_KEY)
    keyed_env.fail("*", Fault(status=400, body=body))
    run("consensus", "What is Rust?", "speed", code=1)
    keyed_env.fail("*", Fault(status=400, body=body))
    run("consensus", "What is Rust?", "speed", "--json", code=1)
    keyed_env.fail("*", Fault(status=400, body=body))
    run("consensus", "What is Rust?", "speed", "--detailed", code=1)
    keyed_env.fail("*", Fault(status=400, body=body))
    debug = run("--debug", "consensus", "What is Rust?", "speed", code=1)
    assert "Traceback" in debug.stderr and masked(FAKE_KEY) in debug.stderr
    keyed_env.fail("GET /key", Fault(status=500, body=body))
    run("--debug", "keys", "test", code=1)
    run("profiles", "default", "balanced")
    run("profiles", "delete", "team")
    run("keys", "remove")

    # The editor runs as a real process, so `config edit` does too.
    editor = tmp_path / "noop_editor.py"
    editor.write_text("import sys\n")
    proc = run_hive("config", "edit", env={"VISUAL": "", "EDITOR": editor_command(editor)})
    assert proc.returncode == 0, proc.stderr
    outputs.extend([proc.stdout, proc.stderr])

    no_raw_key(*outputs)
    assert any(masked(FAKE_KEY) in text for text in outputs)


def test_a_key_in_a_server_error_body_is_masked_in_every_view(
    keyed_env: LoopbackOpenRouter,
) -> None:
    body = error_body(FAKE_KEY)

    keyed_env.fail("*", Fault(status=400, body=body))
    plain = hive("consensus", "What is Rust?", "speed")
    keyed_env.fail("*", Fault(status=400, body=body))
    detailed = hive("consensus", "What is Rust?", "speed", "--detailed")
    # One of balanced's three drafts fails: the run goes on and reports it in JSON.
    keyed_env.fail("openai/gpt-5.4-mini", Fault(status=400, body=body))
    as_json = hive("consensus", "What is Rust?", "balanced", "--json")

    for result in (plain, detailed):
        assert result.exit_code == 1, result.stderr
        # Progress lines come first; the failure is one final line.
        *_, line = result.stderr.splitlines()
        assert [x for x in result.stderr.splitlines() if x.startswith("hive: error:")] == [line]
        assert masked(FAKE_KEY) in line and "(HTTP 400)" in line
    assert as_json.exit_code == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert any(masked(FAKE_KEY) in w for w in data["warnings"]), data["warnings"]
    failed = [s for s in data["stages"] if s["error"]]
    assert [s["model"] for s in failed] == ["openai/gpt-5.4-mini"]
    assert masked(FAKE_KEY) in failed[0]["error"]
    no_raw_key(*(t for r in (plain, detailed, as_json) for t in (r.stdout, r.stderr)))


@pytest.mark.slow
@pytest.mark.parametrize("command", [["keys", "test"], ["keys", "show"]])
def test_a_key_given_as_a_stray_argument_is_masked_in_the_usage_error(
    command: list[str],
) -> None:
    proc = run_hive(*command, FAKE_KEY)

    assert proc.returncode == 2
    assert FAKE_KEY not in proc.stdout + proc.stderr


# --- hive config path / show / get / set / unset -------------------------------------------------


def test_config_path_lives_under_hive_home() -> None:
    root = home()
    expected = {
        "config_dir": str(root / "config"),
        "data_dir": str(root / "data"),
        "cache_dir": str(root / "cache"),
        "config_file": str(root / "config" / "config.toml"),
        "profiles_file": str(root / "config" / "profiles.toml"),
        "keys_file": str(root / "config" / "keys.toml"),
    }

    plain = ok(hive("config", "path"))
    as_json = json.loads(ok(hive("config", "path", "--json")).stdout)

    assert as_json == expected
    assert [line.split(None, 1) for line in plain.stdout.splitlines()] == [
        [k, v] for k, v in expected.items()
    ]


def test_config_show_lists_every_setting_with_value_and_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HIVE_RETRY_BASE_DELAY")  # the suite's fast backoff: show true defaults
    plain = ok(hive("config", "show"))
    as_json = json.loads(ok(hive("config", "show", "--json")).stdout)

    assert list(as_json) == SETTINGS
    for name, row in as_json.items():
        assert set(row) == {"value", "source", "description"}
        assert row["value"] == DEFAULTS[name]
        assert row["source"] == "default"
        assert isinstance(row["description"], str) and row["description"]
    # One row per setting; a long value may wrap onto indented continuation lines.
    rows = {
        line.split()[0]: line.split()
        for line in plain.stdout.splitlines()[1:]
        if line and not line[0].isspace()
    }
    assert list(rows) == SETTINGS
    for name in SETTINGS:
        value = DEFAULTS[name]
        # As the file spells it: a boolean is true/false.
        shown = "(not set)" if value is None else str(value)
        if isinstance(value, bool):
            shown = shown.lower()
        line = " ".join(rows[name])
        assert line.startswith(f"{name} {shown} default")
    verbose = ok(hive("config", "show", "-v")).stdout
    for name in SETTINGS:
        variable = f" [{ENVIRONMENT[name]}]" if name in ENVIRONMENT else ""
        assert f"{name}{variable}: {as_json[name]['description']}" in verbose


def test_config_set_then_get() -> None:
    result = ok(hive("config", "set", "request_timeout", "60"))

    assert result.stdout == "request_timeout = 60.0\n"
    assert ok(hive("config", "get", "request_timeout")).stdout == "60.0\n"
    assert tomllib.loads(config_file().read_text("utf-8")) == {"request_timeout": 60.0}
    row = json.loads(ok(hive("config", "show", "--json")).stdout)["request_timeout"]
    assert (row["value"], row["source"]) == (60.0, "file")
    line = next(x for x in ok(hive("config", "show")).stdout.splitlines() if "request_timeout" in x)
    assert line.split()[1:3] == ["60.0", "file"]


@pytest.mark.parametrize(
    ("name", "raw", "stored"),
    [
        ("request_timeout", "2.5", 2.5),
        ("simulation_speed", "0", 0.0),
        ("simulation_speed", "100", 100.0),
        ("output", "json", "json"),
        ("color", "never", "never"),
        ("default_profile", "speed", "speed"),
        ("title", "my team tool", "my team tool"),
        ("title", '"quoted"', '"quoted"'),  # the text as typed
        ("referer", "https://example.invalid/hive", "https://example.invalid/hive"),
        ("base_url", "http://127.0.0.1:9/api/v1/", "http://127.0.0.1:9/api/v1"),
    ],
)
def test_config_set_stores_typed_values(name: str, raw: str, stored: Any) -> None:
    result = ok(hive("config", "set", name, raw))

    assert result.stdout == f"{name} = {json.dumps(stored)}\n"
    data = tomllib.loads(config_file().read_text("utf-8"))
    assert data == {name: stored} and type(data[name]) is type(stored)
    assert ok(hive("config", "get", name)).stdout == f"{stored}\n"


@pytest.mark.parametrize("raw", ["2024", "true"])
def test_config_set_a_text_setting_to_a_number_like_word(raw: str) -> None:
    """The text as typed: a title may look like a number or a boolean."""
    result = ok(hive("config", "set", "title", raw))

    assert result.stdout == f"title = {json.dumps(raw)}\n"
    assert ok(hive("config", "get", "title")).stdout == f"{raw}\n"


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("request_timeout", "soon", "request_timeout"),
        ("request_timeout", "0", "request_timeout"),
        ("request_timeout", "-5", "request_timeout"),
        ("request_timeout", "99999", "request_timeout"),
        ("simulation_speed", "101", "simulation_speed"),
        ("color", "purple", "color"),
        ("output", "fancy", "output"),
        ("base_url", "ftp://example.invalid", "base_url"),
        ("no_such_setting", "1", "unknown setting 'no_such_setting'"),
    ],
)
def test_config_set_refuses_invalid_values_and_leaves_the_file(
    name: str, raw: str, says: str
) -> None:
    config_dir().mkdir(parents=True)
    original = b'# my hand-written settings\ntitle = "mine"\n'
    config_file().write_bytes(original)

    line = one_error(hive("config", "set", "--", name, raw), 2)

    assert says in line
    assert config_file().read_bytes() == original


def test_config_get_unknown_setting() -> None:
    line = one_error(hive("config", "get", "colour"), 2)
    assert "unknown setting 'colour'" in line
    assert "color" in line


def test_config_unset() -> None:
    ok(hive("config", "set", "request_timeout", "60"))
    ok(hive("config", "set", "title", "keep-me"))

    assert ok(hive("config", "unset", "request_timeout")).stdout == (
        "request_timeout reset to its default\n"
    )
    assert ok(hive("config", "unset", "request_timeout")).stdout == "request_timeout was not set\n"
    assert ok(hive("config", "get", "request_timeout")).stdout == "120.0\n"
    assert tomllib.loads(config_file().read_text("utf-8")) == {"title": "keep-me"}
    one_error(hive("config", "unset", "nope"), 2)


def test_environment_overrides_the_file_in_show_and_get(monkeypatch: pytest.MonkeyPatch) -> None:
    ok(hive("config", "set", "request_timeout", "60"))
    monkeypatch.setenv("HIVE_TIMEOUT", "30")

    row = json.loads(ok(hive("config", "show", "--json")).stdout)["request_timeout"]
    line = next(x for x in ok(hive("config", "show")).stdout.splitlines() if "request_timeout" in x)

    assert (row["value"], row["source"]) == (30.0, "env HIVE_TIMEOUT")
    assert line.split() == ["request_timeout", "30.0", "env", "HIVE_TIMEOUT"]
    assert ok(hive("config", "get", "request_timeout")).stdout == "30.0\n"
    # The file still holds its own value.
    assert tomllib.loads(config_file().read_text("utf-8")) == {"request_timeout": 60.0}


def test_an_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_TIMEOUT", "soon")

    line = one_error(hive("config", "get", "request_timeout"), 2)

    assert "HIVE_TIMEOUT" in line


CORRUPT_CONFIGS = {
    "toml-syntax": ('request_timeout = 60\ntitle = "unterminated\n', "line 2"),
    "unknown-setting": ("request_timeout = 60\n\ncolour = 'never'\n", "line 3"),
    "wrong-type": ('title = "ok"\nrequest_timeout = "soon"\n', "line 2"),
}
CONFIG_COMMANDS = [
    ["config", "show"],
    ["config", "show", "--json"],
    ["config", "get", "title"],
    ["config", "set", "title", "fixed"],
    ["config", "set", "request_timeout", "30"],
    ["config", "unset", "title"],
    ["consensus", "What is Rust?"],
    ["consensus", "What is Rust?", "speed", "--json"],
]


@pytest.mark.parametrize("kind", sorted(CORRUPT_CONFIGS))
def test_a_corrupted_config_stops_every_command_in_one_line(kind: str) -> None:
    content, where = CORRUPT_CONFIGS[kind]
    config_dir().mkdir(parents=True)
    config_file().write_text(content, "utf-8")
    original = config_file().read_bytes()

    for command in CONFIG_COMMANDS:
        result = hive(*command)
        line = one_error(result, 2)
        assert str(config_file()) in line, command
        assert where in line, (command, line)
        if command[0] == "consensus" and "--json" in command:  # the failure as JSON too
            failure = json.loads(result.stdout)
            assert failure["exit_code"] == 2 and failure["run_id"] is None, command
            assert line == f"hive: error: {failure['error']}"
        else:
            assert result.stdout == "", command
        assert config_file().read_bytes() == original, command
    # Finding the file must still work, so it can be fixed.
    assert str(config_file()) in ok(hive("config", "path")).stdout


@pytest.mark.slow
def test_a_corrupted_config_in_a_real_process_has_no_traceback() -> None:
    config_dir().mkdir(parents=True)
    config_file().write_text("title = \n", "utf-8")

    proc = run_hive("consensus", "What is Rust?")

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert str(config_file()) in proc.stderr and "line 1" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- hive config edit ----------------------------------------------------------------------------


def editor_command(script: Path) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def make_editor(tmp_path: Path, new_text: str) -> Path:
    """An "editor" that saves what it was given beside itself and writes ``new_text``."""
    script = tmp_path / "ed.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import pathlib, sys
            target = pathlib.Path(sys.argv[1])
            here = pathlib.Path(__file__).parent
            (here / "seen.toml").write_text(target.read_text("utf-8"), "utf-8")
            target.write_text({new_text!r}, "utf-8")
            """
        ),
        "utf-8",
    )
    return script


@pytest.mark.slow
def test_config_edit_saves_a_valid_edit(tmp_path: Path) -> None:
    script = make_editor(tmp_path, "# edited\nrequest_timeout = 42\noutput = 'plain'\n")

    proc = run_hive("config", "edit", env={"VISUAL": "", "EDITOR": editor_command(script)})

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"saved {config_file()}\n"
    assert ok(hive("config", "get", "request_timeout")).stdout == "42.0\n"
    assert ok(hive("config", "get", "output")).stdout == "plain\n"
    # With no config.toml yet, the editor was given every setting, commented out.
    seen = (tmp_path / "seen.toml").read_text("utf-8")
    for name in SETTINGS:
        assert f"# {name} = " in seen
    assert not list(config_dir().glob("config.edit-*"))


@pytest.mark.slow
def test_config_edit_prefers_visual(tmp_path: Path) -> None:
    script = make_editor(tmp_path, "title = 'from-visual'\n")

    proc = run_hive(
        "config",
        "edit",
        env={"VISUAL": editor_command(script), "EDITOR": "definitely-not-an-editor"},
    )

    assert proc.returncode == 0, proc.stderr
    assert ok(hive("config", "get", "title")).stdout == "from-visual\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "bad_edit", ['request_timeout = "soon"\n', "title = \n", "colour = 'never'\n"]
)
def test_config_edit_keeps_an_invalid_edit_in_a_copy(tmp_path: Path, bad_edit: str) -> None:
    ok(hive("config", "set", "title", "before"))
    original = config_file().read_bytes()
    script = make_editor(tmp_path, bad_edit)

    proc = run_hive("config", "edit", env={"VISUAL": "", "EDITOR": editor_command(script)})

    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("hive: error: ")
    assert f"{config_file()} is unchanged and your edit is kept in " in line
    copy = Path(line.rsplit(" is kept in ", 1)[1])
    assert copy.read_text("utf-8") == bad_edit
    assert config_file().read_bytes() == original
    assert (tmp_path / "seen.toml").read_bytes() == original
    assert ok(hive("config", "get", "title")).stdout == "before\n"


@pytest.mark.slow
def test_config_edit_without_changes(tmp_path: Path) -> None:
    ok(hive("config", "set", "title", "same"))
    original = config_file().read_bytes()
    script = tmp_path / "noop.py"
    script.write_text("import sys\n", "utf-8")

    proc = run_hive("config", "edit", env={"VISUAL": "", "EDITOR": editor_command(script)})

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "no changes\n"
    assert config_file().read_bytes() == original


@pytest.mark.slow
def test_config_edit_repairs_a_corrupted_config(tmp_path: Path) -> None:
    config_dir().mkdir(parents=True)
    config_file().write_text('title = "unterminated\n', "utf-8")
    script = make_editor(tmp_path, 'title = "repaired"\n')

    proc = run_hive("config", "edit", env={"VISUAL": "", "EDITOR": editor_command(script)})

    assert proc.returncode == 0, proc.stderr
    assert ok(hive("config", "get", "title")).stdout == "repaired\n"


# --- settings take effect in hive consensus ------------------------------------------------------


def test_base_url_from_the_config_file_is_used(
    monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    ok(hive("config", "set", "base_url", openrouter.base_url))

    result = ok(hive("consensus", "What is Rust?", "speed"))

    assert len(openrouter.chat_requests()) == 4
    assert "simulation" not in result.stderr


def test_the_environment_base_url_beats_the_file(
    monkeypatch: pytest.MonkeyPatch, openrouter: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    ok(hive("config", "set", "base_url", "http://127.0.0.1:9/nowhere"))
    monkeypatch.setenv("OPENROUTER_BASE_URL", openrouter.base_url)

    ok(hive("consensus", "What is Rust?", "speed", "--quiet"))

    assert len(openrouter.chat_requests()) == 4


def test_title_and_referer_settings_reach_the_server(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("config", "set", "title", "hive test suite"))
    ok(hive("config", "set", "referer", "https://example.invalid/hive-tests"))

    ok(hive("consensus", "What is Rust?", "speed", "--quiet"))

    requests = keyed_env.chat_requests()
    assert len(requests) == 4
    for request in requests:
        assert header(request, "X-Title") == "hive test suite"
        assert header(request, "HTTP-Referer") == "https://example.invalid/hive-tests"


def test_default_attribution_headers(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("consensus", "What is Rust?", "speed", "--quiet"))

    request = keyed_env.chat_requests()[0]
    assert header(request, "X-Title") == DEFAULTS["title"]
    assert header(request, "HTTP-Referer") == DEFAULTS["referer"]


def test_output_json_setting_and_plain_override(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("config", "set", "output", "json"))

    as_json = ok(hive("consensus", "What is Rust?", "speed"))
    plain = ok(hive("consensus", "What is Rust?", "speed", "--plain"))

    data = json.loads(as_json.stdout)
    assert data["profile"] == "speed" and data["simulated"] is False
    assert as_json.stderr == ""
    assert plain.stdout == data["answer"] + "\n"
    assert "done" in plain.stderr


def test_output_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, keyed_env: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("HIVE_OUTPUT", "json")

    data = json.loads(ok(hive("consensus", "What is Rust?", "speed")).stdout)

    assert data["profile"] == "speed"


def test_default_profile_setting_and_hive_profile_env(
    monkeypatch: pytest.MonkeyPatch, keyed_env: LoopbackOpenRouter
) -> None:
    ok(hive("config", "set", "default_profile", "speed"))

    from_file = json.loads(ok(hive("consensus", "What is Rust?", "--json")).stdout)
    n_speed = len(keyed_env.chat_requests())
    monkeypatch.setenv("HIVE_PROFILE", "cost")
    from_env = json.loads(ok(hive("consensus", "What is Rust?", "--json")).stdout)
    explicit = json.loads(ok(hive("consensus", "What is Rust?", "free", "--json")).stdout)

    assert (from_file["profile"], from_env["profile"], explicit["profile"]) == (
        "speed",
        "cost",
        "free",
    )
    assert n_speed == 4
    cost_requests = keyed_env.chat_requests()[n_speed : n_speed + 5]
    assert [r.body["model"] for r in cost_requests[2:]] == [
        BUILTIN_PROFILES["cost"].stage(s).models[0] for s in STAGES[1:]
    ]


def test_consensus_key_precedence(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackOpenRouter
) -> None:
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.base_url)
    ok(hive("keys", "set", input=OTHER_KEY))

    ok(hive("consensus", "q", "speed", "--quiet"))
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    ok(hive("consensus", "q", "speed", "--quiet"))
    ok(hive("consensus", "q", "speed", "--quiet", "--api-key", FLAG_KEY))

    keys_seen = [bearer(r) for r in server.chat_requests()]
    assert keys_seen == [OTHER_KEY] * 4 + [ENV_KEY] * 4 + [FLAG_KEY] * 4


# --- profiles: the scenario --------------------------------------------------------------


def test_team_profile_scenario_end_to_end(at_server: LoopbackOpenRouter) -> None:
    models_json = FIXTURES / "models.json"
    if models_json.exists():  # the model really is in the catalog snapshot
        ids = {m["id"] for m in json.loads(models_json.read_text("utf-8"))["data"]}
        assert SNAPSHOT_MODEL in ids

    ok(hive("keys", "set", input=FAKE_KEY + "\n"))
    created = ok(
        hive("profiles", "create", "team", "--from", "quality", "--curate", SNAPSHOT_MODEL)
    )
    default = ok(hive("profiles", "default", "team"))
    result = ok(hive("consensus", "What is Rust?", "--fixed"))  # every stage, one round

    assert created.stdout == "created profile 'team'\n"
    assert default.stdout == "default profile: team\n"
    quality = BUILTIN_PROFILES["quality"]
    requests = at_server.chat_requests()
    n_gen = len(quality.generate.models)
    assert len(requests) == n_gen + 3
    assert sorted(r.body["model"] for r in requests[:n_gen]) == sorted(quality.generate.models)
    assert [r.body["model"] for r in requests[n_gen:]] == [
        quality.refine.models[0],
        quality.validate_.models[0],
        SNAPSHOT_MODEL,
    ]
    assert requests[-1].body["temperature"] == quality.curate.temperature
    assert all(bearer(r) == FAKE_KEY for r in requests)
    assert f"curate {SNAPSHOT_MODEL} done" in result.stderr
    assert "simulation" not in result.stderr
    no_raw_key(result.stdout, result.stderr)

    # It is listed after the built-ins and marked as the default.
    listing = ok(hive("profiles", "list")).stdout.splitlines()
    names = [
        line.split()[0]
        for line in listing[1:]
        if line and not line[0].isspace() and not line.startswith("*")
    ]
    assert names == [*BUILTIN_PROFILES, "team"]
    team_line = next(line for line in listing if line.startswith("team"))
    assert team_line.split()[:2] == ["team", "*"]
    assert not any(line.split()[:2] == ["balanced", "*"] for line in listing if line.strip())
    assert listing[-1] == "* default profile; user profiles: team"


def test_profiles_list_json() -> None:
    ok(hive("profiles", "create", "team", "--from", "quality", "--curate", SNAPSHOT_MODEL))
    ok(hive("profiles", "default", "team"))

    rows = json.loads(ok(hive("profiles", "list", "--json")).stdout)

    assert [r["name"] for r in rows] == [*BUILTIN_PROFILES, "team"]
    for row in rows:
        assert set(row) == {
            "name",
            "default",
            "source",
            "description",
            "system",
            "stages",
            "adaptive",
        }
        assert list(row["stages"]) == list(STAGES)
        for spec in row["stages"].values():
            assert set(spec) == {"models", "fallbacks", "temperature", "max_tokens"}
    by_name = {r["name"]: r for r in rows}
    assert [n for n, r in by_name.items() if r["default"]] == ["team"]
    assert by_name["team"]["source"] == "user"
    assert by_name["balanced"]["source"] == "built-in"
    assert by_name["team"]["description"] == ""  # a new profile does not copy its base's
    assert by_name["team"]["stages"]["curate"]["models"] == [SNAPSHOT_MODEL]
    assert by_name["team"]["stages"]["generate"] == by_name["quality"]["stages"]["generate"]


# balanced's own validator, named again: it keeps the base's fallbacks.
BALANCED_VALIDATOR = BUILTIN_PROFILES["balanced"].validate_.models[0]
EXPLICIT = [
    "--generate",
    "openai/gpt-4o-mini",
    "--generate",
    "mistralai/mistral-small-3.2-24b-instruct",
    "--refine",
    "qwen/qwen3.7-plus",
    "--validate",
    BALANCED_VALIDATOR,
    "--curate",
    "anthropic/claude-haiku-4.5",
    "--temperature",
    "refine=0.2",
    "--max-tokens",
    "curate=999",
    "--fallback",
    "refine=openai/gpt-4.1-mini",
    "--description",
    "Our team's profile",
]


def test_create_with_options_stores_exactly_that() -> None:
    ok(hive("profiles", "create", "team", *EXPLICIT))

    data = show_json("team")

    balanced = BUILTIN_PROFILES["balanced"]  # the default base
    assert data == {
        "name": "team",
        "default": False,
        "source": "user",
        "description": "Our team's profile",
        "system": "",
        "stages": {
            "generate": {
                "models": ["openai/gpt-4o-mini", "mistralai/mistral-small-3.2-24b-instruct"],
                "fallbacks": [],  # the base's went with the replaced models
                "temperature": balanced.generate.temperature,
                "max_tokens": balanced.generate.max_tokens,
            },
            "refine": {
                "models": ["qwen/qwen3.7-plus"],
                "fallbacks": ["openai/gpt-4.1-mini"],
                "temperature": 0.2,
                "max_tokens": balanced.refine.max_tokens,
            },
            "validate": {
                "models": [BALANCED_VALIDATOR],
                "fallbacks": list(balanced.validate_.fallbacks),
                "temperature": balanced.validate_.temperature,
                "max_tokens": balanced.validate_.max_tokens,
            },
            "curate": {
                "models": ["anthropic/claude-haiku-4.5"],
                "fallbacks": list(balanced.curate.fallbacks),
                "temperature": balanced.curate.temperature,
                "max_tokens": 999,
            },
        },
        "adaptive": balanced.adaptive.model_dump(mode="json"),  # inherited with the rest
    }
    stored = tomllib.loads(profiles_file().read_text("utf-8"))
    assert list(stored) == ["team"]
    # --fallback replaced refine's; generate's went with its replaced models; validate and
    # curate were given the base's own models, so they kept the base's fallbacks.
    assert stored["team"]["refine"]["fallbacks"] == ["openai/gpt-4.1-mini"]
    assert stored["team"]["generate"]["fallbacks"] == []
    for stage in ("validate", "curate"):
        inherited = list(balanced.stage(stage).fallbacks)
        assert inherited and stored["team"][stage]["fallbacks"] == inherited


def test_profiles_show_text() -> None:
    ok(hive("profiles", "create", "team", *EXPLICIT))
    ok(hive("profiles", "default", "team"))

    lines = ok(hive("profiles", "show", "team")).stdout.splitlines()

    assert lines[:2] == ["team (default) · user", "Our team's profile"]
    text = "\n".join(lines)
    assert "generate: temperature 0.7, max 2048 tokens\n  openai/gpt-4o-mini\n" in text
    assert (
        "refine: temperature 0.2, max 4096 tokens\n  qwen/qwen3.7-plus\n"
        "  fallbacks: openai/gpt-4.1-mini\n"
    ) in text
    assert "curate: temperature 0.3, max 999 tokens\n  anthropic/claude-haiku-4.5" in text
    builtin = ok(hive("profiles", "show", "speed")).stdout.splitlines()
    assert builtin[0] == "speed · built-in"
    assert "unknown profile 'nope'" in one_error(hive("profiles", "show", "nope"), 2)


def test_created_profile_options_reach_the_server(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "team", *EXPLICIT))

    ok(hive("consensus", "What is Rust?", "team", "--quiet"))

    requests = keyed_env.chat_requests()
    assert len(requests) == 5
    assert sorted(r.body["model"] for r in requests[:2]) == sorted(
        ["openai/gpt-4o-mini", "mistralai/mistral-small-3.2-24b-instruct"]
    )
    balanced = BUILTIN_PROFILES["balanced"]  # the default base
    for generator in requests[:2]:  # new generators: the base's fallbacks were dropped
        assert "models" not in generator.body
    refine, validate, curate = requests[2:]
    assert refine.body["model"] == "qwen/qwen3.7-plus"
    assert refine.body["models"] == ["openai/gpt-4.1-mini"]
    assert refine.body["temperature"] == 0.2
    assert validate.body["models"] == list(balanced.validate_.fallbacks)
    assert curate.body["models"] == list(balanced.curate.fallbacks)
    assert curate.body["max_tokens"] == 999
    assert (validate.body["model"], curate.body["model"]) == (
        BALANCED_VALIDATOR,
        "anthropic/claude-haiku-4.5",
    )


def test_profiles_edit_changes_only_what_it_is_told() -> None:
    ok(hive("profiles", "create", "team", "--from", "quality"))
    before = show_json("team")

    result = ok(hive("profiles", "edit", "team", "--curate", SNAPSHOT_MODEL))

    after = show_json("team")
    assert result.stdout == "updated profile 'team'\n"
    assert after["stages"]["curate"]["models"] == [SNAPSHOT_MODEL]
    assert after["stages"]["curate"]["fallbacks"] == []  # chosen for the replaced model
    after["stages"]["curate"]["models"] = before["stages"]["curate"]["models"]
    after["stages"]["curate"]["fallbacks"] = before["stages"]["curate"]["fallbacks"]
    assert after == before
    edited = ok(hive("profiles", "edit", "team", "--temperature", "generate=1.1")).stdout
    assert edited == "updated profile 'team'\n"
    assert show_json("team")["stages"]["curate"]["models"] == [SNAPSHOT_MODEL]
    assert show_json("team")["stages"]["generate"]["temperature"] == 1.1
    assert "unknown profile 'ghost'" in one_error(hive("profiles", "edit", "ghost"), 2)


def test_create_an_existing_name_needs_force() -> None:
    ok(hive("profiles", "create", "team", "--from", "speed"))
    before = profiles_file().read_bytes()

    line = one_error(hive("profiles", "create", "team", "--from", "cost"), 2)

    assert "already exists" in line and "--force" in line
    assert profiles_file().read_bytes() == before
    ok(hive("profiles", "create", "team", "--from", "cost", "--force"))
    assert show_json("team")["stages"]["refine"]["models"] == list(
        BUILTIN_PROFILES["cost"].refine.models
    )


def test_overriding_a_built_in_needs_force_and_deleting_restores_it() -> None:
    line = one_error(hive("profiles", "create", "speed", "--curate", SNAPSHOT_MODEL), 2)
    assert "built-in" in line and "--force" in line
    edit_line = one_error(hive("profiles", "edit", "speed", "--curate", SNAPSHOT_MODEL), 2)
    assert "built-in" in edit_line
    assert not profiles_file().exists()

    ok(hive("profiles", "edit", "speed", "--curate", SNAPSHOT_MODEL, "--force"))
    overridden = show_json("speed")
    assert overridden["source"] == "user (overrides built-in)"
    assert overridden["stages"]["curate"]["models"] == [SNAPSHOT_MODEL]
    names = [r["name"] for r in json.loads(ok(hive("profiles", "list", "--json")).stdout)]
    assert names == list(BUILTIN_PROFILES)  # an override keeps the built-in's place

    ok(hive("profiles", "delete", "speed"))
    restored = show_json("speed")
    assert restored["source"] == "built-in"
    assert restored["stages"]["curate"]["models"] == list(BUILTIN_PROFILES["speed"].curate.models)


@pytest.mark.parametrize("name", list(BUILTIN_PROFILES))
def test_deleting_a_built_in_is_refused(name: str) -> None:
    line = one_error(hive("profiles", "delete", name), 2)
    assert "built-in" in line and "cannot be deleted" in line


def test_deleting_an_unknown_profile() -> None:
    assert "no user profile named 'ghost'" in one_error(hive("profiles", "delete", "ghost"), 2)


def test_deleting_the_default_user_profile_resets_the_default() -> None:
    ok(hive("profiles", "create", "team", "--from", "speed"))
    ok(hive("profiles", "create", "other", "--from", "cost"))
    ok(hive("profiles", "default", "team"))
    ok(hive("config", "set", "title", "stays"))

    result = ok(hive("profiles", "delete", "team"))

    assert result.stdout.splitlines() == [
        "deleted profile 'team'",
        "it was the default profile; the default is now 'balanced'",
    ]
    assert ok(hive("config", "get", "default_profile")).stdout == "balanced\n"
    assert tomllib.loads(config_file().read_text("utf-8")) == {"title": "stays"}
    assert list(tomllib.loads(profiles_file().read_text("utf-8"))) == ["other"]
    rows = json.loads(ok(hive("profiles", "list", "--json")).stdout)
    assert [r["name"] for r in rows if r["default"]] == ["balanced"]
    # Deleting a profile that is not the default leaves the default alone.
    ok(hive("profiles", "default", "speed"))
    assert ok(hive("profiles", "delete", "other")).stdout == "deleted profile 'other'\n"
    assert ok(hive("config", "get", "default_profile")).stdout == "speed\n"


def test_default_must_name_an_existing_profile() -> None:
    line = one_error(hive("profiles", "default", "ghost"), 2)
    assert "unknown profile 'ghost'" in line
    assert not config_file().exists()


@pytest.mark.parametrize("name", ["2024", "true"])
def test_any_valid_profile_name_can_be_the_default(name: str) -> None:
    ok(hive("profiles", "create", name, "--from", "speed"))

    ok(hive("profiles", "default", name))

    assert ok(hive("config", "get", "default_profile")).stdout == f"{name}\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["Team"], "not a valid profile name"),
        (["-team"], ""),  # looks like an option: Typer refuses it
        (["team space"], "not a valid profile name"),
        (["a" * 41], "not a valid profile name"),
        (["team.v2"], "not a valid profile name"),
        (["team", "--curate", "not-a-model"], "not a model id"),
        (["team", "--generate", "openai/"], "not a model id"),
        (["team", "--fallback", "refine=no model"], "not a model id"),
        (["team", "--temperature", "refine0.2"], "STAGE=VALUE"),
        (["team", "--temperature", "polish=0.2"], "STAGE=VALUE"),
        (["team", "--temperature", "refine=hot"], "'hot' is not a valid value for refine"),
        (["team", "--temperature", "refine=2.5"], "refine.temperature"),
        (["team", "--max-tokens", "curate=lots"], "'lots' is not a valid value for curate"),
        (["team", "--max-tokens", "curate=0"], "curate.max_tokens"),
        (["team", "--fallback", "curate"], "STAGE=VALUE"),
        (
            ["team", *[f"--fallback=refine=openai/gpt-4o-mini-{n}" for n in range(4)]],
            "refine.fallbacks",
        ),
        (["team", "--from", "ghost"], "unknown profile 'ghost'"),
    ],
)
def test_invalid_profile_input_is_one_clear_line(args: list[str], says: str) -> None:
    result = hive("profiles", "create", *args)

    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if says:
        line = one_error(result, 2)
        assert says in line
    assert not profiles_file().exists()


# --- export / import ----------------------------------------------------------------------------


def test_export_then_import_on_a_fresh_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ok(hive("profiles", "create", "team", *EXPLICIT))
    original = show_json("team")
    exported = ok(hive("profiles", "export", "team"))
    to_file = ok(hive("profiles", "export", "team", "-o", str(tmp_path / "team.toml")))

    assert tomllib.loads(exported.stdout).keys() == {"team"}
    assert (tmp_path / "team.toml").read_text("utf-8") == exported.stdout
    assert to_file.stdout == ""
    assert to_file.stderr == f"exported 'team' to {tmp_path / 'team.toml'}\n"

    monkeypatch.setenv("HIVE_HOME", str(tmp_path / "from-file"))
    assert "unknown profile" in one_error(hive("profiles", "show", "team"), 2)
    imported = ok(hive("profiles", "import", str(tmp_path / "team.toml")))
    assert imported.stdout == "imported profile 'team'\n"
    assert show_json("team") == original

    monkeypatch.setenv("HIVE_HOME", str(tmp_path / "from-stdin"))
    ok(hive("profiles", "import", "-", input=exported.stdout))
    assert show_json("team") == original


def test_export_of_a_built_in_imports_under_a_new_name(tmp_path: Path) -> None:
    text = ok(hive("profiles", "export", "speed")).stdout
    renamed = text.replace("[speed", "[fast")
    (tmp_path / "fast.toml").write_text(renamed, "utf-8")

    ok(hive("profiles", "import", str(tmp_path / "fast.toml")))

    fast, speed = show_json("fast"), show_json("speed")
    assert fast["stages"] == speed["stages"]
    assert fast["source"] == "user"
    assert "built-in" in one_error(hive("profiles", "import", "-", input=text), 2)


def test_import_of_an_existing_name_needs_force(tmp_path: Path) -> None:
    ok(hive("profiles", "create", "team", "--from", "speed"))
    exported = ok(hive("profiles", "export", "team")).stdout
    ok(hive("profiles", "edit", "team", "--curate", SNAPSHOT_MODEL))
    before = profiles_file().read_bytes()
    (tmp_path / "team.toml").write_text(exported, "utf-8")

    line = one_error(hive("profiles", "import", str(tmp_path / "team.toml")), 2)
    stdin_line = one_error(hive("profiles", "import", "-", input=exported), 2)

    assert "already exists" in line and "already exists" in stdin_line
    assert profiles_file().read_bytes() == before
    assert show_json("team")["stages"]["curate"]["models"] == [SNAPSHOT_MODEL]
    ok(hive("profiles", "import", str(tmp_path / "team.toml"), "--force"))
    assert show_json("team")["stages"] == show_json("speed")["stages"]


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    text = ok(hive("profiles", "export", "speed")).stdout
    good = text.replace("[speed", "[good")
    bad = text.replace("[speed", "[bad").replace(
        BUILTIN_PROFILES["speed"].curate.models[0], "not a model"
    )
    (tmp_path / "both.toml").write_text(good + "\n" + bad, "utf-8")
    assert set(tomllib.loads(good + "\n" + bad)) == {"good", "bad"}

    line = one_error(hive("profiles", "import", str(tmp_path / "both.toml")), 2)

    assert str(tmp_path / "both.toml") in line and "'bad'" in line and "not a model id" in line
    assert not profiles_file().exists()
    names = [r["name"] for r in json.loads(ok(hive("profiles", "list", "--json")).stdout)]
    assert names == list(BUILTIN_PROFILES)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[team\n", "invalid TOML"),
        ("team = 1\n", "must be a table"),
        ("", "no profiles"),
        ("[Team]\ndescription = 'x'\n", "'Team'"),
    ],
)
def test_import_of_a_bad_file(tmp_path: Path, content: str, says: str) -> None:
    (tmp_path / "in.toml").write_text(content, "utf-8")

    line = one_error(hive("profiles", "import", str(tmp_path / "in.toml")), 2)
    stdin_line = one_error(hive("profiles", "import", "-", input=content), 2)

    assert says in line and says in stdin_line
    assert not profiles_file().exists()


def test_import_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert f"{missing}: no such file" in one_error(hive("profiles", "import", str(missing)), 2)


def test_a_user_profile_runs_exactly_like_the_built_in_it_copies(
    keyed_env: LoopbackOpenRouter,
) -> None:
    ok(hive("profiles", "create", "myspeed", "--from", "speed"))

    builtin = json.loads(ok(hive("consensus", "What is Rust?", "speed", "--json")).stdout)
    n = len(keyed_env.chat_requests())
    user = json.loads(ok(hive("consensus", "What is Rust?", "myspeed", "--json")).stdout)

    def sent(requests: list[RecordedRequest]) -> list[dict[str, Any]]:
        return sorted((r.body for r in requests), key=json.dumps)

    assert sent(keyed_env.chat_requests()[n:]) == sent(keyed_env.chat_requests()[:n])
    assert user["profile"] == "myspeed"
    assert user["answer"] == builtin["answer"]
    assert user["total_cost"] == builtin["total_cost"]
    assert [(s["stage"], s["model"]) for s in user["stages"]] == [
        (s["stage"], s["model"]) for s in builtin["stages"]
    ]


@pytest.mark.slow
def test_a_user_profile_from_a_real_process(keyed_env: LoopbackOpenRouter) -> None:
    ok(hive("profiles", "create", "team", "--from", "speed", "--curate", SNAPSHOT_MODEL))

    proc = run_hive("consensus", "What is Rust?", "team", "--json")

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["profile"] == "team"
    assert data["stages"][-1]["model"] == SNAPSHOT_MODEL
    assert keyed_env.chat_requests()[-1].body["model"] == SNAPSHOT_MODEL


def test_a_corrupted_profiles_file_is_one_line() -> None:
    config_dir().mkdir(parents=True)
    profiles_file().write_text("[team\n", "utf-8")
    original = profiles_file().read_bytes()

    for command in (
        ["profiles", "list"],
        ["profiles", "show", "balanced"],
        ["profiles", "create", "other"],
        ["consensus", "What is Rust?", "speed"],
    ):
        line = one_error(hive(*command), 2)
        assert str(profiles_file()) in line and "line 1" in line, command
    assert profiles_file().read_bytes() == original


# --- shell completion ---------------------------------------------------------------------------


@pytest.mark.slow
def test_completion_offers_user_profiles() -> None:
    assert "team" not in complete_profile("t")
    ok(hive("profiles", "create", "team", "--from", "speed"))
    ok(hive("profiles", "create", "tiny", "--from", "cost"))
    ok(hive("profiles", "edit", "speed", "--force", "--curate", SNAPSHOT_MODEL))

    assert complete_profile("t") == ["team", "tiny"]
    assert complete_profile("") == [*BUILTIN_PROFILES, "team", "tiny"]  # no duplicate speed
    assert complete_bash("hive consensus q ", 3) == [*BUILTIN_PROFILES, "team", "tiny"]
    assert complete_bash("hive consensus q te", 3) == ["team"]


@pytest.mark.slow
def test_completion_survives_a_corrupted_profiles_file() -> None:
    config_dir().mkdir(parents=True)
    profiles_file().write_text("[team\nthis is not toml", "utf-8")

    assert complete_profile("") == list(BUILTIN_PROFILES)
    assert complete_profile("q") == ["quality"]
    assert complete_bash("hive consensus q ", 3) == list(BUILTIN_PROFILES)


@pytest.mark.slow
def test_completion_survives_an_invalid_profile() -> None:
    config_dir().mkdir(parents=True)
    profiles_file().write_text("[team]\ndescription = 'no stages'\n", "utf-8")

    assert complete_profile("") == list(BUILTIN_PROFILES)
    assert complete_bash("hive consensus q ", 3) == list(BUILTIN_PROFILES)
