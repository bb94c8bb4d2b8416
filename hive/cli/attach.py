"""``-f/--file``: the files a run attaches, read and checked before anything is spent.

A file is attached only if it is text: UTF-8 (a BOM is dropped), no NUL byte, at most
``max_file_kb`` KiB. A file named on the command line that is not is refused with one line
(exit 2); a directory is refused unless ``--recursive`` asks for its text files, and then a file
in it that is binary, not UTF-8 or too big is left out with a note instead (one odd file must
not refuse a whole tree), as are hidden files and folders (``.git``). ``-`` reads stdin.
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
            attached.files.append(Attachment("stdin", _stdin_text(stdin)))
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
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            attached.files.append(Attachment(name, text or ""))
    return attached


def _directory(root: Path, attached: Attached, max_kb: int, seen: set[str]) -> None:
    found = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(f for f in files if not f.startswith(".")):
            path = Path(folder) / file
            key = str(path.resolve())
            if key in seen or not path.is_file():
                continue
            seen.add(key)
            text, problem = _text(path, max_kb)
            if problem is not None:
                attached.notes.append(f"left out {path}: {problem}")
                continue
            found += 1
            if found > MAX_DIRECTORY_FILES:
                raise UsageError(
                    f"{root} holds more than {MAX_DIRECTORY_FILES} text files: attach the "
                    "files or folders you mean"
                )
            attached.files.append(Attachment(str(path), text or ""))
    if not found:
        raise UsageError(f"{root} holds no text file to attach")


def _text(path: Path, max_kb: int) -> tuple[str | None, str | None]:
    """The file's text, or why it cannot be attached."""
    try:
        size = path.stat().st_size
        if size > max_kb * 1024:
            return None, (f"{_size(size)}, over the {max_kb} KiB limit (the max_file_kb setting)")
        data = path.read_bytes()
    except OSError as exc:
        return None, exc.strerror or str(exc)
    return _decoded(data)


def _decoded(data: bytes) -> tuple[str | None, str | None]:
    if b"\x00" in data[:8192]:
        return None, "a binary file (only text can be attached)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return text, None


def _stdin_text(stdin: TextIO) -> str:
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        text, problem = _decoded(buffer.read())
        if problem is not None:
            raise UsageError(f"cannot attach stdin: {problem}")
        return text or ""
    return stdin.read()


def _size(size: int) -> str:
    return f"{size / 1024:,.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MiB"
