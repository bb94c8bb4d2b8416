"""Tests of hive's local state: paths, atomic writes, locking, settings, keys, user profiles and
`config edit`. Everything goes through the real functions and real files under a tmp HIVE_HOME
(set by the autouse fixture in conftest); concurrency is checked with real processes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs
import pytest
import tomli_w

from hive.consensus.profiles import (
    BUILTIN_PROFILES,
    MAX_FALLBACKS,
    STAGES,
    Profile,
    StageSpec,
    check_model_id,
    check_profile_name,
)
from hive.errors import ConfigError, StorageError, UsageError
from hive.store import files
from hive.store.config_edit import edit_config, template
from hive.store.files import atomic_write, locked, read_toml, write_toml
from hive.store.keys import (
    KEY_FILE_MODE,
    check_shape,
    remove_key,
    resolve_key,
    store_key,
    stored_key,
)
from hive.store.paths import Paths, resolve_paths
from hive.store.settings import (
    ENVIRONMENT,
    Settings,
    load_settings,
    set_setting,
    setting_names,
    unset_setting,
    validate_file,
)
from hive.store.user_profiles import ProfileStore, derive, parse_profiles, profile_to_toml
from tests.conftest import FAKE_KEY, fixture_path
from tests.helpers import (
    SUBPROCESS_TIMEOUT,
    outcomes,
    reaped,
    start,
    start_hive,
    wait_until,
)

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")

# Built at runtime so no real-looking key literal ever sits in the repository.
SHAPED_KEY = "sk-or-v1-" + "ab" * 32
OTHER_KEY = "sk-or-v1-" + "cd" * 32

# One valid value per setting: (raw text as typed, typed value stored).
VALID_VALUES: dict[str, tuple[str, Any]] = {
    "default_profile": ("speed", "speed"),
    "base_url": ("https://example.test/api/v1", "https://example.test/api/v1"),
    "request_timeout": ("45", 45.0),
    "referer": ("https://example.test/app", "https://example.test/app"),
    "title": ("hive-tests", "hive-tests"),
    "output": ("json", "json"),
    "color": ("never", "never"),
    "simulation_speed": ("3", 3.0),
    "max_cost_per_run": ("0.25", Decimal("0.25")),
    "daily_budget": ("2", Decimal("2")),
    "monthly_budget": ("30.5", Decimal("30.5")),
    "retry_attempts": ("5", 5),
    "retry_base_delay": ("0.5", 0.5),
    "retry_max_wait": ("10", 10.0),
    "connect_timeout": ("5", 5.0),
    "first_token_timeout": ("90", 90.0),
    "max_concurrent_requests": ("4", 4),
    "requests_per_minute": ("60", 60),
    "free_requests_per_minute": ("10", 10),
    "max_file_kb": ("64", 64),
    "data_collection": ("deny", "deny"),
    "zdr": ("true", True),
}


@pytest.fixture(autouse=True)
def no_setting_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting override or editor from the developer's shell leaks into these tests."""
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)


@pytest.fixture
def paths() -> Paths:
    return resolve_paths()


# --- helpers -----------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted write or edit could leave behind."""
    if not folder.exists():
        return []
    return sorted(
        n for n in os.listdir(folder) if n.endswith(".tmp") or n.startswith("config.edit-")
    )


def start_python(code: str, go_file: Path) -> subprocess.Popen[str]:
    """A child interpreter that waits for ``go_file`` (so all children start together), then
    runs ``code``. It inherits the isolated environment, HIVE_HOME included."""
    prelude = textwrap.dedent(
        f"""
        import os, sys, time
        deadline = time.monotonic() + 30
        while not os.path.exists({str(go_file)!r}):
            if time.monotonic() > deadline:
                sys.exit("never told to go")
            time.sleep(0.005)
        """
    )
    return start([sys.executable, "-c", prelude + textwrap.dedent(code)])


def run_all(procs: list[subprocess.Popen[str]], go_file: Path) -> None:
    """Tell the children started by ``start_python`` to go; every one must succeed."""
    go_file.write_text("go")
    for out, err, code in outcomes(procs):
        assert code == 0, (out, err)


def user_profile(name: str, **changes: Any) -> Profile:
    return derive(BUILTIN_PROFILES["balanced"], name, **changes)


def editor_script(tmp_path: Path, body: str, name: str = "editor.py") -> str:
    """An $EDITOR value running ``body`` with the file to edit as ``path``."""
    script = tmp_path / name
    script.write_text(
        "import pathlib, sys\npath = pathlib.Path(sys.argv[1])\n" + textwrap.dedent(body),
        "utf-8",
    )
    if sys.platform == "win32":
        return subprocess.list2cmdline([sys.executable, str(script)])
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


# --- paths -------------------------------------------------------------------------------------


def test_hive_home_puts_every_folder_under_it(tmp_path: Path) -> None:
    paths = resolve_paths()
    home = tmp_path / "hive-home"
    assert paths.config_dir == home / "config"
    assert paths.data_dir == home / "data"
    assert paths.cache_dir == home / "cache"
    assert paths.config_file == home / "config" / "config.toml"
    assert paths.profiles_file == home / "config" / "profiles.toml"
    assert paths.keys_file == home / "config" / "keys.toml"


