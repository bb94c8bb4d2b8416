"""The CLI's edge: every failure becomes one redacted line on stderr and a documented exit code.

Exit codes: 0 answer · 1 run failed · 2 bad usage or input · 3 key rejected or out of credits ·
4 a spending limit · 5 degraded answer with --strict · 6 the bill differs from the record
(history show --verify) · 130 interrupted (Ctrl-C) · 143
terminated (SIGTERM) · 129 hung up (SIGHUP) · 141 stdout closed.
``--debug`` (or ``HIVE_DEBUG=1``) adds the traceback, still redacted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import typer

from hive import env
from hive.errors import HiveError, Interrupted
from hive.redact import redact

# Click's own errors (usage errors, exit 2), which Click prints itself. Typer re-exports only
# some of Click's classes and newer Typers vendor Click, so the base class is found through one
# it does export: BadParameter -> UsageError -> ClickException.
CLICK_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException"
)
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell expects when `| head` closes early


def _known_keys(argv: list[str] | None = None) -> list[str]:
    """Every key hive could be using (flag, environment, file), so none reaches stderr."""
    argv = sys.argv if argv is None else argv
    keys = [value for name in env.KEY_VARIABLES if (value := os.environ.get(name, "").strip())]
    for i, arg in enumerate(argv):
        if arg == "--api-key" and i + 1 < len(argv):
            keys.append(argv[i + 1])
        elif arg.startswith("--api-key="):
            keys.append(arg.partition("=")[2])
    with contextlib.suppress(Exception):  # a broken keys file must not hide the real error
        from hive.store.keys import stored_key
        from hive.store.paths import resolve_paths

        keys.append(stored_key(resolve_paths()) or "")
    return [key for key in keys if key]


class RedactingStream:
    """Wraps stderr so that nothing written there — Click's own usage errors included, which
    echo stray arguments — can carry a key."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._keys: list[str] | None = None  # looked up on the first write: start-up stays lean

    def write(self, text: str) -> int:
        if self._keys is None:
            self._keys = _known_keys()
        return self._stream.write(redact(text, *self._keys))

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def protect_stderr() -> None:
    sys.stderr = RedactingStream(sys.stderr)


def _line(message: str) -> None:
    sys.stderr.write(redact(message, *_known_keys()) + "\n")
    sys.stderr.flush()


@contextmanager
def error_edge(debug: bool) -> Iterator[None]:
    try:
        yield
    except HiveError as exc:
        if debug:
            _line("".join(traceback.format_exception(exc)).rstrip())
        _line(f"hive: {exc}" if isinstance(exc, Interrupted) else f"hive: error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _line("hive: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort, CLICK_ERROR):
        raise  # Click's own: usage errors (exit 2) and exits, printed by Click
    except BrokenPipeError:
        # The reader went away (`| head`): silence the final flush at exit, say nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except Exception as exc:  # a bug: still one line unless asked for more
        if debug:
            _line("".join(traceback.format_exception(exc)).rstrip())
        else:
            _line(f"hive: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
        raise typer.Exit(1) from None
