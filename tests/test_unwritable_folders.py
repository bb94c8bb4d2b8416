"""A config, data or cache folder hive cannot create or write is one line naming the path
(a ``StorageError``, exit 1), never ``internal error: PermissionError`` or another raw
``OSError``: the translation lives in hive/store/files.py, which every store writes through.

Tests run as root here, where a read-only folder is still writable; so most of them provoke
the ``OSError`` in ways root cannot get past (a file where a folder must be, a lock file that is
a folder, /proc), and the read-only-folder test skips for root."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAKE_KEY
from tests.helpers import hive


def one_line(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hive: error: cannot "), lines
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def home_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HIVE_HOME below a regular file: no folder under it can ever be made."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HIVE_HOME", str(blocker / "hive"))
    return blocker


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["consensus", "What is Rust?", "speed", "--plain"], None),
        (["config", "set", "output", "plain"], None),
        (["keys", "set"], FAKE_KEY),
        (["profiles", "create", "mine", "--from", "speed"], None),
        (["history", "list"], None),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_file_where_the_hive_folder_should_be(
    home_under_a_file: Path, args: list[str], stdin: str | None
) -> None:
    line = one_line(hive(*args, input=stdin))

    assert f"{home_under_a_file} is a file, not a folder" in line


@pytest.mark.parametrize("folder", ["config", "data"])
def test_a_file_named_like_a_folder_of_hive(folder: str) -> None:
    home = Path(os.environ["HIVE_HOME"])
    home.mkdir(parents=True)
    (home / folder).write_text("not a folder")

    line = one_line(hive("consensus", "What is Rust?", "speed", "--plain"))

    assert str(home / folder) in line


@pytest.mark.parametrize(
    ("args", "stdin", "file"),
    [
        (["keys", "set"], FAKE_KEY, "keys.toml"),
        (["config", "set", "output", "plain"], None, "config.toml"),
        (["profiles", "create", "mine", "--from", "speed"], None, "profiles.toml"),
    ],
    ids=["keys set", "config set", "profiles create"],
)
def test_a_lock_file_that_cannot_be_opened(args: list[str], stdin: str | None, file: str) -> None:
    """It used to escape as ``internal error: IsADirectoryError``."""
    config = Path(os.environ["HIVE_HOME"]) / "config"
    (config / f"{file}.lock").mkdir(parents=True)

    line = one_line(hive(*args, input=stdin))

    assert f"cannot lock {config / file} (with {file}.lock)" in line
    assert not (config / file).exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_no_file_can_be_created_in() -> None:
    """/proc/self exists, but not even root may create a file there: the temporary file of an
    atomic write fails. It used to escape as ``internal error: FileNotFoundError``."""
    line = one_line(hive("profiles", "export", "speed", "--output", "/proc/self/speed.toml"))

    assert line.startswith("hive: error: cannot write /proc/self/speed.toml: ")


def test_a_long_file_name_gets_a_temporary_file_that_fits(tmp_path: Path) -> None:
    """The temporary file was named after the target plus 13 characters, so a 250-character
    name (legal) failed with ``internal error: OSError: File name too long``."""
    target = tmp_path / ("p" * 245 + ".toml")

    result = hive("profiles", "export", "speed", "--output", str(target))

    assert result.exit_code == 0, result.stderr
    assert target.read_text("utf-8").startswith("[speed]")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_a_read_only_config_folder() -> None:
    config = Path(os.environ["HIVE_HOME"]) / "config"
    config.mkdir(parents=True)
    config.chmod(0o500)
    try:
        line = one_line(hive("keys", "set", input=FAKE_KEY))
    finally:
        config.chmod(0o700)

    assert str(config) in line and "Permission denied" in line


def test_config_edit_names_a_config_file_it_cannot_read(tmp_path: Path) -> None:
    from hive.errors import StorageError
    from hive.store.config_edit import edit_config

    path = tmp_path / "config.toml"
    path.mkdir()  # a folder where the file must be: reading it fails

    with pytest.raises(StorageError) as caught:
        edit_config(path)

    assert str(path) in str(caught.value)
    assert list(tmp_path.iterdir()) == [path]  # no copy was left behind
