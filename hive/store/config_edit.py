"""``hive config edit``: the user edits a copy; only a copy that validates replaces the file.

So a typo never breaks hive, and an invalid edit is never lost: it stays in the copy, whose
path the error names.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hive.errors import ConfigError, HiveError, StorageError, UsageError
from hive.store.files import atomic_write, ensure_dir, locked, storage_error
from hive.store.settings import Settings, validate_file

# Example values for settings that are unset by default (a spending limit's is 1.00).
EXAMPLES = {"data_collection": '"deny"'}


def template() -> str:
    """A new config.toml: every setting, commented out at its default, with what it means."""
    lines = ["# hive settings. Uncomment a line to change it; `hive config show` lists them.", ""]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None:  # off by default: show an example value
            example = EXAMPLES.get(name, "1.00")
            literal = f"{example}  # an example: not set by default"
        else:
            literal = f'"{default}"' if isinstance(default, str) else str(default).lower()
        lines += [f"# {field.description}", f"# {name} = {literal}", ""]
    return "\n".join(lines)


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return shlex.split(editor, posix=sys.platform != "win32")
    return ["notepad"] if sys.platform == "win32" else ["vi"]


def edit_config(path: Path, check: Callable[[Path], None] | None = None) -> bool:
    """Run the editor on a copy; True if a changed, valid file was saved. ``check`` looks
    further at the valid copy (a HiveError refuses it: e.g. a default_profile that names no
    profile, which the settings model alone cannot know)."""
    ensure_dir(path.parent)
    try:
        original = path.read_text("utf-8") if path.exists() else template()
    except OSError as exc:
        raise storage_error(f"cannot read {path}", path, exc) from exc
    try:
        fd, name = tempfile.mkstemp(prefix="config.edit-", suffix=".toml", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(original)
    except OSError as exc:
        raise storage_error(f"cannot write a copy to edit in {path.parent}", path, exc) from exc
    copy = Path(name)
    command = [*editor_command(), str(copy)]
    try:
        status = subprocess.run(command, check=False).returncode
    except OSError as exc:
        copy.unlink(missing_ok=True)
        raise UsageError(f"cannot start the editor {command[0]!r}: {exc.strerror or exc}") from exc
    if status != 0:
        copy.unlink(missing_ok=True)
        raise StorageError(f"the editor exited with status {status}; nothing was changed")
    try:
        edited = copy.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the edited copy {copy}: {exc}") from exc
    if edited == original:
        copy.unlink(missing_ok=True)
        return False
    try:
        validate_file(copy)
        if check is not None:
            check(copy)
    except HiveError as exc:
        raise ConfigError(f"{exc}; {path} is unchanged and your edit is kept in {copy}") from exc
    with locked(path):
        atomic_write(path, edited.encode("utf-8"))
    copy.unlink(missing_ok=True)
    return True