@POSIX_ONLY
def test_hive_home_expands_the_user_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv("HIVE_HOME", "~/portable")
    assert resolve_paths().config_dir == tmp_path / "me" / "portable" / "config"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_without_hive_home_the_folders_come_from_platformdirs(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("HIVE_HOME")
    else:
        monkeypatch.setenv("HIVE_HOME", value)
    paths = resolve_paths()
    assert paths.config_dir == Path(platformdirs.user_config_dir("hive", appauthor=False))
    assert paths.data_dir == Path(platformdirs.user_data_dir("hive", appauthor=False))
    assert paths.cache_dir == Path(platformdirs.user_cache_dir("hive", appauthor=False))
    assert paths.config_file == paths.config_dir / "config.toml"


# --- atomic writes -----------------------------------------------------------------------------


def test_atomic_write_then_overwrite_leaves_only_the_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "state.toml"
    atomic_write(target, b"first = 1\n")
    assert target.read_bytes() == b"first = 1\n"
    atomic_write(target, b"second = 2\n")
    assert target.read_bytes() == b"second = 2\n"
    assert os.listdir(target.parent) == ["state.toml"]


def test_write_toml_and_read_toml_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "data.toml"
    data = {"a": 1, "b": "two", "c": [1.5, 2.5], "table": {"x": True}}
    write_toml(target, data)
    assert read_toml(target) == data
    assert read_toml(tmp_path / "missing.toml") == {}
    assert os.listdir(tmp_path) == ["data.toml"]


@pytest.mark.parametrize("function", ["fsync", "replace"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_crash_mid_write_keeps_the_old_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, function: str, error: BaseException
) -> None:
    target = tmp_path / "state.toml"
    old = b"# hand written\nkeep = 'me'\n\x00binary-ish tail"
    target.write_bytes(old)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise error

    expected: type[BaseException] = (
        StorageError if isinstance(error, OSError) else KeyboardInterrupt
    )
    with monkeypatch.context() as patch, pytest.raises(expected) as caught:
        patch.setattr(files.os, function, crash)
        atomic_write(target, b"new = 'content'\n" * 1000)

    assert target.read_bytes() == old
    assert os.listdir(tmp_path) == ["state.toml"]
    if expected is StorageError:
        assert str(target) in str(caught.value)
        assert "No space left" in str(caught.value)


def test_a_failed_write_during_set_setting_changes_nothing_and_releases_the_lock(
    monkeypatch: pytest.MonkeyPatch, paths: Paths
) -> None:
    set_setting(paths, "title", "before")
    before = paths.config_file.read_bytes()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch, pytest.raises(StorageError):
        patch.setattr(files.os, "replace", crash)
        set_setting(paths, "output", "json")

    assert paths.config_file.read_bytes() == before
    assert leftovers(paths.config_dir) == []
    set_setting(paths, "output", "json")  # the lock was released
    assert read_toml(paths.config_file) == {"title": "before", "output": "json"}


@POSIX_ONLY
def test_keys_file_is_private_and_config_folder_is_0700(paths: Paths) -> None:
    store_key(paths, FAKE_KEY)
    assert stat.S_IMODE(paths.keys_file.stat().st_mode) == KEY_FILE_MODE == 0o600
    assert stat.S_IMODE(paths.config_dir.stat().st_mode) == 0o700
    remove_key(paths)  # a rewrite keeps the mode
    assert stat.S_IMODE(paths.keys_file.stat().st_mode) == 0o600


@POSIX_ONLY
def test_settings_file_gets_the_ordinary_mode(paths: Paths) -> None:
    set_setting(paths, "title", "x")
    assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o644


def test_set_and_unset_keep_the_file_s_comments_and_layout(paths: Paths) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    hand = (
        "# my hive settings\n"
        "\n"
        "# a title for the dashboard\n"
        'title = "mine"  # keep\n'
        "\n"
        "# request_timeout = 120\n"
    )
    paths.config_file.write_text(hand, encoding="utf-8")
    set_setting(paths, "request_timeout", "45")
    set_setting(paths, "title", "ours")
    set_setting(paths, "zdr", "true")
    assert paths.config_file.read_text("utf-8") == (
        "# my hive settings\n"
        "\n"
        "# a title for the dashboard\n"
        'title = "ours"\n'
        "\n"
        "# request_timeout = 120\n"
        "request_timeout = 45.0\n"
        "zdr = true\n"
    )
    assert unset_setting(paths, "title") is True
    text = paths.config_file.read_text("utf-8")
    assert "title" not in text.replace("# a title", "") and "# my hive settings" in text
    assert load_settings(paths).settings.request_timeout == 45.0


def test_a_value_over_several_lines_is_rewritten_plainly(paths: Paths) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('# note\ntitle = """a\nb"""\n', encoding="utf-8")
    set_setting(paths, "title", "one line")
    assert read_toml(paths.config_file) == {"title": "one line"}


@POSIX_ONLY
def test_a_lock_held_elsewhere_is_waited_for_then_named(paths: Paths) -> None:
    """Another process's lock (here: another open file description, which flock treats
    alike) is retried until the timeout, then one StorageError names the file; no hang."""
    import fcntl

    from hive.store.files import LOCK_POLL_S

    target = paths.config_file
    target.parent.mkdir(parents=True, exist_ok=True)
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with open(target.with_name("config.toml.lock"), "a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        held = locked(target, timeout=1.0, sleep=sleep, clock=lambda: now[0])
        with pytest.raises(StorageError) as caught, held:
            pytest.fail("the lock was taken while another held it")
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    assert str(caught.value).startswith(f"{target} is locked by another hive command (waited 1s")
    assert waits and set(waits) == {LOCK_POLL_S} and now[0] >= 1.0
    with locked(target, timeout=0, sleep=sleep, clock=lambda: now[0]):  # free again: at once
        pass


# --- locking across real processes -------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_set_setting_processes_lose_nothing(tmp_path: Path, paths: Paths) -> None:
    go = tmp_path / "go"
    procs = [
        start_python(
            f"""
            from hive.store.paths import resolve_paths
            from hive.store.settings import set_setting
            set_setting(resolve_paths(), {name!r}, {raw!r})
            """,
            go,
        )
        for name, (raw, _) in VALID_VALUES.items()
    ]
    assert len(procs) == len(setting_names()) == 22
    run_all(procs, go)

    loaded = load_settings(paths)
    for name, (_, typed) in VALID_VALUES.items():
        assert getattr(loaded.settings, name) == typed
        assert loaded.sources[name] == "file"
    assert leftovers(paths.config_dir) == []


@pytest.mark.slow
def test_concurrent_profile_saves_lose_nothing(tmp_path: Path, paths: Paths) -> None:
    go = tmp_path / "go"
    names = [f"team-{i}" for i in range(6)]
    procs = [
        start_python(
            f"""
            from hive.consensus.profiles import BUILTIN_PROFILES
            from hive.store.paths import resolve_paths
            from hive.store.user_profiles import ProfileStore, derive
            profile = derive(
                BUILTIN_PROFILES["speed"], {name!r}, description={name!r},
                max_tokens={{"generate": {1000 + i}}},
            )
            ProfileStore(resolve_paths()).save(profile)
            """,
            go,
        )
        for i, name in enumerate(names)
    ]
    run_all(procs, go)

    user = ProfileStore(paths).user()
    assert sorted(user) == names
    for i, name in enumerate(names):
        assert user[name].description == name
        assert user[name].generate.max_tokens == 1000 + i
    assert leftovers(paths.config_dir) == []


@pytest.mark.slow
def test_concurrent_cli_config_set_processes_lose_nothing(paths: Paths) -> None:
    chosen = ["output", "color", "title", "request_timeout", "simulation_speed"]
    procs = [start_hive("config", "set", name, VALID_VALUES[name][0]) for name in chosen]
    for name, (out, err, code) in zip(chosen, outcomes(procs), strict=True):
        assert code == 0, err
        assert out.strip() == f"{name} = {json.dumps(VALID_VALUES[name][1])}"

    loaded = load_settings(paths)
    for name in chosen:
        assert getattr(loaded.settings, name) == VALID_VALUES[name][1]
        assert loaded.sources[name] == "file"


@pytest.mark.slow
def test_a_held_lock_blocks_another_process_until_released(tmp_path: Path, paths: Paths) -> None:
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = start_python(
        f"""
        from pathlib import Path
        from hive.store.paths import resolve_paths
        from hive.store.settings import set_setting
        Path({str(ready)!r}).write_text("ready")
        set_setting(resolve_paths(), "output", "plain")
        """,
        go,
    )
    with reaped(proc):
        with locked(paths.config_file):
            go.write_text("go")
            wait_until(ready.exists, proc, every=0.01)
            assert proc.poll() is None, proc.communicate()
            assert ready.exists(), "the child never reached the lock"
            # The child is at (or past) the lock, so it cannot finish while we hold it: with a
            # working lock this wait always times out (no timing assumption can fail it).
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            assert not paths.config_file.exists()
            # A change made under the lock is seen by the waiting read-modify-write.
            write_toml(paths.config_file, {"title": "held"})
        _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert read_toml(paths.config_file) == {"title": "held", "output": "plain"}


# --- settings ----------------------------------------------------------------------------------


def test_defaults_without_a_file(paths: Paths) -> None:
    loaded = load_settings(paths)
    assert loaded.settings == Settings()
    assert loaded.settings.default_profile == "balanced"
    assert loaded.settings.base_url == "https://openrouter.ai/api/v1"
    assert loaded.settings.request_timeout == 120.0
    assert loaded.settings.output == "auto"
    assert loaded.settings.color == "auto"
    assert loaded.settings.simulation_speed == 1.0
    assert loaded.sources == dict.fromkeys(setting_names(), "default")
    assert not paths.config_file.exists()  # reading never creates the file


def test_file_values_override_defaults(paths: Paths) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('output = "plain"\nrequest_timeout = 30\n', "utf-8")
    loaded = load_settings(paths)
    assert loaded.settings.output == "plain"
    assert loaded.settings.request_timeout == 30.0
    assert loaded.sources["output"] == loaded.sources["request_timeout"] == "file"
    assert loaded.sources["color"] == "default"


ENV_CASES = [
    ("default_profile", "HIVE_PROFILE", "quality", "quality"),
    ("base_url", "OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1/", "http://127.0.0.1:9/api/v1"),
    ("request_timeout", "HIVE_TIMEOUT", "7.5", 7.5),
    ("output", "HIVE_OUTPUT", "json", "json"),
    ("color", "HIVE_COLOR", "always", "always"),
    ("simulation_speed", "HIVE_SIMULATION_SPEED", "0", 0.0),
    ("max_cost_per_run", "HIVE_MAX_COST_PER_RUN", "0.05", Decimal("0.05")),
    ("daily_budget", "HIVE_DAILY_BUDGET", "1", Decimal("1")),
    ("monthly_budget", "HIVE_MONTHLY_BUDGET", "20.00", Decimal("20.00")),
    ("retry_attempts", "HIVE_RETRY_ATTEMPTS", "2", 2),
    ("retry_base_delay", "HIVE_RETRY_BASE_DELAY", "0", 0.0),
    ("retry_max_wait", "HIVE_RETRY_MAX_WAIT", "5", 5.0),
    ("connect_timeout", "HIVE_CONNECT_TIMEOUT", "2.5", 2.5),
    ("first_token_timeout", "HIVE_FIRST_TOKEN_TIMEOUT", "300", 300.0),
    ("max_concurrent_requests", "HIVE_MAX_CONCURRENT_REQUESTS", "0", 0),
    ("requests_per_minute", "HIVE_REQUESTS_PER_MINUTE", "120", 120),
    ("free_requests_per_minute", "HIVE_FREE_REQUESTS_PER_MINUTE", "0", 0),
    ("max_file_kb", "HIVE_MAX_FILE_KB", "1024", 1024),
    ("data_collection", "HIVE_DATA_COLLECTION", "allow", "allow"),
    ("zdr", "HIVE_ZDR", "false", False),
]


def test_environment_table_matches_the_documented_variables() -> None:
    assert {name: var for name, var, _, _ in ENV_CASES} == ENVIRONMENT


@pytest.mark.parametrize(("name", "variable", "raw", "typed"), ENV_CASES)
def test_environment_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch, paths: Paths, name: str, variable: str, raw: str, typed: Any
) -> None:
    set_setting(paths, name, VALID_VALUES[name][0])
    assert load_settings(paths).sources[name] == "file"
    monkeypatch.setenv(variable, raw)
    loaded = load_settings(paths)
    assert getattr(loaded.settings, name) == typed
    assert loaded.sources[name] == f"env {variable}"
    monkeypatch.setenv(variable, "   ")  # blank means unset
    assert load_settings(paths).sources[name] == "file"


@pytest.mark.parametrize(
    ("name", "raw", "typed"),
    [
        ("request_timeout", "60", 60.0),
        ("request_timeout", "0.5", 0.5),
        ("simulation_speed", "2", 2.0),
        ("title", "My hive", "My hive"),
        ("title", "'quoted' text", "'quoted' text"),  # the text as typed, quotes kept
        ("base_url", "https://example.test/v1/", "https://example.test/v1"),
        ("default_profile", "cost", "cost"),
    ],
)
def test_set_setting_types_the_value(paths: Paths, name: str, raw: str, typed: Any) -> None:
    stored = set_setting(paths, name, raw)
    assert stored == typed
    assert type(stored) is type(typed)
    on_disk = read_toml(paths.config_file)[name]
    assert on_disk == typed
    assert type(on_disk) is type(typed)
    assert getattr(load_settings(paths).settings, name) == typed


def test_the_boolean_setting_is_typed_from_true_and_false(paths: Paths) -> None:
    assert [n for n, f in Settings.model_fields.items() if f.annotation is bool] == ["zdr"]
    assert set_setting(paths, "zdr", "true") is True
    assert read_toml(paths.config_file)["zdr"] is True  # a TOML boolean, not text
    assert set_setting(paths, "zdr", "false") is False
    with pytest.raises(UsageError, match="zdr"):
        set_setting(paths, "zdr", "maybe")


@pytest.mark.parametrize(("name", "raw"), [("title", "2024"), ("default_profile", "123")])
def test_text_settings_accept_text_that_looks_like_a_number(
    paths: Paths, name: str, raw: str
) -> None:
    # "123" is a valid profile name and "2024" a plausible X-Title; both are strings.
    assert set_setting(paths, name, raw) == raw
    assert read_toml(paths.config_file)[name] == raw


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("request_timeout", "-1"),
        ("request_timeout", "0"),
        ("request_timeout", "abc"),
        ("output", "fancy"),
        ("color", "sometimes"),
        ("base_url", "ftp://x"),
        ("base_url", "openrouter.ai"),
        ("simulation_speed", "101"),
    ],
)
def test_invalid_values_raise_usage_error_and_leave_the_file(
    paths: Paths, name: str, raw: str
) -> None:
    set_setting(paths, "title", "kept")
    before = paths.config_file.read_bytes()
    with pytest.raises(UsageError, match=name):
        set_setting(paths, name, raw)
    assert paths.config_file.read_bytes() == before


