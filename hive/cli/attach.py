"""``-f/--file``: the files a run attaches, read and checked before anything is spent.

A file is attached only if it is text: UTF-8 (a BOM is dropped), no NUL byte, not empty, at
most ``max_file_kb`` KiB. That holds for stdin, a pipe or a device too: no more than the limit
(and one byte) is ever read, so ``-f /dev/zero`` is refused at once rather than filling memory.
A file named on the command line that is not text is refused with one line (exit 2); a
directory is refused unless ``--recursive`` asks for its text files, and then a file in it that
is binary, not UTF-8, empty or too big is left out, named in one note (one odd file must not
refuse a whole tree), as are hidden files and folders (``.git``). ``-`` reads stdin.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from hive.consensus.context import Attachment
from hive.errors import UsageError

MAX_DIRECTORY_FILES = 200  # a tree with more text files than this was not meant to be sent


@dataclass
class Attached:
    files: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files of a directory that were left out


def read_files(names: Sequence[str], stdin: TextIO, *, recursive: bool, max_kb: int) -> Attached:
    """Every file of ``names``, in order (a directory's files sorted by path)."""
    attached = Attached()
    seen: set[str] = set()
    for name in names:
        if name == "-":
            if "-" in seen:
                raise UsageError("-f - (stdin) is given twice")
            seen.add("-")
            piped = _stdin_text(stdin, max_kb)
            if not piped.strip():
                raise UsageError("cannot attach stdin (-f -): it is empty")
            attached.files.append(Attachment("stdin", piped))
            continue
        path = Path(name)
        if path.is_dir():
            if not recursive:
                raise UsageError(
                    f"{name} is a directory: give --recursive to attach the text files in it"
                )
            _directory(path, attached, max_kb, seen)
            continue
        if not path.exists():
            raise UsageError(f"no such file: {name}")
        text, problem = _text(path, max_kb)
        if problem is not None:
            raise UsageError(f"cannot attach {name}: {problem}")
        if not (text or "").strip():
            raise UsageError(f"cannot attach {name}: it is empty")
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            attached.files.append(Attachment(_printable(name), text or ""))
    return attached


def _printable(name: str) -> str:
    """A file name as valid text: bytes a name holds that are not UTF-8 (carried through as
    lone surrogates) become U+FFFD, so the name can be sent and stored."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unread(error: OSError, root: Path) -> str:
    where = Path(error.filename).relative_to(root) if error.filename else root
    return f"{where}/ ({error.strerror or error})"


def _directory(root: Path, attached: Attached, max_kb: int, seen: set[str]) -> None:
    found = 0
    left_out: list[str] = []
    for folder, dirs, files in os.walk(root, onerror=lambda e: left_out.append(_unread(e, root))):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(f for f in files if not f.startswith(".")):
            path = Path(folder) / file
            if path.is_symlink():  # it may point anywhere (~/.aws/credentials): never followed
                left_out.append(f"{path.relative_to(root)} (a symbolic link)")
                continue
            if not path.is_file():  # a socket, a FIFO, a device
                continue
            key = str(path.resolve())
            if key in seen:  # attached already (named, or in an overlapping folder)
                found += 1
                continue
            seen.add(key)
            text, problem = _text(path, max_kb)
            if problem is None and not (text or "").strip():
                problem = "empty"
            if problem is not None:
                left_out.append(f"{path.relative_to(root)} ({problem})")
                continue
            found += 1
            if found > MAX_DIRECTORY_FILES:
                raise UsageError(
                    f"{root} holds more than {MAX_DIRECTORY_FILES} text files: attach the "
                    "files or folders you mean"
                )
            attached.files.append(Attachment(_printable(str(path)), text or ""))
    if left_out:
        more = len(left_out) - 5
        shown = "; ".join(left_out[:5]) + (f"; and {more} more" if more > 0 else "")
        many = "s" if len(left_out) != 1 else ""
        attached.notes.append(f"left out {len(left_out)} file{many} of {root}: {shown}")
    if not found:
        raise UsageError(f"{root} holds no text file to attach")


def _text(path: Path, max_kb: int) -> tuple[str | None, str | None]:
    """The file's text, or why it cannot be attached."""
    try:
        with path.open("rb") as file:
            data = file.read(max_kb * 1024 + 1)  # a pipe or a device may never end
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if len(data) > max_kb * 1024:
        return None, _too_big(path, max_kb)
    return _decoded(data)


def _too_big(path: Path | None, max_kb: int) -> str:
    size = ""
    if path is not None and path.is_file():
        size = f"{_size(path.stat().st_size)}, "
    return f"{size}over the {max_kb} KiB limit (the max_file_kb setting)"


def _decoded(data: bytes) -> tuple[str | None, str | None]:
    if b"\x00" in data[:8192]:
        return None, "a binary file (only text can be attached)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return text, None


def _stdin_text(stdin: TextIO, max_kb: int) -> str:
    limit = max_kb * 1024
    buffer = getattr(stdin, "buffer", None)
    data = buffer.read(limit + 1) if buffer is not None else stdin.read(limit + 1).encode()
    if len(data) > limit:
        raise UsageError(f"cannot attach stdin (-f -): {_too_big(None, max_kb)}")
    text, problem = _decoded(data)
    if problem is not None:
        raise UsageError(f"cannot attach stdin (-f -): {problem}")
    return text or ""


def _size(size: int) -> str:
    return f"{size / 1024:,.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MiB"
