"""Reading and writing hive's TOML files safely.

Writes are atomic (a temporary file in the same folder, fsynced, then renamed over the target),
so a crash or Ctrl-C leaves either the old file or the new one, never half of each. A
read-modify-write holds an exclusive lock on a ``.lock`` file beside the target, so concurrent
``hive`` processes never lose each other's changes. A file that does not parse is reported with
its path and line and is never overwritten.

Every ``OSError`` on the way (a folder that cannot be created or written, a file in the way of
a folder, a full disk) becomes a ``StorageError`` naming the path: one line at the CLI edge,
never an internal error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hive.errors import ConfigError, StorageError

PRIVATE_DIR = 0o700
# How long a command waits for another hive's lock on a settings, profiles or keys file, and
# how often it tries again meanwhile.
LOCK_TIMEOUT_S = 10.0
LOCK_POLL_S = 0.05


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as exc:
        raise storage_error(f"cannot create the folder {path}", path, exc) from exc


def storage_error(doing: str, path: Path, exc: OSError) -> StorageError:
    """``doing`` and why not, in one line: a file standing where a folder must be is named,
    as the system's own "Not a directory" or "File exists" would not say which one."""
    for part in reversed(path.parents):
        try:
            if part.exists() and not part.is_dir():
                return StorageError(f"{doing}: {part} is a file, not a folder")
        except OSError:  # cannot even look: the system's reason below says why
            break
    if isinstance(exc, FileExistsError) and path.exists() and not path.is_dir():
        return StorageError(f"{doing}: a file of that name is in the way")
    return StorageError(f"{doing}: {exc.strerror or exc}")


def read_toml(path: Path) -> dict[str, Any]:
    """The file's table, or ``{}`` if it does not exist. Bad TOML is a ConfigError naming the
    file and the line the parser stopped at."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise storage_error(f"cannot read {path}", path, exc) from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def write_toml(path: Path, data: dict[str, Any], *, mode: int = 0o644) -> None:
    import tomli_w

    atomic_write(path, tomli_w.dumps(data).encode("utf-8"), mode=mode)


def atomic_write(path: Path, content: bytes, *, mode: int = 0o644) -> None:
    ensure_dir(path.parent)
    try:
        # The name is kept short: a long target name must not make the temporary one too long.
        prefix = f".{path.name[:64]}."
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(f"cannot write {path}", path, exc) from exc
    try:
        if hasattr(os, "fchmod"):  # POSIX: the final mode is set before any byte is written
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(f"cannot write {path}", path, exc) from exc
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory fsync)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(
    path: Path,
    *,
    timeout: float = LOCK_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Exclusive inter-process lock for a read-modify-write of ``path``. Another hive holding
    it is waited for, ``timeout`` seconds at most; then a StorageError says which lock file
    and who to look for, never a hang and never a raw OSError (Windows gives up after ~10 s
    of its own)."""
    ensure_dir(path.parent)
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a+b")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise storage_error(f"cannot lock {path} (with {lock_path.name})", lock_path, exc) from exc
    with handle:
        deadline = clock() + timeout
        while not _try_lock(handle):
            if clock() >= deadline:
                raise StorageError(
                    f"{path} is locked by another hive command (waited {timeout:g}s for "
                    f"{lock_path}); try again when it ends"
                )
            sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            _unlock(handle)


def _try_lock(handle: BinaryIO) -> bool:
    """Take the lock without waiting: True if taken, False if another process holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):  # held elsewhere (PermissionError on Windows)
        return False
    except OSError as exc:
        raise storage_error(f"cannot lock {handle.name}", Path(str(handle.name)), exc) from exc
    return True


def _unlock(handle: BinaryIO) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