def test_invalid_value_on_a_fresh_install_creates_no_file(paths: Paths) -> None:
    with pytest.raises(UsageError):
        set_setting(paths, "output", "fancy")
    assert not paths.config_file.exists()


@pytest.mark.parametrize("function", [set_setting, unset_setting])
def test_unknown_setting_names_list_the_valid_ones(
    paths: Paths, function: Callable[..., Any]
) -> None:
    args = ("timeout", "5") if function is set_setting else ("timeout",)
    with pytest.raises(UsageError) as caught:
        function(paths, *args)
    message = str(caught.value)
    assert "'timeout'" in message
    for name in setting_names():
        assert name in message
    assert not paths.config_file.exists()


def test_unset_removes_then_reports_nothing_to_remove(paths: Paths) -> None:
    set_setting(paths, "output", "plain")
    set_setting(paths, "color", "never")
    assert unset_setting(paths, "output") is True
    assert read_toml(paths.config_file) == {"color": "never"}
    loaded = load_settings(paths)
    assert loaded.settings.output == "auto"
    assert loaded.sources["output"] == "default"
    before = paths.config_file.read_bytes()
    assert unset_setting(paths, "output") is False
    assert paths.config_file.read_bytes() == before


def test_unset_without_a_file_is_false(paths: Paths) -> None:
    assert unset_setting(paths, "title") is False
    assert not paths.config_file.exists()


def test_hand_edits_survive_a_set(paths: Paths) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(
        '# my settings\noutput = "plain"  # for scripts\nrequest_timeout = 30\n', "utf-8"
    )
    set_setting(paths, "color", "never")
    assert read_toml(paths.config_file) == {
        "output": "plain",
        "request_timeout": 30,
        "color": "never",
    }
    loaded = load_settings(paths)
    assert (loaded.settings.output, loaded.settings.request_timeout) == ("plain", 30.0)


BROKEN_FILES = {
    "invalid-toml": ("request_timeout = \n", ["line 1"]),
    "unknown-key": (
        '# settings\noutput = "plain"\ncolour = "never"\n',
        ["line 3", "colour"],
    ),
    "wrong-type": (
        '# settings\n\nrequest_timeout = "abc"\n',
        ["line 3", "request_timeout"],
    ),
    "out-of-range": ("simulation_speed = -1\n", ["line 1", "simulation_speed"]),
    "not-utf8": (b'title = "caf\xe9"\n', ["UTF-8"]),
}


def write_broken(paths: Paths, content: str | bytes) -> bytes:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_bytes(raw)
    return raw


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_a_broken_file_is_a_config_error_naming_file_and_line(paths: Paths, case: str) -> None:
    content, expected = BROKEN_FILES[case]
    write_broken(paths, content)
    with pytest.raises(ConfigError) as caught:
        load_settings(paths)
    message = str(caught.value)
    assert str(paths.config_file) in message
    for fragment in expected:
        assert fragment in message
    with pytest.raises(ConfigError):
        validate_file(paths.config_file)


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_a_broken_file_is_never_overwritten(paths: Paths, case: str) -> None:
    raw = write_broken(paths, BROKEN_FILES[case][0])
    with pytest.raises(ConfigError):
        set_setting(paths, "color", "never")
    with pytest.raises(ConfigError):
        set_setting(paths, "request_timeout", "60")  # not even to fix the broken setting
    with pytest.raises(ConfigError):
        unset_setting(paths, "request_timeout")
    with pytest.raises(ConfigError):
        unset_setting(paths, "title")
    assert paths.config_file.read_bytes() == raw
    assert leftovers(paths.config_dir) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HIVE_TIMEOUT", "abc"),
        ("HIVE_TIMEOUT", "-5"),
        ("HIVE_OUTPUT", "fancy"),
        ("HIVE_COLOR", "rainbow"),
        ("OPENROUTER_BASE_URL", "ftp://x"),
        ("HIVE_SIMULATION_SPEED", "fast"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, paths: Paths, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings(paths)


def test_base_url_with_spaces_is_rejected(paths: Paths) -> None:
    with pytest.raises(UsageError):
        set_setting(paths, "base_url", "https://open router.ai/api/v1")


# --- keys --------------------------------------------------------------------------------------


def test_store_read_and_remove_a_key(paths: Paths) -> None:
    assert stored_key(paths) is None
    assert remove_key(paths) is False
    store_key(paths, SHAPED_KEY)
    assert stored_key(paths) == SHAPED_KEY
    assert read_toml(paths.keys_file) == {"openrouter": {"api_key": SHAPED_KEY}}
    store_key(paths, OTHER_KEY)  # replaces
    assert stored_key(paths) == OTHER_KEY
    assert remove_key(paths) is True
    assert stored_key(paths) is None
    assert remove_key(paths) is False
    assert leftovers(paths.config_dir) == []


def test_resolve_key_precedence(monkeypatch: pytest.MonkeyPatch, paths: Paths) -> None:
    assert resolve_key(paths) is None

    store_key(paths, SHAPED_KEY)
    found = resolve_key(paths)
    assert found is not None
    assert found.value == SHAPED_KEY
    assert str(paths.keys_file) in found.source

    monkeypatch.setenv("OPEN_ROUTER_API_KEY", OTHER_KEY)
    found = resolve_key(paths)
    assert found is not None
    assert (found.value, found.source) == (OTHER_KEY, "environment (OPEN_ROUTER_API_KEY)")

    monkeypatch.setenv("OPENROUTER_API_KEY", FAKE_KEY)
    found = resolve_key(paths)
    assert found is not None
    assert found.value == FAKE_KEY
    assert "OPENROUTER_API_KEY" in found.source
    assert "OPEN_ROUTER" not in found.source

    flagged = "sk-or-v1-" + "ef" * 32
    found = resolve_key(paths, f"  {flagged}\n")
    assert found is not None
    assert found.value == flagged
    assert "flag" in found.source


def test_blank_environment_key_falls_through_to_the_file(
    monkeypatch: pytest.MonkeyPatch, paths: Paths
) -> None:
    store_key(paths, SHAPED_KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", "   ")
    found = resolve_key(paths)
    assert found is not None
    assert found.value == SHAPED_KEY


@pytest.mark.parametrize("key", [FAKE_KEY, SHAPED_KEY, f"  {SHAPED_KEY}\n"])
def test_check_shape_accepts_openrouter_keys(key: str) -> None:
    assert check_shape(key) == key.strip()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        "hello",
        "sk-or-",
        "sk-or-v1-",
        "sk-or-v1-short",
        "sk-or-v1-" + "ab" * 16 + " " + "ab" * 15,
        "sk or v1 " + "ab" * 32,
        "sk-ant-" + "ab" * 32,
    ],
)
def test_check_shape_rejects_other_text(key: str) -> None:
    with pytest.raises(UsageError):
        check_shape(key)


@pytest.mark.parametrize(
    "content", ["[openrouter]\napi_key = 5\n", 'openrouter = "x"\n', "[openrouter]\nkey = 'x'\n"]
)
def test_a_wrongly_shaped_keys_file_is_a_config_error(paths: Paths, content: str) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.keys_file.write_text(content, "utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(paths.keys_file))):
        stored_key(paths)
    with pytest.raises(ConfigError):
        resolve_key(paths)


def test_invalid_toml_in_the_keys_file_is_not_overwritten(paths: Paths) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.keys_file.write_bytes(b"[openrouter\napi_key = 'x'\n")
    with pytest.raises(ConfigError, match="line 1"):
        store_key(paths, SHAPED_KEY)
    assert paths.keys_file.read_bytes() == b"[openrouter\napi_key = 'x'\n"


# --- profiles ----------------------------------------------------------------------------------


def test_builtins_are_valid_and_listed_first(paths: Paths) -> None:
    store = ProfileStore(paths)
    store.save(user_profile("mine"))
    entries = store.entries()
    assert list(entries)[: len(BUILTIN_PROFILES)] == list(BUILTIN_PROFILES)
    assert list(entries)[len(BUILTIN_PROFILES) :] == ["mine"]
    assert entries["mine"].source == "user"
    for name, profile in BUILTIN_PROFILES.items():
        assert entries[name].source == "built-in"
        assert entries[name].profile is profile
        # Re-validating a built-in's own data gives it back: it obeys every rule.
        assert Profile.model_validate({**profile_to_toml(profile), "name": name}) == profile


def test_builtin_models_exist_in_the_catalog_snapshot() -> None:
    data = json.loads(fixture_path("models.json").read_text("utf-8"))
    catalog = {model["id"] for model in data["data"]}
    for profile in BUILTIN_PROFILES.values():
        assert set(profile.all_models()) <= catalog, profile.name


def test_every_catalog_model_id_is_accepted() -> None:
    data = json.loads(fixture_path("models.json").read_text("utf-8"))
    ids = [model["id"] for model in data["data"]]
    assert len(ids) > 100
    for model_id in ids:
        assert check_model_id(model_id) == model_id


def test_save_and_get_a_user_profile(paths: Paths) -> None:
    store = ProfileStore(paths)
    profile = user_profile(
        "team_1", description="ours", fallbacks={"refine": ["openai/gpt-4.1-mini"]}
    )
    store.save(profile)
    assert store.get("team_1") == profile
    assert ProfileStore(resolve_paths()).get("team_1") == profile  # from the file, fresh store
    assert store.entry("team_1").source == "user"
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        store.get("nope")


def test_overriding_a_builtin_needs_force_and_delete_restores_it(paths: Paths) -> None:
    store = ProfileStore(paths)
    mine = user_profile("speed", description="my speed")
    with pytest.raises(UsageError, match="built-in"):
        store.save(mine)
    assert not paths.profiles_file.exists()

    store.save(mine, force=True)
    entry = store.entry("speed")
    assert entry.source == "user (overrides built-in)"
    assert entry.profile == mine
    assert list(store.entries())[: len(BUILTIN_PROFILES)] == list(BUILTIN_PROFILES)

    store.delete("speed")
    assert store.entry("speed").source == "built-in"
    assert store.get("speed") == BUILTIN_PROFILES["speed"]


def test_delete_of_a_builtin_or_unknown_profile_raises(paths: Paths) -> None:
    store = ProfileStore(paths)
    store.save(user_profile("mine"))
    before = paths.profiles_file.read_bytes()
    with pytest.raises(UsageError, match="built-in"):
        store.delete("balanced")
    with pytest.raises(UsageError, match="no user profile named 'ghost'"):
        store.delete("ghost")
    assert paths.profiles_file.read_bytes() == before
    store.delete("mine")
    with pytest.raises(UsageError):
        store.delete("mine")
    assert store.user() == {}


def test_saving_over_an_existing_user_profile_needs_replace_or_force(paths: Paths) -> None:
    store = ProfileStore(paths)
    first = user_profile("mine", description="first")
    second = user_profile("mine", description="second")
    third = user_profile("mine", description="third")
    store.save(first)
    before = paths.profiles_file.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        store.save(second)
    assert paths.profiles_file.read_bytes() == before
    assert store.get("mine") == first
    store.save(second, replace=True)
    assert store.get("mine") == second
    store.save(third, force=True)
    assert store.get("mine") == third


@pytest.mark.parametrize("conflict", ["existing-user", "builtin"])
def test_save_of_several_profiles_is_all_or_none(paths: Paths, conflict: str) -> None:
    store = ProfileStore(paths)
    store.save(user_profile("existing-user"))
    before = paths.profiles_file.read_bytes()
    with pytest.raises(UsageError):
        store.save(
            user_profile("fresh"), user_profile("balanced" if conflict == "builtin" else conflict)
        )
    assert paths.profiles_file.read_bytes() == before
    assert "fresh" not in store.user()
    store.save(user_profile("fresh"), user_profile("other"))
    assert sorted(store.user()) == ["existing-user", "fresh", "other"]


@pytest.mark.parametrize("name", ["Bad", "a b", "../x", "", "x" * 41, "-lead", "ünï", "a.b"])
def test_invalid_profile_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        check_profile_name(name)
    with pytest.raises(ConfigError, match="not a valid profile name"):
        user_profile(name)


@pytest.mark.parametrize("name", ["a", "x" * 40, "team_1", "0-day"])
def test_valid_profile_names_are_accepted(name: str) -> None:
    assert check_profile_name(name) == name
    assert user_profile(name).name == name


def test_a_trailing_newline_is_not_part_of_a_valid_name_or_id() -> None:
    with pytest.raises(ValueError):
        check_profile_name("team\n")
    with pytest.raises(ValueError):
        check_model_id("openai/gpt-4.1-mini\n")


@pytest.mark.parametrize("model", ["gpt4", "a/b c", "/x", "a/", "a//b", "openai/gpt:4:x", ""])
def test_invalid_model_ids_are_rejected(model: str) -> None:
    with pytest.raises(ValueError):
        check_model_id(model)
    with pytest.raises(ConfigError, match="author/slug"):
        user_profile("x", models={"refine": [model]})
    with pytest.raises(ConfigError, match="author/slug"):
        user_profile("x", fallbacks={"generate": [model]})


@pytest.mark.parametrize("model", ["openai/gpt-4.1", "z-ai/glm-5.2:free", "~openai/gpt-latest"])
def test_valid_model_ids_are_accepted(model: str) -> None:
    assert check_model_id(model) == model


@pytest.mark.parametrize("stage", STAGES[1:])
def test_later_stages_take_exactly_one_model(stage: str) -> None:
    with pytest.raises(ConfigError, match=f"{stage} takes exactly one model"):
        user_profile("x", models={stage: ["openai/gpt-4.1", "openai/gpt-4.1-mini"]})
    with pytest.raises(ConfigError):
        user_profile("x", models={stage: []})


def test_generate_takes_several_models_but_not_too_many() -> None:
    many = [f"vendor/model-{i}" for i in range(8)]
    assert user_profile("x", models={"generate": many}).generate.models == tuple(many)
    with pytest.raises(ConfigError):
        user_profile("x", models={"generate": [*many, "vendor/model-8"]})


def test_fallbacks_are_limited() -> None:
    ids = [f"vendor/fallback-{i}" for i in range(MAX_FALLBACKS + 1)]
    ok = user_profile("x", fallbacks={"validate": ids[:MAX_FALLBACKS]})
    assert ok.validate_.fallbacks == tuple(ids[:MAX_FALLBACKS])
    with pytest.raises(ConfigError, match="fallbacks"):
        user_profile("x", fallbacks={"validate": ids})


@pytest.mark.parametrize(
    "changes",
    [
        {"temperatures": {"generate": 2.5}},
        {"temperatures": {"curate": -0.1}},
        {"max_tokens": {"refine": 0}},
        {"max_tokens": {"refine": 1_000_001}},
    ],
)
def test_out_of_range_sampling_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        user_profile("x", **changes)


def test_derive_applies_changes_per_stage_and_keeps_the_rest() -> None:
    base = BUILTIN_PROFILES["balanced"]
    derived = derive(
        base,
        "mine",
        description="tuned",
        models={"generate": ["openai/gpt-4.1"], "validate": ["openai/gpt-5.4"]},
        fallbacks={"refine": ["openai/gpt-4.1-mini", "google/gemini-2.5-flash-lite"]},
        temperatures={"curate": 0.0, "generate": 1.2},
        max_tokens={"validate": 999},
    )
    assert derived.name == "mine"
    assert derived.description == "tuned"
    assert base.generate.fallbacks  # dropped: they were chosen for the replaced models
    assert derived.generate == StageSpec(
        models=("openai/gpt-4.1",),
        fallbacks=(),
        temperature=1.2,
        max_tokens=base.generate.max_tokens,
    )
    assert derived.refine == base.refine.model_copy(
        update={"fallbacks": ("openai/gpt-4.1-mini", "google/gemini-2.5-flash-lite")}
    )
    assert derived.validate_ == base.validate_.model_copy(
        update={"models": ("openai/gpt-5.4",), "fallbacks": (), "max_tokens": 999}
    )
    assert derived.curate == base.curate.model_copy(update={"temperature": 0.0})
    assert BUILTIN_PROFILES["balanced"] == base  # the base is untouched

    plain = derive(base, "copy")
    assert plain.model_dump(exclude={"name"}) == base.model_dump(exclude={"name"})


def test_profile_toml_round_trips_exactly() -> None:
    profiles = [
        *BUILTIN_PROFILES.values(),
        user_profile(
            "with-fallbacks",
            description='quotes " and \\ and ünïcode',
            fallbacks={"generate": ["openai/gpt-4.1"], "curate": ["z-ai/glm-5.2:free"]},
            temperatures={"validate": 0.0},
        ),
    ]
    data = {p.name: profile_to_toml(p) for p in profiles}
    assert "validate" in data["balanced"] and "validate_" not in data["balanced"]
    assert "name" not in data["balanced"]
    parsed = parse_profiles(tomllib.loads(tomli_w.dumps(data)), "round-trip")
    assert list(parsed) == [p.name for p in profiles]
    for profile in profiles:
        assert parsed[profile.name] == profile


def test_a_bad_profiles_file_is_a_config_error_and_never_overwritten(paths: Paths) -> None:
    good = profile_to_toml(user_profile("good"))
    bad = profile_to_toml(user_profile("broken"))
    bad["refine"]["temperature"] = 9
    paths.config_dir.mkdir(parents=True)
    paths.profiles_file.write_text(tomli_w.dumps({"good": good, "broken": bad}), "utf-8")
    raw = paths.profiles_file.read_bytes()

    store = ProfileStore(paths)
    for call in (store.user, store.entries, lambda: store.get("good")):
        with pytest.raises(ConfigError) as caught:
            call()
        message = str(caught.value)
        assert str(paths.profiles_file) in message
        assert "'broken'" in message
        assert "refine.temperature" in message
    with pytest.raises(ConfigError, match="broken"):
        store.save(user_profile("new"))
    with pytest.raises(ConfigError, match="broken"):
        store.save(user_profile("broken"), force=True)  # not even to replace the bad one
    with pytest.raises(ConfigError):
        store.delete("good")
    assert paths.profiles_file.read_bytes() == raw
    assert leftovers(paths.config_dir) == []


@pytest.mark.parametrize(
    "content",
    ['odd = "not a table"\n', "[team]\ndescription = 1\n", "[team]\nunknown = 1\n", "[team\n"],
)
def test_malformed_profiles_files_are_config_errors(paths: Paths, content: str) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.profiles_file.write_text(content, "utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(paths.profiles_file))):
        ProfileStore(paths).entries()
    with pytest.raises(ConfigError):
        ProfileStore(paths).save(user_profile("new"))
    assert paths.profiles_file.read_text("utf-8") == content


# --- config edit -------------------------------------------------------------------------------


def test_template_is_all_comments_and_mentions_every_setting() -> None:
    text = template()
    assert tomllib.loads(text) == {}
    assert all(line.startswith("#") for line in text.splitlines() if line.strip())
    for name, field in Settings.model_fields.items():
        assert f"# {name} = " in text
        assert field.description is not None
        assert field.description in text
    # Uncommenting every setting line gives a valid file: the defaults, and an example
    # value for each limit that is off by default.
    uncommented = "\n".join(
        line[2:] for line in text.splitlines() if line.startswith("# ") and " = " in line
    )
    limits = {"max_cost_per_run", "daily_budget", "monthly_budget"}
    parsed = Settings.model_validate(tomllib.loads(uncommented))
    unset = {*limits, "data_collection"}
    assert parsed.model_dump(exclude=unset) == Settings().model_dump(exclude=unset)
    assert {getattr(parsed, name) for name in limits} == {Decimal("1.00")}
    assert parsed.data_collection == "deny"


def test_edit_saves_a_valid_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    set_setting(paths, "title", "old")
    new = 'output = "json"\nrequest_timeout = 15\n'
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, f"path.write_text({new!r})\n"))
    assert edit_config(paths.config_file) is True
    assert paths.config_file.read_text("utf-8") == new
    loaded = load_settings(paths)
    assert (loaded.settings.output, loaded.settings.request_timeout) == ("json", 15.0)
    assert loaded.settings.title == Settings().title
    assert leftovers(paths.config_dir) == []


def test_edit_of_a_new_file_starts_from_the_template(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    seen = tmp_path / "seen.txt"
    body = f"""
    text = path.read_text()
    pathlib.Path({str(seen)!r}).write_text(text)
    path.write_text(text.replace('# color = "auto"', 'color = "never"'))
    """
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, body))
    assert edit_config(paths.config_file) is True
    assert seen.read_text() == template()
    assert load_settings(paths).settings.color == "never"
    assert load_settings(paths).sources["color"] == "file"


def test_visual_wins_over_editor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, "raise SystemExit(3)\n", "bad.py"))
    monkeypatch.setenv(
        "VISUAL", editor_script(tmp_path, "path.write_text('output = \"plain\"\\n')\n", "ok.py")
    )
    assert edit_config(paths.config_file) is True
    assert load_settings(paths).settings.output == "plain"


@pytest.mark.parametrize(
    "edit", ["request_timeout = \n", 'colour = "never"\n', 'request_timeout = "abc"\n']
)
def test_an_invalid_edit_is_kept_in_a_copy_and_the_file_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths, edit: str
) -> None:
    set_setting(paths, "title", "original")
    before = paths.config_file.read_bytes()
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, f"path.write_text({edit!r})\n"))
    with pytest.raises(ConfigError) as caught:
        edit_config(paths.config_file)
    assert paths.config_file.read_bytes() == before
    copies = list(paths.config_dir.glob("config.edit-*.toml"))
    assert len(copies) == 1
    copy = copies[0]
    assert copy.read_text("utf-8") == edit
    message = str(caught.value)
    assert str(copy) in message
    assert str(paths.config_file) in message
    assert "unchanged" in message


def test_an_editor_that_changes_nothing_saves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, "path.write_text(path.read_text())\n"))
    assert edit_config(paths.config_file) is False
    assert not paths.config_file.exists()
    assert leftovers(paths.config_dir) == []

    set_setting(paths, "title", "x")
    before = paths.config_file.read_bytes()
    assert edit_config(paths.config_file) is False
    assert paths.config_file.read_bytes() == before
    assert leftovers(paths.config_dir) == []


def test_an_editor_exiting_non_zero_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    set_setting(paths, "title", "x")
    before = paths.config_file.read_bytes()
    body = "path.write_text('output = \"json\"\\n')\nraise SystemExit(4)\n"
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, body))
    with pytest.raises(StorageError, match="status 4"):
        edit_config(paths.config_file)
    assert paths.config_file.read_bytes() == before
    assert leftovers(paths.config_dir) == []


def test_a_missing_editor_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paths: Paths
) -> None:
    missing = tmp_path / "no-such-editor"
    monkeypatch.setenv("EDITOR", shlex.quote(str(missing)))
    with pytest.raises(UsageError, match="no-such-editor"):
        edit_config(paths.config_file)
    assert not paths.config_file.exists()
    assert leftovers(paths.config_dir) == []
